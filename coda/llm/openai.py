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
- Usage comes only when asked for (`stream_options.include_usage`), as a last chunk without
  choices. The API has no timing: the speed is the server's own where it adds it (llama.cpp's
  `timings.predicted_per_second`), otherwise measured here, first token to last.
- Closing our generator closes the client's `Stream`, which closes the HTTP response; the server
  sees the connection drop and stops generating.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import httpx
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from coda.llm.errors import LLMError, UnavailableError
from coda.llm.types import (
    Chunk,
    GenerationOptions,
    Message,
    Role,
    ServerConfig,
    SpeedSource,
    Usage,
)
from coda.llm.upstream import (
    TRANSPORT_FAILURES,
    ModelOnServer,
    error_for_status,
    error_for_transport,
    error_in_stream,
    stream_answer,
    stream_limits,
    stream_timeout,
)

SERVER_FAILURES = (*TRANSPORT_FAILURES, openai.OpenAIError)
# Sent when no key is configured: the client will not go without one, and servers started without
# a key ignore it (the Cloud Run identity token never travels in this header, see `bootstrap`).
NO_KEY = "no-key"


class OpenAIChatModel(ModelOnServer):
    """`ChatModel` served by any OpenAI-compatible server over `/v1/chat/completions`."""

    def __init__(
        self,
        server: ServerConfig,
        *,
        api_key: str = "",
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`server.url` is the base URL, `/v1` included; `auth` adds credentials to every request
        (the Cloud Run identity token); `api_key` is sent as the bearer token."""
        self._server = server
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
        answer = _Answer(self.model)

        def send() -> openai.Stream[ChatCompletionChunk]:
            answer.sent_at = time.monotonic()
            return self._client.chat.completions.create(
                model=self.model,
                messages=payload,
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
                seed=openai.omit if options.seed is None else options.seed,
                # Not in OpenAI's API, but vLLM, llama.cpp and Ollama take it (Ollama ignores it).
                extra_body={"top_k": options.top_k},
            )

        return stream_answer(
            send,
            answer.chunk,
            translate=self._translate,
            failures=SERVER_FAILURES,
            server=self._server,
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
            detail = f"server {exc.status_code}: {exc.message}"
            return error_for_status(exc.status_code, detail, model=self.model)
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
    sent_at: float = field(default_factory=time.monotonic)
    first_text_at: float | None = None
    finish_reason: str = "stop"

    def chunk(self, part: ChatCompletionChunk) -> Chunk | None:
        """The chunk to yield for `part`, or None for one with neither text nor usage."""
        now = time.monotonic()
        text = "".join(choice.delta.content or "" for choice in part.choices)
        for choice in part.choices:
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        if text and self.first_text_at is None:
            self.first_text_at = now
        if part.usage is not None:
            return Chunk(text, self._usage(part, part.usage, now))
        return Chunk(text) if text else None

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
            done_reason=self.finish_reason,
            speed_source=source,
        )

    def _measured_speed(self, tokens: int, now: float) -> float | None:
        """Tokens after the first, over the time since the first: the decoding rate, as Ollama
        reports it, without the time spent reading the prompt."""
        if self.first_text_at is None or tokens < 2 or now <= self.first_text_at:
            return None
        return round((tokens - 1) / (now - self.first_text_at), 2)


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
