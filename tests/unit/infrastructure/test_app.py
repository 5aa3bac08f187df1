"""The composition root: wiring, health and readiness, request ids, warm-up."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

import coda
from coda.config import Settings
from coda.infrastructure.health import CachedReadiness, Readiness
from coda.infrastructure.middleware import request_id_from
from coda.llm import UnavailableError
from tests.support.stub_model import StubModel

SETTINGS = Settings(model="stub:1", log_format="text", secret_key="k")


def test_healthz_answers_without_asking_the_model() -> None:
    stub = StubModel()
    client = coda.create_app(SETTINGS, chat_model=stub).test_client()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert stub.list_calls == []


@pytest.mark.parametrize(
    ("listed", "status", "present", "detail"),
    [
        (["other:2", "stub:1"], 200, True, None),
        (["other:2"], 503, False, "not on the server: stub:1"),
    ],
)
def test_readyz_reports_whether_the_server_has_the_model(
    listed: list[str], status: int, present: bool, detail: str | None
) -> None:
    client = coda.create_app(SETTINGS, chat_model=StubModel(listed=listed)).test_client()

    response = client.get("/readyz")

    assert response.status_code == status
    expected = {
        "ready": present,
        "model": "stub:1",
        "server_reachable": True,
        "model_present": present,
        "models": {"stub:1": present},
    }
    if detail is not None:
        expected["detail"] = detail
    assert response.get_json() == expected


def test_readyz_reports_each_model_users_may_choose() -> None:
    settings = replace(SETTINGS, models=("stub:1", "b:2", "c:3"))
    client = coda.create_app(settings, chat_model=StubModel(listed=["c:3", "stub:1"])).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["models"] == {"stub:1": True, "b:2": False, "c:3": True}
    assert (body["model"], body["model_present"]) == ("stub:1", True)
    assert body["detail"] == "not on the server: b:2"


def test_readyz_is_503_when_the_server_cannot_be_asked() -> None:
    stub = StubModel(list_error=UnavailableError("ConnectError: cannot connect to the server"))
    client = coda.create_app(SETTINGS, chat_model=stub).test_client()

    body = client.get("/readyz").get_json()

    assert body["ready"] is False
    assert body["server_reachable"] is False
    assert body["models"] == {"stub:1": False}
    assert "cannot connect" in body["detail"]


def test_readyz_is_cached_for_a_few_seconds() -> None:
    stub = StubModel()
    client = coda.create_app(SETTINGS, chat_model=stub).test_client()

    assert [client.get("/readyz").status_code for _ in range(5)] == [200] * 5
    assert len(stub.list_calls) == 1


def test_cached_readiness_asks_again_after_its_ttl() -> None:
    now = [0.0]
    calls: list[float] = []

    def check() -> Readiness:
        calls.append(now[0])
        return Readiness(True, {"stub:1": True})

    cached = CachedReadiness(check, ttl=5, clock=lambda: now[0])
    cached.get()
    now[0] = 4.9
    cached.get()
    now[0] = 5.0
    cached.get()

    assert calls == [0.0, 5.0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
         "105445aa7843bc8bf206b12000100000"),
        ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
         "4bf92f3577b34da6a3ce929d0e0e4736"),
        ({"X-Request-ID": "abc-123"}, "abc-123"),
    ],
)  # fmt: skip
def test_request_id_honours_the_trace_headers(headers: dict[str, str], expected: str) -> None:
    assert request_id_from(headers) == expected

    client = coda.create_app(SETTINGS, chat_model=StubModel()).test_client()
    assert client.get("/healthz", headers=headers).headers["X-Request-ID"] == expected


def test_request_id_is_made_up_when_missing_or_unsafe() -> None:
    made = request_id_from({"X-Request-ID": "<script>"})

    assert len(made) == 32
    assert made != request_id_from({})


def test_warmup_preloads_in_the_background_when_asked() -> None:
    stub = StubModel()
    coda.create_app(replace(SETTINGS, warmup=True), chat_model=stub)

    assert stub.preloaded.wait(2)


def test_no_warmup_by_default() -> None:
    stub = StubModel()
    coda.create_app(SETTINGS, chat_model=stub)

    assert not stub.preloaded.wait(0.2)


def test_importing_the_settings_does_not_import_flask() -> None:
    code = "import sys, coda.config; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"


def test_session_cookie_is_secure_only_when_configured() -> None:
    plain = coda.create_app(SETTINGS, chat_model=StubModel()).test_client()
    secure = coda.create_app(
        replace(SETTINGS, secure_cookies=True), chat_model=StubModel()
    ).test_client()

    plain_cookie = plain.get("/").headers["Set-Cookie"]
    secure_cookie = secure.get("/").headers["Set-Cookie"]

    assert "Secure" not in plain_cookie
    assert "; Secure" in secure_cookie
    assert "HttpOnly" in secure_cookie


def test_hsts_only_on_requests_that_came_over_https() -> None:
    behind_proxy = replace(SETTINGS, forwarded_hops=1)
    client = coda.create_app(behind_proxy, chat_model=StubModel()).test_client()
    direct = coda.create_app(SETTINGS, chat_model=StubModel()).test_client()
    https = {"X-Forwarded-Proto": "https"}

    over_http = client.get("/healthz")
    behind_tls_proxy = client.get("/healthz", headers=https)
    claimed_without_a_proxy = direct.get("/healthz", headers=https)

    assert "Strict-Transport-Security" not in over_http.headers
    assert behind_tls_proxy.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in claimed_without_a_proxy.headers
