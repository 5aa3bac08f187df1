"""What a careless or hostile client can send to coda, as Hypothesis strategies.

Requests are built as raw bytes where it matters (bodies, percent-escapes that are not UTF-8,
chunked uploads), so the app sees what a socket would give it, not what a polite client encodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=xyz",
    "application/json",
    "text/plain",
    "",
]

# Text as JSON can carry it: any code point, lone surrogates included.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.sampled_from(["", " ", "\ud800", "a\udfffb", "\x00", "<script>alert(1)</script>", "日本"]),
    st.integers(0, 6000).map(lambda n: "あ" * n),
)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
ROLE = st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "", "USER"]), JSON_VALUE)
COUNT = st.one_of(st.integers(-5, 10**10), st.floats(), st.booleans(), TEXT, st.none())
USAGE = st.one_of(
    st.fixed_dictionaries(
        {"model": st.one_of(st.just("stub:1"), TEXT), "prompt_tokens": COUNT},
        optional={
            "completion_tokens": COUNT,
            "tokens_per_second": COUNT,
            "speed_source": st.one_of(st.sampled_from(["server", "measured"]), TEXT),
            "done_reason": st.one_of(st.sampled_from(["stop", "length"]), TEXT),
            "extra": JSON_SCALAR,
        },
    ),
    JSON_VALUE,
)
STATES = ["done", "stopped", "error", "interrupted", "streaming", "x"]
TURN = st.one_of(
    st.fixed_dictionaries(
        {"role": ROLE, "content": st.one_of(TEXT, JSON_VALUE)},
        optional={
            "state": st.one_of(st.sampled_from(STATES), JSON_VALUE),
            "error": st.one_of(TEXT, JSON_SCALAR),
            "usage": USAGE,
            "extra": JSON_VALUE,
        },
    ),
    JSON_VALUE,
)
HISTORY = st.one_of(
    st.lists(TURN, max_size=6).map(json.dumps),
    JSON_VALUE.map(json.dumps),
    st.integers(1, 4000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 4000).map(lambda depth: '[{"role":' * depth),
    st.text(ANY_CHAR, max_size=40).map(
        lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    ),
)
RAW_BYTES = st.binary(max_size=80)
# The fields a turn's settings and kind arrive in, with values the page offers and some it never
# would; `earlier` and the notice's counts are bookkeeping the page keeps.
NUMBERS = ["", "0", "1", "0.7", "2", "2.01", "-1", "1e9", "nan", "inf", "64", "4096", "1_0", "٣"]
SETTING_FIELDS: list[tuple[bytes, list[str]]] = [
    (b"preset", ["general", "code-review", "translate", "summarize", "", "root"]),
    (b"mode", ["new", "edit", "regenerate", "continue", "", "delete"]),
    (b"temperature", NUMBERS),
    (b"max_tokens", NUMBERS),
    (b"earlier", NUMBERS),
    (b"left_out_shown", NUMBERS),
    (b"left_out", NUMBERS),
    (b"left_out_at", NUMBERS),
    (b"field.language", ["python", "go", "other", "cobol", ""]),
    (b"field.detail", ["low", "medium", "high", "max"]),
    (b"field.strictness", ["low", "medium", "high", "max"]),
    (b"field.code", ["def f(): pass", "x" * 12_001, ""]),
    (b"field.direction", ["ja-en", "en-ja", "fr-de"]),
    (b"field.length", ["short", "bullets", "paragraph", "long"]),
    (b"system", ["FORGED SYSTEM PROMPT"]),
]
# What an HTTP header can carry at all (no CR, LF or other controls): anything else never reaches
# the app, the server refuses it first.
HEADER_TEXT = st.text(st.characters(codec="latin-1", exclude_categories=["Cc"]), max_size=60)
COOKIE_TEXT = st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), max_size=8)


@dataclass
class Request:
    """One request, as bytes on the wire would make it."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    csrf: str = "valid"  # valid | missing | forged
    language: str | None = None


def field_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


