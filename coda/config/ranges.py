"""The numeric ranges more than one part checks: each written here once.

A range is read by the environment variable that sets the operator's value, by the presets loader,
by the posted turn (the value a user picks) and by the page (its input's bounds), so they can never
disagree. Plain values: `dataclasses.asdict` serialises one for the page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """Inclusive bounds; `low` and `high` are ints for whole numbers, floats otherwise."""

    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


# Sampling temperature: the operator's default, a preset's, and a user's per conversation.
TEMPERATURE = Range(0.0, 2.0)
TOP_P = Range(0.0, 1.0)
TOP_K = Range(1, 1000)
# Longest answer, in tokens: the operator's ceiling (CODA_MAX_TOKENS) and a preset's default.
ANSWER_TOKENS = Range(1, 32768)
CONTEXT_LENGTH = Range(512, 131072)
SEED = Range(0, 2**31 - 1)
# The knowledge base: passages placed in a turn at most, and the cosine a passage must reach.
KNOWLEDGE_TOP_K = Range(1, 20)
KNOWLEDGE_SCORE = Range(-1.0, 1.0)
