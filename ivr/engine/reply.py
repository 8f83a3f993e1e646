"""What the engine asks the caller's phone to do next, as plain data.

Owns the vocabulary between ``engine`` (which decides) and ``render`` (which writes TwiML):
things to say (``ivr.voice.speech.Speech``), then exactly one closing verb. No URLs here:
``render`` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.voice.speech import Speech


@dataclass(frozen=True)
class Listen:
    """Wait for keys, speaking ``prompt`` meanwhile (a keypress interrupts it)."""

    prompt: tuple[Speech, ...]
    timeout: int
    finish_on_key: str
    num_digits: int | None  # None: until the finish key or the timeout
    speech_language: str | None = None  # also listen for speech, recognised in this language
    hints: str | None = None  # words that bias speech recognition


@dataclass(frozen=True)
class RecordMessage:
    prompt: tuple[Speech, ...]
    max_length: int
    finish_on_key: str
    timeout: int
    status_callback: bool = False  # ask Twilio to report when the recording file is ready


@dataclass(frozen=True)
class Transfer:
    """Put the caller in an agent queue (or ring ``dial``, an agent's phone)."""

    queue: str
    priority: int
    hold: tuple[Speech, ...]
    dial: str | None = None

    @property
    def twilio_queue(self) -> str:
        """The Twilio queue name. Twilio queues are first-in first-out, so priority callers
        wait in their own queue, ``<queue>-priority``, which agents' pickup drains first."""
        return f"{self.queue}-priority" if self.priority > 0 else self.queue


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Restart:
    """Start the call over at the incoming-call URL (an unknown or ended call)."""


Verb = Listen | RecordMessage | Transfer | Hangup | Restart


@dataclass(frozen=True)
class Reply:
    say: tuple[Speech, ...]
    verb: Verb
    flow: str
    state: str
    step: int  # the step number the caller's answer will carry
    path: tuple[str, ...] = ()  # every state this step went through, ending where it rests
