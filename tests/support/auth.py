"""An `httpx.Auth` that stands in for the identity token, to see it reach every request."""

from __future__ import annotations

from collections.abc import Generator

import httpx


class BearerToken(httpx.Auth):
    """Sets `header` to `Bearer <token>`, as `IdentityTokenAuth` does with a real token."""

    def __init__(self, token: str, header: str = "Authorization") -> None:
        self.token = token
        self.header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = f"Bearer {self.token}"
        yield request
