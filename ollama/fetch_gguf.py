#!/usr/bin/env python3
"""Download a GGUF file and prove it is the one we pinned, before Ollama ever reads it.

    python3 ollama/fetch_gguf.py --variant q5_k_m --out /models/tinyswallow.gguf
    python3 ollama/fetch_gguf.py --url URL --sha256 HEX --out PATH

Standard library only: it runs in a bare `python:*-slim` build stage and on any developer machine.
The TinySwallow files are fetched at a pinned repository revision, so the bytes cannot change
under us. A sha256 pinned here (or given with --sha256) is checked; where none is pinned yet, the
file is checked against the sha256 Hugging Face publishes for that revision (the `X-Linked-Etag`
of its LFS object) and the value is printed, to be pinned.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = "SakanaAI/TinySwallow-1.5B-Instruct-GGUF"
REVISION = "38c003aaf8be9d17af11dece1fbabeb873c567fa"
BLOCK = 1 << 20


@dataclass(frozen=True)
class Variant:
    """One official quantization of TinySwallow-1.5B-Instruct."""

    filename: str
    sha256: str | None

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{REPO}/resolve/{REVISION}/{self.filename}"


VARIANTS = {
    # No machine this was written on could reach the hub, so the digests are not pinned yet; the
    # hub's own digest for the pinned revision is checked instead (see the module docstring).
    "q5_k_m": Variant("tinyswallow-1.5b-instruct-q5_k_m.gguf", None),
    "q8_0": Variant("tinyswallow-1.5b-instruct-q8_0.gguf", None),
}


class FetchError(RuntimeError):
    """The download failed or produced other bytes than expected; nothing is left at --out."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, out: Path, expected_sha256: str | None) -> str:
    """Download `url` to `out` atomically and return its verified sha256."""
    if out.exists() and expected_sha256 and sha256_of(out) == expected_sha256:
        print(f"fetch_gguf: {out} already present and verified", file=sys.stderr)
        return expected_sha256
    if not _trusted_scheme(url):
        raise FetchError(f"refusing a non-https URL: {url}")
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "coda-fetch-gguf/1"})  # noqa: S310
    with tempfile.NamedTemporaryFile(dir=out.parent, delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                published = (response.headers.get("X-Linked-Etag") or "").strip('"')
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while block := response.read(BLOCK):
                    tmp.write(block)
                    digest.update(block)
                    done += len(block)
                    if total and done % (BLOCK * 64) < BLOCK:
                        print(f"fetch_gguf: {done * 100 // total}%", file=sys.stderr)
        except OSError as exc:
            tmp_path.unlink(missing_ok=True)
            raise FetchError(f"download of {url} failed: {exc}") from exc
    actual = digest.hexdigest()
    wanted = expected_sha256 or (published if len(published) == 64 else None)
    if wanted is None:
        tmp_path.unlink(missing_ok=True)
        raise FetchError("no sha256 to check against: pass --sha256")
    if actual != wanted:
        tmp_path.unlink(missing_ok=True)
        raise FetchError(f"sha256 mismatch for {url}: got {actual}, expected {wanted}")
    os.replace(tmp_path, out)
    if expected_sha256 is None:
        print(
            f"fetch_gguf: verified against the hub's digest; pin sha256 {actual}", file=sys.stderr
        )
    return actual


def _trusted_scheme(url: str) -> bool:
    """https anywhere; plain http only from this machine (a local mirror, or a test server)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--variant", choices=sorted(VARIANTS), help="official TinySwallow file")
    source.add_argument("--url", help="any https URL of a GGUF file")
    source.add_argument("--file", type=Path, help="a local GGUF file, copied after checking")
    parser.add_argument("--sha256", help="expected sha256 (overrides the pinned one)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the GGUF")
    args = parser.parse_args(argv)
    try:
        if args.file is not None:
            actual = sha256_of(args.file)
            if args.sha256 and actual != args.sha256:
                raise FetchError(f"sha256 mismatch for {args.file}: got {actual}")
            if args.file.resolve() != args.out.resolve():
                args.out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(args.file, args.out)
        elif args.variant is not None:
            variant = VARIANTS[args.variant]
            fetch(variant.url, args.out, args.sha256 or variant.sha256)
        else:
            fetch(args.url, args.out, args.sha256)
    except FetchError as exc:
        print(f"fetch_gguf: {exc}", file=sys.stderr)
        return 1
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
