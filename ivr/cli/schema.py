"""``ivr schema flow|script`` (JSON Schemas for editors) and the ``ivr check --actions`` listing.

Owns the command, ``schemas`` (name → schema, with the hotline's registered actions and guards
in the flow schema) and ``echo_actions``. The schemas themselves are ``ivr.flow.schema``'s and
``ivr.testing.script_schema``'s; the descriptions ``ivr.engine.vocabulary``'s. Must not import
``ivr.cli.main``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from ivr.engine.vocabulary import Named
from ivr.engine.vocabulary import describe
from ivr.flow.schema import flow_schema
from ivr.hotline.actions import hotline
from ivr.testing.script_schema import script_schema

SCHEMA_FILES = {"flow": "flow.schema.json", "script": "call-script.schema.json"}


def schemas() -> dict[str, dict[str, Any]]:
    named = describe(hotline)
    actions = {n.name: _description(n) for n in named if n.kind == "action"}
    guards = {n.name: _description(n) for n in named if n.kind == "guard"}
    return {"flow": flow_schema(actions, guards), "script": script_schema()}


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def _description(named: Named) -> str:
    parts = [named.signature]
    if named.provides:
        parts.append("provides " + ", ".join(f"{{{v}}}" for v in named.provides))
    if named.sends:
        parts.append("sends " + ", ".join(f"messages.{m}" for m in named.sends))
    text = "; ".join(parts)
    return f"{text}. {named.summary}" if named.summary else text


@click.command()
@click.argument("which", type=click.Choice(sorted(SCHEMA_FILES)))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def schema(which: str, out: Path | None) -> None:
    """Print the JSON Schema of flow files or of call scripts (for editors). The committed
    copies live in docs/schemas/; flows point at theirs on their first line."""
    text = schema_text(schemas()[which])
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


def echo_actions(named: Iterable[Named]) -> None:
    """``ivr check --actions``: each name with its argument, {values}, messages and uses."""
    listed = list(named)
    for kind, key in (("action", "do:"), ("guard", "when:")):
        group = [n for n in listed if n.kind == kind]
        click.echo(f"{kind}s ({len(group)}), for {key}")
        for n in group:
            line = f"  {n.signature}"
            if n.provides:
                line += "  → " + " ".join(f"{{{v}}}" for v in n.provides)
            if n.sends:
                line += "  sends " + ", ".join(f"messages.{m}" for m in n.sends)
            click.echo(line)
            if n.summary:
                click.echo(f"      {n.summary}")
            if not n.used_at:
                click.echo("      not used")
            for file, path in n.used_at:
                click.echo(f"      used at {_relative(file)}: {path}")


def _relative(file: str) -> str:
    path = Path(file)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else file
