"""Settings come from the environment only, and a bad value stops start-up with a clear reason."""

from __future__ import annotations

import pytest

from coda.config import DEFAULT_MODEL, Settings, SettingsError


def test_defaults_run_locally_against_tinyswallow() -> None:
    settings = Settings.from_env({})

    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert settings.model == DEFAULT_MODEL == "tinyswallow:1.5b"
    assert settings.port == 8080
    assert settings.log_format == "json"
    assert settings.seed is None


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "CODA_PROVIDER": "openai",
            "OLLAMA_HOST": "http://ollama:11434",
            "CODA_OPENAI_BASE_URL": "https://vllm-abc.a.run.app/v1/",
            "CODA_OPENAI_API_KEY": "sk-local",
            "CODA_SERVER_AUTH": "id-token",
            "CODA_SERVER_AUDIENCE": "https://audience.example",
            "CODA_MODEL": "other:1b",
            "CODA_MODELS": "other:1b,second:2b",
            "CODA_SYSTEM_PROMPT": "short answers",
            "CODA_CONNECT_TIMEOUT": "2.5",
            "CODA_FIRST_TOKEN_TIMEOUT": "30",
            "CODA_TOTAL_TIMEOUT": "90",
            "CODA_RETRY_ATTEMPTS": "5",
            "CODA_RETRY_MAX_SECONDS": "7",
            "CODA_TEMPERATURE": "0",
            "CODA_TOP_P": "0.5",
            "CODA_TOP_K": "10",
            "CODA_MAX_TOKENS": "256",
            "CODA_CONTEXT_LENGTH": "4096",
            "CODA_SEED": "7",
            "CODA_MAX_MESSAGE_CHARS": "100",
            "CODA_MAX_HISTORY_MESSAGES": "6",
            "CODA_MAX_HISTORY_CHARS": "1000",
            "CODA_MAX_BODY_BYTES": "2048",
            "CODA_DEFAULT_LANGUAGE": "en",
            "CODA_MODEL_NOTICE": "small test model",
            "CODA_HEARTBEAT_SECONDS": "2",
            "CODA_LOADING_NOTICE_SECONDS": "1.5",
            "CODA_WARMUP": "yes",
            "CODA_SECRET_KEY": "s3cret",
            "CODA_SECURE_COOKIES": "true",
            "CODA_FORWARDED_HOPS": "1",
            "CODA_LOG_LEVEL": "debug",
            "CODA_LOG_FORMAT": "TEXT",
            "PORT": "9000",
        }
    )

    assert settings == Settings(
        provider="openai",
        ollama_host="http://ollama:11434",
        openai_base_url="https://vllm-abc.a.run.app/v1",
        openai_api_key="sk-local",
        server_auth="id-token",
        server_audience="https://audience.example",
        model="other:1b",
        models=("other:1b", "second:2b"),
        system_prompt="short answers",
        connect_timeout=2.5,
        first_token_timeout=30,
        total_timeout=90,
        retry_attempts=5,
        retry_max_seconds=7,
        temperature=0,
        top_p=0.5,
        top_k=10,
        max_tokens=256,
        context_length=4096,
        seed=7,
        max_message_chars=100,
        max_history_messages=6,
        max_history_chars=1000,
        max_body_bytes=2048,
        default_language="en",
        model_notice="small test model",
        heartbeat_seconds=2,
        loading_notice_seconds=1.5,
        warmup=True,
        secret_key="s3cret",
        secure_cookies=True,
        forwarded_hops=1,
        log_level="DEBUG",
        log_format="text",
        port=9000,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("ollama", "http://ollama:11434"),
        ("https://ollama-abc.a.run.app", "https://ollama-abc.a.run.app"),
        ("http://localhost:11434/", "http://localhost:11434"),
    ],
)
def test_ollama_host_accepts_what_the_ollama_cli_accepts(raw: str, expected: str) -> None:
    assert Settings.from_env({"OLLAMA_HOST": raw}).ollama_host == expected


