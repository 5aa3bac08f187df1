"""IAP's signed assertion (`x-goog-iap-jwt-assertion`), verified the way Google documents it.

Identity-Aware Proxy signs every request it lets through with an ES256 JWT: issuer
`https://cloud.google.com/iap`, audience the protected resource (on Cloud Run without a load
balancer `/projects/NUMBER/locations/REGION/services/SERVICE`; behind a load balancer
`/projects/NUMBER/global/backendServices/ID`), signed by one of the keys IAP publishes as a JWK
set. The unsigned `x-goog-authenticated-user-email` beside it could come from anyone who reaches
the service some other way, so it is never read.

google-auth checks the signature, `iat`/`exp` and the audience; this module keeps IAP's keys (one
fetch an hour, another at once when a token names a key not seen yet, as after a rotation, but no
more than one a minute) and checks the algorithm, the key id and the issuer, which google-auth
leaves to its caller.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import google.auth.exceptions
import google.auth.jwt
import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ASSERTION_HEADER = "X-Goog-IAP-JWT-Assertion"
IAP_ISSUER = "https://cloud.google.com/iap"
KEYS_TTL_SECONDS = 3600.0
# At most one fetch a minute for unknown key ids: a forged kid costs us little.
REFETCH_SECONDS = 60.0
CLOCK_SKEW_SECONDS = 30


class AssertionRefused(Exception):
    """The assertion is missing, malformed, forged, expired or meant for someone else."""


class KeysUnavailable(Exception):
    """IAP's keys could not be fetched, so no assertion can be checked."""


class IapKeys:
    """IAP's public keys by key id, as PEM, fetched from its JWK set and kept.

    Shared by every request of the worker: one lock, one fetch at a time.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client or httpx.Client(timeout=httpx.Timeout(5.0))
        self._clock = clock
        self._lock = threading.Lock()
        self._pems: dict[str, str] = {}
        self._fetched_at: float | None = None

    def pem(self, kid: str) -> str | None:
        """The key `kid` names, fetching the set when it is stale or does not hold it yet."""
        with self._lock:
            now = self._clock()
            age = None if self._fetched_at is None else now - self._fetched_at
            stale = age is None or age >= KEYS_TTL_SECONDS
            unknown = kid not in self._pems and (age is None or age >= REFETCH_SECONDS)
            if stale or unknown:
                self._refresh(now)
            return self._pems.get(kid)

    def _refresh(self, now: float) -> None:
        try:
            response = self._client.get(self.url)
            response.raise_for_status()
            keys = response.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if not self._pems:
                raise KeysUnavailable(f"IAP's keys at {self.url}: {exc}") from exc
            return  # keep the keys we have; try again at the next unknown kid or expiry
        self._pems = {str(k["kid"]): pem for k in keys if (pem := _es256_pem(k)) is not None}
        self._fetched_at = now


def verify_assertion(token: str, *, audience: str, keys: IapKeys) -> Mapping[str, Any]:
    """The claims of a valid IAP assertion for `audience`; `AssertionRefused` otherwise."""
    try:
        header = google.auth.jwt.decode_header(token)  # type: ignore[no-untyped-call]
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise AssertionRefused(f"not a JWT: {exc}") from exc
    if header.get("alg") != "ES256":
        raise AssertionRefused(f"algorithm {header.get('alg')!r}, IAP signs with ES256")
    kid = header.get("kid")
    pem = keys.pem(kid) if isinstance(kid, str) else None
    if pem is None:
        raise AssertionRefused(f"key id {kid!r} is not one of IAP's keys")
    try:
        claims: Mapping[str, Any] = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
            token, certs={kid: pem}, audience=audience, clock_skew_in_seconds=CLOCK_SKEW_SECONDS
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise AssertionRefused(str(exc)) from exc
    if claims.get("iss") != IAP_ISSUER:
        raise AssertionRefused(f"issuer {claims.get('iss')!r}, expected {IAP_ISSUER}")
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise AssertionRefused("no e-mail address in the assertion")
    return claims


def _es256_pem(jwk: Mapping[str, Any]) -> str | None:
    """A P-256 key of the set as a PEM public key (what google-auth reads); others are skipped."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "kid" not in jwk:
        return None
    try:
        numbers = ec.EllipticCurvePublicNumbers(
            _b64_int(jwk["x"]), _b64_int(jwk["y"]), ec.SECP256R1()
        )
        key = numbers.public_key()
    except (KeyError, ValueError, TypeError):
        return None
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _b64_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")
