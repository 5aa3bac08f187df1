"""Assertions on parsed HTML (BeautifulSoup), never on attribute order in a string."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def one(html: str | Tag, selector: str) -> Tag:
    """The single element `selector` matches; fails the test when there are none or several."""
    root = parse(html) if isinstance(html, str) else html
    found = root.select(selector)
    assert len(found) == 1, f"{selector!r} matched {len(found)} elements in:\n{root}"
    return found[0]


def attr(element: Tag, name: str) -> str:
    """An attribute as the browser reads it: class lists joined by spaces, absent as an error."""
    value = element.get(name)
    assert value is not None, f"<{element.name}> has no {name!r}: {element}"
    return " ".join(value) if isinstance(value, list) else value


def top_level(html: str) -> list[Tag]:
    """The elements at the root of a fragment, as htmx would swap them in."""
    return [node for node in parse(html).contents if isinstance(node, Tag)]


def csrf_token(html: str) -> str:
    """The page's CSRF token, from its `<meta name="csrf-token">`."""
    return attr(one(html, 'meta[name="csrf-token"]'), "content")


def bubbles(html: str, role: str) -> list[Tag]:
    """The messages of `role` (`user` or `assistant`) in document order."""
    return parse(html).select(f'article.message[data-role="{role}"]')


def partials(html: str, swap: str | None = None, target_suffix: str = "") -> list[Tag]:
    """The `<hx-partial>` elements of an event, optionally only those of one swap and target."""
    return [
        p
        for p in parse(html).select("hx-partial")
        if (swap is None or p.get("hx-swap") == swap)
        and str(p.get("hx-target", "")).endswith(target_suffix)
    ]


def text_partials(html: str) -> list[Tag]:
    """The partials of an event that carry the answer's text as it streams: appended to the
    bubble's body when it streams raw, to its hidden source when it is formatted live."""
    return partials(html, "beforeend", "-body") + partials(html, "beforeend", "-source")
