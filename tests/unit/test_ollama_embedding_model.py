"""ollama/embedding_model.py without a server: which files it sends under which keys, and which
blobs it leaves in a store its build stage ships (the import itself runs against the real Ollama
in every integration test that uses MiniLM, and in the container test's image build)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "ollama" / "embedding_model.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script(SCRIPT, "embedding_model_script")


def _sentence_transformers_folder(folder: Path) -> Path:
    for name in ("config.json", "1_Pooling/config.json", "model.safetensors", "README.md",
                 "vocab.txt", "tokenizer.json", "modules.json"):  # fmt: skip
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return folder


def test_files_are_keyed_by_relative_path_so_the_pooling_config_keeps_its_own_key(
    script: ModuleType, tmp_path: Path
) -> None:
    files = script.folder_files(_sentence_transformers_folder(tmp_path / "minilm"))

    assert sorted(files) == [
        "1_Pooling/config.json",
        "config.json",
        "model.safetensors",
        "modules.json",
        "tokenizer.json",
    ]
    assert files["1_Pooling/config.json"].read_text() == "1_Pooling/config.json"


def test_a_folder_without_weights_is_refused(script: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")

    with pytest.raises(script.ModelError, match=r"no \.safetensors"):
        script.folder_files(tmp_path)


def test_prune_keeps_what_a_manifest_names_and_drops_the_uploaded_sources(
    script: ModuleType, tmp_path: Path
) -> None:
    blobs = tmp_path / "blobs"
    manifest = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "minilm" / "local"
    blobs.mkdir()
    manifest.parent.mkdir(parents=True)
    for name in ("sha256-aaa", "sha256-bbb", "sha256-source"):
        (blobs / name).write_bytes(b"x" * 10)
    manifest.write_text(
        json.dumps({"config": {"digest": "sha256:aaa"}, "layers": [{"digest": "sha256:bbb"}]})
    )

    assert script.prune(tmp_path) == 10
    assert sorted(p.name for p in blobs.iterdir()) == ["sha256-aaa", "sha256-bbb"]


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("127.0.0.1:11599", "http://127.0.0.1:11599"),
        ("http://ollama:11434/", "http://ollama:11434"),
    ],
)
def test_the_host_is_read_as_ollama_reads_it(script: ModuleType, host: str, url: str) -> None:
    assert script._url(host) == url
