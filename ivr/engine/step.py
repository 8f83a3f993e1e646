"""The engine: a flow compiled once into a python-statemachine class, and one step of a call.

Owns the meaning of caller input in each kind of state (which event a key, silence or a
recording is), the compiled machine's transitions (options, routes, the agent/repeat/back keys,
counted retries), running straight through ``say``/``route`` states, and the words spoken.
Returns ``reply.Reply`` values whose fixed words carry their prompt ids (``ivr.flow.prompts`` names
them), so ``render`` can play recordings; never imports Flask or twilio, never builds URLs.

Events of the compiled machine::

    answer            the incoming call (from the synthetic state ``_incoming``)
    key_1 … key_star  a menu option
    agent_key, repeat_key, back_key   the phone-menu conventions (flow ``keys``)
    entered           a complete entry;  recorded  a recording
    no_input/no_match silence / an invalid key: reprompt, or the agent after ``retry.attempts``
    next              leave a ``say`` or ``route`` state
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

from ivr.engine.compile import CompiledFlow
from ivr.engine.context import CallContext
from ivr.engine.context import Services
from ivr.engine.inputs import SPOKEN
from ivr.engine.inputs import CallerInput
from ivr.engine.reply import Hangup
from ivr.engine.reply import Listen
from ivr.engine.reply import RecordMessage
from ivr.engine.reply import Reply
from ivr.engine.reply import Restart
from ivr.engine.reply import Transfer
from ivr.engine.reply import Verb
from ivr.engine.session import CallSession
from ivr.flow import prompts
from ivr.flow.names import INCOMING
from ivr.flow.names import key_event
from ivr.flow.spec import Flow
from ivr.flow.spec import State
from ivr.flow.spec import Text
from ivr.masking import mask_digits
from ivr.masking import mask_keyed_number
from ivr.masking import mask_spoken
from ivr.voice import intents
from ivr.voice import reading as speech
from ivr.voice.languages import language
from ivr.voice.speech import Part
from ivr.voice.speech import Speech

log = logging.getLogger(__name__)

MAX_HOPS = 50  # say/route states run through in one step; more means a loop in the flow
# Speech: below this confidence a match is confirmed first; after this many misunderstandings
# in one menu, it takes keys only. (The recogniser's language is ``Language.recogniser``.)
MIN_CONFIDENCE = 0.5
SPEECH_ATTEMPTS = 2

Callback = Callable[..., Any]
_T = TypeVar("_T")


# -- running ------------------------------------------------------------------------------------


class Engine:
    """Steps calls through compiled flows. ``services`` are the wallet, clock and recorder."""

    def __init__(self, flows: Mapping[str, CompiledFlow], services: Services) -> None:
        self.flows = dict(flows)
        self.services = services
        # What depends on the flow alone (hints, a menu's option and key lines), made once per
        # flow object: a reloaded flow is a new object and starts a new table.
        self._fixed: dict[str, tuple[Flow, dict[tuple[str, ...], Any]]] = {}

    def _once(self, flow: Flow, key: tuple[str, ...], make: Callable[[], _T]) -> _T:
        """``make()`` for ``flow`` and ``key``, made the first time only. Two threads may both
        make it once; either result is the same value."""
        held = self._fixed.get(flow.name)
        if held is None or held[0] is not flow:
            held = (flow, {})
            self._fixed[flow.name] = held
        table = held[1]
        if key not in table:
            table[key] = make()
        value: _T = table[key]
        return value

    def start(
        self,
        call_sid: str,
        caller: str,
        flow_name: str,
        *,
        lang: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[CallSession, Reply]:
        """A new call: a fresh session whose machine takes the ``answer`` event. ``lang``
        and ``data`` start it with what is already known (a callback: the first call's
        language, account, issue, steps); a language the flow lacks is ignored."""
        compiled = self.flows[flow_name]
        now = self.services.clock.now()
        if lang not in compiled.flow.languages:
            lang = compiled.flow.default_language
        session = CallSession(
            call_sid=call_sid,
            flow=flow_name,
            state=INCOMING,
            lang=lang,
            data={**(data or {}), "caller": caller},
            created_at=now,
            updated_at=now,
        )
        self.services.recorder.start(
            call_sid,
            flow=flow_name,
            caller=caller,
            lang=session.lang,
            flow_version=compiled.version,
        )
        return session, self._advance(compiled, session, "answer", CallerInput(), [])

    def step(self, session: CallSession, answer: CallerInput) -> Reply:
        """Apply the caller's answer to the current state and say what comes next."""
        compiled = self.flows.get(session.flow)
        if compiled is None:
            # The whole flow is gone (a deploy renamed it): only a fresh start can go on.
            log.warning("call %s: flow %r no longer exists", session.call_sid, session.flow)
            return Reply((), Restart(), session.flow, session.state, session.seq)
        if session.state not in compiled.flow.states:
            return self._to_agent(compiled, session)
        flow = compiled.flow
        state = flow.states[session.state]
        if state.type == "transfer":
            return self._after_queue(compiled, session, state, answer)
        if answer.speech and state.type == "menu":
            heard = self._understand(compiled, state, session, answer)
            if isinstance(heard, Reply):
                return heard
            event, value = heard, None
        elif session.data.get("confirm"):
            event, value = self._confirmed(flow, state, session, answer), None
        else:
            event, value = classify(flow, state, answer)
        return self._advance(compiled, session, event, answer, [], value=value)

    def _after_queue(
        self, compiled: CompiledFlow, session: CallSession, state: State, answer: CallerInput
    ) -> Reply:
        """The agent queue (or the agent's phone) is done with the caller."""
        result = answer.queue_result or "failed"
        event = f"queue_{result}"
        if result == "hangup" or event not in {t.event for t in _transitions(compiled, state.id)}:
            # The caller hung up, or the flow says nothing more: end politely.
            session.seq += 1
            return Reply((), Hangup(), compiled.flow.name, state.id, session.seq, (state.id,))
        return self._advance(compiled, session, event, answer, [])

    # -- speech -----------------------------------------------------------------------------

    def _understand(
        self, compiled: CompiledFlow, state: State, session: CallSession, answer: CallerInput
    ) -> str | Reply:
        """What the caller's words mean in a menu: an event, or a confirmation question. What
        was said and what it was matched to go into the call record (``_note_input``)."""
        flow = compiled.flow
        utterance = answer.speech or ""
        lang = session.lang
        keys = flow.keys
        if not state.speech or session.data.get("speech_off", {}).get(state.id):
            return "no_match"
        pending = session.data.get("confirm")
        if pending:
            return self._confirmed(flow, state, session, answer)
        understanding = compiled.speech
        spoken = intents.spoken_key(utterance, lang)
        if spoken in {keys.agent, keys.repeat, keys.back}:
            return classify(flow, state, CallerInput(digits=spoken))[0]
        if state.speech == "yes_no":
            if understanding.agent_asked(utterance, lang):
                _heard(session, intents.Match(keys.agent, 1.0, 0.0, utterance), "route")
                return classify(flow, state, CallerInput(digits=keys.agent))[0]
            found = intents.yes_no(utterance, lang)
        else:
            found = understanding.menu(state, utterance, lang=lang)
        sure = answer.confidence is None or answer.confidence >= MIN_CONFIDENCE
        if found.key is not None and found.clear and sure:
            _heard(session, found, "route")
            if found.key == keys.agent:
                return classify(flow, state, CallerInput(digits=keys.agent))[0]
            return key_event(found.key)
        # An unsure agent request is confirmed with the flow's `spoken.agent_label`; a flow
        # without one asks it again.
        unnamed = found.key == keys.agent and not flow.spoken.agent_label.get(lang)
        if found.key is not None and not unnamed and flow.phrases.confirm is not None:
            said = mask_spoken(found.heard)
            session.data["confirm"] = {"state": state.id, "key": found.key, "said": said}
            self.services.recorder.events(
                session.call_sid,
                [(session.seq, state.id, "input", speech_detail("confirm", found, "confirm"))],
            )
            return self._ask_to_confirm(flow, state, session, found.key)
        _heard(session, found, "reprompt")
        return self._speech_failed(state, session)

    def _confirmed(
        self, flow: Flow, state: State, session: CallSession, answer: CallerInput
    ) -> str:
        """The answer to "Did you mean …?": the option's event, or a failure (a correction,
        noted in the call record)."""
        pending = session.data.pop("confirm", None) or {}
        if pending.get("state") != state.id:
            return classify(flow, state, answer)[0]
        key = str(pending.get("key"))
        if answer.digits:
            yes = answer.digits == "1"
        elif answer.speech:
            yes = intents.yes_no(answer.speech, session.lang).key == "1"
        else:
            return "no_input"
        if yes and key == flow.keys.agent:
            return classify(flow, state, CallerInput(digits=key))[0]
        if yes:
            return key_event(key)
        said = str(pending.get("said", ""))
        _heard(session, intents.Match(key, 0.0, 0.0, said), "corrected")
        return self._speech_failed(state, session)

    def _speech_failed(self, state: State, session: CallSession) -> str:
        """A misunderstanding counts as an invalid answer; the second one switches the menu
        to keys only."""
        failures = session.data.setdefault("speech_failures", {})
        failures[state.id] = int(failures.get(state.id, 0)) + 1
        if failures[state.id] >= SPEECH_ATTEMPTS:
            session.data.setdefault("speech_off", {})[state.id] = True
        return "no_match"

    def _ask_to_confirm(self, flow: Flow, state: State, session: CallSession, key: str) -> Reply:
        lang = session.lang
        if key == flow.keys.agent:
            label = flow.spoken.agent_label[lang]
        else:
            label = next(o for o in state.options if o.key == key).label[lang]
        confirm = flow.phrases.confirm
        assert confirm is not None
        question = prompts.fill(
            confirm[lang],
            lang,
            prompts.phrase_id(flow, "confirm"),
            lambda name: Part(label),
        )
        session.seq += 1
        session.updated_at = self.services.clock.now()
        listen = Listen(
            (question,),
            state.gather.timeout,
            state.gather.finish_on_key,
            1,
            language(lang).recogniser,
            self._once(
                flow,
                ("yes_no_hints", state.id, lang),
                lambda: intents.hints(_yes_no_choices(flow, state, lang)),
            ),
        )
        return Reply((), listen, flow.name, state.id, session.seq, (state.id,))

    def repeat(self, session: CallSession) -> Reply:
        """Continue the call where it is without applying anything (a stale or replayed step,
        a repeated incoming call): a question is asked again, a queued caller is queued again
        (keeping their place), a call at its end hangs up. A state the flow no longer has
        goes to an agent (``session`` moves there); a flow that is gone is a ``Restart``."""
        compiled = self.flows.get(session.flow)
        if compiled is None:
            return Reply((), Restart(), session.flow, session.state, session.seq)
        flow = compiled.flow
        state = flow.states.get(session.state)
        if state is None or state.type in {"say", "route"}:
            # say/route states are run through, never rested in: the flow changed under us
            return self._to_agent(compiled, session)
        call = CallContext(session, self.services, session.seq, flow=flow)
        if state.type == "hangup":
            return Reply((), Hangup(), session.flow, state.id, session.seq)
        return Reply(
            (), self._verb(flow, state, call, short=False), flow.name, state.id, session.seq
        )

    def _to_agent(self, compiled: CompiledFlow, session: CallSession) -> Reply:
        """A call at a state its flow no longer has (edited mid-call) goes on at the flow's
        agent state: the caller is queued, and the agent sees why."""
        flow = compiled.flow
        log.warning(
            "call %s: state %r no longer exists in flow %s; to an agent",
            session.call_sid,
            session.state,
            flow.name,
        )
        session.state = flow.agent_state
        session.data.pop("confirm", None)
        session.data["reason"] = "the flow changed during the call"
        call = CallContext(session, self.services, session.seq, flow=flow)
        said: list[Speech] = []
        self._entered(flow, call, flow.agent_state, said)
        verb = self._verb(flow, flow.states[flow.agent_state], call, short=False)
        session.seq += 1
        session.updated_at = self.services.clock.now()
        self.services.recorder.events(call.call_sid, call.events)
        return Reply(
            tuple(_merge(said)), verb, flow.name, flow.agent_state, session.seq, tuple(call.path)
        )

    def _advance(
        self,
        compiled: CompiledFlow,
        session: CallSession,
        event: str,
        answer: CallerInput,
        said: list[Speech],
        *,
        value: str | None = None,
    ) -> Reply:
        flow = compiled.flow
        call = CallContext(session, self.services, session.seq, flow=flow)
        machine, model = compiled.instance(session.state)
        before = session.state
        self._note_input(flow, call, before, event, answer, value)
        if event == "entered" and value is not None:
            state = flow.states[before]
            call.keep_entry(state.save_as or "value", value, secret=state.secret)
        if event == "recorded":
            session.data["recording_url"] = answer.recording_url
        try:
            machine.send(event, call=call)
        except BaseException:
            compiled.discard_instance()
            raise
        session.state = str(model.state)

        short = self._after_event(flow, call, before, event, said)

        hops = 0
        while (through := self._run_through(flow, call)) is not None:
            hops += 1
            if hops > MAX_HOPS:
                raise RuntimeError(
                    f"flow {flow.name}: more than {MAX_HOPS} say/route states in one step"
                )
            previous = session.state
            try:
                machine.send(through, call=call)
            except BaseException:
                compiled.discard_instance()
                raise
            session.state = str(model.state)
            if session.state == previous:
                raise RuntimeError(f"flow {flow.name}: no route out of {previous!r} was taken")
            self._entered(flow, call, session.state, said)

        state = flow.states[session.state]
        if state.id != before and event not in {"no_input", "no_match"}:
            short = False
        verb = self._verb(flow, state, call, short=short)
        session.seq += 1
        session.updated_at = self.services.clock.now()
        self.services.recorder.events(call.call_sid, call.events)
        path = tuple(call.path) or (state.id,)
        return Reply(tuple(_merge(said)), verb, flow.name, state.id, session.seq, path)

    def _run_through(self, flow: Flow, call: CallContext) -> str | None:
        """The event that moves a call on without waiting for the caller, if any: leaving a
        say or route state, or a transfer to a queue that is closed now."""
        state = flow.states[call.session.state]
        if state.type in {"say", "route"}:
            return "next"
        if state.type == "transfer" and "closed" in flow.queue_results:
            queue = self._queue_of(flow, state, call)
            if not flow.hours_of(queue).is_open(call.now):
                call.tried("line closed")
                return "queue_closed"
        return None

    def _queue_of(self, flow: Flow, state: State, call: CallContext) -> str:
        issue = flow.issues.get(call.issue or "")
        return state.queue or (issue.queue if issue else "general")

    def _after_event(
        self, flow: Flow, call: CallContext, before: str, event: str, said: list[Speech]
    ) -> bool:
        """Words for what the event did; True when the reprompt that follows should be short."""
        after = call.session.state
        failed = event in {"no_input", "no_match"}
        if after == before:
            if not failed:
                return False
            said.extend(self._retry_text(flow, call, flow.states[before], event))
            return call.count(f"retry:{before}") == 1  # tapered: the first reprompt is short
        if failed and after == flow.agent_state:
            said.extend(self._retry_text(flow, call, flow.states[before], event))
            said.extend(self._retry_text(flow, call, flow.states[before], "exhausted"))
        call.reset(f"retry:{before}")
        self._entered(flow, call, after, said)
        return False

    def _entered(self, flow: Flow, call: CallContext, state_id: str, said: list[Speech]) -> None:
        state = flow.states[state_id]
        call.path.append(state_id)
        call.note(state_id, "enter")
        if state.type in {"say", "transfer", "hangup"} and state.prompt is not None:
            said.extend(self._text(flow, call, state.prompt, prompts.state_prompt_id(flow, state)))
        if state.type == "say" and call.issue is not None:
            call.tried(state_id)

    def _note_input(
        self,
        flow: Flow,
        call: CallContext,
        state_id: str,
        event: str,
        answer: CallerInput,
        value: str | None,
    ) -> None:
        if event == "answer":
            return
        state = flow.states[state_id]
        shown = answer.digits or ""
        if state.secret and shown:
            shown = mask_digits(shown)
        elif answer.garbage:
            shown = "<invalid>"
        elif state.type == "entry" and event not in {"agent_key", "back_key"}:
            shown = mask_keyed_number(shown)  # a mobile number identifies the caller
        elif answer.recording_url:
            shown = f"recording {answer.recording_duration}s"
        elif answer.speech and not shown:
            shown = SPOKEN  # what was said is kept below only when it was matched (masked)
        heard = call.session.data.pop(HEARD, None)
        if heard is not None:
            call.note(
                state_id, "input", f"{event} {SPEECH} {json.dumps(heard, ensure_ascii=False)}"
            )
            return
        call.note(state_id, "input", f"{event} {shown}".strip())

    # -- words and verbs -----------------------------------------------------------------------

    def _text(
        self, flow: Flow, call: CallContext, text: Text, prompt: str, lang: str | None = None
    ) -> list[Speech]:
        """``text`` in ``lang`` (default: the caller's) with its values filled in; its fixed
        segments carry their prompt ids (``prompt``, or ``prompt.0``, ``prompt.1`` ...)."""
        lang = lang or call.lang
        fixed = _fixed_text(text[lang], lang, prompt)
        if fixed is not None:
            return [fixed]
        now = call.now

        def labels(group: str, key: str, lg: str) -> str:
            return flow.labels[group][key][lg]

        def value(name: str) -> Part:
            v = call.value(name)  # KeyError for a value not set
            words = speech.say_value(v, lang, now=now, labels=labels)
            return Part(words, digits=_digit_groups(v, lang))

        return [prompts.fill(text[lang], lang, prompt, value)]

    def _retry_text(self, flow: Flow, call: CallContext, state: State, event: str) -> list[Speech]:
        text: Text = getattr(flow.retry_for(state), event)
        return self._text(flow, call, text, prompts.retry_id(flow, state, event))

    def _menu_prompt(
        self, flow: Flow, state: State, call: CallContext, *, short: bool
    ) -> tuple[Speech, ...]:
        """What a menu says while it waits for a key, merged. A menu whose prompt names no
        value says the same on every visit in a language (full or short): made once."""
        if not self._once(flow, ("fixed_menu", state.id), lambda: _fixed_prompt(flow, state)):
            return tuple(_merge(self._menu(flow, state, call, short=short)))
        return self._once(
            flow,
            ("menu_prompt", state.id, call.lang, str(short)),
            lambda: tuple(_merge(self._menu(flow, state, call, short=short))),
        )

    def _menu(self, flow: Flow, state: State, call: CallContext, *, short: bool) -> list[Speech]:
        lang = call.lang
        out: list[Speech] = []
        if state.prompt is not None and not short:
            langs = flow.languages if state.bilingual else (lang,)
            prompt = prompts.state_prompt_id(flow, state)
            for lg in langs:
                out.extend(self._text(flow, call, state.prompt, prompt, lg))
        out.extend(
            self._once(flow, ("menu", state.id, lang), lambda: _menu_lines(flow, state, lang))
        )
        return out

    def _verb(self, flow: Flow, state: State, call: CallContext, *, short: bool) -> Verb:
        if state.type == "menu":
            prompt = self._menu_prompt(flow, state, call, short=short)
            if not state.speech or call.session.data.get("speech_off", {}).get(state.id):
                return Listen(prompt, state.gather.timeout, state.gather.finish_on_key, 1)
            lang = call.lang
            return Listen(
                prompt,
                state.gather.timeout,
                state.gather.finish_on_key,
                1,
                _language(lang).recogniser,
                self._once(flow, ("hints", state.id, lang), lambda: _menu_hints(flow, state, lang)),
            )
        if state.type == "entry":
            g = state.gather
            fixed = g.max_digits if g.min_digits == g.max_digits else None
            prompt = tuple(self._state_text(flow, call, state))
            return Listen(prompt, g.timeout, g.finish_on_key, fixed)
        if state.type == "record":
            spec = state.record
            assert spec is not None
            prompt = tuple(self._state_text(flow, call, state))
            return RecordMessage(
                prompt, spec.max_length, spec.finish_on_key, spec.timeout, spec.status_callback
            )
        if state.type == "transfer":
            return self._transfer(flow, state, call)
        self.services.recorder.finish(call.call_sid, outcome="self_served", reason=call.reason)
        return Hangup()

    def _transfer(self, flow: Flow, state: State, call: CallContext) -> Transfer:
        issue = flow.issues.get(call.issue or "")
        queue_id = self._queue_of(flow, state, call)
        queue = flow.queues[queue_id]
        reason = state.reason or call.reason or "caller needs an agent"
        account = None
        if call.account_id is not None:
            account = self.services.wallet.account(call.account_id)
        self.services.recorder.handoff(
            call.call_sid,
            queue=queue_id,
            priority=state.priority,
            account_id=call.account_id,
            caller_name=account.name_zh if account else None,
            verified=call.verified,
            issue=issue.label.get("en-US") if issue else None,
            steps_tried=list(call.steps),
            reason=reason,
        )
        self.services.recorder.finish(call.call_sid, outcome="agent", reason=reason, queue=queue_id)
        hold = self._text(flow, call, queue.hold, prompts.hold_id(flow, queue_id))
        return Transfer(queue_id, state.priority, tuple(hold), queue.dial)

    def _state_text(self, flow: Flow, call: CallContext, state: State) -> list[Speech]:
        if state.prompt is None:
            return []
        return self._text(flow, call, state.prompt, prompts.state_prompt_id(flow, state))


