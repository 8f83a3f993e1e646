"""The house rules, checked: the layers hold, the core never imports Flask, no cycles.

The import-linter contracts in pyproject.toml are the rules; `lint-imports` runs in
`python3 dev.py lint` (and so in CI). These tests prove the same facts at run time, by
importing every module of the core in a clean interpreter.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ivr

ROOT = Path(__file__).resolve().parent.parent
CORE = ("flow", "engine", "voice", "wallet", "media", "telephony", "stores", "hotline", "planning")
KERNEL = ("errors", "clock", "settings", "db", "masking", "phones", "yamlstrict")


def _modules(*packages: str) -> list[str]:
    names = []
    for package in packages:
        names.append(f"ivr.{package}")
        path = [str(Path(ivr.__file__).parent / package)]
        names += [m.name for m in pkgutil.walk_packages(path, prefix=f"ivr.{package}.")]
    return sorted(names)


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_every_core_module_imports_without_flask() -> None:
    modules = _modules(*CORE) + [f"ivr.{m}" for m in KERNEL]
    assert len(modules) > 30  # the walk found the tree, not an empty folder

    loaded = _imported_after(modules)

    assert "flask" not in loaded
    assert set(modules) <= loaded


def test_the_simulator_and_scripts_know_nothing_of_the_engine_flows_web_or_stores() -> None:
    loaded = _imported_after(["ivr.testing.simulator", "ivr.testing.scripts"])

    below = {m.split(".")[1] for m in loaded if m.startswith("ivr.") and m.count(".") >= 1}
    assert below.isdisjoint({"engine", "flow", "web", "stores"}), sorted(below)
    assert "flask" not in loaded


def test_the_package_root_resolves_its_public_names_lazily() -> None:
    loaded = _imported_after(["ivr"])
    assert "flask" not in loaded
    assert set(ivr.__all__) >= {"create_app", "Simulator", "load_script", "run_script", "IvrError"}
    for name in ivr.__all__:
        assert getattr(ivr, name) is not None


def test_an_unknown_public_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ivr.nope  # noqa: B018


def test_the_import_contracts_hold() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    if not linter.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    out = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_every_module_has_its_line_in_the_contributing_module_map() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    package = Path(ivr.__file__).parent
    modules = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.name != "__init__.py" and "migrations" not in p.parts
    )
    assert len(modules) > 50

    missing = [m for m in modules if f"`{m}`" not in text]

    assert missing == []
