"""How one environment variable's text becomes a value: the reader that gathers every problem,
and a parser per kind of value, each raising ValueError with what it expected."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from coda.config.ranges import Range

T = TypeVar("T")
N = TypeVar("N", int, float)

MAX_MODEL_NAME = 200
LIMITS_STORAGES = ("memory", "redis", "rediss")


class Reader:
    """Collects every problem instead of stopping at the first, so one restart fixes them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.failed: set[str] = set()

    def read(
        self,
        name: str,
        parse: Callable[[str], T],
        default: T,
        *,
        formerly: str = "",
        secret: bool = False,
    ) -> T:
        """`formerly`: the variable's former name, still read when `name` is not set; a `secret`
        value is never repeated in a message."""
        raw, old = self._raw(name), self._raw(formerly) if formerly else None
        if raw is not None and old is not None and old != raw:
            self.problems.append(f"{name} and {formerly}, its former name, disagree: set {name}")
        if raw is None:
            name, raw = formerly, old
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems.append(f"{name}: {exc}" if secret else f"{name}: {exc} (got {raw!r})")
            self.failed.add(name)
            return default

    def unset(self, name: str) -> bool:
        """Whether `name` is unset or blank, so its default (or another variable) applies."""
        return self._raw(name) is None

    def _raw(self, name: str) -> str | None:
        """The stripped value, or None when unset or blank (blank means the default)."""
        raw = self.env.get(name)
        return None if raw is None or raw.strip() == "" else raw.strip()


def nonempty(raw: str) -> str:
    return raw


def model_name(raw: str) -> str:
    """A name as servers spell them (`tinyswallow:1.5b`, `org/Model-1.5B`): one word, not long."""
    if len(raw) > MAX_MODEL_NAME or any(ch.isspace() or ch == "," for ch in raw):
        raise ValueError(
            f"expected a model name without spaces or commas, at most {MAX_MODEL_NAME}"
        )
    return raw


def model_names(raw: str) -> tuple[str, ...]:
    """Comma-separated model names, in the order given, each once."""
    names = [model_name(part.strip()) for part in raw.split(",") if part.strip()]
    return tuple(dict.fromkeys(names))


def boolean(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def url(raw: str) -> str:
    """Accept what the ollama CLI accepts (`host:port`, `:port`, a URL) and normalise it."""
    value = raw if "://" in raw else f"http://{raw}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("expected an http:// or https:// URL, or host:port")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("expected an http:// or https:// URL, or host:port") from None
    host = parts.hostname or "127.0.0.1"
    if host == "0.0.0.0":  # noqa: S104 - a listen address; as a client we mean this machine
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    if port is None and parts.scheme == "http" and "://" not in raw:
        netloc = f"{host}:11434"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def base_url(raw: str) -> str:
    """An OpenAI-compatible base URL, path (`/v1`) included, without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1")
    return raw.rstrip("/")


def headers(raw: str) -> tuple[tuple[str, str], ...]:
    """OpenTelemetry's header list: `key=value` pairs separated by commas, values URL-encoded."""
    pairs = []
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("expected key=value pairs separated by commas")
        pairs.append((unquote(key.strip()), unquote(value.strip())))
    return tuple(pairs)


def number(low: float, high: float) -> Callable[[str], float]:
    return _ranged(float, f"a number from {low:g} to {high:g}", low, high)


def integer(low: int, high: int) -> Callable[[str], int]:
    return _ranged(int, f"a whole number from {low} to {high}", low, high)


def number_in(bounds: Range) -> Callable[[str], float]:
    """A number within a range shared with other parts (`coda.config.ranges`)."""
    return number(bounds.low, bounds.high)


def integer_in(bounds: Range) -> Callable[[str], int]:
    return integer(int(bounds.low), int(bounds.high))


def _ranged(cast: Callable[[str], N], accepted: str, low: N, high: N) -> Callable[[str], N]:
    def parse(raw: str) -> N:
        try:
            value = cast(raw)
        except ValueError:
            raise ValueError(f"expected {accepted}") from None
        if not low <= value <= high:
            raise ValueError(f"expected {accepted}")
        return value

    return parse


def optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    """Typing only: lets a variable whose default is None (blank = unset) use a plain parser."""
    return parse


def choice(allowed: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def iap_audience(raw: str) -> str:
    if not raw.startswith("/projects/"):
        raise ValueError(
            "expected IAP's audience, /projects/NUMBER/locations/REGION/services/SERVICE "
            "(Cloud Run) or /projects/NUMBER/global/backendServices/ID (a load balancer)"
        )
    return raw


def keys_url(raw: str) -> str:
    """https://, or http:// to this machine only (tests serve their own keys)."""
    parts = urlsplit(raw)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise ValueError("expected an https:// URL (http:// only on this machine)")
    return raw


def link(raw: str) -> str:
    """Where a link in the page may point: a path on this site, or an https:// URL."""
    parts = urlsplit(raw)
    on_this_site = raw.startswith("/") and not raw.startswith("//") and not parts.netloc
    if not on_this_site and not (parts.scheme == "https" and parts.hostname):
        raise ValueError("expected a path on this site (/oauth2/sign_out) or an https:// URL")
    return raw


def header_name(raw: str) -> str:
    if not raw.replace("-", "").isalnum():
        raise ValueError("expected a header name, letters, digits and dashes")
    return raw


def networks(raw: str) -> tuple[str, ...]:
    """Comma-separated addresses or networks (10.0.0.0/8, 172.18.0.5, ::1)."""
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(
                f"expected addresses or networks, e.g. 10.0.0.0/8; not {part!r}"
            ) from None
    return tuple(networks)


def storage_url(raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme not in LIMITS_STORAGES or (scheme != "memory" and not urlsplit(raw).hostname):
        raise ValueError("expected memory:// or redis://host:port (rediss:// with TLS)")
    return raw
