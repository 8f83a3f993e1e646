"""The one YAML reader for every YAML file ``ivr`` reads: flows, call scripts, the audio manifest.

Owns what reading YAML strictly means here:

- PyYAML's safe loader (no Python objects), refusing a key written twice in one mapping and
  naming it with both lines: ``safe_load`` silently keeps the last, so a copied state or step
  would replace the first without a word.
- One merge-key policy: ``<<: *anchor`` is allowed, and a key the mapping writes itself
  overrides the merged one (that is what merging is for). Only the mapping's own keys are
  checked for duplicates.
- YAML errors as ``ivr.errors.YamlError`` with the file, line and column (1-based), and the key
  path when the problem is a key. A syntax error is said in plain words with a hint for the
  usual causes, pointing at the line that holds the cause (often the one above where the
  parser stopped): indentation that does not line up, a tab, a full-width colon ``：`` typed
  on a Chinese keyboard, a colon without a space after it, an unquoted value holding ``: ``.
- ``KeyLines``: the line each key and list item was written on, by key path, so a reader that
  finds a problem later (an unknown key, a wrong type) can name the file, line and key.

Key paths are written as the readers write them: ``states.main_menu.options[0].key``. A key is
named as it is written, so a bare ``on:`` (which YAML 1.1, and so PyYAML, reads as ``True``) is
``on`` in a path. What the keys mean is each reader's business, not this module's.

Kernel: imports PyYAML and ``ivr.errors`` only.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import yaml

from ivr.errors import YamlError

MERGE_TAG = "tag:yaml.org,2002:merge"

_MAPPING_VALUES = "mapping values are not allowed here"
# The parser's words for the usual syntax errors, in plain words.
_PLAIN = {
    "expected <block end>, but found '<block mapping start>'": "the indentation does not line up",
    "expected <block end>, but found '<block sequence start>'": "the indentation does not line up",
    _MAPPING_VALUES: "a ':' where YAML expected none",
    "found character '\\t' that cannot start any token": "a tab character",
}
_INDENTATION = (
    "keys of one mapping start in the same column, each level indented by spaces "
    "(YAML does not allow tabs)"
)
# A key written with a full-width colon (Chinese keyboards type ： for :), or with ':' and
# no space after it, at the start of a line or of a list item.
_FULL_WIDTH_KEY = re.compile(r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w.-]*)\s*：")
_NO_SPACE_KEY = re.compile(r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^\s:/][^\s]*)")
_VALUE_WITH_COLON = re.compile(r"^\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s+[^'\"\s{\[][^#]*:\s")


@dataclass(frozen=True)
class KeyLines:
    """The line (1-based) each key and list item of a document was written on, by key path.

    A mapping merged in with ``<<`` is indexed where it is written (at its anchor); paths
    through it, and through any alias, are found at the nearest key written along the way.
    """

    by_path: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, else of its nearest enclosing key or item that is written in
        the file (a missing key is found at its parent); None when there is none."""
        while path:
            line = self.by_path.get(path)
            if line is not None:
                return line
            path = _parent(path)
        return None


@dataclass(frozen=True)
class Document:
    """One YAML document: its data (dicts, lists, scalars) and where each key was written."""

    data: Any
    lines: KeyLines


class _Strict:
    """Refuses a key written twice in one mapping; mixed into a PyYAML safe loader.

    ``load`` fills ``key_paths`` before constructing, so that refusal can name the key path;
    used directly (``yaml.load(text, Loader=StrictLoader)``) it still refuses, naming the line.
    """

    key_paths: dict[int, str]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_of: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue  # merged keys may be overridden by the mapping's own, on purpose
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            try:
                first = first_of.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: SafeLoader refuses it below, with its own words
            if first is not key_node:
                raise _KeyWrittenTwice(first, key_node, self.key_paths.get(id(key_node), ""))
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc, no-any-return]


