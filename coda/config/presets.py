"""Presets: a system prompt and default options the operator defines, never the request.

A preset is read from a TOML file (`coda/config/presets.toml`, or `CODA_PRESETS_FILE`) at start.
The page sends a preset's id and the values of the few fields it declares; the server checks each
value against the declaration and builds the system prompt itself. Choice fields shape the system
prompt with the operator's own text for the chosen value; text fields (a code box) only ever go
into the user's turn, so no text from the page reaches the system prompt.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from coda.config import ranges
from coda.config.ranges import Range
from coda.config.vocabulary import LANGUAGES

SHIPPED_FILE = Path(__file__).with_name("presets.toml")
FIELD_KINDS = ("choice", "text")
MESSAGE = "message"  # the placeholder for what the user typed, in a preset's `message`

_PRESET_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_FIELD_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CHOICE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+#-]{0,39}")
MAX_TEXT_CHARS = 100_000


class PresetsError(ValueError):
    """The presets file cannot be used; `problems` lists every reason, each naming its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Choice:
    """One value of a choice field: what the page sends, shows, and what the prompt says."""

    value: str
    label: Mapping[str, str]
    text: str


@dataclass(frozen=True, kw_only=True)
class PresetField:
    """A field the page shows for a preset: a list to choose from, or a text box."""

    id: str
    kind: str  # choice | text
    label: Mapping[str, str]
    choices: tuple[Choice, ...] = ()
    default: str = ""
    max_chars: int = 0
    lines: int = 3
    placeholder: Mapping[str, str] | None = None

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)


