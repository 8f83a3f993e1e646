"""A compiled flow as a picture: its states by type and every edge the machine can take.

Owns ``flow_diagram`` (a ``CompiledFlow`` → ``Diagram``: nodes and labelled, classified edges)
and its renderers: Mermaid (``flowchart``, no dependency; renders on code hosts), Graphviz DOT
text, and SVG/PNG through Graphviz's ``dot`` program.

Built on python-statemachine's own model of the compiled class, the one
``statemachine.contrib.diagram`` reads: each transition's events, guards and actions by their
callback names (``engine.compile`` names them after the registered action or guard). The
flow's spec adds what the library cannot know: state types, option keys and labels, and which
edges the engine adds to every waiting state (agent, repeat, back, retries, queue results).
The library's renderers are not used: its Mermaid output is a ``stateDiagram-v2``, where edges
cannot be styled, and its DOT renderer needs pydot; only its Graphviz runner is.

Knows nothing of files, the command line or Flask; never runs a call.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from typing import Literal

from statemachine.contrib.diagram.graphviz import GraphvizNotFoundError
from statemachine.contrib.diagram.graphviz import run_graphviz

from ivr.engine.compile import CompiledFlow
from ivr.flow.names import INCOMING
from ivr.flow.spec import Flow
from ivr.flow.spec import State

# How an edge is drawn: written in the flow, added by the engine, or the agent queue's result.
EdgeStyle = Literal["flow", "implicit", "queue"]
FORMATS = ("mermaid", "dot", "svg", "png")

__all__ = [
    "FORMATS",
    "Diagram",
    "Edge",
    "GraphvizNotFoundError",
    "Node",
    "flow_diagram",
    "render_image",
    "to_dot",
    "to_mermaid",
]


@dataclass(frozen=True)
class Node:
    id: str
    type: str  # a state type, or "call" for where the call comes in
    actions: tuple[str, ...] = ()  # what runs on entering the state, by name


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    style: EdgeStyle
    label: str


@dataclass(frozen=True)
class Diagram:
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def flow_diagram(compiled: CompiledFlow, lang: str | None = None) -> Diagram:
    """Every state and edge of ``compiled``; option labels in ``lang`` (the flow's first
    language by default). Parallel edges of one style between two states become one edge
    whose label lists them all."""
    flow = compiled.flow
    language = lang or flow.default_language
    nodes = [Node(INCOMING, "call")]
    edges = [Edge(INCOMING, flow.start, "flow", "answer")]
    for state in compiled.machine.states:
        if state.id == INCOMING:
            continue
        spec = flow.states[state.id]
        nodes.append(Node(state.id, spec.type, _named(state.enter)))
        edges.extend(_edges_of(flow, spec, state.transitions, language))
    return Diagram(flow.name, tuple(nodes), tuple(_merged(edges)))


def _edges_of(flow: Flow, spec: State, transitions: Iterable[Any], lang: str) -> Iterator[Edge]:
    keys = flow.keys
    labels = {f"key_{o.key}": o.label.get(lang, "") for o in spec.options}
    for t in transitions:
        event = str(next(iter(t.events)))
        style: EdgeStyle
        guards = _named(t.cond)
        actions = [a for a in _named(t.on) if a not in _ENGINE_ACTIONS]
        target = t.target.id
        if event in labels:
            text, style = f"{event.removeprefix('key_')} · {labels[event]}", "flow"
        elif event == "agent_key":
            text, style = f"{keys.agent} agent", "implicit"
        elif event == "repeat_key":
            text, style = f"{keys.repeat} repeat", "implicit"
        elif event == "back_key":
            text, style = f"{keys.back} back", "implicit"
        elif event == "no_match" or (event == "no_input" and spec.on_no_input is None):
            what = "silence" if event == "no_input" else "invalid"
            if guards:  # the counted reprompt, while retries are left
                text, guards = f"{what}: retry", ()
            else:
                text = f"{flow.retry_for(spec).attempts}× {what}"
            style = "implicit"
        elif event.startswith("queue_"):
            text, style = f"queue {event.removeprefix('queue_')}", "queue"
        else:  # next, entered, recorded, or a no_input route the flow wrote
            text, style = event.replace("_", " "), "flow"
        if guards:
            text += f" [{', '.join(guards)}]"
        if actions:
            text += f" / {', '.join(actions)}"
        yield Edge(spec.id, target, style, text)


# Callbacks the engine adds for its own bookkeeping; a diagram shows only the flow's names.
_ENGINE_ACTIONS = frozenset({"set_reason", "set_issue", "bump"})


def _named(specs: Iterable[Any]) -> tuple[str, ...]:
    """The names of a transition's or state's callbacks, without the library's conventions
    (``on_enter_state``, ``on_key_1``...), which this engine never defines."""
    return tuple(str(c) for c in specs if not c.is_convention)


def _merged(edges: list[Edge]) -> Iterator[Edge]:
    groups: dict[tuple[str, str, EdgeStyle], list[str]] = {}
    for e in edges:
        groups.setdefault((e.source, e.target, e.style), []).append(e.label)
    for (source, target, style), labels in groups.items():
        yield Edge(source, target, style, ", ".join(dict.fromkeys(labels)))


# -- Mermaid --------------------------------------------------------------------------------------

# Node shapes per state type: (opening, closing) around the quoted label.
_MERMAID_SHAPES = {
    "call": ("((", "))"),
    "menu": ("[", "]"),
    "entry": ("[/", "/]"),
    "say": ("(", ")"),
    "route": ("{{", "}}"),
    "record": ("[(", ")]"),
    "transfer": ("[[", "]]"),
    "hangup": ("(((", ")))"),
}
_MERMAID_CLASSES = {
    "call": "fill:#111827,color:#fff,stroke:#111827",
    "menu": "fill:#dbeafe,stroke:#1d4ed8",
    "entry": "fill:#e0e7ff,stroke:#4338ca",
    "say": "fill:#dcfce7,stroke:#15803d",
    "route": "fill:#f3f4f6,stroke:#9ca3af,stroke-dasharray:3 3,color:#4b5563",
    "record": "fill:#fae8ff,stroke:#a21caf",
    "transfer": "fill:#fee2e2,stroke:#b91c1c",
    "hangup": "fill:#e5e7eb,stroke:#374151",
    "changed": "stroke:#dc2626,stroke-width:4px",
}
_MERMAID_EDGE_STYLES = {
    "implicit": "stroke:#9ca3af,stroke-dasharray:4 3,color:#6b7280",
    "queue": "stroke:#d97706,stroke-dasharray:6 3,color:#b45309",
}


def to_mermaid(diagram: Diagram, highlight: Iterable[str] = ()) -> str:
    """Mermaid ``flowchart`` source. Route states are grey and dashed; the engine's implicit
    edges are grey dotted lines, the queue's results orange ones; ``highlight`` draws those
    states with a thick red border (``ivr diff --graph``)."""
    lines = [f"%% flow {diagram.name}: `ivr graph {diagram.name}` draws it", "flowchart LR"]
    for node in diagram.nodes:
        opening, closing = _MERMAID_SHAPES[node.type]
        lines.append(f'    {node.id}{opening}"{_mermaid_text(_node_label(node))}"{closing}')
    by_style: dict[str, list[int]] = {}
    for i, edge in enumerate(diagram.edges):
        arrow = "-->" if edge.style == "flow" else "-.->"
        lines.append(f'    {edge.source} {arrow}|"{_mermaid_text(edge.label)}"| {edge.target}')
        by_style.setdefault(edge.style, []).append(i)
    for kind, style in _MERMAID_CLASSES.items():
        members = [n.id for n in diagram.nodes if n.type == kind]
        if kind == "changed":
            members = sorted(set(highlight))
        if members:
            # "call" is a Mermaid keyword (click callbacks): mermaid 11 refuses it as a class
            name = "incoming" if kind == "call" else kind
            lines.append(f"    classDef {name} {style}")
            lines.append(f"    class {','.join(members)} {name}")
    for kind, style in _MERMAID_EDGE_STYLES.items():
        if kind in by_style:
            lines.append(f"    linkStyle {','.join(map(str, by_style[kind]))} {style}")
    return "\n".join(lines) + "\n"


def _node_label(node: Node) -> str:
    if node.type == "call":
        return "call"
    head = f"{node.id}\n{node.type}"
    return head + (f"\n{', '.join(node.actions)}" if node.actions else "")


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


# -- Graphviz -------------------------------------------------------------------------------------

_DOT_SHAPES = {
    "call": "circle",
    "menu": "box",
    "entry": "parallelogram",
    "say": "box",
    "route": "hexagon",
    "record": "cylinder",
    "transfer": "box3d",
    "hangup": "doublecircle",
}
_DOT_FILL = {
    "call": "#111827",
    "menu": "#dbeafe",
    "entry": "#e0e7ff",
    "say": "#dcfce7",
    "route": "#f3f4f6",
    "record": "#fae8ff",
    "transfer": "#fee2e2",
    "hangup": "#e5e7eb",
}
_DOT_EDGES = {
    "flow": "",
    "implicit": ' style=dashed color="#9ca3af" fontcolor="#6b7280"',
    "queue": ' style=dashed color="#d97706" fontcolor="#b45309"',
}


def to_dot(diagram: Diagram, highlight: Iterable[str] = ()) -> str:
    """Graphviz DOT source, styled as the Mermaid one."""
    changed = set(highlight)
    lines = [
        f"digraph {_dot_id(diagram.name)} {{",
        "    rankdir=LR;",
        '    node [fontname="Helvetica" fontsize=10 style="filled,rounded"];',
        '    edge [fontname="Helvetica" fontsize=9];',
    ]
    for node in diagram.nodes:
        attrs = [
            f"label={_dot_id(_node_label(node))}",
            f"shape={_DOT_SHAPES[node.type]}",
            f'fillcolor="{_DOT_FILL[node.type]}"',
        ]
        if node.type == "call":
            attrs.append('fontcolor="white"')
        if node.type == "route":
            attrs.append('style="filled,dashed"')
        if node.id in changed:
            attrs.append('color="#dc2626" penwidth=3')
        lines.append(f"    {_dot_id(node.id)} [{' '.join(attrs)}];")
    for edge in diagram.edges:
        lines.append(
            f"    {_dot_id(edge.source)} -> {_dot_id(edge.target)}"
            f" [label={_dot_id(edge.label)}{_DOT_EDGES[edge.style]}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_id(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_image(dot: str, fmt: str) -> bytes:
    """SVG or PNG from DOT source, by Graphviz's ``dot`` program. Raises
    ``GraphvizNotFoundError`` when it is not installed (Debian: ``apt-get install graphviz``)."""
    return run_graphviz(dot, fmt)
