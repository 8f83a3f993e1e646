"""``ivr twilio connect`` against a request-level fake of Twilio's REST API.

``FakeTwilioApi`` is a ``twilio.http.HttpClient``: twilio's real ``Client`` builds every URL,
query and form body as it would for api.twilio.com, and the fake answers like Twilio does
(the same JSON shapes, paging, pattern filter, error bodies), recording each request so the
tests can assert the exact form fields posted. No network is used.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from ivr.cli.main import main
from ivr.errors import TwilioSetupError
from ivr.errors import TwilioSetupProblem
from ivr.telephony.numbers import Change
from ivr.telephony.numbers import Connection
from ivr.telephony.numbers import Credentials
from ivr.telephony.numbers import connect
from ivr.telephony.numbers import default_http_client
from ivr.telephony.numbers import notes
from ivr.telephony.numbers import parse_number
from ivr.telephony.numbers import public_base_url

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TEST_SID = "ACffffffffffffffffffffffffffffffff"
TEST_TOKEN = "99999999999999999999999999999999"
NUMBER = "+14155550100"
BASE = "https://ivr-demo.ngrok.app"
API = "https://api.twilio.com/2010-04-01"
ACCOUNT_URL = f"{API}/Accounts/{SID}.json"
NUMBERS_URL = f"{API}/Accounts/{SID}/IncomingPhoneNumbers.json"
UPDATED_AT = "Mon, 23 Nov 2026 02:00:00 +0000"
CREATED_AT = "Fri, 06 Nov 2026 09:30:00 +0000"
CONNECTED = {
    "voice_url": f"{BASE}/voice",
    "voice_method": "POST",
    "status_callback": f"{BASE}/voice/status",
    "status_callback_method": "POST",
    "voice_fallback_url": f"{BASE}/voice/fallback",
    "voice_fallback_method": "POST",
}


@dataclass(frozen=True)
class Sent:
    """One request the fake received: query parameters and form fields as strings."""

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = field(default=None, compare=False)


# Form fields the IncomingPhoneNumber update accepts that these tests exercise → JSON field.
_UPDATABLE = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "TrunkSid": "trunk_sid",
}
_ACCOUNT_PATH = re.compile(r"/2010-04-01/Accounts/(\w+)\.json")
_NUMBERS_PATH = re.compile(r"/2010-04-01/Accounts/(\w+)/IncomingPhoneNumbers\.json")
_NUMBER_PATH = re.compile(r"/2010-04-01/Accounts/(\w+)/IncomingPhoneNumbers/(\w+)\.json")
# With test credentials Twilio allows only these (POST) resources; everything else is 20008.
_TEST_CREDENTIAL_RESOURCES = re.compile(
    r"/2010-04-01/Accounts/\w+/(IncomingPhoneNumbers|Messages|Calls)\.json"
)


class FakeTwilioApi(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Twilio's REST API for one account: the Account resource and IncomingPhoneNumbers
    (list with PhoneNumber pattern filter and paging, fetch, update), Basic auth, and
    Twilio's error bodies (20003, 20008, 20404)."""

    def __init__(
        self, *, account_type: str = "Full", test_credentials: bool = False, page_size: int = 50
    ) -> None:
        super().__init__(logger=logging.getLogger("fake-twilio-api"), is_async=False)
        self.account_type = account_type
        self.test_credentials = test_credentials
        self.default_page_size = page_size
        self.numbers: dict[str, dict[str, Any]] = {}
        self.requests: list[Sent] = []
        self._failures: list[tuple[str, int, dict[str, Any] | str]] = []

    def add_number(self, phone_number: str, **fields: Any) -> dict[str, Any]:
        sid = f"PN{len(self.numbers) + 1:032x}"
        record = _number_record(sid, phone_number) | fields
        self.numbers[sid] = record
        return record

    def fail_next(self, method: str, status: int, body: dict[str, Any] | str) -> None:
        """Answer the next ``method`` request with this error (JSON, or a raw page) instead."""
        self._failures.append((method, status, body))

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
        query = dict(parse_qsl(parts.query)) | {k: str(v) for k, v in (params or {}).items()}
        form = {k: str(v) for k, v in (data or {}).items()}
        url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.requests.append(Sent(method, url, query, form, auth))
        for i, (failing, status, body) in enumerate(self._failures):
            if failing == method:
                del self._failures[i]
                if isinstance(body, str):
                    return Response(status, body, {"Content-Type": "text/html"})
                return _json(status, body)
        if parts.netloc != "api.twilio.com":
            return _error(404, 20404, f"The requested resource {parts.path} was not found")
        if self.test_credentials and auth == (TEST_SID, TEST_TOKEN):
            if method == "POST" and _TEST_CREDENTIAL_RESOURCES.fullmatch(parts.path):
                return _error(400, 21452, "Not exercised by these tests")
            return _error(403, 20008, "Resource not accessible with Test Account Credentials")
        if auth != (SID, TOKEN):
            return _error(401, 20003, "Authenticate")
        return self._route(method, parts.path, query, form)

    def _route(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str]
    ) -> Response:
        missing = _error(404, 20404, f"The requested resource {path} was not found")
        if (match := _ACCOUNT_PATH.fullmatch(path)) and method == "GET":
            return _json(200, self._account()) if match[1] == SID else missing
        if (match := _NUMBERS_PATH.fullmatch(path)) and method == "GET":
            return _json(200, self._list(path, query)) if match[1] == SID else missing
        match = _NUMBER_PATH.fullmatch(path)
        if match is None or match[1] != SID or match[2] not in self.numbers:
            return missing
        record = self.numbers[match[2]]
        if method == "POST":
            for name, value in form.items():
                if name in _UPDATABLE:  # Twilio ignores parameters it does not know
                    record[_UPDATABLE[name]] = (value or None) if name.endswith("Sid") else value
            record["date_updated"] = UPDATED_AT
        return _json(200, record) if method in ("GET", "POST") else missing

    def _account(self) -> dict[str, Any]:
        return {
            "auth_token": TOKEN,
            "date_created": CREATED_AT,
            "date_updated": CREATED_AT,
            "friendly_name": "My first Twilio account",
            "owner_account_sid": SID,
            "sid": SID,
            "status": "active",
            "subresource_uris": {
                "incoming_phone_numbers": f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
            },
            "type": self.account_type,
            "uri": f"/2010-04-01/Accounts/{SID}.json",
        }

    def _list(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        pattern = query.get("PhoneNumber")
        records = list(self.numbers.values())
        if pattern is not None:
            # Twilio matches PhoneNumber as a pattern: part of a number matches, * is any digit.
            regex = "".join(r"\d" if c == "*" else re.escape(c) for c in pattern)
            records = [r for r in records if re.search(regex, r["phone_number"])]
        size = int(query.get("PageSize", self.default_page_size))
        page = int(query.get("Page", "0"))
        chunk = records[page * size : (page + 1) * size]
        kept = [("PhoneNumber", pattern)] if pattern is not None else []

        def page_uri(n: int, token: str | None = None) -> str:
            extra = [("PageToken", token)] if token else []
            return f"{path}?{urlencode([*kept, ('PageSize', size), ('Page', n), *extra])}"

        more = len(records) > (page + 1) * size
        return {
            "end": page * size + len(chunk) - 1,
            "first_page_uri": page_uri(0),
            "incoming_phone_numbers": chunk,
            "next_page_uri": page_uri(page + 1, "PA" + chunk[-1]["sid"]) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "start": page * size,
            "uri": page_uri(page),
        }


def _number_record(sid: str, phone_number: str) -> dict[str, Any]:
    """An IncomingPhoneNumber as Twilio returns it for a freshly bought number."""
    return {
        "account_sid": SID,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": "2010-04-01",
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
        "date_created": CREATED_AT,
        "date_updated": CREATED_AT,
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Active",
        "friendly_name": "(415) 555-0100",
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": phone_number,
        "sid": sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "https://demo.twilio.com/welcome/sms/reply",
        "status": "in-use",
        "status_callback": "",
        "status_callback_method": "POST",
        "subresource_uris": {
            "assigned_add_ons": f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{sid}/AssignedAddOns.json"
        },
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{sid}.json",
        "voice_application_sid": "",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": "",
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": "https://demo.twilio.com/welcome/voice/",
    }


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body), {"Content-Type": "application/json"})


