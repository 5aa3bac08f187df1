"""The one place coda reads its configuration from: environment variables, validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from coda.config import env_values as parse
from coda.config.env_values import Reader
from coda.config.errors import SettingsError
from coda.config.presets import Presets, load_presets, shipped_presets

DEFAULT_MODEL = "tinyswallow:1.5b"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_SYSTEM_PROMPT = (
    "あなたは誠実で親切な日本語アシスタントです。"
    "質問には正確かつ簡潔に、丁寧な日本語で答えてください。"
    "分からないことは分からないと伝えてください。"
)
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PROVIDERS = ("ollama", "openai")
SERVER_AUTH_MODES = ("none", "id-token")
LANGUAGES = ("ja", "en")
# Who may chat: nobody checked, IAP's signed assertion, or a sign-in proxy's user header.
AUTH_MODES = ("none", "iap", "proxy")
IAP_KEYS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"
IAP_SIGN_OUT = "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"  # answered by IAP, never reaches coda
DEFAULT_METRICS_PORT = 9464  # what OpenTelemetry's Prometheus exporter listens on by default
OTLP_TRACES_PATH = "/v1/traces"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything coda can be told from outside; built once by the composition root."""

    # The API the model server speaks: Ollama's own, or OpenAI's (vLLM, llama.cpp, Ollama's /v1).
    provider: str = "ollama"
    ollama_host: str = DEFAULT_OLLAMA_HOST
    openai_base_url: str = ""  # `/v1` included; required with the openai provider
    # The bearer token for an OpenAI-compatible server: kept out of every repr, log and message.
    openai_api_key: str = field(default="", repr=False)
    # Ask for usage (`stream_options.include_usage`); off for a server that mishandles the field.
    openai_stream_usage: bool = True
    # `id-token`: a Google ID token for `server_audience` on each call (model server private on
    # Cloud Run)
    server_auth: str = "none"
    server_audience: str = ""  # empty: the server's origin, which is what Cloud Run expects
    model: str = DEFAULT_MODEL
    # The models users may choose in the page; empty: just `model`. It always holds `model`.
    models: tuple[str, ...] = ()
    # Thinking models asked to answer without reasoning first (Ollama's `think: false`).
    no_thinking_models: tuple[str, ...] = ()
    system_prompt: str = DEFAULT_SYSTEM_PROMPT

    connect_timeout: float = 5.0
    first_token_timeout: float = 120.0
    total_timeout: float = 300.0
    retry_attempts: int = 3
    retry_max_seconds: float = 10.0

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    max_tokens: int = 1024
    context_length: int = 8192
    seed: int | None = None

    max_message_chars: int = 4000
    max_history_messages: int = 40
    max_history_chars: int = 32000
    max_body_bytes: int = 1_048_576

    default_language: str = "ja"
    model_notice: str = ""
    heartbeat_seconds: float = 5.0
    loading_notice_seconds: float = 2.0
    warmup: bool = False
    # Signs the session cookie holding the CSRF token; empty: a random key for this process only.
    secret_key: str = ""
    # Only over HTTPS (Cloud Run): the cookie then never travels in clear text.
    secure_cookies: bool = False
    # Proxies in front that append to X-Forwarded-For / -Proto (Cloud Run's front end: 1). With 0
    # nothing forwarded is believed: a client could write any address into the header and get a
    # fresh set of per-address limits.
    forwarded_hops: int = 0

    log_level: str = "INFO"
    log_format: str = "json"
    port: int = 8080
    # Requests one worker process serves at once, streams included (gunicorn.conf.py): Cloud Run's
    # containerConcurrency, and the size of the connection pool to the model server.
    concurrency: int = 250
    # On SIGTERM, how long open answers may still run before they end with "restarting".
    shutdown_grace_seconds: float = 3.0

    # --- Who may chat, and how much (read by `_read_access`) ---
    # `iap`: IAP's signed assertion, verified against IAP's keys for `iap_audience`; `proxy`: a
    # sign-in proxy's user header, honoured only from `trusted_proxies`; `none`: open to anyone.
    auth: str = "none"
    iap_audience: str = ""
    iap_keys_url: str = IAP_KEYS_URL
    proxy_user_header: str = "X-Forwarded-Email"
    trusted_proxies: tuple[str, ...] = ()  # networks, as `ipaddress` writes them
    # Where "Sign out" goes; empty: IAP's own sign-out with `iap`, no link otherwise.
    sign_out_url: str = ""
    # `memory://` counts in this process; `redis://host:port` shares the counts between processes.
    limits_storage: str = "memory://"
    # 0 is no limit. Per user (or client address without sign-in), except `streams_per_instance`.
    answers_per_minute: int = 0
    answers_per_day: int = 0
    streams_per_user: int = 0
    streams_per_instance: int = 0
    tokens_per_day: int = 0
    # --- Telemetry (README "Telemetry") ---
    # Prometheus metrics, served by the gunicorn master on their own port, never the public one.
    # Off: no port, no directory, nothing recorded.
    metrics: bool = True
    metrics_port: int = DEFAULT_METRICS_PORT
    # Where OpenTelemetry spans go (OTLP over HTTP, the full traces URL); empty: no tracing at all.
    otlp_traces_endpoint: str = ""
    # Headers sent with every export (a back end's key): kept out of every repr, log and message.
    otlp_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    service_name: str = "coda-web"
    # Prompt and answer text on the LLM span; off by default: traces often leave the company.
    trace_content: bool = False
    # --- Presets and per-conversation settings ---
    # What users choose from in the page: the shipped presets.toml, or CODA_PRESETS_FILE's.
    presets: Presets = field(default_factory=shipped_presets, repr=False)

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """What the page offers and the server accepts: `models`, else the one `model`."""
        return self.models or (self.model,)

    @property
    def server_url(self) -> str:
        """Where the model server is: `OLLAMA_HOST`, or the OpenAI-compatible base URL."""
        return self.openai_base_url if self.provider == "openai" else self.ollama_host

    @property
    def sign_out_link(self) -> str:
        """The page's "Sign out": the configured URL, else IAP's, which clears its cookie and
        returns to the page (Google's "Using query parameters and headers")."""
        if self.sign_out_url or self.auth != "iap":
            return self.sign_out_url
        return IAP_SIGN_OUT

    @property
    def server_token_audience(self) -> str:
        """The audience of the ID token: the configured one, else the server's origin (a Cloud Run
        service URL has no path; a base URL's `/v1` is not part of it)."""
        if self.server_audience:
            return self.server_audience
        parts = urlsplit(self.server_url)
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable, reporting all bad ones at once."""
        env = os.environ if environ is None else environ
        reader = Reader(env)
        defaults = cls()
        settings = cls(
            provider=reader.read("CODA_PROVIDER", parse.choice(PROVIDERS), "ollama"),
            ollama_host=reader.read("OLLAMA_HOST", parse.url, defaults.ollama_host),
            openai_base_url=reader.read("CODA_OPENAI_BASE_URL", parse.base_url, ""),
            openai_api_key=reader.read("CODA_OPENAI_API_KEY", parse.nonempty, ""),
            openai_stream_usage=reader.read(
                "CODA_OPENAI_STREAM_USAGE", parse.boolean, defaults.openai_stream_usage
            ),
            server_auth=reader.read(
                "CODA_SERVER_AUTH",
                parse.choice(SERVER_AUTH_MODES),
                "none",
                formerly="CODA_OLLAMA_AUTH",
            ),
            server_audience=reader.read(
                "CODA_SERVER_AUDIENCE", parse.nonempty, "", formerly="CODA_OLLAMA_AUDIENCE"
            ),
            model=reader.read("CODA_MODEL", parse.model_name, defaults.model),
            models=reader.read("CODA_MODELS", parse.model_names, ()),
            no_thinking_models=reader.read("CODA_NO_THINKING_MODELS", parse.model_names, ()),
            system_prompt=reader.read("CODA_SYSTEM_PROMPT", parse.nonempty, defaults.system_prompt),
            connect_timeout=reader.read(
                "CODA_CONNECT_TIMEOUT", parse.number(0.1, 300), defaults.connect_timeout
            ),
            first_token_timeout=reader.read(
                "CODA_FIRST_TOKEN_TIMEOUT", parse.number(1, 3600), defaults.first_token_timeout
            ),
            total_timeout=reader.read(
                "CODA_TOTAL_TIMEOUT", parse.number(1, 3600), defaults.total_timeout
            ),
            retry_attempts=reader.read(
                "CODA_RETRY_ATTEMPTS", parse.integer(1, 10), defaults.retry_attempts
            ),
            retry_max_seconds=reader.read(
                "CODA_RETRY_MAX_SECONDS", parse.number(0, 300), defaults.retry_max_seconds
            ),
            temperature=reader.read("CODA_TEMPERATURE", parse.number(0, 2), defaults.temperature),
            top_p=reader.read("CODA_TOP_P", parse.number(0, 1), defaults.top_p),
            top_k=reader.read("CODA_TOP_K", parse.integer(1, 1000), defaults.top_k),
            max_tokens=reader.read("CODA_MAX_TOKENS", parse.integer(1, 32768), defaults.max_tokens),
            context_length=reader.read(
                "CODA_CONTEXT_LENGTH", parse.integer(512, 131072), defaults.context_length
            ),
            seed=reader.read(
                "CODA_SEED", parse.optional(parse.integer(0, 2**31 - 1)), defaults.seed
            ),
            max_message_chars=reader.read(
                "CODA_MAX_MESSAGE_CHARS", parse.integer(1, 100_000), defaults.max_message_chars
            ),
            max_history_messages=reader.read(
                "CODA_MAX_HISTORY_MESSAGES", parse.integer(0, 1000), defaults.max_history_messages
            ),
            max_history_chars=reader.read(
                "CODA_MAX_HISTORY_CHARS", parse.integer(0, 1_000_000), defaults.max_history_chars
            ),
            max_body_bytes=reader.read(
                "CODA_MAX_BODY_BYTES", parse.integer(1024, 64 * 1_048_576), defaults.max_body_bytes
            ),
            default_language=reader.read("CODA_DEFAULT_LANGUAGE", parse.choice(LANGUAGES), "ja"),
            model_notice=reader.read("CODA_MODEL_NOTICE", parse.nonempty, ""),
            heartbeat_seconds=reader.read(
                "CODA_HEARTBEAT_SECONDS", parse.number(0.5, 60), defaults.heartbeat_seconds
            ),
            loading_notice_seconds=reader.read(
                "CODA_LOADING_NOTICE_SECONDS", parse.number(0, 60), defaults.loading_notice_seconds
            ),
            warmup=reader.read("CODA_WARMUP", parse.boolean, defaults.warmup),
            secret_key=reader.read("CODA_SECRET_KEY", parse.nonempty, ""),
            secure_cookies=reader.read(
                "CODA_SECURE_COOKIES", parse.boolean, defaults.secure_cookies
            ),
            forwarded_hops=reader.read(
                "CODA_FORWARDED_HOPS", parse.integer(0, 5), defaults.forwarded_hops
            ),
            log_level=reader.read("CODA_LOG_LEVEL", parse.choice(LOG_LEVELS, upper=True), "INFO"),
            log_format=reader.read("CODA_LOG_FORMAT", parse.choice(LOG_FORMATS), "json"),
            port=reader.read("PORT", parse.integer(1, 65535), defaults.port),
            concurrency=reader.read(
                "CODA_CONCURRENCY", parse.integer(1, 10_000), defaults.concurrency
            ),
            shutdown_grace_seconds=reader.read(
                "CODA_SHUTDOWN_GRACE_SECONDS", parse.number(0, 6), defaults.shutdown_grace_seconds
            ),
            metrics=reader.read("CODA_METRICS", parse.boolean, defaults.metrics),
            metrics_port=reader.read(
                "CODA_METRICS_PORT", parse.integer(1, 65535), defaults.metrics_port
            ),
            otlp_traces_endpoint=_otlp_traces_endpoint(reader),
            otlp_headers=reader.read("OTEL_EXPORTER_OTLP_HEADERS", parse.headers, (), secret=True),
            service_name=reader.read("OTEL_SERVICE_NAME", parse.nonempty, defaults.service_name),
            trace_content=reader.read("CODA_TRACE_CONTENT", parse.boolean, defaults.trace_content),
            presets=reader.read("CODA_PRESETS_FILE", _presets_file, defaults.presets),
        )
        settings = _with_access(settings, reader)
        reader.problems.extend(_access_problems(settings, reader.failed))
        reader.problems.extend(_preset_problems(settings))
        if settings.max_tokens >= settings.context_length:
            reader.problems.append(
                "CODA_MAX_TOKENS must be smaller than CODA_CONTEXT_LENGTH "
                f"(got {settings.max_tokens} and {settings.context_length})"
            )
        if settings.models and settings.model not in settings.models:
            reader.problems.append(
                f"CODA_MODELS must include CODA_MODEL ({settings.model!r}), the model a "
                f"conversation starts with (got {', '.join(settings.models)})"
            )
        reader.problems.extend(_server_problems(settings, reader.failed))
        if settings.metrics and settings.metrics_port == settings.port:
            reader.problems.append(
                f"CODA_METRICS_PORT must differ from PORT (both {settings.port}): the metrics "
                "stay off the public port"
            )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


def _server_problems(settings: Settings, failed: set[str]) -> list[str]:
    """Combinations that would send answers somewhere other than the operator meant; `failed`
    names the variables already reported as unreadable."""
    problems = []
    url_variable = "OLLAMA_HOST"
    if settings.provider == "openai":
        url_variable = "CODA_OPENAI_BASE_URL"
        if not settings.openai_base_url and url_variable not in failed:
            problems.append(
                "CODA_OPENAI_BASE_URL is required with CODA_PROVIDER=openai "
                "(the server's URL with /v1, e.g. http://127.0.0.1:8000/v1)"
            )
    else:
        ignored = [
            name
            for name, value in (
                ("CODA_OPENAI_BASE_URL", settings.openai_base_url),
                ("CODA_OPENAI_API_KEY", settings.openai_api_key),
            )
            if value
        ]
        if ignored:
            problems.append(
                f"{' and '.join(ignored)} only apply with CODA_PROVIDER=openai "
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


def _preset_problems(settings: Settings) -> list[str]:
    """A preset's default answer length must be one the server allows."""
    return [
        f"CODA_PRESETS_FILE: preset {preset.id!r} has max_tokens {preset.max_tokens}, more than "
        f"CODA_MAX_TOKENS ({settings.max_tokens})"
        for preset in settings.presets.items
        if preset.max_tokens is not None and preset.max_tokens > settings.max_tokens
    ]


