"""The one error a refused input raises, wherever in the frontend the input is read."""

from __future__ import annotations

from typing import Any


class InputError(Exception):
    """What the user sent breaks a rule; nothing is sent upstream.

    `reason` picks the message (`error.invalid_request.<reason>` in the catalogue), `params` fill
    it in, and `detail` is for the log only.
    """

    kind = "invalid_request"  # the access log's `error_kind`

    def __init__(self, reason: str, detail: str, **params: Any) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.params: dict[str, Any] = {"reason": reason, **params}
