"""``ivr graph``: draw a flow (Mermaid, DOT, SVG, PNG), and finding one flow to draw or compare.

Owns the command and ``compile_one``, which ``ivr diff`` and ``ivr check --actions`` share:
a flow by name from a folder, or a flow file on its own, compiled against the hotline's
actions, or a ``CliError`` listing its problems. The drawing itself is
``ivr.engine.diagram``'s. Must not import ``ivr.cli.main``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from ivr.cli.context import CliContext
from ivr.engine.catalog import check_flows
from ivr.engine.compile import CompiledFlow
from ivr.engine.diagram import FORMATS
from ivr.engine.diagram import GraphvizNotFoundError
from ivr.engine.diagram import flow_diagram
from ivr.engine.diagram import render_image
from ivr.engine.diagram import to_dot
from ivr.engine.diagram import to_mermaid
from ivr.errors import CliError
from ivr.hotline.actions import hotline
from ivr.voice.languages import CODES

GRAPHVIZ_HINT = (
    "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz),"
    " or use --format mermaid, which needs nothing"
)


def compile_folder(folder: Path) -> dict[str, CompiledFlow]:
    """Every flow of ``folder`` (or the one flow file ``folder`` names), or a ``CliError``."""
    if folder.is_file():
        return _compile_file(folder)
    compiled, problems = check_flows(folder, hotline)
    if problems:
        listed = "\n  ".join(str(p) for p in problems)
        raise CliError(f"{len(problems)} problem(s) in {folder}:\n  {listed}", "run `ivr check`")
    return compiled


def _compile_file(path: Path) -> dict[str, CompiledFlow]:
    # check_flows reads folders: give it one holding only this file.
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        copy.write_bytes(path.read_bytes())
        compiled, problems = check_flows(Path(scratch), hotline)
    if problems:
        listed = "\n  ".join(str(p).replace(str(copy), str(path)) for p in problems)
        raise CliError(f"{len(problems)} problem(s) in {path}:\n  {listed}", "run `ivr check`")
    return compiled


def compile_one(cli: CliContext, flow: str | None) -> CompiledFlow:
    """``flow``: a flow file, or a flow's name in the flows folder (default: ``IVR_FLOW``)."""
    if flow is not None and (flow.endswith((".yaml", ".yml")) or Path(flow).is_file()):
        path = Path(flow)
        if not path.is_file():
            raise CliError(f"no such flow file: {path}", "give a flow's name or its file")
        return next(iter(compile_folder(path).values()))
    flows = compile_folder(cli.settings.flows_dir)
    name = flow or cli.settings.flow
    if name not in flows:
        raise CliError(
            f"no flow named {name!r} in {cli.settings.flows_dir}",
            f"pick one of: {', '.join(sorted(flows))} (or give a flow file)",
        )
    return flows[name]


@click.command()
@click.argument("flow", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="mermaid",
    show_default=True,
    help="mermaid and dot are text; svg and png need Graphviz's `dot` program.",
)
@click.option(
    "--lang", type=click.Choice(CODES), help="Language of the option labels (default: the flow's)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def graph(cli: CliContext, flow: str | None, fmt: str, lang: str | None, out: Path | None) -> None:
    """Draw a flow: its states by type, each key's edge with its label, and the edges every
    waiting state gets (agent, repeat, back, retries) and the queue's results, dotted.

    FLOW is a flow's name in the flows folder (default: IVR_FLOW) or a flow file."""
    compiled = compile_one(cli, flow)
    if lang is not None and lang not in compiled.flow.languages:
        raise CliError(
            f"flow {compiled.flow.name!r} is not in {lang}",
            f"use one of: {', '.join(compiled.flow.languages)}",
        )
    diagram = flow_diagram(compiled, lang)
    data: bytes
    if fmt == "mermaid":
        data = to_mermaid(diagram).encode("utf-8")
    elif fmt == "dot":
        data = to_dot(diagram).encode("utf-8")
    else:
        try:
            data = render_image(to_dot(diagram), fmt)
        except GraphvizNotFoundError as exc:
            raise CliError(
                f"--format {fmt} needs Graphviz's `dot` program, which is not installed",
                GRAPHVIZ_HINT,
            ) from exc
    if out is not None:
        out.write_bytes(data)
        click.echo(f"wrote {out} ({fmt}, flow {compiled.flow.name!r})", err=True)
    elif fmt in {"svg", "png"} and sys.stdout.isatty():
        raise CliError(f"{fmt} is binary: not for a terminal", f"add --out diagram.{fmt}")
    else:
        click.echo(data, nl=False)
