"""What the simulator works out once and reuses (parsed and checked TwiML, a Gather's spec,
a request's fixed parameters) gives exactly what working it out again would: a document is
reused only for the same text and the same kind of fetch, and nothing a call does changes
what the next call gets."""

from __future__ import annotations

import pytest

from ivr.clock import ManualClock
from ivr.errors import TwimlError
from ivr.telephony.twiml_schema import SchemaProblem
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.testing.simulator import checked_twiml
from tests.simulator_apps import TwimlApp

BASE = "https://ivr.example.test"
CALLER = "+8613800138000"
# Valid as a call's document; as a waitUrl document its <Dial> is refused.
HOLD_AND_DIAL = "<Response><Say>Please hold.</Say><Dial>+8613900000000</Dial></Response>"
DIAL_REFUSED = SchemaProblem(
    "Dial",
    "Response/Dial[2]",
    "<Dial> is not allowed in a waitUrl document; allowed: "
    "Gather, Hangup, Leave, Pause, Play, Redirect, Say",
)


def test_one_text_checked_as_a_call_document_and_as_a_wait_document_gets_each_verdict() -> None:
    body = HOLD_AND_DIAL.encode()

    as_wait_first = checked_twiml(body, wait_url=True)[1]
    as_call = checked_twiml(body)[1]
    as_wait_again = checked_twiml(body, wait_url=True)[1]

    assert as_wait_first == (DIAL_REFUSED,)
    assert as_call == ()
    assert as_wait_again == (DIAL_REFUSED,)


def test_texts_that_differ_in_one_attribute_are_two_documents() -> None:
    one = b'<Response><Gather numDigits="1"/></Response>'
    two = b'<Response><Gather numDigits="2"/></Response>'

    first = checked_twiml(one)[0]
    second = checked_twiml(two)[0]

    assert [first[0].get("numDigits"), second[0].get("numDigits")] == ["1", "2"]
    assert checked_twiml(one)[0] is first  # the same text: the same (unchanged) tree


def test_a_document_a_call_ran_is_run_whole_by_the_next_call_and_by_the_same_call_again(
    clock: ManualClock,
) -> None:
    menu = (
        '<Response><Gather action="/voice/menu" numDigits="1"><Say>Press 1.</Say></Gather>'
        "<Say>Nothing pressed.</Say><Redirect>/voice</Redirect></Response>"
    )
    app = TwimlApp({"/voice": menu})
    sim = Simulator(WsgiTransport(app), base_url=BASE, clock=clock)

    first = sim.dial(CALLER)
    first.silence()
    second = sim.dial(CALLER)

    assert [t.text for t in first.result.transcript] == [
        "Press 1.",
        "",
        "Nothing pressed.",
        "Press 1.",
    ]
    assert [t.text for t in second.result.transcript] == ["Press 1."]


def test_the_same_document_at_two_urls_resolves_its_relative_action_against_each(
    clock: ManualClock,
) -> None:
    menu = '<Response><Gather action="next" numDigits="1"><Say>Go.</Say></Gather></Response>'
    app = TwimlApp({"/a/voice": menu, "/b/voice": menu})
    actions = []
    for path in ("/a/voice", "/b/voice", "/a/voice"):
        call = Simulator(WsgiTransport(app), base_url=BASE, voice_path=path, clock=clock).dial(
            CALLER
        )
        assert call.gather is not None
        actions.append(call.gather.action)

    assert actions == [BASE + "/a/next", BASE + "/b/next", BASE + "/a/next"]


def test_a_document_accepted_for_a_call_is_still_refused_as_hold_music(
    clock: ManualClock,
) -> None:
    queue = '<Response><Enqueue waitUrl="/hold">support</Enqueue></Response>'
    app = TwimlApp({"/voice": queue, "/hold": HOLD_AND_DIAL, "/direct": HOLD_AND_DIAL})
    direct = Simulator(WsgiTransport(app), base_url=BASE, voice_path="/direct", clock=clock)
    queued = Simulator(WsgiTransport(app), base_url=BASE, clock=clock)

    answered = direct.dial(CALLER)
    waiting = queued.dial(CALLER)
    with pytest.raises(TwimlError) as refused:
        waiting.hold()

    assert answered.waiting_for == "dial"
    assert str(refused.value) == f"{BASE}/hold: <Dial>: {DIAL_REFUSED}"


def test_a_call_status_given_with_the_call_is_the_one_its_requests_carry(
    clock: ManualClock,
) -> None:
    app = TwimlApp({"/voice": "<Response><Pause/></Response>"})
    sim = Simulator(WsgiTransport(app), base_url=BASE, clock=clock)

    sim.dial(CALLER, extra={"CallStatus": "queued"})

    sent = [(seen.path, seen.form["CallStatus"]) for seen in app.seen]
    assert sent == [("/voice", "queued"), ("/voice/status", "completed")]
