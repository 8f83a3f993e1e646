"""TwiML for the agent's side of a queue: taking the next caller, and what that caller hears
just before the bridge.

Owns only these two documents. Temporary home: ``ivr.render`` is meant to be the only
importer of ``twilio.twiml``, and these functions move there when the agent endpoints are
wired in. No Flask: URLs come in as strings.
"""

from __future__ import annotations

from collections.abc import Iterable

from twilio.twiml.voice_response import Dial
from twilio.twiml.voice_response import VoiceResponse

from ivr.render import Voices
from ivr.render import _say
from ivr.reply import Speech


def render_pickup(queue: str, connecting_url: str) -> str:
    """The agent's leg takes the caller at the front of ``queue``. Twilio first runs
    ``connecting_url`` on the caller's leg, then bridges the two."""
    response = VoiceResponse()
    dial = Dial()
    dial.queue(queue, url=connecting_url, method="POST")
    response.append(dial)
    return str(response)


def render_connecting(message: Iterable[Speech], voices: Voices) -> str:
    """Played to the dequeued caller; the bridge to the agent follows the last word."""
    response = VoiceResponse()
    _say(response, message, voices)
    return str(response)
