"""The wheel alone serves the page: templates and static files ship inside it.

Built offline from a copy of the sources (`--no-build-isolation`, the test venv's setuptools), then
installed with `--no-deps` into a fresh venv that borrows the test venv's dependencies through a
`.pth` file, and served by gunicorn with the repo's gunicorn.conf.py from a directory outside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ollama_server import ROOT, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("coda", "templates", "static"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("coda-*.whl")
    return built


def test_wheel_holds_every_module_template_and_static_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())

    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "coda").rglob("*.py")}
    assert modules <= names, f"missing from [tool.setuptools] packages: {modules - names}"
    assert "coda/config/presets.toml" in names, "the shipped presets are missing"
    assert "coda/frontend/strings.toml" in names, "the strings people read are missing"
    for folder in ("templates", "static"):
        files = {
            "coda/" + p.relative_to(ROOT).as_posix()
            for p in (ROOT / folder).rglob("*")
            if p.is_file()
        }
        assert files <= names, files - names


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Dependencies come from the test venv; coda itself only from the wheel.
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib,
         str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    return python


@pytest.fixture
def served(installed: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "OLLAMA_HOST": f"127.0.0.1:{free_port()}",  # nothing there: the page must not need it
        "CODA_LOG_FORMAT": "text",
        "PYTHONPATH": "",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(installed), "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
         "coda:create_app()"],
        cwd=tmp_path, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield process, base, installed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_installed_wheel_serves_the_page_outside_the_repo(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    _, base, python = served

    page = httpx.get(f"{base}/", timeout=5)
    htmx = httpx.get(f"{base}/static/vendor/htmx-4.0.1/htmx.min.js", timeout=5)
    icon = httpx.get(f"{base}/static/favicon.svg", timeout=5)
    where = subprocess.run(
        [str(python), "-c", "import coda; print(coda.__file__)"],
        check=True, capture_output=True, text=True, cwd="/",
    ).stdout  # fmt: skip

    assert page.status_code == 200
    assert 'id="chat-form"' in page.text
    assert htmx.status_code == 200
    assert htmx.text.startswith("var htmx=")
    assert icon.status_code == 200
    assert str(ROOT) not in where


def test_gunicorn_stops_within_the_grace_period(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, _, _ = served

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)

    assert time.monotonic() - started < 9
