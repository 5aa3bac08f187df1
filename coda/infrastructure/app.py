"""The composition root: `create_app` reads as the list of coda's parts, each installing itself."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from coda.config import Settings
from coda.frontend import EXTENSION_KEY, blueprint
from coda.frontend.attachments import ATTACHMENT_PATH
from coda.frontend.rendering.markdown import prepare_highlighting
from coda.infrastructure import (
    health,
    knowledge,
    middleware,
    request_body,
    sign_in,
    upload_files,
)
from coda.infrastructure.attachments import attachment_body_rule
from coda.infrastructure.bootstrap import build_chat_model, build_services
from coda.infrastructure.logging import configure_logging
from coda.infrastructure.warmup import start_warmup
from coda.llm import ChatModel, KnowledgeBase

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def asset_dir(name: str) -> Path:
    """`templates/` or `static/`: inside the package when installed, beside it in the repo."""
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


def create_app(
    settings: Settings | None = None,
    *,
    chat_model: ChatModel | None = None,
    span_exporter: SpanExporter | None = None,
    knowledge_base: KnowledgeBase | None = None,
) -> Flask:
    """Build the app; tests pass their own settings and, for web-tier unit tests, a model, a
    knowledge base, and to read the spans, an exporter (which turns tracing on)."""
    if settings is None:
        settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    # Refused at start, not at the first question: an index of another embedding model.
    if knowledge_base is None:
        knowledge_base = knowledge.open_knowledge_base(settings)
    if chat_model is None:
        chat_model = build_chat_model(settings)
    tracing = None
    if settings.otlp_traces_endpoint or span_exporter is not None:
        from coda.infrastructure import tracing as tracing_part  # only imported when tracing is on

        tracing = tracing_part.build_tracing(settings, span_exporter)
        chat_model = tracing.traced(chat_model)

    app = Flask(
        "coda",
        template_folder=str(asset_dir("templates")),
        static_folder=str(asset_dir("static")),
    )
    secret_key = settings.secret_key
    if not secret_key:
        logger.warning(
            "CODA_SECRET_KEY is not set: using a random key, so a page left open must be "
            "reloaded after a restart, and instances cannot share sessions"
        )
        secret_key = secrets.token_urlsafe(32)
    app.config.update(
        SECRET_KEY=secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        # The token lives as long as the session cookie: a page left open overnight still posts.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    if settings.forwarded_hops:  # the client's address and scheme, as the proxies in front saw them
        hops = settings.forwarded_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )
    request_body.install(
        app,
        settings.max_body_bytes,
        settings.body_timeout_seconds,
        # A file takes longer to arrive than a message: a phone sends 10 MiB in about a minute.
        larger={ATTACHMENT_PATH: attachment_body_rule(settings)},
    )
    upload_files.install(app)
    sign_in.install(app, settings)  # first: a request nobody signed runs nothing else
    CSRFProtect(app)
    prepare_highlighting()  # compiled before the first request, not during one
    services = build_services(settings, chat_model, knowledge_base)
    app.extensions[EXTENSION_KEY] = services
    app.register_blueprint(blueprint)
    health.install(app, chat_model, services.models.allowed, settings.probe_port)
    middleware.install(app)
    if tracing is not None:
        tracing_part.install(app, tracing)
    if settings.metrics:
        from coda.infrastructure import metrics  # only imported when metrics are on

        metrics.install(app)
    if settings.warmup:
        start_warmup(chat_model, services.options)
    return app
