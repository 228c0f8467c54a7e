"""Settings from the environment, with safe local defaults."""

from __future__ import annotations

import os
import secrets
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
        "GATHER_TIMEOUT": _int("IVR_GATHER_TIMEOUT", 8),
        "DIAL_TIMEOUT": _int("IVR_DIAL_TIMEOUT", 30),
        "DEV_SKIP_SIGNATURE": os.environ.get("IVR_DEV_SKIP_SIGNATURE", "") == "1",
        "HASH_SALT": os.environ.get("IVR_HASH_SALT") or None,
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