def classify(flow: Flow, state: State, answer: CallerInput) -> tuple[str, str | None]:
    """The event a caller's answer is in ``state``, and the entered value for an entry."""
    keys = flow.keys
    if state.type == "record":
        return ("recorded", None) if answer.recording_url else ("no_input", None)
    if answer.garbage:
        return "no_match", None
    digits = answer.digits
    if not digits:
        return "no_input", None
    if digits == keys.agent and (state.type == "menu" or state.gather.min_digits > 1):
        return "agent_key", None
    if digits == keys.back and state.back is not None:
        return "back_key", None
    if state.type == "menu":
        if digits == keys.repeat:
            return "repeat_key", None
        if any(o.key == digits for o in state.options):
            return key_event(digits), None
        return "no_match", None
    value = digits.rstrip(state.gather.finish_on_key) if state.gather.finish_on_key else digits
    g = state.gather
    if value.isdigit() and g.min_digits <= len(value) <= g.max_digits:
        return "entered", value
    return "no_match", None


def _merge(parts: Iterable[Speech]) -> list[Speech]:
    """Join neighbouring speech in the same language into one, so one <Say> speaks what has no
    current recording; the prompt ids of the pieces are kept."""
    out: list[Speech] = []
    for part in parts:
        if out and out[-1].lang == part.lang:
            sep = _language(part.lang).joiner
            last = out[-1]
            glue = (Part(sep),) if sep else ()
            out[-1] = Speech(
                f"{last.text}{sep}{part.text}", part.lang, last.pieces() + glue + part.pieces()
            )
        else:
            out.append(part)
    return out


