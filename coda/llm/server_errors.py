"""What a model server's failure means, from its status and its own words, for every adapter.

A status alone says too little: Ollama answers 500 both for a runner that crashed (trying again
restarts it) and for a model that cannot fit in memory (trying again loads it again, fails again,
and takes seconds each time); vLLM and llama.cpp answer 400 both for an option they do not take
and for a prompt longer than the context window. So the server's error text is read too, for the
phrases its source writes (cited beside each), and each failure gets the kind that tells the user
what happened. Only `UnavailableError` and `BusyError` are retried (`coda.llm.upstream.RETRYABLE`).

Ollama (server/routes.go `handleScheduleError`, llm/server.go, server/sched.go, v0.17.4):
- 400: "model is required", "%q does not support chat", "%q does not support thinking",
  "think value %q is not supported for this model": the request, not the moment -> rejected.
- 404: "model %q not found, try pulling it first" -> model_not_found.
- 499: "request canceled": our own hang-up, never read by anyone.
- 503: "server busy, please try again.  maximum pending requests exceeded" -> busy, retried.
- 500 while loading: "model requires more system memory (X) than is available (Y)",
  "failed to allocate memory for model", "failed to commit memory for model", "memory layout
  cannot be allocated" -> model_cannot_load (memory), not retried; "model failed to load, ...",
  "llama runner process has terminated: ...", "timed out waiting for llama runner to start" ->
  model_cannot_load, not retried: a load takes seconds to minutes and fails the same way again.
- 500 otherwise ("model runner has unexpectedly stopped, ...", "an error was encountered while
  running the model") -> unavailable, retried: the next request starts a fresh runner.
- With `truncate: false` (coda does not send it: its own count keeps prompts within the window),
  the runner refuses "the input length exceeds the context length" (runner/*/runner.go)
  -> prompt_too_long.
vLLM (entrypoints/openai, OpenAI's error object with `type` BadRequestError, NotFoundError):
- 400 "This model's maximum context length is N tokens. However, you requested ...", "... is
  longer than the maximum model length of N" -> prompt_too_long; other 400s -> rejected.
- 404 "The model `x` does not exist." -> model_not_found. 401 "Unauthorized" -> server_auth.
llama.cpp's llama-server (tools/server, `format_error_response`):
- 400 `exceed_context_size_error` "request (N tokens) exceeds the available context size (M
  tokens)" (older builds: 500 "the request exceeds the available context size ...")
  -> prompt_too_long. 401 `authentication_error` "Invalid API Key" -> server_auth.
- 503 `unavailable_error` "Loading model" -> busy, retried. 501 `not_supported_error` -> rejected.
Asked for embeddings (`/api/embed`, `/v1/embeddings`) by a model that makes none: Ollama 501 "this
model does not support embeddings" (runner/ollamarunner/runner.go), llama.cpp 501 "This server
does not support embeddings. Start it with `--embeddings`", vLLM 400 "... does not support
Embeddings API" -> cannot_embed (`embedding_error_for_status`).
Any server or proxy: 429 -> busy; 502, 504 -> unavailable, retried; 403 -> server_auth.
"""

from __future__ import annotations

import re

import httpx

from coda.llm.errors import (
    BusyError,
    CannotEmbedError,
    LLMError,
    LLMTimeoutError,
    ModelCannotLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    RejectedError,
    ServerAuthError,
    StreamInterruptedError,
    UnavailableError,
)

# Lower-cased phrases, each from a server's source as cited in the module docstring.
NO_MEMORY = (
    "requires more system memory",
    "failed to allocate memory for model",
    "failed to commit memory for model",
    "memory layout cannot be allocated",
)
LOAD_FAILED = (
    "model failed to load",
    "llama runner process has terminated",
    "timed out waiting for llama runner to start",
)
TOO_LONG = (
    "maximum context length",
    "exceeds the available context size",
    "exceed_context_size",
    "longer than the maximum model length",
    "input length exceeds the context length",
)
# Ollama's "model requires more system memory (7.5 GiB) than is available (5.2 GiB)"; bounded, as
# the text is the server's.
MEMORY_SIZES = re.compile(
    r"\(([0-9.]{1,10} ?[KMGT]?i?B)\) than is available \(([0-9.]{1,10} ?[KMGT]?i?B)\)"
)
MAX_SCANNED_CHARS = 2000
CANNOT_EMBED = ("support embedding",)


def error_for_status(status: int, detail: str, *, model: str) -> LLMError:
    """What an HTTP error status from a model server means, for Ollama's API and OpenAI's alike;
    `detail` holds the server's own words (`server 500: <its error>`)."""
    said = detail[:MAX_SCANNED_CHARS].lower()
    if any(phrase in said for phrase in NO_MEMORY):
        params: dict[str, object] = {"model": model, "reason": "memory"}
        sizes = MEMORY_SIZES.search(detail[:MAX_SCANNED_CHARS])
        if sizes:
            params |= {"needed": sizes.group(1), "available": sizes.group(2)}
        return ModelCannotLoadError(detail, params=params, upstream_status=status)
    if status >= 500 and any(phrase in said for phrase in LOAD_FAILED):
        return ModelCannotLoadError(detail, params={"model": model}, upstream_status=status)
    if any(phrase in said for phrase in TOO_LONG):
        return PromptTooLongError(detail, upstream_status=status)
    if status == 404:
        return ModelNotFoundError(detail, params={"model": model}, upstream_status=404)
    if status in (429, 503):
        return BusyError(detail, upstream_status=status)
    if status in (401, 403):
        return ServerAuthError(detail, params={"status": status}, upstream_status=status)
    if status in (400, 422, 501):
        return RejectedError(detail, upstream_status=status)
    return UnavailableError(detail, upstream_status=status)


def embedding_error_for_status(status: int, detail: str, *, model: str) -> LLMError:
    """`error_for_status` for an embedding request, where a 501, or a refusal that says the model
    makes no embeddings, means a chat model was named as the embedding model."""
    said = detail[:MAX_SCANNED_CHARS].lower()
    if status == 501 or (status < 500 and any(phrase in said for phrase in CANNOT_EMBED)):
        return CannotEmbedError(detail, params={"model": model}, upstream_status=status)
    return error_for_status(status, detail, model=model)


def error_in_stream(detail: str, *, sent_text: bool) -> LLMError:
    """An error the server reported inside a stream that had started with 200."""
    if any(phrase in detail[:MAX_SCANNED_CHARS].lower() for phrase in TOO_LONG):
        return PromptTooLongError(detail)
    if sent_text:
        return StreamInterruptedError(detail)
    return UnavailableError(detail)


def error_for_transport(exc: Exception, *, sent_text: bool) -> LLMError:
    """httpx's failures (and a body that cannot be parsed), whichever client was reading."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return LLMTimeoutError(f"{name}: no data from the model server within the read timeout")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
        return UnavailableError(f"{name}: cannot connect to the model server")
    # Any other transport failure, or a body the client cannot parse (a truncated line).
    if sent_text:
        return StreamInterruptedError(f"{name}: {exc}")
    return UnavailableError(f"{name}: {exc}")
