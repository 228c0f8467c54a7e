"""The baseline for bench/webhooks.py: a bare Flask app that answers every webhook with constant TwiML.

Served by gunicorn with the same gunicorn.conf.py as the line, so the difference is the line's work.
"""

from __future__ import annotations

from flask import Flask, Response

# A real menu reply of the line, as large as a typical one.
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/step?n=main&amp;p=0&amp;'
    's=0&amp;m=0&amp;l=en&amp;r=0&amp;w=0&amp;v=1" finishOnKey="" hints="about, what are they, overview, '
    "introduction, symptoms, signs, causes, why, the six types, types, kinds, categories, treatment, "
    "drugs, medicine, therapy, specialists, doctors, repeat, say again, go back, back, main menu, "
    'operator, person, help, slower, faster, emergency, more time, language" input="dtmf speech" '
    'language="en-IN" method="POST" numDigits="1" speechTimeout="auto" timeout="8"><Say language="en-IN" '
    'voice="Polly.Raveena">Welcome to the neuromuscular disorders line.</Say><Say language="en-IN" '
    'voice="Polly.Raveena">This is general information, not a diagnosis.</Say><Say language="en-IN" '
    'voice="Polly.Raveena">For an introduction, press 1.</Say><Say language="en-IN" voice="Polly.Raveena">'
    'For symptoms and causes, press 2.</Say><Say language="en-IN" voice="Polly.Raveena">For the six types, '
    'press 3.</Say><Say language="en-IN" voice="Polly.Raveena">For treatment, press 4.</Say><Say '
    'language="en-IN" voice="Polly.Raveena">You can press keys or say what you want. To repeat, press 9. '
    "To go back, press star. For the main menu, press hash. To speak to a person, press 0. For help, "
    'press 6. In an emergency, press 5.</Say></Gather><Redirect method="POST">/voice/step?n=main&amp;p=0&amp;'
    "s=0&amp;m=0&amp;l=en&amp;r=0&amp;w=0&amp;v=1&amp;t=1</Redirect></Response>"
)

app = Flask(__name__)


@app.post("/voice")
@app.post("/voice/<path:_rest>")
def webhook(_rest: str = "") -> Response:
    """Every webhook: the same TwiML."""
    return Response(TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    """Ready check for the benchmark's server starter."""
    return Response("ok", mimetype="text/plain")
