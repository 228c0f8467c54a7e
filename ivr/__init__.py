"""The neuromuscular-disorders information line: a Flask app that answers Twilio voice webhooks.

The package root is light on purpose: importing `ivr.engine` (pure) must not load Flask. The app is
built by `ivr.factory.create_app`; `ivr.services` is the one module that reads the app's extensions.
"""
