"""The one place coda reads its configuration from: environment variables, validated at start.

Each field of `Settings` is one `setting(...)`: its variable, how the text is read (the parser holds
the range), the default, its group and its help. `from_env` reads them all with one generic reader,
then checks the combinations no single variable can (`_problems`). To add a setting, add a field
here, a line to `.env.example` and a row to the README's table (a unit test holds the three to one
another), then use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from coda.config import env_values as parse
from coda.config import ranges
from coda.config.combinations import combination_problems
from coda.config.declared import Group, read_declared, setting, setting_made
from coda.config.errors import SettingsError
from coda.config.presets import Presets, load_presets, shipped_presets
from coda.config.providers import PROVIDERS
from coda.config.vocabulary import LANGUAGES

T = TypeVar("T")

DEFAULT_MODEL = "tinyswallow:1.5b"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_SYSTEM_PROMPT = (
    "あなたは誠実で親切な日本語アシスタントです。"
    "質問には正確かつ簡潔に、丁寧な日本語で答えてください。"
    "分からないことは分からないと伝えてください。"
)
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SERVER_AUTH_MODES = ("none", "id-token")
# Who may chat: nobody checked, IAP's signed assertion, or a sign-in proxy's user header.
AUTH_MODES = ("none", "iap", "proxy")
IAP_KEYS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"
IAP_SIGN_OUT = "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"  # answered by IAP, never reaches coda
DEFAULT_METRICS_PORT = 9464  # what OpenTelemetry's Prometheus exporter listens on by default
OTLP_TRACES_PATH = "/v1/traces"


SERVER, TIMING, GENERATION, PROMPT = Group.SERVER, Group.TIMING, Group.GENERATION, Group.PROMPT
PAGE, SERVING, ACCESS, TELEMETRY = Group.PAGE, Group.SERVING, Group.ACCESS, Group.TELEMETRY


def _otlp_base(raw: str) -> str:
    """OpenTelemetry's base URL: the traces URL is it + `/v1/traces`."""
    return parse.base_url(raw) + OTLP_TRACES_PATH


