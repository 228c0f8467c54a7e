"""Settings from the environment, with safe local defaults."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from exc


def from_env() -> dict[str, Any]:
    """Read every setting the line uses from environment variables."""
    return {
        "CONTENT_DIR": os.environ.get("IVR_CONTENT_DIR", str(REPO_ROOT)),
        "DEFAULT_LANGUAGE": os.environ.get("IVR_DEFAULT_LANGUAGE", "en"),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN") or None,
        "TWILIO_WEBHOOK_KEYS": os.environ.get("TWILIO_WEBHOOK_KEYS", ""),
        "PUBLIC_BASE_URL": (os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        "OPERATOR_NUMBER": os.environ.get("IVR_OPERATOR_NUMBER") or None,
        "EMERGENCY_NUMBER": os.environ.get("IVR_EMERGENCY_NUMBER") or "112",
        # The line's own phone number, as callers dial it: shown on every web page when set.
        "LINE_NUMBER": os.environ.get("IVR_LINE_NUMBER") or None,
        "EMERGENCY_TRANSFER": os.environ.get("IVR_EMERGENCY_TRANSFER") or None,
        # Texts go out through Twilio's REST API only when all three are set (else: the outbox).
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID") or None,
        "TWILIO_REST_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN") or None,
        "TWILIO_SMS_FROM": os.environ.get("TWILIO_SMS_FROM") or None,
        "GATHER_TIMEOUT": _int("IVR_GATHER_TIMEOUT", 8),
        "DIAL_TIMEOUT": _int("IVR_DIAL_TIMEOUT", 30),
        "DEV_SKIP_SIGNATURE": os.environ.get("IVR_DEV_SKIP_SIGNATURE", "") == "1",
        "HASH_SALT": os.environ.get("IVR_HASH_SALT") or None,
        # sqlite:///path or postgresql://…; unset: an SQLite file in the instance folder.
        "DATABASE_URL": os.environ.get("DATABASE_URL") or None,
        # 0: don't migrate at start (e.g. before `flask db downgrade`); run `flask db upgrade` by hand.
        "DB_MIGRATE_ON_START": os.environ.get("IVR_DB_MIGRATE_ON_START", "1") != "0",
        # Pre-rendered audio: <Play> from here when set and rendered, else Twilio's <Say>.
        "AUDIO_BASE_URL": (os.environ.get("AUDIO_BASE_URL") or "").rstrip("/") or None,
        "AUDIO_DIR": os.environ.get("IVR_AUDIO_DIR") or str(REPO_ROOT / "audio-cache"),
        "TTS_RATE": _int("IVR_TTS_RATE", 150),
        "TTS_VOICE": os.environ.get("IVR_TTS_VOICE") or None,
        # Signs the staff dashboard's session cookie; unset: generated into instance/secret-key.
        "SECRET_KEY": os.environ.get("IVR_SECRET_KEY") or None,
        **_session_cookie(os.environ.get("IVR_SESSION_COOKIE_SECURE", "1") != "0"),
        **_operations(),
    }


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


def _operations() -> dict[str, Any]:
    """Logs, webhook rate limits, staff login limits (ivr/logs.py, ivr/phone/limits.py, ivr/web/throttle)."""
    return {
        # Journey events are written in batches this often (0: each at once; tests: always at once).
        "EVENT_BATCH_MS": _int("IVR_EVENT_BATCH_MS", 50),
        # json (one object per line) or text; tests leave logging to pytest.
        "LOG_FORMAT": (os.environ.get("LOG_FORMAT") or "json").strip().lower(),
        # Shared buckets across gunicorn workers; unset: each worker counts on its own.
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "RATELIMIT_ENABLED": os.environ.get("IVR_RATELIMIT", "1") != "0",
        # A caller makes about one request every few seconds; these allow far more.
        "RATELIMIT_CALLER_BURST": _int("IVR_RATELIMIT_CALLER_BURST", 30),
        "RATELIMIT_CALLER_PER_MINUTE": _int("IVR_RATELIMIT_CALLER_PER_MINUTE", 60),
        # Twilio's requests for every call come from a few addresses: per IP, allow a busy line.
        "RATELIMIT_IP_BURST": _int("IVR_RATELIMIT_IP_BURST", 1000),
        "RATELIMIT_IP_PER_MINUTE": _int("IVR_RATELIMIT_IP_PER_MINUTE", 12000),
        # Behind N trusted reverse proxies, the client is the Nth address from the right of X-Forwarded-For.
        "RATELIMIT_PROXY_HOPS": _int("IVR_PROXY_HOPS", 0),
        # Failed staff logins allowed per username and per client IP in a window, before a lockout
        # that lasts until the window (from the first failure) ends. Per worker without REDIS_URL.
        "LOGIN_MAX_FAILURES_USER": _int("IVR_LOGIN_MAX_FAILURES_USER", 5),
        # A call centre's staff may share one public address: allow them a few typos each.
        "LOGIN_MAX_FAILURES_IP": _int("IVR_LOGIN_MAX_FAILURES_IP", 20),
        "LOGIN_WINDOW_S": _int("IVR_LOGIN_WINDOW_S", 15 * 60),
    }
