"""Whether a turn may start: the limits per user and per instance, checked before the model is
asked anything, and the ticket a started turn holds until its stream closes.

The counting itself is the composition root's (`coda.infrastructure.quotas`, on the `limits`
library); the views see only a `Gate`, so a refusal is one value here and one message in the
catalogue, in whichever language the page speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from coda.frontend.i18n import translate

# Refusal reasons, each with its message `limit.<reason>` in the catalogue.
REASONS = (
    "answers_per_minute",
    "answers_per_day",
    "tokens_per_day",
    "streams_per_user",
    "busy",
    "unavailable",
)


@dataclass(frozen=True)
class Refusal:
    """A turn that may not start now: which limit, and when trying again makes sense."""

    reason: str
    retry_after: int  # seconds, at least 1: the Retry-After header and the message
    limit: int = 0
    status: int = 429
    detail: str = ""  # for the log only

    def message(self, lang: str) -> str:
        return translate(
            f"limit.{self.reason}", lang, limit=self.limit, wait=wait_text(self.retry_after, lang)
        )


class Ticket(Protocol):
    """What a started turn holds: its place among the streams counted, given back at the end."""

    def finish(self, tokens: int) -> None:
        """Release every stream counted (idempotent); `tokens` count towards the daily budget."""


class Gate(Protocol):
    def admit(self, who: str) -> Ticket | Refusal:
        """A ticket for `who` (a pseudonym), or why not; nothing is counted on a refusal."""


@dataclass
class OpenTicket:
    """The ticket of a gate with no limits: nothing to give back."""

    finished: list[int] = field(default_factory=list)

    def finish(self, tokens: int) -> None:
        self.finished.append(tokens)


class OpenGate:
    """No limits configured: every turn starts."""

    def admit(self, who: str) -> Ticket | Refusal:
        return OpenTicket()


def wait_text(seconds: int, lang: str) -> str:
    """`45 s`, `12 min`, `3 h 20 min`: the wait as people say it, rounded up."""
    if seconds < 60:
        return translate("wait.seconds", lang, n=max(seconds, 1))
    minutes = -(-seconds // 60)
    if minutes < 60:
        return translate("wait.minutes", lang, n=minutes)
    hours, rest = divmod(minutes, 60)
    if not rest:
        return translate("wait.hours", lang, n=hours)
    return translate("wait.hours_minutes", lang, h=hours, m=rest)
