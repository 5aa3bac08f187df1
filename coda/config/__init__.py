"""Settings read from the environment (twelve-factor), validated once at start."""

from coda.config.errors import SettingsError
from coda.config.settings import (
    DEFAULT_MODEL,
    DEFAULT_OLLAMA_HOST,
    LANGUAGES,
    Settings,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_OLLAMA_HOST",
    "LANGUAGES",
    "Settings",
    "SettingsError",
]
