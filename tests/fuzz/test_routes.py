"""Generated requests against every route, in-process, with a stub of the port as the model (this
is about our input handling, not the model): never a 5xx, never a traceback, the security headers
on every answer, nothing invalid ever reaches the model, and no request holds the event loop.

Each request runs in a greenlet of its own under gevent's monitor thread (`MAX_BLOCKING_SECONDS`),
as it would in gunicorn's gevent worker: a request that computes that long without yielding is
reported with its stack, and the example fails.

`make test` runs 1,000 derandomized requests per test (the `ci` profile); `make fuzz` runs many
more, new ones each time (`long`).
"""

from __future__ import annotations

import io
import itertools
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace

import gevent
import pytest
from flask.testing import FlaskClient
from gevent import events
from gevent._monitor import MonitorWarning
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from coda.config import Settings
from coda.frontend.i18n import LANG_COOKIE
from coda.infrastructure.app import create_app
from coda.llm import Message, Role
from tests.fuzz.strategies import ANY_PATH, Request, request_to
from tests.support.html import csrf_token
from tests.support.settings import WEB_SETTINGS
from tests.support.stub_model import StubModel

pytestmark = pytest.mark.fuzz

SETTINGS = replace(
    WEB_SETTINGS,
    log_level="CRITICAL",
    max_message_chars=2000,
    max_body_bytes=65_536,
    max_history_messages=6,
    max_history_chars=4000,
)
HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Request-ID")


MAX_BLOCKING_SECONDS = 0.1
REQUEST_GREENLETS: set[object] = set()  # the greenlets running a request now


@dataclass
class Site:
    client: FlaskClient
    model: StubModel
    token: str
    settings: Settings
    system_prompts: set[str]
    blocked: list[str]


@pytest.fixture(scope="module")
def blocking_reports() -> Iterator[list[str]]:
    """gevent's monitor thread, watching the greenlets that run requests (`REQUEST_GREENLETS`);
    what it reports of them, each a stack."""
    reports: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, events.EventLoopBlocked) and event.greenlet in REQUEST_GREENLETS:
            reports.append("\n".join(str(line) for line in event.info))

    gevent.config.max_blocking_time = MAX_BLOCKING_SECONDS
    gevent.config.print_blocking_reports = False
    gevent.config.monitor_thread = True
    events.subscribers.append(on_event)
    # The monitor stops for good at its first look if the hub has not run yet (a greenlet that
    # never started counts as false): let it run once first.
    gevent.sleep(0)
    hub = gevent.get_hub()
    with warnings.catch_warnings():  # it would also watch memory, with psutil: not wanted here
        warnings.simplefilter("ignore", MonitorWarning)
        monitor = hub.start_periodic_monitoring_thread()
    try:
        yield reports
    finally:
        events.subscribers.remove(on_event)
        monitor.kill()
        hub.periodic_monitoring_thread = None


@pytest.fixture(scope="module")
def app_site() -> Site:
    model = StubModel(texts=["ok"])
    app = create_app(SETTINGS, chat_model=model)
    # No `with`: each request pushes and pops its own contexts, in its own greenlet.
    client = app.test_client()
    token = csrf_token(client.get("/").get_data(as_text=True))
    return Site(client, model, token, SETTINGS, system_prompts(SETTINGS), [])


@pytest.fixture(scope="module")
def site(app_site: Site, blocking_reports: list[str]) -> Site:
    """The app, with what the monitor reported."""
    return replace(app_site, blocked=blocking_reports)


def send(site: Site, request: Request) -> TestResponse:
    headers = dict(request.headers)
    if request.csrf == "valid":
        headers["X-CSRFToken"] = site.token
    elif request.csrf == "forged":
        headers["X-CSRFToken"] = "forged"
    if request.language is None:
        site.client.delete_cookie(LANG_COOKIE)
    else:
        site.client.set_cookie(LANG_COOKIE, request.language)
    path, environ = request.path, {}
    if path.startswith("//"):
        # A request line may start `//x`; the test client would take `x` for a host, so the path
        # goes to the app the way gunicorn hands it over.
        path, environ = "/", {"PATH_INFO": request.path}
    if request.chunked and request.body:
        # What gunicorn hands over for `Transfer-Encoding: chunked`: no length, a stream it ends.
        return site.client.open(
            path,
            method=request.method,
            headers=headers,
            input_stream=io.BytesIO(request.body),
            environ_overrides={
                **environ,
                "wsgi.input_terminated": True,
                "HTTP_TRANSFER_ENCODING": "chunked",
            },
        )
    return site.client.open(
        path,
        method=request.method,
        headers=headers,
        data=request.body,
        environ_overrides=environ,
    )


