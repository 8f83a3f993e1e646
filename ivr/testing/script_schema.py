"""The JSON Schema of call scripts (``tests/calls/*.yaml``), for editors.

Owns ``script_schema``. Written out here, key by key, as python-statemachine writes its
``statechart.schema.json``; ``tests/test_schemas.py`` holds it to the parser
(``ivr.testing.scripts``): at every level, the keys the schema allows are the keys whose
absence the parser names in its "allowed:" list, and the step kinds are ``_STEP_KINDS``.
``scripts`` stays the judge; the schema helps while typing. Imports only the public value tables
of ``scripts`` and ``simulator``; nothing of the engine, flows, web or stores.
"""

from __future__ import annotations

from typing import Any

from ivr.testing.scripts import CALL_STATUSES
from ivr.testing.scripts import DIAL_STATUSES
from ivr.testing.scripts import OUTCOME_KINDS
from ivr.testing.simulator import ANSWERED_BY
from ivr.testing.simulator import NETWORK_STATUSES
from ivr.testing.simulator import QUEUE_ENDINGS

Schema = dict[str, Any]

SCHEMA_ID = "https://github.com/ivr/ivr/docs/schemas/call-script.schema.json"

_COUNT = {"type": "integer", "minimum": 1}
_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_KEYS = {"type": "string", "pattern": "^[0-9*#]+$", "description": "keys to press, in quotes"}


def _object(properties: dict[str, Schema], description: str, **extra: Any) -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


# Each step kind: what its value may be. A bare kind (`- hangup`) is a string step.
STEPS: dict[str, Schema] = {
    "expect": {
        "description": "the caller hears this (a substring), or contains/regex/fuzzy",
        "anyOf": [
            {"type": "string"},
            _object(
                {
                    "contains": {"type": "string"},
                    "fuzzy": {"type": "string"},
                    "regex": {"type": "string", "format": "regex"},
                    "threshold": _FRACTION,
                },
                "one of contains, regex or fuzzy (fuzzy takes a threshold)",
                minProperties=1,
            ),
        ],
    },
    "expect_state": {"type": "string", "description": "the flow is now in this state"},
    "press": {
        "description": "keys to press; `early: true` presses them while the prompt still speaks",
        "anyOf": [
            _KEYS,
            _object(
                {"keys": _KEYS, "early": {"type": "boolean"}},
                "the keys, and whether they cut the prompt off (barge-in)",
                required=["keys"],
            ),
        ],
    },
    "say": {
        "description": "the caller says this (speech), optionally with a confidence",
        "anyOf": [
            {"type": "string"},
            _object(
                {"text": {"type": "string"}, "confidence": _FRACTION, "early": {"type": "boolean"}},
                "what is said, how sure the recogniser is, and whether it cuts the prompt off",
                required=["text"],
            ),
        ],
    },
    "wait": {**_COUNT, "description": "stay silent through this many prompts"},
    "hold": {
        "description": "wait in the queue for this many hold cycles",
        "anyOf": [
            _COUNT,
            _object({"cycles": _COUNT, "position": _COUNT}, "hold cycles and queue position"),
        ],
    },
    "agent": _object(
        {
            "seconds": _COUNT,
            "pickup": {"type": "string", "description": "the agent phone's pickup URL"},
            "result": {"enum": list(QUEUE_ENDINGS), "description": "the queue ends without one"},
        },
        "an agent picks up (and talks this long), or the queue ends another way",
    ),
    "record": {
        "description": "speak a recording of this many seconds, ended by a key or hangup",
        "anyOf": [
            _COUNT,
            _object(
                {
                    "seconds": _COUNT,
                    "finish": {"type": "string", "pattern": "^([0-9*#]|hangup)$"},
                },
                "the recording's length and how it ends",
            ),
        ],
    },
    "dial": {
        "description": "how the agent phone answers a <Dial>",
        "anyOf": [
            {"enum": list(DIAL_STATUSES)},
            _object(
                {"status": {"enum": list(DIAL_STATUSES)}, "duration": _COUNT},
                "the dial's status and how long the agent talked",
            ),
        ],
    },
    "hangup": {"type": "null", "description": "the caller hangs up"},
}
BARE_STEPS = ("wait", "hold", "agent", "record", "hangup")

_OUTCOME = _object(
    {
        "kind": {"enum": list(OUTCOME_KINDS)},
        "number": {"type": "string"},
        "queue": {"type": "string"},
        "recording": {"type": "boolean"},
        "status": {"enum": list(CALL_STATUSES), "description": "the final CallStatus"},
    },
    "how the call must end",
    required=["kind"],
)

TOP: dict[str, Schema] = {
    "name": {"type": "string", "description": "what the call shows, as a sentence"},
    "from": {"type": "string", "pattern": r"^\+?[0-9]+$", "description": "the caller ID, quoted"},
    "lang": {
        "type": "string",
        "pattern": "^[a-z]{2,3}-[A-Z]{2}$",
        "description": "the language the call is in",
    },
    "at": {"type": "string", "description": "when the call is placed, ISO 8601 with offset"},
    "network": {
        "enum": list(NETWORK_STATUSES),
        "description": "the network ends the call before the IVR answers (then steps may be [])",
    },
    "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
    "outcome": _OUTCOME,
    "effects": {
        "type": "array",
        "description": "lasting effects to check after the call: `check: {arguments}`",
        "items": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": {"type": "object"},
        },
    },
    "callback": _object(
        {
            "after": {**_COUNT, "description": "seconds that pass before the dialer runs"},
            "answer": {
                "enum": [*ANSWERED_BY, *NETWORK_STATUSES],
                "description": "who answers the call back (AnsweredBy), or how the line ends it",
            },
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
            "outcome": _OUTCOME,
        },
        "after the call, the dialer calls the caller back: who answers, what they do",
    ),
}


def script_schema() -> Schema:
    one_key_steps = [
        {
            "type": "object",
            "properties": {kind: value},
            "required": [kind],
            "additionalProperties": False,
        }
        for kind, value in STEPS.items()
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ivr call script",
        **_object(
            TOP, "one call, step by step, and how it must end", required=["name", "from", "steps"]
        ),
        "$defs": {
            "step": {
                "description": "one thing that happens: a key, speech, silence, an expectation",
                "anyOf": [{"enum": list(BARE_STEPS)}, *one_key_steps],
            }
        },
    }
