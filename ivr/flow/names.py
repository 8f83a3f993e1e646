"""The names the compiled state machine reserves: its events, its synthetic first state, and
the attributes of python-statemachine's ``StateChart``.

Owned here, below both ``validation`` (which refuses a state named like one of them) and
``engine`` (which compiles flows into machines using them). Depends only on the library.
"""

from __future__ import annotations

from statemachine import StateChart

# The synthetic state every call starts in; ``answer`` leaves it for the flow's start.
INCOMING = "_incoming"

# Event names live in the same class namespace as state names: a state may not be called so.
QUEUE_EVENTS = frozenset(f"queue_{r}" for r in ("closed", "bridged", "leave", "failed", "hangup"))
EVENTS = QUEUE_EVENTS | frozenset(
    {
        "answer",
        "agent_key",
        "repeat_key",
        "back_key",
        "entered",
        "recorded",
        "no_input",
        "no_match",
        "next",
    }
)


def reserved_name(name: str) -> bool:
    """Names a state may not have: the engine's events, and the attributes of the library's
    StateChart class (``send``, ``model``, ...), which a state of that name would shadow."""
    return (
        name in EVENTS
        or name.startswith(("key_", "_"))
        or name == INCOMING
        or hasattr(StateChart, name)
    )


def key_event(key: str) -> str:
    return {"*": "key_star", "#": "key_pound"}.get(key, f"key_{key}")
