"""Who sent a request, as far as coda can tell: a signed-in person, or a client address.

The sign-in part of the composition root (`coda.infrastructure.sign_in`) decides it before any
view runs and leaves it in the WSGI environ; the views read it here. Logs and limits only ever see
the pseudonym, a keyed hash: never the e-mail address nor the client's address.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from flask import request

VISITOR_KEY = "coda.visitor"  # in the WSGI environ
# Fields any part may add to the request's access log line (`coda.infrastructure.middleware`).
LOG_FIELDS_KEY = "coda.log_fields"

# Why a request was refused before anything ran, and the status it gets.
SIGN_IN_STATUS = {"missing": 403, "invalid": 403, "untrusted": 403, "unavailable": 503}


@dataclass(frozen=True)
class Visitor:
    """One person (or client address): `pseudonym` is what logs and limits use."""

    pseudonym: str
    email: str = ""  # only when signed in; shown in the page, never logged

    @property
    def signed_in(self) -> bool:
        return bool(self.email)


class SignInRequired(Exception):
    """No trustworthy identity came with the request: nothing runs, the page says why.

    `reason` is one of `SIGN_IN_STATUS`; `detail` is for the log only.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    @property
    def status(self) -> int:
        return SIGN_IN_STATUS.get(self.reason, 403)


def current_visitor() -> Visitor | None:
    """The request's visitor; None where sign-in does not apply (static files, probes)."""
    found = request.environ.get(VISITOR_KEY)
    return found if isinstance(found, Visitor) else None


def log_fields(environ: MutableMapping[str, Any]) -> dict[str, Any]:
    """The request's extra access-log fields, to add to."""
    fields: dict[str, Any] = environ.setdefault(LOG_FIELDS_KEY, {})
    return fields
