"""A turn's documents before it streams: the conversation's attached files (whole, or the
passages the page picked), and for a knowledge preset the question searched in the knowledge
base; what fits the budget goes in the user's turn as data, and what the answer will list under
it (docs/attachments.md, docs/knowledge.md).

The knowledge base is a help, never a gate: when the question cannot be embedded (the embedding
server down, slower than `CODA_KNOWLEDGE_TIMEOUT_SECONDS`, or serving no embeddings) or anything
else in the search fails, the answer goes on without passages, the bubble says so, and the log
has why. A separate retrieval service that locks everyone out of chatting when it fails is the
complaint this answers.
"""

from __future__ import annotations

import logging
import secrets

from coda.config.ranges import KNOWLEDGE_TOP_K
from coda.config.vocabulary import (
    ATTACHMENT_INSTRUCTION,
    KNOWLEDGE_INSTRUCTION,
    KNOWLEDGE_QUESTION,
)
from coda.frontend.reading.input_error import InputError
from coda.frontend.reading.posted_turn import PostedTurn
from coda.frontend.rendering.sources import Knowledge, shown
from coda.llm import (
    KnowledgeBase,
    LLMError,
    Role,
    Source,
    SourcesFrame,
    WholeFile,
    fit_sources,
    history_budget,
    question_with_sources,
)

logger = logging.getLogger(__name__)
MAX_SOURCES = int(KNOWLEDGE_TOP_K.high)


def with_knowledge(
    turn: PostedTurn, knowledge: KnowledgeBase | None, *, budget: int, lang: str
) -> PostedTurn:
    """`turn` with its attached files and the passages found for its question in its prompt,
    and `knowledge` set; as it was when it carries no file and its preset searches no knowledge
    base.

    Files sent whole come first and must fit with the question (else `InputError`
    `attachment_doesnt_fit`); a preset that needs a file whole refuses one sent as passages
    (`attachment_whole_needed`). Passages (the files' the page picked, then the knowledge
    base's) share `budget` tokens (coda's upper bound) and never take more than the room left,
    so history is what gets trimmed, and counted as left out.
    """
    searches = turn.use_knowledge and knowledge is not None
    if turn.limits is None or not (searches or turn.attachments):
        return turn
    partial = [a for a in turn.attachments if a.whole is None]
    if turn.whole_file and partial:
        raise InputError(
            "attachment_whole_needed",
            f"preset {turn.preset!r} needs {partial[0].name!r} whole",
            name=partial[0].name,
        )
    found = [source for attached in partial for source in attached.passages]
    state = "attached"
    if searches and knowledge is not None:
        searched = _searched_question(turn)
        state, from_knowledge = _search(knowledge, searched) if searched.strip() else ("none", [])
        found += from_knowledge
    found = found[:MAX_SOURCES]  # what an answer lists and a saved one may hold
    files = [WholeFile(a.name, a.whole) for a in turn.attachments if a.whole is not None]
    question = turn.prompt[-1].content
    frame = SourcesFrame(
        instruction=KNOWLEDGE_INSTRUCTION[lang],
        question=KNOWLEDGE_QUESTION[lang],
        tag=secrets.token_hex(6),
        files_instruction=ATTACHMENT_INSTRUCTION[lang],
    )
    with_files = question_with_sources(question, [], frame, files)
    room = history_budget(turn.prompt[0].content, with_files, turn.limits)
    if room < 0:
        raise InputError("attachment_doesnt_fit", f"files and question {-room} tokens over")
    kept = fit_sources(question, found, frame, max(0, min(budget, room)), files)
    if len(kept) < len(found):
        logger.info(
            "passages left out for the token budget",
            extra={"knowledge_found": len(found), "knowledge_sent": len(kept)},
        )
    if state == "used" and not kept:
        state = "none"
    shown_sources = tuple(shown(source) for source in kept)
    return turn.asking(
        question_with_sources(question, kept, frame, files),
        Knowledge(
            state,
            shown_sources,
            found=len(found),
            files=tuple(f.name for f in files),
            partial=tuple(a.name for a in partial),
        ),
    )


def _search(knowledge: KnowledgeBase, question: str) -> tuple[str, list[Source]]:
    """("used", the passages found), or ("failed", none) when the search failed: the answer
    goes on without them, and the log says why."""
    try:
        found = knowledge.search(question)
    except LLMError as exc:
        logger.warning(
            "the knowledge base could not be searched; answering without passages",
            extra=exc.log_fields(),
        )
        return "failed", []
    except Exception:  # a bug in the search: the answer still comes, and the traceback is logged
        logger.exception("the knowledge base search failed; answering without passages")
        return "failed", []
    return ("used" if found else "none"), found


def _searched_question(turn: PostedTurn) -> str:
    """What is searched for: the question; when an answer is continued, the question it
    answers (the last one in history), so the continuation gets the same passages."""
    if turn.mode != "continue":
        return turn.message
    asked = [m.content for m in turn.history if m.role is Role.USER]
    return asked[-1] if asked else turn.message
