"""A setting declared once: the field of `Settings`, its environment variable, how the variable's
text is read, its default, its group and its help, all in one `setting(...)` call.

The one generic reader (`read_declared`) walks these declarations, so the variable list, the
defaults and the documentation checks (`tests/unit/config/test_settings_documented.py`) can never
drift from one another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from coda.config.env_values import Reader

T = TypeVar("T")
VARIABLE = "coda.variable"  # the key of a field's metadata that holds its `Variable`


class Group(StrEnum):
    """What a setting is about; the value is its section's heading in `.env.example`."""

    SERVER = "Where the model runs"
    TIMING = "Time limits (seconds) and retries"
    GENERATION = "Generation defaults"
    PROMPT = "Input limits"
    PAGE = "The chat page"
    SERVING = "Logging and serving"
    ACCESS = "Who may chat, and how much"
    TELEMETRY = 'Telemetry (README "Telemetry")'
    KNOWLEDGE = 'Knowledge base (README "Knowledge base")'
    ATTACHMENTS = 'Attached files (README "Attached files")'
    PRESETS = "Presets"


@dataclass(frozen=True)
class Variable:
    """One environment variable: `formerly` its former name (still read; the two must agree);
    `fallback` another variable read when this one is unset, with its own parser; a `secret`
    value is never repeated in a message nor shown in a repr."""

    name: str
    parse: Callable[[str], Any]
    group: Group
    help: str
    formerly: str = ""
    secret: bool = False
    fallback: tuple[str, Callable[[str], Any]] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every variable this declaration reads."""
        others = (self.formerly, self.fallback[0] if self.fallback else "")
        return (self.name, *(name for name in others if name))

    def read(self, reader: Reader, default: Any) -> Any:
        value = reader.read(
            self.name, self.parse, default, formerly=self.formerly, secret=self.secret
        )
        if self.fallback is None:
            return value
        name, parse = self.fallback
        other = reader.read(name, parse, default, secret=self.secret)
        return other if reader.unset(self.name) else value


def setting(
    name: str,
    parse: Callable[[str], T],
    default: T,
    group: Group,
    help: str,
    *,
    formerly: str = "",
    secret: bool = False,
    fallback: tuple[str, Callable[[str], T]] | None = None,
) -> T:
    """A `Settings` field read from `name`; blank or unset means `default`."""
    variable = Variable(name, parse, group, help, formerly, secret, fallback)
    return field(default=default, repr=not secret, metadata={VARIABLE: variable})


def setting_made(
    name: str,
    parse: Callable[[str], T],
    make_default: Callable[[], T],
    group: Group,
    help: str,
) -> T:
    """A setting whose default is made when needed (a file read), not at import."""
    variable = Variable(name, parse, group, help)
    return field(default_factory=make_default, repr=False, metadata={VARIABLE: variable})


def declared(cls: type[Any]) -> Iterator[tuple[Field[Any], Variable]]:
    """Each field of `cls` read from the environment, with its variable, in declaration order."""
    for item in fields(cls):
        variable = item.metadata.get(VARIABLE)
        if isinstance(variable, Variable):
            yield item, variable


def default_of(item: Field[Any]) -> Any:
    if item.default is not MISSING:
        return item.default
    if item.default_factory is not MISSING:
        return item.default_factory()
    raise TypeError(f"setting {item.name} has no default")


def read_declared(cls: type[Any], env: Mapping[str, str]) -> tuple[dict[str, Any], Reader]:
    """The value of every declared field of `cls`, and the reader holding what went wrong."""
    reader = Reader(env)
    values = {
        item.name: variable.read(reader, default_of(item)) for item, variable in declared(cls)
    }
    return values, reader
