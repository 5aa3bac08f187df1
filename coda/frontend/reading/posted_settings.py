"""The settings a posted turn carries: what kind of turn it is, the preset and its fields, the
temperature and the answer length. Read for `posted_turn`, the one place a turn is read; each
value is checked against what the operator declared, and a value out of range is
refused with a message, never clamped in silence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from coda.config.presets import Preset, Presets
from coda.config.ranges import TEMPERATURE
from coda.config.vocabulary import TURN_MODES
from coda.frontend.reading.input_error import InputError
from coda.frontend.reading.posted_json import clean_text

FIELD_PREFIX = "field."
SHOWN_VALUE_CHARS = 40  # the longest value an error message repeats back
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class ChosenPreset:
    """A preset and the checked value of each of its fields (a choice's value, or the text)."""

    preset: Preset
    values: Mapping[str, str]

    def system_prompt(self, fallback: str) -> str:
        return self.preset.system_prompt(self.values, fallback)

    def user_turn(self, message: str) -> str:
        return self.preset.user_turn(message, self.values)

    @property
    def has_text(self) -> bool:
        """Whether a text field (the code box) was filled in."""
        return any(
            self.values.get(f.id, "").strip() for f in self.preset.fields if f.kind == "text"
        )


@dataclass(frozen=True)
class TurnSettings:
    """Everything about a turn besides its text; None means the operator's configured value."""

    mode: str
    chosen: ChosenPreset
    temperature: float | None
    max_tokens: int | None


def read_settings(form: Mapping[str, str], presets: Presets, max_tokens: int) -> TurnSettings:
    """The turn's settings; `max_tokens` is the longest answer the operator allows."""
    chosen = read_preset(form, presets)
    return TurnSettings(
        mode=read_mode(form),
        chosen=chosen,
        temperature=read_temperature(form, chosen.preset),
        max_tokens=read_max_tokens(form, chosen.preset, max_tokens),
    )


def read_mode(form: Mapping[str, str]) -> str:
    mode = form.get("mode", "").strip() or "new"
    if mode not in TURN_MODES:
        raise InputError(
            "bad_mode", f"mode {mode[:SHOWN_VALUE_CHARS]!r} is not one of {TURN_MODES}"
        )
    return mode


def read_preset(form: Mapping[str, str], presets: Presets) -> ChosenPreset:
    """The preset by its id (none: the first), each declared field checked; others ignored."""
    preset_id = form.get("preset", "").strip()
    preset = presets.get(preset_id) if preset_id else presets.default
    if preset is None:
        shown = preset_id[:SHOWN_VALUE_CHARS]
        raise InputError("unknown_preset", f"preset {shown!r} does not exist", preset=shown)
    values: dict[str, str] = {}
    for field in preset.fields:
        raw = form.get(FIELD_PREFIX + field.id, "")
        if field.kind == "text":
            text = clean_text(raw)
            if len(text) > field.max_chars:
                raise InputError(
                    "field_too_long",
                    f"field {field.id} is {len(text)} characters long",
                    labels=field.label,
                    limit=field.max_chars,
                    length=len(text),
                )
            values[field.id] = text
            continue
        value = raw.strip() or field.default
        if field.choice(value) is None:
            shown = clean_text(value[:SHOWN_VALUE_CHARS])
            raise InputError(
                "bad_choice",
                f"field {field.id} has no choice {shown!r}",
                labels=field.label,
                value=shown,
            )
        values[field.id] = value
    return ChosenPreset(preset, values)


def read_temperature(form: Mapping[str, str], preset: Preset) -> float | None:
    """The temperature asked for; empty: the preset's default, else the configured one."""
    raw = form.get("temperature", "").strip()
    if not raw:
        return preset.temperature
    low, high = TEMPERATURE.low, TEMPERATURE.high
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise _out_of_range("bad_temperature", raw, low=f"{low:g}", high=f"{high:g}")
    return value


def read_max_tokens(form: Mapping[str, str], preset: Preset, ceiling: int) -> int | None:
    """The answer length asked for, in tokens, up to the operator's `CODA_MAX_TOKENS`."""
    raw = form.get("max_tokens", "").strip()
    if not raw:
        return preset.max_tokens
    if not _WHOLE_NUMBER.fullmatch(raw) or not 1 <= int(raw) <= ceiling:
        raise _out_of_range("bad_max_tokens", raw, low=1, high=ceiling)
    return int(raw)


def _out_of_range(reason: str, raw: str, **limits: object) -> InputError:
    shown = clean_text(raw[:SHOWN_VALUE_CHARS])
    return InputError(reason, f"{reason}: {shown!r}", value=shown, **limits)
