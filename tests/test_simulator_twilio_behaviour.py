"""The rest of Twilio's voice behaviour the simulator plays (issue 15): recording and partial
speech callbacks, every QueueResult, status events, barge-in, time limits, geographic fields,
``<Play>`` fetching, ``playBeep`` and ``trim``, and the agent's ``<Queue url>`` document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.errors import TwimlError
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import Outcome
from ivr.testing.simulator import Place
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import Turn
from ivr.testing.simulator import WsgiTransport
from tests.simulator_apps import Handler
from tests.simulator_apps import TwimlApp
from tests.simulator_apps import served
from tests.simulator_apps import twiml

BASE = "https://ivr.example.test"
CALLER = "+8613800138000"
SID = "CA" + "0" * 31 + "1"
T0_TEXT = "Mon, 23 Nov 2026 02:00:00 +0000"


def simulate(
    routes: dict[str, str | Handler], clock: ManualClock, **options: Any
) -> tuple[Simulator, TwimlApp]:
    app = TwimlApp(routes)
    return Simulator(WsgiTransport(app), clock=clock, **options), app


def audio(request: Request) -> Response:
    return twiml("RIFF....", content_type="audio/wav")


# --- <Record>: beep, trim, recordingStatusCallback --------------------------------------------

VOICEMAIL = (
    '<Response><Record action="/saved" maxLength="60" finishOnKey="#" '
    'recordingStatusCallback="/voice/recording-status"/></Response>'
)


def test_the_recording_status_callback_follows_the_action_with_twilios_fields(
    clock: ManualClock,
) -> None:
    sim, app = simulate({"/voice": VOICEMAIL, "/saved": "<Response><Hangup/></Response>"}, clock)
    call = sim.dial(CALLER)

    call.record(8, finish="#")

    assert app.paths() == ["/voice", "/saved", "/voice/recording-status", "/voice/status"]
    status = app.last("/voice/recording-status").form
    recording = call.result.recordings[0]
    assert status == {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": SID,
        "RecordingSid": recording.url.rsplit("/", 1)[1],
        "RecordingUrl": recording.url,
        "RecordingStatus": "completed",
        "RecordingDuration": "8",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": T0_TEXT,
        "ErrorCode": "0",
    }


def test_an_empty_recording_reports_absent_only_when_asked(clock: ManualClock) -> None:
    asked = VOICEMAIL.replace("/>", ' recordingStatusCallbackEvent="completed absent"/>')
    sim, app = simulate({"/voice": asked}, clock)
    call = sim.dial(CALLER)

    call.silence()

    assert app.last("/voice/recording-status").form["RecordingStatus"] == "absent"
    silent, quiet_app = simulate({"/voice": VOICEMAIL}, clock)
    silent.dial(CALLER).silence()
    assert "/voice/recording-status" not in quiet_app.paths()


def test_record_plays_a_beep_unless_play_beep_is_false(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": VOICEMAIL}, clock)
    quiet, _ = simulate(
        {"/voice": VOICEMAIL.replace("<Record ", '<Record playBeep="false" ')}, clock
    )

    beeping = sim.dial(CALLER)
    silent = quiet.dial(CALLER)

    assert beeping.result.transcript == [Turn("ivr", "beep", "", None, BASE + "/voice", None)]
    assert silent.result.transcript == []


@pytest.mark.parametrize(("trim", "duration"), [("trim-silence", "8"), ("do-not-trim", "13")])
def test_trim_decides_whether_the_closing_silence_counts_in_the_duration(
    clock: ManualClock, trim: str, duration: str
) -> None:
    doc = f'<Response><Record action="/saved" timeout="5" trim="{trim}"/></Response>'
    sim, app = simulate({"/voice": doc, "/saved": "<Response/>"}, clock)
    call = sim.dial(CALLER)

    call.record(8, finish="")  # no key: five seconds of silence end it

    assert app.last("/saved").form["RecordingDuration"] == duration


# --- <Gather>: partial results and barge-in ---------------------------------------------------

SPEECH = (
    '<Response><Gather input="speech" action="/heard" partialResultCallback="/partial" '
    'language="en-US"><Say>What do you need?</Say><Say>For example, my balance.</Say>'
    "</Gather></Response>"
)


def test_partial_results_arrive_word_by_word_before_the_action(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": SPEECH, "/heard": "<Response/>"}, clock)
    call = sim.dial(CALLER)

    call.say("my balance please")

    partial = [seen.form for seen in app.seen if seen.path == "/partial"]
    assert [
        (form["UnstableSpeechResult"], form["Stability"], form["SequenceNumber"])
        for form in partial
    ] == [("my", "0.33", "0"), ("my balance", "0.67", "1"), ("my balance please", "1.00", "2")]
    assert partial[0]["LanguageCode"] == "en-US"
    assert app.paths().index("/heard") > app.paths().index("/partial")


def test_chinese_partial_results_grow_by_character(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": SPEECH, "/heard": "<Response/>"}, clock)

    sim.dial(CALLER).say("查余额")

    partial = [seen.form["UnstableSpeechResult"] for seen in app.seen if seen.path == "/partial"]
    assert partial == ["查", "查余", "查余额"]


MENU = (
    '<Response><Gather action="/menu" numDigits="1"><Say>For balance, press 1.</Say>'
    "<Say>For cards, press 2.</Say></Gather></Response>"
)


def test_an_early_key_cuts_the_first_prompt_and_skips_the_rest(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": MENU, "/menu": "<Response/>"}, clock)
    call = sim.dial(CALLER)

    call.press("2", early=True)

    url = BASE + "/voice"
    assert call.result.transcript[:2] == [
        Turn("ivr", "say", "For balance, press 1.", None, url, None, cut=True),
        Turn("caller", "press", "2", None, url, None),
    ]
    assert app.last("/menu").form["Digits"] == "2"


def test_speech_does_not_barge_in_when_barge_in_is_false(clock: ManualClock) -> None:
    no_barge = SPEECH.replace("<Gather ", '<Gather bargeIn="false" ')
    sim, _ = simulate({"/voice": no_barge, "/heard": "<Response/>"}, clock)
    call = sim.dial(CALLER)

    call.say("balance", early=True)

    assert [turn.cut for turn in call.result.transcript[:2]] == [False, False]


def test_pressing_early_at_a_record_is_refused(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": VOICEMAIL}, clock)

    with pytest.raises(SimulationError, match="only a <Gather>'s prompts"):
        sim.dial(CALLER).press("#", early=True)


# --- queues: every QueueResult, queue-full, the agent's leg ------------------------------------

ENQUEUE = (
    '<Response><Enqueue action="/after" waitUrl="/hold" maxQueueSize="2">general</Enqueue>'
    "</Response>"
)


def test_a_full_queue_answers_queue_full_at_once_without_queuing(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": ENQUEUE,
        "/after": "<Response><Say>Sorry.</Say></Response>",
    }
    sim, app = simulate(routes, clock, waiting={"general": 2})

    call = sim.dial(CALLER)

    assert app.last("/after").form["QueueResult"] == "queue-full"
    assert app.last("/after").form["QueueTime"] == "0"
    assert "/hold" not in app.paths()
    assert call.heard() == "Sorry."


@pytest.mark.parametrize(
    "result", ["queue-full", "redirected", "redirected-from-bridged", "error", "system-error"]
)
def test_a_queue_can_end_with_each_of_twilios_other_results(
    clock: ManualClock, result: str
) -> None:
    sim, app = simulate({"/voice": ENQUEUE, "/after": "<Response/>"}, clock)
    call = sim.dial(CALLER)

    call.queue_ends(result)

    assert app.last("/after").form["QueueResult"] == result
    assert call.result.outcome == Outcome("hangup")


def test_an_unknown_queue_result_is_refused(clock: ManualClock) -> None:
    sim, _ = simulate({"/voice": ENQUEUE}, clock)

    with pytest.raises(SimulationError, match="result must be one of"):
        sim.dial(CALLER).queue_ends("abandoned")


def test_the_queue_url_document_runs_on_the_callers_leg_before_the_bridge(
    clock: ManualClock,
) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": ENQUEUE,
        "/pickup": '<Response><Dial><Queue url="/connecting">general</Queue></Dial></Response>',
        "/connecting": "<Response><Say>Connecting you to an agent now.</Say></Response>",
        "/after": "<Response/>",
    }
    sim, app = simulate(routes, clock)
    call = sim.dial(CALLER)
    clock.advance(40)

    call.agent_answers(30, pickup="/pickup")

    agent = app.last("/pickup").form
    whisper = app.last("/connecting").form
    assert agent["From"] == "+8613900000000"
    assert whisper["CallSid"] == SID
    assert whisper["DequeingCallSid"] == agent["CallSid"] != SID
    assert whisper["QueueTime"] == "40"
    assert call.result.transcript[-1] == Turn(
        "ivr", "say", "Connecting you to an agent now.", None, BASE + "/connecting", None
    )
    assert app.last("/after").form["QueueResult"] == "bridged"


def test_a_pickup_that_dials_another_queue_is_a_simulation_error(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": ENQUEUE,
        "/pickup": "<Response><Dial><Queue>security</Queue></Dial></Response>",
    }
    sim, _ = simulate(routes, clock)

    with pytest.raises(
        SimulationError, match="dials 'security', but the caller waits in 'general'"
    ):
        sim.dial(CALLER).agent_answers(pickup="/pickup")


def test_only_play_say_pause_and_redirect_run_in_a_queue_url_document(clock: ManualClock) -> None:
    routes: dict[str, str | Handler] = {
        "/voice": ENQUEUE,
        "/pickup": '<Response><Dial><Queue url="/connecting">general</Queue></Dial></Response>',
        "/connecting": '<Response><Gather numDigits="1"/></Response>',
    }
    sim, _ = simulate(routes, clock)

    with pytest.raises(TwimlError, match="<Gather> is not allowed in a <Queue url> document"):
        sim.dial(CALLER).agent_answers(pickup="/pickup")


# --- status callbacks --------------------------------------------------------------------------


def test_status_events_report_progress_with_timestamps_and_sequence_numbers(
    clock: ManualClock,
) -> None:
    doc = '<Response><Pause length="3"/></Response>'
    events = ("initiated", "ringing", "answered", "completed")
    sim, app = simulate({"/voice": doc}, clock, status_events=events)

    sim.dial(CALLER)

    reports = [seen.form for seen in app.seen if seen.path == "/voice/status"]
    assert [
        (form["CallStatus"], form["SequenceNumber"], form["Timestamp"]) for form in reports
    ] == [
        ("initiated", "0", T0_TEXT),
        ("ringing", "1", T0_TEXT),
        ("in-progress", "2", T0_TEXT),
        ("completed", "3", "Mon, 23 Nov 2026 02:00:03 +0000"),
    ]
    assert [form.get("CallDuration") for form in reports] == [None, None, None, "3"]
    assert app.paths()[:3] == ["/voice/status", "/voice/status", "/voice"]


@pytest.mark.parametrize("network", ["busy", "no-answer", "failed"])
def test_a_call_the_network_ends_never_reaches_the_voice_url(
    clock: ManualClock, network: str
) -> None:
    sim, app = simulate({"/voice": "<Response/>"}, clock)

    call = sim.dial(CALLER, network=network)

    assert app.paths() == ["/voice/status"]
    assert app.last("/voice/status").form["CallStatus"] == network
    assert app.last("/voice/status").form["CallDuration"] == "0"
    assert call.result.outcome == Outcome("unanswered", detail=network)
    assert call.result.call_status == network


def test_a_call_canceled_while_ringing_ignores_the_first_document(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": "<Response><Say>Hello.</Say></Response>"}, clock)

    call = sim.dial(CALLER, network="canceled")

    assert app.paths() == ["/voice", "/voice/status"]
    assert app.last("/voice/status").form["CallStatus"] == "canceled"
    assert call.result.transcript == []


def test_unknown_status_events_and_network_results_are_refused(clock: ManualClock) -> None:
    with pytest.raises(SimulationError, match="unknown status events"):
        simulate({}, clock, status_events=("answered", "bridged"))
    sim, _ = simulate({}, clock)
    with pytest.raises(SimulationError, match="network must be one of"):
        sim.dial(CALLER, network="dropped")


# --- request parameters ------------------------------------------------------------------------


def test_geographic_fields_come_from_the_numbers_and_the_places_given(clock: ManualClock) -> None:
    places = {"+14155550100": Place("SAN FRANCISCO", "CA", "94105")}
    sim, app = simulate({"/voice": "<Response/>"}, clock, places=places, to="+14155550100")

    sim.dial(CALLER)

    form = app.seen[0].form
    assert {key: form[key] for key in form if key.startswith(("From", "To")) and key != "From"} == {
        "FromCountry": "CN",
        "FromCity": "",
        "FromState": "",
        "FromZip": "",
        "To": "+14155550100",
        "ToCountry": "US",
        "ToCity": "SAN FRANCISCO",
        "ToState": "CA",
        "ToZip": "94105",
    }
    assert (form["CallerCountry"], form["CalledCity"]) == ("CN", "SAN FRANCISCO")


def test_a_client_caller_has_no_country(clock: ManualClock) -> None:
    sim, app = simulate({"/voice": "<Response/>"}, clock)

    sim.dial("client:alice")

    assert app.seen[0].form["FromCountry"] == ""


# --- <Play> --------------------------------------------------------------------------------------


def test_a_relative_play_url_is_fetched_once_and_must_be_audio(clock: ManualClock) -> None:
    doc = "<Response><Play>sounds/hi.wav</Play><Play>sounds/hi.wav</Play></Response>"
    sim, app = simulate(
        {"/voice/": doc, "/voice/sounds/hi.wav": audio}, clock, voice_path="/voice/"
    )

    call = sim.dial(CALLER)

    assert app.paths().count("/voice/sounds/hi.wav") == 1
    assert app.last("/voice/sounds/hi.wav").method == "GET"
    assert call.heard() == (
        "[play https://ivr.example.test/voice/sounds/hi.wav] "
        "[play https://ivr.example.test/voice/sounds/hi.wav]"
    )
    assert call.result.warnings == []


def test_a_play_url_that_is_not_audio_is_skipped_with_a_warning(clock: ManualClock) -> None:
    doc = "<Response><Play>/page.html</Play><Say>Still here.</Say></Response>"
    page: Handler = lambda request: twiml("<html/>", content_type="text/html")  # noqa: E731
    sim, _ = simulate({"/voice": doc, "/page.html": page}, clock)

    call = sim.dial(CALLER)

    problem = "Content-Type text/html is not audio"
    assert call.result.warnings == [f"<Play> {BASE}/page.html: {problem}"]
    assert call.heard() == f"[cannot play {BASE}/page.html: {problem}] Still here."


def test_play_urls_are_not_fetched_when_media_checks_are_off(clock: ManualClock) -> None:
    sim, app = simulate(
        {"/voice": "<Response><Play>/a.wav</Play></Response>"}, clock, check_media=False
    )

    sim.dial(CALLER)

    assert "/a.wav" not in app.paths()


# --- time limits -------------------------------------------------------------------------------


class ScriptedTimer:
    """A perf counter that reads the given times, then stays at the last one."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def test_an_in_process_reply_slower_than_fifteen_seconds_goes_to_the_fallback(
    clock: ManualClock,
) -> None:
    app = TwimlApp(
        {"/voice": "<Response/>", "/voice/fallback": "<Response><Say>Sorry.</Say></Response>"}
    )
    transport = WsgiTransport(app, timer=ScriptedTimer(0.0, 16.0))  # only /voice is slow
    slow = Simulator(transport, clock=clock, fallback_path="/voice/fallback", check_media=False)
    transport_ok = WsgiTransport(app, response_limit=20.0, timer=ScriptedTimer(0.0, 16.0))

    call = slow.dial(CALLER)

    fallback = app.last("/voice/fallback").form
    assert (fallback["ErrorCode"], fallback["ErrorUrl"]) == ("11205", BASE + "/voice")
    assert transport_ok.send("POST", BASE + "/voice", {}, {}).status == 200
    assert call.result.transcript[0].text == "Sorry."


def trickle(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        for part in (b"<Response>", b"<Say>late</Say>", b"</Response>", b"", b""):
            time.sleep(0.2)
            yield part or b" "

    return Response(body(), content_type="text/xml")


def test_a_reply_trickled_past_the_limit_fails_although_each_read_is_quick() -> None:
    app = TwimlApp({"/voice": trickle})
    with served(app) as base:
        transport = HttpTransport(0.5)

        with pytest.raises(TwimlError, match=r"no complete response within 0.5 s"):
            transport.send("POST", base + "/voice", {"a": "1"}, {})


def test_a_reply_within_the_limit_arrives_whole_over_http() -> None:
    app = TwimlApp({"/voice": trickle})
    with served(app) as base:
        reply = HttpTransport(5).send("POST", base + "/voice", {"a": "1"}, {})

    assert reply.body.decode().split() == ["<Response><Say>late</Say></Response>"]
    assert reply.elapsed >= 0.8


def test_a_connection_refused_fails_at_once() -> None:
    app = TwimlApp({})
    with served(app) as base:
        pass  # the server is gone: its port refuses connections

    with pytest.raises(TwimlError, match="connection failed"):
        HttpTransport(connect_timeout=1).send("GET", base + "/voice", {}, {})
