"""Settings: every environment variable the line reads, validated at start-up by one pydantic model.

`Settings` (pydantic-settings) reads the variables of the README's table, and only them, from the
environment (never from a .env file); `load` turns them, with a test's overrides, into the
`app.config` keys the rest of the code reads (`OPERATOR_NUMBER`, `GATHER_TIMEOUT`, ...). A bad
value raises `SettingsError` naming the variable, which `create_app` turns into a refusal to start.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ivr import numbers

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """Settings the line cannot run with: one line per bad variable, each naming it and saying why."""


def _origin(raw: str) -> str:
    """A public web address (PUBLIC_BASE_URL, AUDIO_BASE_URL): http(s), a host and maybe a path
    (https://example.org/ivr), without its trailing slash; URLs are made by appending to it, so a
    query or a fragment is refused."""
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be a web address like https://ivr.example.org, not {raw!r}")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"must be a web address with no ? or #, like https://example.org/ivr, not {raw!r}")
    return url


def _script_name(raw: str) -> str:
    """SCRIPT_NAME, the path the WSGI server mounts the app at: '' or /a/path, no trailing slash."""
    path = raw.strip()
    if path and (not path.startswith("/") or path.endswith("/") or any(c in path for c in "?#")):
        raise ValueError(f"must be a path like /ivr (a leading /, no trailing /), not {raw!r}")
    return path


def _redis_url(url: SecretStr) -> SecretStr:
    # The value may hold a password: the message does not repeat it.
    if urlsplit(url.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// address")
    return url


def _account_sid(sid: str) -> str:
    if len(sid) != 34 or not sid.startswith("AC") or any(c not in "0123456789abcdefABCDEF" for c in sid[2:]):
        raise ValueError(f"must be an Account SID, AC and 32 hex digits, not {sid!r}")
    return sid


def _quiet_hours(raw: str) -> str:
    """IVR_CALLBACK_QUIET_HOURS: "HH:MM-HH:MM" where a call-back rings (the callee's time zone when
    their number has one, else the line's; it may span midnight: 21:00-08:00), or "off"; kept as
    given, spaces dropped."""
    value = raw.replace(" ", "")
    if value.lower() in ("off", "none", "0"):
        return "off"
    match = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])", value)
    if match is None or match[1] + match[2] == match[3] + match[4]:
        raise ValueError(f"must be a span of the day like 21:00-08:00, or off, not {raw!r}")
    return value


def _time_zone(raw: str) -> str:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"must be a time zone of the IANA database, like Asia/Kolkata, not {raw!r}"
        ) from None
    return name


PhoneNumber = Annotated[str, AfterValidator(numbers.phone_number)]
ShortCode = Annotated[str, AfterValidator(numbers.short_code)]
SmsSender = Annotated[str, AfterValidator(numbers.sms_sender)]
Origin = Annotated[str, AfterValidator(_origin)]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


LogFormat = Annotated[Literal["json", "text"], BeforeValidator(_lower)]


def _env(name: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the environment variable `name` (the README's name for it)."""
    return Field(default, validation_alias=name, **constraints)


class Settings(BaseSettings):
    """Every setting of the README's Environment variables table, by its variable's name.

    Each field's name, upper-cased, is its `app.config` key; unset or empty variables keep the
    default. Numbers are whole numbers (seconds, milliseconds, counts); booleans take 1/0, true/false,
    yes/no or on/off. Secrets are `SecretStr`, so that no repr or error message shows them.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,  # IVR_GATHER_TIMEOUT, never ivr_gather_timeout
        env_ignore_empty=True,  # VAR= means "not set", as it always has
        extra="ignore",  # the environment holds much more than the line's own variables
        frozen=True,
    )

    content_dir: str = _env("IVR_CONTENT_DIR", str(REPO_ROOT))
    default_language: str = _env("IVR_DEFAULT_LANGUAGE", "en")
    # Unset: create_app generates a local token (real Twilio requests then get 403).
    twilio_auth_token: SecretStr | None = _env("TWILIO_AUTH_TOKEN")
    twilio_webhook_keys: SecretStr = _env("TWILIO_WEBHOOK_KEYS", SecretStr(""))
    public_base_url: Origin | None = _env("PUBLIC_BASE_URL")
    # Read by gunicorn too (it serves only paths under it); the line checks it against PUBLIC_BASE_URL.
    script_name: Annotated[str, AfterValidator(_script_name)] = _env("SCRIPT_NAME", "")
    operator_number: PhoneNumber | None = _env("IVR_OPERATOR_NUMBER")
    # Said to callers ("call 112"), never dialled by the line: a short local code, not E.164.
    emergency_number: ShortCode = _env("IVR_EMERGENCY_NUMBER", "112")
    # The line's own phone number, as callers dial it (any format): shown on every web page when set.
    line_number: str | None = _env("IVR_LINE_NUMBER")
    emergency_transfer: PhoneNumber | None = _env("IVR_EMERGENCY_TRANSFER")
    # Texts go out through Twilio's REST API only when the SID, the token and the sender are set.
    twilio_account_sid: Annotated[str, AfterValidator(_account_sid)] | None = _env("TWILIO_ACCOUNT_SID")
    twilio_sms_from: SmsSender | None = _env("TWILIO_SMS_FROM")
    # Against SMS pumping (fraud that makes a line text numbers someone is paid for): texts per
    # caller and UTC day, and the country calling codes texts may go to (India's by default).
    sms_daily_limit: int = _env("IVR_SMS_DAILY_LIMIT", 3, ge=1)
    sms_country_codes: Annotated[str, AfterValidator(numbers.calling_codes)] = _env(
        "IVR_SMS_COUNTRY_CODES", "91"
    )
    # Missed-call mode (free call-back): the line's numbers whose incoming calls are rejected
    # (not billed to the caller) and called back; the country codes, time zone and quiet hours of
    # those call-backs, how long after the missed call, how many per number and day, and per hour.
    missed_call_numbers: Annotated[str, AfterValidator(numbers.phone_numbers)] = _env(
        "IVR_MISSED_CALL_NUMBERS", ""
    )
    callback_country_codes: Annotated[str, AfterValidator(numbers.calling_codes)] = _env(
        "IVR_CALLBACK_COUNTRY_CODES", "91"
    )
    callback_delay: int = _env("IVR_CALLBACK_DELAY", 20, ge=0, le=3600)
    callback_daily_limit: int = _env("IVR_CALLBACK_DAILY_LIMIT", 3, ge=1)
    # Call-backs the whole line queues an hour (every number, every worker and server: counted in
    # the database), against spoofed caller IDs making it call any number of people.
    callback_line_hourly_limit: int = _env("IVR_CALLBACK_LINE_HOURLY_LIMIT", 200, ge=1)
    callback_quiet_hours: Annotated[str, AfterValidator(_quiet_hours)] = _env(
        "IVR_CALLBACK_QUIET_HOURS", "21:00-08:00"
    )
    time_zone: Annotated[str, AfterValidator(_time_zone)] = _env("IVR_TIME_ZONE", "Asia/Kolkata")
    gather_timeout: int = _env("IVR_GATHER_TIMEOUT", 8, ge=1)
    # Seconds a transfer rings. Carriers' voicemail answers after about 20-25 s: ring no longer by
    # default (the whisper's "press 1" screens out a voicemail that answers anyway). Twilio's
    # <Dial timeout> takes 5 s at least; past a minute a caller is better offered a call back.
    dial_timeout: int = _env("IVR_DIAL_TIMEOUT", 20, ge=5, le=60)
    # The longest a caller is held in a queue before being offered a call back or a recorded question.
    queue_max_wait: int = _env("IVR_QUEUE_MAX_WAIT", 600, ge=30, le=3600)
    dev_skip_signature: bool = _env("IVR_DEV_SKIP_SIGNATURE", False)
    hash_salt: SecretStr | None = _env("IVR_HASH_SALT")
    # sqlite:///path or postgresql://…; unset: an SQLite file in the instance folder (checked by the store).
    database_url: SecretStr | None = _env("DATABASE_URL")
    # Off: don't migrate at start (e.g. before `flask db downgrade`); run `flask db upgrade` by hand.
    db_migrate_on_start: bool = _env("IVR_DB_MIGRATE_ON_START", True)
    # Pre-rendered audio: <Play> from here when set and rendered, else Twilio's <Say>.
    audio_base_url: Origin | None = _env("AUDIO_BASE_URL")
    audio_dir: str = _env("IVR_AUDIO_DIR", str(REPO_ROOT / "audio-cache"))
    tts_rate: int = _env("IVR_TTS_RATE", 150, ge=1)
    tts_voice: str | None = _env("IVR_TTS_VOICE")
    # Signs the staff dashboard's session cookie (and its CSRF tokens); unset: instance/secret-key.
    secret_key: SecretStr | None = _env("IVR_SECRET_KEY")
    session_cookie_secure: bool = _env("IVR_SESSION_COOKIE_SECURE", True)
    # Journey events are written in batches this often (0: each at once; tests: always at once).
    event_batch_ms: int = _env("IVR_EVENT_BATCH_MS", 50, ge=0)
    # json (one object per line) or text; tests leave logging to pytest.
    log_format: LogFormat = _env("LOG_FORMAT", "json")
    # Shared rate-limit and login counts across gunicorn workers; unset: per worker / database.
    redis_url: Annotated[SecretStr, AfterValidator(_redis_url)] | None = _env("REDIS_URL")
    ratelimit_enabled: bool = _env("IVR_RATELIMIT", True)
    # A caller makes about one request every few seconds; these allow far more.
    ratelimit_caller_burst: int = _env("IVR_RATELIMIT_CALLER_BURST", 30, ge=1)
    ratelimit_caller_per_minute: int = _env("IVR_RATELIMIT_CALLER_PER_MINUTE", 60, ge=1)
    # Twilio's requests for every call come from a few addresses: per IP, allow a busy line.
    ratelimit_ip_burst: int = _env("IVR_RATELIMIT_IP_BURST", 1000, ge=1)
    ratelimit_ip_per_minute: int = _env("IVR_RATELIMIT_IP_PER_MINUTE", 12000, ge=1)
    # Behind N trusted reverse proxies, the client is the Nth address from the right of X-Forwarded-For.
    ratelimit_proxy_hops: int = _env("IVR_PROXY_HOPS", 0, ge=0)
    # Failed staff logins allowed per username and per client IP in a window, before a lockout
    # that lasts until the window (from the first failure) ends.
    login_max_failures_user: int = _env("IVR_LOGIN_MAX_FAILURES_USER", 5, ge=1)
    # A call centre's staff may share one public address: allow them a few typos each.
    login_max_failures_ip: int = _env("IVR_LOGIN_MAX_FAILURES_IP", 20, ge=1)
    login_window_s: int = _env("IVR_LOGIN_WINDOW_S", 15 * 60, ge=1)
    # Retention (README, Personal data), in days, enforced by `flask data purge` and said to callers:
    # a call back's number after it is done (one never done: this long after it was asked for);
    retain_callback_days: int = _env("IVR_RETAIN_CALLBACK_DAYS", 30, ge=1, le=3650)
    # a recorded question (its audio at Twilio, then its row), from when it was recorded;
    retain_recording_days: int = _env("IVR_RETAIN_RECORDING_DAYS", 90, ge=1, le=3650)
    # a consenting caller's language, speed and place, after their last call;
    retain_prefs_days: int = _env("IVR_RETAIN_PREFS_DAYS", 365, ge=1, le=3650)
    # a text's number (its whole outbox row), once it was sent or failed for good.
    retain_text_days: int = _env("IVR_RETAIN_TEXT_DAYS", 7, ge=1, le=3650)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides given to the constructor, then the environment; no .env file, no secrets dir."""
        return init_settings, env_settings

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        # An empty override means "not set", like an empty variable (env_ignore_empty).
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    def to_config(self) -> dict[str, Any]:
        """The `app.config` mapping: each field under its upper-cased name, secrets as plain text,
        plus what is derived from them (the REST client's token, the session cookie's settings)."""
        config: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            config[name.upper()] = value.get_secret_value() if isinstance(value, SecretStr) else value
        # Before create_app fills in a generated local token: texts never go out with that one.
        config["TWILIO_REST_TOKEN"] = config["TWILIO_AUTH_TOKEN"]
        config.update(_session_cookie(self.session_cookie_secure))
        return config


def _session_cookie(secure: bool) -> dict[str, Any]:
    """Session cookie settings: HTTPS-only unless turned off for plain-HTTP development."""
    return {
        # __Host- makes browsers refuse the cookie unless Secure, host-only and Path=/.
        "SESSION_COOKIE_NAME": "__Host-ivr-session" if secure else "ivr-session",
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
    }


# The app.config key of each setting -> the environment variable it is read from.
VARIABLES: dict[str, str] = {
    name.upper(): str(field.validation_alias) for name, field in Settings.model_fields.items()
}


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_holds_secret(arg) for arg in get_args(annotation))


# The variables whose values are never repeated in an error message.
_SECRET = frozenset(
    str(field.validation_alias) for field in Settings.model_fields.values() if _holds_secret(field.annotation)
)


def load(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The app's config: the environment's settings, validated, with `overrides` (a test_config).

    An override whose key is a setting's (`OPERATOR_NUMBER`) is validated like its variable; any
    other key (`TESTING`, `CLOCK`, `TWILIO_REST_TOKEN`) goes into the config as given. Raises
    SettingsError, with one line per bad variable.
    """
    given = dict(overrides or {})
    inputs = {VARIABLES[key]: given.pop(key) for key in list(given) if key in VARIABLES}
    try:
        settings = Settings(**inputs)
    except ValidationError as exc:
        raise SettingsError("\n".join(_problem(error) for error in exc.errors())) from None
    if problem := _mount_problem(settings.public_base_url, settings.script_name):
        raise SettingsError(problem)
    if settings.missed_call_numbers and not settings.public_base_url:
        raise SettingsError(
            "IVR_MISSED_CALL_NUMBERS needs PUBLIC_BASE_URL: Twilio fetches a call-back's call from there"
        )
    return {**settings.to_config(), **given}


def _mount_problem(public_base_url: str | None, script_name: str) -> str | None:
    """Why Twilio could not reach the line, when PUBLIC_BASE_URL's path cannot be where the app is
    mounted (SCRIPT_NAME): a proxy may take a leading part off the public path (/ivr/line/voice ->
    /line/voice) but never add one, so the public path must end with SCRIPT_NAME. Else the signature
    would be checked against the wrong URL (403) and every Gather would call back a path not served."""
    if not public_base_url or not script_name:
        return None
    parts = urlsplit(public_base_url)
    if parts.path.endswith(script_name):
        return None
    return (
        f"PUBLIC_BASE_URL must be the public address of the app, whose path ends with SCRIPT_NAME"
        f" {script_name!r} (e.g. {parts.scheme}://{parts.netloc}{script_name}), not {public_base_url!r}"
    )


def from_env() -> dict[str, Any]:
    """Every setting the line uses, from the environment alone, as `app.config` keys."""
    return load()


def _problem(error: ErrorDetails) -> str:
    """One bad setting as a line naming its variable: IVR_GATHER_TIMEOUT must be a whole number, not 'abc'."""
    name = str(error["loc"][0]) if error["loc"] else "settings"
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "value_error":  # our validators' messages say what was wrong, and with which value
        return f"{name} {ctx.get('error', error['msg'])}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        why = "must be a whole number"
    elif kind == "greater_than_equal":
        why = f"must be at least {ctx['ge']}"
    elif kind == "less_than_equal":
        why = f"must be at most {ctx['le']}"
    elif kind in ("bool_parsing", "bool_type"):
        why = "must be 1 or 0 (or true/false, yes/no, on/off)"
    elif kind == "literal_error":
        why = f"must be {ctx['expected']}"
    else:
        why = error["msg"]
    return f"{name} {why}" if name in _SECRET else f"{name} {why}, not {error['input']!r}"


def local_secret(instance_path: str, name: str) -> str:
    """A random secret kept in the instance folder (mode 0600), made on first use."""
    path = Path(instance_path) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then linked in, so that several workers starting at once agree.
        tmp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
