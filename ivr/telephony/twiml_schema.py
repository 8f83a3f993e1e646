"""What voice TwiML Twilio accepts: verbs, their attributes, their children, cheap value checks.

Owns the strict table the simulator checks every document against, and ``check_document``,
which walks a parsed document and reports each element Twilio would refuse. It knows nothing
about executing TwiML, HTTP or the call: it must not import anything from ``ivr`` and must
not touch the network. Parsing bytes into elements is the simulator's job.

Attribute lists and children follow Twilio's TwiML reference and the generated
``twilio.twiml`` builder, made from the same specification; ``tests/test_twiml_schema.py``
compares this table with the builder (``tests/builder_table.py``) and fails when they drift.
This module cannot read the builder itself: only ``ivr.telephony.render`` imports
``twilio.twiml``. Deliberate differences: SSML follows Amazon Polly (``amazon:effect`` and
``amazon:domain``, which the builder lacks), and ``<Sip>`` may hold its URI as text or as
``<Uri>``. Value checks are the cheap ones: integers, booleans, ``GET``/``POST``,
enumerations, keys. Namespace declarations (``xmlns``, ``xmlns:*``) are
allowed on every element.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Literal
from xml.etree.ElementTree import Element

#: A value check: ``None`` when the value is fine, else what is wrong with it.
ValueCheck = Callable[[str], str | None]

DTMF_KEYS = "0123456789*#"


def any_value(value: str) -> str | None:
    return None


def url(value: str) -> str | None:
    return None if value.strip() else "must be a URL, not empty"


def method(value: str) -> str | None:
    return None if value in ("GET", "POST") else "must be GET or POST"


def boolean(value: str) -> str | None:
    return None if value in ("true", "false") else "must be true or false"


def positive_int(value: str) -> str | None:
    return None if value.isdigit() and int(value) > 0 else "must be a positive integer"


def non_negative_int(value: str) -> str | None:
    return None if value.isdigit() else "must be a whole number of seconds (0 or more)"


def speech_timeout(value: str) -> str | None:
    return None if value == "auto" or value.isdigit() else 'must be a whole number or "auto"'


def input_modes(value: str) -> str | None:
    modes = value.split()
    if modes and set(modes) <= {"dtmf", "speech"} and len(set(modes)) == len(modes):
        return None
    return 'must be "dtmf", "speech" or "dtmf speech"'


def one_key(value: str) -> str | None:
    """Gather's finishOnKey: one key or the empty string (collect until the timeout)."""
    if value == "" or (len(value) == 1 and value in DTMF_KEYS):
        return None
    return "must be one of 0-9, *, # or empty"


def key_set(value: str) -> str | None:
    """Record's finishOnKey: any set of keys."""
    return None if all(key in DTMF_KEYS for key in value) else "may only hold 0-9, * and #"


def one_of(*values: str) -> ValueCheck:
    allowed = ", ".join(values)

    def check(value: str) -> str | None:
        return None if value in values else f"must be one of: {allowed}"

    return check


@dataclass(frozen=True)
class ElementRule:
    """What one element may carry: attributes (each with its value check), children, text."""

    attributes: Mapping[str, ValueCheck]
    children: frozenset[str] = frozenset()
    text: Literal["none", "optional", "required"] = "none"
    #: A whole-element check for rules a table cannot say (e.g. ``<Play>`` needs a URL or digits).
    check: Callable[[Element], str | None] | None = field(default=None, compare=False)


def _attrs(checks: Mapping[str, ValueCheck], *free: str) -> dict[str, ValueCheck]:
    table = dict(checks)
    table.update(dict.fromkeys(free, any_value))
    return table


def _needs_url_or_digits(element: Element) -> str | None:
    if (element.text or "").strip() or element.get("digits"):
        return None
    return "needs a URL to play (or a digits attribute)"


def _needs_queue_name(element: Element) -> str | None:
    if (element.text or "").strip() or element.get("workflowSid"):
        return None
    return "needs a queue name"


def _needs_something_to_dial(element: Element) -> str | None:
    if (element.text or "").strip() or len(element):
        return None
    return "needs a number or a noun (Number, Client, Queue, Sip, Conference) to dial"


