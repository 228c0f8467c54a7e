"""Settings (pydantic-settings) and the phone numbers in them (phonenumbers): the README's table is
the contract, a bad value refuses to start with a message naming its variable, numbers become E.164."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from ivr import config, services
from ivr.config import REPO_ROOT, VARIABLES, SettingsError
from ivr.factory import create_app
from ivr.numbers import phone_number, short_code, sms_sender
from tests.support.app import make_app

pytestmark = pytest.mark.integration

MESSAGING_SERVICE = "MG" + "0123456789abcdef" * 2


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of the line's set in the environment (the specialists' numbers neither), except
    DATABASE_URL: apps made by tests keep the throw-away database conftest gives them."""
    for name in [*VARIABLES.values(), "IVR_NEUROLOGIST_NUMBER", "IVR_SURGICAL_REFERRALS_NUMBER"]:
        if name != "DATABASE_URL":
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def refusal(**overrides: object) -> str:
    """The message create_app stops with (SystemExit), for the environment and these overrides (none
    of make_app's, which would hide the variables under test; secrets given, none made in instance/)."""
    secrets = {"TWILIO_AUTH_TOKEN": "t", "HASH_SALT": "s", "SECRET_KEY": "k"}
    with pytest.raises(SystemExit) as stopped:
        create_app({"TESTING": True, **secrets, **overrides})
    assert isinstance(stopped.value.code, str), stopped.value.code
    return stopped.value.code


# The README's table: every variable, every default.