def _presets_file(raw: str) -> Presets:
    """A presets file (see coda/config/presets.toml), read and checked whole at start."""
    return load_presets(Path(raw))


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything coda can be told from outside; built once by the composition root.

    Each field: `setting(variable, parser (with its range), default, group, help)`, written as a
    table, one setting to a paragraph.
    """

    # fmt: off
    # --- Where the model runs ---
    provider: str = setting(
        "CODA_PROVIDER", parse.choice(tuple(PROVIDERS)), "ollama", SERVER,
        "the API the model server speaks: Ollama's own, or OpenAI's (vLLM, llama.cpp, /v1)")
    ollama_host: str = setting(
        "OLLAMA_HOST", parse.url, DEFAULT_OLLAMA_HOST, SERVER,
        "Ollama's URL")
    openai_base_url: str = setting(
        "CODA_OPENAI_BASE_URL", parse.base_url, "", SERVER,
        "an OpenAI-compatible server's URL, `/v1` included; required with that provider")
    openai_api_key: str = setting(
        "CODA_OPENAI_API_KEY", parse.nonempty, "", SERVER,
        "the bearer token of an OpenAI-compatible server: in no repr, log or message", secret=True)
    openai_stream_usage: bool = setting(
        "CODA_OPENAI_STREAM_USAGE", parse.boolean, True, SERVER,
        "ask an OpenAI-compatible server for usage (stream_options); off where it mishandles it")
    server_auth: str = setting(
        "CODA_SERVER_AUTH", parse.choice(SERVER_AUTH_MODES), "none", SERVER,
        "`id-token`: a Google ID token on each call (a private Cloud Run model server)",
        formerly="CODA_OLLAMA_AUTH")
    server_audience: str = setting(
        "CODA_SERVER_AUDIENCE", parse.nonempty, "", SERVER,
        "the ID token's audience; empty: the server's origin, what Cloud Run expects",
        formerly="CODA_OLLAMA_AUDIENCE")
    model: str = setting(
        "CODA_MODEL", parse.model_name, DEFAULT_MODEL, SERVER,
        "the model every conversation starts with, as the server names it")
    models: tuple[str, ...] = setting(
        "CODA_MODELS", parse.model_names, (), SERVER,
        "the models users may choose in the page; empty: just `model`, which it must hold")
    no_thinking_models: tuple[str, ...] = setting(
        "CODA_NO_THINKING_MODELS", parse.model_names, (), SERVER,
        "thinking models asked to answer without reasoning first (Ollama's think: false)")
    system_prompt: str = setting(
        "CODA_SYSTEM_PROMPT", parse.nonempty, DEFAULT_SYSTEM_PROMPT, SERVER,
        "the system prompt, the server's own (a preset may have its own)")

    # --- Time limits (seconds) and retries ---
    connect_timeout: float = setting(
        "CODA_CONNECT_TIMEOUT", parse.number(0.1, 300), 5.0, TIMING,
        "seconds to connect to the model server")
    first_token_timeout: float = setting(
        "CODA_FIRST_TOKEN_TIMEOUT", parse.number(1, 3600), 120.0, TIMING,
        "seconds of silence allowed, loading the model included")
    total_timeout: float = setting(
        "CODA_TOTAL_TIMEOUT", parse.number(1, 3600), 300.0, TIMING,
        "seconds one answer may take in all")
    retry_attempts: int = setting(
        "CODA_RETRY_ATTEMPTS", parse.integer(1, 10), 3, TIMING,
        "tries while the server is unreachable or busy, before the first token only")
    retry_max_seconds: float = setting(
        "CODA_RETRY_MAX_SECONDS", parse.number(0, 300), 10.0, TIMING,
        "the time budget of those retries")

    # --- Generation defaults (the fields of `GenerationOptions`) ---
    temperature: float = setting(
        "CODA_TEMPERATURE", parse.number_in(ranges.TEMPERATURE), 0.7, GENERATION,
        "sampling temperature; a preset's, or the user's, replaces it")
    top_p: float = setting(
        "CODA_TOP_P", parse.number_in(ranges.TOP_P), 0.8, GENERATION,
        "nucleus sampling")
    top_k: int = setting(
        "CODA_TOP_K", parse.integer_in(ranges.TOP_K), 20, GENERATION,
        "top-k sampling")
    max_tokens: int = setting(
        "CODA_MAX_TOKENS", parse.integer_in(ranges.ANSWER_TOKENS), 1024, GENERATION,
        "the longest answer, in tokens; users may choose a shorter one")
    context_length: int = setting(
        "CODA_CONTEXT_LENGTH", parse.integer_in(ranges.CONTEXT_LENGTH), 8192, GENERATION,
        "the context window; equal to the Modelfile's num_ctx")
    seed: int | None = setting(
        "CODA_SEED", parse.optional(parse.integer_in(ranges.SEED)), None, GENERATION,
        "a fixed seed for repeatable answers; empty: random")

    # --- Input limits (with the two above, the fields of `PromptLimits`) ---
    max_message_chars: int = setting(
        "CODA_MAX_MESSAGE_CHARS", parse.integer(1, 100_000), 4000, PROMPT,
        "the longest message a user may send")
    max_history_messages: int = setting(
        "CODA_MAX_HISTORY_MESSAGES", parse.integer(0, 1000), 40, PROMPT,
        "most earlier messages sent back to the model")
    max_history_chars: int = setting(
        "CODA_MAX_HISTORY_CHARS", parse.integer(0, 1_000_000), 32000, PROMPT,
        "most characters of earlier messages sent back")
    max_body_bytes: int = setting(
        "CODA_MAX_BODY_BYTES", parse.integer(1024, 64 * 1_048_576), 1_048_576, PROMPT,
        "the largest request body; a larger one gets 413 and a message")

    # --- The chat page ---
    default_language: str = setting(
        "CODA_DEFAULT_LANGUAGE", parse.choice(LANGUAGES), LANGUAGES[0], PAGE,
        "the page's language for visitors whose browser prefers none of ours")
    model_notice: str = setting(
        "CODA_MODEL_NOTICE", parse.nonempty, "", PAGE,
        "extra text in the page footer beside the model name")
    heartbeat_seconds: float = setting(
        "CODA_HEARTBEAT_SECONDS", parse.number(0.5, 60), 5.0, PAGE,
        "silence from the model before a heartbeat event goes down the stream; the page calls"
        " a stream silent for 3 of these a lost connection")
    live_format_ms: int = setting(
        "CODA_LIVE_FORMAT_MS", parse.integer(0, 5000), 100, PAGE,
        "ms between formattings of a streaming answer (stretched past 25 streams); 0: raw text")
    loading_notice_seconds: float = setting(
        "CODA_LOADING_NOTICE_SECONDS", parse.number(0, 60), 2.0, PAGE,
        "wait for a first token before the bubble says the model is loading")
    warmup: bool = setting(
        "CODA_WARMUP", parse.boolean, False, PAGE,
        "load the model in the background at start")
    secure_cookies: bool = setting(
        "CODA_SECURE_COOKIES", parse.boolean, False, PAGE,
        "only over HTTPS (Cloud Run): the cookie never travels in clear text")
    forwarded_hops: int = setting(
        "CODA_FORWARDED_HOPS", parse.integer(0, 5), 0, PAGE,
        "proxies in front that append to X-Forwarded-For (Cloud Run: 1); 0 believes none")
    secret_key: str = setting(
        "CODA_SECRET_KEY", parse.nonempty, "", PAGE,
        "signs the session cookie with the CSRF token; empty: random, this process only",
        secret=True)

    # --- Logging and serving ---
    log_level: str = setting(
        "CODA_LOG_LEVEL", parse.choice(LOG_LEVELS, upper=True), "INFO", SERVING,
        "the least a log line must matter")
    log_format: str = setting(
        "CODA_LOG_FORMAT", parse.choice(LOG_FORMATS), "json", SERVING,
        "one JSON object per line (Cloud Logging), or text")
    port: int = setting(
        "PORT", parse.integer(1, 65535), 8080, SERVING,
        "the public port")
    concurrency: int = setting(
        "CODA_CONCURRENCY", parse.integer(1, 10_000), 250, SERVING,
        "requests one worker serves at once, streams included; sizes the connection pool")
    shutdown_grace_seconds: float = setting(
        "CODA_SHUTDOWN_GRACE_SECONDS", parse.number(0, 6), 3.0, SERVING,
        "on SIGTERM, how long open answers may run before they end with 'restarting'")
    body_timeout_seconds: float = setting(
        "CODA_BODY_TIMEOUT_SECONDS", parse.number(1, 300), 10.0, SERVING,
        "a request body must arrive whole within this long, else 408 and the connection closes")
    probe_port: int = setting(
        "CODA_PROBE_PORT", parse.integer(0, 65535), 0, SERVING,
        "a 127.0.0.1 listener serving only /healthz and /readyz, with its own slots; 0: none")
    blocking_report_ms: int = setting(
        "CODA_BLOCKING_REPORT_MS", parse.integer(0, 60_000), 0, SERVING,
        "log and count a request holding the event loop longer than this; 0: off")

    # --- Who may chat, and how much ---
    auth: str = setting(
        "CODA_AUTH", parse.choice(AUTH_MODES), "none", ACCESS,
        "none: anyone; iap: IAP's signed assertion; proxy: a sign-in proxy's user header")
    iap_audience: str = setting(
        "CODA_IAP_AUDIENCE", parse.iap_audience, "", ACCESS,
        "the audience IAP signs for; required with iap")
    iap_keys_url: str = setting(
        "CODA_IAP_KEYS_URL", parse.keys_url, IAP_KEYS_URL, ACCESS,
        "IAP's public keys (a JWK set)")
    proxy_user_header: str = setting(
        "CODA_PROXY_USER_HEADER", parse.header_name, "X-Forwarded-Email", ACCESS,
        "with proxy: the header holding the user's e-mail")
    trusted_proxies: tuple[str, ...] = setting(
        "CODA_TRUSTED_PROXIES", parse.networks, (), ACCESS,
        "with proxy, required: the networks whose user header is believed")
    sign_out_url: str = setting(
        "CODA_SIGN_OUT_URL", parse.link, "", ACCESS,
        "where 'Sign out' goes; empty: IAP's own sign-out with iap, no link otherwise")
    limits_storage: str = setting(
        "CODA_LIMITS_STORAGE", parse.storage_url, "memory://", ACCESS,
        "memory:// counts in this process; redis://host:port shares the counts")
    # The limits (the fields of `Quotas`); 0 is none. Per user (or client address without
    # sign-in), except `streams_per_instance`.
    answers_per_minute: int = setting(
        "CODA_ANSWERS_PER_MINUTE", parse.integer(0, 10_000), 0, ACCESS,
        "answers one user may start in any 60 s")
    answers_per_day: int = setting(
        "CODA_ANSWERS_PER_DAY", parse.integer(0, 1_000_000), 0, ACCESS,
        "answers one user may start in any 24 h")
    tokens_per_day: int = setting(
        "CODA_TOKENS_PER_DAY", parse.integer(0, 10**9), 0, ACCESS,
        "prompt and answer tokens one user may spend in a day")
    streams_per_user: int = setting(
        "CODA_STREAMS_PER_USER", parse.integer(0, 1000), 0, ACCESS,
        "answers one user may have streaming at once")
    streams_per_instance: int = setting(
        "CODA_STREAMS_PER_INSTANCE", parse.integer(0, 10_000), 0, ACCESS,
        "answers this process streams at once, whoever asks")

    # --- Telemetry (README "Telemetry") ---
    metrics: bool = setting(
        "CODA_METRICS", parse.boolean, True, TELEMETRY,
        "Prometheus metrics from the gunicorn master; off: no port, nothing recorded")
    metrics_port: int = setting(
        "CODA_METRICS_PORT", parse.integer(1, 65535), DEFAULT_METRICS_PORT, TELEMETRY,
        "the metrics' own port, never the public one")
    otlp_traces_endpoint: str = setting(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", parse.base_url, "", TELEMETRY,
        "where spans go (OTLP/HTTP), else the base URL + /v1/traces; empty: no tracing",
        fallback=("OTEL_EXPORTER_OTLP_ENDPOINT", _otlp_base))
    otlp_headers: tuple[tuple[str, str], ...] = setting(
        "OTEL_EXPORTER_OTLP_HEADERS", parse.headers, (), TELEMETRY,
        "headers sent with every export (a back end's key): in no repr, log or message",
        secret=True)
    service_name: str = setting(
        "OTEL_SERVICE_NAME", parse.nonempty, "coda-web", TELEMETRY,
        "the service name on every span")
    trace_content: bool = setting(
        "CODA_TRACE_CONTENT", parse.boolean, False, TELEMETRY,
        "prompt and answer text on the LLM span; off: traces often leave the company")

    # --- Knowledge base (README "Knowledge base") ---
    knowledge_index: str = setting(
        "CODA_KNOWLEDGE_INDEX", parse.nonempty, "", Group.KNOWLEDGE,
        "the index `python -m coda.knowledge index` wrote: its file (read-only), or a"
        " postgresql:// URL (pgvector; in no repr or message); empty: none", secret=True)
    embedding_model: str = setting(
        "CODA_EMBEDDING_MODEL", parse.model_name, "", Group.KNOWLEDGE,
        "the embedding model on the model server; must be the one the index was built with")
    embedding_query_prefix: str = setting(
        "CODA_EMBEDDING_QUERY_PREFIX", parse.nonempty, "", Group.KNOWLEDGE,
        "the model's own prefix before a question (E5: `query:`), a space added after it")
    embedding_passage_prefix: str = setting(
        "CODA_EMBEDDING_PASSAGE_PREFIX", parse.nonempty, "", Group.KNOWLEDGE,
        "the model's own prefix before a passage (E5: `passage:`), a space added after it")
    embedding_batch_size: int = setting(
        "CODA_EMBEDDING_BATCH_SIZE", parse.integer(1, 1024), 32, Group.KNOWLEDGE,
        "passages embedded per request while indexing")
    knowledge_top_k: int = setting(
        "CODA_KNOWLEDGE_TOP_K", parse.integer_in(ranges.KNOWLEDGE_TOP_K), 4, Group.KNOWLEDGE,
        "passages searched for each question of a knowledge preset; the best that fit are sent")
    knowledge_min_score: float = setting(
        "CODA_KNOWLEDGE_MIN_SCORE", parse.number_in(ranges.KNOWLEDGE_SCORE), 0.3,
        Group.KNOWLEDGE,
        "the cosine a passage must reach to be sent (model-dependent: E5 scores run high)")
    knowledge_tokens: int = setting(
        "CODA_KNOWLEDGE_TOKENS", parse.integer(0, int(ranges.CONTEXT_LENGTH.high)), 4096,
        Group.KNOWLEDGE,
        "passages' share of the context (coda's upper bound), taken before history; 0: none")
    knowledge_timeout_seconds: float = setting(
        "CODA_KNOWLEDGE_TIMEOUT_SECONDS", parse.number(0.1, 60), 5.0, Group.KNOWLEDGE,
        "how long a question's embedding may take; past it the answer goes on without passages")

    # --- Presets ---
    presets: Presets = setting_made(  # noqa: RUF009 - a field whose default is made when needed
        "CODA_PRESETS_FILE", _presets_file, shipped_presets, Group.PRESETS,
        "what users choose from in the page; empty: the shipped presets.toml")
    # fmt: on

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """What the page offers and the server accepts: `models`, else the one `model`."""
        return self.models or (self.model,)

    @property
    def server_url(self) -> str:
        """Where the model server is: `OLLAMA_HOST`, or the OpenAI-compatible base URL."""
        return str(getattr(self, PROVIDERS[self.provider].url_field))

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

    def build(self, kind: Callable[..., T], **given: Any) -> T:
        """A `kind` (a dataclass: `GenerationOptions`, `PromptLimits`, `Quotas`…) made of the
        settings of the same names; `given` names the fields settings spell otherwise. A field
        neither here nor given fails at start, not later."""
        names = {item.name for item in fields(kind)} - given.keys()  # type: ignore[arg-type]
        return kind(**given, **{name: getattr(self, name) for name in names})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable, reporting all bad ones at once."""
        values, reader = read_declared(cls, os.environ if environ is None else environ)
        settings = cls(**values)
        problems = reader.problems + combination_problems(settings, reader.failed)
        if problems:
            raise SettingsError(problems)
        return settings
