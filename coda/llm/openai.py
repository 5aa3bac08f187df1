"""The OpenAI-compatible adapter: the official `openai` client behind our `ChatModel` port.

For any server that speaks OpenAI's `/v1/chat/completions`: vLLM, llama.cpp's `llama-server`,
Ollama's own `/v1`. Read it beside `coda.llm.ollama`; the traps this client sets are others:
- `create(stream=True)` sends the request and waits for the response headers before it returns,
  so an error status raises there; the retry still wraps "open and read the first chunk".
- The client retries by itself (twice, by default): `max_retries=0`, since our retry knows
  where the first token is and the client's does not.
- It reads `OPENAI_API_KEY` and `OPENAI_BASE_URL` from the environment when not given them:
  both are always passed, so nothing ambient decides where answers go or which key is sent.
- It wraps httpx's failures: `APIConnectionError` (and its subclass `APITimeoutError`, raised
  for a connect timeout and a read timeout alike) carries the httpx exception as its cause, which
  is what says whether the server was unreachable or silent.
- An error inside a 200 stream arrives as an event `{"error": ...}` and is raised as `APIError`.
- Usage comes only when asked for (`stream_options.include_usage`), as a chunk without choices
  after the one with `finish_reason`, and only from servers that honour it: some ignore it, some
  refuse the request for it (400 or 422). So an answer is finished when a choice has said why it
  finished and the stream has ended (`data: [DONE]`, where the client stops reading), with usage
  or without (then its counts are estimated and say so), and text a proxy sends after the usage
  chunk is still part of it. A refusal of the request as first sent is asked once more without
  `stream_options`; if that is answered, this server is never asked for usage again.
- The API has no timing: the speed is the server's own where it adds it (llama.cpp's
  `timings.predicted_per_second`), otherwise measured here, first token to last.
- Closing our generator closes the client's `Stream`, which closes the HTTP response; the server
  sees the connection drop and stops generating.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from coda.llm.errors import LLMError, RejectedError, UnavailableError
from coda.llm.prompt import prompt_estimate
from coda.llm.server_errors import error_for_status, error_for_transport, error_in_stream
from coda.llm.types import (
    Chunk,
    GenerationOptions,
    Message,
    Role,
    ServerConfig,
    SpeedSource,
    TokenSource,
    Usage,
)
from coda.llm.upstream import (
    TRANSPORT_FAILURES,
    ModelOnServer,
    stream_answer,
    stream_limits,
    stream_timeout,
)

SERVER_FAILURES = (*TRANSPORT_FAILURES, openai.OpenAIError)
# Sent when no key is configured: the client will not go without one, and servers started without
# a key ignore it (the Cloud Run identity token never travels in this header, see `bootstrap`).
NO_KEY = "no-key"
# How much of a server's error body the log keeps.
MAX_REASON_CHARS = 500

logger = logging.getLogger(__name__)


@dataclass
class _UsageRequest:
    """Whether answers ask for usage (`stream_options`), shared by every `with_model` sibling:
    the server, not the model, decides whether it takes the field. `confirmed` once it has been
    answered with it, after which a refusal is the request's fault, not the field's."""

    ask: bool
    confirmed: bool = False


class OpenAIChatModel(ModelOnServer):
    """`ChatModel` served by any OpenAI-compatible server over `/v1/chat/completions`."""

    def __init__(
        self,
        server: ServerConfig,
        *,
        api_key: str = "",
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        ask_usage: bool = True,
    ) -> None:
        """`server.url` is the base URL, `/v1` included; `auth` adds credentials to every request
        (the Cloud Run identity token); `api_key` is sent as the bearer token; `ask_usage: False`
        never sends `stream_options` (`CODA_OPENAI_STREAM_USAGE`)."""
        self._server = server
        self._usage = _UsageRequest(ask=ask_usage)
        timeout = stream_timeout(server)
        http = httpx.Client(
            timeout=timeout, limits=stream_limits(server), auth=auth, transport=transport
        )
        self._client = openai.OpenAI(
            base_url=server.url,
            api_key=api_key or NO_KEY,
            max_retries=0,
            # The client takes an httpx client (and timeout) as well as an httpx2 one, though its
            # hints name httpx2's only: httpx is what our auth, our tests' transports and
            # `coda.llm.upstream`'s error mapping speak.
            http_client=http,  # type: ignore[arg-type]
            timeout=timeout,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        """Release pooled connections (at worker exit)."""
        self._client.close()

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Generator[Chunk, None, None]:
        """Stream an answer; see the module docstring for how failures and closing behave."""
        payload = [_to_openai_message(m) for m in messages]
        answer = _Answer(self.model, prompt_estimate=prompt_estimate(messages))

        def create(*, with_usage: bool) -> openai.Stream[ChatCompletionChunk]:
            return self._client.chat.completions.create(
                model=self.model,
                messages=payload,
                stream=True,
                stream_options={"include_usage": True} if with_usage else openai.omit,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
                seed=openai.omit if options.seed is None else options.seed,
                # Not in OpenAI's API, but vLLM, llama.cpp and Ollama take it (Ollama ignores it).
                extra_body=_extra_body(options),
            )

        def send() -> openai.Stream[ChatCompletionChunk]:
            answer.sent_at = time.monotonic()
            asked = self._usage
            if not asked.ask:
                return create(with_usage=False)
            try:
                stream = create(with_usage=True)
            except openai.APIStatusError as exc:
                # Only a refusal of the request's form: one for its length, say, is not the field's.
                refusal = self._translate(exc, False)
                if type(refusal) is not RejectedError or asked.confirmed:
                    raise
                # A server that will not take the field: ask once without it. If that is
                # refused too, the request itself is at fault, and that refusal is the answer.
                stream = create(with_usage=False)
                asked.ask = False
                logger.warning(
                    "model server refused stream_options; answers no longer ask it for usage",
                    extra={"upstream_status": exc.status_code, "error_detail": _status_detail(exc)},
                )
                return stream
            asked.confirmed = True
            return stream

        return stream_answer(
            send,
            answer.chunk,
            translate=self._translate,
            failures=SERVER_FAILURES,
            server=self._server,
            finish=answer.last,
        )

    def list_models(self) -> list[str]:
        """`/v1/models`: the names the server serves (vLLM's `--served-model-name`)."""
        try:
            page = self._client.models.list(timeout=self._server.connect_timeout)
        except SERVER_FAILURES as exc:
            raise self._translate(exc, False) from exc
        # The client does not validate the body: an answer without a list is not one we understand.
        if not isinstance(page.data, list):
            raise UnavailableError("unexpected answer from /v1/models: no list of models")
        return [m.id for m in page.data]

    def preload(self, options: GenerationOptions) -> None:
        """One token: a server that loads models on demand (Ollama) loads it; vLLM has it already.

        The API has no way to load a model without generating, and no context size to match.
        """
        try:
            self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": "."}],
                max_tokens=1,
            )
        except SERVER_FAILURES as exc:
            raise self._translate(exc, False) from exc

    def _translate(self, exc: Exception, sent_text: bool) -> LLMError:
        """Map the client's exceptions, and httpx's, to ours: the one place that knows both."""
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, openai.APIStatusError):
            return error_for_status(exc.status_code, _status_detail(exc), model=self.model)
        if isinstance(exc, openai.APIConnectionError) and isinstance(exc.__cause__, Exception):
            return error_for_transport(exc.__cause__, sent_text=sent_text)
        if isinstance(exc, openai.APIError):  # an error event inside a 200 stream
            return error_in_stream(f"server error event: {exc.message}", sent_text=sent_text)
        return error_for_transport(exc, sent_text=sent_text)


