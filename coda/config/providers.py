"""The kinds of model server coda speaks to, as the settings know them: one row each.

The composition root holds the other half of the table (`coda.infrastructure.bootstrap.ADAPTERS`:
which adapter, where the ID token goes); a new provider is a row in each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    """What the settings know of one kind of model server (the adapters are the composition
    root's `ADAPTERS`): the field and variable holding its URL, what to say when a required URL is
    missing, and the variables only it reads (set with another provider, they stop start-up)."""

    url_field: str
    url_variable: str
    url_required: str = ""
    own_variables: tuple[str, ...] = ()


PROVIDERS = {
    "ollama": Provider("ollama_host", "OLLAMA_HOST"),
    "openai": Provider(
        "openai_base_url",
        "CODA_OPENAI_BASE_URL",
        url_required="the server's URL with /v1, e.g. http://127.0.0.1:8000/v1",
        own_variables=("CODA_OPENAI_BASE_URL", "CODA_OPENAI_API_KEY"),
    ),
}
