"""Pointing a real Twilio phone number at this IVR through Twilio's REST API.

Owns what ``ivr twilio connect`` does: checking its inputs before any request (an E.164 number,
a public ``https://`` base URL, credentials shaped like Twilio's), finding the number among the
account's IncomingPhoneNumbers, working out which voice settings change (old → new), applying
them in one update, and turning Twilio's refusals into a ``TwilioSetupProblem`` that says what
to do next. It talks to Twilio only through twilio's REST ``Client``, whose HTTP client is
injected (tests pass a fake of Twilio's API; nothing here opens a socket by itself).

Must not import Flask or the web app, read the environment or print: the CLI passes values in
and shows the result.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.errors import TwilioSetupProblem
from ivr.phones import mask_phone
from ivr.phones import to_e164

# The webhooks this IVR serves (ivr/webhooks.py), relative to the public base URL.
VOICE_PATH = "/voice"
STATUS_PATH = "/voice/status"
FALLBACK_PATH = "/voice/fallback"

# Seconds to wait for Twilio's API before giving up (twilio's default is to wait forever).
REQUEST_TIMEOUT = 20.0
# How many of the account's numbers an error lists when the asked-for one is not among them.
LISTED_NUMBERS = 10

CREDENTIALS_HINT = (
    "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio Console → Account Info), "
    "or pass --account-sid and --auth-token"
)
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_WEBHOOK_PATHS = (FALLBACK_PATH, STATUS_PATH, VOICE_PATH)


@dataclass(frozen=True)
class Credentials:
    """An Account SID and its Auth Token (never shown in a repr)."""

    account_sid: str
    auth_token: str = field(repr=False)

    @classmethod
    def given(cls, account_sid: str | None, auth_token: str | None) -> Credentials:
        """Credentials from the options or environment; surrounding spaces are dropped (a
        classic copy-and-paste cause of Twilio's error 20003)."""
        sid = (account_sid or "").strip()
        token = (auth_token or "").strip()
        missing = [
            name
            for name, value in (("TWILIO_ACCOUNT_SID", sid), ("TWILIO_AUTH_TOKEN", token))
            if not value
        ]
        if missing:
            verb = "are" if len(missing) > 1 else "is"
            raise TwilioSetupProblem(f"{' and '.join(missing)} {verb} not set", CREDENTIALS_HINT)
        if not _ACCOUNT_SID.fullmatch(sid):
            shown = sid[:2] + "…" if len(sid) > 2 else sid
            raise TwilioSetupProblem(
                f"TWILIO_ACCOUNT_SID ({shown}, {len(sid)} characters) is not an Account SID: "
                "those are 'AC' and 32 hex digits",
                "copy the Account SID (not an API key 'SK…') from Twilio Console → Account Info",
            )
        return cls(sid, token)


@dataclass(frozen=True)
class Change:
    """One setting of the number: Twilio's parameter name, its value before and after.
    An empty value means unset."""

    name: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.name}: {self.old or '(none)'} → {self.new or '(none)'}"


@dataclass(frozen=True)
class Connection:
    """What ``connect`` found and did. ``applied`` is false on a dry run and when nothing
    needed changing."""

    phone_number: str
    sid: str
    friendly_name: str
    base_url: str
    changes: tuple[Change, ...]
    applied: bool
    trial: bool

    def form(self) -> dict[str, str]:
        """The form fields posted to Twilio to make the changes."""
        return {change.name: change.new for change in self.changes}


def parse_number(text: str) -> str:
    """``+1 (415) 555-0100`` → ``+14155550100``; anything but a valid international number
    (``+`` or ``00``, then the country code) is refused."""
    number = to_e164(text, region=None)
    if number is None:
        raise TwilioSetupProblem(
            f"{text!r} is not a phone number in E.164 form",
            "write it as + country code and number, as Twilio Console shows it: +14155550100",
        )
    return number


def public_base_url(url: str) -> str:
    """The base URL Twilio will call, without a trailing ``/``. Refuses what Twilio cannot
    reach: not ``https://``, localhost and private addresses, a webhook path given as the base."""
    tunnel_hint = (
        "start a tunnel (`ngrok http 5000` or `cloudflared tunnel --url http://localhost:5000`) "
        "and pass the https:// URL it prints"
    )
    parts = urlsplit(url.strip())
    if parts.scheme == "http":
        raise TwilioSetupProblem(
            f"{url} is not https://: Twilio calls webhooks over a public https URL", tunnel_hint
        )
    if parts.scheme != "https" or not parts.hostname:
        raise TwilioSetupProblem(f"{url!r} is not an https:// URL", tunnel_hint)
    if parts.query or parts.fragment:
        raise TwilioSetupProblem(
            f"{url} has a query or fragment; give the base URL only",
            f"pass https://{parts.netloc}{parts.path}",
        )
    if not _reachable_host(parts.hostname):
        raise TwilioSetupProblem(
            f"Twilio cannot reach {parts.hostname}: it is not a public address", tunnel_hint
        )
    path = parts.path.rstrip("/")
    for webhook in _WEBHOOK_PATHS:
        if path.endswith(webhook):
            base = f"https://{parts.netloc}{path[: -len(webhook)]}"
            raise TwilioSetupProblem(
                f"{url} already ends in {webhook}; ivr adds {VOICE_PATH}, {STATUS_PATH} "
                f"and {FALLBACK_PATH} itself",
                f"pass the base URL: --url {base}",
            )
    return f"https://{parts.netloc}{path}"


