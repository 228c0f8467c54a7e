"""Helpers shared by the test modules: plain functions, classes and constants, never fixtures.

Fixtures live in tests/conftest.py, which pytest loads by itself. A test module imports what it
shares from here, never from tests.conftest nor from another test module (tests/test_layout.py
checks that): each module stays runnable and movable on its own.

- app.py: an app on the real content with test secrets, signed requests, answering a call.
- content.py: writable copies of the content and edits to them.
- services.py: the machine's PostgreSQL and Redis.
- twiml.py: reading TwiML replies (and validating them against Twilio's schema).
- web.py: a seeded staff dashboard, logging in.
- browser.py: axe-core for the browser tests, from node_modules (bin/setup installs it).
- fuzz.py: what Twilio posts, for the property tests.
- routing.py: an app whose specialists all have numbers.
- twilio_fake.py: a fake of Twilio's REST edge.
"""