# The language a code names, looked up once per code: asked for every merged piece of every
# reply, and ``language`` searches every language's names. (An unknown code raises each time.)
_language = functools.cache(language)


@functools.lru_cache(maxsize=4096)
def _fixed_text(template: str, lang: str, prompt: str) -> Speech | None:
    """``template`` as speech when it names no value (the same on every step), else None.
    Keyed by the strings alone, so an edited flow's new texts are simply new entries."""
    if speech.placeholders(template):
        return None
    return prompts.fill(template, lang, prompt, _NO_VALUES.__getitem__)


_NO_VALUES: dict[str, Part] = {}


def _fixed_prompt(flow: Flow, state: State) -> bool:
    """Whether a state's prompt names no value in any of the flow's languages."""
    if state.prompt is None:
        return True
    return not any(speech.placeholders(template) for template in state.prompt.values())


def _digit_groups(value: object, lang: str) -> tuple[str, ...]:
    """How a value read digit by digit splits into groups (SSML ``say-as`` digits), else ()."""
    if isinstance(value, speech.DigitString):
        return (" ".join(value.digits),)
    if isinstance(value, speech.PhoneNumber):
        return tuple(" ".join(group) for group in value.groups())
    return ()


def _transitions(compiled: CompiledFlow, state_id: str) -> list[Any]:
    return list(compiled.machine.states_map[state_id].transitions)


