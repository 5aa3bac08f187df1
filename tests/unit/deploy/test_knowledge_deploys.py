"""The knowledge base in each deploy: the Ollama image bakes the embedding model the web tier
names, compose mounts the index folder read-only and builds it with a one-shot service, and the
Cloud Run web service mounts the index's bucket only when the deploy is given one."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from coda.config import Settings
from tests.support.deploy_files import (
    ROOT,
    commands_of,
    compose_web_env,
    dockerfile_instructions,
    dry_run,
    env_of,
    first_container,
    render_service,
)

BUCKET = "acme-coda-knowledge"


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return compose


def _default(value: str) -> str:
    """The default of a compose `${NAME-default}` or `${NAME:-default}`."""
    match = re.fullmatch(r"\$\{\w+:?-([^}]*)\}", value)
    assert match, value
    return match[1]


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> `host:mode` of a compose service's short-syntax volumes (the host part
    may be a `${NAME:-default}`, colon and all)."""
    found = {}
    for volume in service.get("volumes", []):
        match = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::(\w+))?", volume)
        assert match, volume
        found[match[2]] = f"{match[1]}:{match[3] or ''}"
    return found


def test_the_image_the_web_tier_and_every_deploy_name_one_embedding_model() -> None:
    instructions = dockerfile_instructions("Dockerfile.ollama")
    args = [
        a.split("=", 1)[1]
        for k, a in instructions
        if k == "ARG" and a.startswith("EMBEDDING_MODEL=")
    ]
    (baked,) = set(args)
    compose = _compose()["services"]
    script = (ROOT / "scripts" / "deploy-cloud-run.sh").read_text()
    (deployed,) = re.findall(r'EMBEDDING_MODEL="\$\{EMBEDDING_MODEL:-([^}]+)\}"', script)
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())

    assert baked == "bge-m3:567m"
    assert _default(compose["ollama"]["build"]["args"]["EMBEDDING_MODEL"]) == baked
    assert _default(compose["web"]["environment"]["CODA_EMBEDDING_MODEL"]) == baked
    assert _default(compose["index"]["environment"]["CODA_EMBEDDING_MODEL"]) == baked
    assert deployed == baked
    assert build["substitutions"]["_EMBEDDING_MODEL"] == baked
    ollama_build = next(s for s in build["steps"] if "--file=Dockerfile.ollama" in s["args"])
    assert "--build-arg=EMBEDDING_MODEL=${_EMBEDDING_MODEL}" in ollama_build["args"]


def test_the_ollama_image_keeps_both_models_loaded_warm_and_checked() -> None:
    instructions = dockerfile_instructions("Dockerfile.ollama")
    env = " ".join(a for k, a in instructions if k == "ENV")
    (loaded,) = re.findall(r"OLLAMA_MAX_LOADED_MODELS=(\d+)", env)
    assert int(loaded) >= 2
    assert "CODA_EMBEDDING_MODEL=${EMBEDDING_MODEL}" in env
    text = (ROOT / "Dockerfile.ollama").read_text()
    assert 'ollama run "$CODA_EMBEDDING_MODEL"' in text  # warmed by the entrypoint
    healthcheck = next(a for k, a in instructions if k == "HEALTHCHECK")
    assert "CODA_EMBEDDING_MODEL" in healthcheck
    assert "CODA_EMBEDDING_MODEL" in str(_compose()["services"]["ollama"]["healthcheck"]["test"])
    # One importer for the image and the tests, and a way to bake none.
    assert "ollama/embedding_model.py" in text
    assert "ARG EMBEDDING_FOLDER=" in text
    assert '[ -z "$EMBEDDING_MODEL" ]' in text


def test_compose_mounts_the_folder_the_index_service_writes_read_only_into_web() -> None:
    services = _compose()["services"]
    web, index = services["web"], services["index"]
    command = index["command"]
    out = PurePosixPath(command[command.index("--out") + 1])
    folder = str(out.parent)
    settings = Settings.from_env(
        compose_web_env({"CODA_KNOWLEDGE_INDEX": str(out), "CODA_EMBEDDING_MODEL": "bge-m3:567m"})
    )

    assert command[:4] == ["python", "-m", "coda.knowledge", "index"]
    assert index["profiles"] == ["index"]
    assert index["image"] == web["image"]
    assert index["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert index["environment"]["OLLAMA_HOST"] == web["environment"]["OLLAMA_HOST"]
    assert settings.knowledge_index == str(out)
    assert _mounts(web)[folder] == "${CODA_KNOWLEDGE_DIR:-./knowledge}:ro"
    assert _mounts(index)[folder] == "${CODA_KNOWLEDGE_DIR:-./knowledge}:"  # written here
    documents = command[4]
    assert _mounts(index)[documents].endswith(":ro")
    # The passages are embedded with the prefix the web tier will expect of them.
    assert (
        index["environment"]["CODA_EMBEDDING_PASSAGE_PREFIX"]
        == web["environment"]["CODA_EMBEDDING_PASSAGE_PREFIX"]
    )


def test_compose_without_an_index_runs_without_a_knowledge_base() -> None:
    settings = Settings.from_env(compose_web_env({}))

    assert settings.knowledge_index == ""


def _knowledge_volume(service: dict[str, Any]) -> list[dict[str, Any]]:
    volumes = service["spec"]["template"]["spec"].get("volumes", [])
    return [v for v in volumes if v["name"] == "knowledge"]


def test_cloud_run_web_mounts_the_bucket_read_only_where_the_index_setting_points() -> None:
    service = render_service(
        "cloudrun/web.yaml", KNOWLEDGE_BUCKET=BUCKET, KNOWLEDGE_OBJECT="indexes/2026-06.sqlite"
    )
    container = first_container(service)
    env = env_of(container)
    (volume,) = _knowledge_volume(service)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "knowledge"]

    assert volume["csi"] == {
        "driver": "gcsfuse.run.googleapis.com",
        "readOnly": True,
        "volumeAttributes": {"bucketName": BUCKET},
    }
    assert mount["readOnly"] is True
    assert env["CODA_KNOWLEDGE_INDEX"] == f"{mount['mountPath']}/indexes/2026-06.sqlite"
    assert env["CODA_EMBEDDING_MODEL"] == "bge-m3:567m"
    settings = Settings.from_env(env)
    assert settings.knowledge_index == env["CODA_KNOWLEDGE_INDEX"]


