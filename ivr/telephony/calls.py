"""Placing outbound calls through Twilio's REST API (``calls.create``) and asking after them.

Owns ``OutboundCall`` (what is asked of Twilio: who to ring, from which number, the answer
URL, the status callback, answering-machine detection), the ``Placer`` protocol and its two
implementations: ``TwilioPlacer`` (twilio's REST ``Client`` with an injected HTTP client, so
tests pass a fake of Twilio's API and nothing here opens a socket by itself) and
``DryRunPlacer`` (``IVR_DIAL=off`` or no credentials: places nothing, says what it would do).
Twilio's refusals become ``DialProblem``. Knows nothing of callbacks, flows or stores, and
must not import Flask, read the environment or print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import Protocol

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from ivr.errors import DialProblem
from ivr.phones import mask_phone
from ivr.telephony.numbers import Credentials
from ivr.telephony.numbers import default_http_client

#: Twilio's CallStatus values after which nothing more happens to a call.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
#: Seconds Twilio lets the phone ring before ``no-answer`` (Twilio's default is 60).
RING_TIMEOUT = 30
#: Answering-machine detection that waits for the greeting to end (the beep), so a message
#: left on a machine is recorded whole. Twilio then sends ``AnsweredBy`` with the answer URL.
MACHINE_DETECTION = "DetectMessageEnd"


@dataclass(frozen=True)
class OutboundCall:
    """One call to place: ring ``to`` from ``from_``; when answered Twilio requests ``url``
    (POST) and reports the end on ``status_callback`` (POST)."""

    to: str
    from_: str
    url: str
    status_callback: str
    machine_detection: str | None = MACHINE_DETECTION
    timeout: int = RING_TIMEOUT

    def describe(self) -> str:
        """One line for logs and dry runs (the number masked)."""
        return f"call {mask_phone(self.to)} from {self.from_}, answer URL {self.url}"


class Placer(Protocol):
    """Places calls. ``place`` returns Twilio's CallSid; ``status`` the call's CallStatus
    now, or None when it cannot be known (a dry run)."""

    dry_run: bool

    def place(self, call: OutboundCall) -> str: ...

    def status(self, call_sid: str) -> str | None: ...


class TwilioPlacer:
    """Places calls with twilio's REST client; ``http_client`` is a ``twilio.http.HttpClient``
    (default: twilio's own, with a timeout)."""

    dry_run = False

    def __init__(self, credentials: Credentials, *, http_client: Any = None) -> None:
        self._client = Client(
            credentials.account_sid,
            credentials.auth_token,
            http_client=http_client if http_client is not None else default_http_client(),
        )

    def place(self, call: OutboundCall) -> str:
        options: dict[str, object] = {
            "to": call.to,
            "from_": call.from_,
            "url": call.url,
            "method": "POST",
            "status_callback": call.status_callback,
            "status_callback_method": "POST",  # events: Twilio's default, completed only
            "timeout": call.timeout,
        }
        if call.machine_detection:
            options["machine_detection"] = call.machine_detection
        try:
            created = self._client.calls.create(**options)
        except TwilioException as exc:
            raise _problem(f"place the {call.describe()}", exc) from exc
        except OSError as exc:  # requests' ConnectionError and Timeout
            raise DialProblem(f"cannot reach Twilio's API to place a call: {exc}") from exc
        return str(created.sid)

    def status(self, call_sid: str) -> str | None:
        try:
            return str(self._client.calls(call_sid).fetch().status)
        except TwilioException as exc:
            raise _problem(f"look up call {call_sid}", exc) from exc
        except OSError as exc:
            raise DialProblem(f"cannot reach Twilio's API to look up a call: {exc}") from exc


class DryRunPlacer:
    """Places nothing: each call is kept in ``placed`` (for the dry run's report) and gets a
    made-up CallSid (``DRY`` and a counter) so the bookkeeping can go on."""

    dry_run = True

    def __init__(self) -> None:
        self.placed: list[OutboundCall] = []

    def place(self, call: OutboundCall) -> str:
        self.placed.append(call)
        return f"DRY{len(self.placed):031d}"

    def status(self, call_sid: str) -> str | None:
        return None


def _problem(doing: str, exc: TwilioException) -> DialProblem:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    message = str(getattr(exc, "msg", "") or exc)
    retry = not isinstance(status, int) or status >= 500 or status == 429
    where = f"error {code}" if code else f"HTTP {status}"
    return DialProblem(f"Twilio refused to {doing} ({where}): {message}", retry=retry)
