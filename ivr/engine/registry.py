"""The registry of named actions and guards a flow may call.

Owns the decorator API (``@registry.action``, ``@registry.guard``) and the description of each
entry that ``validation`` checks flows against. Knows nothing of what the actions do: the
hotline's actions live in ``ivr.hotline.actions``; a team can register its own in another registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from ivr.flow.validation import Signature

if TYPE_CHECKING:
    from ivr.engine.context import CallContext

ActionFn = Callable[..., None]
GuardFn = Callable[..., bool]


@dataclass(frozen=True)
class Entry:
    signature: Signature
    fn: Callable[..., Any]

    def __call__(self, call: CallContext, arg: object) -> Any:
        if self.signature.arg == "none":
            return self.fn(call)
        if arg is None and self.signature.arg == "optional":
            return self.fn(call)
        return self.fn(call, arg)


class Registry:
    """Named callables. Actions take ``(call)`` or ``(call, arg)``; guards return a bool."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def action(
        self, *, provides: Iterable[str] = (), sends: Iterable[str] = ()
    ) -> Callable[[ActionFn], ActionFn]:
        """Register an action; ``provides`` names the template values it always sets (values it
        sets only sometimes belong to the guard that tells, as its ``ensures``), ``sends`` the
        flow messages (``messages.<name>``) it sends, which a flow calling it must write."""
        return self._register("action", frozenset(provides), frozenset(sends))

    def guard(self, *, ensures: Iterable[str] = ()) -> Callable[[GuardFn], GuardFn]:
        """Register a guard; ``ensures`` names the template values that are set whenever it
        holds (``has_refund`` ensures ``{amount}``), for the path analysis of ``validation``."""
        return self._register("guard", frozenset(), ensures=frozenset(ensures))

    def _register(
        self,
        kind: str,
        provides: frozenset[str],
        sends: frozenset[str] = frozenset(),
        ensures: frozenset[str] = frozenset(),
    ) -> Callable[[Any], Any]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            name = fn.__name__
            if name in self._entries:
                raise ValueError(f"{kind} {name!r} is registered twice")
            signature = Signature(name, kind, _arg_kind(fn), provides, sends, ensures)
            self._entries[name] = Entry(signature, fn)
            return fn

        return decorate

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def signatures(self) -> dict[str, Signature]:
        return {name: entry.signature for name, entry in self._entries.items()}


def _arg_kind(fn: Callable[..., Any]) -> str:
    params = list(inspect.signature(fn).parameters.values())[1:]
    if not params:
        return "none"
    return "optional" if params[0].default is not inspect.Parameter.empty else "required"
