"""Settings for tests: the web tier over a stub model; short answers from the real test model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from coda.config import Settings
from coda.llm import PromptLimits
from tests.support.ollama_server import TEST_MODEL

# The web tier's unit tests: small limits to hit, short pacing so notices come quickly.
WEB_SETTINGS = Settings(
    model="stub:1",
    log_format="text",
    secret_key="test-secret",
    max_message_chars=50,
    max_body_bytes=4096,
    heartbeat_seconds=0.5,
    loading_notice_seconds=0.3,
    shutdown_grace_seconds=0.5,
)


# Prompt building and input reading: small enough to trim and to refuse by hand.
PROMPT_LIMITS = PromptLimits(
    max_message_chars=100,
    max_history_messages=10,
    max_history_chars=1000,
    context_length=2048,
    max_tokens=512,
)


def make_settings(host: str, **overrides: Any) -> Settings:
    """Short, repeatable generation: tests assert on structure, never on wording.

    With `provider="openai"` the same Ollama is reached through the OpenAI-compatible API it
    serves at `/v1`.
    """
    if overrides.get("provider") == "openai":
        overrides.setdefault("openai_base_url", f"{host}/v1")
    base = Settings(
        ollama_host=host,
        model=TEST_MODEL,
        temperature=0.0,
        seed=42,
        max_tokens=24,
        connect_timeout=2.0,
        first_token_timeout=60.0,
        total_timeout=120.0,
        retry_attempts=3,
        retry_max_seconds=4.0,
        log_format="text",
    )
    return replace(base, **overrides)
