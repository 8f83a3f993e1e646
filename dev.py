#!/usr/bin/env python3
"""Run the IVR or its checks from a fresh clone, with nothing but Python installed.

    python3 dev.py serve      create .venv if needed, install ivr, serve the demo IVR
    python3 dev.py test       the test suite (pytest, with branch coverage)
    python3 dev.py lint       ruff (lint + format check), mypy and the import-linter contracts
    python3 dev.py check      every gate in order: lint, then test  (what CI runs)
    python3 dev.py bench      the benchmarks in bench/
    python3 dev.py ivr ARGS   any `ivr` command inside the project's virtualenv

The virtualenv is reinstalled whenever pyproject.toml changes. Uses only the standard library.
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


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("dev.py: creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing ivr and its development tools into .venv ...", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[dev]"])
    STAMP.write_text(wanted)


def run(cmd: list[str]) -> None:
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0:
        sys.exit(code)


def tool(name: str, *args: str) -> None:
    run([str(PYTHON), "-m", name, *args])


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "serve":
        os.execv(str(BIN / "ivr"), [str(BIN / "ivr"), "serve", *rest])
    elif command == "test":
        tool("pytest", "--cov=ivr", "--cov-branch", "--cov-report=term:skip-covered", *rest)
    elif command == "lint":
        tool("ruff", "check", ".")
        tool("ruff", "format", "--check", ".")
        tool("mypy")
        run([str(BIN / "lint-imports")])
    elif command == "check":
        main(["lint"])
        main(["test", *rest])
    elif command == "bench":
        for script in sorted((ROOT / "bench").glob("*.py")):
            run([str(PYTHON), str(script), *rest])
    elif command == "ivr":
        os.execv(str(BIN / "ivr"), [str(BIN / "ivr"), *rest])
    else:
        sys.exit(f"dev.py: unknown command {command!r}; try: serve, test, lint, check, bench, ivr")


if __name__ == "__main__":
    main(sys.argv[1:])
