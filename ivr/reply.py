"""What the engine asks the caller's phone to do next, as plain data.

Owns the vocabulary between ``engine`` (which decides) and ``render`` (which writes TwiML):
things to say, then exactly one closing verb. No URLs here: ``render`` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Speech:
    """Words spoken in one language."""

    text: str
    lang: str


@dataclass(frozen=True)
class Listen:
    """Wait for keys, speaking ``prompt`` meanwhile (a keypress interrupts it)."""

    prompt: tuple[Speech, ...]
    timeout: int
    finish_on_key: str
    num_digits: int | None  # None: until the finish key or the timeout


@dataclass(frozen=True)
class RecordMessage:
    prompt: tuple[Speech, ...]
    max_length: int
    finish_on_key: str
    timeout: int


@dataclass(frozen=True)
class Transfer:
    """Put the caller in an agent queue."""

    queue: str
    priority: int
    hold: tuple[Speech, ...]


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
