"""Serves the cached audio files that <Play> points Twilio at."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, send_file

from ivr.audio.cache import FILE_NAME, AudioSettings

bp = Blueprint("audio", __name__)
ONE_YEAR = 365 * 24 * 3600


@bp.get("/audio/<name>")
def audio_file(name: str) -> Response:
    """One rendered WAV by its hash name; 404 for anything else."""
    if not FILE_NAME.fullmatch(name):
        abort(404)
    path = AudioSettings.from_config(current_app.config).audio_dir / name
    if not path.is_file():
        abort(404)
    # A file's name is the hash of what it says, so its bytes never change.
    response = send_file(path, mimetype="audio/wav", max_age=ONE_YEAR, conditional=True)
    response.cache_control.immutable = True
    return response
