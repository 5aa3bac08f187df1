"""Both adapters against a real `ollama serve` running the real test model.

Each test runs twice: through Ollama's own API (`ollama`), and through the OpenAI-compatible API
the same server offers at `/v1` (`openai`), which is what vLLM and llama.cpp's `llama-server`
speak too. The port promises the same behaviour over both.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from coda.llm import (
    ChatModel,
    Chunk,
    GenerationOptions,
    Message,
    ModelNotFoundError,
    Role,
    SpeedSource,
    UnavailableError,
)
from tests.support.factories import ModelFactory
from tests.support.ollama_server import TEST_MODEL, OllamaServer
from tests.support.settings import make_settings

pytestmark = pytest.mark.integration

QUESTION = [
    Message(Role.SYSTEM, "You are a helpful assistant."),
    Message(Role.USER, "日本の首都はどこですか？"),
]
# Ollama's own API times the generation; its /v1 sends token counts only, so the speed is ours.
SPEED_SOURCE = {"ollama": SpeedSource.SERVER, "openai": SpeedSource.MEASURED}


@pytest.fixture(params=["ollama", "openai"])
def provider(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def adapter(chat_model: ModelFactory, provider: str) -> ModelFactory:
    """The adapter of `provider` for a host, built as the app builds it."""

    def build(host: str, **overrides: object) -> ChatModel:
        return chat_model(host, provider=provider, **overrides)

    return build


def options(max_tokens: int) -> GenerationOptions:
    return GenerationOptions(
        temperature=0.0, top_p=0.9, top_k=40, max_tokens=max_tokens, context_length=8192, seed=42
    )


def collect(model: ChatModel, max_tokens: int = 24) -> list[Chunk]:
    return list(model.stream(QUESTION, options(max_tokens)))


def test_stream_yields_text_then_usage_with_token_counts(
    adapter: ModelFactory,
    provider: str,
    ollama_server: OllamaServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = adapter(ollama_server.host)

    chunks = collect(model)

    *body, last = chunks
    assert body, "the answer arrived in one piece instead of streaming"
    assert "".join(c.text for c in chunks).strip()
    assert all(c.usage is None for c in body)
    assert last.usage is not None
    assert last.usage.prompt_tokens > 0
    assert last.usage.completion_tokens > 0
    assert last.usage.model == model.model == TEST_MODEL
    assert last.usage.speed_source is SPEED_SOURCE[provider]
    assert last.usage.tokens_per_second is not None
    assert last.usage.tokens_per_second > 0
    with capsys.disabled():
        print(f"\n  {provider} reported: {last.usage}")


def test_max_tokens_caps_the_answer(adapter: ModelFactory, ollama_server: OllamaServer) -> None:
    usage = collect(adapter(ollama_server.host), max_tokens=3)[-1].usage

    assert usage is not None
    assert usage.completion_tokens <= 3
    assert usage.done_reason == "length"


def test_thinking_turned_off_is_taken_by_a_model_that_does_not_think(
    adapter: ModelFactory, ollama_server: OllamaServer
) -> None:
    """`think: false` (Ollama refuses only `true` for such a model) and `chat_template_kwargs`
    (which Ollama's /v1 ignores): an operator may list any model in CODA_NO_THINKING_MODELS."""
    quiet = replace(options(8), think=False)

    chunks = list(adapter(ollama_server.host).stream(QUESTION, quiet))

    assert chunks[-1].usage is not None
    assert all(not c.thinking for c in chunks)


def test_missing_model_raises_not_found_without_retrying(
    adapter: ModelFactory, ollama_server: OllamaServer
) -> None:
    model = adapter(ollama_server.host, model="no-such-model:latest")

    with pytest.raises(ModelNotFoundError) as caught:
        collect(model)

    assert caught.value.params["model"] == "no-such-model:latest"
    assert caught.value.attempts == 1
    assert "no-such-model:latest" not in model.list_models()


def test_listing_names_the_test_model(adapter: ModelFactory, ollama_server: OllamaServer) -> None:
    assert TEST_MODEL in adapter(ollama_server.host).list_models()


def test_stopped_server_gives_unavailable_within_the_configured_bound(
    adapter: ModelFactory, spare_ollama: OllamaServer
) -> None:
    settings = make_settings(spare_ollama.host, retry_attempts=3, retry_max_seconds=3.0)
    model = adapter(spare_ollama.host, retry_attempts=3, retry_max_seconds=3.0)
    spare_ollama.stop()

    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        collect(model)
    elapsed = time.monotonic() - started

    assert caught.value.attempts == 3
    # The bound: the retry budget plus one last connection attempt.
    assert elapsed < settings.retry_max_seconds + settings.connect_timeout + 1
    with pytest.raises(UnavailableError):
        model.list_models()


def test_server_restarted_between_two_calls_recovers(
    adapter: ModelFactory, spare_ollama: OllamaServer
) -> None:
    model = adapter(spare_ollama.host)
    assert collect(model)[-1].usage is not None

    spare_ollama.stop()
    spare_ollama.start()

    assert collect(model)[-1].usage is not None


def test_closing_a_stream_early_returns_promptly_and_frees_the_server(
    adapter: ModelFactory, ollama_server: OllamaServer
) -> None:
    """With one parallel slot, a second answer can only start once the first is cancelled."""
    model = adapter(ollama_server.host)
    long_answer = model.stream(
        [Message(Role.USER, "Count from 1 to 1000, one number per line.")], options(4000)
    )
    next(long_answer)

    started = time.monotonic()
    long_answer.close()
    close_seconds = time.monotonic() - started

    finished = threading.Event()
    result: list[Chunk] = []

    def ask() -> None:
        result.extend(collect(model, max_tokens=8))
        finished.set()

    threading.Thread(target=ask, daemon=True).start()
    assert close_seconds < 1.0
    # 4000 tokens would take minutes on these CPUs; a cancelled generation frees the slot at once.
    assert finished.wait(timeout=30), "the second answer waited for the closed one to finish"
    assert result[-1].usage is not None
