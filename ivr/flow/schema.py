"""The JSON Schema of ``flows/*.yaml``, for editors (the YAML language server completes keys
and flags mistakes as you type).

Owns ``flow_schema``. Every object's keys come from the loader's own key tables
(``TOP_KEYS``, ``STATE_KEYS``, ``OPTION_KEYS``...), so the schema cannot offer a key the
loader rejects; this module adds only each key's type and description (``_FIELDS``), and
``tests/test_schemas.py`` checks the two agree key for key. The registered ``do:`` and
``when:`` names come in as arguments (name → description), since the registry lives above
this layer. The loader stays the judge: the schema helps while typing, ``ivr check`` decides.
Depends on ``flow.loader``, ``flow.hours`` and ``voice.languages`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.flow.hours import HOURS_KEYS
from ivr.flow.loader import BUDGET_KEYS
from ivr.flow.loader import GATHER_KEYS
from ivr.flow.loader import HINT_KEYS
from ivr.flow.loader import KEYS_KEYS
from ivr.flow.loader import OPTION_KEYS
from ivr.flow.loader import PHRASE_KEYS
from ivr.flow.loader import QUEUE_ALL_KEYS
from ivr.flow.loader import RECORD_KEYS
from ivr.flow.loader import RETRY_KEYS
from ivr.flow.loader import ROUTE_KEYS
from ivr.flow.loader import SPEECH_MODES
from ivr.flow.loader import SPOKEN_KEYS
from ivr.flow.loader import STATE_KEYS
from ivr.flow.loader import STATE_TYPES
from ivr.flow.loader import TOP_KEYS
from ivr.flow.loader import WAITING_KEYS
from ivr.flow.spec import QUEUE_RESULTS
from ivr.voice.languages import CODES

Schema = dict[str, Any]

SCHEMA_ID = "https://github.com/ivr/ivr/docs/schemas/flow.schema.json"

STATE_TYPE_DESCRIPTIONS: Mapping[str, str] = {
    "menu": "says its prompt, then announces each option (plus agent, repeat and back keys)",
    "entry": "the caller keys in digits ended by the finish key, kept under save_as",
    "say": "speaks its prompt, then goes on to next",
    "route": "says nothing: takes the first route of next whose when holds (plumbing)",
    "record": "records a message after the beep",
    "transfer": "puts the caller in an agent queue",
    "hangup": "says its prompt and ends the call",
}

_KEY = {"type": "string", "enum": list("0123456789*#"), "description": "a phone key"}
_STATE_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "a state's name"}
_WORDS = {
    "type": "object",
    "propertyNames": {"enum": list(CODES)},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "description": "a list of words per language",
}


def _text(description: str) -> Schema:
    return {"$ref": "#/$defs/text", "description": description}


def _object(
    keys: tuple[str, ...],
    description: str,
    required: tuple[str, ...] = (),
    fields: Mapping[str, Schema] | None = None,
) -> Schema:
    """An object whose keys are exactly ``keys`` (a loader table), typed by ``fields`` or
    else ``_FIELDS``; a key typed by neither is a bug here (``KeyError``), found by the tests."""
    given = fields or {}
    out: Schema = {
        "type": "object",
        "description": description,
        "properties": {key: given[key] if key in given else _FIELDS[key] for key in keys},
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(required)
    return out


def _counts(description: str) -> Schema:
    return {"type": "integer", "minimum": 1, "description": description}


# The type and description of every key, wherever the loader accepts it. Keys that mean
# different things in different places are resolved in ``flow_schema``.
_FIELDS: dict[str, Schema] = {
    "flow": {"type": "string", "description": "the flow's name (default: the file's name)"},
    "start": {**_STATE_NAME, "description": "the state a call starts in"},
    "languages": {
        "type": "array",
        "items": {"enum": list(CODES)},
        "minItems": 1,
        "description": "the languages of every text; the first is the default",
    },
    "agent_state": {**_STATE_NAME, "description": "the transfer state the agent key leads to"},
    "prompt": _text("what the caller hears on entering the state; {values} are filled in"),
    "bilingual": {"type": "boolean", "description": "say the prompt in every language"},
    "do": {"$ref": "#/$defs/actions"},
    "gather": {"$ref": "#/$defs/gather"},
    "retry": {"$ref": "#/$defs/retry"},
    "record": {"$ref": "#/$defs/record"},
    "options": {"type": "array", "items": {"$ref": "#/$defs/option"}},
    "save_as": {"type": "string", "description": "the name the keyed-in digits are kept under"},
    "secret": {"type": "boolean", "description": "never stored, logged or spoken back (PINs)"},
    "next": {
        "description": "a state name, or routes tried in order (the last without when)",
        "oneOf": [
            _STATE_NAME,
            {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/route"}},
        ],
    },
    "back": {**_STATE_NAME, "description": "where the back key leads"},
    "on_no_input": {"$ref": "#/$defs/route"},
    "speech": {
        "description": "understand speech: match the options, or yes/no (false: keys only)",
        "enum": [*SPEECH_MODES, False],
    },
    "queue": {"type": "string", "description": "the queue (default: the queue of the issue)"},
    "priority": {"type": "integer", "minimum": 0, "description": "higher is answered first"},
    "reason": {"type": "string", "description": "why the caller reached an agent, for records"},
    "key": _KEY,
    "label": _text("the option's name, announced with the option phrase"),
    "goto": {**_STATE_NAME, "description": "the state this leads to"},
    "issue": {"type": "string", "description": "what the caller calls about (issues:)"},
    "lang": {"enum": list(CODES), "description": "announce this option in this language"},
    "synonyms": {**_WORDS, "description": "other words a caller may say for this option"},
    "examples": {**_WORDS, "description": "whole phrases callers say for this option (training)"},
    "when": {"$ref": "#/$defs/guard"},
    "timeout": _counts("seconds of silence before a no-input"),
    "finish_on_key": {**_KEY, "description": "the key that ends the input"},
    "min_digits": _counts("fewest digits an entry accepts"),
    "max_digits": _counts("most digits an entry accepts"),
    "attempts": _counts("failures before the caller is put through to an agent"),
    "no_input": _text("said when no key was pressed"),
    "no_match": _text("said when the key was not one of the options"),
    "exhausted": _text("said before putting the caller through, after the last attempt"),
    "option": _text("announces an option: {label} and {key}"),
    "line": _text("this option's own announcement, where the generated one would not read well"),
    "confirm": _text("asks after unclear speech: {label}"),
    "apology": _text("said in every language when anything goes wrong, before an agent"),
    "restart": _text("said in every language when a call was lost track of"),
    "connecting": _text("said as an agent takes the call"),
    "yes_no": {**_WORDS, "description": "words that help recognise yes/no answers"},
    "max_length": _counts("longest recording, in seconds"),
    "status_callback": {"type": "boolean", "description": "ask Twilio to report the file"},
    "hold": _text("said to a caller waiting in this queue"),
    "hours": {"$ref": "#/$defs/hours"},
    "dial": {"type": "string", "description": "ring this agent phone (E.164) instead of queueing"},
    "agents": _counts("agents answering this queue"),
    "handle_time_s": _counts("average seconds an agent spends on a call"),
    "max_size": _counts("callers the queue holds before offering a callback"),
    "priorities": {"type": "object", "description": "priority per issue"},
    "agent_within_s": _counts("seconds a caller listens before hearing how to reach an agent"),
    "agent_keys": _counts("key presses from the greeting to an agent"),
    "menu_options": _counts("options in one menu"),
    "prompt_s": _counts("seconds of prompt on the longest way to a self-help answer"),
    "service_level": {
        "type": "object",
        "description": "the staffing target `ivr capacity` projects agents for",
        "properties": {
            "answer_within_s": {
                "type": "integer",
                "minimum": 0,
                "description": "answered within this many seconds (default 20)",
            },
            "target": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "description": "the share answered that fast (default 0.8)",
            },
            "max_abandon": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "description": "the largest share of callers who may give up waiting",
            },
        },
        "additionalProperties": False,
    },
    "position": _text("said while waiting: {position} and {minutes}"),
    "offer_callback": _text("offers a call back while waiting"),
}

# After the table: the budgets' keys are typed by it.
_FIELDS["budgets"] = _object(
    BUDGET_KEYS,
    "caller-time budgets `ivr check` holds the flow to (warnings; errors with --strict)",
)


def _state(kind: str) -> Schema:
    state = _object(STATE_KEYS[kind], STATE_TYPE_DESCRIPTIONS[kind])
    state["properties"] = {
        "type": {"const": kind, "description": STATE_TYPE_DESCRIPTIONS[kind]},
        **state["properties"],
    }
    return {"if": {"properties": {"type": {"const": kind}}}, "then": state}


def _names(entries: Mapping[str, str], what: str) -> Schema:
    """A registered name, each with its description: ``oneOf`` of ``const``s is what the YAML
    language server shows beside each completion."""
    return {
        "description": what,
        "oneOf": [{"const": name, "description": text} for name, text in sorted(entries.items())],
    }


def _call(entries: Mapping[str, str], what: str) -> Schema:
    return {
        "description": f"{what}: a name, or {{name: argument}}",
        "anyOf": [
            _names(entries, what),
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "propertyNames": {"enum": sorted(entries)},
            },
        ],
    }


def flow_schema(actions: Mapping[str, str], guards: Mapping[str, str]) -> Schema:
    """The schema of a flow file; ``actions`` and ``guards``: registered name → description."""
    top_fields: dict[str, Schema] = {
        "keys": _object(
            KEYS_KEYS,
            "the phone-menu keys: agent, repeat, back, finish",
            fields={key: {**_KEY, "description": f"the {key} key"} for key in KEYS_KEYS},
        ),
        "phrases": _object(
            PHRASE_KEYS,
            "lines that announce options and keys, and lines said outside any state",
            fields={
                key: _text(f"announces the {key} key: {{key}}")
                for key in ("agent", "repeat", "back")
            },
        ),
        "hints": _object(HINT_KEYS, "words that bias speech recognition"),
        "spoken": _object(
            SPOKEN_KEYS,
            "what callers say besides a menu's options: asking for a person, out of scope",
            fields={
                "agent": {**_WORDS, "description": "words asking for a person (the agent key)"},
                "agent_examples": {**_WORDS, "description": "whole phrases asking for a person"},
                "none": {**_WORDS, "description": "sentences no menu option serves (training)"},
                "agent_label": _text(
                    'how "Did you mean …?" names a person, for an unclear spoken request'
                ),
            },
        ),
        "retry": {"$ref": "#/$defs/retry"},
        "issues": {
            "type": "object",
            "description": "what callers call about, with its queue",
            "additionalProperties": _object(("label", "queue"), "an issue", ("label", "queue")),
        },
        "queues": {
            "type": "object",
            "description": "agent queues (general is required)",
            "additionalProperties": _object(QUEUE_ALL_KEYS, "an agent queue", ("hold",)),
        },
        "labels": {
            "type": "object",
            "description": "label groups: value → text per language, read aloud by templates",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/text"},
            },
        },
        "messages": {
            "type": "object",
            "description": "texts sent to the caller (SMS) by actions",
            "additionalProperties": {"$ref": "#/$defs/text"},
        },
        "hours": {"$ref": "#/$defs/hours"},
        "waiting": _object(WAITING_KEYS, "what callers hear while they wait"),
        "queue_results": _object(
            QUEUE_RESULTS,
            "where a call goes when the queue is done with it",
            fields=dict.fromkeys(QUEUE_RESULTS, _STATE_NAME),
        ),
        "states": {
            "type": "object",
            "description": "the states, by name",
            "propertyNames": _STATE_NAME,
            "additionalProperties": {"$ref": "#/$defs/state"},
        },
    }
    top = _object(
        TOP_KEYS,
        "one flow: what callers hear and where each key leads",
        ("start", "phrases", "retry", "states"),
        top_fields,
    )
    state: Schema = {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "description": "what the state does",
                "oneOf": [
                    {"const": t, "description": STATE_TYPE_DESCRIPTIONS[t]} for t in STATE_TYPES
                ],
            }
        },
        "allOf": [_state(kind) for kind in STATE_TYPES],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ivr flow",
        **top,
        "$defs": {
            "text": {
                "type": "object",
                "description": "a text per language",
                "propertyNames": {"enum": list(CODES)},
                "additionalProperties": {"type": ["string", "number"]},
            },
            "state": state,
            "option": _object(OPTION_KEYS, "a menu option", ("key", "label", "goto")),
            "route": _object(ROUTE_KEYS, "a way out, taken when `when` holds", ("goto",)),
            "gather": _object(GATHER_KEYS, "how keys are collected"),
            "retry": _object(RETRY_KEYS, "reprompts on silence or an invalid key"),
            "record": _object(RECORD_KEYS, "how the message is recorded"),
            "hours": {
                "type": "object",
                "description": "opening hours",
                "propertyNames": {"enum": list(HOURS_KEYS)},
            },
            "action": _call(actions, "a registered action"),
            "actions": {
                "description": "actions run in order: one, or a list",
                "anyOf": [
                    {"$ref": "#/$defs/action"},
                    {"type": "array", "items": {"$ref": "#/$defs/action"}},
                ],
            },
            "guard": _call(guards, "a registered guard"),
        },
    }
