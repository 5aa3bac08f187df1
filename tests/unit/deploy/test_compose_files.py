"""compose wires the services as documented: a healthy Ollama first, the web tier on 8080, the
secret key to the web service only, any OpenAI-compatible server instead."""

from __future__ import annotations

import yaml

from coda.config import Settings
from tests.support.deploy_files import ROOT, compose_web_env


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


def test_compose_runs_the_web_container_on_ollama_by_default() -> None:
    settings = Settings.from_env(compose_web_env({}))

    assert (settings.provider, settings.server_url) == ("ollama", "http://ollama:11434")


def test_compose_points_the_web_container_at_any_openai_compatible_server() -> None:
    key = "sk-from-dotenv"
    env = compose_web_env(
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
