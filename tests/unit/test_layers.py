"""The dependency rule, checked on the source: the core knows no framework, views no adapter."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "coda"
ADAPTERS = {
    "coda.llm.ollama",
    "coda.llm.openai",
    "coda.llm.ollama_embed",
    "coda.llm.openai_embed",
}
# What the adapters share (timeouts, retries, what a server's errors mean, over httpx): beside the
# port, not in it.
ADAPTER_SUPPORT = {"coda.llm.upstream", "coda.llm.server_errors"}
CLIENT_LIBRARIES = {"ollama", "openai"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[tuple[str, set[str]]]:
    folder = PACKAGE.joinpath(*package.split(".")[1:])
    return [(module_name(p), imports(p)) for p in sorted(folder.rglob("*.py"))]


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


# The port and the configuration: the core that knows no framework, no client and no settings.
CORE = [(m, i) for m, i in modules("coda.llm") if m not in ADAPTERS | ADAPTER_SUPPORT]
CORE += modules("coda.config")


@pytest.mark.parametrize(("module", "imported"), CORE)
def test_the_core_needs_nothing_but_the_standard_library(module: str, imported: set[str]) -> None:
    package = ".".join(module.split(".")[:2])
    outside = {n for n in imported if not is_stdlib(n) and not n.startswith(package)}
    assert outside == set(), f"{module} imports {outside}"


@pytest.mark.parametrize(("module", "imported"), modules("coda.frontend"))
def test_the_frontend_never_imports_an_adapter_or_the_composition_root(
    module: str, imported: set[str]
) -> None:
    forbidden = {
        n
        for n in imported
        if n in ADAPTERS | ADAPTER_SUPPORT or n.startswith("coda.infrastructure")
    }
    assert forbidden == set(), f"{module} imports {forbidden}"


def test_every_adapter_is_listed() -> None:
    """A new module in coda.llm that imports a third-party library must be declared an adapter."""
    outside_the_stdlib = {
        module
        for module, imported in modules("coda.llm")
        if any(not is_stdlib(n) and not n.startswith("coda.") for n in imported)
    }
    assert outside_the_stdlib == ADAPTERS | ADAPTER_SUPPORT


def test_what_the_adapters_share_knows_no_client_library_and_serves_only_them() -> None:
    everything = modules("coda.llm") + modules("coda.frontend") + modules("coda.infrastructure")
    support_imports = [i for m, i in everything if m in ADAPTER_SUPPORT]
    users = {m for m, i in everything if i & ADAPTER_SUPPORT}

    assert len(support_imports) == len(ADAPTER_SUPPORT)
    for imported in support_imports:
        assert {n.split(".")[0] for n in imported} & CLIENT_LIBRARIES == set()
    assert users == ADAPTERS
