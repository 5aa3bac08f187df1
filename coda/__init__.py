"""coda: chat in the browser with a self-hosted Japanese language model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """`flask --app coda run` and `gunicorn 'coda:create_app()'`; imported lazily so that
    `import coda.config` stays light."""
    from coda.infrastructure.app import create_app as build

    return build(*args, **kwargs)