@pytest.mark.parametrize(
    ("name", "raw", "accepted"),
    [
        ("CODA_TEMPERATURE", "hot", "a number from 0 to 2"),
        ("CODA_TEMPERATURE", "3", "a number from 0 to 2"),
        ("CODA_RETRY_ATTEMPTS", "1.5", "a whole number from 1 to 10"),
        ("PORT", "70000", "a whole number from 1 to 65535"),
        ("CODA_LOG_FORMAT", "xml", "one of json, text"),
        ("CODA_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR"),
        ("OLLAMA_HOST", "ftp://x", "an http:// or https:// URL, or host:port"),
        ("CODA_SERVER_AUTH", "basic", "one of none, id-token"),
        ("CODA_PROVIDER", "vllm", "one of ollama, openai"),
        ("CODA_DEFAULT_LANGUAGE", "fr", "one of ja, en"),
        ("CODA_WARMUP", "maybe", "true or false"),
        ("CODA_MAX_BODY_BYTES", "10", "a whole number from 1024 to 67108864"),
    ],
)
def test_bad_value_names_the_variable_and_the_accepted_values(
    name: str, raw: str, accepted: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: raw})

    (problem,) = caught.value.problems
    assert problem.startswith(f"{name}: expected {accepted}")
    assert repr(raw) in problem


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CODA_TOP_K": "0", "CODA_SEED": "-1", "CODA_MAX_TOKENS": "x"})

    assert [p.split(":")[0] for p in caught.value.problems] == [
        "CODA_TOP_K",
        "CODA_MAX_TOKENS",
        "CODA_SEED",
    ]


def test_answer_budget_must_leave_room_in_the_context() -> None:
    with pytest.raises(SettingsError, match="CODA_MAX_TOKENS must be smaller"):
        Settings.from_env({"CODA_MAX_TOKENS": "4096", "CODA_CONTEXT_LENGTH": "4096"})


def test_blank_values_mean_the_default() -> None:
    assert Settings.from_env({"CODA_SEED": "", "CODA_MODEL": "  "}) == Settings()


@pytest.mark.parametrize(
    ("env", "audience"),
    [
        ({"OLLAMA_HOST": "https://ollama-abc.a.run.app"}, "https://ollama-abc.a.run.app"),
        (
            {"CODA_PROVIDER": "openai", "CODA_OPENAI_BASE_URL": "https://vllm-abc.a.run.app/v1"},
            "https://vllm-abc.a.run.app",
        ),
    ],
)
def test_token_audience_defaults_to_the_servers_origin(env: dict[str, str], audience: str) -> None:
    settings = Settings.from_env({**env, "CODA_SERVER_AUTH": "id-token"})

    assert settings.server_auth == "id-token"
    assert settings.server_token_audience == audience


def test_the_former_names_of_the_auth_variables_still_work() -> None:
    settings = Settings.from_env(
        {
            "OLLAMA_HOST": "https://ollama-abc.a.run.app",
            "CODA_OLLAMA_AUTH": "id-token",
            "CODA_OLLAMA_AUDIENCE": "https://audience.example",
        }
    )

    assert (settings.server_auth, settings.server_token_audience) == (
        "id-token",
        "https://audience.example",
    )


def test_a_former_name_that_disagrees_with_the_new_one_is_refused() -> None:
    with pytest.raises(SettingsError, match="CODA_SERVER_AUTH and CODA_OLLAMA_AUTH, its former"):
        Settings.from_env({"CODA_SERVER_AUTH": "none", "CODA_OLLAMA_AUTH": "id-token"})


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"CODA_SERVER_AUTH": "id-token"},
            "CODA_SERVER_AUTH=id-token needs an https:// OLLAMA_HOST",
        ),
        (
            {
                "CODA_PROVIDER": "openai",
                "CODA_OPENAI_BASE_URL": "http://vllm:8000/v1",
                "CODA_SERVER_AUTH": "id-token",
            },
            "CODA_SERVER_AUTH=id-token needs an https:// CODA_OPENAI_BASE_URL",
        ),
        ({"CODA_PROVIDER": "openai"}, "CODA_OPENAI_BASE_URL is required with CODA_PROVIDER=openai"),
        (
            {"CODA_OPENAI_BASE_URL": "http://vllm:8000/v1"},
            "CODA_OPENAI_BASE_URL only apply with CODA_PROVIDER=openai",
        ),
        (
            {"CODA_PROVIDER": "openai", "CODA_OPENAI_BASE_URL": "vllm:8000"},
            "CODA_OPENAI_BASE_URL: expected an http:// or https:// URL",
        ),
    ],
)
def test_a_bad_combination_stops_start_up_naming_the_variable(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)

    (problem,) = caught.value.problems
    assert problem.startswith(says)