def desired_settings(base_url: str, fallback_url: str | None = None) -> dict[str, str]:
    """Twilio's parameter → value for a number served by this IVR at ``base_url``, its
    fallback by the instance at ``fallback_url`` (default: the same one)."""
    return {
        "VoiceUrl": base_url + VOICE_PATH,
        "VoiceMethod": "POST",
        "StatusCallback": base_url + STATUS_PATH,
        "StatusCallbackMethod": "POST",
        "VoiceFallbackUrl": (fallback_url or base_url) + FALLBACK_PATH,
        "VoiceFallbackMethod": "POST",
    }


def default_http_client() -> Any:
    """twilio's own HTTP client (requests), with a timeout so a dead network cannot hang."""
    return TwilioHttpClient(timeout=REQUEST_TIMEOUT)


def connect(
    number: str,
    base_url: str,
    credentials: Credentials,
    *,
    http_client: Any = None,
    dry_run: bool = False,
    fallback_url: str | None = None,
) -> Connection:
    """Point ``number``'s voice URL, status callback and fallback URL at ``base_url`` (the
    fallback URL at ``fallback_url``, a second instance, when given).

    Every input is checked before the first request. Only settings that differ are posted,
    and none on a dry run or when the number is already connected. ``http_client`` is a
    ``twilio.http.HttpClient``; default: ``default_http_client()``.
    """
    phone_number = parse_number(number)
    base = public_base_url(base_url)
    fallback = public_base_url(fallback_url) if fallback_url is not None else None
    client = Client(
        credentials.account_sid,
        credentials.auth_token,
        http_client=http_client if http_client is not None else default_http_client(),
    )
    account = client.api.v2010.account
    with _twilio_errors("read the account"):
        trial = account.fetch().type == "Trial"
    record = _find_number(account, phone_number)
    if record.trunk_sid:
        raise TwilioSetupProblem(
            f"{phone_number} belongs to the Elastic SIP Trunk {record.trunk_sid}, so Twilio "
            "sends its calls to the trunk and ignores voice URLs",
            "remove the number from the trunk (Console → Elastic SIP Trunking → Trunks → "
            "Numbers), then run this again",
        )
    changes = _changes(record, desired_settings(base, fallback))
    connection = Connection(
        phone_number=phone_number,
        sid=record.sid,
        friendly_name=record.friendly_name or "",
        base_url=base,
        changes=changes,
        applied=bool(changes) and not dry_run,
        trial=trial,
    )
    if connection.applied:
        with _twilio_errors(f"update {phone_number}"):
            account.incoming_phone_numbers(record.sid).update(
                **{_SNAKE[name]: value for name, value in connection.form().items()}
            )
    return connection


def notes(
    connection: Connection, *, server_public_url: str | None, server_checks_signatures: bool
) -> list[str]:
    """What the person connecting should know next, given the server's settings
    (IVR_PUBLIC_URL and whether TWILIO_AUTH_TOKEN is set where the server runs)."""
    said: list[str] = []
    if connection.trial:
        said.append(
            "trial account: callers hear Twilio's trial message before the greeting, and only "
            "verified numbers can call (Console → Phone Numbers → Verified Caller IDs)"
        )
    configured = (server_public_url or "").rstrip("/")
    if not configured:
        said.append(
            f"run the server with IVR_PUBLIC_URL={connection.base_url} so Twilio's signatures "
            "validate behind the tunnel"
        )
    elif configured != connection.base_url:
        said.append(
            f"IVR_PUBLIC_URL is {configured}, not {connection.base_url}: the server would "
            "answer Twilio with 403; set it to the URL above and restart `ivr serve`"
        )
    if not server_checks_signatures:
        said.append(
            "TWILIO_AUTH_TOKEN is not set, so the server would accept unsigned requests: "
            "export it before `ivr serve`"
        )
    return said


_SNAKE = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "VoiceApplicationSid": "voice_application_sid",
}


