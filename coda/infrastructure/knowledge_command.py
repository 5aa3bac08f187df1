"""The operator's command: `python -m coda.knowledge index DIR --out FILE` (or `--out
postgresql://…`, PostgreSQL with pgvector; its password is never printed).

A composition root like `create_app`: it reads the settings (the model server, its auth, and
`CODA_EMBEDDING_MODEL` with its prefixes and batch size), builds the embedding adapter, and hands
it to `coda.knowledge.indexer`. Progress goes to standard error, one line a step; files that
cannot be read are named there and again at the end, and do not stop the run. Exit status: 0
when the index was written (skipped files included), 1 when it could not be (the settings, the
embedding server), 2 for a usage mistake.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coda.config import Settings, SettingsError
from coda.infrastructure.bootstrap import build_embedding_model, embedding_options
from coda.knowledge.chunks import DEFAULT_MAX_CHARS
from coda.knowledge.index import IndexUnusable
from coda.knowledge.indexer import build_index
from coda.knowledge.store import shown
from coda.llm import LLMError


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(prog="python -m coda.knowledge")
    actions = command.add_subparsers(dest="action", required=True)
    index = actions.add_parser(
        "index", help="index a folder of documents into one file, or into PostgreSQL"
    )
    index.add_argument("folder", type=Path, help="Markdown, text, HTML, DOCX and PDF files")
    index.add_argument(
        "--out", required=True, help="the index file to write, or a postgresql:// URL (pgvector)"
    )
    index.add_argument(
        "--passage-chars",
        type=int,
        default=DEFAULT_MAX_CHARS,
        help=f"the longest passage, in characters (default {DEFAULT_MAX_CHARS})",
    )
    return command


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    if not arguments.folder.is_dir():
        print(f"no folder at {arguments.folder}", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not settings.embedding_model:
        print("set CODA_EMBEDDING_MODEL to the embedding model on the server", file=sys.stderr)
        return 1
    model = build_embedding_model(settings)
    try:
        summary = build_index(
            arguments.folder,
            arguments.out,
            model,
            embedding_options(settings),
            passage_chars=arguments.passage_chars,
            report=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (LLMError, IndexUnusable) as exc:
        print(f"the index was not written: {getattr(exc, 'kind', 'index')}: {exc}", file=sys.stderr)
        return 1
    finally:
        model.close()
    print(
        f"{shown(arguments.out)}: {summary.passages} passages;"
        f" {len(summary.embedded)} files embedded, {len(summary.unchanged)} unchanged,"
        f" {len(summary.removed)} removed,"
        f" {len(summary.skipped)} skipped",
        file=sys.stderr,
    )
    for name, reason in summary.skipped:
        print(f"  skipped {name}: {reason}", file=sys.stderr)
    return 0
