"""What the caller did, as a typed value: the one place Twilio's form fields are interpreted.

Owns the translation of ``Digits``, ``SpeechResult``/``Confidence`` and ``RecordingUrl`` into a
``CallerInput``, and the sanitising of garbage (letters, markup, 5,000 characters): anything
that is not a plausible keypad entry becomes an invalid entry, never an exception. A
``RecordingUrl`` is kept only when it starts with one of the trusted prefixes (Twilio's
``https://api.twilio.com/`` unless the caller of ``from_form`` names others, from
``IVR_RECORDING_URLS``) and has no space or control character; any other is refused, never
stored, and the answer counts as garbage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

_KEYPAD = re.compile(r"[0-9*#]{1,64}")
TWILIO_RECORDINGS = ("https://api.twilio.com/",)
_URL_TEXT = re.compile(r"[\x21-\x7e]{1,1000}")  # printable ASCII: no space, no control character
# How a spoken answer shows in the call's record (``key_1 (speech)``): the words are not kept,
# only that the caller spoke; ``ivr report`` counts speech against keys by it.
SPOKEN = "(speech)"


@dataclass(frozen=True)
class CallerInput:
    """One answer from the caller. ``digits`` is None for silence; ``garbage`` marks input
    that no keypad could have produced."""

    digits: str | None = None
    speech: str | None = None
    confidence: float | None = None
    recording_url: str | None = None
    recording_duration: int | None = None
    garbage: bool = False
    queue_result: str | None = None  # bridged, leave, hangup or failed: how the agent queue ended

    @classmethod
    def from_form(
        cls, form: Mapping[str, str], *, recordings_from: Sequence[str] = TWILIO_RECORDINGS
    ) -> CallerInput:
        """The caller's answer in Twilio's ``form``; a ``RecordingUrl`` that does not start
        with one of ``recordings_from`` is refused (garbage, no recording)."""
        digits = form.get("Digits")
        garbage = False
        if digits is not None and digits != "" and not _KEYPAD.fullmatch(digits):
            digits, garbage = None, True
        speech = (form.get("SpeechResult") or "").strip()[:500] or None
        confidence: float | None = None
        try:
            confidence = float(form["Confidence"]) if "Confidence" in form else None
        except ValueError:
            confidence = None
        recording = form.get("RecordingUrl") or None
        if recording is not None and not trusted_recording(recording, recordings_from):
            recording, garbage = None, True
        duration: int | None = None
        if recording is not None:
            try:
                duration = int(form.get("RecordingDuration", "0"))
            except ValueError:
                duration = 0
        return cls(
            digits or None, speech, confidence, recording, duration, garbage, _queue_result(form)
        )


def trusted_recording(url: str, prefixes: Sequence[str]) -> bool:
    """Whether ``url`` is a recording URL to keep: printable, and under a trusted prefix."""
    return _URL_TEXT.fullmatch(url) is not None and url.startswith(tuple(prefixes))


# Twilio's QueueResult (Enqueue action) and DialCallStatus (Dial action), reduced to what the
# flow distinguishes: the caller talked to an agent, left for a callback, hung up, or nobody
# could answer.
_QUEUE_RESULTS = {"bridged": "bridged", "leave": "leave", "hangup": "hangup"}
_DIAL_RESULTS = {"completed": "bridged", "answered": "bridged", "canceled": "hangup"}


def _queue_result(form: Mapping[str, str]) -> str | None:
    if "QueueResult" in form:
        return _QUEUE_RESULTS.get(form["QueueResult"], "failed")
    if "DialCallStatus" in form:
        return _DIAL_RESULTS.get(form["DialCallStatus"], "failed")
    return None
