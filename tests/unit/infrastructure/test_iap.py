"""IAP's signed assertion checked with real ES256 tokens against a throwaway key set served the way
IAP publishes its keys: only a token IAP would have signed, for us, now, gets through."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from coda.infrastructure.iap import (
    REFETCH_SECONDS,
    AssertionRefused,
    IapKeys,
    KeysUnavailable,
    verify_assertion,
)
from tests.support.iap import AUDIENCE, EMAIL, FakeIap, fake_iap, new_key


@pytest.fixture
def iap() -> Iterator[FakeIap]:
    with fake_iap() as iap:
        yield iap


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verify(iap: FakeIap, token: str, keys: IapKeys | None = None) -> object:
    return verify_assertion(token, audience=AUDIENCE, keys=keys or IapKeys(iap.url))


def test_a_token_iap_signed_for_us_gives_its_email(iap: FakeIap) -> None:
    claims = verify(iap, iap.token())

    assert isinstance(claims, dict)
    assert claims["email"] == EMAIL


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("expired", lambda iap: iap.token(iat=int(time.time()) - 1200, exp=int(time.time()) - 600)),
        ("issued in the future", lambda iap: iap.token(iat=int(time.time()) + 600)),
        ("wrong audience", lambda iap: iap.token(aud="/projects/1/global/backendServices/2")),
        ("wrong issuer", lambda iap: iap.token(iss="https://accounts.google.com")),
        ("no issuer", lambda iap: iap.token(iss=None)),
        ("no expiry", lambda iap: iap.token(exp=None)),
        ("no e-mail", lambda iap: iap.token(email=None)),
        ("unsigned", lambda iap: iap.unsigned()),
        ("HS256 with the public key", lambda iap: iap.hs256_with_public_key()),
        ("signed by another key", lambda iap: iap.token(key=new_key())),
        ("an unknown key id", lambda iap: iap.token(key=new_key(), kid="not-iaps")),
        ("not a JWT", lambda iap: "accounts.google.com:ada@example.com"),
        ("a tampered payload", lambda iap: _tampered(iap.token())),
    ],
)
def test_every_other_token_is_refused(iap: FakeIap, name: str, make: object) -> None:
    assert callable(make)
    token = make(iap)

    with pytest.raises(AssertionRefused):
        verify(iap, token)


def _tampered(token: str) -> str:
    """The payload of a genuine token swapped for another user's, its signature kept."""
    header, _payload, signature = token.split(".")
    with fake_iap() as other:
        forged_payload = other.token(email="mallory@example.com").split(".")[1]
    return f"{header}.{forged_payload}.{signature}"


def test_keys_are_fetched_once_for_many_requests(iap: FakeIap) -> None:
    keys = IapKeys(iap.url)

    for _ in range(20):
        verify(iap, iap.token(), keys)

    assert len(iap.fetches) == 1


def test_an_unknown_key_id_refetches_at_most_once_a_minute_then_finds_a_rotated_key(
    iap: FakeIap,
) -> None:
    clock = Clock()
    keys = IapKeys(iap.url, clock=clock)
    verify(iap, iap.token(), keys)
    rotated = new_key()
    iap.keys["iap-test-2"] = rotated  # IAP rotates: a new key appears in the set
    token = iap.token(kid="iap-test-2")

    for _ in range(5):  # a flood of unknown kids within the minute costs no fetch
        with pytest.raises(AssertionRefused):
            verify(iap, token, keys)
    fetched_within_the_minute = len(iap.fetches)
    clock.now += REFETCH_SECONDS
    claims = verify(iap, token, keys)

    assert fetched_within_the_minute == 1
    assert len(iap.fetches) == 2
    assert isinstance(claims, dict)
    assert claims["email"] == EMAIL


def test_no_keys_at_all_is_not_a_refusal_of_the_user_but_an_outage(iap: FakeIap) -> None:
    iap.down = True

    with pytest.raises(KeysUnavailable):
        verify(iap, iap.token())


def test_keys_already_held_survive_a_failed_refresh(iap: FakeIap) -> None:
    clock = Clock()
    keys = IapKeys(iap.url, clock=clock)
    verify(iap, iap.token(), keys)
    iap.down = True
    clock.now += 2 * 3600

    claims = verify(iap, iap.token(), keys)

    assert isinstance(claims, dict)
    assert len(iap.fetches) == 2
