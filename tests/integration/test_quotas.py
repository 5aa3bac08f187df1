"""The limits, counted in this process and in a real Redis server shared by several instances:
each fills, says when it has room again, and gives back every stream it counted."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from coda.frontend.admission import Refusal, Ticket
from coda.infrastructure.quotas import QuotaGate, Quotas
from tests.support.ollama_server import free_port
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

GateFactory = Callable[..., QuotaGate]


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
def gate(storage: str) -> GateFactory:
    def build(**quotas: int) -> QuotaGate:
        return QuotaGate(Quotas(**quotas), storage, lease_seconds=60)

    return build


def admitted(result: Ticket | Refusal) -> Ticket:
    assert not isinstance(result, Refusal), result
    return result


def refused(result: Ticket | Refusal) -> Refusal:
    assert isinstance(result, Refusal), result
    return result


def test_answers_per_minute_fill_and_say_when_there_is_room(gate: GateFactory) -> None:
    limits = gate(answers_per_minute=2)
    for _ in range(2):
        admitted(limits.admit("ada")).finish(0)

    refusal = refused(limits.admit("ada"))

    assert (refusal.reason, refusal.limit, refusal.status) == ("answers_per_minute", 2, 429)
    assert 50 <= refusal.retry_after <= 60
    admitted(limits.admit("bob")).finish(0)  # another user has a window of their own


def test_answers_per_day_wait_is_hours(gate: GateFactory) -> None:
    limits = gate(answers_per_day=1)
    admitted(limits.admit("ada")).finish(0)

    refusal = refused(limits.admit("ada"))

    assert refusal.reason == "answers_per_day"
    assert 23 * 3600 < refusal.retry_after <= 24 * 3600


def test_a_refused_turn_counts_against_nothing(gate: GateFactory) -> None:
    limits = gate(answers_per_minute=2, streams_per_user=1)
    held = admitted(limits.admit("ada"))
    for _ in range(3):
        assert refused(limits.admit("ada")).reason == "streams_per_user"
    held.finish(0)

    # The refusals took nothing from the minute: its second answer is still there, then no more.
    admitted(limits.admit("ada")).finish(0)
    assert refused(limits.admit("ada")).reason == "answers_per_minute"


def test_streams_per_user_are_given_back_when_the_answer_ends(gate: GateFactory) -> None:
    limits = gate(streams_per_user=2)
    first, second = admitted(limits.admit("ada")), admitted(limits.admit("ada"))

    refusal = refused(limits.admit("ada"))
    admitted(limits.admit("bob")).finish(0)
    first.finish(0)
    first.finish(0)  # twice is harmless: it gives back one place, once
    third = admitted(limits.admit("ada"))

    assert (refusal.reason, refusal.limit) == ("streams_per_user", 2)
    assert refused(limits.admit("ada")).reason == "streams_per_user"
    second.finish(0)
    third.finish(0)
    admitted(limits.admit("ada"))


def test_the_instance_cap_counts_everyone_together(gate: GateFactory) -> None:
    limits = gate(streams_per_instance=2)
    held = [admitted(limits.admit(who)) for who in ("ada", "bob")]

    refusal = refused(limits.admit("cy"))
    held[0].finish(0)

    assert (refusal.reason, refusal.limit, refusal.status) == ("busy", 2, 429)
    assert refusal.retry_after > 0
    admitted(limits.admit("cy"))


def test_tokens_the_server_reported_count_towards_the_day(gate: GateFactory) -> None:
    limits = gate(tokens_per_day=100)
    admitted(limits.admit("ada")).finish(60)
    admitted(limits.admit("ada")).finish(60)  # admitted with 40 left; it may overshoot

    refusal = refused(limits.admit("ada"))

    assert (refusal.reason, refusal.limit) == ("tokens_per_day", 100)
    assert 23 * 3600 < refusal.retry_after <= 24 * 3600
    admitted(limits.admit("bob"))


def test_two_instances_sharing_redis_share_every_user_limit(redis_server: RedisServer) -> None:
    quotas = Quotas(answers_per_minute=2, streams_per_user=1, tokens_per_day=100)
    one, two = (QuotaGate(quotas, redis_server.url, lease_seconds=60) for _ in range(2))

    streaming = admitted(one.admit("ada"))
    busy_elsewhere = refused(two.admit("ada"))
    streaming.finish(120)
    spent_elsewhere = refused(two.admit("ada"))

    assert busy_elsewhere.reason == "streams_per_user"
    assert spent_elsewhere.reason == "tokens_per_day"


def test_a_dead_instances_streams_free_themselves(redis_server: RedisServer) -> None:
    quotas = Quotas(streams_per_user=1)
    crashed = QuotaGate(quotas, redis_server.url, lease_seconds=1)
    admitted(crashed.admit("ada"))  # never finished: the instance was killed mid-answer
    survivor = QuotaGate(quotas, redis_server.url, lease_seconds=1)

    refused(survivor.admit("ada"))
    time.sleep(1.5)

    admitted(survivor.admit("ada"))


def test_unreachable_redis_refuses_rather_than_letting_turns_through_uncounted() -> None:
    limits = QuotaGate(
        Quotas(answers_per_minute=5), f"redis://127.0.0.1:{free_port()}/0", lease_seconds=60
    )

    refusal = refused(limits.admit("ada"))

    assert (refusal.reason, refusal.status) == ("unavailable", 503)
    assert refusal.retry_after > 0
