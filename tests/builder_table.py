"""What twilio-python's ``VoiceResponse`` builder allows, read from the builder itself.

The builder is generated from Twilio's TwiML specification: each element class has one method
per element it may contain, and each method's keyword arguments are that element's attributes.
``builder_table`` walks it from ``<Response>`` down and returns, per tag, the attributes the
builder writes and the tags it may nest. Only tests import this (only ``telephony.render`` may
import ``twilio.twiml`` in ``ivr``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from dataclasses import field

from twilio.twiml import TwiML
from twilio.twiml.voice_response import VoiceResponse


@dataclass
class BuilderElement:
    attributes: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)


def builder_table() -> dict[str, BuilderElement]:
    """Every tag reachable from ``<Response>``: its attributes and children (union over every
    class the builder uses for the tag, e.g. ``<Sip>`` in ``<Dial>`` and in ``<Refer>``)."""
    table: dict[str, BuilderElement] = {"Response": BuilderElement()}
    done: set[type] = set()
    todo: list[TwiML] = [VoiceResponse()]
    while todo:
        element = todo.pop()
        if type(element) in done:
            continue
        done.add(type(element))
        entry = table.setdefault(element.name, BuilderElement())
        for name, method in inspect.getmembers(type(element), inspect.isfunction):
            if name.startswith("_") or hasattr(TwiML, name):
                continue
            child = _nest(element, method)
            entry.children.add(child.name)
            table.setdefault(child.name, BuilderElement()).attributes.update(child.attrs)
            todo.append(child)
    return table


def _nest(parent: TwiML, method: object) -> TwiML:
    """Call a nesting method with every argument given, and return the element it made."""
    signature = inspect.signature(method)  # type: ignore[arg-type]
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            continue
        if parameter.default is inspect.Parameter.empty:
            positional.append("text")
        else:
            keywords[parameter.name] = "value"
    child = method(parent, *positional, **keywords)  # type: ignore[operator]
    assert isinstance(child, TwiML)
    return child
