"""The caller-time part of ``ivr check``: each flow's figures, and its budgets kept or broken.

Owns how the figures of ``ivr.flow.budgets`` read on a terminal: one summary line per
language, then every broken budget (a warning, or an error under ``--strict``), and with
``--budgets`` the table of every state. Times come from the recordings' real lengths where a
current WAV exists (``ivr.media.durations``), else from each language's stated rate. Holds no
arithmetic of its own and never changes a flow or a recording.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

import click

from ivr.flow.budgets import Figures
from ivr.flow.budgets import Lengths
from ivr.flow.budgets import Violation
from ivr.flow.budgets import figures
from ivr.flow.budgets import violations
from ivr.flow.spec import Flow


def report_budgets(
    flow: Flow,
    lengths: Lengths,
    *,
    strict: bool,
    table: bool,
    echo: Callable[[str], None] = click.echo,
) -> list[Violation]:
    """Print ``flow``'s caller-time figures and broken budgets; return the broken budgets."""
    every = [figures(flow, lang, lengths) for lang in flow.languages]
    for fig in every:
        echo(f"  {fig.lang}: {summary(flow, fig)}")
    if table:
        echo(state_table(flow, every))
    broken = violations(flow, every)
    mark = click.style("✗ ", fg="red") if strict else click.style("! ", fg="yellow")
    for line in grouped(broken):
        echo(f"{mark}{flow.file}: budgets: {line}")
    if not any(v is not None for v in vars(flow.budgets).values()):
        echo(f"  (no budgets: set `budgets:` in {flow.file} to check these figures)")
    return broken


def grouped(broken: Sequence[Violation], shown: int = 4) -> list[str]:
    """One line per budget and language: the violation itself when alone, else how many
    states break it and the worst few."""
    groups: dict[tuple[str, str | None], list[Violation]] = {}
    for violation in broken:
        groups.setdefault((violation.budget, violation.lang), []).append(violation)
    lines = []
    for (budget, lang), group in groups.items():
        if len(group) == 1:
            lines.append(str(group[0]))
            continue
        worst = sorted(group, key=lambda v: -1.0 if v.figure is None else -v.figure)
        cells = [
            f"{v.where} {'never' if v.figure is None else f'{v.figure:g}'}"
            if budget in ("agent_keys", "menu_options")
            else f"{v.where} {'never' if v.figure is None else f'{v.figure:.1f} s'}"
            for v in worst[:shown]
        ]
        more = f", … {len(group) - shown} more" if len(group) > shown else ""
        langs = f" ({lang})" if lang else ""
        lines.append(
            f"{budget} {group[0].limit:g} broken at {len(group)} states{langs}: "
            + ", ".join(cells)
            + more
        )
    return lines


def summary(flow: Flow, fig: Figures) -> str:
    """One line: the main figures, where they are worst."""
    waiting = {
        sid: seconds
        for sid, seconds in fig.agent_s.items()
        if flow.states[sid].type in ("menu", "entry")
    }
    told = {sid: s for sid, s in waiting.items() if s is not None}
    never = sorted(sid for sid, s in waiting.items() if s is None)
    parts = []
    if told:
        worst = max(told, key=lambda sid: told[sid])
        parts.append(f"agent announced within {told[worst]:.1f} s (worst {worst})")
    if never:
        parts.append(f"never at {', '.join(never)}")
    if fig.agent_keys is not None:
        parts.append(f"{fig.agent_keys.presses} key(s) to an agent")
    if fig.prompt_s:
        longest = max(fig.prompt_s, key=lambda sid: fig.prompt_s[sid])
        parts.append(f"longest prompt before an answer {fig.prompt_s[longest]:.1f} s ({longest})")
    if fig.menu_options:
        most = max(fig.menu_options, key=lambda sid: fig.menu_options[sid])
        parts.append(f"at most {fig.menu_options[most]} options ({most})")
    timed = f"{fig.measured} recorded, {fig.estimated} estimated"
    return "; ".join(parts) + f" [{timed}]"


def state_table(flow: Flow, every: Sequence[Figures]) -> str:
    """Every state with its figures, a column per language."""
    langs = [fig.lang for fig in every]
    head = f"    {'state':<22} {'type':<8} " + " ".join(
        f"{'agent@' + lg:>13} {'before@' + lg:>14}" for lg in langs
    )
    rows = [head]
    for sid, state in flow.states.items():
        cells = []
        for fig in every:
            agent = fig.agent_s.get(sid)
            before = fig.prompt_s.get(sid)
            cells.append(
                f"{'-' if agent is None else f'{agent:.1f} s':>13} "
                f"{'' if before is None else f'{before:.1f} s':>14}"
            )
        rows.append(f"    {sid:<22} {state.type:<8} " + " ".join(cells))
    return "\n".join(rows)