class StrictLoader(_Strict, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, strict: its error messages are the ones
    ``explain_syntax_error`` knows, so every error is reported through it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_paths = {}  # id of a key's node -> its key path


# libyaml parses about ten times faster (flows and the audio manifest are read at every app
# start); a document it refuses is read again by ``StrictLoader`` for the familiar messages.
_FastLoader: type[Any] | None = None
if yaml.__with_libyaml__:

    class _CStrictLoader(_Strict, yaml.CSafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.key_paths = {}

    _FastLoader = _CStrictLoader


class _KeyWrittenTwice(yaml.constructor.ConstructorError):
    def __init__(self, first: yaml.Node, again: yaml.Node, path: str) -> None:
        written = f" as {first.value!r}" if first.value != again.value else ""
        super().__init__(
            None,
            None,
            f"key {again.value!r} is written twice in one mapping "
            f"(first on line {first.start_mark.line + 1}{written})",
            again.start_mark,
        )
        self.path = path


def load(text: str, file: str) -> Document:
    """Read one YAML document strictly; ``file`` names it in a ``YamlError``.

    An empty document (nothing, or only comments) has the data None.
    """
    if _FastLoader is not None:
        try:
            return _read(_FastLoader(text))
        except yaml.YAMLError:
            pass  # read it again below, for the pure-Python parser's words
    try:
        return _read(StrictLoader(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        if isinstance(exc, _KeyWrittenTwice):
            raise YamlError(file, line, column, exc.path, exc.problem or str(exc)) from None
        problem = exc.problem or str(exc)
        if line is not None:
            line, column, problem = explain_syntax_error(text, line, column, problem)
        raise YamlError(file, line, column, "", problem) from None
    except yaml.YAMLError as exc:
        # Unmarked: a character YAML does not allow (a NUL, a control character).
        raise YamlError(file, None, None, "", str(exc).split("\n")[0]) from None


def _read(loader: Any) -> Document:
    """The document ``loader`` holds, with its key lines; the loader is disposed of."""
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, KeyLines())
        lines = KeyLines(_index(node, loader.key_paths))
        return Document(loader.construct_document(node), lines)
    finally:
        loader.dispose()


def explain_syntax_error(
    text: str, line: int, column: int | None, problem: str
) -> tuple[int, int | None, str]:
    """The parser's ``problem`` at ``line``/``column`` in plain words with a hint for the
    usual cause, and where that cause is: the line the parser stopped at, or the one above
    (a key typed wrongly is only noticed on the next line)."""
    plain = _PLAIN.get(problem, problem)
    lines = text.splitlines()
    for number in (line, line - 1):
        if not 1 <= number <= len(lines):
            continue
        written = lines[number - 1]
        indent = written[: len(written) - len(written.lstrip())]
        if "\t" in indent:
            where = indent.index("\t") + 1
            hint = f"line {number} is indented with a tab: indent with spaces only"
            return number, where, f"{plain}; {hint}"
        if found := _FULL_WIDTH_KEY.match(written):
            hint = (
                f"after {found['key']!r} is a full-width colon '：' (a Chinese keyboard types "
                "it): write the ASCII colon ':' and a space"
            )
            return number, written.index("：") + 1, f"{plain}; {hint}"
        if found := _NO_SPACE_KEY.match(written):
            key, value = found["key"], found["value"]
            hint = f"'{key}:{value}' needs a space after the colon: '{key}: {value}'"
            return number, written.index(":") + 1, f"{plain}; {hint}"
        if number == line and problem == _MAPPING_VALUES and _VALUE_WITH_COLON.match(written):
            hint = "a value holding ': ' must be quoted, like 'text: \"a: b\"'"
            return number, column, f"{plain}; {hint}"
    if plain != problem or "expected <block end>" in problem or "expected key" in problem:
        return line, column, f"{plain}; check line {line} and the line above: {_INDENTATION}"
    return line, column, problem


def _index(root: yaml.Node, key_paths: dict[int, str]) -> dict[str, int]:
    """Every key path of the document and the line it was written on; ``key_paths`` gets the
    path of each key's node. Walks each node once, in document order, so an alias or a merged
    anchor is indexed where the anchor is written (and a recursive alias cannot loop)."""
    lines: dict[str, int] = {}
    seen: set[int] = set()
    todo: list[tuple[str, yaml.Node]] = [("", root)]
    while todo:
        path, node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[str, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                lines.setdefault(child, key_node.start_mark.line + 1)
                key_paths[id(key_node)] = child
                children.append((child, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = f"{path}[{i}]"
                lines.setdefault(child, item.start_mark.line + 1)
                children.append((child, item))
        todo.extend(reversed(children))  # popped in document order
    return lines


def _parent(path: str) -> str:
    """``a.b[0].c`` → ``a.b[0]`` → ``a.b`` → ``a`` → ``""``."""
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""
