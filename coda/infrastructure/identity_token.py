"""Google identity tokens for calling a private Cloud Run service (the model server).

On Cloud Run, the web service's service account holds `roles/run.invoker` on the model service and
proves it with an ID token whose audience is the service URL. google-auth fetches that token
from the metadata server (or, locally, from the key file named by GOOGLE_APPLICATION_CREDENTIALS);
`IdentityTokenAuth` caches it and refreshes it a few minutes before it expires, so a chat turn never
waits on the metadata server except about once an hour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime

import google.auth.exceptions
import google.auth.transport
import google.oauth2.id_token
import httpx
from google.auth.credentials import Credentials

# Google ID tokens live one hour; refreshing five minutes early leaves room for clock skew and for a
# long streamed answer that starts just before the token would have run out.
DEFAULT_REFRESH_MARGIN_S = 300.0
# Cloud Run takes the token from this header before `Authorization`, leaving that one to the app.
SERVERLESS_AUTHORIZATION = "X-Serverless-Authorization"


class IdentityTokenError(httpx.TransportError):
    """No identity token could be had: an httpx error, so the adapter treats it as a failed call."""


def _default_token_request() -> google.auth.transport.Request:
    """google-auth's own requests-based transport, used to reach the metadata server."""
    import google.auth.transport.requests  # only needed when the mode is on; pulls in requests

    return google.auth.transport.requests.Request()


class IdentityTokenAuth(httpx.Auth):
    """Adds `Authorization: Bearer <Google ID token for audience>` to every request, or puts the
    token in `header` (`X-Serverless-Authorization` when `Authorization` carries an API key).

    Safe to share: all the requests of a worker (greenlets under gevent, threads elsewhere) use one
    adapter, so one lock guards the cached token and only one of them refreshes it while the others
    wait for the result.
    """

    def __init__(
        self,
        audience: str,
        *,
        token_request: google.auth.transport.Request | None = None,
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.time,
        header: str = "Authorization",
    ) -> None:
        """`token_request` is the transport google-auth talks to the metadata server through."""
        if not audience:
            raise ValueError("an identity token needs an audience (the model service URL)")
        self.audience = audience
        self.header = header
        self._token_request = token_request
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._token: str | None = None
        self._expires_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the cached token; on a 401, refresh once and send again."""
        request.headers[self.header] = f"Bearer {self.token()}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            request.headers[self.header] = f"Bearer {self.token(force_refresh=True)}"
            yield request

    def token(self, *, force_refresh: bool = False) -> str:
        """The cached token, fetched anew when absent, near expiry, or when forced."""
        with self._lock:
            if (
                force_refresh
                or self._token is None
                or self._clock() >= self._expires_at - self._refresh_margin_s
            ):
                self._refresh()
            assert self._token is not None  # _refresh sets it or raises
            return self._token

    def _refresh(self) -> None:
        """Fetch a new token through google-auth; called with the lock held."""
        try:
            if self._token_request is None:
                self._token_request = _default_token_request()
            if self._credentials is None:
                self._credentials = google.oauth2.id_token.fetch_id_token_credentials(  # type: ignore[no-untyped-call]
                    self.audience, request=self._token_request
                )
            self._credentials.refresh(self._token_request)
        except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
            raise IdentityTokenError(
                f"could not get an identity token for {self.audience}: {exc}"
            ) from exc
        token, expiry = self._credentials.token, self._credentials.expiry
        if not token or expiry is None:
            raise IdentityTokenError(f"google-auth returned no identity token for {self.audience}")
        self._token = token
        # google-auth reports expiry as a naive datetime in UTC.
        self._expires_at = _utc_timestamp(expiry)


def _utc_timestamp(moment: datetime) -> float:
    """Seconds since the epoch for a datetime that is naive UTC or timezone-aware."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