SSML_ELEMENTS = frozenset(
    {
        "say-as",
        "break",
        "prosody",
        "emphasis",
        "lang",
        "p",
        "s",
        "phoneme",
        "sub",
        "w",
        "amazon:effect",
        "amazon:domain",
    }
)

#: Verbs Twilio runs in a ``<Response>`` that this table describes in full.
VERBS = frozenset(
    {
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Redirect",
        "Hangup",
        "Reject",
        "Enqueue",
        "Leave",
        "Dial",
        "Record",
    }
)

#: What else twilio's builder lets a ``<Response>`` hold: valid TwiML, but not simulated
#: (``<Prompt>`` belongs in ``<Pay>``; a bare ``<Queue>`` is accepted by the builder too).
OTHER_TWILIO_VERBS = frozenset(
    {"Connect", "Echo", "Pay", "Prompt", "Queue", "Refer", "Sms", "Start", "Stop"}
)

#: The only verbs Twilio runs in an ``<Enqueue waitUrl>`` document.
WAIT_URL_VERBS = frozenset({"Play", "Say", "Pause", "Gather", "Redirect", "Leave", "Hangup"})

_CALLBACK = {"statusCallback": url, "statusCallbackMethod": method}
_AMD = (
    "machineDetection",
    "amdStatusCallback",
    "amdStatusCallbackMethod",
    "machineDetectionTimeout",
    "machineDetectionSpeechThreshold",
    "machineDetectionSpeechEndThreshold",
    "machineDetectionSilenceTimeout",
)

