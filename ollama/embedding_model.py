#!/usr/bin/env python3
"""Put an embedding model into Ollama: pulled from Ollama's library, or converted from a folder of
safetensors weights in the sentence-transformers layout.

    python3 ollama/embedding_model.py NAME --pull [--digest SHA256]          # bge-m3:567m
    python3 ollama/embedding_model.py NAME --folder DIR                      # a local model
    python3 ollama/embedding_model.py --serve /bin/ollama NAME ...           # image builds

Talks to the server at --host (default: $OLLAMA_HOST, else 127.0.0.1:11434); with --serve BIN,
starts `BIN serve` there first, stops it afterwards and deletes the blobs no model refers to from
$OLLAMA_MODELS (the uploaded source files), as a build stage needs.

Why not `ollama create -f Modelfile` with `FROM <folder>`: the CLI uploads the folder's files
keyed by their base name (Ollama's cmd/cmd.go says so in a TODO), so a sentence-transformers
folder's `1_Pooling/config.json` replaces the model's `config.json` and the import fails with
"unknown architecture". The server itself takes files keyed by relative path: this sends each
file as a blob (`POST /api/blobs/sha256:…`, which the server checks against the digest), then
`POST /api/create` with `files` mapping each relative path to its digest.

A pull (`POST /api/pull`) has the server verify every layer against the manifest's digests; with
--digest the manifest itself must then be the one pinned (the digest `GET /api/tags` reports,
whose first 12 hex digits `ollama list` shows as the ID). Standard library only: it runs in a bare
`python:*-slim` build stage, in the tests and on any machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# What Ollama's converter reads from such a folder: the weights, and the model's, tokenizer's
# and pooling module's JSON (vocab.txt and README.md are not needed).
IMPORTED_SUFFIXES = (".safetensors", ".json")


class ModelError(RuntimeError):
    """The server refused or did not answer; the message says which request and why."""


def _url(host: str) -> str:
    """`OLLAMA_HOST` as Ollama accepts it (`host:port`, or a URL) turned into a base URL."""
    host = host.strip().rstrip("/") or "127.0.0.1:11434"
    return host if "://" in host else f"http://{host}"


def _request(
    base: str, method: str, path: str, body: bytes | None = None, timeout: float = 600, **kw: Any
) -> Any:
    """One request; the JSON answer (None when empty). Raises ModelError with the server's words."""
    request = urllib.request.Request(f"{base}{path}", data=body, method=method, **kw)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ModelError(f"{method} {path}: HTTP {exc.code} {detail}") from exc
    except OSError as exc:
        raise ModelError(f"{method} {path}: {exc}") from exc
    return json.loads(text) if text.strip() else None


def _post_json(base: str, path: str, payload: dict[str, Any], timeout: float = 3600) -> Any:
    answer = _request(
        base,
        "POST",
        path,
        json.dumps(payload).encode(),
        timeout,
        headers={"Content-Type": "application/json"},
    )
    if isinstance(answer, dict) and answer.get("error"):
        raise ModelError(f"POST {path}: {answer['error']}")
    return answer


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_files(folder: Path) -> dict[str, Path]:
    """The files the converter reads, keyed by their path relative to `folder` (`/`-separated)."""
    found = {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in IMPORTED_SUFFIXES
    }
    if not any(name.endswith(".safetensors") for name in found):
        raise ModelError(f"no .safetensors weights under {folder}")
    return found


def import_folder(base: str, name: str, folder: Path) -> None:
    """Upload the folder's files as blobs, then create `name` from them (Ollama converts)."""
    files = {}
    for relative, path in folder_files(folder).items():
        digest = f"sha256:{sha256_of(path)}"
        with path.open("rb") as body:
            _request(
                base,
                "POST",
                f"/api/blobs/{digest}",
                body,  # type: ignore[arg-type]  # urllib streams a file given its length
                headers={"Content-Length": str(path.stat().st_size)},
            )
        files[relative] = digest
    _post_json(base, "/api/create", {"model": name, "files": files, "stream": False})


def pull(base: str, name: str, digest: str = "") -> str:
    """Pull `name` from Ollama's library; return its manifest digest, checked when pinned."""
    _post_json(base, "/api/pull", {"model": name, "stream": False})
    tags = _request(base, "GET", "/api/tags") or {}
    wanted = name if ":" in name else f"{name}:latest"
    found = [m.get("digest", "") for m in tags.get("models", []) if m.get("name") == wanted]
    if not found:
        raise ModelError(f"{name} is not listed after the pull")
    if digest and found[0] != digest:
        raise ModelError(f"{name}: manifest digest {found[0]}, pinned {digest}")
    return str(found[0])


def embeds(base: str, name: str) -> int:
    """Ask `name` for one vector: proves it is an embedding model; returns its dimension."""
    answer = _post_json(base, "/api/embed", {"model": name, "input": ["check"]}, timeout=600)
    return len(answer["embeddings"][0])


def prune(models: Path) -> int:
    """Delete the blobs no manifest under `models` names (an import's uploaded source files),
    as the server does at its next start; returns the bytes freed. Only for a store this run's
    own server wrote (--serve), so a build stage does not ship them."""
    kept = set()
    for manifest in (models / "manifests").rglob("*"):
        if manifest.is_file():
            document = json.loads(manifest.read_text())
            for layer in [document.get("config", {}), *document.get("layers", [])]:
                kept.add(str(layer.get("digest", "")).replace(":", "-"))
    freed = 0
    for blob in (models / "blobs").glob("sha256-*"):
        if blob.name not in kept:
            freed += blob.stat().st_size
            blob.unlink()
    return freed


def _wait(base: str, server: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise ModelError("ollama serve exited before answering")
        try:
            _request(base, "GET", "/api/version", timeout=2)
            return
        except ModelError:
            time.sleep(0.5)
    raise ModelError(f"no Ollama server answered at {base}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the model's name in Ollama, e.g. bge-m3:567m")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pull", action="store_true", help="pull NAME from Ollama's library")
    source.add_argument("--folder", type=Path, help="a sentence-transformers safetensors folder")
    parser.add_argument("--digest", default="", help="with --pull: the manifest's sha256:…")
    parser.add_argument("--host", default=os.environ.get("OLLAMA_HOST", ""))
    parser.add_argument("--serve", metavar="OLLAMA_BIN", help="start a temporary server first")
    args = parser.parse_args(argv)
    base = _url(args.host)
    server = None
    try:
        if args.serve:
            env = {**os.environ, "OLLAMA_HOST": base.split("://", 1)[1]}
            server = subprocess.Popen(
                [args.serve, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr
            )
        _wait(base, server)
        if args.pull:
            print(f"embedding_model: pulled {args.name} ({pull(base, args.name, args.digest)})")
        else:
            import_folder(base, args.name, args.folder)
            print(f"embedding_model: created {args.name} from {args.folder}")
        print(f"embedding_model: {args.name} embeds, {embeds(base, args.name)} dimensions")
    except ModelError as exc:
        print(f"embedding_model: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    if server is not None and os.environ.get("OLLAMA_MODELS"):
        freed = prune(Path(os.environ["OLLAMA_MODELS"]))
        print(f"embedding_model: pruned {freed / 1e6:.0f} MB of unreferenced blobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
