"""What the caller did, as a typed value: the one place Twilio's form fields are interpreted.

Owns the translation of ``Digits``, ``SpeechResult``/``Confidence`` and ``RecordingUrl`` into a
``CallerInput``, and the sanitising of garbage (letters, markup, 5,000 characters): anything
that is not a plausible keypad entry becomes an invalid entry, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEYPAD = re.compile(r"[0-9*#]{1,64}")


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
    def from_form(cls, form: Mapping[str, str]) -> CallerInput:
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
        duration: int | None = None
        if recording is not None:
            try:
                duration = int(form.get("RecordingDuration", "0"))
            except ValueError:
                duration = 0
        return cls(
            digits or None, speech, confidence, recording, duration, garbage, _queue_result(form)
        )


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
