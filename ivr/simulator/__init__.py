"""A Twilio stand-in: dials the line, signs requests and follows TwiML as Twilio would."""

from ivr.simulator.phone import FlaskTransport, HttpTransport, Phone, Transport, Turn

__all__ = ["FlaskTransport", "HttpTransport", "Phone", "Transport", "Turn"]
