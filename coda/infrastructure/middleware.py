"""Per-request plumbing: a request id, security headers, and one JSON access log line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

from coda.frontend import TURN_RECORD_KEY
from coda.frontend.visitors import LOG_FIELDS_KEY

access_logger = logging.getLogger("coda.access")

REQUEST_ID_HEADER = "X-Request-ID"
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

# `script-src 'self'`: no inline script and no eval, so htmx features that need eval stay off.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# Sent only on HTTPS responses, so a plain-HTTP local run is never pinned to HTTPS.
HSTS = "max-age=31536000"


def request_id_from(headers: Any) -> str:
    """The trace id the load balancer assigned (Cloud Run, W3C), else a fresh one."""
    cloud = headers.get("X-Cloud-Trace-Context", "")
    trace = cloud.split("/", 1)[0].strip().lower()
    if _TRACE_ID.match(trace):
        return str(trace)
    parts = headers.get("traceparent", "").strip().lower().split("-")
    if len(parts) == 4 and _TRACE_ID.match(parts[1]) and parts[1] != "0" * 32:
        return str(parts[1])
    given = headers.get(REQUEST_ID_HEADER, "").strip()
    if _SAFE_ID.match(given):
        return str(given)
    return uuid.uuid4().hex


def install(app: Flask) -> None:
    """Register the hooks on `app`; the log line is written when the body has been sent."""

    @app.before_request
    def start() -> None:
        g.request_id = request_id_from(request.headers)
        g.started = time.monotonic()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if request.is_secure:  # behind ProxyFix: the scheme the browser used
            response.headers["Strict-Transport-Security"] = HSTS
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        fields = {
            "request_id": g.get("request_id", ""),
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule else request.path,
            "path": request.path,
            "status": response.status_code,
            "user_agent": request.user_agent.string[:200],
        }
        started = g.get("started", time.monotonic())
        environ = request.environ
        # A streamed answer ends long after this hook: log once the server closes the body.
        response.call_on_close(lambda: _log(fields, started, environ))
        return response


def _log(fields: dict[str, Any], started: float, environ: dict[str, Any]) -> None:
    record = environ.get(TURN_RECORD_KEY)
    line = dict(fields)
    line["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    # What other parts added (`coda.frontend.visitors.log_fields`): the user's pseudonym, the
    # trace's ids.
    line.update(environ.get(LOG_FIELDS_KEY, {}))
    if record is not None:
        line.update(record.log_fields())
    access_logger.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra=line)
