"""ollama/fetch_gguf.py: nothing reaches --out unless its sha256 is the expected one."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "ollama" / "fetch_gguf.py"
PAYLOAD = b"GGUF" + bytes(range(256)) * 64
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def fetch_gguf() -> ModuleType:
    return load_script(SCRIPT, "fetch_gguf")


@pytest.fixture
def mirror() -> Iterator[dict[str, str]]:
    """A local file server that, like the hub, publishes the LFS sha256 in X-Linked-Etag."""
    headers: dict[str, str] = {"X-Linked-Etag": f'"{PAYLOAD_SHA}"'}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(PAYLOAD)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    headers["url"] = f"http://127.0.0.1:{server.server_address[1]}/model.gguf"
    yield headers
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_with_the_pinned_sha256_lands_at_out(
    fetch_gguf: ModuleType, mirror: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "m.gguf"

    assert (
        fetch_gguf.main(["--url", mirror["url"], "--sha256", PAYLOAD_SHA, "--out", str(out)]) == 0
    )

    assert out.read_bytes() == PAYLOAD


def test_wrong_sha256_leaves_nothing_behind(
    fetch_gguf: ModuleType, mirror: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "m.gguf"

    assert fetch_gguf.main(["--url", mirror["url"], "--sha256", "0" * 64, "--out", str(out)]) == 1

    assert list(tmp_path.iterdir()) == []


def test_without_a_pin_the_published_digest_is_checked(
    fetch_gguf: ModuleType, mirror: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "m.gguf"
    assert fetch_gguf.fetch(mirror["url"], out, None) == PAYLOAD_SHA

    mirror["X-Linked-Etag"] = '"' + "1" * 64 + '"'
    with pytest.raises(fetch_gguf.FetchError, match="mismatch"):
        fetch_gguf.fetch(mirror["url"], tmp_path / "other.gguf", None)


def test_no_digest_at_all_is_refused(
    fetch_gguf: ModuleType, mirror: dict[str, str], tmp_path: Path
) -> None:
    del mirror["X-Linked-Etag"]

    with pytest.raises(fetch_gguf.FetchError, match="no sha256"):
        fetch_gguf.fetch(mirror["url"], tmp_path / "m.gguf", None)


def test_plain_http_to_another_host_is_refused(fetch_gguf: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(fetch_gguf.FetchError, match="non-https"):
        fetch_gguf.fetch("http://example.com/m.gguf", tmp_path / "m.gguf", PAYLOAD_SHA)


def test_local_file_is_checked_and_copied(fetch_gguf: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "in.gguf"
    source.write_bytes(PAYLOAD)
    out = tmp_path / "baked" / "model.gguf"

    assert fetch_gguf.main(["--file", str(source), "--sha256", PAYLOAD_SHA, "--out", str(out)]) == 0
    assert out.read_bytes() == PAYLOAD
    assert fetch_gguf.main(["--file", str(source), "--sha256", "f" * 64, "--out", str(out)]) == 1


def test_official_variants_are_pinned_to_one_revision(fetch_gguf: ModuleType) -> None:
    urls = [variant.url for variant in fetch_gguf.VARIANTS.values()]

    assert set(fetch_gguf.VARIANTS) == {"q5_k_m", "q8_0"}
    assert all(f"/resolve/{fetch_gguf.REVISION}/" in url for url in urls)
    assert len(fetch_gguf.REVISION) == 40
