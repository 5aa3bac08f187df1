"""What the views get from the composition root, kept in `app.extensions["coda"]`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from coda.config import Settings
from coda.frontend.draining import Draining
from coda.frontend.posted_turn import ModelMenu
from coda.llm import ChatModel, GenerationOptions, PromptLimits

EXTENSION_KEY = "coda"


@dataclass(frozen=True)
class Pacing:
    """How long the model may be silent before a heartbeat, and before the loading notice."""

    heartbeat_seconds: float
    notice_seconds: float


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything a chat view uses, built once by `create_app`; the views never build any of it."""

    settings: Settings
    # The default model; a turn asks `chat_model.with_model(...)` for the one it chose.
    chat_model: ChatModel
    models: ModelMenu
    options: GenerationOptions
    limits: PromptLimits
    pacing: Pacing
    draining: Draining


def services() -> Services:
    """The app's services; fails loudly when the app was not built by `create_app`."""
    registered = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(registered, Services):  # not an assert: python -O must not silence it
        raise RuntimeError("the chat blueprint needs an app built by coda's create_app()")
    return registered
