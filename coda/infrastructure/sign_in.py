"""Who may chat: IAP's signed assertion, a sign-in proxy's user header, or nobody checked.

Installed before anything else reads the request, so a request without a trustworthy identity
runs nothing (not even the CSRF check) and gets a page, or a bubble, saying so. Probes and static
files are exempt: Cloud Run's probes never pass through IAP.

- `iap` (Cloud Run): the user is the e-mail of IAP's verified assertion (`coda.infrastructure.iap`).
- `proxy` (oauth2-proxy and the like): the user is the proxy's header, believed only when the
  connection itself comes from one of `CODA_TRUSTED_PROXIES`, the address before ProxyFix read any
  `X-Forwarded-For`; anyone else sending the header is refused.
- `none`: open to anyone, and the start-up log says so; limits then count per client address.

Logs and limits get a pseudonym: an HMAC of the user (or the address) under a key derived from
`CODA_SECRET_KEY`, the same on every instance that shares the key, and never reversible to the
e-mail address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Callable, Sequence

from flask import Flask, Request, request

from coda.config import Settings
from coda.frontend.visitors import VISITOR_KEY, SignInRequired, Visitor, log_fields
from coda.infrastructure.iap import (
    ASSERTION_HEADER,
    AssertionRefused,
    IapKeys,
    KeysUnavailable,
    verify_assertion,
)

logger = logging.getLogger(__name__)

EXEMPT_BLUEPRINTS = frozenset({"health"})
MAX_USER_CHARS = 320  # the longest e-mail address there can be
PSEUDONYM_CHARS = 20  # 80 bits: no collisions among any plausible number of users

# What identifies the user: the identity a sign-in vouches for, or "" when nobody signed in.
Identify = Callable[[Request], str]


class Pseudonyms:
    """Keyed hashes of users and addresses, stable for as long as the secret key is."""

    def __init__(self, secret_key: str) -> None:
        # A key of its own, derived from the app's: the session's signing key is never used as is.
        self._key = hmac.new(secret_key.encode(), b"coda.pseudonym", hashlib.sha256).digest()

    def of(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_CHARS]


def install(app: Flask, settings: Settings) -> None:
    """Register the check that runs before every view; install before anything else that hooks
    the request (CSRF), so an unsigned request runs nothing."""
    pseudonyms = Pseudonyms(str(app.config["SECRET_KEY"]))
    identify = identifier(settings)

    @app.before_request
    def sign_in() -> None:
        if request.endpoint == "static" or request.blueprint in EXEMPT_BLUEPRINTS:
            return
        fields = log_fields(request.environ)
        try:
            email = identify(request)
        except SignInRequired as refused:
            fields["sign_in"] = refused.reason
            raise
        if email:
            visitor = Visitor(pseudonyms.of("user", email.lower()), email)
        else:
            visitor = Visitor(pseudonyms.of("address", request.remote_addr or ""))
        request.environ[VISITOR_KEY] = visitor
        fields["user"] = visitor.pseudonym


def identifier(settings: Settings) -> Identify:
    """How this deployment learns who sent a request; says at start-up what it trusts."""
    if settings.auth == "iap":
        logger.info(
            "sign-in: IAP, assertions verified for %s with the keys at %s",
            settings.iap_audience,
            settings.iap_keys_url,
        )
        return iap_identifier(settings.iap_audience, IapKeys(settings.iap_keys_url))
    if settings.auth == "proxy":
        logger.info(
            "sign-in: the %s header, believed only from %s",
            settings.proxy_user_header,
            ", ".join(settings.trusted_proxies),
        )
        return proxy_identifier(settings.proxy_user_header, settings.trusted_proxies)
    logger.warning(
        "sign-in: none; coda is open, anyone who reaches it can chat (limits count per client "
        "address). Set CODA_AUTH=iap behind Identity-Aware Proxy, or CODA_AUTH=proxy behind a "
        "sign-in proxy"
    )
    return lambda _request: ""


def iap_identifier(audience: str, keys: IapKeys) -> Identify:
    def identify(req: Request) -> str:
        token = req.headers.get(ASSERTION_HEADER, "")
        if not token:
            raise SignInRequired("missing", f"no {ASSERTION_HEADER} header")
        try:
            claims = verify_assertion(token, audience=audience, keys=keys)
        except AssertionRefused as exc:
            raise SignInRequired("invalid", f"IAP assertion refused: {exc}") from exc
        except KeysUnavailable as exc:
            logger.error("cannot check IAP assertions: %s", exc)
            raise SignInRequired("unavailable", str(exc)) from exc
        return str(claims["email"])

    return identify


def proxy_identifier(header: str, trusted: Sequence[str]) -> Identify:
    networks = [ipaddress.ip_network(n) for n in trusted]

    def identify(req: Request) -> str:
        peer = _peer(req)
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            address = None
        if address is None or not any(address in network for network in networks):
            raise SignInRequired("untrusted", f"{peer!r} is not a trusted sign-in proxy")
        user = req.headers.get(header, "").strip()
        if not user or len(user) > MAX_USER_CHARS or not user.isprintable():
            raise SignInRequired("missing", f"the proxy sent no usable {header}")
        return user

    return identify


def _peer(req: Request) -> str:
    """The address of the connection itself: before ProxyFix, which believes X-Forwarded-For."""
    original = req.environ.get("werkzeug.proxy_fix.orig") or {}
    return str(original.get("REMOTE_ADDR") or req.environ.get("REMOTE_ADDR") or "")
