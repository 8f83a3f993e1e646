"""The agent's side, on the real app: callers reach the queue through the webhooks, then the
agent pages list them (exact JSON, escaped HTML, masked numbers), the pickup TwiML takes one
and the connecting document bridges them. Access with the agent token and Twilio signatures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.clock import ManualClock
from ivr.telephony.twiml_schema import check_document
from ivr.testing.simulator import Call
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet.tables import AccountRow
from ivr.web.app import create_app
from tests.conftest import PIN_KEY

ZHANG, LI, STRANGER = "+8613800000001", "+8613800000002", "+8613900000009"
AGENT_TOKEN = "agent-secret"
TWILIO_TOKEN = "test-auth-token"
BASE = "http://localhost"

MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(tmp_path: Path, clock: ManualClock) -> Iterator[MakeApp]:
    """The real app on a temporary SQLite file, with the agent blueprint registered."""
    built: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app(
            {
                "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
                "IVR_LOG_LEVEL": "WARNING",
                "IVR_AUDIO": "all",  # the shipped recordings are espeak-ng previews
                "IVR_PIN_KEY": PIN_KEY,
                **config,
            },
            clock=clock,
            environ={},
        )
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["ivr"].database.dispose()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()


def simulator(app: Flask, clock: ManualClock, auth_token: str | None = None) -> Simulator:
    return Simulator(WsgiTransport(app), base_url=BASE, clock=clock, auth_token=auth_token)


def at(clock: ManualClock, hh: int, mm: int, ss: int) -> None:
    clock.set(datetime(2026, 11, 23, hh, mm, ss, tzinfo=UTC))


def zhang_reports_his_account_stolen(sim: Simulator) -> Call:
    call = sim.dial(ZHANG)
    call.press("1")
    call.press("123456")
    call.press("5")
    assert call.waiting_for == "queue"
    return call


def li_forgot_her_pin(sim: Simulator) -> Call:
    call = sim.dial(LI)
    call.press("1")
    call.press("0#")
    assert call.waiting_for == "queue"
    return call


def stranger_asks_for_an_agent_in_english(sim: Simulator) -> Call:
    call = sim.dial(STRANGER)
    call.press("2")
    call.press("0#")
    assert call.waiting_for == "queue"
    return call


def three_callers_waiting(app: Flask, clock: ManualClock) -> list[Call]:
    sim = simulator(app, clock)
    at(clock, 2, 0, 0)
    zhang = zhang_reports_his_account_stolen(sim)
    at(clock, 2, 0, 30)
    li = li_forgot_her_pin(sim)
    at(clock, 2, 1, 0)
    stranger = stranger_asks_for_an_agent_in_english(sim)
    at(clock, 2, 2, 0)
    return [zhang, li, stranger]


def handoff_status(app: Flask, call: Call) -> str:
    record = app.extensions["ivr"].services.recorder.record(call.call_sid)
    return str(record.handoff.status)


# -- who is waiting -----------------------------------------------------------------------------


def test_queue_json_lists_waiting_callers_most_urgent_first_with_masked_numbers(
    app: Flask, clock: ManualClock
) -> None:
    zhang, li, stranger = three_callers_waiting(app, clock)
    response = app.test_client().get("/agent/queue")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == [
        {
            "call_sid": zhang.call_sid,
            "queue": "security",
            "priority": 10,
            "waiting_since": "2026-11-23T02:00:00+00:00",
            "waited_s": 120,
            "caller": "+86*******0001",
            "lang": "zh-CN",
            "verified": True,
            "account_id": 1,
            "name": "张伟",
            "name_en": "Zhang Wei",
            "issue": "account stolen or unauthorised transactions",
            "steps_tried": ["stolen", "protective freeze applied"],
            "steps": [
                "a stolen account or transactions you did not make",
                "protective freeze applied",
            ],
            "reason": "account reported stolen",
            "can_pickup": False,
        },
        {
            "call_sid": li.call_sid,
            "queue": "general",
            "priority": 0,
            "waiting_since": "2026-11-23T02:00:30+00:00",
            "waited_s": 90,
            "caller": "+86*******0002",
            "lang": "zh-CN",
            "verified": False,
            "account_id": 2,
            "name": "李娜",
            "name_en": "Li Na",
            "issue": None,
            "steps_tried": [],
            "steps": [],
            "reason": "caller asked for an agent",
            "can_pickup": False,
        },
        {
            "call_sid": stranger.call_sid,
            "queue": "general",
            "priority": 0,
            "waiting_since": "2026-11-23T02:01:00+00:00",
            "waited_s": 60,
            "caller": "+86*******0009",
            "lang": "en-US",
            "verified": False,
            "account_id": None,
            "name": None,
            "name_en": None,
            "issue": None,
            "steps_tried": [],
            "steps": [],
            "reason": "caller asked for an agent",
            "can_pickup": False,
        },
    ]


def test_agent_views_never_show_a_full_number_or_the_pin(app: Flask, clock: ManualClock) -> None:
    three_callers_waiting(app, clock)
    client = app.test_client()
    for path in ("/agent/queue", "/agent/", "/agent/queue.html"):
        body = client.get(path).get_data(as_text=True)
        for secret in ("13800000001", "13800000002", "13900000009", "123456"):
            assert secret not in body, (path, secret)


def test_a_caller_who_hung_up_or_was_bridged_is_no_longer_listed(
    app: Flask, clock: ManualClock
) -> None:
    zhang, li, stranger = three_callers_waiting(app, clock)
    li.hangup()
    client = app.test_client()
    client.post("/agent/connecting", data={"CallSid": zhang.call_sid})
    listed = client.get("/agent/queue").get_json()
    assert [entry["call_sid"] for entry in listed] == [stranger.call_sid]


def test_queue_page_refreshes_itself_ticks_and_shows_chinese_names_and_readable_steps(
    app: Flask, clock: ManualClock
) -> None:
    three_callers_waiting(app, clock)
    response = app.test_client().get("/agent/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in body
    assert "<title>Waiting callers (3)</title>" in body
    assert (
        '<tr class="urgent">\n<td class="waited tick" data-waited="120">2:00</td>\n'
        "<td>security</td>\n<td>10</td>\n"
        "<td>+86*******0001</td>\n<td>张伟 (Zhang Wei)</td>\n<td>yes</td>\n<td>zh-CN</td>\n"
        "<td>account stolen or unauthorised transactions</td>\n"
        "<td>a stolen account or transactions you did not make, protective freeze applied</td>\n"
        "<td>account reported stolen</td>\n<td></td>\n</tr>"
    ) in body
    assert (
        '<tr>\n<td class="waited tick" data-waited="60">1:00</td>\n<td>general</td>\n'
        "<td>0</td>\n<td>+86*******0009</td>\n"
        "<td>—</td>\n<td>no</td>\n<td>en-US</td>\n<td>—</td>\n<td>—</td>\n"
        "<td>caller asked for an agent</td>\n<td></td>\n</tr>"
    ) in body
    assert (
        '<div class="card busy" data-queue="security">\n<span>security</span><strong>1</strong>\n'
        '<span class="muted">waiting, 1 urgent; longest '
        '<span class="tick" data-waited="120">2:00</span></span>'
    ) in body
    assert (
        '<div class="card busy" data-queue="general">\n<span>general</span><strong>2</strong>\n'
        '<span class="muted">waiting; longest <span class="tick" data-waited="90">1:30</span>'
    ) in body
    assert '<div class="card" data-queue="payments">' in body
    assert app.test_client().get("/agent/queue.html").get_data(as_text=True) == body


def test_queue_page_escapes_a_hostile_account_name(app: Flask, clock: ManualClock) -> None:
    database = app.extensions["ivr"].database
    with database.begin() as conn:
        conn.execute(
            sa.update(AccountRow)
            .where(AccountRow.phone == ZHANG)
            .values(name_zh="<script>alert('张')</script>", name_en='"Zhang" & <b>Wei</b>')
        )
    zhang_reports_his_account_stolen(simulator(app, clock))
    body = app.test_client().get("/agent/").get_data(as_text=True)
    assert "<script>" not in body
    assert "<b>" not in body
    assert (
        "<td>&lt;script&gt;alert(&#39;张&#39;)&lt;/script&gt; "
        "(&#34;Zhang&#34; &amp; &lt;b&gt;Wei&lt;/b&gt;)</td>"
    ) in body
    listed = app.test_client().get("/agent/queue").get_json()
    assert (listed[0]["name"], listed[0]["name_en"]) == (
        "<script>alert('张')</script>",
        '"Zhang" & <b>Wei</b>',
    )


def test_an_empty_queue_says_so(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/agent/queue").get_json() == []
    body = client.get("/agent/").get_data(as_text=True)
    assert "<p>Nobody is waiting.</p>" in body
    assert "<table>" not in body


# -- taking a caller ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pickup_dials_the_queue_and_connects_through_the_connecting_document(
    app: Flask, method: str
) -> None:
    response = app.test_client().open("/agent/pickup?queue=security", method=method)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    body = response.get_data(as_text=True)
    assert body == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
        '<Queue method="POST" url="/agent/connecting">security</Queue>'
        "</Dial></Response>"
    )
    assert check_document(ET.fromstring(body)) == []


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?queue=vip", "'vip'"),
        ("", "(none)"),
        ("?queue=general%00", "'general\\x00'"),
        ("?queue=general%0A%3C%2FQueue%3E", "'general\\n</Queue>'"),
        ("?queue=%1Bsecurity", "'\\x1bsecurity'"),
        ("?queue=General", "'General'"),
    ],
)
def test_pickup_of_anything_but_a_queue_of_the_flow_is_a_400_naming_the_queues(
    app: Flask, query: str, named: str
) -> None:
    response = app.test_client().post(f"/agent/pickup{query}")
    assert (response.status_code, response.mimetype) == (400, "text/plain")
    assert response.get_data(as_text=True) == (
        f"Bad request: {named} is not a queue of flow 'hotline'. "
        "Use one of: general, payments, security.\n"
    )


def heard(app: Flask, body: str) -> list[tuple[str, str | None]]:
    """Each verb of a TwiML document with the words the caller hears: a ``<Say>``'s text, or
    the text of the recording a ``<Play>`` plays."""
    runtime = app.extensions["ivr"]
    return [
        (verb.tag, verb.text if verb.tag == "Say" else runtime.play_text(verb.text or ""))
        for verb in ET.fromstring(body)
    ]


def test_connecting_tells_the_caller_in_their_language_and_marks_the_handoff_bridged(
    app: Flask, clock: ManualClock
) -> None:
    zhang, li, stranger = three_callers_waiting(app, clock)
    client = app.test_client()
    form = {"CallSid": stranger.call_sid, "QueueSid": "QU1", "QueueTime": "60"}
    english = client.post("/agent/connecting", data={**form, "DequeingCallSid": "CA9"})
    assert heard(app, english.get_data(as_text=True)) == [
        ("Play", "Connecting you to an agent now.")
    ]
    chinese = client.post("/agent/connecting", data={"CallSid": zhang.call_sid})
    assert heard(app, chinese.get_data(as_text=True)) == [("Play", "现在为您接通人工客服。")]
    assert [handoff_status(app, c) for c in (zhang, li, stranger)] == [
        "bridged",
        "waiting",
        "bridged",
    ]


def test_connecting_still_bridges_when_the_handoff_cannot_be_marked(
    app: Flask, clock: ManualClock
) -> None:
    runtime = app.extensions["ivr"]

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("database down")

    object.__setattr__(runtime.services, "recorder", Broken())
    body = app.test_client().post("/agent/connecting", data={"CallSid": "CA1"})
    assert body.status_code == 200
    assert heard(app, body.get_data(as_text=True)) == [("Play", "现在为您接通人工客服。")]


# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/agent/queue", "/agent/", "/agent/queue.html"])
def test_without_an_agent_token_the_agent_pages_are_open_to_this_machine_in_development(
    app: Flask, path: str
) -> None:
    assert app.test_client().get(path).status_code == 200
    assert app.test_client().get(path, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def token_needed(reasons: str) -> str:
    return (
        "Forbidden: the agent pages show callers' names, accounts and calls, and this server is "
        f"public ({reasons}), so they need IVR_AGENT_TOKEN. Set it in the server's environment, "
        "for example: export IVR_AGENT_TOKEN=\"$(python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(24))')\"; restart the server; then open /agent/?token=<token> "
        "or send 'Authorization: Bearer <token>'.\n"
    )


@pytest.mark.parametrize(
    ("config", "reasons"),
    [
        ({"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}, "TWILIO_AUTH_TOKEN is set"),
        ({"IVR_PUBLIC_URL": "https://ivr.example.com"}, "IVR_PUBLIC_URL is set"),
        (
            {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "IVR_PUBLIC_URL": "https://ivr.example.com"},
            "TWILIO_AUTH_TOKEN is set; IVR_PUBLIC_URL is set",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/agent/queue", "/agent/", "/agent/queue.html"])
def test_a_public_server_without_an_agent_token_refuses_the_pages_and_says_how_to_set_one(
    make_app: MakeApp, config: dict[str, str], reasons: str, path: str
) -> None:
    response = make_app(**config).test_client().get(path)
    assert (response.status_code, response.mimetype) == (403, "text/plain")
    assert response.get_data(as_text=True) == token_needed(reasons)


@pytest.mark.parametrize(
    ("environ", "headers", "reasons"),
    [
        ({"REMOTE_ADDR": "203.0.113.7"}, {}, "the request came from 203.0.113.7"),
        ({"REMOTE_ADDR": "10.0.0.8"}, {}, "the request came from 10.0.0.8"),
        (
            {},
            {"X-Forwarded-For": "203.0.113.7"},
            "the request came through a proxy or tunnel (X-Forwarded-For)",
        ),
        (
            {},
            {"Forwarded": "for=203.0.113.7"},
            "the request came through a proxy or tunnel (Forwarded)",
        ),
    ],
)
def test_without_an_agent_token_a_request_from_another_machine_or_a_tunnel_is_refused(
    app: Flask, environ: dict[str, str], headers: dict[str, str], reasons: str
) -> None:
    response = app.test_client().get("/agent/queue", environ_base=environ, headers=headers)
    assert response.status_code == 403
    assert response.get_data(as_text=True) == token_needed(reasons)


def test_a_public_server_without_an_agent_token_says_so_in_the_log_at_start_up(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="ivr.web.app"):
        make_app()
        make_app(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, IVR_AGENT_TOKEN=AGENT_TOKEN)
        assert caplog.messages == []
        make_app(TWILIO_AUTH_TOKEN=TWILIO_TOKEN)
    assert caplog.messages == [
        "the /agent pages are refused on this public server (TWILIO_AUTH_TOKEN is set) until "
        "IVR_AGENT_TOKEN is set; set it to a long random value and open /agent/?token=<token>"
    ]


@pytest.mark.parametrize("path", ["/agent/queue", "/agent/", "/agent/queue.html"])
def test_with_an_agent_token_pages_need_it_as_bearer_or_query(make_app: MakeApp, path: str) -> None:
    client = make_app(IVR_AGENT_TOKEN=AGENT_TOKEN).test_client()
    missing = client.get(path)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="ivr-agent"'
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(f"{path}?token=wrong").status_code == 401
    assert client.get(path, headers={"Authorization": f"Bearer {AGENT_TOKEN}"}).status_code == 200
    assert client.get(f"{path}?token={AGENT_TOKEN}").status_code == 200


def test_a_pickup_authorised_by_url_token_passes_it_on_to_the_connecting_url(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = make_app(IVR_AGENT_TOKEN=AGENT_TOKEN)
    client = app.test_client()
    assert client.post("/agent/pickup?queue=general").status_code == 401
    body = client.post(f"/agent/pickup?queue=general&token={AGENT_TOKEN}").get_data(as_text=True)
    assert f'url="/agent/connecting?token={AGENT_TOKEN}"' in body
    call = li_forgot_her_pin(simulator(app, clock))
    assert client.post("/agent/connecting", data={"CallSid": call.call_sid}).status_code == 401
    assert handoff_status(app, call) == "waiting"
    connected = client.post(
        f"/agent/connecting?token={AGENT_TOKEN}", data={"CallSid": call.call_sid}
    )
    assert connected.status_code == 200
    assert handoff_status(app, call) == "bridged"


def signed(path: str, form: dict[str, str]) -> dict[str, str]:
    return {
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(BASE + path, form)
    }


def test_twilio_documents_need_twilios_signature_when_the_auth_token_is_set(
    make_app: MakeApp,
) -> None:
    client = make_app(TWILIO_AUTH_TOKEN=TWILIO_TOKEN).test_client()
    form = {"CallSid": "CA1"}
    assert client.post("/agent/pickup?queue=general").status_code == 403
    assert client.post("/agent/connecting", data=form).status_code == 403
    assert (
        client.post(
            "/agent/pickup?queue=general", headers=signed("/agent/pickup?queue=general", {})
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/agent/connecting", data=form, headers=signed("/agent/connecting", form)
        ).status_code
        == 200
    )
    # The pages are for people, not Twilio: on this public server they need an agent token.
    assert client.get("/agent/queue").status_code == 403
    assert client.get("/agent/queue", headers=signed("/agent/queue", {})).status_code == 403


def test_with_both_tokens_twilio_may_sign_and_people_must_show_the_agent_token(
    make_app: MakeApp,
) -> None:
    client = make_app(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, IVR_AGENT_TOKEN=AGENT_TOKEN).test_client()
    form = {"CallSid": "CA1"}
    assert client.post("/agent/connecting", data=form).status_code == 401
    assert (
        client.post(
            "/agent/connecting", data=form, headers=signed("/agent/connecting", form)
        ).status_code
        == 200
    )
    assert client.post(f"/agent/connecting?token={AGENT_TOKEN}", data=form).status_code == 200
    assert client.get("/agent/queue", headers=signed("/agent/queue", {})).status_code == 401


def test_connecting_without_a_call_sid_still_answers_in_the_flows_first_language(
    app: Flask,
) -> None:
    body = app.test_client().post("/agent/connecting").get_data(as_text=True)
    assert heard(app, body) == [("Play", "现在为您接通人工客服。")]


def test_connecting_plays_the_flows_recording_of_its_connecting_phrase(app: Flask) -> None:
    body = app.test_client().post("/agent/connecting").get_data(as_text=True)
    (play,) = ET.fromstring(body)
    assert play.tag == "Play"
    assert (play.text or "").startswith("/audio/zh-CN/hotline.phrases.connecting.wav?v=")


def test_connecting_says_the_flows_connecting_phrase_where_no_recording_is_played(
    make_app: MakeApp,
) -> None:
    app = make_app(IVR_AUDIO=False)
    body = app.test_client().post("/agent/connecting").get_data(as_text=True)
    assert body == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Say language="cmn-CN" voice="Polly.Zhiyu-Neural">现在为您接通人工客服。</Say>'
        "</Response>"
    )


def test_the_queue_still_lists_a_caller_whose_account_cannot_be_read(
    app: Flask, clock: ManualClock
) -> None:
    zhang_reports_his_account_stolen(simulator(app, clock))

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("wallet down")

    object.__setattr__(app.extensions["ivr"].services, "wallet", Broken())
    listed = app.test_client().get("/agent/queue").get_json()
    assert [(e["name"], e["name_en"], e["caller"]) for e in listed] == [
        ("张伟", None, "+86*******0001")
    ]


# -- ghosts ---------------------------------------------------------------------------------------


def test_a_ghost_priority_caller_does_not_make_pickup_dial_the_empty_priority_queue(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = make_app(IVR_WAITING_TTL="900")
    sim = simulator(app, clock)
    at(clock, 2, 0, 0)
    zhang_reports_his_account_stolen(sim)  # then hangs up; both of Twilio's notices are lost
    client = app.test_client()
    live = client.get("/agent/pickup?queue=security").get_data(as_text=True)
    at(clock, 2, 15, 1)
    ghost = client.get("/agent/pickup?queue=security").get_data(as_text=True)

    assert ">security-priority</Queue>" in live
    assert ">security</Queue>" in ghost
    assert client.get("/agent/queue").get_json() == []


def test_a_priority_caller_whose_hold_page_is_fetched_is_never_taken_for_a_ghost(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = make_app(IVR_WAITING_TTL="900")
    sim = simulator(app, clock)
    at(clock, 2, 0, 0)
    zhang = zhang_reports_his_account_stolen(sim)
    for minute in (10, 20, 30):
        at(clock, 2, minute, 0)
        zhang.hold(1)  # Twilio fetches the hold page; the callback offer goes unanswered
        zhang.silence()
    at(clock, 2, 40, 0)

    body = app.test_client().get("/agent/pickup?queue=security").get_data(as_text=True)

    assert ">security-priority</Queue>" in body
    assert [w["call_sid"] for w in app.test_client().get("/agent/queue").get_json()] == [
        zhang.call_sid
    ]