HEARD = "heard"  # session data: what was said in this step and what it was matched to
SPEECH = "speech"  # marks an input event's detail as speech: "<event> speech {json}"


def speech_detail(event: str, found: intents.Match, outcome: str) -> str:
    """An input event's detail for speech: the event, then what was said (numbers masked)
    and what it was matched to, as JSON (``ivr intents review`` reads it)."""
    return f"{event} {SPEECH} {json.dumps(_heard_value(found, outcome), ensure_ascii=False)}"


def _heard_value(found: intents.Match, outcome: str) -> dict[str, Any]:
    return {
        "said": mask_spoken(found.heard),
        "key": found.key,
        "score": found.score,
        "outcome": outcome,
    }


def _heard(session: CallSession, found: intents.Match, outcome: str) -> None:
    session.data[HEARD] = _heard_value(found, outcome)


def _choices(state: State, lang: str) -> tuple[intents.Choice, ...]:
    """A menu's options as the speech matcher sees them in ``lang``."""
    return tuple(
        intents.Choice(o.key, (o.label[lang],), o.synonyms.get(lang, ())) for o in state.options
    )


def _menu_lines(flow: Flow, state: State, lang: str) -> tuple[Speech, ...]:
    """A menu's option lines, then its convention keys (in every language for a bilingual
    menu, the greeting): the same on every visit in ``lang``."""
    out = [
        prompts.option_line(flow, state, option, option.lang or lang) for option in state.options
    ]
    for lg in flow.languages if state.bilingual else (lang,):
        out.append(prompts.key_line(flow, "agent", lg))
        if state.back is not None:
            out.append(prompts.key_line(flow, "back", lg))
        out.append(prompts.key_line(flow, "repeat", lg))
    return tuple(out)


def _menu_hints(flow: Flow, state: State, lang: str) -> str:
    """The speech ``hints`` of a menu in ``lang``: its options, or yes and no."""
    choices = _choices(state, lang) if state.speech == "options" else ()
    return intents.hints(choices or _yes_no_choices(flow, state, lang))


def _yes_no_choices(flow: Flow, state: State, lang: str) -> tuple[intents.Choice, ...]:
    """Hints for a yes/no question: its option labels and the flow's yes and no words."""
    words = flow.hints.yes_no.get(lang, ())
    return (*_choices(state, lang), intents.Choice("", (), words))
