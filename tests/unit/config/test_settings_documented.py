"""Every setting is declared once (`coda/config/settings.py`) and `.env.example` and the README's
table are held to those declarations: each variable read is written down, under its group, with
its default; nothing documented is left unread."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from coda.config import Settings
from coda.config.declared import Group, Variable, declared, default_of
from coda.config.presets import Presets

ROOT = Path(__file__).resolve().parents[3]
# Documented beside the settings but read by someone else: gunicorn.conf.py reads it itself.
NOT_SETTINGS = {"WEB_CONCURRENCY"}
# A default longer than this is not repeated in the documents: blank stands for it.
LONGEST_SHOWN_DEFAULT = 60
DECLARED = [(item.name, variable, default_of(item)) for item, variable in declared(Settings)]
EACH = [pytest.param(*row, id=row[1].name) for row in DECLARED]
README_ROW = re.compile(r"^\| `([A-Z_]+)` \| (.*?) \| (.*) \|$", re.MULTILINE)
LITERAL_DEFAULT = re.compile(r"`([^`]*)`(?: \(.*\))?")


def as_written(default: Any) -> str:
    """A default as an operator would write the variable."""
    if isinstance(default, bool):
        return str(default).lower()
    if default is None or isinstance(default, Presets):
        return ""
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default)


def env_example() -> dict[str, tuple[str, str]]:
    """Each variable in .env.example: (its value, the heading of its section)."""
    found: dict[str, tuple[str, str]] = {}
    heading = ""
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.fullmatch(r"# --- (.+) ---", line):
            heading = match.group(1)
        elif match := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            found[match.group(1)] = (match.group(2), heading)
    return found


def readme_rows() -> dict[str, str]:
    """Each variable in the README's settings table, with its default column."""
    return {name: default for name, default, _ in README_ROW.findall(read("README.md"))}


def read(name: str) -> str:
    return (ROOT / name).read_text()


def test_every_variable_is_declared_once_with_help() -> None:
    names = [name for _, variable, _ in DECLARED for name in variable.names]

    assert len(names) == len(set(names))
    assert {"CODA_AUTH", "CODA_LIMITS_STORAGE", "CODA_OLLAMA_AUTH", "CODA_OLLAMA_AUDIENCE"} <= set(
        names
    )
    assert [field for field, variable, _ in DECLARED if not variable.help.strip()] == []


def test_env_example_holds_exactly_the_declared_variables() -> None:
    declared_names = {name for _, variable, _ in DECLARED for name in variable.names}

    assert set(env_example()) - NOT_SETTINGS == declared_names


@pytest.mark.parametrize(("field", "variable", "default"), EACH)
def test_env_example_shows_each_default_under_its_group(
    field: str, variable: Variable, default: Any
) -> None:
    value, heading = env_example()[variable.name]
    written = as_written(default)

    assert heading == variable.group.value
    if len(written) > LONGEST_SHOWN_DEFAULT:
        assert value == ""
    else:
        assert value == written
    for other in variable.names[1:]:  # a former name or a fallback is left blank
        assert env_example()[other] == ("", heading)


def test_env_example_sections_are_the_groups_in_order() -> None:
    headings = list(dict.fromkeys(heading for _, heading in env_example().values()))

    assert headings == [group.value for group in Group]


def test_readme_table_holds_exactly_the_declared_variables() -> None:
    documented = {name for _, variable, _ in DECLARED for name in variable.names}
    documented -= {variable.formerly for _, variable, _ in DECLARED}

    assert set(readme_rows()) - NOT_SETTINGS == documented


@pytest.mark.parametrize(("field", "variable", "default"), EACH)
def test_readme_table_states_each_literal_default(
    field: str, variable: Variable, default: Any
) -> None:
    """A default column written as a value (`1024`, `0` (none)) is the declared default; one in
    words ("none", "random per process") stands for an empty or a long default."""
    cell = readme_rows()[variable.name]
    written = as_written(default)
    if match := LITERAL_DEFAULT.fullmatch(cell):
        assert match.group(1) == written
    else:
        assert written == "" or len(written) > LONGEST_SHOWN_DEFAULT, cell
    if variable.formerly:
        assert f"Formerly `{variable.formerly}`" in read("README.md")
