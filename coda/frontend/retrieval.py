"""A knowledge preset's turn before it streams: the question searched in the knowledge base, the
passages that fit the budget put in the user's turn as numbered data, and what the answer will
list under it.

The knowledge base is a help, never a gate: when the question cannot be embedded (the embedding
server down, slower than `CODA_KNOWLEDGE_TIMEOUT_SECONDS`, or serving no embeddings) or anything
else in the search fails, the answer goes on without passages, the bubble says so, and the log
has why. A separate retrieval service that locks everyone out of chatting when it fails is the
complaint this answers.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace

from coda.config.vocabulary import KNOWLEDGE_INSTRUCTION, KNOWLEDGE_QUESTION
from coda.frontend.reading.posted_turn import PostedTurn
from coda.frontend.rendering.sources import Knowledge, shown
from coda.llm import (
    KnowledgeBase,
    LLMError,
    Role,
    SourcesFrame,
    fit_sources,
    history_budget,
    question_with_sources,
)

logger = logging.getLogger(__name__)


def with_knowledge(
    turn: PostedTurn, knowledge: KnowledgeBase | None, *, budget: int, lang: str
) -> PostedTurn:
    """`turn` with the passages found for its question in its prompt, and `knowledge` set; as it
    was when its preset searches no knowledge base.

    `budget` caps the passages' tokens (coda's upper bound); they also never take more than the
    room the question leaves, so history is what gets trimmed, and counted as left out.
    """
    if not turn.use_knowledge or knowledge is None or turn.limits is None:
        return turn
    searched = _searched_question(turn)
    if not searched.strip():
        return turn
    try:
        found = knowledge.search(searched)
    except LLMError as exc:
        logger.warning(
            "the knowledge base could not be searched; answering without passages",
            extra=exc.log_fields(),
        )
        return replace(turn, knowledge=Knowledge("failed"))
    except Exception:  # a bug in the search: the answer still comes, and the traceback is logged
        logger.exception("the knowledge base search failed; answering without passages")
        return replace(turn, knowledge=Knowledge("failed"))
    question = turn.prompt[-1].content
    frame = SourcesFrame(
        instruction=KNOWLEDGE_INSTRUCTION[lang],
        question=KNOWLEDGE_QUESTION[lang],
        tag=secrets.token_hex(6),
    )
    room = history_budget(turn.prompt[0].content, question, turn.limits)
    kept = fit_sources(question, found, frame, max(0, min(budget, room)))
    if len(kept) < len(found):
        logger.info(
            "passages left out for the token budget",
            extra={"knowledge_found": len(found), "knowledge_sent": len(kept)},
        )
    state = "used" if kept else "none"
    shown_sources = tuple(shown(source) for source in kept)
    return turn.asking(
        question_with_sources(question, kept, frame),
        Knowledge(state, shown_sources, found=len(found)),
    )


def _searched_question(turn: PostedTurn) -> str:
    """What is searched for: the question; when an answer is continued, the question it
    answers (the last one in history), so the continuation gets the same passages."""
    if turn.mode != "continue":
        return turn.message
    asked = [m.content for m in turn.history if m.role is Role.USER]
    return asked[-1] if asked else turn.message
