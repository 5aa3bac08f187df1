"""One catalogue, two languages; the request's language comes from the switch, then the browser.

The catalogue is data (`coda/frontend/strings.toml`): every key the code, the templates and the
page's scripts use is in it, every key in it is used, and an unknown key is an error here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask import Flask

from coda.frontend.admission import REASONS
from coda.frontend.i18n import (
    CATALOGUE,
    LANG_COOKIE,
    CatalogueError,
    UnknownStringWarning,
    error_message,
    load_catalogue,
    pick_language,
    translate,
)
from coda.frontend.page_data import SCRIPT_STRINGS
from coda.frontend.reading.posted_turn import InputError
from coda.frontend.rendering.bubbles import STATUS_STATES
from coda.infrastructure.document_reader import REASONS as UPLOAD_REASONS
from coda.llm import (
    BusyError,
    EndedEarlyError,
    LLMError,
    LLMTimeoutError,
    ModelCannotLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    RejectedError,
    ServerAuthError,
    SpeedSource,
    StreamInterruptedError,
    UnavailableError,
)

ROOT = Path(__file__).resolve().parents[3]
# Calls whose first argument is a catalogue key.
KEY_CALLS = {"translate", "phrase", "notice"}
# Calls whose first argument (or `reason=`) is a refused input's reason: error.invalid_request.<it>.
REASON_CALLS = {"InputError", "_out_of_range"}
# Calls whose first argument is why a file cannot be attached: error.attachment.<it>.
ATTACHMENT_CALLS = {"UploadRefused", "AttachmentRefused"}


def _python_literals() -> tuple[set[str], set[str], set[str], set[str]]:
    """(keys the Python code looks up, dotted text it names, reasons refused input names, reasons
    model errors carry in their parameters), read from the source."""
    keys: set[str] = set()
    dotted: set[str] = set()
    reasons: set[str] = set()
    error_reasons: set[str] = set()
    for path in (ROOT / "coda").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                first = node.args[0] if node.args else None
                literal = first.value if isinstance(first, ast.Constant) else None
                if name in KEY_CALLS and isinstance(literal, str):
                    keys.add(literal)
                # A key chosen in the call (`translate("a" if … else "b", lang)`): both.
                if name in KEY_CALLS and isinstance(first, ast.IfExp):
                    for branch in (first.body, first.orelse):
                        if isinstance(branch, ast.Constant) and isinstance(branch.value, str):
                            keys.add(branch.value)
                if name in REASON_CALLS and isinstance(literal, str):
                    reasons.add(literal)
                if name in ATTACHMENT_CALLS and isinstance(literal, str):
                    keys.add(f"error.attachment.{literal}")
                for keyword in node.keywords:
                    value = keyword.value
                    if (
                        name in REASON_CALLS
                        and keyword.arg == "reason"
                        and isinstance(value, ast.Constant)
                    ):
                        reasons.add(str(value.value))
            # A reason in an error's parameters (`{"reason": "memory"}`): `error.{kind}.{reason}`.
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "reason"
                        and isinstance(value, ast.Constant)
                    ):
                        error_reasons.add(str(value.value))
            # A key chosen before the call (`key = "signin.required" if … else …`): dotted ones.
            elif isinstance(node, ast.Constant) and "." in str(node.value):
                dotted.add(str(node.value))
    return keys, dotted, reasons, error_reasons


def _template_keys() -> set[str]:
    call = re.compile(r"""\bt\(\s*["']([^"']+)["']""")
    return {
        key
        for path in (ROOT / "templates").rglob("*.html")
        for key in call.findall(path.read_text(encoding="utf-8"))
    }


def _script_keys() -> set[str]:
    call = re.compile(r"""\btext\(\s*["']([^"']+)["']\s*\)""")
    return {
        key
        for path in (ROOT / "static").glob("*.js")
        for key in call.findall(path.read_text(encoding="utf-8"))
    }


def _error_kinds() -> set[str]:
    kinds: set[str] = set()
    todo: list[type[LLMError]] = [LLMError]
    while todo:
        cls = todo.pop()
        kinds.add(cls.kind)
        todo.extend(cls.__subclasses__())
    return kinds


def test_every_key_used_exists_and_every_key_defined_is_used() -> None:
    python_keys, dotted, reasons, error_reasons = _python_literals()
    used = (
        python_keys
        | (dotted & set(CATALOGUE))
        | _template_keys()
        | set(SCRIPT_STRINGS)
        | {f"error.{kind}" for kind in _error_kinds()}
        | {"error.timeout.silent"}
        # Every reason the upload reader names, also those its child process sends back.
        | {f"error.attachment.{reason}" for reason in UPLOAD_REASONS}
        | {f"error.invalid_request.{reason}" for reason in reasons}
        # A kind said by its reason where the catalogue has a message for it (else `error.{kind}`).
        | (
            {f"error.{kind}.{reason}" for kind in _error_kinds() for reason in error_reasons}
            & set(CATALOGUE)
        )
        | {f"limit.{reason}" for reason in REASONS}
        | {f"speed.{source.value}" for source in SpeedSource}
        | set(STATUS_STATES)
    )

    assert used - set(CATALOGUE) == set(), "used, but not in strings.toml"
    assert set(CATALOGUE) - used == set(), "in strings.toml, but used nowhere"


def test_the_scripts_get_exactly_the_strings_they_show() -> None:
    assert _script_keys() == set(SCRIPT_STRINGS)


def test_an_unknown_key_fails_loudly_here_and_shows_a_general_message_in_production() -> None:
    with pytest.warns(UnknownStringWarning, match="error.timout"):
        shown = translate("error.timout", "en")

    assert shown == translate("error.llm_error", "en")


def test_a_refusal_with_an_unknown_reason_is_loud_too_and_says_the_history_is_unreadable() -> None:
    with pytest.warns(UnknownStringWarning):
        shown = error_message("invalid_request", {"reason": "no_such_reason"}, "ja")

    assert shown == translate("error.invalid_request.bad_history", "ja")


def test_a_broken_strings_file_stops_start_up_naming_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "strings.toml"
    path.write_text(
        'fine = { ja = "はい", en = "Yes" }\n'
        'one_language = { ja = "はい" }\n'
        'blank = { ja = "はい", en = " " }\n'
        'mismatch = { ja = "{count} 件", en = "{n} items" }\n'
        'error.unquoted = { ja = "はい", en = "Yes" }\n',
        encoding="utf-8",
    )

    with pytest.raises(CatalogueError) as raised:
        load_catalogue(path)

    named = [problem.split(":")[0] for problem in raised.value.problems]
    assert named == ["one_language", "blank", "mismatch", "error"]


def test_the_shipped_file_loads_whole() -> None:
    assert load_catalogue(ROOT / "coda" / "frontend" / "strings.toml") == CATALOGUE


def test_every_message_exists_in_both_languages() -> None:
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"ja", "en"}, key
        assert all(text.strip() for text in entry.values()), key


@pytest.mark.parametrize(
    "error",
    [
        UnavailableError("x"),
        BusyError("x"),
        ModelNotFoundError("x", params={"model": "m:1"}),
        LLMTimeoutError("x"),
        StreamInterruptedError("x"),
        LLMError("x"),
        RejectedError("x"),
        ModelCannotLoadError("x", params={"model": "m:1"}),
        ModelCannotLoadError("x", params={"model": "m:1", "reason": "memory"}),
        PromptTooLongError("x"),
        ServerAuthError("x", params={"status": 401}),
        EndedEarlyError("x"),
        InputError("empty", "x"),
        InputError("message_too_long", "x", limit=10, length=12),
        InputError("bad_history", "x"),
    ],
)
def test_every_error_kind_has_its_own_message(error: LLMError | InputError) -> None:
    ja = error_message(error.kind, error.params, "ja")
    en = error_message(error.kind, error.params, "en")

    assert ja != en
    assert ja != translate("error.llm_error", "ja") or error.kind == "llm_error"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_model_that_cannot_fit_is_named_with_the_memory_it_needs(lang: str) -> None:
    params = {"model": "big:7b", "reason": "memory", "needed": "7.5 GiB", "available": "5.2 GiB"}

    said = error_message("model_cannot_load", params, lang)

    assert "big:7b" in said
    assert "7.5 GiB" in said
    assert "5.2 GiB" in said
    assert said != error_message("model_cannot_load", {"model": "big:7b"}, lang)


@pytest.mark.parametrize("kind", ["prompt_too_long", "ended_early", "model_cannot_load"])
def test_what_rephrasing_cannot_fix_never_says_rephrase(kind: str) -> None:
    said = error_message(kind, {"model": "m:1"}, "en").lower()

    assert "rephrase" not in said
    assert "cannot be reached" not in said
    assert "connection dropped" not in said


def test_messages_name_what_to_change() -> None:
    assert "m:1" in error_message("model_not_found", {"model": "m:1"}, "en")
    too_long = error_message("invalid_request", {"reason": "message_too_long", "limit": 10}, "ja")
    assert "10" in too_long


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "ja"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,fr;q=0.9", "ja"),
        ("en", "ja", "en"),
        ("ja", "en-US", "ja"),
        ("xx", "en", "en"),
    ],
)
def test_switch_then_browser_then_default(
    cookie: str | None, accept: str | None, expected: str
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    if cookie:
        headers["Cookie"] = f"{LANG_COOKIE}={cookie}"
    with Flask(__name__).test_request_context(headers=headers) as ctx:
        assert pick_language(ctx.request, "ja") == expected
