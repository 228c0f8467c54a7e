"""Signing as Twilio does, written out from its documented algorithm (not the line's code), the SDK
vectors in tests/data/, and a raw chunked POST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent.parent / "data" / "twilio-signature-vectors.json"


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL, then each field name and value, names sorted,
    a name's values sorted and each once (twilio-node getExpectedTwilioSignature, twilio-php)."""
    fields: dict[str, set[str]] = {}
    for name, value in params:
        fields.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(fields) for value in sorted(fields[name]))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def body_sha256(body: bytes) -> str:
    """The bodySHA256 query value Twilio adds to a JSON webhook's URL: lower-case hex SHA-256."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Vector:
    """One request an SDK's unit test validated, and the SDK's verdict."""

    source: str
    test: str
    token: str
    url: str
    params: list[tuple[str, str]]
    signature: str
    valid: bool
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Repository and test, for a test id."""
        return f"{self.source.split()[0]}: {self.test}"


def _signature(raw: Mapping[str, Any]) -> str:
    if "signature" in raw:
        return str(raw["signature"])
    # twilio-node derives its signatures: getExpectedTwilioSignature(token, signed_url, {}), spoiled
    # as its "signature comparison" tests do.
    good = twilio_signature(raw["token"], raw["signed_url"])
    tamper = raw.get("tamper")
    if tamper == "last_char":
        return good[:-1] + ("B" if good.endswith("A") else "A")
    if tamper == "shorter":
        return good[:-1]
    if tamper == "longer":
        return good + "="
    return good


def request_vectors() -> list[Vector]:
    """Every request vector of tests/data/twilio-signature-vectors.json."""
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [
        Vector(
            source=raw["source"],
            test=raw["test"],
            token=raw["token"],
            url=raw["url"],
            params=[(k, v) for k, v in raw["params"]],
            signature=_signature(raw),
            valid=raw["valid"],
            body=raw["body"].encode() if "body" in raw else None,
        )
        for raw in data["requests"]
    ]


def body_hash_vectors() -> list[dict[str, Any]]:
    """The SDKs' body-hash checks: body, hash, valid, source, test."""
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    return list(data["body_hashes"])


def post_chunked(
    host: str, port: int, path: str, body: bytes, headers: Mapping[str, str], chunk: int = 4096
) -> tuple[int, bytes]:
    """POST `body` with Transfer-Encoding: chunked (no Content-Length) over a real socket; the
    status and body of the reply. A server that answers before reading everything may close the
    connection under the last chunks: the reply is still read."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest("POST", path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for at in range(0, len(body), chunk):
                piece = body[at : at + chunk]
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server has answered already (413) and closed its side
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
