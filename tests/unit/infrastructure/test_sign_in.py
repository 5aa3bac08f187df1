"""Who may chat, through the app: IAP's signed assertion, a sign-in proxy's header from its own
addresses only, or nobody checked, said so at start-up. Logs carry a pseudonym, never the e-mail."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from coda.infrastructure.app import create_app
from tests.support.html import bubbles, one, parse
from tests.support.iap import AUDIENCE, EMAIL, FakeIap, fake_iap, new_key
from tests.support.logs import captured
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel

ASSERTION = "X-Goog-IAP-JWT-Assertion"
PROXY = "172.18.0.2"


@pytest.fixture
def stub() -> StubModel:
    return StubModel()


@pytest.fixture
def iap() -> Iterator[FakeIap]:
    with fake_iap() as iap:
        yield iap


def app_with(stub: StubModel, **settings: Any) -> Flask:
    app = create_app(replace(WEB_SETTINGS, **settings), chat_model=stub)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def iap_app(stub: StubModel, iap: FakeIap) -> Flask:
    return app_with(stub, auth="iap", iap_audience=AUDIENCE, iap_keys_url=iap.url)


def proxy_app(stub: StubModel) -> Flask:
    # One forwarding hop declared, so X-Forwarded-For is read, and must still not vouch for anyone.
    return app_with(stub, auth="proxy", trusted_proxies=("172.18.0.0/16",), forwarded_hops=1)


def test_iap_user_is_shown_in_the_page_and_logged_only_as_a_pseudonym(
    stub: StubModel, iap: FakeIap, access_log: list[logging.LogRecord]
) -> None:
    client = iap_app(stub, iap).test_client()

    page = client.get("/", headers={ASSERTION: iap.token()})
    turn = client.post("/chat", data={"message": "hi"}, headers={ASSERTION: iap.token()})
    turn.get_data()
    for response in (page, turn):
        response.close()  # the access log line is written when the body closes

    assert page.status_code == 200
    assert EMAIL in one(page.get_data(as_text=True), "#signed-in").get_text()
    assert turn.status_code == 200
    assert len(stub.received) == 1
    users = {getattr(line, "user", None) for line in access_log}
    assert len(users) == 1
    (user,) = users
    assert isinstance(user, str)
    assert len(user) == 20
    for line in access_log:
        assert EMAIL not in str(vars(line))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Goog-Authenticated-User-Email": f"accounts.google.com:{EMAIL}"},
        {"X-Goog-Authenticated-User-Id": "accounts.google.com:1234567890"},
        {"X-Forwarded-Email": EMAIL},
    ],
    ids=["nothing", "unsigned email header", "unsigned id header", "a proxy's header"],
)
def test_iap_mode_trusts_no_unsigned_header(
    stub: StubModel, iap: FakeIap, headers: dict[str, str]
) -> None:
    client = iap_app(stub, iap).test_client()

    page = client.get("/", headers=headers)
    turn = client.post("/chat", data={"message": "こんにちは"}, headers=headers)

    assert page.status_code == 403
    assert one(page.get_data(as_text=True), "#sign-in-error").get_text().strip()
    assert parse(page.get_data(as_text=True)).select("#chat-form") == []
    assert turn.status_code == 403
    (question,) = bubbles(turn.get_data(as_text=True), "user")
    assert (
        one(question, ".message-body").get_text() == "こんにちは"
    )  # the browser keeps what was typed
    assert bubbles(turn.get_data(as_text=True), "assistant")[0].select(".message-error")
    assert stub.received == []


@pytest.mark.parametrize(
    "bad",
    ["expired", "wrong audience", "wrong issuer", "unsigned", "another key"],
)
def test_iap_mode_refuses_every_bad_assertion(stub: StubModel, iap: FakeIap, bad: str) -> None:
    token = {
        "expired": lambda: iap.token(iat=1_000_000_000, exp=1_000_000_600),
        "wrong audience": lambda: iap.token(aud="/projects/9/locations/x/services/other"),
        "wrong issuer": lambda: iap.token(iss="https://evil.example"),
        "unsigned": lambda: iap.unsigned(),
        "another key": lambda: iap.token(key=new_key()),
    }[bad]()

    response = iap_app(stub, iap).test_client().get("/", headers={ASSERTION: token})

    assert response.status_code == 403


def test_iap_keys_out_of_reach_is_a_503_that_says_so(stub: StubModel, iap: FakeIap) -> None:
    iap.down = True

    response = iap_app(stub, iap).test_client().get("/", headers={ASSERTION: iap.token()})

    assert response.status_code == 503
    assert one(response.get_data(as_text=True), "#sign-in-error").get_text().strip()


@pytest.mark.parametrize("path", ["/healthz", "/static/coda.css"])
def test_probes_and_static_files_need_no_sign_in(stub: StubModel, iap: FakeIap, path: str) -> None:
    with iap_app(stub, iap).test_client().get(path) as response:
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("settings", "href"),
    [
        ({}, "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"),
        ({"sign_out_url": "https://sso.example/logout"}, "https://sso.example/logout"),
    ],
    ids=["IAP's own", "configured"],
)
def test_a_signed_in_user_can_sign_out(
    stub: StubModel, iap: FakeIap, settings: dict[str, str], href: str
) -> None:
    app = app_with(stub, auth="iap", iap_audience=AUDIENCE, iap_keys_url=iap.url, **settings)

    page = app.test_client().get("/", headers={ASSERTION: iap.token()})

    link = one(page.get_data(as_text=True), "#signed-in #sign-out")
    assert link.get("href") == href


def test_no_sign_out_link_without_somewhere_to_go(stub: StubModel) -> None:
    """Behind a proxy whose sign-out coda is not told, and when nobody signs in at all."""
    proxy = proxy_app(stub).test_client()
    open_app = app_with(stub).test_client()

    behind_proxy = proxy.get(
        "/", headers={"X-Forwarded-Email": EMAIL}, environ_base={"REMOTE_ADDR": PROXY}
    )
    opened = open_app.get("/")

    assert parse(behind_proxy.get_data(as_text=True)).select("#sign-out") == []
    assert parse(opened.get_data(as_text=True)).select("#sign-out") == []


def test_proxy_header_is_believed_from_the_proxy(stub: StubModel) -> None:
    client = proxy_app(stub).test_client()

    page = client.get(
        "/", headers={"X-Forwarded-Email": EMAIL}, environ_base={"REMOTE_ADDR": PROXY}
    )

    assert page.status_code == 200
    assert EMAIL in one(page.get_data(as_text=True), "#signed-in").get_text()


@pytest.mark.parametrize(
    ("peer", "headers"),
    [
        ("203.0.113.9", {"X-Forwarded-Email": EMAIL}),
        # Claiming to be the proxy through X-Forwarded-For changes nothing: the connection counts.
        ("203.0.113.9", {"X-Forwarded-Email": EMAIL, "X-Forwarded-For": PROXY}),
        (PROXY, {}),
        (PROXY, {"X-Forwarded-Email": "   "}),
        (PROXY, {"X-Goog-Authenticated-User-Email": EMAIL}),
    ],
    ids=["from anyone else", "forwarded-for forged", "no header", "blank", "another header"],
)
def test_proxy_mode_refuses_anyone_but_the_proxy_vouching(
    stub: StubModel, peer: str, headers: dict[str, str]
) -> None:
    client = proxy_app(stub).test_client()

    page = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": peer})
    turn = client.post(
        "/chat", data={"message": "hi"}, headers=headers, environ_base={"REMOTE_ADDR": peer}
    )

    assert page.status_code == 403
    assert turn.status_code == 403
    assert stub.received == []


def test_open_mode_says_so_at_start_and_tells_addresses_apart(
    stub: StubModel, access_log: list[logging.LogRecord]
) -> None:
    with captured("coda.infrastructure.sign_in") as start_up:
        app = app_with(stub)
    client = app.test_client()

    page = client.get("/", environ_base={"REMOTE_ADDR": "198.51.100.1"})
    page.close()
    client.get("/", environ_base={"REMOTE_ADDR": "198.51.100.2"}).close()

    (warning,) = start_up
    assert warning.levelno == logging.WARNING
    assert "open" in warning.getMessage()
    assert parse(page.get_data(as_text=True)).select("#signed-in") == []
    users = [getattr(line, "user", None) for line in access_log]
    assert len(set(users)) == 2
    assert not any("198.51.100" in str(vars(line)) for line in access_log)


@pytest.mark.parametrize(("hops", "visitors"), [(0, 1), (1, 2)])
def test_a_forwarded_address_counts_only_when_a_proxy_in_front_is_declared(
    stub: StubModel, access_log: list[logging.LogRecord], hops: int, visitors: int
) -> None:
    """Limits without sign-in count per address: a client reaching the port directly must not get
    a fresh count by writing another address into X-Forwarded-For."""
    client = app_with(stub, forwarded_hops=hops).test_client()
    peer = {"REMOTE_ADDR": "198.51.100.1"}

    for claimed in ("203.0.113.1", "203.0.113.2"):
        client.get("/", headers={"X-Forwarded-For": claimed}, environ_base=peer).close()

    users = {getattr(line, "user", None) for line in access_log}
    assert len(users) == visitors


def test_pseudonyms_agree_across_instances_sharing_the_key_and_only_those(
    stub: StubModel, access_log: list[logging.LogRecord]
) -> None:
    peer = {"REMOTE_ADDR": "198.51.100.7"}
    for key in ("one-key", "one-key", "another-key"):
        app_with(stub, secret_key=key).test_client().get("/", environ_base=peer).close()

    first, second, third = (getattr(line, "user", None) for line in access_log)

    assert first == second != third
