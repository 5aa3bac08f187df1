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
    preset: str = "",
) -> list[Event]:
    """Every event of one `/chat` turn, read to the end; fails on a refused request. `model` and
    `preset` are what the page's pickers send (nothing when empty, as a page without them)."""
    data = {"message": message, "history": json.dumps(history or [])}
    if model:
        data["model"] = model
    if preset:
        data["preset"] = preset
    response = client.post("/chat", data=data, buffered=False)
    try:
        assert response.status_code == 200, response.get_data(as_text=True)
        return list(events(response.response))
    finally:
        response.close()