def test_every_default_is_the_readmes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DATABASE_URL")
    cfg = config.from_env()
    assert {k: cfg[k] for k in ("GATHER_TIMEOUT", "DIAL_TIMEOUT", "EMERGENCY_NUMBER", "TTS_RATE")} == {
        "GATHER_TIMEOUT": 8,
        "DIAL_TIMEOUT": 20,
        "EMERGENCY_NUMBER": "112",
        "TTS_RATE": 150,
    }
    assert cfg["QUEUE_MAX_WAIT"] == 600
    assert (cfg["CALLBACK_DAILY_LIMIT"], cfg["CALLBACK_LINE_HOURLY_LIMIT"]) == (3, 200)
    assert (cfg["RATELIMIT_CALLER_BURST"], cfg["RATELIMIT_CALLER_PER_MINUTE"]) == (30, 60)
    assert (cfg["RATELIMIT_IP_BURST"], cfg["RATELIMIT_IP_PER_MINUTE"]) == (1000, 12000)
    assert (cfg["LOGIN_MAX_FAILURES_USER"], cfg["LOGIN_MAX_FAILURES_IP"], cfg["LOGIN_WINDOW_S"]) == (
        5,
        20,
        900,
    )
    assert (cfg["EVENT_BATCH_MS"], cfg["RATELIMIT_PROXY_HOPS"], cfg["LOG_FORMAT"]) == (50, 0, "json")
    assert cfg["RATELIMIT_ENABLED"] and cfg["DB_MIGRATE_ON_START"] and not cfg["DEV_SKIP_SIGNATURE"]
    assert cfg["CONTENT_DIR"] == str(REPO_ROOT) and cfg["DEFAULT_LANGUAGE"] == "en"
    assert cfg["AUDIO_DIR"] == str(REPO_ROOT / "audio-cache")
    unset = [
        *("TWILIO_AUTH_TOKEN", "TWILIO_REST_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_SMS_FROM", "HASH_SALT"),
        *("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OPERATOR_NUMBER", "EMERGENCY_TRANSFER"),
        *("LINE_NUMBER", "PUBLIC_BASE_URL", "AUDIO_BASE_URL", "TTS_VOICE"),
    ]
    assert {k: cfg[k] for k in unset} == dict.fromkeys(unset)
    assert cfg["TWILIO_WEBHOOK_KEYS"] == ""
    assert cfg["SESSION_COOKIE_NAME"] == "__Host-ivr-session" and cfg["SESSION_COOKIE_SECURE"]
    assert cfg["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)


def test_every_variable_of_the_readme_is_read() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme[readme.index("## Environment variables") :]
    for name in VARIABLES.values():
        assert f"`{name}`" in table, f"{name} is read but not in the README's table"


def test_variables_are_read_by_their_names_and_empty_means_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IVR_GATHER_TIMEOUT", " 12 ")
    clean_env.setenv("IVR_PROXY_HOPS", "2")
    clean_env.setenv("TWILIO_AUTH_TOKEN", "token-from-the-environment")
    clean_env.setenv("IVR_EMERGENCY_NUMBER", "")
    clean_env.setenv("PUBLIC_BASE_URL", "https://ivr.example.org/")
    clean_env.setenv("LOG_FORMAT", "TEXT")
    cfg = config.from_env()
    assert cfg["GATHER_TIMEOUT"] == 12 and cfg["RATELIMIT_PROXY_HOPS"] == 2 and cfg["LOG_FORMAT"] == "text"
    assert cfg["TWILIO_AUTH_TOKEN"] == cfg["TWILIO_REST_TOKEN"] == "token-from-the-environment"
    assert cfg["EMERGENCY_NUMBER"] == "112" and cfg["PUBLIC_BASE_URL"] == "https://ivr.example.org"


def test_unrelated_variables_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IVR_SOMETHING_NEW", "abc")  # another version's variable, or a typo
    clean_env.setenv("gather_timeout", "abc")  # names are case-sensitive: the line reads only its own
    clean_env.setenv("ivr_gather_timeout", "abc")
    clean_env.setenv("GATHER_TIMEOUT", "abc")  # an app.config key is not a variable
    assert config.from_env()["GATHER_TIMEOUT"] == 8


@pytest.mark.parametrize(
    ("value", "secure", "cookie"),
    [("0", False, "ivr-session"), ("false", False, "ivr-session"), ("1", True, "__Host-ivr-session")],
)
def test_booleans_take_one_and_zero_or_words(
    clean_env: pytest.MonkeyPatch, value: str, secure: bool, cookie: str
) -> None:
    clean_env.setenv("IVR_SESSION_COOKIE_SECURE", value)
    cfg = config.from_env()
    assert cfg["SESSION_COOKIE_SECURE"] is secure and cfg["SESSION_COOKIE_NAME"] == cookie


def test_no_dotenv_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("IVR_GATHER_TIMEOUT=99\nTWILIO_AUTH_TOKEN=from-a-file\n")
    clean_env.chdir(tmp_path)
    cfg = config.from_env()
    assert cfg["GATHER_TIMEOUT"] == 8 and cfg["TWILIO_AUTH_TOKEN"] is None, (
        "secrets only from the environment"
    )


# Bad values: the line refuses to start, naming the variable.


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IVR_GATHER_TIMEOUT", "abc", "IVR_GATHER_TIMEOUT must be a whole number, not 'abc'"),
        ("IVR_DIAL_TIMEOUT", "0", "IVR_DIAL_TIMEOUT must be at least 5, not '0'"),
        ("IVR_DIAL_TIMEOUT", "90", "IVR_DIAL_TIMEOUT must be at most 60, not '90'"),
        ("IVR_QUEUE_MAX_WAIT", "0", "IVR_QUEUE_MAX_WAIT must be at least 30, not '0'"),
        ("IVR_TTS_RATE", "1.5", "IVR_TTS_RATE must be a whole number, not '1.5'"),
        ("IVR_EVENT_BATCH_MS", "-1", "IVR_EVENT_BATCH_MS must be at least 0, not '-1'"),
        ("IVR_RATELIMIT_IP_BURST", "0", "IVR_RATELIMIT_IP_BURST must be at least 1"),
        ("IVR_DEV_SKIP_SIGNATURE", "sometimes", "IVR_DEV_SKIP_SIGNATURE must be 1 or 0"),
        ("IVR_RATELIMIT", "of", "IVR_RATELIMIT must be 1 or 0"),
        ("LOG_FORMAT", "yaml", "LOG_FORMAT must be 'json' or 'text', not 'yaml'"),
        ("PUBLIC_BASE_URL", "ivr.example.org", "PUBLIC_BASE_URL must be a web address"),
        ("AUDIO_BASE_URL", "ftp://audio.example.org", "AUDIO_BASE_URL must be a web address"),
        ("TWILIO_ACCOUNT_SID", "AC123", "TWILIO_ACCOUNT_SID must be an Account SID, AC and 32 hex digits"),
        ("IVR_SMS_DAILY_LIMIT", "0", "IVR_SMS_DAILY_LIMIT must be at least 1"),
        ("IVR_SMS_DAILY_LIMIT", "many", "IVR_SMS_DAILY_LIMIT must be a whole number"),
        ("IVR_SMS_COUNTRY_CODES", "999", "IVR_SMS_COUNTRY_CODES must be country calling codes"),
        ("IVR_SMS_COUNTRY_CODES", "India", "IVR_SMS_COUNTRY_CODES must be country calling codes"),
        ("IVR_MISSED_CALL_NUMBERS", "+911140001234, 12345", "IVR_MISSED_CALL_NUMBERS must be a phone number"),
        ("IVR_MISSED_CALL_NUMBERS", "+911140001234", "IVR_MISSED_CALL_NUMBERS needs PUBLIC_BASE_URL"),
        ("IVR_CALLBACK_COUNTRY_CODES", "999", "IVR_CALLBACK_COUNTRY_CODES must be country calling codes"),
        # Digits str.isdigit() takes that are not ASCII: refused, never read as another code.
        ("IVR_CALLBACK_COUNTRY_CODES", "٩١", "IVR_CALLBACK_COUNTRY_CODES must be country calling codes"),
        ("IVR_CALLBACK_COUNTRY_CODES", "91,¹", "IVR_CALLBACK_COUNTRY_CODES must be country calling codes"),
        ("IVR_SMS_COUNTRY_CODES", "９１", "IVR_SMS_COUNTRY_CODES must be country calling codes"),
        ("IVR_CALLBACK_DELAY", "-5", "IVR_CALLBACK_DELAY must be at least 0"),
        ("IVR_CALLBACK_DAILY_LIMIT", "0", "IVR_CALLBACK_DAILY_LIMIT must be at least 1"),
        ("IVR_CALLBACK_LINE_HOURLY_LIMIT", "0", "IVR_CALLBACK_LINE_HOURLY_LIMIT must be at least 1"),
        ("IVR_CALLBACK_QUIET_HOURS", "9pm-8am", "IVR_CALLBACK_QUIET_HOURS must be a span of the day"),
        ("IVR_CALLBACK_QUIET_HOURS", "08:00-08:00", "IVR_CALLBACK_QUIET_HOURS must be a span of the day"),
        ("IVR_TIME_ZONE", "India/Delhi", "IVR_TIME_ZONE must be a time zone of the IANA database"),
    ],
)
def test_a_bad_setting_refuses_to_start_naming_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_env.setenv(name, value)
    assert message in refusal()