RULES: Mapping[str, ElementRule] = {
    "Response": ElementRule(attributes={}, children=VERBS | OTHER_TWILIO_VERBS),
    "Say": ElementRule(
        attributes=_attrs({"loop": non_negative_int}, "voice", "language"),
        children=SSML_ELEMENTS,
        text="optional",
    ),
    "Play": ElementRule(
        attributes=_attrs({"loop": non_negative_int}, "digits"),
        text="optional",
        check=_needs_url_or_digits,
    ),
    "Pause": ElementRule(attributes={"length": non_negative_int}),
    "Gather": ElementRule(
        attributes=_attrs(
            {
                "input": input_modes,
                "action": url,
                "method": method,
                "timeout": non_negative_int,
                "speechTimeout": speech_timeout,
                "maxSpeechTime": positive_int,
                "profanityFilter": boolean,
                "finishOnKey": one_key,
                "numDigits": positive_int,
                "partialResultCallback": url,
                "partialResultCallbackMethod": method,
                "bargeIn": boolean,
                "debug": boolean,
                "actionOnEmptyResult": boolean,
                "enhanced": boolean,
            },
            "language",
            "hints",
            "speechModel",
        ),
        children=frozenset({"Say", "Play", "Pause"}),
    ),
    "Redirect": ElementRule(attributes={"method": method}, text="required"),
    "Hangup": ElementRule(attributes={}, children=frozenset({"Parameter"})),
    "Reject": ElementRule(
        attributes={"reason": one_of("rejected", "busy")}, children=frozenset({"Parameter"})
    ),
    "Enqueue": ElementRule(
        attributes=_attrs(
            {
                "action": url,
                "method": method,
                "waitUrl": url,
                "waitUrlMethod": method,
                "maxQueueSize": positive_int,
            },
            "workflowSid",
        ),
        children=frozenset({"Task"}),
        text="optional",
        check=_needs_queue_name,
    ),
    "Task": ElementRule(
        attributes={"priority": non_negative_int, "timeout": positive_int}, text="required"
    ),
    "Leave": ElementRule(attributes={}),
    "Dial": ElementRule(
        attributes=_attrs(
            {
                "action": url,
                "method": method,
                "timeout": positive_int,
                "hangupOnStar": boolean,
                "timeLimit": positive_int,
                "trim": one_of("trim-silence", "do-not-trim"),
                "recordingStatusCallback": url,
                "recordingStatusCallbackMethod": method,
                "answerOnBridge": boolean,
                "sequential": boolean,
                "referUrl": url,
                "referMethod": method,
            },
            "callerId",
            "record",
            "recordingConfigurationId",
            "recordingStatusCallbackEvent",
            "ringTone",
            "recordingTrack",
            "events",
            "passports",
        ),
        children=frozenset(
            {"Application", "Client", "Conference", "Number", "Queue", "Sim", "Sip", "WhatsApp"}
        ),
        text="optional",
        check=_needs_something_to_dial,
    ),
    "Application": ElementRule(
        attributes=_attrs(
            {"url": url, "method": method, **_CALLBACK},
            "statusCallbackEvent",
            "customerId",
            "copyParentTo",
        ),
        children=frozenset({"ApplicationSid", "Parameter"}),
        text="optional",
    ),
    "ApplicationSid": ElementRule(attributes={}, text="required"),
    "Sim": ElementRule(attributes={}, text="required"),
    "WhatsApp": ElementRule(
        attributes=_attrs({"url": url, "method": method, **_CALLBACK}, "statusCallbackEvent"),
        text="required",
    ),
    "Number": ElementRule(
        attributes=_attrs(
            {"url": url, "method": method, **_CALLBACK},
            "sendDigits",
            "statusCallbackEvent",
            "byoc",
            *_AMD,
        ),
        text="required",
    ),
    "Client": ElementRule(
        attributes=_attrs({"url": url, "method": method, **_CALLBACK}, "statusCallbackEvent"),
        children=frozenset({"Identity", "Parameter"}),
        text="optional",
    ),
    "Identity": ElementRule(attributes={}, text="required"),
    "Parameter": ElementRule(attributes=_attrs({}, "name", "value")),
    "Queue": ElementRule(
        attributes=_attrs({"url": url, "method": method}, "reservationSid", "postWorkActivitySid"),
        text="required",
    ),
    "Sip": ElementRule(
        attributes=_attrs(
            {"url": url, "method": method, **_CALLBACK},
            "username",
            "password",
            "statusCallbackEvent",
            *_AMD,
        ),
        children=frozenset({"Headers", "Uri"}),
        text="optional",
    ),
    "Headers": ElementRule(attributes={}, children=frozenset({"Header"})),
    "Header": ElementRule(attributes=_attrs({}, "name", "value")),
    "Uri": ElementRule(
        attributes=_attrs(
            {"priority": non_negative_int, "weight": positive_int}, "username", "password"
        ),
        text="required",
    ),
    "Conference": ElementRule(
        attributes=_attrs(
            {
                "muted": boolean,
                "startConferenceOnEnter": boolean,
                "endConferenceOnExit": boolean,
                "waitUrl": url,
                "waitMethod": method,
                "maxParticipants": positive_int,
                "trim": one_of("trim-silence", "do-not-trim"),
                "recordingStatusCallback": url,
                "recordingStatusCallbackMethod": method,
                "eventCallbackUrl": url,
                **_CALLBACK,
            },
            "beep",
            "record",
            "region",
            "coach",
            "statusCallbackEvent",
            "recordingStatusCallbackEvent",
            "recordingConfigurationId",
            "jitterBufferSize",
            "participantLabel",
        ),
        text="required",
    ),
    "Record": ElementRule(
        attributes=_attrs(
            {
                "action": url,
                "method": method,
                "timeout": non_negative_int,
                "finishOnKey": key_set,
                "maxLength": positive_int,
                "playBeep": boolean,
                "trim": one_of("trim-silence", "do-not-trim"),
                "recordingStatusCallback": url,
                "recordingStatusCallbackMethod": method,
                "transcribe": boolean,
                "transcribeCallback": url,
            },
            "recordingStatusCallbackEvent",
            "recordingConfigurationId",
        ),
    ),
    # SSML inside <Say>: each may hold text and further SSML, except <break>.
    "break": ElementRule(
        attributes=_attrs(
            {"strength": one_of("none", "x-weak", "weak", "medium", "strong", "x-strong")},
            "time",
        )
    ),
    "say-as": ElementRule(attributes=_attrs({}, "interpret-as", "format", "role"), text="optional"),
    "prosody": ElementRule(
        attributes=_attrs({}, "volume", "rate", "pitch"),
        children=SSML_ELEMENTS,
        text="optional",
    ),
    "emphasis": ElementRule(
        attributes={"level": one_of("strong", "moderate", "reduced")},
        children=SSML_ELEMENTS,
        text="optional",
    ),
    "lang": ElementRule(attributes=_attrs({}, "xml:lang"), children=SSML_ELEMENTS, text="optional"),
    "p": ElementRule(attributes={}, children=SSML_ELEMENTS, text="optional"),
    "s": ElementRule(attributes={}, children=SSML_ELEMENTS, text="optional"),
    "phoneme": ElementRule(attributes=_attrs({}, "alphabet", "ph"), text="optional"),
    "sub": ElementRule(attributes=_attrs({}, "alias"), text="optional"),
    "w": ElementRule(attributes=_attrs({}, "role"), children=SSML_ELEMENTS, text="optional"),
    "amazon:effect": ElementRule(
        attributes=_attrs({}, "name", "vocal-tract-length", "phonation"),
        children=SSML_ELEMENTS,
        text="optional",
    ),
    "amazon:domain": ElementRule(
        attributes=_attrs({}, "name"), children=SSML_ELEMENTS, text="optional"
    ),
}