def _error(status: int, code: int, message: str) -> Response:
    return _json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _number_url(sid: str) -> str:
    return f"{API}/Accounts/{SID}/IncomingPhoneNumbers/{sid}.json"


class Unreachable(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """An HTTP client whose network is down, as requests reports it (an OSError)."""

    def __init__(self) -> None:
        super().__init__(logger=logging.getLogger("unreachable"), is_async=False)

    def request(self, method: str, uri: str, **kwargs: Any) -> Response:
        raise ConnectionError(f"Failed to resolve 'api.twilio.com' for {method} {uri}")


CREDENTIALS = Credentials(SID, TOKEN)


@pytest.fixture
def api() -> FakeTwilioApi:
    fake = FakeTwilioApi()
    fake.add_number(NUMBER)
    return fake


# --- connecting ---------------------------------------------------------------------------


def test_connect_posts_voice_status_and_fallback_urls_all_by_post(api: FakeTwilioApi) -> None:
    connection = connect(NUMBER, BASE, CREDENTIALS, http_client=api)
    pn = next(iter(api.numbers))
    assert api.requests == [
        Sent("GET", ACCOUNT_URL),
        Sent("GET", NUMBERS_URL, {"PhoneNumber": NUMBER}),
        Sent(
            "POST",
            _number_url(pn),
            data={
                "VoiceUrl": f"{BASE}/voice",
                "StatusCallback": f"{BASE}/voice/status",
                "VoiceFallbackUrl": f"{BASE}/voice/fallback",
            },
        ),
    ]
    assert {r.auth for r in api.requests} == {(SID, TOKEN)}
    assert {k: api.numbers[pn][k] for k in CONNECTED} == CONNECTED
    assert connection == Connection(
        phone_number=NUMBER,
        sid=pn,
        friendly_name="(415) 555-0100",
        base_url=BASE,
        changes=(
            Change("VoiceUrl", "https://demo.twilio.com/welcome/voice/", f"{BASE}/voice"),
            Change("StatusCallback", "", f"{BASE}/voice/status"),
            Change("VoiceFallbackUrl", "", f"{BASE}/voice/fallback"),
        ),
        applied=True,
        trial=False,
    )


def test_the_fallback_url_may_point_at_a_second_instance(api: FakeTwilioApi) -> None:
    second = "https://ivr-fallback.example.com"

    result = _run(api, ["--number", NUMBER, "--url", BASE, "--fallback-url", second + "/"])

    assert result.exit_code == 0, result.output
    assert f"  VoiceFallbackUrl: (none) → {second}/voice/fallback" in result.output.splitlines()
    assert api.numbers[next(iter(api.numbers))]["voice_fallback_url"] == f"{second}/voice/fallback"


def test_methods_set_to_get_are_switched_to_post(api: FakeTwilioApi) -> None:
    record = api.add_number("+14155550199", voice_method="GET", status_callback_method="GET")
    record.update({k: v for k, v in CONNECTED.items() if not k.endswith("method")})
    connection = connect("+14155550199", BASE, CREDENTIALS, http_client=api)
    assert api.requests[-1] == Sent(
        "POST",
        _number_url(record["sid"]),
        data={"VoiceMethod": "POST", "StatusCallbackMethod": "POST"},
    )
    assert [str(c) for c in connection.changes] == [
        "VoiceMethod: GET → POST",
        "StatusCallbackMethod: GET → POST",
    ]


def test_an_already_connected_number_is_left_alone_without_a_post(api: FakeTwilioApi) -> None:
    api.add_number("+14155550199", **CONNECTED)
    connection = connect("+14155550199", BASE + "/", CREDENTIALS, http_client=api)
    assert [r.method for r in api.requests] == ["GET", "GET"]
    assert connection.changes == ()
    assert connection.applied is False


def test_dry_run_reads_the_number_but_never_posts(api: FakeTwilioApi) -> None:
    connection = connect(NUMBER, BASE, CREDENTIALS, http_client=api, dry_run=True)
    assert [r.method for r in api.requests] == ["GET", "GET"]
    assert api.numbers[connection.sid]["voice_url"] == "https://demo.twilio.com/welcome/voice/"
    assert connection.applied is False
    assert connection.form() == {
        "VoiceUrl": f"{BASE}/voice",
        "StatusCallback": f"{BASE}/voice/status",
        "VoiceFallbackUrl": f"{BASE}/voice/fallback",
    }


def test_a_twiml_app_on_the_number_is_detached_so_the_voice_url_takes_effect(
    api: FakeTwilioApi,
) -> None:
    app_sid = "AP" + "1" * 32
    record = api.add_number("+14155550199", voice_application_sid=app_sid, **CONNECTED)
    connection = connect("+14155550199", BASE, CREDENTIALS, http_client=api)
    assert connection.changes == (Change("VoiceApplicationSid", app_sid, ""),)
    assert str(connection.changes[0]) == f"VoiceApplicationSid: {app_sid} → (none)"
    assert api.requests[-1].data == {"VoiceApplicationSid": ""}
    assert record["voice_application_sid"] is None


def test_a_base_url_with_a_path_prefix_keeps_it(api: FakeTwilioApi) -> None:
    connection = connect(NUMBER, "https://example.com/hotline/", CREDENTIALS, http_client=api)
    assert connection.form()["VoiceUrl"] == "https://example.com/hotline/voice"


def test_a_number_written_with_spaces_and_dashes_is_found(api: FakeTwilioApi) -> None:
    connection = connect("+1 (415) 555-0100", BASE, CREDENTIALS, http_client=api)
    assert connection.phone_number == NUMBER
    assert api.requests[1].params == {"PhoneNumber": NUMBER}


def test_a_trial_account_is_reported(api: FakeTwilioApi) -> None:
    api.account_type = "Trial"
    assert connect(NUMBER, BASE, CREDENTIALS, http_client=api).trial is True


# --- refusals: each says what is wrong and what to do next ------------------------------------


def _refusal(api: HttpClient, number: str = NUMBER, url: str = BASE) -> TwilioSetupProblem:
    with pytest.raises(TwilioSetupProblem) as caught:
        connect(number, url, CREDENTIALS, http_client=api)
    return caught.value


def test_setup_problems_are_twilio_setup_errors() -> None:
    assert issubclass(TwilioSetupProblem, TwilioSetupError)


@pytest.mark.parametrize("number", ["4155550100", "+0155550100", "+1415555010012345", "call me"])
def test_a_number_not_in_e164_form_is_refused_before_any_request(
    api: FakeTwilioApi, number: str
) -> None:
    problem = _refusal(api, number=number)
    assert str(problem) == f"{number!r} is not a phone number in E.164 form"
    assert problem.hint == (
        "write it as + country code and number, as Twilio Console shows it: +14155550100"
    )
    assert api.requests == []


def test_an_international_00_prefix_is_read_as_plus() -> None:
    assert parse_number("0086 138 0000 0001") == "+8613800000001"


TUNNEL_HINT = (
    "start a tunnel (`ngrok http 5000` or `cloudflared tunnel --url http://localhost:5000`) "
    "and pass the https:// URL it prints"
)


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        (
            "http://ivr-demo.ngrok.app",
            "http://ivr-demo.ngrok.app is not https://: Twilio calls webhooks over a public https URL",
            TUNNEL_HINT,
        ),
        ("ivr-demo.ngrok.app", "'ivr-demo.ngrok.app' is not an https:// URL", TUNNEL_HINT),
        (
            "https://localhost:5000",
            "Twilio cannot reach localhost: it is not a public address",
            TUNNEL_HINT,
        ),
        (
            "https://127.0.0.1:5000",
            "Twilio cannot reach 127.0.0.1: it is not a public address",
            TUNNEL_HINT,
        ),
        (
            "https://192.168.1.20",
            "Twilio cannot reach 192.168.1.20: it is not a public address",
            TUNNEL_HINT,
        ),
        ("https://myhost", "Twilio cannot reach myhost: it is not a public address", TUNNEL_HINT),
        (
            "https://ivr-demo.ngrok.app/voice",
            "https://ivr-demo.ngrok.app/voice already ends in /voice; ivr adds /voice, "
            "/voice/status and /voice/fallback itself",
            "pass the base URL: --url https://ivr-demo.ngrok.app",
        ),
        (
            "https://ivr-demo.ngrok.app/voice/status/",
            "https://ivr-demo.ngrok.app/voice/status/ already ends in /voice/status; ivr adds "
            "/voice, /voice/status and /voice/fallback itself",
            "pass the base URL: --url https://ivr-demo.ngrok.app",
        ),
        (
            "https://ivr-demo.ngrok.app/?x=1",
            "https://ivr-demo.ngrok.app/?x=1 has a query or fragment; give the base URL only",
            "pass https://ivr-demo.ngrok.app/",
        ),
    ],
)
def test_a_url_twilio_cannot_call_is_refused_before_any_request(
    api: FakeTwilioApi, url: str, message: str, hint: str
) -> None:
    problem = _refusal(api, url=url)
    assert (str(problem), problem.hint) == (message, hint)
    assert api.requests == []


