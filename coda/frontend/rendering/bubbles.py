"""The HTML partials a turn is made of, rendered from the same templates the page includes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask import render_template
from markupsafe import Markup, escape

from coda.frontend.i18n import translate
from coda.frontend.rendering.live import LiveAnswer, LiveUpdate
from coda.frontend.rendering.markdown import render_markdown
from coda.frontend.rendering.sources import Knowledge, link_citations
from coda.llm import TokenSource, Usage

# States whose bubble says in a line of its own how the answer ended (`stopped`, `interrupted`).
STATUS_STATES = frozenset({"stopped", "interrupted"})
# Answers that ended before the model finished: stopped, cut by an error or a lost connection,
# or interrupted by a closed tab. With text, each can be continued, as one cut at the length
# limit can (the page reads this set in `#coda-data` for the endings it marks itself).
UNFINISHED_STATES = frozenset({"stopped", "error", "interrupted"})


@dataclass(frozen=True, kw_only=True)
class Bubble:
    """One message as the template shows it; `body` is already safe HTML."""

    role: str
    body: Markup
    state: str = "done"
    id: str = ""
    error: str = ""
    status: str = ""
    meta: str = ""
    # What a finished answer offers to ask besides regenerating: `continue` when it has text and
    # did not finish. The page shows the button the last answer offers; it does not decide.
    offers: tuple[str, ...] = ()
    # A thinking model's reasoning, sanitized Markdown like the answer, shown collapsed above it.
    reasoning: Markup = field(default_factory=Markup)
    # A streaming answer formatted as it comes (`body` is HTML, not its text): the text itself,
    # kept hidden beside it for the page to save.
    source: str | None = None
    # How a knowledge preset's search served the answer, and the passages listed under it.
    knowledge: Knowledge | None = None


class UsageLine(str):
    """The line under an answer, which knows whether it says the answer was cut at the length
    limit (`cut`), which lets a finished answer be continued."""

    cut: bool

    def __new__(cls, text: str, *, cut: bool) -> UsageLine:
        line = super().__new__(cls, text)
        line.cut = cut
        return line


def usage_line(usage: Usage, lang: str) -> UsageLine:
    """`model · tokens in · tokens out · tokens/s (whose figure)`, noting an answer cut at the
    length limit. The model is the one that answered, as the server named it."""
    speed = usage.tokens_per_second
    line = translate(
        "meta",
        lang,
        model=usage.model,
        prompt=usage.prompt_tokens,
        completion=usage.completion_tokens,
        tps="–" if speed is None else f"{speed:.1f}",
        source="" if speed is None else translate(f"speed.{usage.speed_source.value}", lang),
    )
    cut = usage.done_reason == "length"
    if usage.token_source is TokenSource.ESTIMATED:
        line += " " + translate("meta_estimated", lang)
    if cut:
        line += " " + translate("meta_cut", lang)
    return UsageLine(line, cut=cut)


def finished_bubble(
    *,
    role: str,
    text: str,
    state: str,
    lang: str,
    id: str = "",
    error: str = "",
    meta: str = "",
    reasoning: str = "",
    knowledge: Knowledge | None = None,
) -> Bubble:
    """A message at rest: the user's as typed, the assistant's as sanitized Markdown, with its
    reasoning (a thinking model's) rendered the same way, and the passages a knowledge preset
    gave it listed under it (its `[n]` linked to them, which needs the bubble's `id`).

    An answer that has text to extend and did not finish (its `meta`, a `usage_line`, says it was
    cut at the length limit, or its state is one of `UNFINISHED_STATES`) offers `continue`, as
    `posted_turn` accepts it.
    """
    thought = Markup("")
    if role == "user":
        body = escape(text)
        knowledge = None
    else:
        body = render_markdown(text, copy_label=translate("copy", lang))
        if knowledge is not None:
            body = link_citations(body, id, len(knowledge.sources))
        if reasoning.strip():
            thought = render_markdown(reasoning, copy_label=translate("copy", lang))
    status = translate(state, lang) if state in STATUS_STATES else ""
    unfinished = (isinstance(meta, UsageLine) and meta.cut) or state in UNFINISHED_STATES
    offers = ("continue",) if role == "assistant" and unfinished and text.strip() else ()
    return Bubble(
        role=role,
        body=body,
        state=state,
        id=id,
        error=error,
        status=status,
        meta=str(meta),
        offers=offers,
        reasoning=thought,
        knowledge=knowledge,
    )


def new_bubble_id() -> str:
    """An answer bubble's id, unique in the page: what its partials and its sources' anchors
    are named after."""
    return f"turn-{uuid.uuid4().hex[:16]}"


class TurnPartials:
    """The pieces one streamed turn sends, each targeting the assistant bubble by its id."""

    def __init__(self, lang: str, *, knowledge: Knowledge | None = None) -> None:
        self.lang = lang
        self.id = new_bubble_id()
        self.knowledge = knowledge  # listed under the finished answer

    def opening(
        self, message: str, *, answer_so_far: str = "", live: LiveAnswer | None = None
    ) -> str:
        """The user's bubble and an empty assistant bubble, appended to the conversation.

        Continuing a cut answer adds no question: the bubble starts with the answer so far,
        formatted when the answer is (`live`).
        """
        bubbles = [Bubble(role="user", body=escape(message))] if message else []
        if live is None:
            answer = Bubble(
                role="assistant", body=escape(answer_so_far), state="streaming", id=self.id
            )
        else:
            update = live.update(answer_so_far)
            last = Markup('<div class="live-last" id="{}">{}</div>').format(
                f"{self.id}-last", update.last or ""
            )
            body = Markup("").join((*update.finished, last))
            answer = Bubble(
                role="assistant", body=body, state="streaming", id=self.id, source=answer_so_far
            )
        bubbles.append(answer)
        return render_template("partials/_turn.html", bubbles=bubbles).strip()

    def live(self, text: str, update: LiveUpdate) -> str:
        """A formatted answer's progress: its new text to the hidden source the page saves, the
        blocks it finished (each its own fragment) before the last block, the last block morphed
        in place, so that a selection or a copy button in it survives."""
        html = [_partial(f"#{self.id}-source", "beforeend", escape(text))] if text else []
        html.extend(_partial(f"#{self.id}-last", "beforebegin", block) for block in update.finished)
        if update.last is not None:
            html.append(_partial(f"#{self.id}-last", "innerMorph", update.last))
        return "".join(html)

    def left_out_notice(self, left_out: int, shown: int) -> str:
        """The conversation's one notice that earlier turns no longer reach the model: added
        where it first happens, its count updated in place after that (`shown`: the page's)."""
        if left_out <= 0 or left_out == shown:
            return ""
        html = left_out_notice(left_out, self.lang)
        if shown:
            return _partial(f"#{LEFT_OUT_ID}", "outerHTML", html)
        return str(html)

    def left_out_update(self, left_out: int, shown: int) -> str:
        """The notice when more turns are left out during the turn: its count updated in place,
        or the notice added just above the answer when the page had none."""
        if shown:
            return self.left_out_notice(left_out, shown)
        return _partial(f"#{self.id}", "beforebegin", left_out_notice(left_out, self.lang))

    def append(self, text: str) -> str:
        """Streamed text, escaped, appended to the bubble's body."""
        return _partial(f"#{self.id}-body", "beforeend", escape(text))

    def notice(self, key: str) -> str:
        """A notice inside the bubble (the model is loading), replaced by the first text."""
        content = render_template("partials/_notice.html", text=translate(key, self.lang)).strip()
        return _partial(f"#{self.id}-notice", "innerHTML", Markup(content))  # noqa: S704

    def clear_notice(self) -> str:
        """Remove the notice once text arrives."""
        return _partial(f"#{self.id}-notice", "innerHTML", Markup(""))

    def final(self, bubble: Bubble) -> str:
        """The finished bubble in place of the streaming one, morphed: what the formatted stream
        already shows stays as it is (a reader's place, a selection), the rest is replaced."""
        html = render_template("partials/_message.html", bubble=bubble).strip()
        return _partial(f"#{self.id}", "outerMorph", Markup(html))  # noqa: S704


LEFT_OUT_ID = "left-out"


def left_out_notice(count: int, lang: str) -> Markup:
    """`N earlier turns are no longer sent to the model`, as the conversation shows it."""
    text = translate("left_out", lang, count=count)
    html = render_template("partials/_left_out.html", id=LEFT_OUT_ID, count=count, text=text)
    return Markup(html.strip())  # noqa: S704 - rendered by our own autoescaping template


def _partial(target: str, swap: str, content: Markup) -> str:
    """An htmx 4 `<hx-partial>`: swaps `content` into `target`, whatever the form's own target."""
    return f'<hx-partial hx-target="{escape(target)}" hx-swap="{swap}">{content}</hx-partial>'
