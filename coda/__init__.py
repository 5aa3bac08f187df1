"""coda: chat in the browser with a self-hosted Japanese language model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from coda.config import Settings
    from coda.llm import ChatModel


def create_app(settings: Settings | None = None, *, chat_model: ChatModel | None = None) -> Flask:
    """`flask --app coda run` and `gunicorn 'coda:create_app()'`; see `coda.infrastructure.app`.

    Imported lazily so that `import coda.config` does not pull in Flask.
    """
    from coda.infrastructure.app import create_app as build

    return build(settings, chat_model=chat_model)