def test_every_bad_setting_is_named_at_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IVR_GATHER_TIMEOUT", "abc")
    clean_env.setenv("IVR_OPERATOR_NUMBER", "12345")
    lines = refusal().splitlines()
    assert [line.split()[0] for line in lines] == ["IVR_OPERATOR_NUMBER", "IVR_GATHER_TIMEOUT"]


def test_a_refusal_never_repeats_a_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_URL", "http://ivr:hunter2@cache.example.org")
    message = refusal()
    assert message == "REDIS_URL must be a redis://, rediss:// or unix:// address"
    assert "hunter2" not in message


def test_overrides_are_validated_like_their_variables_and_win_over_them(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert "IVR_LOGIN_WINDOW_S must be at least 1, not 0" in refusal(LOGIN_WINDOW_S=0)
    clean_env.setenv("IVR_GATHER_TIMEOUT", "abc")
    app = make_app(GATHER_TIMEOUT=5, OPERATOR_NUMBER="+44 20 7946 0000", CLOCK=None)
    assert app.config["GATHER_TIMEOUT"] == 5 and app.config["OPERATOR_NUMBER"] == "+442079460000"
    assert "CLOCK" in app.config, "keys that are not settings go into the config as given"


def test_load_raises_settings_error_with_one_line_a_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        config.load({"GATHER_TIMEOUT": "soon", "EMERGENCY_NUMBER": "x"})
    assert str(caught.value).splitlines() == [
        "IVR_EMERGENCY_NUMBER must be a short number of 2 to 6 digits, like 112 or 108, not 'x'",
        "IVR_GATHER_TIMEOUT must be a whole number, not 'soon'",
    ]


# Phone numbers: valid, in international form, kept in E.164.


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+91 11 4000-1234", "+911140001234"),
        ("+44 (0)20 7946 0000", "+442079460000"),
        ("tel:+1-415-555-2671", "+14155552671"),
        ("+919876545678", "+919876545678"),
    ],
)
def test_numbers_are_made_e164(raw: str, e164: str) -> None:
    assert phone_number(raw) == e164


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("011 4000 1234", "it has no country code"),  # a national number: from which country?
        ("+91 123", "it is too short"),
        ("+91 98765 4567", "no such number exists"),  # the right length for India, but no such number
        ("+1 415 555 2671 ext. 12", "without an extension"),
        ("call the desk", "it is not a phone number"),
    ],
)
def test_what_is_not_a_number_says_why(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        phone_number(raw)


def test_missed_call_numbers_are_made_e164_and_quiet_hours_may_be_off() -> None:
    cfg = make_app(
        MISSED_CALL_NUMBERS=" +91 11 4000-1234, +91 22 4000 1234 ,",
        PUBLIC_BASE_URL="https://ivr.example.org",
        CALLBACK_QUIET_HOURS="off",
    ).config
    assert cfg["MISSED_CALL_NUMBERS"] == "+911140001234,+912240001234"
    assert cfg["CALLBACK_QUIET_HOURS"] == "off"


@pytest.mark.parametrize("key", ["OPERATOR_NUMBER", "EMERGENCY_TRANSFER", "TWILIO_SMS_FROM"])
def test_numbers_in_the_settings_are_made_e164(key: str) -> None:
    assert make_app(**{key: " +91 11 4000-1234 "}).config[key] == "+911140001234"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IVR_OPERATOR_NUMBER", "011 4000 1234"),
        ("IVR_OPERATOR_NUMBER", "+91 11 4000"),
        ("IVR_EMERGENCY_TRANSFER", "+91 98765 4567"),
        ("TWILIO_SMS_FROM", "+1 555"),
        ("TWILIO_SMS_FROM", "MG123"),
    ],
)
def test_a_bad_number_refuses_to_start_naming_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    message = refusal()
    assert message.startswith(f"{name} must be a phone number") and repr(value) in message, message


