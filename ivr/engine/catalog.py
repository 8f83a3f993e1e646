"""Every flow in a folder: loaded, validated and compiled, with all problems reported at once.

Owns the step from a ``flows/`` folder to ready-to-run ``CompiledFlow`` classes, used by the
app factory at start-up and by ``ivr check``. Depends on ``flow.loader``, ``flow.validation``,
``engine.compile`` and a ``Registry``; nothing here knows about the web.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ivr.engine.compile import CompiledFlow
from ivr.engine.compile import compile_flow
from ivr.engine.registry import Registry
from ivr.engine.understand import prepare
from ivr.errors import FlowValidationError
from ivr.errors import Problem
from ivr.flow.loader import parse_flow
from ivr.flow.validation import validate


def flow_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def check_flows(folder: Path, registry: Registry) -> tuple[dict[str, CompiledFlow], list[Problem]]:
    """Compile every flow in ``folder``; return those that compiled and every problem found."""
    if not folder.is_dir():
        return {}, [
            Problem(str(folder), "", "no such folder (set IVR_FLOWS_DIR to your flows folder)")
        ]
    files = flow_files(folder)
    if not files:
        return {}, [Problem(str(folder), "", "no flow files (*.yaml) here")]
    compiled: dict[str, CompiledFlow] = {}
    problems: list[Problem] = []
    signatures = registry.signatures()
    files_by_name: dict[str, Path] = {}
    for path in files:
        flow, found = parse_flow(path)
        problems.extend(found)
        if flow is None:
            continue
        # Checked even when either file has other problems: both would need fixing anyway.
        other = files_by_name.setdefault(flow.name, path)
        if other != path:
            problems.append(
                Problem(str(path), "flow", f"flow name {flow.name!r} is already used by {other}")
            )
        if found:
            continue
        invalid = validate(flow, signatures)
        problems.extend(invalid)
        if invalid or other != path:
            continue
        try:
            compiled[flow.name] = compile_flow(flow, registry)
        except FlowValidationError as exc:
            problems.extend(exc.problems)
    return compiled, problems


def load_flows(
    folder: Path, registry: Registry, *, matcher: str = "rules", cache: Path | None = None
) -> dict[str, CompiledFlow]:
    """Compile every flow or raise ``FlowValidationError`` listing every problem. Speech is
    understood by ``matcher`` (``understand.MATCHERS``): models are trained now, or read from
    ``cache``."""
    compiled, problems = check_flows(folder, registry)
    if problems:
        raise FlowValidationError(problems)
    if matcher == "rules":
        return compiled
    return {
        name: dataclasses.replace(c, understanding=prepare(c.flow, matcher, cache))
        for name, c in compiled.items()
    }
