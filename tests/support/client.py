"""Posting a chat turn through Flask's test client and reading its events as they stream."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from tests.support.sse import Event, events


def post_turn(
    client: FlaskClient,
    message: str = "hi",
    history: list[dict[str, str]] | None = None,
    *,
    model: str = "",
    **form: str,
) -> list[Event]:
    """Every event of one `/chat` turn, read to the end; fails on a refused request. `model` is
    what the page's picker sends (nothing when empty, as a page without a picker); `form` any
    other field (a preset, the attached files)."""
    data = {"message": message, "history": json.dumps(history or []), **form}
    if model:
        data["model"] = model
    response = client.post("/chat", data=data, buffered=False)
    try:
        assert response.status_code == 200, response.get_data(as_text=True)
        return list(events(response.response))
    finally:
        response.close()
