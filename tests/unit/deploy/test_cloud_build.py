"""Cloud Build pushes what it builds, and the metrics are scraped where the public never reaches."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from coda.config import Settings
from tests.support.deploy_files import ROOT, env_of, first_container, render_service


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
    service = render_service(template)
    spec = service["spec"]["template"]["spec"]
    web = first_container(service)
    (collector,) = [c for c in spec["containers"] if c["name"] == "collector"]
    settings = Settings.from_env(env_of(web))
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
