"""``ivr diff OLD [NEW]``: what changed between two versions of the flows, state by state.

Owns the command and turning its arguments into flow folders: an existing folder or flow file
as it is, anything else a git revision whose flows folder ``git archive`` writes into a
temporary folder (``ivr diff HEAD~1``: that revision against the working tree). Prints
``ivr.flow.diff``'s findings, the recordings they make stale (``media.recordings``) and the
call scripts that expect changed words or changed states (``testing.scripts``); optionally
the new flow's diagram with the changed states highlighted. Must not import ``ivr.cli.main``.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path

import click

from ivr.cli.context import CliContext
from ivr.cli.graph import compile_folder
from ivr.engine.diagram import flow_diagram
from ivr.engine.diagram import to_mermaid
from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.errors import ScriptError
from ivr.flow.diff import FlowDiff
from ivr.flow.diff import diff_flows
from ivr.media.recordings import AudioLibrary
from ivr.testing.scripts import Expect
from ivr.testing.scripts import ExpectState
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script


@contextmanager
def flows_at(spec: str, flows_dir: Path) -> Iterator[Path]:
    """``spec`` as a flows folder (or file): itself if it exists, else the git revision's
    copy of ``flows_dir``, in a temporary folder that lasts as long as the ``with``."""
    if Path(spec).exists():
        yield Path(spec)
        return
    folder = flows_dir.resolve()
    top = _git(["rev-parse", "--show-toplevel"], folder).decode().strip()
    relative = folder.relative_to(top).as_posix()
    archive = _git(["archive", "--format=tar", spec, "--", relative], Path(top))
    with tempfile.TemporaryDirectory(prefix="ivr-diff-") as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        yield Path(scratch) / relative


def _git(args: list[str], where: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=where, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise CliError("git is not installed", "give two flow folders instead") from exc
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise CliError(
            f"not a folder, and git says: {said[-1] if said else 'failed'}",
            "give a flows folder, a flow file or a git revision such as HEAD~1",
        )
    return done.stdout


@click.command()
@click.argument("old")
@click.argument("new", required=False)
@click.option(
    "--scripts",
    "scripts_dir",
    type=click.Path(path_type=Path),
    default=Path("tests/calls"),
    show_default=True,
    help="Call scripts to check for changed words and states.",
)
@click.option(
    "--graph",
    "graph_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the new flow's Mermaid diagram here, changed states highlighted.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["structure", "any"]),
    help="Exit 1 on structural changes (options, targets, routes, states), or on any change.",
)
@click.pass_obj
def diff(
    cli: CliContext,
    old: str,
    new: str | None,
    scripts_dir: Path,
    graph_out: Path | None,
    fail_on: str | None,
) -> None:
    """Compare two versions of the flows: OLD and NEW are flow folders, flow files or git
    revisions (NEW defaults to the flows folder as it is: `ivr diff HEAD~1`)."""
    flows_dir = cli.settings.flows_dir
    with flows_at(old, flows_dir) as before_dir, flows_at(new or str(flows_dir), flows_dir) as now:
        before, after = compile_folder(before_dir), compile_folder(now)
    library = _library(cli)
    structural = changed = False
    for name in sorted(set(before) | set(after)):
        if name not in after or name not in before:
            click.echo(f"flow {name}: {'removed' if name not in after else 'added'}")
            structural = changed = True
            continue
        found = diff_flows(before[name].flow, after[name].flow)
        click.echo(f"flow {name}: {before[name].version} → {after[name].version}")
        _echo(found, library, scripts_dir)
        structural |= found.structural
        changed |= not found.empty
        if graph_out is not None:
            highlight = [s.state for s in found.states if s.status != "removed"]
            graph_out.write_text(to_mermaid(flow_diagram(after[name]), highlight), "utf-8")
            click.echo(f"  diagram with {len(highlight)} changed state(s): {graph_out}")
    if (fail_on == "structure" and structural) or (fail_on == "any" and changed):
        click.echo(f"structural changes found (--fail-on {fail_on})", err=True)
        sys.exit(1)


def _library(cli: CliContext) -> AudioLibrary | None:
    with suppress(ConfigError):
        return AudioLibrary.open(cli.settings.audio_dir)
    return None


def _echo(found: FlowDiff, library: AudioLibrary | None, scripts_dir: Path) -> None:
    if found.empty:
        click.echo("  no changes")
        return
    for change in found.states:
        click.echo(f"  state {change.state} ({change.status})")
        for line in change.structure:
            click.echo(f"    {line}")
        for r in change.reworded:
            click.echo(f"    {r.where} {r.lang}: {r.marked}")
    for r in found.reworded:
        click.echo(f"  {r.where} {r.lang}: {r.marked}")
    if library is not None:
        stale = [p for p in found.stale if library.file_for(p.id, p.lang) is not None]
        click.echo(f"  recordings made stale: {len(stale)}")
        for p in stale:
            click.echo(f"    {p.lang} {p.id}  (`ivr prompts render` re-records it)")
    touched = _scripts_touching(found, scripts_dir)
    click.echo(f"  call scripts that expect changed words or states: {len(touched)}")
    for path in touched:
        click.echo(f"    {path}")


def _scripts_touching(found: FlowDiff, folder: Path) -> list[str]:
    """Scripts with an ``expect`` that overlaps words that changed (a literal stretch of the
    old text of at least two characters), or an ``expect_state`` of a changed state."""
    if not folder.exists():
        return []
    states = {s.state for s in found.states}
    pieces = {
        piece.strip()
        for text in found.old_texts
        for piece in _literal_pieces(text)
        if len(piece.strip()) >= 2
    }
    touched = []
    for path in discover([folder]):
        try:
            script = load_script(path)
        except ScriptError:
            continue  # `ivr replay` reports broken scripts; here they touch nothing
        for step in script.steps:
            if (isinstance(step, ExpectState) and step.state in states) or (
                isinstance(step, Expect) and any(p in step.text or step.text in p for p in pieces)
            ):
                touched.append(str(path))
                break
    return touched


def _literal_pieces(template: str) -> list[str]:
    """The words of a template around its ``{values}``."""
    return re.split(r"\{\w*\}", template)
