"""What the views get from the composition root, stored in `app.extensions["coda"]`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from coda.config import Settings
from coda.llm import ChatModel

EXTENSION_KEY = "coda"


@dataclass(frozen=True)
class Services:
    """The settings and the model the chat views use; the views never build either."""

    settings: Settings
    chat_model: ChatModel


def services() -> Services:
    """The app's services; fails loudly when the app was not built by `create_app`."""
    found = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(found, Services):  # not an assert: python -O must not silence it
        raise RuntimeError("the chat blueprint needs an app built by coda's create_app()")
    return found
