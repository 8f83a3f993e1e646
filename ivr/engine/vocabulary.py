"""The names a flow may call, as a reader needs them: ``ivr check --actions`` and the flow schema.

Owns ``describe``: each registered action and guard with its argument (name, type, whether
optional), the ``{values}`` it provides to templates, the messages it sends, the first line of
its docstring, and where the given flows call it. Reads the registry; runs nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass

from ivr.engine.registry import Registry
from ivr.flow.spec import Call
from ivr.flow.spec import Flow


@dataclass(frozen=True)
class Named:
    """One action or guard, described."""

    name: str
    kind: str  # "action" or "guard"
    argument: str  # "" (none), "lang: str", or "[name: str]" when optional
    provides: tuple[str, ...]
    sends: tuple[str, ...]
    summary: str
    used_at: tuple[tuple[str, str], ...]  # (flow file, key path) of each call in the flows

    @property
    def signature(self) -> str:
        return f"{self.name}({self.argument})" if self.argument else self.name


def describe(registry: Registry, flows: Iterable[Flow] = ()) -> list[Named]:
    """Every action, then every guard, each sorted by name."""
    uses: dict[str, list[tuple[str, str]]] = {}
    for flow in flows:
        for call in _calls(flow):
            uses.setdefault(call.name, []).append((flow.file, call.path))
    found = []
    for name, signature in registry.signatures().items():
        fn = registry[name].fn
        found.append(
            Named(
                name=name,
                kind=signature.kind,
                argument=_argument(fn, signature.arg),
                provides=tuple(sorted(signature.provides)),
                sends=tuple(sorted(signature.sends)),
                summary=(inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " "),
                used_at=tuple(uses.get(name, ())),
            )
        )
    return sorted(found, key=lambda n: (n.kind != "action", n.name))


def _argument(fn: object, kind: str) -> str:
    if kind == "none":
        return ""
    assert callable(fn)
    param = list(inspect.signature(fn).parameters.values())[1]
    annotation = param.annotation
    shown = param.name
    if annotation is not inspect.Parameter.empty:
        shown += f": {annotation if isinstance(annotation, str) else annotation.__name__}"
    return f"[{shown}]" if kind == "optional" else shown


def _calls(flow: Flow) -> Iterator[Call]:
    for state in flow.states.values():
        yield from state.do
        for option in state.options:
            yield from option.do
        routes = [*state.next, *([state.on_no_input] if state.on_no_input else [])]
        for route in routes:
            if route.when is not None:
                yield route.when
            yield from route.do
