"""The exception tree of ``ivr``: every exception it raises on purpose, in this one module.

Exceptions carry data, not just messages::

    IvrError
    ├── ConfigError                 a setting (or the audio manifest) is missing or malformed
    │   └── WavHeaderError          a recording whose WAV chunks cannot be measured
    ├── YamlError                   .file .line .column .key: a YAML file cannot be read
    ├── FlowError                   flows/ cannot be used
    │   └── FlowValidationError     .problems: every Problem found, each naming file, line and key
    ├── SessionError                per-call state could not be read or written
    │   ├── SessionBusy             .call_sid: another webhook of the call holds the lock too long
    │   └── StaleSession            .call_sid .expected .found: a save lost a race
    ├── WalletError                 the wallet domain refused an operation
    │   └── AccountNotFound         .account_id
    ├── TtsError                    a prompt recording could not be made
    │   └── ToolMissing             .tools .install: espeak-ng or sox is not installed
    ├── TwilioSetupError            Twilio cannot be configured as asked
    │   └── TwilioSetupProblem      .hint .code: what refused, and what to do next
    ├── DialProblem                 .retry: Twilio would not place (or look up) an outbound call
    ├── SimulationError             the simulated call could not go on
    │   ├── TwimlError              .url .element: a reply Twilio would reject
    │   └── ScriptError             .path .key .line .column: a call script is malformed
    └── CliError                    .problem .next_step: `ivr` stops (a click.ClickException)

Caller input is never an exception: an invalid digit or silence is a transition of the flow.
``tests/test_errors.py`` holds this drawing to the classes: every exception class ``ivr``
defines lives here, derives from ``IvrError`` and is drawn under its parent.

Kernel: imports nothing from the rest of ``ivr`` (click only, for ``CliError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO
from typing import Any

import click


def _where(file: str, line: int | None, column: int | None = None) -> str:
    """``file``, ``file:line`` or ``file:line:column``: the form editors and terminals link."""
    if line is None:
        return file
    return f"{file}:{line}" if column is None else f"{file}:{line}:{column}"


class IvrError(Exception):
    """Base of every error ``ivr`` raises on purpose."""


class ConfigError(IvrError):
    """A setting is missing or malformed; the message says which and how to fix it."""


class WavHeaderError(ConfigError):
    """A recording that is not a WAV file ``ivr.media.durations`` can measure."""


class YamlError(IvrError):
    """A YAML file cannot be read: a syntax error, or a key written twice in one mapping.

    ``line`` and ``column`` (1-based) point at the problem when YAML knows where it is; ``key``
    is the key path (``states.main_menu.type``) when the problem is a key, else empty.
    """

    def __init__(
        self, file: str, line: int | None, column: int | None, key: str, problem: str
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.problem = problem
        key_part = f"{key}: " if key else ""
        super().__init__(f"{_where(file, line, column)}: {key_part}not valid YAML: {problem}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file: where (file, key path, line when known) and what."""

    file: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = _where(self.file, self.line, self.column)
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


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


class StaleSession(SessionError):
    """A save lost a race: the stored version is not the one the session was loaded at.

    ``found`` is the stored version, or None when nothing is stored (purged, or never saved).
    """

    def __init__(self, call_sid: str, expected: int, found: int | None) -> None:
        self.call_sid = call_sid
        self.expected = expected
        self.found = found
        stored = "no stored session" if found is None else f"stored version {found}"
        super().__init__(
            f"call {call_sid}: session saved at version {expected} but found {stored}; "
            "another request saved in between (hold store.lock() around load and save)"
        )


class WalletError(IvrError):
    """The wallet domain refused an operation."""


class AccountNotFound(WalletError):
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        super().__init__(f"no account with id {account_id}")


class TtsError(IvrError):
    """A recording could not be made; the message says why and what to do."""


class ToolMissing(TtsError):
    """espeak-ng or sox is not installed. ``tools``: the missing programs; ``install``: how to
    install them."""

    def __init__(self, tools: Sequence[str], install: str) -> None:
        self.tools = tuple(tools)
        self.install = install
        super().__init__(f"{' and '.join(self.tools)} not found on PATH; {install}")


class TwilioSetupError(IvrError):
    """Twilio's REST API cannot configure a number as asked."""


class TwilioSetupProblem(TwilioSetupError):
    """Twilio cannot be configured as asked. ``hint`` says what to do next; ``code`` is
    Twilio's error code (https://www.twilio.com/docs/errors/<code>) when Twilio gave one."""

    def __init__(self, message: str, hint: str, *, code: int | None = None) -> None:
        self.hint = hint
        self.code = code
        super().__init__(message)


class DialProblem(IvrError):
    """Twilio would not place an outbound call (or tell its status). ``retry``: the refusal
    may pass (Twilio's 5xx or 429, the network), so the callback is tried again later."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        self.retry = retry
        super().__init__(message)


class SimulationError(IvrError):
    """A simulated call could not continue."""


class TwimlError(SimulationError):
    """A webhook replied with something Twilio would reject: points at the URL and element."""

    def __init__(self, url: str, element: str, message: str) -> None:
        self.url = url
        self.element = element
        super().__init__(f"{url}: <{element}>: {message}" if element else f"{url}: {message}")


class ScriptError(SimulationError):
    """A call script is malformed: names the file, the key and (when known) its line."""

    def __init__(
        self,
        path: str,
        key: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.key = key
        self.message = message
        self.line = line
        self.column = column
        where = _where(path, line, column)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class CliError(click.ClickException, IvrError):
    """``problem`` (one line), then ``next_step``; ``details`` (lines such as every problem
    in a flow file) are printed first. Shown on stderr as::

        error: <problem>
          → <next step>
    """

    exit_code = 2

    def __init__(self, problem: str, next_step: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.next_step = next_step
        self.details = tuple(details)

    def show(self, file: IO[Any] | None = None) -> None:
        for line in self.details:
            click.echo(line, file=file, err=True)
        click.echo(click.style("error: ", fg="red", bold=True) + self.problem, file=file, err=True)
        click.echo(f"  → {self.next_step}", file=file, err=True)
