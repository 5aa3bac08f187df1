"""The images: each Dockerfile lints clean, pins what it should and runs as documented."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.deploy_files import OLLAMA_VERSION, ROOT, dockerfile_instructions, hadolint


@pytest.mark.parametrize("dockerfile", ["Dockerfile.web", "Dockerfile.ollama", "Dockerfile.vllm"])
def test_dockerfile_lints_clean_with_hadolint(dockerfile: str) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", dockerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_ollama_pins_the_ollama_version_of_the_tests() -> None:
    instructions = dockerfile_instructions("Dockerfile.ollama")
    assert ("ARG", f"OLLAMA_VERSION={OLLAMA_VERSION}") in instructions
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms[-1] == "ollama/ollama:${OLLAMA_VERSION}"


def test_dockerfile_ollama_bakes_the_model_and_serves_on_port_or_11434() -> None:
    text = (ROOT / "Dockerfile.ollama").read_text()
    env = " ".join(
        args for keyword, args in dockerfile_instructions("Dockerfile.ollama") if keyword == "ENV"
    )
    assert "OLLAMA_MODELS=/models" in env
    assert "OLLAMA_KEEP_ALIVE=-1" in env
    assert "OLLAMA_NUM_PARALLEL=" in env
    assert "ARG QUANT=q5_k_m" in text
    assert "ARG GGUF_FILE=" in text
    assert "create-model.sh --serve" in text
    assert 'OLLAMA_HOST="0.0.0.0:${PORT}"' in text


def test_dockerfile_vllm_pins_the_official_image_and_serves_the_baked_weights_offline() -> None:
    instructions = dockerfile_instructions("Dockerfile.vllm")
    (version,) = [a for k, a in instructions if k == "ARG" and a.startswith("VLLM_VERSION=")]
    assert re.fullmatch(r"VLLM_VERSION=\d+\.\d+\.\d+", version)
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms == ["vllm/vllm-openai:v${VLLM_VERSION}"]
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    entrypoint = json.loads(next(a for k, a in instructions if k == "ENTRYPOINT"))
    assert entrypoint == ["vllm", "serve", "/models/tinyswallow"]
    download = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert 'local_dir="/models/tinyswallow"' in download
    assert "SakanaAI/TinySwallow-1.5B-Instruct" in (ROOT / "Dockerfile.vllm").read_text()


def test_dockerfile_web_is_multi_stage_on_the_pinned_slim_base() -> None:
    froms = [
        args for keyword, args in dockerfile_instructions("Dockerfile.web") if keyword == "FROM"
    ]
    assert len(froms) >= 2
    assert all(f.split()[0] == "python:3.11-slim-bookworm" for f in froms)


def test_dockerfile_web_runs_gunicorn_as_pid_1_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions("Dockerfile.web")
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    cmd = json.loads(next(args for keyword, args in reversed(instructions) if keyword == "CMD"))
    assert cmd[0] == "gunicorn"
    healthcheck = next(args for keyword, args in instructions if keyword == "HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert "CODA_PROBE_PORT" in healthcheck  # the listener slow clients cannot fill
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "CODA_PROBE_PORT=8081" in env
    installs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "-r requirements.lock" in installs
    assert "[dev]" not in installs


def test_dockerignore_keeps_the_repository_history_and_models_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".git" in lines
    assert "**/*.gguf" in lines