@dataclass(frozen=True, kw_only=True)
class Preset:
    """A system prompt (None: `CODA_SYSTEM_PROMPT`), how the user's turn is framed, defaults."""

    id: str
    name: Mapping[str, str]
    system: str | None = None
    message: str = "{message}"
    fields: tuple[PresetField, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    # False: a thinking model answers without reasoning first (None: as the model does).
    think: bool | None = None
    # True: each question searches the knowledge base, and the passages found go in the user's
    # turn as data, listed under the answer (docs/knowledge.md).
    knowledge: bool = False
    # True: the preset works on an attached file as a whole (a translation, a summary, a
    # review); a file too long to send whole is refused with a message, never answered from a
    # few of its passages.
    whole_file: bool = False

    def field(self, field_id: str) -> PresetField | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def system_prompt(self, values: Mapping[str, str], fallback: str) -> str:
        """The system prompt for these (already checked) values; `fallback` when it has none."""
        if self.system is None:
            return fallback
        return self.system.format_map(self._choice_texts(values)).strip()

    def user_turn(self, message: str, values: Mapping[str, str]) -> str:
        """The user's turn: the message alone, or framed with the text fields when any is filled."""
        texts = {f.id: values.get(f.id, "") for f in self.fields if f.kind == "text"}
        if not any(t.strip() for t in texts.values()):
            return message
        return self.message.format_map({**self._choice_texts(values), **texts, MESSAGE: message})

    def _choice_texts(self, values: Mapping[str, str]) -> dict[str, str]:
        texts: dict[str, str] = {}
        for f in self.fields:
            if f.kind == "choice":
                chosen = f.choice(values.get(f.id, f.default)) or f.choice(f.default)
                texts[f.id] = chosen.text if chosen else ""
        return texts


@dataclass(frozen=True)
class Presets:
    """Every preset, in the file's order; the first is what a new conversation starts with."""

    items: tuple[Preset, ...]

    @property
    def default(self) -> Preset:
        return self.items[0]

    def get(self, preset_id: str) -> Preset | None:
        return next((p for p in self.items if p.id == preset_id), None)

    def without_knowledge(self) -> Presets:
        """The presets that need no knowledge base: what a server without an index offers."""
        return Presets(tuple(p for p in self.items if not p.knowledge) or self.items)


def load_presets(path: Path) -> Presets:
    """Read and check a presets file; a `PresetsError` lists everything wrong with it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetsError([f"cannot read the file: {exc.strerror or exc}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetsError([f"not valid TOML: {exc}"]) from None
    return parse_presets(data)


@lru_cache(maxsize=1)
def shipped_presets() -> Presets:
    """The presets that ship with coda (`presets.toml` beside this module)."""
    return load_presets(SHIPPED_FILE)


def parse_presets(data: Mapping[str, Any]) -> Presets:
    """Presets from parsed TOML, checked whole: every problem is reported, not just the first."""
    problems: list[str] = []
    _unknown_keys(data, {"presets"}, "the file", problems)
    raw = data.get("presets")
    if not isinstance(raw, list) or not raw:
        raise PresetsError([*problems, "expected at least one [[presets]] table"])
    presets = [_preset(item, index, problems) for index, item in enumerate(raw)]
    ids = [p.id for p in presets if p is not None]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"preset id {duplicate!r} is used more than once")
    if problems:
        raise PresetsError(problems)
    return Presets(tuple(p for p in presets if p is not None))


def _preset(item: object, index: int, problems: list[str]) -> Preset | None:
    where = f"presets[{index}]"
    if not isinstance(item, dict):
        problems.append(f"{where} is not a table")
        return None
    allowed = {"id", "name", "system", "message", "fields", "temperature", "max_tokens", "think"}
    allowed |= {"knowledge", "whole_file"}
    _unknown_keys(item, allowed, where, problems)
    preset_id = item.get("id")
    if not isinstance(preset_id, str) or not _PRESET_ID.fullmatch(preset_id):
        problems.append(f"{where}.id must be lowercase letters, digits and '-' (up to 40)")
        preset_id = f"#{index}"
    where = f"preset {preset_id!r}"
    name = _labels(item.get("name"), f"{where}: name", problems)
    fields = _fields(item.get("fields", []), where, problems)
    system = item.get("system")
    if system is not None and not (isinstance(system, str) and system.strip()):
        problems.append(f"{where}: system must be non-empty text (leave it out for the default)")
        system = None
    message = item.get("message", "{message}")
    if not isinstance(message, str):
        problems.append(f"{where}: message must be text")
        message = "{message}"
    choice_ids = {f.id for f in fields if f.kind == "choice"}
    text_ids = {f.id for f in fields if f.kind == "text"}
    if system is not None:
        used = _placeholders(system, f"{where}: system", problems)
        for name_used in sorted(used & text_ids):
            problems.append(
                f"{where}: system uses the text field {{{name_used}}}: what a user types goes in "
                "the user's turn (message), never in the system prompt"
            )
        for name_used in sorted(used - choice_ids - text_ids):
            problems.append(f"{where}: system uses {{{name_used}}}, which is no choice field")
    used = _placeholders(message, f"{where}: message", problems)
    for name_used in sorted(used - choice_ids - text_ids - {MESSAGE}):
        problems.append(f"{where}: message uses {{{name_used}}}, which is no field")
    for missing in sorted(text_ids - used):
        problems.append(f"{where}: the text field {missing!r} must appear in message")
    return Preset(
        id=preset_id,
        name=name,
        system=system,
        message=message,
        fields=tuple(fields),
        temperature=_optional_number(item, "temperature", ranges.TEMPERATURE, where, problems),
        max_tokens=_optional_whole(item, "max_tokens", ranges.ANSWER_TOKENS, where, problems),
        think=_optional_false(item, "think", where, problems),
        knowledge=_flag(item, "knowledge", where, problems),
        whole_file=_flag(item, "whole_file", where, problems),
    )


def _fields(raw: object, where: str, problems: list[str]) -> list[PresetField]:
    if not isinstance(raw, list):
        problems.append(f"{where}: fields must be a list of [[presets.fields]] tables")
        return []
    fields: list[PresetField] = []
    for index, item in enumerate(raw):
        found = _field(item, f"{where}: fields[{index}]", problems)
        if found is None:
            continue
        if any(f.id == found.id for f in fields):
            problems.append(f"{where}: field id {found.id!r} is used more than once")
        fields.append(found)
    return fields


def _field(item: object, where: str, problems: list[str]) -> PresetField | None:
    if not isinstance(item, dict):
        problems.append(f"{where} is not a table")
        return None
    allowed = {"id", "kind", "label", "choices", "default", "max_chars", "lines", "placeholder"}
    _unknown_keys(item, allowed, where, problems)
    field_id = item.get("id")
    if not isinstance(field_id, str) or not _FIELD_ID.fullmatch(field_id) or field_id == MESSAGE:
        problems.append(f"{where}.id must be lowercase letters, digits and '_', not 'message'")
        return None
    where = f"{where} ({field_id})"
    kind = item.get("kind")
    if kind not in FIELD_KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(FIELD_KINDS)}")
        return None
    label = _labels(item.get("label"), f"{where}: label", problems)
    if kind == "text":
        max_chars = _optional_whole(item, "max_chars", Range(1, MAX_TEXT_CHARS), where, problems)
        if max_chars is None:
            problems.append(f"{where}: a text field needs max_chars")
        placeholder = item.get("placeholder")
        return PresetField(
            id=field_id,
            kind=kind,
            label=label,
            max_chars=max_chars or 1,
            lines=_optional_whole(item, "lines", Range(1, 40), where, problems) or 3,
            placeholder=None
            if placeholder is None
            else _labels(placeholder, f"{where}: placeholder", problems),
        )
    choices = _choices(item.get("choices"), where, problems)
    default = item.get("default", choices[0].value if choices else "")
    if choices and not any(c.value == default for c in choices):
        problems.append(f"{where}: default {default!r} is not one of its choices")
    return PresetField(
        id=field_id, kind=kind, label=label, choices=tuple(choices), default=str(default)
    )


def _choices(raw: object, where: str, problems: list[str]) -> list[Choice]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: a choice field needs a non-empty list of choices")
        return []
    choices: list[Choice] = []
    for index, item in enumerate(raw):
        at = f"{where}: choices[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{at} is not a table")
            continue
        _unknown_keys(item, {"value", "label", "text"}, at, problems)
        value, text = item.get("value"), item.get("text")
        if not isinstance(value, str) or not _CHOICE_VALUE.fullmatch(value):
            problems.append(f"{at}.value must be a short word (letters, digits, _ . + # -)")
            continue
        if any(c.value == value for c in choices):
            problems.append(f"{at}: value {value!r} is used more than once")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{at}.text must be non-empty text (what the prompt says)")
            text = ""
        choices.append(Choice(value, _labels(item.get("label"), f"{at}.label", problems), text))
    return choices


def _labels(raw: object, where: str, problems: list[str]) -> dict[str, str]:
    """Text in every language of the page: `{ ja = "…", en = "…" }`."""
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table with {' and '.join(LANGUAGES)}")
        return dict.fromkeys(LANGUAGES, "?")
    labels = {}
    for lang in LANGUAGES:
        text = raw.get(lang)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where} needs non-empty text for {lang!r}")
            text = "?"
        labels[lang] = text
    _unknown_keys(raw, set(LANGUAGES), where, problems)
    return labels


def _placeholders(template: str, where: str, problems: list[str]) -> set[str]:
    """The `{name}`s a template uses; braces meant literally are written `{{` and `}}`."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        problems.append(f"{where}: {exc} (write a literal brace as {{{{ or }}}})")
        return set()
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            problems.append(f"{where}: {{{name}}} is not a plain {{name}} placeholder")
            continue
        names.add(name)
    return names


def _optional_number(
    item: Mapping[str, Any], key: str, bounds: Range, where: str, problems: list[str]
) -> float | None:
    low, high = bounds.low, bounds.high
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        problems.append(f"{where}: {key} must be a number from {low:g} to {high:g}")
        return None
    return float(value)


def _optional_false(
    item: Mapping[str, Any], key: str, where: str, problems: list[str]
) -> bool | None:
    """`think = false` turns thinking off; `true` would force it on models that cannot think,
    which Ollama refuses with 400, so only false is taken."""
    value = item.get(key)
    if value is None:
        return None
    if value is not False:
        problems.append(f"{where}: {key} can only be false (leave it out for the model's habit)")
        return None
    return False


def _flag(item: Mapping[str, Any], key: str, where: str, problems: list[str]) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        problems.append(f"{where}: {key} must be true or false")
        return False
    return value


def _optional_whole(
    item: Mapping[str, Any], key: str, bounds: Range, where: str, problems: list[str]
) -> int | None:
    low, high = int(bounds.low), int(bounds.high)
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: {key} must be a whole number from {low} to {high}")
        return None
    return value


def _unknown_keys(
    table: Mapping[str, Any], allowed: set[str], where: str, problems: list[str]
) -> None:
    """A misspelt key would otherwise be ignored in silence."""
    for key in sorted(set(table) - allowed):
        problems.append(f"{where}: unknown key {key!r} (expected {', '.join(sorted(allowed))})")