def test_the_line_dials_the_operator_in_e164() -> None:
    app = make_app(OPERATOR_NUMBER="+44 1234 567890", EMERGENCY_TRANSFER="+91 11 4000 1234")
    line = services.line(app)
    assert line.operator_number == "+441234567890" and line.emergency_transfer == "+911140001234"
    assert line.directory is not None and line.directory.numbers["helpdesk"] == "+441234567890"


@pytest.mark.parametrize("sender", [MESSAGING_SERVICE, "56789", "NMD Line"])
def test_an_sms_sender_that_is_not_a_number_is_kept(sender: str) -> None:
    assert sms_sender(sender) == sender


@pytest.mark.parametrize("sender", ["MG0123", "A sender name too long", "MG Line"])
def test_an_sms_sender_that_is_nothing_twilio_takes_is_refused(sender: str) -> None:
    with pytest.raises(ValueError, match="Messaging Service SID"):
        sms_sender(sender)


@pytest.mark.parametrize("code", ["112", "108", "999", "15", "10111"])
def test_the_emergency_number_is_a_short_code_not_e164(code: str) -> None:
    assert short_code(code) == code
    assert make_app(EMERGENCY_NUMBER=code).config["EMERGENCY_NUMBER"] == code


@pytest.mark.parametrize("code", ["+91112", "1 1 2", "11a", "1", "1234567"])
def test_an_emergency_number_that_is_not_a_short_code_refuses_to_start(code: str) -> None:
    message = refusal(EMERGENCY_NUMBER=code)
    assert (
        message
        == f"IVR_EMERGENCY_NUMBER must be a short number of 2 to 6 digits, like 112 or 108, not {code!r}"
    )


# The specialist directory's numbers, from the environment.


def test_specialists_numbers_are_made_e164(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IVR_SURGICAL_REFERRALS_NUMBER", "+91 11 4000 0002")
    app: Flask = make_app(DIRECTORY_ENV={"IVR_NEUROLOGIST_NUMBER": "+91-11-4000-0001"})
    directory = services.line(app).directory
    assert directory is not None
    assert directory.numbers["neurologist"] == "+911140000001"
    assert directory.numbers["surgical_referrals"] == "+911140000002"
    assert directory.numbers["helpdesk"] is None, "not set: 0 still reaches someone else"


def test_a_bad_specialist_number_refuses_to_start_naming_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IVR_SURGICAL_REFERRALS_NUMBER", "01140000002")
    message = refusal(DIRECTORY_ENV={"IVR_NEUROLOGIST_NUMBER": "+91 11 4000"})
    assert message.splitlines() == [
        "IVR_NEUROLOGIST_NUMBER (dialled for 'neurologist' in knowledge/specialists.yaml) must be a phone"
        " number in international form, + and the country code (like +911140001234), not '+91 11 4000':"
        " no such number exists in its country's numbering plan",
        "IVR_SURGICAL_REFERRALS_NUMBER (dialled for 'surgical_referrals' in knowledge/specialists.yaml)"
        " must be a phone number in international form, + and the country code (like +911140001234), not"
        " '01140000002': it has no country code, or an unknown one",
    ]
