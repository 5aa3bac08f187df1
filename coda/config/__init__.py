"""Settings read from the environment (twelve-factor), validated once at start; the ranges and
words more than one part uses (`ranges`, `vocabulary`)."""

from coda.config.errors import SettingsError
from coda.config.settings import DEFAULT_MODEL, DEFAULT_OLLAMA_HOST, Settings
from coda.config.vocabulary import LANGUAGES

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_OLLAMA_HOST",
    "LANGUAGES",
    "Settings",
    "SettingsError",
]
