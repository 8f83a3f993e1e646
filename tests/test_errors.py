"""The exception tree (``ivr.errors``): complete, in one place, and drawn as it is.

Every exception class ``ivr`` defines lives in ``ivr.errors``, derives from ``IvrError`` and
appears in the module docstring's tree under its real parent, with the data attributes the
drawing promises. Private signals (a leading underscore) never leave the module that raises
them, so they are not part of the tree.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import ivr
from ivr import errors
from ivr.errors import IvrError
from ivr.errors import Problem
from ivr.errors import ScriptError
from ivr.errors import StaleSession
from ivr.errors import ToolMissing
from ivr.errors import TwilioSetupProblem
from ivr.errors import YamlError

# A line of the drawing: the branches, a class name, then what it carries and means.
_DRAWN = re.compile(r"^(?P<branches>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w+)(?P<rest>.*)$")


def exception_classes() -> dict[str, type[BaseException]]:
    """Every public exception class defined anywhere in ``ivr``, by ``module.Name``."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(ivr.__path__, "ivr."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def drawn_tree() -> dict[str, tuple[str | None, str]]:
    """The docstring's tree: each class name → (its parent's name, the text after it)."""
    doc = errors.__doc__ or ""
    drawing = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    tree: dict[str, tuple[str | None, str]] = {}
    parents: list[str] = []
    for line in drawing.splitlines():
        found = _DRAWN.match(line.removeprefix("    "))  # the drawing is indented four spaces
        assert found is not None, f"not a line of the tree: {line!r}"
        depth = len(found["branches"]) // 4
        del parents[depth:]
        tree[found["name"]] = (parents[-1] if parents else None, found["rest"])
        parents.append(found["name"])
    return tree


def test_every_exception_class_of_ivr_is_defined_in_the_errors_module() -> None:
    elsewhere = sorted(
        where for where in exception_classes() if not where.startswith("ivr.errors.")
    )

    assert elsewhere == []


def test_every_exception_class_derives_from_ivr_error() -> None:
    outside = sorted(
        where for where, cls in exception_classes().items() if not issubclass(cls, IvrError)
    )

    assert outside == []


def test_the_docstring_draws_every_exception_class_under_its_real_parent() -> None:
    # The parent in the tree: the base that is an IvrError (CliError is a ClickException too).
    real = {
        cls.__name__: (
            None
            if cls is IvrError
            else next(b for b in cls.__bases__ if issubclass(b, IvrError)).__name__
        )
        for cls in exception_classes().values()
    }

    assert {name: parent for name, (parent, _) in drawn_tree().items()} == real


def test_the_data_attributes_the_drawing_names_are_set_by_each_class() -> None:
    classes = {cls.__name__: cls for cls in exception_classes().values()}
    missing = [
        f"{name}.{attribute}"
        for name, (_, rest) in drawn_tree().items()
        for attribute in re.findall(r"\.(\w+)", rest.split(":")[0])
        if f"self.{attribute} = " not in inspect.getsource(classes[name])
    ]

    assert missing == []


# -- the moved classes keep their data ----------------------------------------------------------


def test_a_stale_session_says_which_call_and_which_versions() -> None:
    error = StaleSession("CA1", 3, None)

    assert (error.call_sid, error.expected, error.found) == ("CA1", 3, None)
    assert str(error) == (
        "call CA1: session saved at version 3 but found no stored session; another request "
        "saved in between (hold store.lock() around load and save)"
    )


def test_missing_tools_are_named_with_how_to_install_them() -> None:
    error = ToolMissing(["espeak-ng", "sox"], "install them")

    assert (error.tools, error.install) == (("espeak-ng", "sox"), "install them")
    assert str(error) == "espeak-ng and sox not found on PATH; install them"


def test_a_twilio_setup_problem_carries_its_hint_and_code() -> None:
    error = TwilioSetupProblem("number not found", "buy one", code=21452)

    assert (str(error), error.hint, error.code) == ("number not found", "buy one", 21452)


# -- where a problem is -------------------------------------------------------------------------


def test_a_problem_names_file_line_and_key_path_as_editors_link_them() -> None:
    assert str(Problem("flows/hotline.yaml", "states.main_menu.optoins", "unknown", 42)) == (
        "flows/hotline.yaml:42: states.main_menu.optoins: unknown"
    )
    assert str(Problem("flows/x.yaml", "", "not valid YAML: x", 3, 7)) == (
        "flows/x.yaml:3:7: not valid YAML: x"
    )
    assert str(Problem("flows", "", "no flow files (*.yaml) here")) == (
        "flows: no flow files (*.yaml) here"
    )


def test_a_script_error_names_file_line_and_key() -> None:
    error = ScriptError("calls/x.yaml", "steps[0].press", "must be text", line=4)

    assert (error.path, error.key, error.message, error.line) == (
        "calls/x.yaml",
        "steps[0].press",
        "must be text",
        4,
    )
    assert str(error) == "calls/x.yaml:4: steps[0].press: must be text"


def test_a_yaml_error_names_file_line_column_and_key() -> None:
    error = YamlError("m.yaml", 3, 3, "recordings.a", "key 'a' is written twice")

    assert str(error) == "m.yaml:3:3: recordings.a: not valid YAML: key 'a' is written twice"
