"""The deploy puts sign-in and limits in front: IAP by default with only the members it can grant,
limits and a stated cost ceiling on a public deploy, and the model server always bounded."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from coda.config import Settings
from tests.support.deploy_files import (
    IAP_MEMBERS,
    RENDER_ENV,
    ROOT,
    commands_of,
    dry_run,
    env_of,
    first_container,
    render_service,
)


def _rendered_web(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The web service a dry run printed (the document after its `--- cloudrun/web…` line)."""
    text = result.stdout.split("/cloudrun/web", 1)[1].split("\n", 1)[1]
    document: dict[str, Any] = yaml.safe_load(text.split("\n+ ", 1)[0])
    return document


@pytest.mark.parametrize("template", ["cloudrun/web.yaml", "cloudrun/web-vllm.yaml"])
def test_web_service_behind_iap_checks_its_assertions_for_its_own_audience(template: str) -> None:
    service = render_service(template)
    env = env_of(first_container(service))

    settings = Settings.from_env({**env, "CODA_SECRET_KEY": "from-secret-manager"})

    assert service["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] == "true"
    assert settings.auth == "iap"
    assert settings.iap_audience == RENDER_ENV["IAP_AUDIENCE"]
    assert settings.streams_per_user == 2
    assert settings.streams_per_instance == 4 <= settings.concurrency
    assert settings.limits_storage == "memory://"


def test_deploy_puts_iap_in_front_by_default_and_grants_only_its_members() -> None:
    result = dry_run()
    commands = commands_of(result)
    web = _rendered_web(result)

    assert web["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] == "true"
    assert env_of(first_container(web))["CODA_IAP_AUDIENCE"] == (
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
    result = dry_run(check=False, IAP_MEMBERS=members)

    assert result.returncode != 0
    assert said in result.stderr
    assert commands_of(result) == []


def test_a_public_deploy_is_explicit_and_turns_the_limits_on() -> None:
    result = dry_run("--public")
    commands = commands_of(result)
    web = _rendered_web(result)
    env = env_of(first_container(web))

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
    result = dry_run(variant=variant, MAX_INSTANCES=max_instances)
    (line,) = [line for line in result.stderr.splitlines() if "cost ceiling" in line]
    service = render_service(
        f"cloudrun/{'vllm-gpu' if variant == 'vllm' else f'ollama-{variant}'}.yaml",
        MAX_INSTANCES=max_instances,
    )

    assert f"{per_day} a day" in line
    assert per_day in (ROOT / "docs" / "deploy-cloud-run.md").read_text()
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/maxScale"] == max_instances


@pytest.mark.parametrize("bad", ["0", "-1", "unbounded", ""])
def test_deploy_always_bounds_the_model_server(bad: str) -> None:
    result = dry_run(check=False, MAX_INSTANCES=bad)

    if bad == "":
        assert result.returncode == 0  # unset: the default of one instance
        assert "instances 0..1" in result.stderr
    else:
        assert result.returncode != 0
        assert "MAX_INSTANCES" in result.stderr
