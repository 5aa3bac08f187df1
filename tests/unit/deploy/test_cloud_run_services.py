"""The Cloud Run service files (Ollama on GPU or CPU, vLLM on GPU, the web tier) render to what
Cloud Run needs and to settings coda accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from coda.config import Settings
from tests.support.deploy_files import (
    MODEL_SERVER_ENV,
    RENDER_ENV,
    ROOT,
    env_of,
    first_container,
    render_service,
    secret_env_of,
)


@pytest.mark.parametrize("template", ["cloudrun/ollama-gpu.yaml", "cloudrun/ollama-cpu.yaml"])
def test_ollama_service_is_a_complete_knative_service(template: str) -> None:
    service = render_service(template)
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
    container = first_container(service)
    assert env_of(container)["OLLAMA_NUM_PARALLEL"] == "4"
    assert container["image"] == RENDER_ENV["OLLAMA_IMAGE"]
    assert container["ports"][0]["containerPort"] == 11434
    assert "PORT" not in env_of(container)  # reserved: Cloud Run sets it from containerPort
    assert container["startupProbe"]["httpGet"]["port"] == 11434
    assert spec["timeoutSeconds"] >= 300


def test_gpu_variant_asks_for_one_l4_with_8_vcpu_32_gib_and_no_throttling() -> None:
    service = render_service("cloudrun/ollama-gpu.yaml")
    spec = service["spec"]["template"]["spec"]
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert spec["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
    limits = first_container(service)["resources"]["limits"]
    assert limits == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"


def test_cpu_variant_asks_for_no_gpu() -> None:
    service = render_service("cloudrun/ollama-cpu.yaml")
    assert "nodeSelector" not in service["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in first_container(service)["resources"]["limits"]


def test_vllm_service_batches_as_many_answers_as_cloud_run_sends_it_on_one_l4() -> None:
    service = render_service("cloudrun/vllm-gpu.yaml")
    assert service["metadata"]["name"] == "coda-vllm"
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    assert annotations["autoscaling.knative.dev/maxScale"] == "3"
    spec = template["spec"]
    assert spec["serviceAccountName"] == RENDER_ENV["VLLM_SA"]
    assert spec["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
    container = first_container(service)
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
    assert secret_env_of(container) == {"VLLM_API_KEY": {"name": "coda-vllm-api-key", "key": "5"}}
    assert env_of(container) == {}


def test_the_two_web_services_differ_only_in_the_model_server() -> None:
    def without_model_server(template: str) -> dict[str, Any]:
        service = render_service(template)
        container = first_container(service)
        container["env"] = [e for e in container["env"] if e["name"] not in MODEL_SERVER_ENV]
        return service

    assert without_model_server("cloudrun/web.yaml") == without_model_server(
        "cloudrun/web-vllm.yaml"
    )


def test_web_service_for_vllm_is_settings_coda_accepts_with_the_token_beside_the_key() -> None:
    container = first_container(render_service("cloudrun/web-vllm.yaml"))
    env = env_of(container)
    secrets = secret_env_of(container)
    vllm = first_container(render_service("cloudrun/vllm-gpu.yaml"))
    # The key the web tier sends is the one vLLM asks for: the same secret, the same version.
    assert secrets["CODA_OPENAI_API_KEY"] == secret_env_of(vllm)["VLLM_API_KEY"]

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
    web = render_service("cloudrun/web-vllm.yaml")["spec"]["template"]["spec"]
    assert settings.total_timeout <= web["timeoutSeconds"]


def test_web_service_calls_ollama_with_an_id_token_for_its_url() -> None:
    service = render_service("cloudrun/web.yaml")
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["metadata"]["name"] == "coda-web"
    spec = service["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == RENDER_ENV["WEB_SA"]
    container = first_container(service)
    env = env_of(container)
    assert env["OLLAMA_HOST"] == RENDER_ENV["OLLAMA_URL"]
    assert env["CODA_SERVER_AUTH"] == "id-token"
    assert env["CODA_SERVER_AUDIENCE"] == RENDER_ENV["OLLAMA_URL"]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["timeoutSeconds"] >= 300


def test_web_concurrency_matches_what_one_worker_is_sized_for() -> None:
    service = render_service("cloudrun/web.yaml")
    env = env_of(first_container(service))
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
    container = first_container(render_service("cloudrun/web.yaml"))
    # Every instance signs the CSRF session cookie with the same key, from one secret version.
    assert secret_env_of(container) == {
        "CODA_SECRET_KEY": {"name": "coda-secret-key", "key": "3"},
    }
    assert "CODA_SECRET_KEY" not in env_of(container)
    # Pinned to the version the deploy script resolves, never `latest`: an env var secret is read
    # when an instance starts, so `latest` would mix keys across instances after a rotation.
    template = yaml.safe_load((ROOT / "cloudrun" / "web.yaml").read_text())
    assert (
        secret_env_of(first_container(template))["CODA_SECRET_KEY"]["key"]
        == "${SECRET_KEY_VERSION}"
    )


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