def _changes(record: Any, desired: dict[str, str]) -> tuple[Change, ...]:
    changes = []
    application = record.voice_application_sid or ""
    if application:
        # Twilio ignores the voice URLs while a TwiML App is attached; "" detaches it.
        changes.append(Change("VoiceApplicationSid", application, ""))
    for name, new in desired.items():
        old = getattr(record, _SNAKE[name]) or ""
        same = old.upper() == new if name.endswith("Method") else old == new
        if not same:
            changes.append(Change(name, old, new))
    return tuple(changes)


def _find_number(account: Any, phone_number: str) -> Any:
    numbers = account.incoming_phone_numbers
    with _twilio_errors("list the account's phone numbers"):
        # PhoneNumber filters by pattern (a partial number matches too): keep the exact one.
        matches = numbers.list(phone_number=phone_number)
    for record in matches:
        if record.phone_number == phone_number:
            return record
    with _twilio_errors("list the account's phone numbers"):
        owned = [r.phone_number for r in numbers.list(limit=LISTED_NUMBERS + 1)]
    if not owned:
        raise TwilioSetupProblem(
            f"{phone_number} is not on this account, which has no phone numbers",
            "buy a voice-capable number (Console → Phone Numbers → Buy a number) "
            "or use the credentials of the account that has it",
        )
    shown = ", ".join(mask_phone(n) for n in owned[:LISTED_NUMBERS])
    more = ", …" if len(owned) > LISTED_NUMBERS else ""
    raise TwilioSetupProblem(
        f"{phone_number} is not on this account; its numbers are: {shown}{more}",
        "pass one of these with --number, or use the credentials of the account (or "
        "subaccount) that has the number",
    )


@contextmanager
def _twilio_errors(doing: str) -> Iterator[None]:
    """Twilio's refusals and network failures → TwilioSetupProblem with a next step."""
    try:
        yield
    except TwilioException as exc:
        status, code, message = _refusal(exc)
        raise _explain(doing, status, code, message) from exc
    except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
        raise TwilioSetupProblem(
            f"cannot reach Twilio's API to {doing}: {exc}",
            "check the internet connection (and HTTPS_PROXY, if you use one), then try again",
        ) from exc


def _refusal(exc: TwilioException) -> tuple[int | None, int | None, str]:
    """(HTTP status, Twilio code, message) from whichever shape twilio raised. A list request
    that fails raises a bare TwilioException("Unable to fetch page", response), so the
    response body is read here."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    message = str(getattr(exc, "msg", "") or getattr(exc, "detail", "") or "")
    response = exc.args[1] if len(exc.args) > 1 else None
    if response is not None and hasattr(response, "status_code"):
        status = response.status_code
        try:
            body = json.loads(response.text)
        except ValueError:
            body = {}
        if isinstance(body, dict):
            code = body.get("code", code)
            message = str(body.get("message", message))
    return (
        status if isinstance(status, int) else None,
        code if isinstance(code, int) else None,
        message or str(exc.args[0] if exc.args else "no details"),
    )


def _explain(doing: str, status: int | None, code: int | None, message: str) -> TwilioSetupProblem:
    if code == 20003:
        return TwilioSetupProblem(
            "Twilio refused the credentials (error 20003: Authenticate)",
            "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN against Console → Account Info "
            "(a token that was rotated is the usual cause)",
            code=code,
        )
    if code == 20008:
        return TwilioSetupProblem(
            "these are Twilio's test credentials, which cannot read or change phone numbers "
            "(error 20008)",
            "use the live Account SID and Auth Token from Console → Account Info",
            code=code,
        )
    if code == 20005:
        return TwilioSetupProblem(
            "the Twilio account is not active (error 20005)",
            "activate or top up the account in Twilio Console, then try again",
            code=code,
        )
    if code == 20429 or status == 429:
        return TwilioSetupProblem(
            f"Twilio is rate-limiting requests (HTTP 429) while trying to {doing}",
            "wait a minute and run the command again",
            code=code,
        )
    if status is not None and status >= 500:
        return TwilioSetupProblem(
            f"Twilio had a problem (HTTP {status}) while trying to {doing}: {message}",
            "try again in a minute; https://status.twilio.com shows incidents",
            code=code,
        )
    if code is None:
        return TwilioSetupProblem(
            f"Twilio refused to {doing} (HTTP {status}): {message}",
            "check the number and the URL, then try again",
        )
    return TwilioSetupProblem(
        f"Twilio refused to {doing} (error {code}): {message}",
        f"see https://www.twilio.com/docs/errors/{code}",
        code=code,
    )


def _reachable_host(host: str) -> bool:
    """Whether Twilio, on the public internet, could reach ``host`` at all."""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host  # a bare name like "myhost" resolves only on a local network
    return address.is_global
