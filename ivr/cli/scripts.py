"""``ivr scripts generate``: call scripts that take every transition a demo caller can cause.

Owns the command's wiring: an isolated in-process app with the demo data (a fresh start per
call), the hotline's demo callers at an open and a closed hour, the entries a caller may key
in, the transitions the hand-written scripts already take (replayed first, so only scripts
that add coverage are written), and the ``unreachable.json`` file ``ivr replay --coverage``
reads. The exploring and writing is ``ivr.testing.generate``'s.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click

from ivr.cli.context import CliContext
from ivr.cli.errors import start_up_errors
from ivr.errors import CliError
from ivr.errors import ScriptError
from ivr.testing.factories import LocalSimulators
from ivr.testing.factories import local_simulators
from ivr.testing.generate import Caller
from ivr.testing.generate import choose
from ivr.testing.generate import explore
from ivr.testing.generate import unreachable
from ivr.testing.generate import unreachable_text
from ivr.testing.generate import write_scripts
from ivr.testing.replay import FlowShape
from ivr.testing.replay import coverage_report
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script
from ivr.wallet.demo import CHEN_JIE
from ivr.wallet.demo import DEMO_PIN
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import LIU_YANG
from ivr.wallet.demo import SUN_LI
from ivr.wallet.demo import WANG_FANG
from ivr.wallet.demo import WU_LEI
from ivr.wallet.demo import YANG_JING
from ivr.wallet.demo import ZHANG_WEI
from ivr.wallet.demo import ZHAO_MIN
from ivr.wallet.demo import ZHOU_QIANG

# The demo callers (ivr.wallet.demo), and a number no account is registered to. The one with
# the most data comes first: the callers after him explore only where their data can differ.
UNREGISTERED = "+8613900000000"
DEMO_CALLERS = (
    (ZHANG_WEI, "Zhang Wei"),
    (LI_NA, "Li Na"),
    (WANG_FANG, "Wang Fang"),
    (LIU_YANG, "Liu Yang"),
    (ZHAO_MIN, "Zhao Min"),
    (CHEN_JIE, "Chen Jie"),
    (YANG_JING, "Yang Jing"),
    (ZHOU_QIANG, "Zhou Qiang"),
    (WU_LEI, "Wu Lei"),
    (SUN_LI, "Sun Li"),
    (UNREGISTERED, "an unregistered caller"),
)
# Half past ten at night in Shanghai: the agents have gone home.
CLOSED_HOUR = datetime.fromisoformat("2026-11-23T22:30:00+08:00")
# What callers key in, by the entry's save_as: a registered and an unknown number, the demo
# PIN and a wrong one, the demo complaint ticket and an unknown one.
ENTRIES = {
    "phone": ("13800000001", "13900000009"),
    "pin": (DEMO_PIN, "000000"),
    "ticket_number": ("10000001", "99999999"),
}


@click.group()
def scripts() -> None:
    """Call scripts."""


@scripts.command("generate")
@click.option("--flow", "flow_name", help="The flow (default: the one the app answers with).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("tests/calls/generated"),
    show_default=True,
    help="Folder for the generated scripts (earlier generated ones there are replaced).",
)
@click.option(
    "--calls",
    type=click.Path(path_type=Path),
    default=Path("tests/calls"),
    show_default=True,
    help="Hand-written scripts: transitions they take need no generated script.",
)
@click.pass_obj
def generate(cli: CliContext, flow_name: str | None, out: Path, calls: Path) -> None:
    """Explore the flow with the demo callers; write scripts for transitions not yet taken."""
    with start_up_errors():
        local = local_simulators(cli.settings, isolated=True)
    runtime = local.runtime
    name = flow_name or runtime.flow_name
    if name not in runtime.flows:
        raise CliError(f"no flow {name!r}", f"pick one of {', '.join(sorted(runtime.flows))}")
    compiled = runtime.flows[name]
    _, transitions = compiled.shape()
    callers = [Caller(phone, who) for phone, who in DEMO_CALLERS]
    callers += [Caller(phone, who, CLOSED_HOUR, "closed") for phone, who in DEMO_CALLERS]
    started = time.monotonic()
    found = explore(compiled.flow, transitions, local, callers, ENTRIES)
    explored_s = time.monotonic() - started
    already = _hand_written(calls, out, local, name, FlowShape(*compiled.shape()))
    chosen = choose(found, already)
    written = write_scripts(compiled.flow, chosen, out, already)
    reasons = unreachable(compiled.flow, found, already)
    (out / "unreachable.json").write_text(unreachable_text(name, reasons), encoding="utf-8")
    click.echo(
        f"explored {name!r} with {found.count} calls in {explored_s:.0f} s:"
        f" they take {len(found.taken)} of its {len(transitions)} transitions;"
        f" the hand-written scripts take {len(already)}"
    )
    missed = found.taken - already
    click.echo(f"wrote {len(written)} script(s) to {out} for the {len(missed)} they miss")
    where = out / "unreachable.json"
    click.echo(f"{len(reasons)} unreachable transition(s), with reasons, in {where}:")
    for (source, target), reason in sorted(reasons.items()):
        click.echo(f"    {source} → {target}: {reason}")


def _hand_written(
    calls: Path, generated: Path, local: LocalSimulators, flow: str, shape: FlowShape
) -> frozenset[tuple[str, str]]:
    paths = [p for p in discover([calls]) if generated.resolve() not in p.resolve().parents]
    results = []
    for path in paths:
        try:
            script = load_script(path)
        except ScriptError:
            continue
        results.append(run_script(script, local()))
    report = coverage_report(results, {flow: shape})
    return report.flows[flow].visited_transitions
