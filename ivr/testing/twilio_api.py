"""A request-level fake of Twilio's REST Calls resource, for placing calls without Twilio.

Owns ``FakeCallsApi``: a ``twilio.http.HttpClient`` that twilio's own REST client (and so
``ivr.telephony.calls.TwilioPlacer``) talks to unchanged. It answers ``POST
/2010-04-01/Accounts/{sid}/Calls.json`` (create: the form is kept as an
``OutboundRequest`` the simulator can answer) and ``GET …/Calls/{CallSid}.json`` (fetch: the
status the test or simulator set), checks Basic auth, and refuses as Twilio does (error 20003
for bad credentials, 21211 for a number that is not E.164, 20404 for an unknown call, any
error a test queues with ``fail_next``). Product code, like the simulator: what users test a
dialer with. Imports nothing of the engine, flows, web or stores.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.testing.simulator import OutboundRequest

_CALLS = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls\.json")
_CALL = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-f]{32})\.json")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class Created:
    """One ``calls.create`` request as Twilio received it (form field names as sent)."""

    form: dict[str, str]
    request: OutboundRequest


class FakeCallsApi(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Twilio's Calls resource for one account. ``created`` lists the calls placed, in
    order; ``statuses`` holds each call's CallStatus (``queued`` when created)."""

    def __init__(self, account_sid: str, auth_token: str, *, first_call: int = 0x1000) -> None:
        super().__init__(logger=logging.getLogger("fake-twilio-calls"), is_async=False)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.created: list[Created] = []
        self.statuses: dict[str, str] = {}
        self._next = first_call
        self._failures: list[tuple[int, int, str]] = []

    def fail_next(self, status: int, code: int, message: str) -> None:
        """Answer the next request with this Twilio error instead."""
        self._failures.append((status, code, message))

    @property
    def requests(self) -> list[OutboundRequest]:
        return [c.request for c in self.created]

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(uri)
        if self._failures:
            status, code, message = self._failures.pop(0)
            return _error(status, code, message)
        if auth != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate")
        if method == "POST" and (m := _CALLS.fullmatch(parts.path)) and m[1] == self.account_sid:
            return self._create({k: _field(v) for k, v in (data or {}).items()})
        if method == "GET" and (m := _CALL.fullmatch(parts.path)) and m[1] == self.account_sid:
            if m[2] in self.statuses:
                return _json(200, self._resource(m[2]))
        return _error(404, 20404, f"The requested resource {parts.path} was not found")

    def _create(self, form: dict[str, str]) -> Response:
        for field in ("To", "From"):
            if not _E164.fullmatch(form.get(field, "")):
                return _error(400, 21211, f"Invalid '{field}' Phone Number: {form.get(field)}")
        if not form.get("Url"):
            return _error(400, 21205, "Url parameter is required")
        sid = f"CA{self._next:032x}"
        self._next += 1
        request = OutboundRequest(
            call_sid=sid,
            to=form["To"],
            from_=form["From"],
            url=form["Url"],
            method=form.get("Method", "POST"),
            status_callback=form.get("StatusCallback"),
            status_callback_method=form.get("StatusCallbackMethod", "POST"),
            machine_detection=form.get("MachineDetection"),
        )
        self.created.append(Created(form, request))
        self.statuses[sid] = "queued"
        return _json(201, self._resource(sid))

    def _resource(self, sid: str) -> dict[str, Any]:
        request = next(c.request for c in self.created if c.request.call_sid == sid)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": request.to,
            "from": request.from_,
            "status": self.statuses[sid],
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
        }


def _field(value: object) -> str:
    """A form value as sent: a list (a repeated field, such as StatusCallbackEvent) as its
    values separated by spaces."""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body), {"Content-Type": "application/json"})


def _error(status: int, code: int, message: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return _json(status, body)