def test_the_api_key_never_shows_in_a_message_or_a_repr() -> None:
    key = "sk-very-secret-value"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CODA_OPENAI_API_KEY": key, "CODA_TEMPERATURE": "hot"})

    assert "CODA_OPENAI_API_KEY only apply with CODA_PROVIDER=openai" in str(caught.value)
    assert key not in str(caught.value)
    settings = Settings.from_env(
        {
            "CODA_PROVIDER": "openai",
            "CODA_OPENAI_BASE_URL": "http://vllm:8000/v1",
            "CODA_OPENAI_API_KEY": key,
        }
    )
    assert settings.openai_api_key == key
    assert key not in repr(settings)


def test_web_defaults_are_japanese_without_warmup() -> None:
    settings = Settings.from_env({})

    assert settings.provider == "ollama"
    assert settings.server_auth == "none"
    assert settings.default_language == "ja"
    assert settings.warmup is False
    assert settings.secret_key == ""
    assert settings.model_notice == ""


def test_the_allowed_models_are_the_configured_one_unless_listed() -> None:
    assert Settings.from_env({"CODA_MODEL": "a:1"}).allowed_models == ("a:1",)
    listed = Settings.from_env({"CODA_MODEL": "a:1", "CODA_MODELS": " b:2, a:1 ,, b:2 "})
    assert listed.allowed_models == ("b:2", "a:1")


def test_the_allowed_models_must_include_the_default() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CODA_MODEL": "a:1", "CODA_MODELS": "b:2,c:3"})

    (problem,) = caught.value.problems
    assert problem.startswith("CODA_MODELS must include CODA_MODEL ('a:1')")


@pytest.mark.parametrize(("name", "raw"), [("CODA_MODEL", "two words"), ("CODA_MODELS", "a:1,b 2")])
def test_a_model_name_is_one_word(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: raw})

    assert caught.value.problems[0].startswith(f"{name}: expected a model name without spaces")


# --- Telemetry -----------------------------------------------------------------------------------


def test_metrics_are_on_and_traces_off_by_default() -> None:
    settings = Settings.from_env({})

    assert settings.metrics is True
    assert settings.metrics_port == 9464
    assert settings.otlp_traces_endpoint == ""
    assert settings.trace_content is False


def test_telemetry_variables_are_read_with_opentelemetrys_own_names() -> None:
    settings = Settings.from_env(
        {
            "CODA_METRICS": "off",
            "CODA_METRICS_PORT": "9100",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://cloud.langfuse.com/api/public/otel/",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20cGs6c2s=,x-tenant=a",
            "OTEL_SERVICE_NAME": "coda-staging",
            "CODA_TRACE_CONTENT": "true",
        }
    )

    assert settings.metrics is False
    assert settings.metrics_port == 9100
    # The base URL gets the traces path, as OpenTelemetry's exporters add it.
    assert settings.otlp_traces_endpoint == "https://cloud.langfuse.com/api/public/otel/v1/traces"
    assert settings.otlp_headers == (("Authorization", "Basic cGs6c2s="), ("x-tenant", "a"))
    assert settings.service_name == "coda-staging"
    assert settings.trace_content is True
    assert "cGs6c2s" not in repr(settings)


def test_the_traces_endpoint_is_taken_as_it_is_and_wins_over_the_base() -> None:
    settings = Settings.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces",
        }
    )

    assert settings.otlp_traces_endpoint == "http://jaeger:4318/v1/traces"


def test_metrics_may_not_share_the_public_port() -> None:
    with pytest.raises(SettingsError, match="CODA_METRICS_PORT must differ from PORT"):
        Settings.from_env({"PORT": "9464"})
    assert Settings.from_env({"PORT": "9464", "CODA_METRICS": "false"}).port == 9464


def test_a_malformed_header_list_is_refused_without_repeating_it() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"OTEL_EXPORTER_OTLP_HEADERS": "Bearer sk-very-secret"})

    assert "OTEL_EXPORTER_OTLP_HEADERS" in str(caught.value)
    assert "sk-very-secret" not in str(caught.value)


def test_passages_must_leave_the_question_room_in_the_window() -> None:
    with pytest.raises(SettingsError, match=r"CODA_KNOWLEDGE_TOKENS \(8000\) must be smaller"):
        Settings.from_env(
            {
                "CODA_KNOWLEDGE_INDEX": "/srv/k.sqlite",
                "CODA_EMBEDDING_MODEL": "embed:1",
                "CODA_KNOWLEDGE_TOKENS": "8000",
            }
        )
