"""Cross-reference checks on a parsed flow: everything ``loader`` cannot see key by key.

Owns the rules that make a flow safe to run: targets exist, every state is reachable and can
reach an end, every text exists in every language, no two options share a key, actions and
guards are registered with the right arguments, templates only use values some action provides,
the messages actions send are written, and a flow that answers calls has the lines said outside
its states (``answering_problems``). Collects every problem, each naming the file and key path.
Depends on ``spec``, ``voice.reading`` (template parsing) and the registry's description of
actions; never runs a call.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass

from ivr.errors import Problem
from ivr.flow.names import reserved_name
from ivr.flow.prompts import option_text
from ivr.flow.spec import ANSWERING_PHRASES
from ivr.flow.spec import Call
from ivr.flow.spec import Flow
from ivr.flow.spec import Option
from ivr.flow.spec import State
from ivr.flow.spec import Text
from ivr.phones import is_e164
from ivr.voice import reading as speech
from ivr.voice.languages import CODES
from ivr.voice.languages import language


@dataclass(frozen=True)
class Signature:
    """What validation needs to know of a registered action or guard."""

    name: str
    kind: str  # "action" or "guard"
    arg: str  # "none", "required" or "optional"
    provides: frozenset[str] = frozenset()  # an action: the values it always sets
    sends: frozenset[str] = frozenset()  # the flow messages (``messages.<name>``) it sends
    ensures: frozenset[str] = frozenset()  # a guard: the values that are set when it holds


# Values every prompt may use, filled by the engine itself rather than by an action (none:
# an entry's ``save_as`` is set on the way out of the entry, and counted there).
ENGINE_VALUES: frozenset[str] = frozenset()

# English option labels that do not read after "For" in "For {label}, press 1.": a bare
# adjective, an interjection or a verb ("For correct", "For yes", "For to enter it again").
# Such an option says its own ``line``.
_BARE_LABEL_WORDS = frozenset(
    {
        "correct", "incorrect", "right", "wrong", "yes", "no", "ok", "okay", "sure", "true",
        "false", "good", "bad", "fine", "satisfied", "dissatisfied", "unsatisfied", "neutral",
        "happy", "unhappy", "done", "ready", "finished", "to", "please", "confirm", "cancel",
    }
)  # fmt: skip
_LABEL_MODIFIERS = frozenset({"very", "not", "quite", "really", "somewhat", "extremely"})


def validate(flow: Flow, registry: Mapping[str, Signature]) -> list[Problem]:
    """Every problem with ``flow``, in file order as far as possible."""
    checker = _Checker(flow, registry)
    checker.run()
    return checker.problems


def answering_problems(flow: Flow) -> list[Problem]:
    """What ``flow`` lacks to answer calls: the apology, the restart and the connecting line
    (``phrases``), said when the flow itself cannot be used, so they must exist before the
    first call. Their wording is checked by ``validate`` wherever they are written."""
    return [
        Problem(
            flow.file,
            f"phrases.{name}",
            f"missing: the flow that answers calls says it {_ANSWERING_WHEN[name]}",
        )
        for name in ANSWERING_PHRASES
        if getattr(flow.phrases, name) is None
    ]


_ANSWERING_WHEN = {
    "apology": "when anything goes wrong, before putting the caller through to an agent",
    "restart": "when it has lost track of a call, before starting over",
    "connecting": "to a caller as an agent takes them",
}


class _Checker:
    def __init__(self, flow: Flow, registry: Mapping[str, Signature]) -> None:
        self.flow = flow
        self.registry = registry
        self.problems: list[Problem] = []
        self.provided = (
            ENGINE_VALUES
            | frozenset(value for sig in registry.values() for value in sig.provides)
            | frozenset(value for sig in registry.values() for value in sig.ensures)
            | frozenset(s.save_as for s in flow.states.values() if s.save_as and not s.secret)
        )

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.flow.file, path, message, self.flow.lines.line_of(path)))

    def run(self) -> None:
        flow = self.flow
        if flow.start not in flow.states:
            self.problem("start", f"unknown state {flow.start!r}{self._suggest(flow.start)}")
        agent = flow.states.get(flow.agent_state)
        if agent is None:
            self.problem(
                "agent_state",
                f"the flow needs a transfer state named {flow.agent_state!r}: "
                "0 and repeated failures lead there",
            )
        elif agent.type != "transfer":
            self.problem(f"states.{agent.id}.type", "the agent state must be of type transfer")
        self._check_keys()
        self._check_texts()
        self._check_issues_and_queues()
        for state in flow.states.values():
            self._check_name(state)
            if _reserved(state.id):
                self.problem(
                    state.path,
                    f"the state name {state.id!r} is reserved for the engine's events; rename it",
                )
            self._check_state(state)
        self._check_graph()

    def _check_keys(self) -> None:
        # The engine tells these apart by the key alone: two on one key make one unreachable.
        keys = self.flow.keys
        seen: dict[str, str] = {}
        for name in ("agent", "repeat", "back"):
            key = getattr(keys, name)
            if key in seen:
                self.problem(f"keys.{name}", f"key {key!r} is already used for {seen[key]}")
            seen.setdefault(key, name)

    def _check_name(self, state: State) -> None:
        # State names become names in the compiled state machine, which fails on others.
        if not state.id.isidentifier():
            self.problem(
                state.path,
                f"bad state name {state.id!r}: use letters, digits and _, "
                "not starting with a digit (like main_menu)",
            )

    # -- texts -------------------------------------------------------------------------------

    def _text(
        self,
        text: Text | None,
        path: str,
        *,
        required: bool = True,
        plain: bool = False,
        used: str = "spoken",
    ) -> None:
        """``plain`` texts (labels, hold messages) are ``used`` as written: no placeholders."""
        if text is None:
            if required:
                self.problem(path, "missing")
            return
        for lang in self.flow.languages:
            if not text.get(lang, "").strip():
                self.problem(path, f"no text in {lang}")
        for lang, words in text.items():
            if plain:
                if "{" in words or "}" in words:
                    self.problem(
                        f"{path}.{lang}",
                        f"is {used} as written: {{placeholders}} are not filled here",
                    )
                continue
            try:
                names = speech.placeholders(words)
            except ValueError as exc:
                self.problem(f"{path}.{lang}", str(exc))
                continue
            for name in sorted(names - self.provided):
                self.problem(f"{path}.{lang}", f"unknown value {{{name}}}: no action provides it")

    def _check_texts(self) -> None:
        flow = self.flow
        for name in ("no_input", "no_match", "exhausted"):
            self._text(getattr(flow.retry, name), f"retry.{name}")
        for name in ("option", "agent", "repeat", "back"):
            self._check_phrase(getattr(flow.phrases, name), f"phrases.{name}")
        for name in ANSWERING_PHRASES:
            # Said where no call's values are at hand (an apology needs nothing to work).
            self._text(getattr(flow.phrases, name), f"phrases.{name}", required=False, plain=True)
        for lang in self.flow.languages if flow.hints.yes_no else ():
            if not flow.hints.yes_no.get(lang):
                self.problem("hints.yes_no", f"no words in {lang}")
        for group, entries in flow.labels.items():
            for key, text in entries.items():
                self._text(text, f"labels.{group}.{key}", plain=True)
        for name, text in flow.messages.items():
            self._text(text, f"messages.{name}", plain=True, used="sent")
        if flow.spoken.agent_label:
            self._text(flow.spoken.agent_label, "spoken.agent_label", plain=True)

    def _check_phrase(
        self,
        text: Text,
        path: str,
        allowed: set[str] | None = None,
        langs: tuple[str, ...] | None = None,
    ) -> None:
        for lang in self.flow.languages if langs is None else langs:
            words = text.get(lang, "")
            if not words.strip():
                self.problem(path, f"no text in {lang}")
                continue
            try:
                names = speech.placeholders(words)
            except ValueError as exc:
                self.problem(f"{path}.{lang}", str(exc))
                continue
            if allowed is None:
                allowed = {"key", "label"} if path.endswith(".option") else {"key"}
            for name in sorted(names - allowed):
                self.problem(
                    f"{path}.{lang}",
                    f"unknown value {{{name}}}; allowed: {', '.join(sorted(allowed))}",
                )

    def _check_issues_and_queues(self) -> None:
        for issue in self.flow.issues.values():
            self._text(issue.label, f"issues.{issue.id}.label", plain=True)
            if issue.queue not in self.flow.queues:
                self.problem(
                    f"issues.{issue.id}.queue",
                    f"unknown queue {issue.queue!r}{self._known(self.flow.queues)}",
                )
        for queue in self.flow.queues.values():
            self._text(queue.hold, f"queues.{queue.id}.hold", plain=True)
            if queue.dial is not None and not is_e164(queue.dial):
                self.problem(
                    f"queues.{queue.id}.dial",
                    f"{queue.dial!r} is not a phone number in E.164 form (+8613800000000)",
                )
        waiting = self.flow.waiting
        if waiting is not None:
            self._check_phrase(waiting.position, "waiting.position", {"position", "minutes"})
            self._check_phrase(waiting.offer_callback, "waiting.offer_callback", set())
        if self.flow.phrases.confirm is not None:
            self._check_phrase(self.flow.phrases.confirm, "phrases.confirm", {"label"})
        for result, target in self.flow.queue_results.items():
            if target not in self.flow.states:
                self.problem(
                    f"queue_results.{result}", f"unknown state {target!r}{self._suggest(target)}"
                )

    # -- states --------------------------------------------------------------------------------

    def _check_state(self, state: State) -> None:
        path = state.path
        needs_prompt = state.type in {"menu", "entry", "say", "record", "hangup"}
        self._text(state.prompt, f"{path}.prompt", required=needs_prompt)
        for call in state.do:
            self._check_call(call, "action")
        for target, where in self._targets(state):
            if target not in self.flow.states:
                self.problem(where, f"unknown state {target!r}{self._suggest(target)}")
        for route in state.next:
            if route.when is not None:
                self._check_call(route.when, "guard")
            for call in route.do:
                self._check_call(call, "action")
        if state.on_no_input is not None:
            if state.on_no_input.when is not None:
                # It replaces the counted reprompt: a guard that fails would leave silence unheard.
                self.problem(
                    f"{state.on_no_input.path}.when",
                    "on_no_input always applies: it cannot have a 'when'",
                )
            for call in state.on_no_input.do:
                self._check_call(call, "action")
        if state.retry is not None:
            for name in ("no_input", "no_match", "exhausted"):
                self._text(getattr(state.retry, name), f"{path}.retry.{name}")
        self._check_shape(state)

    def _check_shape(self, state: State) -> None:
        path = state.path
        if state.type == "menu":
            self._check_options(state)
        if state.type in {"entry", "say", "route", "record"}:
            if not state.next:
                self.problem(f"{path}.next", "missing: this state has no way out (a dead end)")
            elif state.next[-1].when is not None:
                self.problem(
                    f"{state.next[-1].path}.when",
                    "the last route must have no 'when', so that the call always goes somewhere",
                )
        if state.type == "entry" and not state.save_as:
            self.problem(f"{path}.save_as", "missing: name the value the caller keys in")
        if state.type == "transfer":
            if state.queue is not None and state.queue not in self.flow.queues:
                self.problem(
                    f"{path}.queue", f"unknown queue {state.queue!r}{self._known(self.flow.queues)}"
                )
            if state.queue is None and "general" not in self.flow.queues:
                self.problem(
                    f"{path}.queue",
                    "missing: without a queue the issue's queue is used, "
                    "falling back to a queue named 'general', which is not defined",
                )

    def _check_options(self, state: State) -> None:
        keys = self.flow.keys
        if state.speech == "yes_no" and not {"1", "2"} <= {o.key for o in state.options}:
            self.problem(
                f"{state.path}.speech",
                "a yes/no question needs option 1 (yes) and option 2 (no)",
            )
        # Twilio ends the gather on its finish key and never sends it: "#" alone is silence.
        reserved = {state.gather.finish_on_key: "ending the input (Twilio never sends it)"}
        reserved.update({keys.agent: "reaching an agent", keys.repeat: "repeating the menu"})
        if state.back:
            reserved[keys.back] = "going back"
        if not state.options:
            self.problem(f"{state.path}.options", "missing: a menu needs at least one option")
        seen: dict[str, str] = {}
        for option in state.options:
            if option.key in seen:
                self.problem(
                    f"{option.path}.key",
                    f"key {option.key!r} is already used by {seen[option.key]}",
                )
            elif option.key in reserved:
                self.problem(
                    f"{option.path}.key",
                    f"key {option.key!r} is reserved for {reserved[option.key]}",
                )
            seen.setdefault(option.key, option.path)
            self._text(option.label, f"{option.path}.label", plain=True)
            if option.issue is not None and option.issue not in self.flow.issues:
                self.problem(
                    f"{option.path}.issue",
                    f"unknown issue {option.issue!r}{self._known(self.flow.issues)}",
                )
            if option.lang is not None and option.lang not in self.flow.languages:
                self.problem(
                    f"{option.path}.lang",
                    f"unknown language {option.lang!r}; allowed: {', '.join(self.flow.languages)}",
                )
            for call in option.do:
                self._check_call(call, "action")
            self._check_option_line(state, option)

    def _check_option_line(self, state: State, option: Option) -> None:
        """An option's own line may use only ``{key}``; a line made from the template must
        read as the language does ("For correct, press 1." does not)."""
        for lang, own in option.line.items():
            self._check_phrase({lang: own}, f"{option.path}.line", {"key"}, langs=(lang,))
        for lang in option.label:
            if lang in option.line or lang not in self.flow.phrases.option:
                continue
            if lang not in CODES or language(lang).rules != "en":
                continue
            words = option.label[lang].lower().replace(",", " ").split()
            while words and words[0] in _LABEL_MODIFIERS:
                words = words[1:]
            if not words or words[0] not in _BARE_LABEL_WORDS:
                continue
            try:
                said = option_text(self.flow, option, lang)
            except (KeyError, ValueError, IndexError):
                continue  # a malformed template or key is reported where it is written
            self.problem(
                f"{option.path}.label.{lang}",
                f'reads badly as "{said}": give this option its own line, '
                f'e.g. line: {{{lang}: "To …, press {{key}}."}} or "If …, press {{key}}."',
            )

    def _check_call(self, call: Call, kind: str) -> None:
        sig = self.registry.get(call.name)
        if sig is None or sig.kind != kind:
            names = sorted(s.name for s in self.registry.values() if s.kind == kind)
            self.problem(
                call.path,
                f"unknown {kind} {call.name!r}; known {kind}s: {', '.join(names) or 'none'}",
            )
            return
        if sig.arg == "required" and call.arg is None:
            self.problem(
                call.path, f"{kind} {call.name!r} needs an argument: write {{{call.name}: ...}}"
            )
        elif sig.arg == "none" and call.arg is not None:
            self.problem(call.path, f"{kind} {call.name!r} takes no argument")
        for message in sorted(sig.sends - set(self.flow.messages)):
            self.problem(
                call.path,
                f"{kind} {call.name!r} sends messages.{message}, which this flow does not write",
            )

    # -- graph -----------------------------------------------------------------------------------

    def _targets(self, state: State) -> Iterator[tuple[str, str]]:
        for option in state.options:
            yield option.goto, f"{option.path}.goto"
        for route in state.next:
            yield route.goto, f"{route.path}.goto"
        if state.back is not None:
            yield state.back, f"{state.path}.back"
        if state.on_no_input is not None:
            yield state.on_no_input.goto, f"{state.on_no_input.path}.goto"

    def successors(self, state: State) -> set[str]:
        found = {t for t, _ in self._targets(state) if t in self.flow.states}
        if state.type == "transfer":  # the agent queue hands the call back through queue_results
            found |= {t for t in self.flow.queue_results.values() if t in self.flow.states}
        if state.type in {"menu", "entry", "record"} and self.flow.agent_state in self.flow.states:
            found.add(self.flow.agent_state)  # the agent key and exhausted retries
        return found

    def _dangling(self, state: State) -> list[str]:
        """The targets of ``state`` that name no state (each already reported once)."""
        return [t for t, _ in self._targets(state) if t not in self.flow.states]

    # -- values on every path -------------------------------------------------------------

    def _edges(self, state: State) -> Iterator[tuple[str, frozenset[str]]]:
        """Each way out of ``state``: the target and the values set on the way (the actions of
        an option or route, the guard that lets the route be taken, an entry's ``save_as``)."""
        states = self.flow.states
        kept = frozenset({state.save_as}) if state.save_as and not state.secret else frozenset()
        for option in state.options:
            yield option.goto, self._provided_by(option.do)
        for route in state.next:
            ensured = self._ensured_by(route.when)
            yield route.goto, self._provided_by(route.do) | ensured | kept
        if state.on_no_input is not None:
            yield state.on_no_input.goto, self._provided_by(state.on_no_input.do)
        plain = self.successors(state) - {o.goto for o in state.options}
        plain -= {r.goto for r in state.next}
        if state.on_no_input is not None:
            plain.discard(state.on_no_input.goto)
        for target in sorted(plain):  # back, the agent key, the agent queue's results
            if target in states:
                yield target, frozenset()

    def _provided_by(self, calls: tuple[Call, ...]) -> frozenset[str]:
        found: set[str] = set()
        for call in calls:
            sig = self.registry.get(call.name)
            if sig is not None and sig.kind == "action":
                found |= sig.provides
        return frozenset(found)

    def _ensured_by(self, when: Call | None) -> frozenset[str]:
        sig = self.registry.get(when.name) if when is not None else None
        return sig.ensures if sig is not None and sig.kind == "guard" else frozenset()

    def _values_on_every_path(self, reachable: set[str]) -> dict[str, frozenset[str]]:
        """For each reachable state, the values set on every way to it from the start, its
        own actions included (a forward must-analysis: the meet of the ways in)."""
        flow = self.flow
        entering: dict[str, frozenset[str] | None] = dict.fromkeys(reachable)
        entering[flow.start] = ENGINE_VALUES
        todo = [flow.start]
        while todo:
            sid = todo.pop()
            here = entering[sid]
            assert here is not None
            out = here | self._provided_by(flow.states[sid].do)
            for target, extra in self._edges(flow.states[sid]):
                if target not in entering:
                    continue
                arriving = out | extra
                before = entering[target]
                after = arriving if before is None else before & arriving
                if after != before:
                    entering[target] = after
                    todo.append(target)
        return {
            sid: (values or frozenset()) | self._provided_by(flow.states[sid].do)
            for sid, values in entering.items()
        }

    def _check_values_on_paths(self, reachable: set[str]) -> None:
        """Every ``{value}`` a state's prompt says is set on every way into it: a prompt never
        says a sentence with an empty value."""
        at = self._values_on_every_path(reachable)
        for sid in sorted(reachable, key=list(self.flow.states).index):
            state = self.flow.states[sid]
            if state.prompt is None:
                continue
            for lang, words in state.prompt.items():
                try:
                    names = speech.placeholders(words)
                except ValueError:
                    continue  # reported with the text
                for name in sorted((names & self.provided) - at[sid]):
                    way = " → ".join(self._way_without(name, sid))
                    self.problem(
                        f"{state.path}.prompt.{lang}",
                        f"{{{name}}} may be empty here: no action or guard sets it on the way "
                        f"{way}; set it on every way in, or say this in another state",
                    )

    def _way_without(self, name: str, target: str) -> list[str]:
        """A way from the start to ``target`` on which nothing sets ``name``."""
        flow = self.flow
        previous: dict[str, str | None] = {flow.start: None}
        todo = [flow.start]
        while todo:
            sid = todo.pop(0)
            if sid == target:
                break
            if name in self._provided_by(flow.states[sid].do):
                continue
            for nxt, extra in self._edges(flow.states[sid]):
                if nxt not in previous and name not in extra:
                    previous[nxt] = sid
                    todo.append(nxt)
        way: list[str] = []
        at: str | None = target if target in previous else None
        while at is not None:
            way.append(at)
            at = previous[at]
        return list(reversed(way)) or [flow.start, target]

    def _check_graph(self) -> None:
        flow = self.flow
        if flow.start not in flow.states:
            return
        # A goto naming no state is reported once, where it is written. The states behind it
        # are not reported again as unreachable (or dead ends): the graph is read as if it led
        # to the state it is most like, and when it is like none, it may lead anywhere.
        graph = {sid: self.successors(s) for sid, s in flow.states.items()}
        guessed = {sid: set(targets) for sid, targets in graph.items()}
        anywhere = False
        for sid, state in flow.states.items():
            for target in self._dangling(state):
                close = difflib.get_close_matches(target, list(flow.states), n=1)
                guessed[sid] |= set(close)
                anywhere = anywhere or not close
        reachable = _closure({flow.start}, guessed)
        if not anywhere:
            self._check_values_on_paths(reachable)
        for sid, state in flow.states.items():
            if sid not in reachable and not anywhere:
                self.problem(state.path, f"unreachable: no way leads here from {flow.start!r}")
        graph = guessed
        reverse: dict[str, set[str]] = {sid: set() for sid in flow.states}
        for sid, targets in graph.items():
            for target in targets:
                reverse[target].add(sid)
        finals = {sid for sid, s in flow.states.items() if s.is_final}
        can_finish = _closure(finals, reverse)
        for sid, state in flow.states.items():
            if sid in reachable and sid not in can_finish and state.next and not anywhere:
                self.problem(state.path, "dead end: no way leads from here to a transfer or hangup")

    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.flow.states), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    @staticmethod
    def _known(names: Mapping[str, object]) -> str:
        return f"; known: {', '.join(sorted(names))}" if names else "; none are defined"


# Attributes a StateChart instance sets on itself; a state of that name would clash with them.
_INSTANCE_ATTRIBUTES = frozenset(
    {"model", "state_field", "start_value", "current_state_value", "start_configuration_values"}
)


def _reserved(name: str) -> bool:
    return reserved_name(name) or name in _INSTANCE_ATTRIBUTES


def _closure(start: set[str], graph: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
