"""The sign-in and limit settings: each read, each checked, and the combinations that cannot be
meant stop start-up naming the variables."""

from __future__ import annotations

import pytest

from coda.config import Settings, SettingsError

IAP = {"CODA_AUTH": "iap", "CODA_IAP_AUDIENCE": "/projects/1/locations/us-central1/services/w"}


def problems(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_by_default_coda_is_open_and_unlimited() -> None:
    settings = Settings.from_env({})

    assert settings.auth == "none"
    assert settings.limits_storage == "memory://"
    assert settings.iap_keys_url == "https://www.gstatic.com/iap/verify/public_key-jwk"
    assert (
        settings.answers_per_minute,
        settings.answers_per_day,
        settings.streams_per_user,
        settings.streams_per_instance,
        settings.tokens_per_day,
    ) == (0, 0, 0, 0, 0)


def test_every_access_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "CODA_AUTH": "proxy",
            "CODA_PROXY_USER_HEADER": "X-Auth-Request-Email",
            "CODA_TRUSTED_PROXIES": "172.18.0.0/16, 10.0.0.7 ,::1",
            "CODA_LIMITS_STORAGE": "redis://redis:6379/0",
            "CODA_SECRET_KEY": "shared",
            "CODA_ANSWERS_PER_MINUTE": "5",
            "CODA_ANSWERS_PER_DAY": "100",
            "CODA_STREAMS_PER_USER": "2",
            "CODA_STREAMS_PER_INSTANCE": "8",
            "CODA_TOKENS_PER_DAY": "50000",
            "CODA_IAP_KEYS_URL": "http://127.0.0.1:9999/keys",
            "CODA_SIGN_OUT_URL": "/oauth2/sign_out",
        }
    )

    assert settings.auth == "proxy"
    assert settings.proxy_user_header == "X-Auth-Request-Email"
    assert settings.trusted_proxies == ("172.18.0.0/16", "10.0.0.7/32", "::1/128")
    assert settings.limits_storage == "redis://redis:6379/0"
    assert settings.answers_per_minute == 5
    assert settings.answers_per_day == 100
    assert settings.streams_per_user == 2
    assert settings.streams_per_instance == 8
    assert settings.tokens_per_day == 50000
    assert settings.iap_keys_url == "http://127.0.0.1:9999/keys"
    assert settings.sign_out_link == "/oauth2/sign_out"


def test_iap_mode_reads_its_audience() -> None:
    settings = Settings.from_env(IAP)

    assert settings.auth == "iap"
    assert settings.iap_audience == IAP["CODA_IAP_AUDIENCE"]
    # Without a sign-out URL of its own, the page signs out through IAP.
    assert settings.sign_out_link == "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"
    assert Settings.from_env({}).sign_out_link == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CODA_AUTH": "iap"}, "CODA_IAP_AUDIENCE"),
        ({"CODA_AUTH": "iap", "CODA_IAP_AUDIENCE": "https://coda-web.run.app"}, "/projects/"),
        ({"CODA_AUTH": "proxy"}, "CODA_TRUSTED_PROXIES"),
        ({"CODA_AUTH": "proxy", "CODA_TRUSTED_PROXIES": "the-proxy"}, "CODA_TRUSTED_PROXIES"),
        ({"CODA_TRUSTED_PROXIES": "10.0.0.0/8"}, "only applies with CODA_AUTH=proxy"),
        ({"CODA_IAP_AUDIENCE": IAP["CODA_IAP_AUDIENCE"]}, "only applies with CODA_AUTH=iap"),
        ({"CODA_AUTH": "oauth"}, "CODA_AUTH"),
        ({**IAP, "CODA_IAP_KEYS_URL": "http://keys.example/jwk"}, "CODA_IAP_KEYS_URL"),
        ({"CODA_LIMITS_STORAGE": "redis://redis:6379"}, "CODA_SECRET_KEY"),
        ({"CODA_LIMITS_STORAGE": "memcached://m:11211"}, "CODA_LIMITS_STORAGE"),
        ({"CODA_ANSWERS_PER_MINUTE": "-1"}, "CODA_ANSWERS_PER_MINUTE"),
        ({"CODA_STREAMS_PER_INSTANCE": "300"}, "CODA_CONCURRENCY"),
        ({"CODA_PROXY_USER_HEADER": "X Email"}, "CODA_PROXY_USER_HEADER"),
        ({"CODA_SIGN_OUT_URL": "/signout"}, "nobody is signed in"),
        ({**IAP, "CODA_SIGN_OUT_URL": "javascript:alert(1)"}, "CODA_SIGN_OUT_URL"),
        ({**IAP, "CODA_SIGN_OUT_URL": "//elsewhere.example/out"}, "CODA_SIGN_OUT_URL"),
        ({**IAP, "CODA_SIGN_OUT_URL": "http://sso.example/out"}, "CODA_SIGN_OUT_URL"),
    ],
)
def test_what_cannot_be_meant_stops_start_up_naming_it(env: dict[str, str], named: str) -> None:
    assert named in problems(env)


def test_a_bad_audience_is_reported_once_not_also_as_missing() -> None:
    text = problems({"CODA_AUTH": "iap", "CODA_IAP_AUDIENCE": "coda-web"})

    assert text.count("CODA_IAP_AUDIENCE") == 1
