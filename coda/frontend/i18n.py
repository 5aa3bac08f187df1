"""Every string a person reads, in Japanese and English, and how a request picks its language.

The strings are data: `strings.toml` beside this module, both languages on one line per key, read
and checked whole when this module is imported (that is, at start), so a broken entry stops
start-up with every problem named instead of showing a blank in one language.
"""

from __future__ import annotations

import string
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Request, request

from coda.config import LANGUAGES
from coda.frontend.services import services

LANG_COOKIE = "coda_lang"
STRINGS_FILE = Path(__file__).with_name("strings.toml")
# What a key the catalogue lacks shows in production: a general "no answer could be made".
FALLBACK_KEY = "error.llm_error"


class CatalogueError(ValueError):
    """The strings file cannot be used; `problems` names every entry that is wrong, and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownStringWarning(UserWarning):
    """Code asked for a key the catalogue lacks: a bug. The test suite turns warnings into errors,
    so a misspelt key fails there; in production the page shows the fallback and the log says why.
    """


def load_catalogue(path: Path) -> dict[str, dict[str, str]]:
    """Every entry of a strings file, each `{language: text}`, or a `CatalogueError` naming every
    entry that lacks a language, is empty, or fills in other placeholders in one language."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError([f"{path}: {exc}"]) from exc
    catalogue: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for key, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != set(LANGUAGES):
            # `error.busy = {…}` unquoted makes a table `error`: say how to write it.
            problems.append(f'{key}: not {{ ja = "…", en = "…" }} (quote a key with a dot)')
            continue
        if not all(isinstance(text, str) and text.strip() for text in entry.values()):
            problems.append(f"{key}: a language is empty or not text")
            continue
        try:
            names = {lang: _placeholders(text) for lang, text in entry.items()}
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
            continue
        if len({frozenset(found) for found in names.values()}) > 1:
            problems.append(f"{key}: the languages fill in different placeholders {names}")
            continue
        catalogue[key] = dict(entry)
    if problems:
        raise CatalogueError(problems)
    return catalogue


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


CATALOGUE: dict[str, dict[str, str]] = load_catalogue(STRINGS_FILE)


class _Params(dict[str, Any]):
    """A missing parameter prints as nothing rather than failing the whole message."""

    def __missing__(self, key: str) -> str:
        return ""


def phrase(key: str, lang: str, *, fallback: str = FALLBACK_KEY) -> str:
    """The text of `key` in `lang` as written, its {placeholders} unfilled (the page's scripts
    fill in their own). An unknown key warns (an error in the tests) and gives `fallback`'s."""
    entry = CATALOGUE.get(key)
    if entry is None:
        warnings.warn(f"no string {key!r} in {STRINGS_FILE.name}", UnknownStringWarning, 2)
        entry = CATALOGUE[fallback]
    return entry.get(lang) or entry["ja"]


def translate(key: str, lang: str, **params: Any) -> str:
    """The message in `lang`, with `params` filled in (see `phrase` for an unknown key)."""
    return phrase(key, lang).format_map(_Params(params))


def error_message(
    kind: str, params: Mapping[str, Any], lang: str, *, answered: bool = False
) -> str:
    """The message for an error `kind`: an LLM error's (`coda.llm.errors`), or `invalid_request`
    for refused input (`coda.frontend.reading.posted_turn`), specific to its reason.

    `answered`: whether some of the answer had arrived. A timeout before any text is the server's
    silence, not the question's length, and says so.
    """
    labels = params.get("labels")
    if isinstance(labels, Mapping):  # a preset field's label, in every language of the page
        params = {**params, "field": labels.get(lang) or labels.get("ja", "")}
    fallback = FALLBACK_KEY
    if kind == "invalid_request":
        key = f"error.invalid_request.{params.get('reason', '')}"
        fallback = "error.invalid_request.bad_history"
    elif kind == "timeout" and not answered:
        key = "error.timeout.silent"
    elif f"error.{kind}.{params.get('reason', '')}" in CATALOGUE:  # a kind said by its reason
        key = f"error.{kind}.{params.get('reason', '')}"
    else:
        key = f"error.{kind}"
    return phrase(key, lang, fallback=fallback).format_map(_Params(params))


def pick_language(request: Request, default: str) -> str:
    """The saved choice, else the browser's preferred language among ours, else the default."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(LANGUAGES)
    return best or default


def language() -> str:
    """The current request's language (see `pick_language`)."""
    return pick_language(request, services().default_language)
