"""Settings for tests that talk to the real test model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from coda.config import Settings
from tests.support.ollama_server import TEST_MODEL


def make_settings(host: str, **overrides: Any) -> Settings:
    """Short, repeatable generation: tests assert on structure, never on wording."""
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
