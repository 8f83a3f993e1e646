"""What an action or guard sees of a call: its session data, the services, and this step.

Owns the layout of ``CallSession.data`` (account, verification, issue, steps tried, counters,
template values) so that nothing else reaches into the dict by string. Depends on
``voice.reading`` for the stored form of template values; never renders TwiML or talks HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from typing import Protocol

from ivr.clock import Clock
from ivr.engine.session import CallSession
from ivr.flow.spec import Flow
from ivr.voice import reading as speech
from ivr.wallet import Wallet


class Recorder(Protocol):
    """What a call writes to its record (``ivr.stores.records.CallRecorder`` implements it)."""

    def start(
        self, call_sid: str, *, flow: str, caller: str, lang: str, flow_version: str | None = None
    ) -> None: ...

    def event(
        self, call_sid: str, *, seq: int, state: str, kind: str, detail: str = ""
    ) -> None: ...

    def events(self, call_sid: str, events: Sequence[tuple[int, str, str, str]]) -> None: ...

    def update(
        self,
        call_sid: str,
        *,
        account_id: int | None = None,
        lang: str | None = None,
        issue: str | None = None,
    ) -> None: ...

    def finish(
        self,
        call_sid: str,
        *,
        outcome: str | None = None,
        reason: str | None = None,
        queue: str | None = None,
    ) -> None: ...

    def handoff(
        self,
        call_sid: str,
        *,
        queue: str,
        priority: int,
        account_id: int | None,
        caller_name: str | None,
        verified: bool,
        issue: str | None,
        steps_tried: Sequence[str],
        reason: str | None,
    ) -> None: ...


class Callbacks(Protocol):
    """Where callback requests go (``ivr.stores.callbacks.CallbackBook`` implements it)."""

    def request(
        self,
        call_sid: str,
        *,
        phone: str,
        account_id: int | None,
        issue: str | None,
        queue: str,
        preferred_at: datetime | None = None,
        lang: str | None = None,
        verified: bool = False,
        steps: Sequence[str] = (),
    ) -> object: ...

    def cancel(self, request_id: int) -> bool: ...


@dataclass(frozen=True)
class Services:
    """The outside world a call may touch, injected by the app factory (faked in tests)."""

    wallet: Wallet
    clock: Clock
    recorder: Recorder
    callbacks: Callbacks | None = None


@dataclass
class CallContext:
    """One webhook's view of a call. ``scratch`` holds secrets (the PIN) for this request
    only: it is never saved, logged or spoken."""

    session: CallSession
    services: Services
    step: int
    scratch: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # states entered during this step
    flow: Flow | None = None
    # call-record events of this step, written together at its end: (seq, state, kind, detail)
    events: list[tuple[int, str, str, str]] = field(default_factory=list)

    def note(self, state: str, kind: str, detail: str = "") -> None:
        self.events.append((self.step, state, kind, detail))

    def queue(self) -> str:
        """The agent queue for this caller's issue (``general`` without one)."""
        issue = self.issue
        if self.flow is not None and issue is not None and issue in self.flow.issues:
            return self.flow.issues[issue].queue
        return "general"

    # -- identity ---------------------------------------------------------------------------

    @property
    def call_sid(self) -> str:
        return self.session.call_sid

    @property
    def caller(self) -> str:
        return str(self.session.data.get("caller", ""))

    @property
    def lang(self) -> str:
        return self.session.lang

    @lang.setter
    def lang(self, value: str) -> None:
        self.session.lang = value

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    @property
    def account_id(self) -> int | None:
        value = self.session.data.get("account_id")
        return int(value) if value is not None else None

    @account_id.setter
    def account_id(self, value: int | None) -> None:
        self.session.data["account_id"] = value

    @property
    def verified(self) -> bool:
        return bool(self.session.data.get("verified", False))

    @verified.setter
    def verified(self, value: bool) -> None:
        self.session.data["verified"] = value

    @property
    def issue(self) -> str | None:
        value = self.session.data.get("issue")
        return str(value) if value is not None else None

    @issue.setter
    def issue(self, value: str | None) -> None:
        self.session.data["issue"] = value

    @property
    def reason(self) -> str | None:
        value = self.session.data.get("reason")
        return str(value) if value is not None else None

    @reason.setter
    def reason(self, value: str | None) -> None:
        self.session.data["reason"] = value

    # -- what has happened ------------------------------------------------------------------

    @property
    def steps(self) -> list[str]:
        steps: list[str] = self.session.data.setdefault("steps", [])
        return steps

    def tried(self, step: str) -> None:
        """Note a self-help step for the agent who may take the call."""
        if step not in self.steps:
            self.steps.append(step)

    def flag(self, name: str) -> bool:
        return bool(self.session.data.get("flags", {}).get(name, False))

    def set_flag(self, name: str, value: bool) -> None:
        self.session.data.setdefault("flags", {})[name] = value

    def count(self, name: str) -> int:
        return int(self.session.data.get("counters", {}).get(name, 0))

    def bump(self, name: str) -> int:
        counters = self.session.data.setdefault("counters", {})
        counters[name] = int(counters.get(name, 0)) + 1
        return int(counters[name])

    def reset(self, name: str) -> None:
        self.session.data.setdefault("counters", {}).pop(name, None)

    # -- template values --------------------------------------------------------------------

    def put(self, name: str, value: object) -> None:
        """Set a template value (``{name}`` in prompts)."""
        self.session.data.setdefault("vars", {})[name] = speech.to_json(value)

    def get(self, name: str) -> Any:
        stored = self.session.data.get("vars", {}).get(name)
        return None if stored is None else speech.from_json(stored)

    def value(self, name: str) -> object:
        """One template value, read from its stored form; ``KeyError`` when it is not set.
        Prompts read only the values they name, not every one (``values``)."""
        return speech.from_json(self.session.data.get("vars", {})[name])

    def values(self) -> Mapping[str, object]:
        return {k: speech.from_json(v) for k, v in self.session.data.get("vars", {}).items()}

    def entered(self, name: str) -> str | None:
        """What the caller keyed in for an entry's ``save_as`` (secrets come from scratch)."""
        if name in self.scratch:
            return self.scratch[name]
        value = self.session.data.get("entries", {}).get(name)
        return str(value) if value is not None else None

    def keep_entry(self, name: str, digits: str, *, secret: bool) -> None:
        if secret:
            self.scratch[name] = digits
            return
        self.session.data.setdefault("entries", {})[name] = digits
        self.put(name, speech.DigitString(digits))

    def key(self, name: str) -> str:
        """An idempotency key for a side effect of this step: a duplicate webhook reuses it."""
        return f"{self.call_sid}:{self.step}:{name}"