@dataclass
class _Answer:
    """One answer as its chunks arrive: text, the finish reason and usage come in separate chunks,
    and the speed is measured from the first text to the usage when the server gives none."""

    model: str
    prompt_estimate: int
    sent_at: float = field(default_factory=time.monotonic)
    first_text_at: float | None = None
    # None until a choice says why it finished: a stream that ends before that was cut short.
    finish_reason: str | None = None
    pieces: int = 0
    usage: Usage | None = None

    def chunk(self, part: ChatCompletionChunk) -> Chunk | None:
        """The chunk to yield for `part`, or None for one without text; usage is kept for `last`,
        since a proxy may still send text after it."""
        now = time.monotonic()
        text = "".join(choice.delta.content or "" for choice in part.choices)
        thinking = "".join(_reasoning(choice.delta.model_extra) for choice in part.choices)
        for choice in part.choices:
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        if text:
            self.pieces += 1
            if self.first_text_at is None:
                self.first_text_at = now
        if part.usage is not None:
            self.usage = self._usage(part, part.usage, now)
        return Chunk(text, thinking=thinking) if text or thinking else None

    def last(self) -> Chunk | None:
        """The answer's end, once the stream has ended: its usage, the server's or estimated, or
        None when the server never said the answer was finished."""
        if self.usage is not None:
            usage = self.usage
            if self.finish_reason is not None:  # the usage chunk may precede a late reason
                usage = replace(usage, done_reason=self.finish_reason)
            return Chunk("", usage)
        if self.finish_reason is None:
            return None
        now = time.monotonic()
        # One piece per token is how vLLM, llama.cpp and Ollama stream: an estimate all the same.
        return Chunk(
            "",
            Usage(
                model=self.model,
                prompt_tokens=self.prompt_estimate,
                completion_tokens=self.pieces,
                tokens_per_second=self._measured_speed(self.pieces, now),
                load_seconds=None,
                total_seconds=round(now - self.sent_at, 3),
                done_reason=self.finish_reason,
                speed_source=SpeedSource.MEASURED,
                token_source=TokenSource.ESTIMATED,
            ),
        )

    def _usage(self, part: ChatCompletionChunk, usage: CompletionUsage, now: float) -> Usage:
        speed, source = _server_speed(part), SpeedSource.SERVER
        if speed is None:
            speed, source = self._measured_speed(usage.completion_tokens, now), SpeedSource.MEASURED
        return Usage(
            model=part.model or self.model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            tokens_per_second=speed,
            load_seconds=None,
            total_seconds=round(now - self.sent_at, 3),
            done_reason=self.finish_reason or "stop",
            speed_source=source,
        )

    def _measured_speed(self, tokens: int, now: float) -> float | None:
        """Tokens after the first, over the time since the first: the decoding rate, as Ollama
        reports it, without the time spent reading the prompt."""
        if self.first_text_at is None or tokens < 2 or now <= self.first_text_at:
            return None
        return round((tokens - 1) / (now - self.first_text_at), 2)


