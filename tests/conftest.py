"""Shared fixtures: an app with a known auth token, a signed-request client, simulated phones."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.config import REPO_ROOT
from ivr.simulator import FlaskTransport, Phone

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BASE_URL = "http://localhost"
OPERATOR = "+441234567890"


def make_app(**overrides: Any) -> Flask:
    """An app on the real content with test secrets; overrides go into its config."""
    config: dict[str, Any] = {
        "TESTING": True,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HASH_SALT": "test-salt",
        "OPERATOR_NUMBER": None,
        "DEV_SKIP_SIGNATURE": False,
        "PUBLIC_BASE_URL": None,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class SignedClient:
    """Posts to the app with a valid X-Twilio-Signature, as Twilio would."""

    def __init__(self, app: Flask, token: str = AUTH_TOKEN) -> None:
        self.client = app.test_client()
        self.validator = RequestValidator(token)

    def post(
        self, path: str, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, ET.Element | None]:
        """POST signed; return the status and the parsed TwiML (None for a non-XML body)."""
        form = {"CallSid": "CAtest", "From": "+15005550006", "To": "+15005550001", **(params or {})}
        signature = self.validator.compute_signature(BASE_URL + path, form)
        response = self.client.post(
            path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})}
        )
        body = response.get_data(as_text=True)
        root = ET.fromstring(body) if response.mimetype == "text/xml" else None
        return response.status_code, root


@pytest.fixture
def signed(app: Flask) -> SignedClient:
    return SignedClient(app)


@pytest.fixture
def phone(app: Flask) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)


@pytest.fixture
def phone_for() -> Callable[[Flask], Phone]:
    def make(app: Flask) -> Phone:
        return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)

    return make


@pytest.fixture
def content_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the real prompts/ and knowledge/ for breaking on purpose."""
    for name in ("prompts", "knowledge"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name)
    yield tmp_path
