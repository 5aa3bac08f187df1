"""The Cloud Run identity-token auth, against a fake metadata server that signs real JWTs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.jwt
import google.auth.transport
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt

from coda.infrastructure.identity_token import (
    SERVERLESS_AUTHORIZATION,
    IdentityTokenAuth,
    IdentityTokenError,
)

AUDIENCE = "https://ollama-abc123-an.a.run.app"
SERVICE_ACCOUNT = "coda-web@example-project.iam.gserviceaccount.com"
ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/default/"
IDENTITY_PATH = ACCOUNT_PATH + "identity"


@pytest.fixture(scope="module")
def rsa_key() -> tuple[crypt.RSASigner, bytes]:
    """A throwaway RSA key: google-auth's signer for it and the public key to verify with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signer = crypt.RSASigner.from_string(private_pem, key_id="test-key-1")  # type: ignore[no-untyped-call]
    return signer, public_pem


class _Response(google.auth.transport.Response):
    """What google-auth's transport interface expects back."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status, self._headers, self._data = status, headers, data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


@dataclass
class FakeMetadataServer(google.auth.transport.Request):
    """Answers google-auth's metadata calls the way Cloud Run's metadata server does.

    Each identity request gets a freshly signed Google-style ID token for the asked audience,
    living `lifetime_s` from the fake clock's now.
    """

    signer: crypt.RSASigner
    clock: FakeClock
    lifetime_s: int = 3600
    available: bool = True
    identity_calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        """Serve the ping and the identity endpoint; anything else is a 404."""
        assert (headers or {}).get("metadata-flavor") == "Google"
        parts = urlsplit(url)
        flavor = {"metadata-flavor": "Google", "content-type": "text/html"}
        if not self.available:
            return _Response(404, {"content-type": "text/html"}, b"not here")
        if parts.path in ("", "/"):  # google-auth's ping of 169.254.169.254
            return _Response(200, flavor, b"")
        if parts.path == IDENTITY_PATH:
            query = parse_qs(parts.query)
            audience = query["audience"][0]
            assert query["format"] == ["full"]
            time.sleep(0.01)  # a real round trip: lets racing threads pile up on the lock
            with self.lock:
                self.identity_calls.append(audience)
            return _Response(200, flavor, self.mint(audience))
        if parts.path == ACCOUNT_PATH:  # google-auth asks which service account it runs as
            info = {"aliases": ["default"], "email": SERVICE_ACCOUNT, "scopes": []}
            return _Response(
                200,
                {"metadata-flavor": "Google", "content-type": "application/json"},
                json.dumps(info).encode(),
            )
        return _Response(404, {"content-type": "text/html"}, b"unknown path")

    def mint(self, audience: str) -> bytes:
        """A Google-format ID token (RS256, iss/aud/sub/email/iat/exp), signed with the test key."""
        now = int(self.clock())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "azp": "1234567890",
            "sub": "1234567890",
            "email": SERVICE_ACCOUNT,
            "email_verified": True,
            "iat": now,
            "exp": now + self.lifetime_s,
            "jti": str(len(self.identity_calls)),
        }
        token: bytes = google.auth.jwt.encode(self.signer, payload)  # type: ignore[no-untyped-call]
        return token


class FakeClock:
    """The auth's notion of now, which the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


class FakeOllama:
    """The Ollama service behind Cloud Run's IAM check: records the Authorization it was sent."""

    def __init__(self, reject_first: int = 0) -> None:
        self.seen: list[str | None] = []
        self.reject_first = reject_first

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers.get("Authorization"))
        if len(self.seen) <= self.reject_first:
            return httpx.Response(401, text="Unauthorized")
        return httpx.Response(200, json={"version": "0.17.4"})


@pytest.fixture(autouse=True)
def _no_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-auth must take the metadata-server path, as on Cloud Run."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metadata(rsa_key: tuple[crypt.RSASigner, bytes], clock: FakeClock) -> FakeMetadataServer:
    return FakeMetadataServer(signer=rsa_key[0], clock=clock)


def _client(auth: httpx.Auth, ollama: FakeOllama) -> httpx.Client:
    return httpx.Client(base_url=AUDIENCE, auth=auth, transport=httpx.MockTransport(ollama.handle))


def _decode(token: str, **kwargs: Any) -> dict[str, Any]:
    """google-auth's JWT decoder (verifies signature and audience unless verify=False)."""
    claims: dict[str, Any] = google.auth.jwt.decode(token, **kwargs)  # type: ignore[no-untyped-call]
    return claims


def _bearer(header: str | None) -> str:
    assert header is not None
    scheme, _, token = header.partition(" ")
    assert scheme == "Bearer"
    return token