@st.composite
def form_body(draw: st.DrawFn) -> bytes:
    """An urlencoded body: the fields coda reads, odd ones, repeated ones, bytes that are not
    UTF-8, and sometimes a body far over the limit."""
    fields: list[tuple[bytes, bytes]] = []
    if draw(st.booleans()):
        fields.append((b"message", field_bytes(draw(st.one_of(TEXT, RAW_BYTES)))))
    if draw(st.booleans()):
        fields.append((b"history", field_bytes(draw(HISTORY))))
    if draw(st.booleans()):
        model = draw(st.one_of(st.sampled_from(["stub:1", "other:1", ""]), TEXT))
        fields.append((b"model", field_bytes(model)))
    for name, values in SETTING_FIELDS:
        if draw(st.integers(0, 3)) == 0:
            fields.append((name, field_bytes(draw(st.one_of(st.sampled_from(values), TEXT)))))
    for _ in range(draw(st.integers(0, 2))):
        fields.append((field_bytes(draw(TEXT)), draw(RAW_BYTES)))
    body = b"&".join(
        quote_from_bytes(k).encode() + b"=" + quote_from_bytes(v).encode() for k, v in fields
    )
    if draw(st.integers(0, 19)) == 0:
        body += b"&padding=" + b"x" * draw(st.integers(60_000, 200_000))
    return body


EXPORT = st.fixed_dictionaries(
    {
        "format": st.one_of(st.just("coda.conversation"), TEXT),
        "version": st.one_of(st.just(1), JSON_SCALAR),
        "turns": st.one_of(st.lists(TURN, max_size=5), JSON_VALUE),
    },
    optional={
        "title": st.one_of(TEXT, JSON_SCALAR),
        "settings": st.one_of(
            st.fixed_dictionaries(
                {"preset": st.one_of(st.sampled_from(["general", "code-review", "x"]), TEXT)},
                optional={
                    "fields": st.dictionaries(TEXT, st.one_of(TEXT, JSON_SCALAR), max_size=3),
                    "temperature": st.one_of(st.sampled_from(NUMBERS), JSON_SCALAR),
                    "max_tokens": st.one_of(st.sampled_from(NUMBERS), JSON_SCALAR),
                    "model": st.one_of(st.sampled_from(["stub:1", "x"]), JSON_SCALAR),
                },
            ),
            JSON_VALUE,
        ),
    },
)


@st.composite
def import_body(draw: st.DrawFn) -> bytes:
    """A multipart upload as a browser sends one: an exported conversation, or anything else."""
    content = draw(
        st.one_of(
            EXPORT.map(lambda data: json.dumps(data).encode("utf-8", "surrogatepass")),
            HISTORY.map(lambda text: text.encode("utf-8", "surrogatepass")),
            RAW_BYTES,
        )
    )
    name = draw(st.sampled_from([b"file", b"other"]))
    return (
        b'--xyz\r\nContent-Disposition: form-data; name="' + name + b'"; filename="c.json"\r\n'
        b"Content-Type: application/json\r\n\r\n" + content + b"\r\n--xyz--\r\n"
    )


@st.composite
def request_to(draw: st.DrawFn, path: st.SearchStrategy[str]) -> Request:
    method = draw(st.sampled_from(["POST"] * 6 + METHODS))
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["HX-Request"] = draw(st.sampled_from(["true", "false", "", "TRUE"]))
    if draw(st.booleans()):
        headers["Accept-Language"] = draw(HEADER_TEXT)
    if draw(st.booleans()):
        headers["traceparent"] = draw(HEADER_TEXT)
    if draw(st.booleans()):
        headers["X-Request-ID"] = draw(HEADER_TEXT)
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type:
        headers["Content-Type"] = content_type
    body = draw(st.one_of(form_body(), import_body(), RAW_BYTES)) if method != "GET" else b""
    return Request(
        method=method,
        path=draw(path),
        body=body,
        headers=headers,
        chunked=draw(st.booleans()),
        csrf=draw(st.sampled_from(["valid"] * 4 + ["missing", "forged"])),
        language=draw(
            st.one_of(st.none(), st.sampled_from(["ja", "en", "fr", ""]), st.text(max_size=8))
        ),
    )


ANY_PATH = st.one_of(
    st.sampled_from(
        ["/", "/healthz", "/readyz", "/static/coda.css", "/static/coda-store.js", "/lang/en"]
    ),
    st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=12).map(
        lambda s: f"/lang/{s}"
    ),
    st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), max_size=20).map(
        lambda s: "/" + s
    ),
)
