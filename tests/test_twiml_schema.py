"""The strict TwiML table: what Twilio accepts passes, each thing it refuses is named."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial
from twilio.twiml.voice_response import Enqueue
from twilio.twiml.voice_response import Gather
from twilio.twiml.voice_response import Say
from twilio.twiml.voice_response import VoiceResponse

from ivr.telephony.twiml_schema import OTHER_TWILIO_VERBS
from ivr.telephony.twiml_schema import RULES
from ivr.telephony.twiml_schema import SSML_ELEMENTS
from ivr.telephony.twiml_schema import VERBS
from ivr.telephony.twiml_schema import WAIT_URL_VERBS
from ivr.telephony.twiml_schema import SchemaProblem
from ivr.telephony.twiml_schema import check_document
from ivr.testing.simulator import parse_twiml
from tests.builder_table import builder_table


def problems(xml: str, *, wait_url: bool = False) -> list[SchemaProblem]:
    return check_document(parse_twiml(xml.encode()), wait_url=wait_url)


def test_every_attribute_twilios_builder_writes_for_the_simulated_verbs_is_accepted() -> None:
    response = VoiceResponse()
    say = Say("您好", voice="Polly.Zhiyu-Neural", language="cmn-CN", loop=2)
    say.break_(strength="strong", time="1s")
    say.emphasis("very", level="strong")
    say.lang("hello", xml_lang="en-US")
    say.p("para")
    say.phoneme("tomato", alphabet="ipa", ph="təˈmeɪtoʊ")
    say.prosody("slow", volume="loud", rate="slow", pitch="low")
    say.s("sentence")
    say.say_as("123", interpret_as="digits", format="")
    say.sub("W3C", alias="World Wide Web Consortium")
    say.w("read", role="amazon:VBD")
    response.append(say)
    response.play("https://cdn.example.test/a.wav", loop=0, digits="ww1")
    response.pause(length=2)
    gather = Gather(
        input="dtmf speech",
        action="/g?n=1",
        method="GET",
        timeout=5,
        speech_timeout="auto",
        max_speech_time=30,
        profanity_filter=True,
        finish_on_key="*",
        num_digits=4,
        partial_result_callback="/partial",
        partial_result_callback_method="POST",
        language="cmn-Hans-CN",
        hints="余额, 转账",
        barge_in=True,
        debug=False,
        action_on_empty_result=True,
        speech_model="phone_call",
        enhanced=True,
    )
    gather.say("Press")
    gather.play("/a.wav")
    gather.pause(length=1)
    response.append(gather)
    response.record(
        action="/r",
        method="POST",
        timeout=5,
        finish_on_key="#*",
        max_length=60,
        play_beep=True,
        trim="trim-silence",
        recording_status_callback="/rs",
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
        transcribe=False,
        transcribe_callback="/t",
    )
    dial = Dial(
        action="/d",
        method="POST",
        timeout=20,
        hangup_on_star=True,
        time_limit=600,
        caller_id="+864001234567",
        record="record-from-answer",
        trim="do-not-trim",
        answer_on_bridge=True,
        ring_tone="cn",
    )
    dial.number("+861012345678", send_digits="ww1", url="/whisper", method="GET")
    dial.queue("support", url="/about-to-connect", method="POST")
    dial.client(identity="agent7")
    dial.sip("sip:agent@example.test", username="u", password="p")
    dial.conference("room", start_conference_on_enter=True, end_conference_on_exit=False)
    response.append(dial)
    enqueue = Enqueue("support", action="/e", method="POST", wait_url="/w", wait_url_method="GET")
    enqueue.task('{"lang": "zh"}', priority=5, timeout=30)
    response.append(enqueue)
    response.redirect("/next", method="POST")
    response.leave()
    response.hangup()
    response.reject(reason="busy")

    assert check_document(parse_twiml(str(response).encode())) == []


def test_amazon_ssml_inside_say_is_accepted_without_a_namespace_declaration() -> None:
    xml = (
        '<Response><Say voice="Polly.Joanna">'
        '<amazon:effect name="whispered">quiet <amazon:domain name="news">news</amazon:domain>'
        "</amazon:effect></Say></Response>"
    )

    assert problems(xml) == []


def test_a_wait_url_document_may_use_its_seven_verbs() -> None:
    xml = (
        '<Response><Say>Hold</Say><Play>/m.mp3</Play><Pause length="5"/>'
        '<Gather numDigits="1" action="/c"><Say>Press 1</Say></Gather>'
        "<Redirect>/w</Redirect><Leave/><Hangup/></Response>"
    )

    assert problems(xml, wait_url=True) == []


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            "<Say>Hi</Say>",
            SchemaProblem("Say", "Say", "the root element must be <Response>"),
        ),
        (
            "<Response><Shout/></Response>",
            SchemaProblem(
                "Shout",
                "Response/Shout[1]",
                "unknown element; <Response> may not contain <Shout>; allowed: Connect, Dial, "
                "Echo, Enqueue, Gather, Hangup, Leave, Pause, Pay, Play, Prompt, Queue, Record, "
                "Redirect, Refer, "
                "Reject, Say, Sms, Start, Stop",
            ),
        ),
        (
            "<Response><Say/><Start/></Response>",
            SchemaProblem(
                "Start", "Response/Start[2]", "<Start> is a Twilio verb the simulator does not run"
            ),
        ),
        (
            '<Response><Say volume="loud">Hi</Say></Response>',
            SchemaProblem(
                "Say",
                "Response/Say[1]",
                "unknown attribute 'volume'; allowed: language, loop, voice",
            ),
        ),
        (
            "<Response><Gather><Gather/></Gather></Response>",
            SchemaProblem(
                "Gather",
                "Response/Gather[1]/Gather[1]",
                "<Gather> may not contain <Gather>; allowed: Pause, Play, Say",
            ),
        ),
        (
            "<Response><Gather><Say>a</Say><Redirect>/x</Redirect></Gather></Response>",
            SchemaProblem(
                "Redirect",
                "Response/Gather[1]/Redirect[2]",
                "<Gather> may not contain <Redirect>; allowed: Pause, Play, Say",
            ),
        ),
        (
            "<Response><Dial><Say>x</Say></Dial></Response>",
            SchemaProblem(
                "Say",
                "Response/Dial[1]/Say[1]",
                "<Dial> may not contain <Say>; allowed: Application, Client, Conference, Number, "
                "Queue, Sim, Sip, WhatsApp",
            ),
        ),
        (
            "<Response><Say>Hi <b>there</b></Say></Response>",
            SchemaProblem(
                "b",
                "Response/Say[1]/b[1]",
                "unknown element; <Say> may not contain <b>; allowed: amazon:domain, "
                "amazon:effect, break, emphasis, lang, p, phoneme, prosody, s, say-as, sub, w",
            ),
        ),
        (
            '<Response><Say><break time="1s">text</break></Say></Response>',
            SchemaProblem(
                "break", "Response/Say[1]/break[1]", "text is not allowed inside <break>"
            ),
        ),
        (
            "<Response>stray<Hangup/></Response>",
            SchemaProblem("Response", "Response", "text is not allowed inside <Response>"),
        ),
        (
            '<Response><Gather numDigits="0"/></Response>',
            SchemaProblem(
                "Gather", "Response/Gather[1]", "numDigits='0' must be a positive integer"
            ),
        ),
        (
            '<Response><Gather timeout="5s"/></Response>',
            SchemaProblem(
                "Gather",
                "Response/Gather[1]",
                "timeout='5s' must be a whole number of seconds (0 or more)",
            ),
        ),
        (
            '<Response><Gather speechTimeout="soon"/></Response>',
            SchemaProblem(
                "Gather",
                "Response/Gather[1]",
                "speechTimeout='soon' must be a whole number or \"auto\"",
            ),
        ),
        (
            '<Response><Gather input="dtmf voice"/></Response>',
            SchemaProblem(
                "Gather",
                "Response/Gather[1]",
                'input=\'dtmf voice\' must be "dtmf", "speech" or "dtmf speech"',
            ),
        ),
        (
            '<Response><Gather finishOnKey="#*"/></Response>',
            SchemaProblem(
                "Gather", "Response/Gather[1]", "finishOnKey='#*' must be one of 0-9, *, # or empty"
            ),
        ),
        (
            '<Response><Record finishOnKey="#A"/></Response>',
            SchemaProblem(
                "Record", "Response/Record[1]", "finishOnKey='#A' may only hold 0-9, * and #"
            ),
        ),
        (
            '<Response><Gather method="post"/></Response>',
            SchemaProblem("Gather", "Response/Gather[1]", "method='post' must be GET or POST"),
        ),
        (
            '<Response><Gather action=""/></Response>',
            SchemaProblem("Gather", "Response/Gather[1]", "action='' must be a URL, not empty"),
        ),
        (
            '<Response><Gather actionOnEmptyResult="yes"/></Response>',
            SchemaProblem(
                "Gather", "Response/Gather[1]", "actionOnEmptyResult='yes' must be true or false"
            ),
        ),
        (
            '<Response><Reject reason="spam"/></Response>',
            SchemaProblem(
                "Reject", "Response/Reject[1]", "reason='spam' must be one of: rejected, busy"
            ),
        ),
        (
            "<Response><Redirect/></Response>",
            SchemaProblem("Redirect", "Response/Redirect[1]", "<Redirect> needs text content"),
        ),
        (
            "<Response><Play/></Response>",
            SchemaProblem(
                "Play", "Response/Play[1]", "<Play> needs a URL to play (or a digits attribute)"
            ),
        ),
        (
            "<Response><Enqueue/></Response>",
            SchemaProblem("Enqueue", "Response/Enqueue[1]", "<Enqueue> needs a queue name"),
        ),
        (
            "<Response><Dial/></Response>",
            SchemaProblem(
                "Dial",
                "Response/Dial[1]",
                "<Dial> needs a number or a noun (Number, Client, Queue, Sip, Conference) to dial",
            ),
        ),
    ],
)
def test_each_thing_twilio_refuses_is_one_problem_naming_element_and_path(
    xml: str, expected: SchemaProblem
) -> None:
    assert problems(xml) == [expected]


def test_a_wait_url_document_may_not_dial_record_or_enqueue() -> None:
    xml = "<Response><Say>Hold</Say><Dial>+861012345678</Dial><Record/></Response>"

    found = problems(xml, wait_url=True)

    allowed = "Gather, Hangup, Leave, Pause, Play, Redirect, Say"
    assert found == [
        SchemaProblem(
            "Dial",
            "Response/Dial[2]",
            f"<Dial> is not allowed in a waitUrl document; allowed: {allowed}",
        ),
        SchemaProblem(
            "Record",
            "Response/Record[3]",
            f"<Record> is not allowed in a waitUrl document; allowed: {allowed}",
        ),
    ]
    assert problems(xml) == []


def test_every_problem_in_a_document_is_reported_in_order() -> None:
    xml = '<Response><Say loop="x">a</Say><Pause length="-1"/><Hangup reason="x"/></Response>'

    assert [str(problem) for problem in problems(xml)] == [
        "Response/Say[1]: loop='x' must be a whole number of seconds (0 or more)",
        "Response/Pause[2]: length='-1' must be a whole number of seconds (0 or more)",
        "Response/Hangup[3]: unknown attribute 'reason'; allowed: none",
    ]


def test_namespace_declarations_are_allowed_anywhere() -> None:
    xml = '<Response xmlns:amazon="https://amazon.example"><Say xmlns="x">Hi</Say></Response>'

    assert problems(xml) == []


def test_the_table_only_refers_to_elements_it_describes() -> None:
    for name, rule in RULES.items():
        unknown = rule.children - RULES.keys() - OTHER_TWILIO_VERBS
        assert unknown == set(), name
    assert WAIT_URL_VERBS <= VERBS
    assert VERBS <= RULES.keys()


# --- parity with twilio's builder -------------------------------------------------------------

# Where the table knowingly differs from the builder: Polly's SSML extras.
SSML_BEYOND_THE_BUILDER = frozenset({"amazon:effect", "amazon:domain"})


def twiml_tags() -> list[str]:
    """Every TwiML element of the table (SSML follows Polly, not the builder)."""
    return sorted(tag for tag in RULES if tag not in SSML_ELEMENTS)


@pytest.mark.parametrize("tag", twiml_tags())
def test_the_table_allows_exactly_the_children_twilios_builder_nests(tag: str) -> None:
    allowed = set(RULES[tag].children) - SSML_BEYOND_THE_BUILDER

    assert allowed == builder_table()[tag].children


@pytest.mark.parametrize("tag", [tag for tag in twiml_tags() if tag != "Response"])
def test_the_table_allows_exactly_the_attributes_twilios_builder_writes(tag: str) -> None:
    assert set(RULES[tag].attributes) == builder_table()[tag].attributes


def test_every_element_the_builder_nests_under_a_simulated_verb_has_a_rule() -> None:
    table = builder_table()
    reachable = {child for tag in VERBS for child in table[tag].children}

    assert reachable - set(RULES) == set()


def test_the_response_holds_every_verb_the_builder_offers_simulated_or_not() -> None:
    assert VERBS | OTHER_TWILIO_VERBS == builder_table()["Response"].children


def test_dial_accepts_application_sim_and_whatsapp() -> None:
    response = VoiceResponse()
    dial = Dial(action="/after")
    application = dial.application(url="/app", customer_id="c1")
    application.application_sid("AP123")
    application.parameter(name="lang", value="zh-CN")
    dial.sim("DE123")
    dial.whats_app("+8613800000001", status_callback="/wa")
    response.append(dial)

    assert problems(str(response)) == []


def test_hangup_and_reject_accept_parameters() -> None:
    hangup = VoiceResponse()
    hangup.hangup().parameter(name="reason", value="done")
    reject = VoiceResponse()
    reject.reject(reason="busy").parameter(name="reason", value="closed")

    assert problems(str(hangup)) == []
    assert problems(str(reject)) == []


def test_sip_accepts_headers_and_uris() -> None:
    response = VoiceResponse()
    sip = response.dial().sip()
    sip.headers().header(name="X-Case", value="42")
    sip.uri("sip:agent@example.test", priority=1, weight=2)

    assert problems(str(response)) == []


def test_a_prompt_or_queue_in_the_response_is_valid_twiml_the_simulator_does_not_run() -> None:
    assert [str(p) for p in problems("<Response><Prompt/><Queue>q</Queue></Response>")] == [
        "Response/Prompt[1]: <Prompt> is a Twilio verb the simulator does not run",
        "Response/Queue[2]: <Queue> is a Twilio verb the simulator does not run",
    ]