def _extra_body(options: GenerationOptions) -> dict[str, object]:
    """What OpenAI's API has no field for: `top_k`, and thinking turned off where the server
    passes template arguments on (vLLM, llama.cpp; Qwen3's and DeepSeek's templates read
    `enable_thinking`)."""
    extra: dict[str, object] = {"top_k": options.top_k}
    if options.think is False:
        extra["chat_template_kwargs"] = {"enable_thinking": False}
    return extra


def _reasoning(extra: dict[str, Any] | None) -> str:
    """A delta's reasoning: vLLM's and llama.cpp's `reasoning_content`, or `reasoning` (Ollama's
    `/v1`, OpenRouter, newer vLLM); not in the client's types, so read from the extra fields."""
    for key in ("reasoning_content", "reasoning"):
        value = (extra or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _status_detail(exc: openai.APIStatusError) -> str:
    """`server <status>: <the server's reason>`, for the log: the client's own message drops the
    body unless it is OpenAI's `{"error": {"message": ...}}` (not FastAPI's `{"detail": [...]}`
    422, nor llama.cpp's or a proxy's `{"error": "..."}`)."""
    return f"server {exc.status_code}: {_reason(exc.body) or exc.message}"[:MAX_REASON_CHARS]


def _reason(body: object) -> str:
    if isinstance(body, dict):
        inner: Any = body.get("error", body.get("detail", body.get("message")))
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        body = inner if inner is not None else body
    if isinstance(body, str):
        return body
    if body is None:
        return ""
    return json.dumps(body, ensure_ascii=False, default=str)


def _server_speed(part: ChatCompletionChunk) -> float | None:
    """llama.cpp's `timings.predicted_per_second` on the last chunk, when it is there."""
    timings = (part.model_extra or {}).get("timings")
    speed = timings.get("predicted_per_second") if isinstance(timings, dict) else None
    if isinstance(speed, (int, float)) and speed > 0:
        return round(float(speed), 2)
    return None


def _to_openai_message(message: Message) -> ChatCompletionMessageParam:
    if message.role is Role.SYSTEM:
        return {"role": "system", "content": message.content}
    if message.role is Role.ASSISTANT:
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}
