"""The settings no single variable can check: combinations that cannot be meant together, each
reported naming the variables, beside the reader's own problems."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coda.config.declared import declared
from coda.config.presets import shipped_presets
from coda.config.providers import PROVIDERS

if TYPE_CHECKING:
    from coda.config.settings import Settings


def variable_values(settings: Settings) -> dict[str, object]:
    """Each declared variable's name and the value it gave (for the cross-checks' messages)."""
    return {
        variable.name: getattr(settings, item.name) for item, variable in declared(type(settings))
    }


def combination_problems(settings: Settings, failed: set[str]) -> list[str]:
    """`failed` names the variables already reported as unreadable."""
    problems = _access_problems(settings, failed) + _preset_problems(settings)
    if settings.max_tokens >= settings.context_length:
        problems.append(
            "CODA_MAX_TOKENS must be smaller than CODA_CONTEXT_LENGTH "
            f"(got {settings.max_tokens} and {settings.context_length})"
        )
    if settings.models and settings.model not in settings.models:
        problems.append(
            f"CODA_MODELS must include CODA_MODEL ({settings.model!r}), the model a "
            f"conversation starts with (got {', '.join(settings.models)})"
        )
    problems.extend(_server_problems(settings, failed))
    if settings.knowledge_index and not settings.embedding_model:
        problems.append(
            "CODA_KNOWLEDGE_INDEX needs CODA_EMBEDDING_MODEL: the model the index was built with,"
            " which embeds each question"
        )
    problems.extend(_knowledge_problems(settings))
    if settings.metrics and settings.metrics_port == settings.port:
        problems.append(
            f"CODA_METRICS_PORT must differ from PORT (both {settings.port}): the metrics "
            "stay off the public port"
        )
    return problems


def _server_problems(settings: Settings, failed: set[str]) -> list[str]:
    """Combinations that would send answers somewhere other than the operator meant."""
    problems = []
    provider = PROVIDERS[settings.provider]
    url_variable = provider.url_variable
    if provider.url_required and not settings.server_url and url_variable not in failed:
        problems.append(
            f"{url_variable} is required with CODA_PROVIDER={settings.provider} "
            f"({provider.url_required})"
        )
    given = variable_values(settings)
    for name, other in PROVIDERS.items():
        ignored = [v for v in other.own_variables if name != settings.provider and given[v]]
        if ignored:
            problems.append(
                f"{' and '.join(ignored)} only apply with CODA_PROVIDER={name} "
                f"(got CODA_PROVIDER={settings.provider}): set it, or unset them"
            )
    if (
        settings.server_auth == "id-token"
        and settings.server_url
        and not settings.server_url.startswith("https://")
    ):
        problems.append(
            f"CODA_SERVER_AUTH=id-token needs an https:// {url_variable} "
            f"(got {settings.server_url!r}); an ID token must not travel in clear text"
        )
    return problems


def _knowledge_problems(settings: Settings) -> list[str]:
    """Presets that search a knowledge base there is none of, and passages that leave no room."""
    problems = []
    asking = [p.id for p in settings.presets.items if p.knowledge]
    # The shipped file's knowledge preset is left out of the page without an index (bootstrap);
    # an operator's own file asking for one is a mistake to name.
    if asking and not settings.knowledge_index and settings.presets is not shipped_presets():
        problems.append(
            f"CODA_PRESETS_FILE: preset(s) {', '.join(map(repr, asking))} set knowledge = true,"
            " which needs CODA_KNOWLEDGE_INDEX: index a folder, or remove the key"
        )
    room = settings.context_length - settings.max_tokens
    if settings.knowledge_index and settings.knowledge_tokens >= room:
        problems.append(
            f"CODA_KNOWLEDGE_TOKENS ({settings.knowledge_tokens}) must be smaller than"
            f" CODA_CONTEXT_LENGTH - CODA_MAX_TOKENS ({room}): the question needs room too"
        )
    return problems


def _preset_problems(settings: Settings) -> list[str]:
    """A preset's default answer length must be one the server allows."""
    return [
        f"CODA_PRESETS_FILE: preset {preset.id!r} has max_tokens {preset.max_tokens}, more than "
        f"CODA_MAX_TOKENS ({settings.max_tokens})"
        for preset in settings.presets.items
        if preset.max_tokens is not None and preset.max_tokens > settings.max_tokens
    ]


def _access_problems(settings: Settings, failed: set[str]) -> list[str]:
    """Sign-in and limit settings that cannot be meant together."""
    problems = []
    needs = {
        "iap": (
            "CODA_IAP_AUDIENCE",
            "the audience IAP signs for, on Cloud Run "
            "/projects/NUMBER/locations/REGION/services/SERVICE",
        ),
        "proxy": (
            "CODA_TRUSTED_PROXIES",
            "the sign-in proxy's addresses (e.g. 172.18.0.0/16), "
            "the only ones whose user header is believed",
        ),
    }
    given = {"iap": bool(settings.iap_audience), "proxy": bool(settings.trusted_proxies)}
    for mode, (name, what) in needs.items():
        if settings.auth == mode and not given[mode] and name not in failed:
            problems.append(f"CODA_AUTH={mode} needs {name}: {what}")
        if settings.auth != mode and given[mode]:
            problems.append(
                f"{name} only applies with CODA_AUTH={mode} (got CODA_AUTH={settings.auth}): "
                "set it, or unset the variable"
            )
    if settings.sign_out_url and settings.auth == "none":
        problems.append(
            "CODA_SIGN_OUT_URL only applies with CODA_AUTH=iap or proxy (got CODA_AUTH=none): "
            "nobody is signed in to sign out"
        )
    if not settings.limits_storage.startswith("memory") and not settings.secret_key:
        problems.append(
            "CODA_LIMITS_STORAGE in Redis needs CODA_SECRET_KEY: the counts are kept under "
            "keyed hashes of the users, which every instance must compute alike"
        )
    if settings.streams_per_instance > settings.concurrency:
        problems.append(
            f"CODA_STREAMS_PER_INSTANCE ({settings.streams_per_instance}) must be at most "
            f"CODA_CONCURRENCY ({settings.concurrency}), the answers a worker can hold"
        )
    return problems
