"""The simulator plays Twilio: requests, TwiML execution, strictness, results, transports."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.errors import TwimlError
from ivr.testing.simulator import Call
from ivr.testing.simulator import GatherSpec
from ivr.testing.simulator import HttpReply
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import Outcome
from ivr.testing.simulator import Recording
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import Turn
from ivr.testing.simulator import WsgiTransport
from tests.conftest import T0
from tests.simulator_apps import Handler
from tests.simulator_apps import TwimlApp
from tests.simulator_apps import redirect
from tests.simulator_apps import twiml

BASE = "https://ivr.example.test"
CALLER = "+8613800138000"
SID = "CA" + "0" * 31 + "1"  # the first call a Simulator places
STANDARD = {
    "CallSid": SID,
    "AccountSid": "AC" + "0" * 32,
    "From": CALLER,
    "To": "+864001234567",
    "CallStatus": "in-progress",
    "ApiVersion": "2010-04-01",
    "Direction": "inbound",
    "Caller": CALLER,
    "Called": "+864001234567",
    **{
        f"{role}{field}": "CN" if field == "Country" else ""
        for role in ("From", "To", "Caller", "Called")
        for field in ("Country", "City", "State", "Zip")
    },
}
MENU = (
    '<Response><Gather action="/voice/menu" numDigits="1">'
    "<Say>Press 1.</Say></Gather><Redirect>/voice</Redirect></Response>"
)


def simulate(
    routes: Mapping[str, str | Handler], clock: ManualClock, **options: Any
) -> tuple[Simulator, TwimlApp]:
    app = TwimlApp(routes)
    return Simulator(WsgiTransport(app), clock=clock, **options), app


def params(**changes: str) -> dict[str, str]:
    return {**STANDARD, **changes}


def status_form(**changes: str) -> dict[str, str]:
    """The status callback's form: the standard fields and Twilio's progress-event fields."""
    progress = {
        "Timestamp": "Mon, 23 Nov 2026 02:00:00 +0000",  # T0
        "SequenceNumber": "0",
        "CallbackSource": "call-progress-events",
    }
    return {**STANDARD, **progress, **changes}


def audio(request: Request) -> Response:
    return twiml("RIFF....", content_type="audio/wav")


AUDIO: Handler = audio


def ivr_said(*texts: str, url: str = BASE + "/voice") -> list[Turn]:
    return [Turn("ivr", "say", text, None, url, None) for text in texts]


# --- requests ---------------------------------------------------------------------------------


def test_first_request_posts_the_standard_parameters_with_status_ringing(
    clock: ManualClock,
) -> None:
    sim, app = simulate({"/voice": MENU}, clock)

    sim.dial(CALLER)

    first = app.seen[0]
    assert (first.method, first.url) == ("POST", BASE + "/voice")
    assert first.form == params(CallStatus="ringing")
    assert first.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_later_requests_say_in_progress_and_carry_extra_parameters(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": MENU, "/voice/menu": "<Response/>"}, clock)

    call = sim.dial(CALLER, extra={"FromCountry": "CN"})
    call.press("1")

    assert app.seen[0].form["CallStatus"] == "ringing"
    assert app.last("/voice/menu").form == params(FromCountry="CN", Digits="1", FinishedOnKey="")


def test_get_method_sends_parameters_in_the_query_string_and_keeps_the_action_query(
    clock: ManualClock,
) -> None:
    doc = '<Response><Gather action="/voice/step?n=3" method="GET"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/step": "<Response/>"}, clock)

    call = sim.dial(CALLER)
    call.press("7#")

    step = app.last("/voice/step")
    assert step.method == "GET"
    assert step.form == {}
    assert step.args == params(n="3", Digits="7", FinishedOnKey="#")
    assert call.result.requests[1][0].startswith(BASE + "/voice/step?n=3&CallSid=" + SID)
    assert call.result.requests[1][1] == {}


def test_post_to_an_action_with_a_query_string_keeps_it_intact(clock: ManualClock) -> None:
    doc = '<Response><Gather action="/voice/step?n=3&amp;lang=zh"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/step": "<Response/>"}, clock)

    sim.dial(CALLER).press("5#")

    step = app.last("/voice/step")
    assert (step.method, step.url) == ("POST", BASE + "/voice/step?n=3&lang=zh")
    assert step.form["Digits"] == "5"


def test_every_request_is_signed_so_that_request_validator_accepts_it(clock: ManualClock) -> None:
    validator = RequestValidator("secret-token")
    verdicts: list[bool] = []

    def checked(body: str) -> Handler:
        def handler(request: Request) -> str:
            signature = request.headers.get("X-Twilio-Signature", "")
            form = dict(request.form) if request.method == "POST" else {}
            verdicts.append(validator.validate(request.url, form, signature))
            return body

        return handler

    routes: dict[str, str | Handler] = {
        "/voice": checked('<Response><Gather action="/voice/get?x=1" method="GET"/></Response>'),
        "/voice/get": checked("<Response><Redirect>/voice/post?y=2</Redirect></Response>"),
        "/voice/post": checked("<Response/>"),
        "/voice/status": checked(""),
    }
    sim, app = simulate(routes, clock, auth_token="secret-token")

    sim.dial(CALLER).press("42#")

    assert app.paths() == ["/voice", "/voice/get", "/voice/post", "/voice/status"]
    assert verdicts == [True, True, True, True]


def test_twilio_signature_test_vector_is_what_request_validator_computes() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    form = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }

    validator = RequestValidator("12345")

    assert validator.compute_signature(url, form) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert validator.validate(url, form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") is True


def test_no_signature_header_without_an_auth_token(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": "<Response/>"}, clock)

    sim.dial(CALLER)

    assert "X-Twilio-Signature" not in app.seen[0].headers


def test_cookies_are_returned_on_later_requests_of_the_same_call_only(clock: ManualClock) -> None:
    def set_cookie(request: Request) -> Response:
        response = twiml(MENU)
        response.set_cookie("session", "abc123")
        response.set_cookie("lang", "zh")
        return response

    sim, app = simulate({"/voice": set_cookie, "/voice/menu": "<Response/>"}, clock)

    sim.dial(CALLER).press("1")
    sim.dial(CALLER)

    assert "Cookie" not in app.seen[0].headers
    assert app.last("/voice/menu").headers["Cookie"] == "session=abc123; lang=zh"
    assert app.seen[-1].path == "/voice"  # the second call's first request
    assert "Cookie" not in app.seen[-1].headers


def test_http_redirect_on_a_gather_action_is_followed_with_get_and_drops_digits(
    clock: ManualClock,
) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": MENU,
        "/voice/menu": redirect("/voice/moved"),
        "/voice/moved": "<Response><Say>Moved.</Say></Response>",
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.press("1")

    moved = app.last("/voice/moved")
    assert app.last("/voice/menu").form["Digits"] == "1"
    assert (moved.method, moved.url, moved.form, moved.args) == (
        "GET",
        BASE + "/voice/moved",
        {},
        {},
    )
    assert call.heard() == "Moved."


def test_more_than_ten_http_redirects_fail_the_call(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": redirect("/voice")}, clock)

    with pytest.raises(TwimlError, match="more than 10 HTTP redirects") as raised:
        sim.dial(CALLER)

    assert raised.value.url == BASE + "/voice"
    assert app.paths() == ["/voice"] * 11 + ["/voice/status"]


# --- saying, playing, pausing -----------------------------------------------------------------


def test_say_play_and_pause_are_what_the_caller_hears(clock: ManualClock) -> None:
    doc = (
        "<Response>"
        '<Say language="cmn-CN" voice="Polly.Zhiyu-Neural">您好，<break time="1s"/>欢迎。</Say>'
        '<Say>Your code is <say-as interpret-as="digits">123</say-as>. '
        '<sub alias="World Wide Web">WWW</sub></Say>'
        "<Play>audio/hello.wav</Play>"
        '<Pause length="3"/>'
        "<Play>https://cdn.example.test/unknown.mp3</Play>"
        '<Play digits="ww12"/>'
        "</Response>"
    )
    texts = {BASE + "/voice/audio/hello.wav": "Hello from a recording."}
    routes: dict[str, str | Handler] = {
        "/voice/": doc,
        "/voice/audio/hello.wav": AUDIO,
        "/unknown.mp3": AUDIO,
    }
    sim, _ = simulate(routes, clock, voice_path="/voice/", play_text=texts.get)

    call = sim.dial(CALLER)

    url = BASE + "/voice/"
    assert call.result.transcript == [
        Turn("ivr", "say", "您好， 欢迎。", "cmn-CN", url, None),
        Turn("ivr", "say", "Your code is 123. World Wide Web", None, url, None),
        Turn("ivr", "play", "Hello from a recording.", None, url, None),
        Turn("ivr", "pause", "", None, url, None),
        Turn("ivr", "play", "[play https://cdn.example.test/unknown.mp3]", None, url, None),
        Turn("ivr", "play", "[digits ww12]", None, url, None),
    ]
    assert clock.now() == T0 + timedelta(seconds=3)
    assert call.result.outcome == Outcome("hangup")


def test_say_loop_repeats_the_words(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": '<Response><Say loop="2">Hi.</Say></Response>'}, clock)

    assert sim.dial(CALLER).heard() == "Hi. Hi."


# --- gather -----------------------------------------------------------------------------------


def test_num_digits_ends_the_gather_and_extra_keys_are_dropped(clock: ManualClock) -> None:
    doc = '<Response><Gather action="/voice/pin" numDigits="4"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/pin": "<Response/>"}, clock)

    sim.dial(CALLER).press("123456")

    assert app.last("/voice/pin").form == params(Digits="1234", FinishedOnKey="")
    assert clock.now() == T0  # numDigits ended it at once


def test_the_finish_key_ends_the_gather_and_is_not_sent(clock: ManualClock) -> None:
    doc = '<Response><Gather action="/voice/pin"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/pin": "<Response/>"}, clock)

    sim.dial(CALLER).press("1234#99")

    assert app.last("/voice/pin").form["Digits"] == "1234"
    assert app.last("/voice/pin").form["FinishedOnKey"] == "#"
    assert clock.now() == T0


def test_keys_without_a_finish_key_are_sent_after_the_timeout(clock: ManualClock) -> None:
    doc = '<Response><Gather action="/voice/pin" timeout="7"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/pin": "<Response/>"}, clock)

    sim.dial(CALLER).press("12")

    assert app.last("/voice/pin").form["Digits"] == "12"
    assert clock.now() == T0 + timedelta(seconds=7)


def test_an_empty_finish_on_key_collects_the_pound_key_as_a_digit(clock: ManualClock) -> None:
    doc = '<Response><Gather action="/voice/pin" finishOnKey=""/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/pin": "<Response/>"}, clock)

    sim.dial(CALLER).press("1#")

    assert app.last("/voice/pin").form["Digits"] == "1#"


def test_silence_falls_through_to_the_next_verb_without_calling_the_action(
    clock: ManualClock,
) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": (
            '<Response><Gather action="/voice/menu" timeout="6"><Say>Press 1.</Say></Gather>'
            "<Say>We did not hear you.</Say><Redirect>/voice/again</Redirect></Response>"
        ),
        "/voice/again": MENU,
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.silence()

    assert call.heard() == "We did not hear you. Press 1."
    assert app.paths() == ["/voice", "/voice/again"]
    assert app.last("/voice/again").form == params()  # no Digits
    assert clock.now() == T0 + timedelta(seconds=6)
    assert call.waiting_for == "gather"


def test_the_finish_key_alone_is_no_input_and_falls_through_at_once(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": MENU.replace('numDigits="1"', ""),
        "/voice/menu": "<Response/>",
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.press("#")

    assert app.paths() == ["/voice", "/voice"]
    assert "Digits" not in app.seen[1].form
    assert clock.now() == T0


def test_action_on_empty_result_posts_to_the_action_without_digits(clock: ManualClock) -> None:
    doc = '<Response><Gather action="/voice/menu" actionOnEmptyResult="true"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/menu": "<Response/>"}, clock)

    sim.dial(CALLER).silence()

    assert app.last("/voice/menu").form == params()
    assert clock.now() == T0 + timedelta(seconds=5)


def test_a_gather_without_action_posts_to_the_current_document_url(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": "<Response><Redirect>/voice/menu?lang=zh</Redirect></Response>",
        "/voice/menu": lambda request: (
            "<Response><Say>Thanks.</Say></Response>"
            if "Digits" in request.form
            else '<Response><Gather numDigits="1"/></Response>'
        ),
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.press("3")

    assert app.seen[-2].url == BASE + "/voice/menu?lang=zh"
    assert app.seen[-2].form["Digits"] == "3"
    assert call.heard() == "Thanks."


def test_speech_posts_speech_result_and_confidence(clock: ManualClock) -> None:
    doc = (
        '<Response><Gather input="speech" action="/voice/said" language="cmn-Hans-CN" '
        'hints="余额, 转账" speechTimeout="auto"/></Response>'
    )
    sim, app = simulate({"/voice": doc, "/voice/said": "<Response/>"}, clock)

    call = sim.dial(CALLER)
    assert call.gather == GatherSpec(
        input=("speech",),
        num_digits=None,
        finish_on_key="#",
        timeout=5,
        speech_timeout="auto",
        language="cmn-Hans-CN",
        hints="余额, 转账",
        action_on_empty_result=False,
        action=BASE + "/voice/said",
        method="POST",
    )
    call.say("查余额。", confidence=0.87)

    assert app.last("/voice/said").form == params(SpeechResult="查余额。", Confidence="0.87")


def test_speech_into_a_dtmf_only_gather_is_silence(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": MENU}, clock)

    call = sim.dial(CALLER)
    call.say("one")

    assert app.paths() == ["/voice", "/voice"]  # fell through to the Redirect
    assert call.result.transcript[1] == Turn("caller", "speech", "one", None, BASE + "/voice", None)


def test_keys_into_a_speech_only_gather_are_silence(clock: ManualClock) -> None:
    doc = '<Response><Gather input="speech" action="/voice/said"/><Say>Bye.</Say></Response>'
    sim, app = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.press("1")

    assert app.paths() == ["/voice", "/voice/status"]
    assert call.heard() == "Bye."
    assert clock.now() == T0 + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("act", "sent"),
    [
        (lambda call: call.press("2"), {"Digits": "2", "FinishedOnKey": ""}),
        (lambda call: call.say("Two."), {"SpeechResult": "Two.", "Confidence": "0.92"}),
    ],
)
def test_dtmf_speech_gather_takes_whichever_comes(
    clock: ManualClock, act: Callable[[Call], None], sent: dict[str, str]
) -> None:
    doc = '<Response><Gather input="dtmf speech" numDigits="1" action="/voice/x"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/x": "<Response/>"}, clock)

    act(sim.dial(CALLER))

    assert app.last("/voice/x").form == params(**sent)


# --- document flow ----------------------------------------------------------------------------


def test_relative_urls_resolve_against_the_current_document(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": "<Response><Redirect>ivr/menu</Redirect></Response>",
        "/ivr/menu": '<Response><Gather action="next?a=1" numDigits="1"/></Response>',
        "/ivr/next": "<Response><Redirect>../top</Redirect></Response>",
        "/top": "<Response><Play>sounds/bye.wav</Play></Response>",
        "/sounds/bye.wav": AUDIO,
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.press("1")

    assert [seen.url for seen in app.seen[:5]] == [
        BASE + "/voice",
        BASE + "/ivr/menu",
        BASE + "/ivr/next?a=1",
        BASE + "/top",
        BASE + "/sounds/bye.wav",
    ]
    assert call.heard() == "[play https://ivr.example.test/sounds/bye.wav]"


def test_verbs_after_a_redirect_never_run(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": "<Response><Redirect>/voice/b</Redirect><Say>Never.</Say></Response>",
        "/voice/b": "<Response><Say>B.</Say></Response>",
    }
    sim, _ = simulate(routes, clock)

    assert sim.dial(CALLER).result.transcript == ivr_said("B.", url=BASE + "/voice/b")


def test_verbs_after_a_gather_whose_action_fired_never_run(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": MENU,
        "/voice/menu": "<Response><Say>Next.</Say></Response>",
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.press("1")

    assert call.heard() == "Next."
    assert app.paths() == ["/voice", "/voice/menu", "/voice/status"]


def test_running_off_the_end_hangs_up_and_sends_the_status_callback(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": '<Response><Pause length="4"/></Response>'}, clock)

    call = sim.dial(CALLER)

    assert call.ended
    assert call.result.outcome == Outcome("hangup")
    assert app.last("/voice/status").form == status_form(
        CallStatus="completed", CallDuration="4", Timestamp="Mon, 23 Nov 2026 02:00:04 +0000"
    )


def test_hangup_ends_the_call_before_later_verbs(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": "<Response><Hangup/><Say>Never.</Say></Response>"}, clock)

    call = sim.dial(CALLER)

    assert call.result.transcript == []
    assert call.result.outcome == Outcome("hangup")


def test_no_status_callback_without_a_status_path(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": "<Response/>"}, clock, status_path=None)

    sim.dial(CALLER)

    assert app.paths() == ["/voice"]


def test_caller_hangup_ends_the_call_with_its_duration(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": MENU}, clock)

    call = sim.dial(CALLER)
    clock.advance(12)
    call.hangup()

    assert call.result.outcome == Outcome("caller-hangup")
    assert call.waiting_for is None
    assert app.last("/voice/status").form["CallDuration"] == "12"
    with pytest.raises(SimulationError, match="has ended"):
        call.press("1")


def test_reject_as_the_first_verb_rejects_the_call(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": '<Response><Reject reason="busy"/></Response>'}, clock)

    call = sim.dial(CALLER)

    assert call.result.outcome == Outcome("rejected", detail="busy")
    assert app.last("/voice/status").form == status_form(CallStatus="busy", CallDuration="0")


def test_reject_after_the_call_is_answered_only_hangs_up(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": "<Response><Say>Hi.</Say><Reject/></Response>"}, clock)

    call = sim.dial(CALLER)

    assert call.result.outcome == Outcome("hangup")
    assert app.last("/voice/status").form["CallStatus"] == "completed"


def test_an_audio_reply_is_played_then_the_call_hangs_up(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": lambda request: twiml("RIFF....", content_type="audio/wav")
    }
    sim, _ = simulate(routes, clock)

    call = sim.dial(CALLER)

    url = BASE + "/voice"
    assert call.result.transcript == [Turn("ivr", "play", f"[play {url}]", None, url, None)]
    assert call.result.outcome == Outcome("hangup")


# --- record -----------------------------------------------------------------------------------


def test_record_posts_the_recording_and_the_finish_key(clock: ManualClock) -> None:
    doc = '<Response><Record action="/voice/saved" finishOnKey="#" maxLength="60"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/saved": "<Response/>"}, clock)

    call = sim.dial(CALLER)
    call.record(12, finish="#")

    form = app.last("/voice/saved").form
    sid = form["RecordingSid"]
    url = f"https://api.twilio.com/2010-04-01/Accounts/{'AC' + '0' * 32}/Recordings/{sid}"
    assert sid.startswith("RE")
    assert len(sid) == 34
    assert form == params(RecordingUrl=url, RecordingDuration="12", RecordingSid=sid, Digits="#")
    assert call.result.recordings == [Recording(url, 12, "#")]
    assert clock.now() == T0 + timedelta(seconds=12)


def test_record_without_action_posts_to_the_current_document(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": lambda request: (
            "<Response/>" if "RecordingUrl" in request.form else "<Response><Record/></Response>"
        )
    }
    sim, app = simulate(routes, clock)

    sim.dial(CALLER).record(3, finish="*")

    assert app.paths() == ["/voice", "/voice", "/voice/status"]
    assert app.seen[1].form["Digits"] == "*"


def test_record_is_cut_at_max_length_without_digits(clock: ManualClock) -> None:
    doc = '<Response><Record action="/voice/saved" maxLength="10"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/saved": "<Response/>"}, clock)

    sim.dial(CALLER).record(25)

    form = app.last("/voice/saved").form
    assert form["RecordingDuration"] == "10"
    assert "Digits" not in form
    assert clock.now() == T0 + timedelta(seconds=10)


def test_record_ended_by_hanging_up_reports_digits_hangup(clock: ManualClock) -> None:
    doc = '<Response><Record action="/voice/saved"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/saved": "<Response><Say>x</Say></Response>"}, clock)

    call = sim.dial(CALLER)
    call.record(8, finish="hangup")

    assert app.last("/voice/saved").form["Digits"] == "hangup"
    assert call.result.outcome == Outcome("caller-hangup")
    assert call.heard() == ""  # the action's reply is ignored on a hung-up call
    assert app.paths()[-1] == "/voice/status"


def test_a_silent_record_falls_through_to_the_next_verb(clock: ManualClock) -> None:
    doc = '<Response><Record action="/voice/saved" timeout="4"/><Say>No message.</Say></Response>'
    sim, app = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.silence()

    assert call.heard() == "No message."
    assert "/voice/saved" not in app.paths()
    assert clock.now() == T0 + timedelta(seconds=4)


def test_a_key_at_a_record_ends_an_empty_recording_which_falls_through(
    clock: ManualClock,
) -> None:
    doc = '<Response><Record action="/voice/saved"/><Say>No message.</Say></Response>'
    sim, app = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.press("#")

    assert call.heard() == "No message."
    assert call.result.recordings == []
    assert "/voice/saved" not in app.paths()


def test_a_key_outside_finish_on_key_leaves_the_silence_timeout_to_end_it(
    clock: ManualClock,
) -> None:
    doc = '<Response><Record action="/voice/saved" finishOnKey="*" timeout="3"/></Response>'
    sim, app = simulate({"/voice": doc, "/voice/saved": "<Response/>"}, clock)

    sim.dial(CALLER).record(20, finish="#")

    assert "Digits" not in app.last("/voice/saved").form
    assert clock.now() == T0 + timedelta(seconds=23)


def test_hanging_up_at_the_start_of_a_record_ends_the_call_without_a_recording(
    clock: ManualClock,
) -> None:
    doc = '<Response><Record action="/voice/saved"/></Response>'
    sim, app = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.record(0, finish="hangup")

    assert call.result.outcome == Outcome("caller-hangup")
    assert app.paths() == ["/voice", "/voice/status"]


# --- dial -------------------------------------------------------------------------------------


def test_dial_action_gets_the_dial_call_status(clock: ManualClock) -> None:
    doc = '<Response><Dial action="/voice/dialed" timeout="20">+861012345678</Dial></Response>'
    sim, app = simulate({"/voice": doc, "/voice/dialed": "<Response/>"}, clock)

    call = sim.dial(CALLER)
    assert call.waiting_for == "dial"
    call.dial_result("no-answer")

    form = app.last("/voice/dialed").form
    assert (form["DialCallStatus"], form["DialCallDuration"]) == ("no-answer", "0")
    assert form["DialCallSid"].startswith("CA")
    assert clock.now() == T0 + timedelta(seconds=20)
    assert call.result.outcome == Outcome("hangup")


def test_dial_without_action_falls_through_to_the_next_verb(clock: ManualClock) -> None:
    doc = "<Response><Dial><Number>+861012345678</Number></Dial><Say>Bye.</Say></Response>"
    sim, app = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.dial_result("completed", duration=45)

    assert call.heard() == "Bye."
    assert call.result.outcome == Outcome("dialed", number="+861012345678")
    assert app.last("/voice/status").form["CallDuration"] == "45"


def test_caller_hanging_up_during_a_dial_ends_it_as_dialed(clock: ManualClock) -> None:
    doc = '<Response><Dial action="/voice/dialed">+861012345678</Dial></Response>'
    sim, app = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.hangup()

    assert call.result.outcome == Outcome("dialed", number="+861012345678")
    assert "/voice/dialed" not in app.paths()


def test_dial_busy_takes_no_time_and_an_unknown_status_is_refused(clock: ManualClock) -> None:
    doc = '<Response><Dial action="/voice/dialed"><Queue>agents</Queue></Dial></Response>'
    sim, app = simulate({"/voice": doc, "/voice/dialed": "<Response/>"}, clock)

    call = sim.dial(CALLER)
    with pytest.raises(SimulationError, match="status must be one of"):
        call.dial_result("ringing")
    call.dial_result("busy", duration=99)

    assert app.last("/voice/dialed").form["DialCallDuration"] == "0"
    assert clock.now() == T0


# --- queues -----------------------------------------------------------------------------------


QUEUE_DOC = (
    '<Response><Enqueue waitUrl="/voice/wait" action="/voice/after">support</Enqueue>'
    "<Say>Never.</Say></Response>"
)


def test_holding_runs_the_wait_url_with_queue_parameters(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": QUEUE_DOC,
        "/voice/wait": '<Response><Say>Please hold.</Say><Pause length="10"/></Response>',
    }
    sim, app = simulate(routes, clock, hold_cycle_seconds=30)

    call = sim.dial(CALLER)
    assert call.waiting_for == "queue"
    call.hold(2, position=3)

    waits = [seen.form for seen in app.seen if seen.path == "/voice/wait"]
    queue_sid = waits[0]["QueueSid"]
    assert queue_sid.startswith("QU")
    assert len(queue_sid) == 34
    shared = {"QueueSid": queue_sid, "QueuePosition": "3", "CurrentQueueSize": "3"}
    assert waits == [
        params(**shared, QueueTime="0", AvgQueueTime="0", MaxQueueSize="100"),
        params(**shared, QueueTime="30", AvgQueueTime="30", MaxQueueSize="100"),
    ]
    assert call.heard() == "Please hold. Please hold."
    assert clock.now() == T0 + timedelta(seconds=60)
    assert call.waiting_for == "queue"


def test_agent_answering_bridges_then_calls_the_enqueue_action(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": QUEUE_DOC,
        "/voice/wait": "<Response><Play>hold.mp3</Play></Response>",
        "/voice/after": "<Response><Say>Thanks for calling.</Say></Response>",
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.hold()
    call.agent_answers(talk_seconds=90)

    after = app.last("/voice/after").form
    assert (after["QueueResult"], after["QueueTime"]) == ("bridged", "30")
    assert after["QueueSid"].startswith("QU")
    assert call.heard() == "Thanks for calling."
    assert call.result.outcome == Outcome("bridged", queue="support")
    assert app.last("/voice/status").form["CallDuration"] == "120"


def test_enqueue_without_action_runs_the_verbs_after_it(clock: ManualClock) -> None:
    doc = "<Response><Enqueue>support</Enqueue><Say>Goodbye.</Say></Response>"
    sim, _ = simulate({"/voice": doc}, clock)

    call = sim.dial(CALLER)
    call.hold()
    assert call.heard() == "[hold music]"
    call.agent_answers(10)

    assert call.heard() == "Goodbye."
    assert call.result.outcome == Outcome("bridged", queue="support")


def test_leave_in_the_wait_url_calls_the_enqueue_action_with_leave(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": QUEUE_DOC,
        "/voice/wait": (
            '<Response><Gather numDigits="1" action="/voice/wait/choice">'
            "<Say>Press 1 to leave a message.</Say></Gather></Response>"
        ),
        "/voice/wait/choice": "<Response><Leave/></Response>",
        "/voice/after": lambda request: (
            f"<Response><Say>{request.form['QueueResult']}</Say></Response>"
        ),
    }
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.hold(3)
    assert call.waiting_for == "gather"
    assert call.heard() == "Press 1 to leave a message."
    call.press("1")

    assert call.heard() == "leave"
    assert app.paths().count("/voice/wait") == 1
    assert call.result.outcome == Outcome("hangup")


def test_caller_hanging_up_in_the_queue_reports_queue_result_hangup(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": QUEUE_DOC, "/voice/wait": "<Response/>"}, clock)

    call = sim.dial(CALLER)
    call.hold()
    call.hangup()

    assert app.last("/voice/after").form["QueueResult"] == "hangup"
    assert call.result.outcome == Outcome("queued", queue="support")
    assert app.paths()[-1] == "/voice/status"


def test_hangup_in_the_wait_url_reports_queue_result_hangup(clock: ManualClock) -> None:
    routes = {"/voice": QUEUE_DOC, "/voice/wait": "<Response><Hangup/></Response>"}
    sim, app = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.hold(2)

    assert app.last("/voice/after").form["QueueResult"] == "hangup"
    assert app.paths().count("/voice/wait") == 1
    assert call.result.outcome == Outcome("queued", queue="support")


def test_holding_while_at_a_gather_in_the_wait_url_is_a_simulation_error(
    clock: ManualClock,
) -> None:
    routes = {"/voice": QUEUE_DOC, "/voice/wait": "<Response><Gather/></Response>"}
    sim, _ = simulate(routes, clock)

    call = sim.dial(CALLER)
    call.hold()
    with pytest.raises(SimulationError, match="is at a <Gather> in the queue's waitUrl"):
        call.hold()
    call.silence()  # falls through: the cycle ends

    assert call.waiting_for == "queue"


def test_a_verb_not_allowed_in_a_wait_url_document_fails_the_call(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": QUEUE_DOC,
        "/voice/wait": "<Response><Record/></Response>",
    }
    sim, _ = simulate(routes, clock)

    call = sim.dial(CALLER)
    with pytest.raises(TwimlError, match="not allowed in a waitUrl document") as raised:
        call.hold()

    assert (raised.value.url, raised.value.element) == (BASE + "/voice/wait", "Record")


def test_leave_outside_a_queue_fails_the_call(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": "<Response><Leave/></Response>"}, clock)

    with pytest.raises(TwimlError, match="only works for a caller in a queue") as raised:
        sim.dial(CALLER)

    assert raised.value.element == "Leave"


# --- strict TwiML -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "element", "message"),
    [
        ("<Response><Speak>Hi</Speak></Response>", "Speak", "unknown element"),
        ('<Response><Gather numdigits="1"/></Response>', "Gather", "unknown attribute 'numdigits'"),
        ("<Response><Gather><Gather/></Gather></Response>", "Gather", "may not contain <Gather>"),
        ("<Response><Gather><Dial>1</Dial></Gather></Response>", "Dial", "may not contain <Dial>"),
        ("<Response><Say>Hi <b>there</b></Say></Response>", "b", "<Say> may not contain <b>"),
        ("<Response><Dial><Say>x</Say></Dial></Response>", "Say", "<Dial> may not contain <Say>"),
        ('<Response><Gather numDigits="0"/></Response>', "Gather", "positive integer"),
        ('<Response><Gather timeout="five"/></Response>', "Gather", "timeout='five'"),
        ('<Response><Gather input="voice"/></Response>', "Gather", "input='voice'"),
        ('<Response><Redirect method="PUT">/x</Redirect></Response>', "Redirect", "GET or POST"),
        ("<Say>Hi</Say>", "Say", "the root element must be <Response>"),
        ("<Response><Connect/></Response>", "Connect", "does not run"),
    ],
)
def test_twiml_twilio_would_refuse_fails_the_call_naming_url_and_element(
    clock: ManualClock, body: str, element: str, message: str
) -> None:
    sim, app = simulate({"/voice": body}, clock)

    with pytest.raises(TwimlError) as raised:
        sim.dial(CALLER)

    assert (raised.value.url, raised.value.element) == (BASE + "/voice", element)
    assert message in str(raised.value)
    call = sim.last_call
    assert call is not None
    assert call.result.outcome is not None
    assert call.result.outcome.kind == "failed"
    assert call.result.transcript[-1].text == (
        "We are sorry, an application error has occurred. Goodbye."
    )
    assert app.paths() == ["/voice", "/voice/status"]


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (lambda request: twiml("Hello there"), "not XML"),
        (lambda request: twiml("<Response/>", status=500), "HTTP status 500"),
        (lambda request: twiml("<Response/>", content_type="text/html"), "Content-Type text/html"),
    ],
)
def test_bad_replies_fail_the_call_with_a_clear_message(
    clock: ManualClock, handler: Handler, message: str
) -> None:
    sim, _ = simulate({"/voice": MENU, "/voice/menu": handler}, clock)

    call = sim.dial(CALLER)
    with pytest.raises(TwimlError, match=message) as raised:
        call.press("1")

    assert raised.value.url == BASE + "/voice/menu"
    assert call.result.outcome is not None
    assert call.result.outcome.kind == "failed"


def test_application_xml_with_a_charset_is_twiml(clock: ManualClock) -> None:
    reply = twiml("<Response><Say>Hi.</Say></Response>", content_type="application/xml")
    sim, _ = simulate({"/voice": lambda request: reply}, clock)

    assert sim.dial(CALLER).heard() == "Hi."


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (lambda request: twiml("<Response/>", status=503), "11200"),
        (lambda request: twiml("<Response"), "12100"),
        (lambda request: twiml("<Response><Shout/></Response>"), "12200"),
        (lambda request: twiml("{}", content_type="application/json"), "12300"),
    ],
)
def test_with_a_fallback_url_a_failure_requests_it_with_error_code_and_url(
    clock: ManualClock, handler: Handler, code: str
) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": MENU,
        "/voice/menu": handler,
        "/voice/fallback": "<Response><Say>Sorry.</Say></Response>",
    }
    sim, app = simulate(routes, clock, fallback_path="/voice/fallback")

    call = sim.dial(CALLER)
    call.press("1")

    fallback = app.last("/voice/fallback").form
    assert fallback == params(
        Digits="1", FinishedOnKey="", ErrorCode=code, ErrorUrl=BASE + "/voice/menu"
    )
    assert call.heard() == "Sorry."
    assert call.result.outcome == Outcome("hangup")


def test_a_failing_fallback_fails_the_call(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {"/voice": lambda request: twiml("", status=500)}
    sim, app = simulate(routes, clock, fallback_path="/voice/fallback")

    with pytest.raises(TwimlError, match="fallback URL failed too: HTTP status 404") as raised:
        sim.dial(CALLER)

    assert raised.value.url == BASE + "/voice/fallback"
    assert app.last("/voice/fallback").form["CallStatus"] == "ringing"


def test_a_connection_failure_requests_the_fallback_with_11205(clock: ManualClock) -> None:
    app = TwimlApp({"/voice/fallback": "<Response><Say>Sorry.</Say></Response>"})
    inner = WsgiTransport(app)

    class Flaky:
        def send(
            self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
        ) -> HttpReply:
            if url.endswith("/voice"):
                raise TwimlError(url, "", "connection failed: refused")
            return inner.send(method, url, form, headers)

    sim = Simulator(Flaky(), clock=clock, fallback_path="/voice/fallback")

    call = sim.dial(CALLER)

    assert app.last("/voice/fallback").form["ErrorCode"] == "11205"
    assert call.heard() == "Sorry."


def test_a_status_callback_that_cannot_connect_is_ignored(clock: ManualClock) -> None:
    inner = WsgiTransport(TwimlApp({"/voice": "<Response><Say>Hi.</Say></Response>"}))

    class NoStatus:
        def send(
            self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
        ) -> HttpReply:
            if url.endswith("/status"):
                raise TwimlError(url, "", "connection failed: refused")
            return inner.send(method, url, form, headers)

    call = Simulator(NoStatus(), clock=clock).dial(CALLER)

    assert call.result.outcome == Outcome("hangup")
    assert [url for url, _ in call.result.latencies] == [BASE + "/voice"]


def test_a_redirect_loop_fails_after_max_documents(clock: ManualClock) -> None:
    sim, app = simulate(
        {"/voice": "<Response><Redirect>/voice</Redirect></Response>"}, clock, max_documents=5
    )

    with pytest.raises(TwimlError, match="more than 5 documents fetched without any caller"):
        sim.dial(CALLER)

    assert app.paths() == ["/voice"] * 5 + ["/voice/status"]


# --- results ----------------------------------------------------------------------------------


def test_states_flows_and_latencies_are_reported_per_document(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": lambda request: twiml(MENU, state="main_menu", flow="hotline"),
        "/voice/menu": lambda request: twiml(
            "<Response><Say>Balance.</Say></Response>", state="balance", flow="hotline"
        ),
    }
    sim, _ = simulate(routes, clock)

    call = sim.dial(CALLER)
    assert call.state == "main_menu"
    call.press("1")

    result = call.result
    assert result.states == ["main_menu", "balance"]
    assert result.flows == ["hotline", "hotline"]
    assert result.transcript == [
        Turn("ivr", "say", "Press 1.", None, BASE + "/voice", "main_menu"),
        Turn("caller", "press", "1", None, BASE + "/voice", "main_menu"),
        Turn("ivr", "say", "Balance.", None, BASE + "/voice/menu", "balance"),
    ]
    assert [url for url, _ in result.latencies] == [
        BASE + "/voice",
        BASE + "/voice/menu",
        BASE + "/voice/status",
    ]
    assert all(seconds >= 0 for _, seconds in result.latencies)
    assert [url for url, _ in result.requests] == [url for url, _ in result.latencies]


def test_heard_is_only_what_was_said_since_the_last_caller_action(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": "<Response><Say>Welcome.</Say><Redirect>/voice/menu</Redirect></Response>",
        "/voice/menu": MENU.replace("<Redirect>/voice<", "<Redirect>/voice/menu<"),
    }
    sim, _ = simulate(routes, clock)

    call = sim.dial(CALLER)
    assert call.heard() == "Welcome. Press 1."
    call.silence()

    assert call.heard() == "Press 1."


def test_acting_out_of_turn_is_a_simulation_error(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": MENU}, clock)
    call = sim.dial(CALLER)

    with pytest.raises(SimulationError, match="waiting for gather: the caller cannot record"):
        call.record(3)
    with pytest.raises(SimulationError, match="not in a queue"):
        call.hold()
    with pytest.raises(SimulationError, match="keys must be"):
        call.press("12a")
    with pytest.raises(SimulationError, match="seconds must be 0 or more"):
        call.record(-1)
    with pytest.raises(SimulationError, match='finish must be one key, "hangup" or ""'):
        call.record(3, finish="##")
    with pytest.raises(SimulationError, match="hold needs cycles >= 1"):
        call.hold(0)
    with pytest.raises(
        SimulationError, match="waiting for gather: the caller cannot finish a dial"
    ):
        call.dial_result()
    call.hangup()
    with pytest.raises(SimulationError, match="has already ended"):
        call.hangup()
    with pytest.raises(SimulationError, match="not in a queue"):
        call.agent_answers()


def test_the_clock_is_created_when_none_is_given() -> None:
    sim = Simulator(WsgiTransport(TwimlApp({"/voice": '<Response><Pause length="2"/></Response>'})))
    start = sim.clock.now()

    sim.dial(CALLER)

    assert sim.clock.now() - start == timedelta(seconds=2)


def test_the_simulator_does_not_import_flask() -> None:
    code = "import sys, ivr.testing.simulator; print('flask' in sys.modules)"

    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert ran.stdout.strip() == "False"


# --- a real HTTP server -----------------------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server_url() -> Iterator[tuple[str, TwimlApp]]:
    def set_cookie(request: Request) -> Response:
        response = twiml(MENU.replace("/voice/menu", "menu?x=1"), state="main_menu")
        response.set_cookie("session", "s1")
        return response

    app = TwimlApp(
        {
            "/voice": set_cookie,
            "/menu": redirect("/final"),
            "/final": "<Response><Say>Over HTTP.</Say></Response>",
        }
    )
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_transport_runs_a_call_against_a_real_server(
    clock: ManualClock, server_url: tuple[str, TwimlApp]
) -> None:
    base, app = server_url
    sim = Simulator(HttpTransport(timeout=5), base_url=base, clock=clock, auth_token="tok")

    call = sim.dial(CALLER)
    call.press("1")

    assert call.heard() == "Over HTTP."
    assert call.result.states == ["main_menu"]
    assert app.paths() == ["/voice", "/menu", "/final", "/voice/status"]
    menu = app.last("/menu")
    assert (menu.method, menu.args, menu.form["Digits"]) == ("POST", {"x": "1"}, "1")
    assert menu.headers["Cookie"] == "session=s1"
    assert RequestValidator("tok").validate(menu.url, menu.form, menu.headers["X-Twilio-Signature"])
    assert app.last("/final").method == "GET"


def test_http_transport_turns_a_refused_connection_into_a_twiml_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/voice"

    with pytest.raises(TwimlError, match="connection failed") as raised:
        HttpTransport(timeout=2).send("POST", url, {"a": "1"}, {})

    assert (raised.value.url, raised.value.element) == (url, "")
