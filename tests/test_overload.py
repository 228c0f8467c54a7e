"""When no app server can answer, nginx answers Twilio's webhooks with the busy reply (ivr/proxy.py):
a caller hears "the line is busy, please call again in a few minutes" in their language and the
call ends, instead of Twilio's "an application error has occurred"; other requests get the
gateway error. The nginx map is written from the prompts, escaped for nginx."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.proxy import _nginx_string, busy_map
from tests.support.over_http import wait_until
from tests.support.production import Production, Reply, app_out_of_reach, request
from tests.support.twiml import assert_valid_twiml, spoken, verbs

CONTENT = load_content(REPO_ROOT)
NGINX = "/usr/sbin/nginx"
FORM = urlencode({"CallSid": "CA" + "1" * 32, "From": "+919812345678", "Digits": "2"}).encode()
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def _busy(reply: Reply, lang: str) -> None:
    """The reply is the busy message in `lang`, spoken by Twilio, then <Hangup/>."""
    assert reply.status == 200, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("text/xml")
    assert_valid_twiml(reply.body)
    root = reply.twiml()
    assert verbs(root) == ["Say", "Hangup"]
    prompts = CONTENT.prompts[lang]
    assert spoken(root) == [prompts.phrases.busy]
    assert root[0].get("language") == prompts.language


@pytest.mark.system
@pytest.mark.slow
def test_webhooks_hear_the_busy_reply_in_their_language_when_the_app_is_unreachable(tmp_path: Path) -> None:
    with Production(tmp_path) as line:
        with app_out_of_reach(line):
            first = request(line.base_url + "/voice", "POST", FORM, FORM_HEADERS)
            hindi = request(line.base_url + "/voice/step?n=main&l=hi&p=0", "POST", FORM, FORM_HEADERS)
            unknown = request(line.base_url + "/voice/step?l=xx", "POST", FORM, FORM_HEADERS)
            page = request(line.base_url + "/staff/login")
            health = request(line.base_url + "/healthz")
            not_a_webhook = request(line.base_url + "/voicemail", "POST", FORM, FORM_HEADERS)
        back = request(line.base_url + "/healthz")
    _busy(first, CONTENT.default_language)
    _busy(hindi, "hi")
    _busy(unknown, CONTENT.default_language)
    for reply in (page, health, not_a_webhook):
        assert reply.status == 502, reply.body[:200]
    assert back.status == 200


@pytest.mark.system
@pytest.mark.slow
def test_a_webhook_the_app_does_not_answer_in_time_hears_the_busy_reply(tmp_path: Path) -> None:
    # An app that takes the connection and never answers (a stuck worker): nginx gives up after its
    # proxy_read_timeout (12 s, under Twilio's 15 s) and the caller hears the busy reply.
    with Production(tmp_path) as line, app_out_of_reach(line, stuck=True):
        reply = request(line.base_url + "/voice/step?l=hi", "POST", FORM, FORM_HEADERS, timeout=30)
    _busy(reply, "hi")
    assert 11 < reply.seconds < 15, reply.seconds


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "nginx"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("$5 or $arg_l", "'&#36;5 or &#36;arg_l'"),
        ("a \\ b", "'a \\\\ b'"),
    ],
)
def test_the_busy_twiml_is_written_as_an_nginx_string_that_reads_back_the_same(text: str, nginx: str) -> None:
    assert _nginx_string(text) == nginx


@pytest.mark.unit
def test_a_busy_twiml_of_more_than_one_line_is_refused() -> None:
    with pytest.raises(ValueError, match="one line"):
        _nginx_string("<Response>\n</Response>")


@pytest.mark.system
def test_nginx_serves_the_map_word_for_word_even_with_quotes_dollars_and_backslashes(tmp_path: Path) -> None:
    # A busy phrase with what nginx strings treat specially, through a real nginx: the reply is the
    # TwiML with the same words ($ as the XML reference &#36;, which a TwiML parser reads as $).
    content = load_content(REPO_ROOT)
    tricky = "Sorry, it's busy: $5 \\ 'call' again."
    prompts = content.prompts[content.default_language]
    phrases = prompts.phrases.model_copy(update={"busy": tricky})
    content.prompts[content.default_language] = prompts.model_copy(update={"phrases": phrases})
    (tmp_path / "busy.conf").write_text(busy_map(content), encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "nginx.conf").write_text(
        f"""daemon off; pid {tmp_path}/nginx.pid; error_log stderr crit;
events {{ worker_connections 16; }}
http {{ access_log off; client_body_temp_path {tmp_path}/b; proxy_temp_path {tmp_path}/p;
  fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
  include {tmp_path}/busy.conf;
  server {{ listen 127.0.0.1:{port}; location / {{ default_type text/xml; return 200 $ivr_busy_twiml; }} }}
}}
"""
    )
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    try:

        def answered() -> bool:
            try:
                request(f"http://127.0.0.1:{port}/voice", timeout=2)
            except OSError:
                return False
            return True

        assert wait_until(answered, 20)
        reply = request(f"http://127.0.0.1:{port}/voice?l=zz")
    finally:
        nginx.terminate()
        nginx.wait(20)
    assert_valid_twiml(reply.body)
    assert spoken(reply.twiml()) == [tricky]