def test_a_public_https_url_loses_only_its_trailing_slash() -> None:
    assert public_base_url(" https://abc.trycloudflare.com/ ") == "https://abc.trycloudflare.com"


@pytest.mark.parametrize(
    ("sid", "token", "message"),
    [
        (None, None, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"),
        (SID, "  ", "TWILIO_AUTH_TOKEN is not set"),
        ("", TOKEN, "TWILIO_ACCOUNT_SID is not set"),
    ],
)
def test_missing_credentials_name_the_environment_variables(
    sid: str | None, token: str | None, message: str
) -> None:
    with pytest.raises(TwilioSetupProblem) as caught:
        Credentials.given(sid, token)
    assert str(caught.value) == message
    assert caught.value.hint == (
        "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio Console → Account Info), "
        "or pass --account-sid and --auth-token"
    )


def test_an_api_key_given_as_the_account_sid_is_refused() -> None:
    with pytest.raises(TwilioSetupProblem) as caught:
        Credentials.given("SK" + "0" * 32, TOKEN)
    assert str(caught.value) == (
        "TWILIO_ACCOUNT_SID (SK…, 34 characters) is not an Account SID: those are 'AC' and "
        "32 hex digits"
    )


def test_credentials_lose_surrounding_spaces_and_never_show_the_token() -> None:
    credentials = Credentials.given(f" {SID}\n", f"{TOKEN} ")
    assert credentials == CREDENTIALS
    assert TOKEN not in repr(credentials)


def test_bad_credentials_are_reported_as_twilio_error_20003(api: FakeTwilioApi) -> None:
    with pytest.raises(TwilioSetupProblem) as caught:
        connect(NUMBER, BASE, Credentials(SID, "f" * 32), http_client=api)
    assert caught.value.code == 20003
    assert str(caught.value) == "Twilio refused the credentials (error 20003: Authenticate)"
    assert caught.value.hint == (
        "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN against Console → Account Info "
        "(a token that was rotated is the usual cause)"
    )
    assert [r.method for r in api.requests] == ["GET"]


def test_a_401_on_the_number_list_is_also_read_as_error_20003(api: FakeTwilioApi) -> None:
    # twilio raises a bare TwilioException for a failed list page; the code is in its body.
    api.fail_next("GET", 200, api._account())
    api.fail_next("GET", 401, json.loads(_error(401, 20003, "Authenticate").text))
    problem = _refusal(api)
    assert (problem.code, str(problem)) == (
        20003,
        "Twilio refused the credentials (error 20003: Authenticate)",
    )


def test_test_credentials_are_refused_with_error_20008() -> None:
    api = FakeTwilioApi(test_credentials=True)
    with pytest.raises(TwilioSetupProblem) as caught:
        connect(NUMBER, BASE, Credentials(TEST_SID, TEST_TOKEN), http_client=api)
    assert caught.value.code == 20008
    assert caught.value.hint == (
        "use the live Account SID and Auth Token from Console → Account Info"
    )


def test_a_number_not_on_the_account_lists_the_numbers_that_are_masked(
    api: FakeTwilioApi,
) -> None:
    api.add_number("+8613800000009")
    problem = _refusal(api, number="+14155550111")
    assert str(problem) == (
        "+14155550111 is not on this account; its numbers are: +1******0100, +86*******0009"
    )
    assert problem.hint == (
        "pass one of these with --number, or use the credentials of the account (or "
        "subaccount) that has the number"
    )
    assert api.requests[1:] == [
        Sent("GET", NUMBERS_URL, {"PhoneNumber": "+14155550111"}),
        Sent("GET", NUMBERS_URL, {"PageSize": "11"}),
    ]


def test_a_partial_match_from_twilios_pattern_filter_is_not_taken_for_the_number(
    api: FakeTwilioApi,
) -> None:
    # Berlin numbers vary in length: +49301234567 is a valid number and a part of the one owned.
    api.add_number("+493012345678")
    problem = _refusal(api, number="+49301234567")
    assert str(problem).startswith("+49301234567 is not on this account;")
    assert not any(r.method == "POST" for r in api.requests)


def test_a_long_list_of_numbers_is_cut_at_ten_across_pages() -> None:
    api = FakeTwilioApi(page_size=4)
    for n in range(12):
        api.add_number(f"+1415555{n:04d}")
    problem = _refusal(api, number="+14155559999")
    shown = ", ".join(f"+1******{n:04d}" for n in range(10))
    assert str(problem) == f"+14155559999 is not on this account; its numbers are: {shown}, …"


def test_an_account_without_numbers_says_to_buy_one() -> None:
    problem = _refusal(FakeTwilioApi())
    assert str(problem) == f"{NUMBER} is not on this account, which has no phone numbers"
    assert problem.hint.startswith("buy a voice-capable number (Console → Phone Numbers")


def test_a_number_on_a_sip_trunk_is_refused_with_what_to_do(api: FakeTwilioApi) -> None:
    trunk = "TK" + "2" * 32
    api.add_number("+14155550199", trunk_sid=trunk)
    problem = _refusal(api, number="+14155550199")
    assert str(problem) == (
        f"+14155550199 belongs to the Elastic SIP Trunk {trunk}, so Twilio sends its calls to "
        "the trunk and ignores voice URLs"
    )
    assert not any(r.method == "POST" for r in api.requests)


def test_a_number_released_before_the_update_is_reported_with_twilios_code(
    api: FakeTwilioApi,
) -> None:
    api.fail_next(
        "POST", 404, json.loads(_error(404, 20404, "The requested resource was not found").text)
    )
    problem = _refusal(api)
    assert str(problem) == (
        f"Twilio refused to update {NUMBER} (error 20404): Unable to update record: "
        "The requested resource was not found"
    )
    assert problem.hint == "see https://www.twilio.com/docs/errors/20404"


def test_twilio_rate_limiting_says_to_wait(api: FakeTwilioApi) -> None:
    api.fail_next("POST", 429, json.loads(_error(429, 20429, "Too Many Requests").text))
    problem = _refusal(api)
    assert (str(problem), problem.hint) == (
        f"Twilio is rate-limiting requests (HTTP 429) while trying to update {NUMBER}",
        "wait a minute and run the command again",
    )


def test_a_twilio_outage_says_to_try_again_later(api: FakeTwilioApi) -> None:
    api.fail_next("GET", 503, {"message": "Service Unavailable", "status": 503})
    problem = _refusal(api)
    assert str(problem) == (
        "Twilio had a problem (HTTP 503) while trying to read the account: "
        "Unable to fetch record: Service Unavailable"
    )


def test_an_inactive_account_is_reported_as_error_20005(api: FakeTwilioApi) -> None:
    api.fail_next("GET", 401, json.loads(_error(401, 20005, "Account not active").text))
    problem = _refusal(api)
    assert (problem.code, str(problem)) == (20005, "the Twilio account is not active (error 20005)")


def test_a_non_json_refusal_of_the_list_is_reported_with_its_http_status(
    api: FakeTwilioApi,
) -> None:
    api.fail_next("GET", 200, api._account())
    api.fail_next("GET", 407, "<html><h1>Proxy Authentication Required</h1></html>")
    problem = _refusal(api)
    assert (problem.code, str(problem), problem.hint) == (
        None,
        "Twilio refused to list the account's phone numbers (HTTP 407): Unable to fetch page",
        "check the number and the URL, then try again",
    )


def test_twilios_own_http_client_is_the_default_and_has_a_timeout() -> None:
    client = default_http_client()
    assert (type(client), client.timeout) == (TwilioHttpClient, 20.0)


def test_an_unreachable_api_says_to_check_the_connection() -> None:
    problem = _refusal(Unreachable())
    assert str(problem) == (
        "cannot reach Twilio's API to read the account: Failed to resolve 'api.twilio.com' "
        f"for GET {ACCOUNT_URL}"
    )
    assert problem.hint == (
        "check the internet connection (and HTTPS_PROXY, if you use one), then try again"
    )


# --- notes -------------------------------------------------------------------------------------


def _connection(trial: bool = False) -> Connection:
    return Connection(NUMBER, "PN" + "0" * 32, "", BASE, (), applied=False, trial=trial)


def test_notes_are_silent_when_the_server_is_set_up_for_this_url() -> None:
    assert notes(_connection(), server_public_url=BASE + "/", server_checks_signatures=True) == []


def test_notes_warn_of_a_trial_a_different_public_url_and_unchecked_signatures() -> None:
    said = notes(
        _connection(trial=True),
        server_public_url="https://old.ngrok.app",
        server_checks_signatures=False,
    )
    assert said == [
        "trial account: callers hear Twilio's trial message before the greeting, and only "
        "verified numbers can call (Console → Phone Numbers → Verified Caller IDs)",
        f"IVR_PUBLIC_URL is https://old.ngrok.app, not {BASE}: the server would answer Twilio "
        "with 403; set it to the URL above and restart `ivr serve`",
        "TWILIO_AUTH_TOKEN is not set, so the server would accept unsigned requests: "
        "export it before `ivr serve`",
    ]


def test_notes_ask_for_ivr_public_url_when_it_is_unset() -> None:
    assert notes(_connection(), server_public_url=None, server_checks_signatures=True) == [
        f"run the server with IVR_PUBLIC_URL={BASE} so Twilio's signatures validate behind "
        "the tunnel"
    ]


# --- the command -------------------------------------------------------------------------------

ENV = {
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": TOKEN,
    "IVR_PUBLIC_URL": BASE,
}


def _run(api: HttpClient, args: list[str], env: dict[str, str | None] | None = None) -> Any:
    return CliRunner().invoke(main, ["twilio", "connect", *args], obj=api, env=env or ENV)


def test_the_command_prints_each_change_old_to_new(api: FakeTwilioApi) -> None:
    result = _run(api, ["--number", NUMBER, "--url", BASE])
    assert result.exit_code == 0, result.output
    pn = next(iter(api.numbers))
    assert result.output.splitlines() == [
        f'{NUMBER} ({pn}, "(415) 555-0100")',
        f"  VoiceUrl: https://demo.twilio.com/welcome/voice/ → {BASE}/voice",
        f"  StatusCallback: (none) → {BASE}/voice/status",
        f"  VoiceFallbackUrl: (none) → {BASE}/voice/fallback",
        "updated 3 setting(s)",
    ]
    assert api.numbers[pn]["voice_fallback_url"] == f"{BASE}/voice/fallback"


def test_the_command_takes_the_url_and_credentials_from_the_environment(
    api: FakeTwilioApi,
) -> None:
    result = _run(api, ["--number", NUMBER, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "dry run: nothing was changed; run again without --dry-run to apply"
    )
    assert [r.method for r in api.requests] == ["GET", "GET"]


def test_the_command_options_override_the_environment(api: FakeTwilioApi) -> None:
    env: dict[str, str | None] = {
        "TWILIO_ACCOUNT_SID": TEST_SID,
        "TWILIO_AUTH_TOKEN": "wrong",
        "IVR_PUBLIC_URL": None,
    }
    args = ["--number", NUMBER, "--url", BASE, "--account-sid", SID, "--auth-token", TOKEN]
    result = _run(api, args, env)
    assert result.exit_code == 0, result.output
    assert {r.auth for r in api.requests} == {(SID, TOKEN)}
    assert result.output.splitlines()[-1] == (
        f"note: run the server with IVR_PUBLIC_URL={BASE} so Twilio's signatures validate "
        "behind the tunnel"
    )


def test_the_command_says_when_the_number_is_already_connected(api: FakeTwilioApi) -> None:
    api.add_number("+14155550199", **CONNECTED)
    result = _run(api, ["--number", "+14155550199"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [f"already connected to {BASE}: nothing to change"]


def test_the_command_shows_an_error_and_the_next_step_and_exits_2(api: FakeTwilioApi) -> None:
    result = _run(api, ["--number", NUMBER], {**ENV, "TWILIO_AUTH_TOKEN": "f" * 32})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Twilio refused the credentials (error 20003: Authenticate)",
        "  → check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN against Console → Account Info "
        "(a token that was rotated is the usual cause)",
    ]


def test_the_command_names_missing_credentials_without_calling_twilio(
    api: FakeTwilioApi,
) -> None:
    env: dict[str, str | None] = {"TWILIO_ACCOUNT_SID": None, "TWILIO_AUTH_TOKEN": None}
    result = _run(api, ["--number", NUMBER, "--url", BASE], env)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"
    )
    assert api.requests == []


def test_the_command_without_a_url_says_where_to_give_one(api: FakeTwilioApi) -> None:
    result = _run(api, ["--number", NUMBER], {**ENV, "IVR_PUBLIC_URL": None})
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: no public URL to point the number at",
        "  → give --url with your tunnel's https URL, or set IVR_PUBLIC_URL",
    ]
    assert api.requests == []