@pytest.mark.parametrize("template", ["cloudrun/web.yaml", "cloudrun/web-vllm.yaml"])
def test_cloud_run_web_without_a_bucket_has_no_knowledge_base(template: str) -> None:
    service = render_service(template, KNOWLEDGE_BUCKET="")
    container = first_container(service)

    assert _knowledge_volume(service) == []
    assert "volumeMounts" not in container
    assert "CODA_KNOWLEDGE_INDEX" not in env_of(container)
    assert Settings.from_env(env_of(container)).knowledge_index == ""


def test_deploy_with_a_bucket_lets_only_the_web_account_read_it() -> None:
    result = dry_run(variant="cpu", KNOWLEDGE_BUCKET=BUCKET)
    commands = commands_of(result)
    grants = [c for c in commands if "storage" in c and "add-iam-policy-binding" in c]

    assert grants == [
        f"gcloud --project proj --quiet storage buckets add-iam-policy-binding gs://{BUCKET}"
        " --member serviceAccount:coda-web@proj.iam.gserviceaccount.com"
        " --role roles/storage.objectViewer"
    ]
    replace_web = max(i for i, c in enumerate(commands) if "run services replace" in c)
    assert commands.index(grants[0]) < replace_web
    assert "storage.googleapis.com" in next(c for c in commands if " services enable " in c)
    assert "_EMBEDDING_MODEL=bge-m3:567m" in next(c for c in commands if "builds submit" in c)
    assert f"bucketName: {BUCKET}" in result.stdout


def test_deploy_without_a_bucket_mounts_and_grants_nothing() -> None:
    result = dry_run(variant="cpu")

    assert not [c for c in commands_of(result) if "storage" in c]
    assert "gcsfuse" not in result.stdout
    assert "knowledge base: none" in result.stderr


@pytest.mark.parametrize(
    ("variant", "bucket", "index", "said"),
    [
        ("vllm", BUCKET, "index.sqlite", "no embedding model"),
        ("cpu", "gs://acme", "index.sqlite", "without gs://"),
        ("cpu", BUCKET, "../x", "KNOWLEDGE_OBJECT"),
    ],
)
def test_deploy_refuses_a_knowledge_base_it_cannot_serve(
    variant: str, bucket: str, index: str, said: str
) -> None:
    result = dry_run(variant=variant, check=False, KNOWLEDGE_BUCKET=bucket, KNOWLEDGE_OBJECT=index)

    assert result.returncode != 0
    assert said in result.stderr


def test_cloud_build_indexes_with_the_baked_model_and_uploads_where_the_web_reads() -> None:
    text = (ROOT / "cloudbuild.index.yaml").read_text()
    config = yaml.safe_load(text)
    steps = {step["id"]: step for step in config["steps"]}
    index = steps["index"]["args"]
    out = PurePosixPath(index[index.index("--out") + 1])
    documents = index[index.index("index") + 1]
    env = dict(a.removeprefix("--env=").split("=", 1) for a in index if a.startswith("--env="))

    assert index[index.index("index") - 2 : index.index("index")] == ["-m", "coda.knowledge"]
    assert str(out.parent).removeprefix("/workspace/") in steps["documents"]["args"][-1]
    assert documents.removeprefix("/workspace/") in steps["documents"]["args"][-1]
    assert env["CODA_EMBEDDING_MODEL"] == "${_EMBEDDING_MODEL}"
    assert config["substitutions"]["_EMBEDDING_MODEL"] == "bge-m3:567m"
    assert "${_EMBEDDING_MODEL}" in steps["ollama"]["args"][-1]  # waits for the baked model
    assert steps["upload"]["args"][-2:] == [
        str(out.relative_to("/workspace")),
        "gs://${_BUCKET}/${_OBJECT}",
    ]
    # Every user substitution used is declared (Cloud Build rejects unknown ones).
    assert set(re.findall(r"\$\{(_[A-Z_]+)\}", text)) <= set(config["substitutions"])