def system_prompts(settings: Settings) -> set[str]:
    """Every system prompt the operator's presets can build, whatever the page chooses."""
    prompts = set()
    for preset in settings.presets.items:
        choices = [[(f.id, c.value) for c in f.choices] for f in preset.fields if f.choices]
        for chosen in itertools.product(*choices):
            prompts.add(preset.system_prompt(dict(chosen), settings.system_prompt))
    return prompts


def assert_valid_prompt(prompt: list[Message], site: Site) -> None:
    """What the model may be sent: a system prompt of the server's own, then client turns within
    limits."""
    settings = site.settings
    assert prompt[0].role is Role.SYSTEM
    assert prompt[0].content in site.system_prompts
    assert prompt[-1].role is Role.USER
    assert all(m.role in (Role.USER, Role.ASSISTANT) for m in prompt[1:])
    assert len(prompt) <= settings.max_history_messages + 2
    for message in prompt[1:]:
        message.content.encode("utf-8")  # no lone surrogates: the server could not be sent them
        assert len(message.content) <= max(settings.max_message_chars, settings.max_history_chars)
    assert prompt[-1].content.strip() == prompt[-1].content != ""


def monitored(site: Site, request: Request) -> tuple[TestResponse, bytes]:
    """`send` and the whole body read, in a greenlet the monitor watches."""

    def run() -> tuple[TestResponse, bytes]:
        response = send(site, request)
        body = response.get_data()  # the whole stream, for /chat
        response.close()  # a static file's, too
        return response, body

    greenlet = gevent.Greenlet(run)
    REQUEST_GREENLETS.add(greenlet)
    try:
        greenlet.start()
        return greenlet.get()
    finally:
        REQUEST_GREENLETS.discard(greenlet)


def check(site: Site, request: Request) -> None:
    before = len(site.model.received)
    response, body = monitored(site, request)
    assert site.blocked == [], site.blocked[0]
    assert response.status_code < 500, (response.status_code, body[:300])
    assert b"Traceback (most recent call last)" not in body
    for header in HEADERS:
        assert header in response.headers, header
    sent = site.model.received[before:]
    if response.status_code >= 400 or request.method != "POST":
        assert sent == []
    for prompt in sent:
        assert_valid_prompt(prompt, site)


@given(request_to(st.just("/chat")))
def test_chat_never_fails_and_sends_only_valid_prompts(site: Site, request: Request) -> None:
    check(site, request)


@given(request_to(st.just("/conversation")))
def test_restoring_a_conversation_never_fails(site: Site, request: Request) -> None:
    check(site, request)


@given(request_to(st.just("/import")))
def test_importing_a_conversation_never_fails(site: Site, request: Request) -> None:
    check(site, request)


@given(request_to(ANY_PATH))
def test_every_other_route_never_fails(site: Site, request: Request) -> None:
    check(site, request)


def test_the_monitor_reports_a_request_that_holds_the_loop(blocking_reports: list[str]) -> None:
    """The check above can fail: a greenlet computing for 1 s without yielding is reported. (At
    3.5 times the monitor's period it went unreported in most runs after another test of this
    module, even on the previous stop's code: the monitor needs two of its looks to fall inside
    the block, and its thread waits for the GIL.)"""

    def hold() -> None:
        end = time.monotonic() + 10 * MAX_BLOCKING_SECONDS
        while time.monotonic() < end:
            pass

    greenlet = gevent.Greenlet(hold)
    REQUEST_GREENLETS.add(greenlet)
    greenlet.start()
    greenlet.get()
    REQUEST_GREENLETS.discard(greenlet)
    assert blocking_reports
    assert "hold" in blocking_reports[-1]
    blocking_reports.clear()
