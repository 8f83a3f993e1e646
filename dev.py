#!/usr/bin/env python3
"""Run the IVR or its checks from a fresh clone, with nothing but Python installed.

    python3 dev.py serve      create .venv if needed, install ivr, serve the demo IVR
    python3 dev.py test       the test suite (pytest on two workers, with branch coverage and
                              its floor), without the tests marked slow or faults
    python3 dev.py slow       only the tests marked slow (minutes long on purpose), no coverage
    python3 dev.py faults     only the fault-injection tests (marked faults), no coverage
    python3 dev.py lint       ruff (lint + format check), mypy and the import-linter contracts
    python3 dev.py check      every gate in order: lint, test, faults, slow
    python3 dev.py bench      the benchmarks in bench/
    python3 dev.py ivr ARGS   any `ivr` command inside the project's virtualenv

Extra arguments go to the tool (`python3 dev.py test -k webhooks -x`). The virtualenv is
reinstalled whenever pyproject.toml or requirements-dev.txt (the pinned tools) changes. Uses
only the standard library.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".ivr-installed"
# What the virtualenv is installed from: a change to either reinstalls it.
INSTALLED_FROM = ("pyproject.toml", "requirements-dev.txt")
TEST_WORKERS = 2
# pytest's exit code when no test was selected: a stage with no slow tests yet passes.
NO_TESTS_COLLECTED = 5


def ensure_venv() -> None:
    digest = hashlib.sha256()
    for name in INSTALLED_FROM:
        digest.update((ROOT / name).read_bytes())
    wanted = digest.hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("dev.py: creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing ivr and its development tools into .venv ...", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[dev]"]
        + ["-r", "requirements-dev.txt"]
    )
    STAMP.write_text(wanted)


def run(cmd: list[str], *, ok: frozenset[int] = frozenset({0})) -> None:
    code = subprocess.call(cmd, cwd=ROOT)
    if code not in ok:
        sys.exit(code)


def tool(name: str, *args: str, ok: frozenset[int] = frozenset({0})) -> None:
    run([str(PYTHON), "-m", name, *args], ok=ok)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "serve":
        os.execv(str(BIN / "ivr"), [str(BIN / "ivr"), "serve", *rest])
    elif command == "test":
        # Two workers (pytest-xdist) halve the time on a 2-core machine; `-n 0` after the
        # command runs in one process. Coverage settings, its floor included, are in
        # pyproject.toml.
        tool(
            "pytest",
            *("-n", str(TEST_WORKERS), "-m", "not slow and not faults"),
            *("--cov=ivr", "--cov-report=term:skip-covered"),
            *rest,
        )
    elif command == "slow":
        tool("pytest", "-m", "slow", *rest, ok=frozenset({0, NO_TESTS_COLLECTED}))
    elif command == "faults":
        tool("pytest", "-m", "faults", *rest)
    elif command == "lint":
        tool("ruff", "check", ".")
        tool("ruff", "format", "--check", ".")
        tool("mypy")
        run([str(BIN / "lint-imports")])
    elif command == "check":
        main(["lint"])
        main(["test", *rest])
        main(["faults"])
        main(["slow"])
    elif command == "bench":
        for script in sorted((ROOT / "bench").glob("*.py")):
            run([str(PYTHON), str(script), *rest])
    elif command == "ivr":
        os.execv(str(BIN / "ivr"), [str(BIN / "ivr"), *rest])
    else:
        sys.exit(
            f"dev.py: unknown command {command!r}; "
            "try: serve, test, slow, faults, lint, check, bench, ivr"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
