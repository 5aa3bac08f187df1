"""The deploy script, run dry against a stand-in gcloud: the model server stays private, each
secret is made once, piped to gcloud and never shown."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from tests.support.deploy_files import (
    IAP_MEMBERS,
    RENDER_ENV,
    ROOT,
    SECRET_LIKE,
    commands_of,
    dry_run,
    env_of,
    first_container,
    secret_env_of,
)


def test_deploy_dry_run_keeps_ollama_private_and_grants_invoker_to_the_web_account() -> None:
    commands = commands_of(dry_run())
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
    result = dry_run(path_prefix=tmp_path)
    commands = commands_of(result)

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
        assert secret_env_of(first_container(web))["CODA_SECRET_KEY"] == {
            "name": "coda-secret-key",
            "key": "1",
        }
        assert value not in yaml.safe_dump(web)


def test_deploy_dry_run_of_vllm_keeps_it_private_and_its_key_for_the_two_services() -> None:
    result = dry_run(variant="vllm")
    commands = commands_of(result)

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
        assert secret_env_of(first_container(service))["VLLM_API_KEY"] == pinned
        assert key not in yaml.safe_dump(service)
    for service in web:
        assert secret_env_of(first_container(service))["CODA_OPENAI_API_KEY"] == pinned
        env = env_of(first_container(service))
        assert env["CODA_OPENAI_BASE_URL"] == "https://coda-vllm-hash-ew.a.run.app/v1"
        assert env["CODA_SERVER_AUDIENCE"] == "https://coda-vllm-hash-ew.a.run.app"
