"""How much each person may ask: answers per minute and per day, tokens per day, answers at once;
and how many answers one instance streams at once, so a burst hears "busy, try again" at once
instead of waiting in a queue at the model server.

Answers and tokens are counted with the `limits` library, in this process (`memory://`) or in
Redis shared by every instance (`redis://…`, CODA_LIMITS_STORAGE); answers at once with
`coda.infrastructure.stream_counts`. Everything is checked before the model server is asked
anything, and a refused turn counts against nothing. The counts are keyed by the visitor's
pseudonym (`coda.infrastructure.sign_in`), never by an e-mail or an address.

When the shared counts cannot be reached, turns are refused with "try again" rather than let
through uncounted: a public deployment stays within what it may cost.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from coda.config import Settings
from coda.frontend.admission import Gate, OpenGate, Refusal, Ticket
from coda.infrastructure.stream_counts import LocalStreamCounts, RedisStreamCounts, StreamCounts

logger = logging.getLogger(__name__)

# When trying again makes sense for the counts that have no window: a guess, said as one.
BUSY_RETRY_SECONDS = 10
STREAMS_RETRY_SECONDS = 5
UNAVAILABLE_RETRY_SECONDS = 30
REDIS_TIMEOUT_SECONDS = 2.0
# A lease outlives the longest answer (its total timeout and the shutdown grace) by this much.
LEASE_MARGIN_SECONDS = 60.0
NAMESPACE = "coda"
_FAILURES = (StorageError, redis.RedisError)


@dataclass(frozen=True)
class Quotas:
    """The configured limits; 0 is none."""

    answers_per_minute: int = 0
    answers_per_day: int = 0
    tokens_per_day: int = 0
    streams_per_user: int = 0
    streams_per_instance: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        """The limits of the same names in `settings`."""
        return settings.build(cls)

    @property
    def any(self) -> bool:
        return any(vars(self).values())


class QuotaTicket:
    """The places a started turn holds; `finish` gives them back and books the tokens, once."""

    def __init__(self, gate: QuotaGate, who: str) -> None:
        self._gate = gate
        self._who = who
        self._lock = threading.Lock()
        self._finished = False
        self.held: list[tuple[StreamCounts, str, str]] = []  # (counts, key, lease)

    def finish(self, tokens: int) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        for counts, key, lease in self.held:
            try:
                counts.release(key, lease)
            except _FAILURES:  # the lease expires on its own; the stream must still close
                logger.exception("could not release a stream's place; it expires on its own")
        if tokens > 0:
            self._gate.spend(self._who, tokens)


class QuotaGate:
    """Admits a turn when every limit has room, or says which one is full and for how long."""

    def __init__(
        self,
        quotas: Quotas,
        storage_url: str,
        *,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        shared = not storage_url.startswith("memory")
        options: dict[str, float] = {}
        if shared:
            options = {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            }
        self.quotas = quotas
        self._clock = clock
        self.storage = storage_from_string(storage_url, wrap_exceptions=True, **options)
        self._windows = MovingWindowRateLimiter(self.storage)
        self._budget = FixedWindowRateLimiter(self.storage)
        per = {"answers_per_minute": RateLimitItemPerMinute, "answers_per_day": RateLimitItemPerDay}
        self._answers: list[tuple[str, RateLimitItem]] = [
            (reason, per[reason](amount, namespace=NAMESPACE))
            for reason, amount in (
                ("answers_per_minute", quotas.answers_per_minute),
                ("answers_per_day", quotas.answers_per_day),
            )
            if amount
        ]
        self._tokens = (
            RateLimitItemPerDay(quotas.tokens_per_day, namespace=f"{NAMESPACE}-tokens")
            if quotas.tokens_per_day
            else None
        )
        self.instance_streams = LocalStreamCounts()
        self.user_streams: StreamCounts = (
            RedisStreamCounts(storage_url, lease_seconds=lease_seconds)
            if shared
            else LocalStreamCounts()
        )

    def admit(self, who: str) -> Ticket | Refusal:
        ticket = QuotaTicket(self, who)
        try:
            refusal = self._take(ticket, who)
        except _FAILURES as exc:
            ticket.finish(0)
            logger.error("limits cannot be checked, refusing the turn: %s", exc)
            return Refusal("unavailable", UNAVAILABLE_RETRY_SECONDS, status=503, detail=str(exc))
        except BaseException:
            ticket.finish(0)
            raise
        if refusal is not None:
            ticket.finish(0)
            return refusal
        return ticket

    def spend(self, who: str, tokens: int) -> None:
        """Book an answer's tokens against the day's budget (the last answer may overshoot it)."""
        if self._tokens is None:
            return
        try:
            self._budget.hit(self._tokens, who, cost=tokens)
        except _FAILURES:
            logger.exception("could not count %d tokens against the daily budget", tokens)

    def _take(self, ticket: QuotaTicket, who: str) -> Refusal | None:
        """Take a place in each count, in order of cost; stop at the first that is full."""
        quotas = self.quotas
        if quotas.streams_per_instance:
            lease = self.instance_streams.acquire("instance", quotas.streams_per_instance)
            if lease is None:
                return Refusal("busy", BUSY_RETRY_SECONDS, quotas.streams_per_instance)
            ticket.held.append((self.instance_streams, "instance", lease))
        for reason, item in self._answers:
            if not self._windows.test(item, who):
                return self._full(reason, item, who, self._windows)
        if self._tokens is not None and not self._budget.test(self._tokens, who):
            return self._full("tokens_per_day", self._tokens, who, self._budget)
        if quotas.streams_per_user:
            lease = self.user_streams.acquire(who, quotas.streams_per_user)
            if lease is None:
                return Refusal("streams_per_user", STREAMS_RETRY_SECONDS, quotas.streams_per_user)
            ticket.held.append((self.user_streams, who, lease))
        for reason, item in self._answers:
            if not self._windows.hit(item, who):  # another turn of the same user got there first
                return self._full(reason, item, who, self._windows)
        return None

    def _full(
        self,
        reason: str,
        item: RateLimitItem,
        who: str,
        limiter: MovingWindowRateLimiter | FixedWindowRateLimiter,
    ) -> Refusal:
        """A window that is full: it has room again when its oldest count expires."""
        reset = limiter.get_window_stats(item, who).reset_time
        wait = max(1, math.ceil(reset - self._clock()))
        return Refusal(reason, wait, item.amount)


def build_gate(settings: Settings) -> Gate:
    """The app's gate, saying at start-up what it counts and where."""
    quotas = Quotas.from_settings(settings)
    if not quotas.any:
        logger.info("limits: none (CODA_ANSWERS_PER_MINUTE and the others are 0)")
        return OpenGate()
    lease = settings.total_timeout + settings.shutdown_grace_seconds + LEASE_MARGIN_SECONDS
    gate = QuotaGate(quotas, settings.limits_storage, lease_seconds=lease)
    where = _without_password(settings.limits_storage)
    limits = ", ".join(f"{name} {value}" for name, value in vars(quotas).items() if value)
    logger.info("limits: %s, counted in %s", limits, where)
    try:
        reachable = gate.storage.check()
    except _FAILURES:
        reachable = False
    if not reachable:
        logger.warning("limits: %s does not answer yet; turns are refused until it does", where)
    return gate


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()
