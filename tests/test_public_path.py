"""A line served under a path (PUBLIC_BASE_URL=https://example.org/ivr, or mounted at SCRIPT_NAME=/ivr)
hands Twilio URLs under that path, so that the first key press reaches it; settings that cannot
work together are refused at start-up. (tests/test_crawl.py walks every state this way.)"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.simulator import FlaskTransport, HttpTransport, Phone, Turn
from ivr.simulator.server import GUNICORN_CONF, Gunicorn, free_port
from tests.support.app import (
    AUTH_TOKEN,
    BASE_URL,
    OPERATOR,
    SignedClient,
    answer,
    make_app,
    mounted,
    other_leg,
)

pytestmark = pytest.mark.integration

PUBLIC = "https://example.org/ivr"


def handed(turns: list[Turn]) -> list[str]:
    """Every URL the replies hand Twilio: verbs' callback attributes and <Redirect>s."""
    found = []
    for doc in (doc for turn in turns for doc in turn.documents):
        for verb in doc.iter():
            found += [verb.get(a, "") for a in ("action", "url", "waitUrl") if verb.get(a)]
            found += [(verb.text or "").strip()] if verb.tag == "Redirect" else []
    return found


def walk(phone: Phone) -> list[Turn]:
    """English, a topic, a person (who is busy), then a recorded question: every turn."""
    turns = [answer(phone)]
    for act in ("1", "1", "0", "2"):
        turns.append(phone.press(act))
        assert turns[-1].error is None and turns[-1].gather is not None, (turns[-1].error, turns[-1].says)
    turns.append(phone.record(12))
    return turns


DEPLOYMENTS: dict[str, tuple[Callable[[], Flask], str, str | None]] = {
    # Behind nginx's `location /ivr/ { proxy_pass http://app/; }`: the app is served at its root.
    "public_base_url": (lambda: make_app(OPERATOR_NUMBER=OPERATOR, PUBLIC_BASE_URL=PUBLIC), PUBLIC, PUBLIC),
    # Mounted at /ivr by the WSGI server (gunicorn --env SCRIPT_NAME=/ivr), no PUBLIC_BASE_URL.
    "script_name": (lambda: mounted(make_app(OPERATOR_NUMBER=OPERATOR), "/ivr"), BASE_URL + "/ivr", None),
}


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_every_url_handed_to_twilio_keeps_the_public_path(deployment: str) -> None:
    make, base_url, public_url = DEPLOYMENTS[deployment]
    phone = Phone(
        FlaskTransport(make(), public_url), base_url=base_url, auth_token=AUTH_TOKEN, dial_outcome="busy"
    )
    turns = walk(phone)
    urls = handed(turns)
    for path in ("/ivr/voice/step?", "/ivr/voice/dial?", "/ivr/voice/whisper?", "/ivr/voice/recorded?"):
        assert any(url.startswith(path) for url in urls), (path, urls)
    assert all(url.startswith("/ivr/voice/") for url in urls), urls
    # Each was requested at the public address, signed for it, and answered (not 404 or 403).
    requests = [request for turn in turns for request in turn.requests]
    assert all(url.startswith(f"{base_url}/voice") and status == 200 for url, status in requests), requests
    whisper = next(url for url in urls if "/voice/whisper?" in url)
    status, body = other_leg(phone, whisper)
    assert status == 200 and ET.fromstring(body).find("Say") is not None, body


def test_the_reply_after_a_failure_keeps_the_public_path() -> None:
    client = SignedClient(mounted(make_app(), "/ivr"))
    for path in ("/ivr/voice/fallback", "/ivr/voice/step?n=no_such_node&p=0"):
        status, root = client.post(path, {"ErrorCode": "11200"})
        assert status == 200 and root is not None, path
        gather = root.find("Gather")
        assert gather is not None and gather.get("action", "").startswith("/ivr/voice/step?"), path
        redirect = root.find("Redirect")
        assert redirect is not None and (redirect.text or "").startswith("/ivr/voice/step?"), path


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"PUBLIC_BASE_URL": "https://example.org", "SCRIPT_NAME": "/ivr"},
            "PUBLIC_BASE_URL must be the public address of the app, whose path ends with SCRIPT_NAME '/ivr'"
            " (e.g. https://example.org/ivr), not 'https://example.org'",
        ),
        (
            {"PUBLIC_BASE_URL": "https://example.org/line", "SCRIPT_NAME": "/ivr"},
            "PUBLIC_BASE_URL must be the public address of the app, whose path ends with SCRIPT_NAME '/ivr'",
        ),
        (
            {"PUBLIC_BASE_URL": "https://example.org/ivr?x=1"},
            "PUBLIC_BASE_URL must be a web address with no ? or #",
        ),
        (
            {"SCRIPT_NAME": "ivr/"},
            "SCRIPT_NAME must be a path like /ivr (a leading /, no trailing /), not 'ivr/'",
        ),
    ],
)
def test_settings_that_cannot_reach_the_line_are_refused_at_start_up(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        make_app(**settings)
    assert message in str(refused.value.code)


def test_a_public_path_a_proxy_shortens_is_accepted() -> None:
    # https://example.org/health/ivr/voice reaches an app mounted at /ivr: the proxy took /health off.
    app = make_app(PUBLIC_BASE_URL="https://example.org/health/ivr", SCRIPT_NAME="/ivr")
    assert app.config["PUBLIC_BASE_URL"] == "https://example.org/health/ivr"


@pytest.mark.system
@pytest.mark.slow
def test_gunicorn_mounted_at_script_name_serves_a_call_under_it(tmp_path: Path) -> None:
    env = {
        "SCRIPT_NAME": "/ivr",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_OPERATOR_NUMBER": OPERATOR,
    }
    with Gunicorn(
        "app:app", workers=1, env=env, ready_path="/ivr/healthz", log_path=tmp_path / "log"
    ) as server:
        phone = Phone(
            HttpTransport(), base_url=server.base_url + "/ivr", auth_token=AUTH_TOKEN, dial_outcome="busy"
        )
        turns = walk(phone)
    urls = handed(turns)
    assert urls and all(url.startswith("/ivr/voice/") for url in urls), urls
    requests = [request for turn in turns for request in turn.requests]
    assert all(status == 200 for _, status in requests), requests


@pytest.mark.system
def test_gunicorn_refuses_a_public_base_url_outside_its_script_name(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "app:app"]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
        "SCRIPT_NAME": "/ivr",
        "PUBLIC_BASE_URL": "https://example.org",
    }
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "PUBLIC_BASE_URL must be the public address of the app, whose path ends with SCRIPT_NAME" in output
    assert "Traceback" not in output and "Booting worker" not in output, output
