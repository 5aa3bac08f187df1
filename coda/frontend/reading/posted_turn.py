"""Reading what the browser posts: the new message, the history it sends back each turn, the
model and the settings it chose.

This is the one place a posted turn is read. Everything is checked here, before a byte goes to the
model: a client can only offer user and assistant turns within the size limits, only a model the
operator allowed, only a preset the operator defined with field values it declares, and settings
within the operator's limits; the system prompt is the server's own. A refusal is an `InputError`
naming the rule that failed, so the page can say what to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from coda.config.presets import Presets, shipped_presets
from coda.config.vocabulary import CONTINUE_INSTRUCTION, LANGUAGES
from coda.frontend.reading.input_error import InputError as InputError
from coda.frontend.reading.posted_attachments import PostedAttachment, read_attachments
from coda.frontend.reading.posted_json import clean_text as clean_text
from coda.frontend.reading.posted_json import json_depth as json_depth
from coda.frontend.reading.posted_json import read_count, read_json
from coda.frontend.reading.posted_settings import TurnSettings, read_settings
from coda.frontend.rendering.sources import Knowledge
from coda.frontend.streaming.tasks import pause
from coda.llm import (
    GenerationOptions,
    Message,
    PromptLimits,
    Role,
    build_messages,
    estimate_tokens,
    history_budget,
)

CLIENT_ROLES = frozenset({Role.USER.value, Role.ASSISTANT.value})
# History is a list of flat objects: deeper nesting is refused before it is parsed.
HISTORY_DEPTH = 2
# Posted messages read between two pauses for the other greenlets (about 2 ms of work).
MESSAGES_PER_STEP = 1024

# The longest model name an error message repeats back.
SHOWN_NAME_CHARS = 100


@dataclass(frozen=True)
class ModelMenu:
    """The models users may choose (`CODA_MODELS`), and the one a turn naming none gets."""

    default: str
    allowed: tuple[str, ...]

    @property
    def choosable(self) -> bool:
        """Whether the page shows a picker: only when there is something to choose."""
        return len(self.allowed) > 1


@dataclass(frozen=True, kw_only=True)
class PostedTurn:
    """A validated turn: the question as the model gets it, the prompt, the model, the settings.

    `message` is what the user's bubble shows (empty when continuing an answer, which adds no
    question); `answer_so_far` is the cut answer a continuation extends; `left_out` counts the
    earlier turns the model no longer sees, `left_out_shown` what the page already says of it.
    """

    message: str
    prompt: list[Message]
    model: str
    mode: str = "new"
    preset: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    answer_so_far: str = ""
    left_out: int = 0
    left_out_shown: int = 0
    think: bool | None = None  # the preset's: False turns thinking off
    # The preset searches the knowledge base; `knowledge` says how it served this turn, once
    # searched (`frontend.retrieval`), and `asking` put its passages in the prompt.
    use_knowledge: bool = False
    knowledge: Knowledge | None = None
    # The conversation's attached files as this turn carries them, and whether the preset needs
    # each one whole (`whole_file`).
    attachments: tuple[PostedAttachment, ...] = ()
    whole_file: bool = False
    # What the prompt was built from, for `asking` to build it again around another last message.
    history: tuple[Message, ...] = ()
    earlier: int = 0
    limits: PromptLimits | None = None

    def asking(self, question: str, knowledge: Knowledge) -> PostedTurn:
        """This turn with `question` as the prompt's last message (the passages and the
        question): history trimmed again around it, the turns it leaves out counted."""
        if self.limits is None:
            raise ValueError("a turn not read by read_turn cannot be asked again")
        prompt = build_messages(self.prompt[0].content, self.history, question, self.limits)
        return replace(
            self,
            prompt=prompt,
            knowledge=knowledge,
            left_out=_left_out(self.earlier, self.history, prompt),
        )

    def options(
        self, configured: GenerationOptions, *, no_thinking: tuple[str, ...] = ()
    ) -> GenerationOptions:
        """The configured options with this turn's temperature and answer length; thinking off
        when the turn's model is one of `no_thinking` (`CODA_NO_THINKING_MODELS`), or its preset
        says `think = false`."""
        return replace(
            configured,
            temperature=configured.temperature if self.temperature is None else self.temperature,
            max_tokens=configured.max_tokens if self.max_tokens is None else self.max_tokens,
            think=False if self.model in no_thinking or self.think is False else configured.think,
        )


def read_turn(
    form: Mapping[str, str],
    system_prompt: str,
    limits: PromptLimits,
    models: ModelMenu,
    *,
    presets: Presets | None = None,
    lang: str = LANGUAGES[0],
    no_question: str = "",
) -> PostedTurn:
    """The turn the browser posted, or an `InputError` saying which rule it breaks.

    `system_prompt` is `CODA_SYSTEM_PROMPT`, for a preset that has none of its own; `lang` the
    page's language, which a continued answer is asked in; `no_question` what is asked when a
    file is attached and nothing typed (the preset's instructions are then about the file).
    """
    model = choose_model(form.get("model", ""), models)
    attachments = read_attachments(form.get("attachments", ""), limits)
    settings = read_settings(form, presets or shipped_presets(), limits.max_tokens)
    if settings.max_tokens is not None:  # a shorter answer leaves more room for history
        limits = replace(limits, max_tokens=settings.max_tokens)
    history = parse_history(read_json(form.get("history", ""), HISTORY_DEPTH), limits)
    system = settings.chosen.system_prompt(system_prompt)
    shown, question, history, answer_so_far = _question(
        form,
        settings,
        history,
        limits,
        CONTINUE_INSTRUCTION[lang],
        no_question if attachments else "",
    )
    budget = history_budget(system, question, limits)
    if budget < 0:
        # The characters that surely fit: the room the question has, over the three UTF-8 bytes
        # (so at most three tokens, `estimate_tokens`) a Japanese character takes.
        room = budget + estimate_tokens(question) - estimate_tokens("")
        raise InputError(
            "message_too_long",
            f"message of {len(question)} characters does not fit the context window",
            limit=max(1, min(limits.max_message_chars, room // 3)),
            length=len(question),
        )
    prompt = build_messages(system, history, question, limits)
    earlier = read_count(form.get("earlier", ""), "earlier")  # turns the page did not send
    return PostedTurn(
        message=shown,
        prompt=prompt,
        model=model,
        mode=settings.mode,
        preset=settings.chosen.preset.id,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        answer_so_far=answer_so_far,
        left_out=_left_out(earlier, history, prompt),
        left_out_shown=read_count(form.get("left_out_shown", ""), "left_out_shown"),
        think=settings.chosen.preset.think,
        use_knowledge=settings.chosen.preset.knowledge,
        attachments=attachments,
        whole_file=settings.chosen.preset.whole_file,
        history=tuple(history),
        earlier=earlier,
        limits=limits,
    )


def _left_out(earlier: int, history: Sequence[Message], prompt: Sequence[Message]) -> int:
    """The earlier turns the model does not see: those the page did not send, and those of
    `history` the prompt (system, kept history, question) has no room for."""
    return earlier + len(history) - (len(prompt) - 2)


def _question(
    form: Mapping[str, str],
    settings: TurnSettings,
    history: list[Message],
    limits: PromptLimits,
    continue_instruction: str,
    no_question: str = "",
) -> tuple[str, str, list[Message], str]:
    """(what the user's bubble shows, what the model is asked, the history before it, the answer
    a continuation extends), by the kind of turn."""
    last = history[-1] if history else None
    if settings.mode == "regenerate":
        if last is None or last.role is not Role.USER:
            raise InputError("nothing_to_redo", "regenerate: history does not end with a question")
        return last.content, last.content, history[:-1], ""
    if settings.mode == "continue":
        if last is None or last.role is not Role.ASSISTANT or not last.content.strip():
            raise InputError("nothing_to_redo", "continue: history does not end with an answer")
        return "", continue_instruction, history, last.content
    if settings.mode == "edit":  # the question as it was sent, rewritten: as long as history allows
        edited = validate_message(form.get("message", ""), limits, limits.max_history_chars)
        return edited, edited, history, ""
    chosen = settings.chosen
    message = clean_text(form.get("message", "")).strip() or no_question
    if message or not chosen.has_text:  # with the code box filled in, the message may be empty
        message = validate_message(message, limits)
    question = chosen.user_turn(message).strip()
    if len(question) > limits.max_history_chars:  # it could never be sent back as history
        raise InputError(
            "message_too_long",
            f"question of {len(question)} characters is longer than history allows",
            limit=limits.max_history_chars,
            length=len(question),
        )
    return question, question, history, ""


def choose_model(name: str, models: ModelMenu) -> str:
    """The model the page chose, checked against the allowed list; none chosen: the default."""
    chosen = name.strip()
    if not chosen:
        return models.default
    if chosen not in models.allowed:
        shown = chosen[:SHOWN_NAME_CHARS]
        raise InputError("unknown_model", f"model {shown!r} is not allowed", model=shown)
    return chosen


def parse_history(raw: object, limits: PromptLimits) -> list[Message]:
    """Client-sent history: a list of {role, content} with user/assistant roles only."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("bad_history", "history is not a list")
    history: list[Message] = []
    for index, item in enumerate(raw):
        if index % MESSAGES_PER_STEP == MESSAGES_PER_STEP - 1:
            pause()  # a megabyte of short messages is linear work, but not one step of it
        if not isinstance(item, dict) or set(item) - {"role", "content"}:
            raise InputError("bad_history", f"history[{index}] is not a message object")
        role, content = item.get("role"), item.get("content")
        if not isinstance(role, str) or role not in CLIENT_ROLES:
            raise InputError("bad_history", f"history[{index}] has role {str(role)[:20]!r}")
        if not isinstance(content, str):
            raise InputError("bad_history", f"history[{index}] content is not text")
        if len(content) > limits.max_history_chars:
            raise InputError("bad_history", f"history[{index}] is {len(content)} characters long")
        history.append(Message(Role(role), clean_text(content)))
    return history


def validate_message(text: str, limits: PromptLimits, max_chars: int | None = None) -> str:
    """The new user message: not blank, not over the limit. Returns it stripped and clean."""
    limit = limits.max_message_chars if max_chars is None else max_chars
    stripped = clean_text(text).strip()
    if not stripped:
        raise InputError("empty", "message is empty")
    if len(stripped) > limit:
        raise InputError(
            "message_too_long",
            f"message is {len(stripped)} characters long",
            limit=limit,
            length=len(stripped),
        )
    return stripped
