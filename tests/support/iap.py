"""A throwaway Identity-Aware Proxy: an ES256 key of its own, its JWK set served on loopback the
way IAP publishes its keys, and real signed assertions (good ones and every kind of bad one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import google.auth.crypt.es
import google.auth.jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from coda.infrastructure.iap import IAP_ISSUER
from tests.support.loopback import serving

AUDIENCE = "/projects/123456789/locations/us-central1/services/coda-web"
EMAIL = "ada@example.com"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, str]:
    """The public half as IAP lists it in its JWK set."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
        "kid": kid,
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(part: dict[str, Any]) -> str:
    return _b64(json.dumps(part).encode())


@dataclass
class FakeIap:
    """The keys IAP signs with (`keys`, by kid), served at `url`; `fetches` counts the reads."""

    keys: dict[str, ec.EllipticCurvePrivateKey]
    url: str = ""
    fetches: list[float] = field(default_factory=list)
    down: bool = False

    @property
    def kid(self) -> str:
        return next(iter(self.keys))

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": IAP_ISSUER,
            "aud": AUDIENCE,
            "sub": "accounts.google.com:1234567890",
            "email": EMAIL,
            "iat": now,
            "exp": now + 600,
            "hd": "example.com",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """A real ES256 assertion, signed by `key` (one of ours by default) under `kid`."""
        kid = kid or self.kid
        signing_key = key or self.keys[kid]
        pem = signing_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        signer = google.auth.crypt.es.EsSigner.from_string(pem, kid)
        token = google.auth.jwt.encode(signer, self.claims(**claims))  # type: ignore[no-untyped-call]
        return str(token.decode() if isinstance(token, bytes) else token)

    def unsigned(self, **claims: Any) -> str:
        """`alg: none`: the claims with no signature at all."""
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{_segment(header)}.{_segment(self.claims(**claims))}."

    def hs256_with_public_key(self, **claims: Any) -> str:
        """The classic confusion attack: HMAC-signed with the public key as the shared secret."""
        public = (
            self.keys[self.kid]
            .public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        signed = f"{_segment(header)}.{_segment(self.claims(**claims))}"
        signature = hmac.new(public, signed.encode(), hashlib.sha256).digest()
        return f"{signed}.{_b64(signature)}"

    def jwk_set(self) -> dict[str, Any]:
        return {"keys": [jwk(key, kid) for kid, key in self.keys.items()]}


@contextmanager
def fake_iap(kid: str = "iap-test-1") -> Iterator[FakeIap]:
    """A throwaway IAP whose JWK set is served on a loopback port while the block runs."""
    iap = FakeIap({kid: new_key()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            iap.fetches.append(time.monotonic())
            if iap.down or self.path != "/iap/verify/public_key-jwk":
                self.send_error(503 if iap.down else 404)
                return
            data = json.dumps(iap.jwk_set()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    with serving(Handler) as base:
        iap.url = f"{base}/iap/verify/public_key-jwk"
        yield iap
