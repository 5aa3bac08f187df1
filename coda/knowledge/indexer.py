"""Building the index from a folder: each readable file cut into passages and embedded, the
unchanged ones (same content hash, same model, prefix and passage size) kept as they are.

Whatever the store, web instances see the old index or the new one, never half of one, and a
failed run (the embedding server down) leaves the old one in place: the file is written as a
copy moved over it when complete, PostgreSQL in one transaction (`coda.knowledge.store`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from coda.knowledge import index
from coda.knowledge.chunks import DEFAULT_MAX_CHARS, passages
from coda.knowledge.documents import read_document, supported
from coda.knowledge.limits import ReadLimits, UnreadableError
from coda.knowledge.store import open_writer
from coda.llm import EmbeddingModel, EmbeddingOptions, embed_passages

Report = Callable[[str], None]


@dataclass
class Summary:
    """What a run did: files embedded, kept as they were, skipped (with why) and removed."""

    embedded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    passages: int = 0


def documents_in(folder: Path) -> list[Path]:
    """Every file under `folder` the indexer reads, hidden ones left out, in a stable order."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and supported(path)
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def build_index(
    folder: Path,
    out: Path | str,
    model: EmbeddingModel,
    options: EmbeddingOptions,
    *,
    limits: ReadLimits | None = None,
    passage_chars: int = DEFAULT_MAX_CHARS,
    report: Report = lambda line: None,
) -> Summary:
    """Index `folder` into `out` (a file, or a `postgresql://` URL), re-embedding only what
    changed; `report` gets one line per step (the command prints them). Raises
    `coda.llm.LLMError` when embedding fails and `IndexUnusable` when the index cannot be
    written: then `out` is left as it was."""
    limits = limits or ReadLimits()
    summary = Summary()
    writer = open_writer(out)
    try:
        wanted = index.IndexInfo(
            embedding_model=model.model,
            dimension=0,
            passage_prefix=options.passage_prefix,
            passage_chars=passage_chars,
        )
        built = writer.read_info()
        if built is not None and _comparable(built) != _comparable(wanted):
            report(f"the index was built with {_describe(built)}; re-embedding every file")
            writer.clear()
            built = None
        dimension = built.dimension if built else 0
        known = writer.known_files()
        found = documents_in(folder)
        for number, path in enumerate(found, start=1):
            name = path.relative_to(folder).as_posix()
            where = f"[{number}/{len(found)}] {name}"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if known.get(name) == digest:
                summary.unchanged.append(name)
                report(f"{where}: unchanged")
                continue
            try:
                cut = passages(read_document(path, limits), passage_chars)
            except UnreadableError as exc:
                summary.skipped.append((name, str(exc)))
                report(f"{where}: skipped, {exc}")
                writer.forget_file(name)
                continue

            def progress(done: int, where: str = where, total: int = len(cut)) -> None:
                report(f"{where}: embedded {done}/{total} passages")

            vectors = embed_passages(model, [p.text for p in cut], options, on_batch=progress)
            if vectors:
                dimension = _same_dimension(dimension, len(vectors[0]), model.model)
            writer.replace_file(name, digest, cut, vectors)
            summary.embedded.append(name)
            if not cut:
                report(f"{where}: no text")
        present = {path.relative_to(folder).as_posix() for path in found}
        for name in sorted(set(known) - present):
            writer.forget_file(name)
            summary.removed.append(name)
            report(f"{name}: removed (no longer in the folder)")
        if not dimension:  # nothing embedded yet: ask the model once what its vectors are
            dimension = len(embed_passages(model, ["dimension"], options)[0])
        writer.write_info(_with_dimension(wanted, dimension))
        summary.passages = writer.count()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return summary


def _comparable(info: index.IndexInfo) -> tuple[str, str, int]:
    return (info.embedding_model, info.passage_prefix, info.passage_chars)


def _describe(info: index.IndexInfo) -> str:
    return (
        f"the model {info.embedding_model!r}, passage prefix {info.passage_prefix!r} and passages"
        f" of {info.passage_chars} characters"
    )


def _with_dimension(info: index.IndexInfo, dimension: int) -> index.IndexInfo:
    return index.IndexInfo(
        embedding_model=info.embedding_model,
        dimension=dimension,
        passage_prefix=info.passage_prefix,
        passage_chars=info.passage_chars,
    )


def _same_dimension(known: int, found: int, model: str) -> int:
    if known and known != found:
        raise index.IndexUnusable(f"{model} answered {found} dimensions, the index holds {known}")
    return found