@dataclass(frozen=True)
class SchemaProblem:
    """One element Twilio would refuse: its tag, where it is, and why."""

    element: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check_document(root: Element, *, wait_url: bool = False) -> list[SchemaProblem]:
    """Every problem in a parsed TwiML document, in document order (empty when it is valid).

    ``wait_url`` checks it as an ``<Enqueue waitUrl>`` document, which allows fewer verbs.
    """
    if root.tag != "Response":
        return [SchemaProblem(root.tag, root.tag, "the root element must be <Response>")]
    problems: list[SchemaProblem] = []
    _check(root, "Response", problems)
    if wait_url:
        for index, verb in enumerate(root, start=1):
            if verb.tag in RULES and verb.tag not in WAIT_URL_VERBS:
                allowed = ", ".join(sorted(WAIT_URL_VERBS))
                problems.append(
                    SchemaProblem(
                        verb.tag,
                        f"Response/{verb.tag}[{index}]",
                        f"<{verb.tag}> is not allowed in a waitUrl document; allowed: {allowed}",
                    )
                )
    return problems


def _check(element: Element, path: str, problems: list[SchemaProblem]) -> None:
    rule = RULES[element.tag]
    tag = element.tag
    for name, value in element.attrib.items():
        if name == "xmlns" or name.startswith("xmlns:"):
            continue
        value_check = rule.attributes.get(name)
        if value_check is None:
            allowed = ", ".join(sorted(rule.attributes)) or "none"
            problems.append(
                SchemaProblem(tag, path, f"unknown attribute {name!r}; allowed: {allowed}")
            )
            continue
        wrong = value_check(value)
        if wrong:
            problems.append(SchemaProblem(tag, path, f"{name}={value!r} {wrong}"))
    own_text = (element.text or "").strip()
    if rule.text == "none" and (own_text or any((c.tail or "").strip() for c in element)):
        problems.append(SchemaProblem(tag, path, f"text is not allowed inside <{tag}>"))
    if rule.text == "required" and not own_text:
        problems.append(SchemaProblem(tag, path, f"<{tag}> needs text content"))
    if rule.check is not None:
        wrong = rule.check(element)
        if wrong:
            problems.append(SchemaProblem(tag, path, f"<{tag}> {wrong}"))
    for index, child in enumerate(element, start=1):
        child_path = f"{path}/{child.tag}[{index}]"
        if child.tag in OTHER_TWILIO_VERBS and tag == "Response":
            problems.append(
                SchemaProblem(
                    child.tag,
                    child_path,
                    f"<{child.tag}> is a Twilio verb the simulator does not run",
                )
            )
        elif child.tag not in rule.children:
            allowed = ", ".join(sorted(rule.children)) or "no elements"
            known = "" if child.tag in RULES else "unknown element; "
            problems.append(
                SchemaProblem(
                    child.tag,
                    child_path,
                    f"{known}<{tag}> may not contain <{child.tag}>; allowed: {allowed}",
                )
            )
        else:
            _check(child, child_path, problems)
