"""The exception tree of ``ivr``. Exceptions carry data, not just messages.

::

    IvrError
    ├── ConfigError                 a setting is missing or malformed
    ├── FlowError                   flows/ cannot be used
    │   └── FlowValidationError     .problems: every Problem found, each naming file and key path
    ├── SessionError
    │   └── SessionBusy             another webhook of the same call holds the lock too long
    ├── WalletError
    │   └── AccountNotFound         .account_id
    ├── TwilioSetupError            the Twilio REST API refused a change (bad number, credentials)
    └── SimulationError             the simulated call could not go on
        ├── TwimlError              .url, .element: a reply Twilio would reject
        └── ScriptError             .path, .key: a call script is malformed

Caller input is never an exception: an invalid digit or silence is a transition of the flow.
"""

from __future__ import annotations

from dataclasses import dataclass


class IvrError(Exception):
    """Base of every error ``ivr`` raises on purpose."""


class ConfigError(IvrError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file: where (file and key path) and what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class FlowError(IvrError):
    """A flow cannot be loaded or used."""


class FlowValidationError(FlowError):
    """Flow files failed validation. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in flows:\n{lines}")


class SessionError(IvrError):
    """Per-call state could not be read or written."""


class SessionBusy(SessionError):
    """Another request of the same call held the call's lock for longer than we wait."""

    def __init__(self, call_sid: str) -> None:
        self.call_sid = call_sid
        super().__init__(f"call {call_sid} is busy with another request")


class WalletError(IvrError):
    """The wallet domain refused an operation."""


class AccountNotFound(WalletError):
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        super().__init__(f"no account with id {account_id}")


class TwilioSetupError(IvrError):
    """Twilio's REST API refused to configure a number; the message says what to do next."""


class SimulationError(IvrError):
    """A simulated call could not continue."""


class TwimlError(SimulationError):
    """A webhook replied with something Twilio would reject: points at the URL and element."""

    def __init__(self, url: str, element: str, message: str) -> None:
        self.url = url
        self.element = element
        super().__init__(f"{url}: <{element}>: {message}" if element else f"{url}: {message}")


class ScriptError(SimulationError):
    """A call script is malformed: names the file and key."""

    def __init__(self, path: str, key: str, message: str) -> None:
        self.path = path
        self.key = key
        super().__init__(f"{path}: {key}: {message}" if key else f"{path}: {message}")
