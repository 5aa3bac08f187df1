"""Domain errors of the LLM layer: what went wrong, in terms the web tier can explain to a person.

Each error has a stable `kind` (the key of the user-facing message in the frontend catalogue and the
`error_kind` field of the log line), `params` for that message, and `detail` for the log only:
upstream text never reaches the user, since it may be long, English-only or leak internals.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LLMError(Exception):
    """Base of every error the LLM layer raises."""

    kind: ClassVar[str] = "llm_error"

    def __init__(
        self,
        detail: str,
        *,
        params: dict[str, Any] | None = None,
        attempts: int = 1,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.params: dict[str, Any] = dict(params or {})
        self.attempts = attempts
        self.upstream_status = upstream_status

    def log_fields(self) -> dict[str, Any]:
        """Fields for the structured log line of the request that failed."""
        fields: dict[str, Any] = {
            "error_kind": self.kind,
            "error_detail": self.detail,
            "attempts": self.attempts,
        }
        if self.upstream_status is not None:
            fields["upstream_status"] = self.upstream_status
        return fields


class UnavailableError(LLMError):
    """The server cannot be reached or failed before answering; the user should retry later."""

    kind = "unavailable"


class BusyError(LLMError):
    """The server's queue is full (503); the user should try again in a moment."""

    kind = "busy"


class ModelNotFoundError(LLMError):
    """The server runs but lacks the model; an operator must create or pull it."""

    kind = "model_not_found"


class LLMTimeoutError(LLMError):
    """No first token, or no end, within the configured time."""

    kind = "timeout"


class StreamInterruptedError(LLMError):
    """The stream broke after text was sent: the partial answer stays, marked as interrupted."""

    kind = "interrupted"


class RejectedError(LLMError):
    """The server refused the request as malformed (HTTP 400 or 422): retrying it cannot help.

    The user's own input is checked before anything is sent (`coda.frontend.reading.posted_turn`),
    so this means the server and the web tier disagree, e.g. on an option the server does not take.
    """

    kind = "rejected"


class EndedEarlyError(StreamInterruptedError):
    """The server closed a 200 stream cleanly before the line that says the answer is finished:
    it ended the answer, the connection was not cut. The partial answer stays."""

    kind = "ended_early"


class ModelCannotLoadError(LLMError):
    """The server cannot load the model (too little memory, a runner that will not start):
    trying again fails the same way, after seconds of loading. `params` name the model, and the
    reason (`memory`, with `needed` and `available` where the server says them)."""

    kind = "model_cannot_load"


class PromptTooLongError(LLMError):
    """The server refused, or cut, a prompt longer than its context window: shortening the
    conversation helps, rephrasing does not."""

    kind = "prompt_too_long"


class ServerAuthError(LLMError):
    """The server refused coda's credentials (401, 403): an operator must fix the key or the
    permission; retrying cannot help."""

    kind = "server_auth"


class CannotEmbedError(LLMError):
    """The model was asked for embeddings and cannot make them: a chat model (Ollama 501 "this
    model does not support embeddings"), or a server started without them (llama.cpp 501, vLLM
    400). An operator must name an embedding model (`CODA_EMBEDDING_MODEL`); retrying cannot help.
    `params` name the model."""

    kind = "cannot_embed"