def _presets_file(raw: str) -> Presets:
    """A presets file (see coda/config/presets.toml), read and checked whole at start."""
    return load_presets(Path(raw))


def _otlp_traces_endpoint(reader: Reader) -> str:
    """OpenTelemetry's own variables: the traces URL itself, else the base URL + `/v1/traces`."""
    traces = reader.read("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", parse.base_url, "")
    base = reader.read("OTEL_EXPORTER_OTLP_ENDPOINT", parse.base_url, "")
    return traces or (base + OTLP_TRACES_PATH if base else "")


# --- Who may chat, and how much ---------------------------------------------------------------


def _with_access(settings: Settings, reader: Reader) -> Settings:
    """`settings` with the sign-in and limit variables, read apart so they read as one group."""
    return replace(
        settings,
        auth=reader.read("CODA_AUTH", parse.choice(AUTH_MODES), "none"),
        iap_audience=reader.read("CODA_IAP_AUDIENCE", parse.iap_audience, ""),
        iap_keys_url=reader.read("CODA_IAP_KEYS_URL", parse.keys_url, settings.iap_keys_url),
        proxy_user_header=reader.read(
            "CODA_PROXY_USER_HEADER", parse.header_name, settings.proxy_user_header
        ),
        trusted_proxies=reader.read(
            "CODA_TRUSTED_PROXIES", parse.networks, settings.trusted_proxies
        ),
        sign_out_url=reader.read("CODA_SIGN_OUT_URL", parse.link, ""),
        limits_storage=reader.read("CODA_LIMITS_STORAGE", parse.storage_url, "memory://"),
        answers_per_minute=reader.read("CODA_ANSWERS_PER_MINUTE", parse.integer(0, 10_000), 0),
        answers_per_day=reader.read("CODA_ANSWERS_PER_DAY", parse.integer(0, 1_000_000), 0),
        streams_per_user=reader.read("CODA_STREAMS_PER_USER", parse.integer(0, 1000), 0),
        streams_per_instance=reader.read("CODA_STREAMS_PER_INSTANCE", parse.integer(0, 10_000), 0),
        tokens_per_day=reader.read("CODA_TOKENS_PER_DAY", parse.integer(0, 10**9), 0),
    )


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