def test_attaches_a_signed_id_token_for_the_ollama_audience(
    metadata: FakeMetadataServer, clock: FakeClock, rsa_key: tuple[crypt.RSASigner, bytes]
) -> None:
    ollama = FakeOllama()
    auth = IdentityTokenAuth(AUDIENCE, token_request=metadata, clock=clock)
    with _client(auth, ollama) as client:
        assert client.get("/api/version").status_code == 200

    claims = _decode(_bearer(ollama.seen[0]), certs=rsa_key[1], audience=AUDIENCE)
    assert claims["email"] == SERVICE_ACCOUNT
    assert metadata.identity_calls == [AUDIENCE]


def test_the_token_can_travel_beside_an_api_key(
    metadata: FakeMetadataServer, clock: FakeClock, rsa_key: tuple[crypt.RSASigner, bytes]
) -> None:
    """vLLM checks its own key in `Authorization`; Cloud Run reads the token from its own header."""
    seen: list[httpx.Headers] = []

    def vllm(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"object": "list", "data": []})

    auth = IdentityTokenAuth(
        AUDIENCE, token_request=metadata, clock=clock, header=SERVERLESS_AUTHORIZATION
    )
    transport = httpx.MockTransport(vllm)
    with httpx.Client(base_url=AUDIENCE, auth=auth, transport=transport) as client:
        client.get("/v1/models", headers={"Authorization": "Bearer sk-vllm-key"})

    (headers,) = seen
    assert headers["Authorization"] == "Bearer sk-vllm-key"
    token = _bearer(headers["X-Serverless-Authorization"])
    assert _decode(token, certs=rsa_key[1], audience=AUDIENCE)["email"] == SERVICE_ACCOUNT


def test_reuses_the_cached_token_while_it_is_fresh(
    metadata: FakeMetadataServer, clock: FakeClock
) -> None:
    ollama = FakeOllama()
    auth = IdentityTokenAuth(AUDIENCE, token_request=metadata, clock=clock)
    with _client(auth, ollama) as client:
        for _ in range(3):
            client.get("/api/version")
            clock.now += 600  # 30 minutes in all: still well inside the hour

    assert len(metadata.identity_calls) == 1
    assert len(set(ollama.seen)) == 1


def test_refreshes_the_token_shortly_before_it_expires(
    metadata: FakeMetadataServer, clock: FakeClock
) -> None:
    ollama = FakeOllama()
    auth = IdentityTokenAuth(AUDIENCE, token_request=metadata, clock=clock, refresh_margin_s=300)
    with _client(auth, ollama) as client:
        client.get("/api/version")
        clock.now += 3600 - 301  # just outside the margin: the cached token still serves
        client.get("/api/version")
        clock.now += 2  # now inside the five-minute margin: fetch a new one before it runs out
        client.get("/api/version")

    assert len(metadata.identity_calls) == 2
    first, second, third = (_bearer(h) for h in ollama.seen)
    assert first == second != third
    assert _decode(third, verify=False)["exp"] == int(clock.now) + 3600


def test_fetches_once_when_threads_race_for_the_first_token(
    metadata: FakeMetadataServer, clock: FakeClock
) -> None:
    auth = IdentityTokenAuth(AUDIENCE, token_request=metadata, clock=clock)
    start = threading.Barrier(8)
    tokens: list[str] = []

    def worker() -> None:
        start.wait()
        tokens.append(auth.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(metadata.identity_calls) == 1
    assert len(set(tokens)) == 1


def test_retries_once_with_a_new_token_after_a_401(
    metadata: FakeMetadataServer, clock: FakeClock
) -> None:
    ollama = FakeOllama(reject_first=1)
    auth = IdentityTokenAuth(AUDIENCE, token_request=metadata, clock=clock)
    with _client(auth, ollama) as client:
        clock.now += 1  # the new token differs from the rejected one
        response = client.post("/api/chat", json={"model": "tinyswallow:1.5b"})

    assert response.status_code == 200
    assert len(ollama.seen) == 2
    assert ollama.seen[0] != ollama.seen[1]
    assert len(metadata.identity_calls) == 2


def test_no_metadata_server_is_an_httpx_transport_error(
    metadata: FakeMetadataServer, clock: FakeClock
) -> None:
    metadata.available = False
    ollama = FakeOllama()
    auth = IdentityTokenAuth(AUDIENCE, token_request=metadata, clock=clock)
    with _client(auth, ollama) as client, pytest.raises(httpx.TransportError) as caught:
        client.get("/api/version")

    assert isinstance(caught.value, IdentityTokenError)
    assert AUDIENCE in str(caught.value)
    assert ollama.seen == []


def test_an_identity_token_needs_an_audience() -> None:
    with pytest.raises(ValueError, match="audience"):
        IdentityTokenAuth("")
