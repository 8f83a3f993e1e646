"""The one strict YAML reader (``ivr.yamlstrict``): what it refuses, and the lines it keeps.

Flows, call scripts and the audio manifest are all read by it; their own tests check how each
reader words a problem. Here: duplicate keys, the merge-key policy, YAML errors with file, line
and column, a bare ``on:``, and the line of every key path.
"""

from __future__ import annotations

import pytest
import yaml

from ivr.errors import YamlError
from ivr.yamlstrict import KeyLines
from ivr.yamlstrict import StrictLoader
from ivr.yamlstrict import load

FLOW = """\
start: main_menu
states:
  main_menu:
    type: menu
    options:
      - {key: "1", goto: goodbye}
      - key: "2"
        goto: agent
  goodbye:
    type: hangup
"""


def refusal(text: str) -> YamlError:
    with pytest.raises(YamlError) as caught:
        load(text, "flows/x.yaml")
    return caught.value


# -- what a document becomes ------------------------------------------------------------------


def test_a_document_reads_as_safe_load_reads_it() -> None:
    assert load(FLOW, "flows/x.yaml").data == yaml.safe_load(FLOW)


def test_every_key_and_list_item_keeps_the_line_it_was_written_on() -> None:
    lines = load(FLOW, "flows/x.yaml").lines

    assert lines.by_path == {
        "start": 1,
        "states": 2,
        "states.main_menu": 3,
        "states.main_menu.type": 4,
        "states.main_menu.options": 5,
        "states.main_menu.options[0]": 6,
        "states.main_menu.options[0].key": 6,
        "states.main_menu.options[0].goto": 6,
        "states.main_menu.options[1]": 7,
        "states.main_menu.options[1].key": 7,
        "states.main_menu.options[1].goto": 8,
        "states.goodbye": 9,
        "states.goodbye.type": 10,
    }


def test_a_missing_key_is_found_at_its_nearest_written_parent() -> None:
    lines = load(FLOW, "flows/x.yaml").lines

    assert lines.line_of("states.goodbye.prompt") == 9
    assert lines.line_of("states.main_menu.options[1].label.en-US") == 7
    assert lines.line_of("retry.attempts") is None
    assert lines.line_of("") is None


def test_no_lines_are_known_without_a_document() -> None:
    assert KeyLines().line_of("states.main_menu") is None


def test_an_empty_document_is_none() -> None:
    document = load("# nothing here yet\n", "flows/x.yaml")

    assert (document.data, document.lines.by_path) == (None, {})


def test_a_bare_on_key_is_read_as_true_but_indexed_as_written() -> None:
    document = load("goodbye:\n  on: {next: agent}\n", "flows/x.yaml")

    assert document.data == {"goodbye": {True: {"next": "agent"}}}
    assert document.lines.line_of("goodbye.on") == 2
    assert document.lines.line_of("goodbye.on.next") == 2


def test_a_path_through_an_alias_is_found_where_the_alias_is_used() -> None:
    document = load("hello: &hi {zh-CN: 您好}\nagain: *hi\n", "flows/x.yaml")

    assert document.data == {"hello": {"zh-CN": "您好"}, "again": {"zh-CN": "您好"}}
    assert document.lines.line_of("hello.zh-CN") == 1
    assert document.lines.line_of("again.zh-CN") == 2


def test_a_recursive_alias_is_read_without_looping() -> None:
    document = load("loop: &x [1, *x]\n", "flows/x.yaml")

    assert document.data["loop"][1] is document.data["loop"]
    assert document.lines.by_path == {"loop": 1, "loop[0]": 1, "loop[1]": 1}


# -- keys written twice ---------------------------------------------------------------------------


def test_a_key_written_twice_is_refused_naming_its_path_and_both_lines() -> None:
    error = refusal(FLOW + "    type: transfer\n")

    assert (error.file, error.line, error.column, error.key) == (
        "flows/x.yaml",
        11,
        5,
        "states.goodbye.type",
    )
    assert str(error) == (
        "flows/x.yaml:11:5: states.goodbye.type: not valid YAML: key 'type' is written twice "
        "in one mapping (first on line 10)"
    )


def test_a_key_written_twice_in_another_spelling_is_refused_naming_both() -> None:
    error = refusal("on: 1\ntrue: 2\n")

    assert error.problem == "key 'true' is written twice in one mapping (first on line 1 as 'on')"


def test_the_same_key_in_two_mappings_is_no_duplicate() -> None:
    assert load("a: {type: x}\nb: {type: y}\n", "flows/x.yaml").data == {
        "a": {"type": "x"},
        "b": {"type": "y"},
    }


def test_the_loader_used_directly_refuses_a_key_written_twice_too() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="'a' is written twice"):
        yaml.load("a: 1\na: 2\n", Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


# -- merge keys -----------------------------------------------------------------------------------


def test_a_merged_mapping_may_be_overridden_by_the_mappings_own_keys() -> None:
    text = (
        "goodbye: &goodbye\n"
        "  type: hangup\n"
        "  prompt: {en-US: Goodbye.}\n"
        "farewell:\n"
        "  <<: *goodbye\n"
        "  prompt: {en-US: Farewell.}\n"
    )

    document = load(text, "flows/x.yaml")

    assert document.data["farewell"] == {"type": "hangup", "prompt": {"en-US": "Farewell."}}
    assert document.lines.line_of("farewell.prompt") == 6
    assert document.lines.line_of("farewell.type") == 4  # merged: found at the merging key


def test_a_key_written_twice_beside_a_merge_is_still_refused() -> None:
    error = refusal("base: &b {x: 1}\nboth:\n  <<: *b\n  y: 2\n  y: 3\n")

    assert (error.line, error.key) == (5, "both.y")


# -- YAML errors ----------------------------------------------------------------------------------


def test_bad_yaml_is_a_yaml_error_with_file_line_and_column() -> None:
    error = refusal("steps: [hangup\n")

    assert (error.file, error.line, error.column, error.key) == ("flows/x.yaml", 2, 1, "")
    assert str(error) == (
        "flows/x.yaml:2:1: not valid YAML: expected ',' or ']', but got '<stream end>'"
    )


def test_a_tab_indentation_is_a_yaml_error_at_the_tab() -> None:
    error = refusal("states:\n\tmain_menu: {}\n")

    assert (error.line, error.column) == (2, 1)
    assert error.problem == (
        "a tab character; line 2 is indented with a tab: indent with spaces only"
    )


def test_a_tab_after_spaces_is_named_at_the_tab() -> None:
    error = refusal("states:\n  a:\n  \tb: 1\n")

    assert str(error) == (
        "flows/x.yaml:3:3: not valid YAML: a tab character; "
        "line 3 is indented with a tab: indent with spaces only"
    )


def test_indentation_that_does_not_line_up_says_so_and_how_keys_line_up() -> None:
    error = refusal("states:\n  a:\n    type: menu\n   prompt: x\n")

    assert str(error) == (
        "flows/x.yaml:4:4: not valid YAML: the indentation does not line up; check line 4 and "
        "the line above: keys of one mapping start in the same column, each level indented by "
        "spaces (YAML does not allow tabs)"
    )


def test_a_full_width_colon_after_a_key_is_named_on_its_own_line() -> None:
    # The parser stops on line 3; the cause, typed on a Chinese keyboard, is on line 2.
    error = refusal("states:\n  main_menu：\n    type: menu\n")

    assert str(error) == (
        "flows/x.yaml:2:12: not valid YAML: a ':' where YAML expected none; after 'main_menu' "
        "is a full-width colon '：' (a Chinese keyboard types it): write the ASCII colon ':' "
        "and a space"
    )


def test_a_full_width_colon_inside_chinese_text_is_not_blamed() -> None:
    document = load("states:\n  a:\n    prompt: 您好：请按1\n", "flows/x.yaml")

    assert document.data == {"states": {"a": {"prompt": "您好：请按1"}}}


def test_a_colon_without_a_space_is_named_with_the_fix() -> None:
    error = refusal("states:\n  a:\n    type:menu\n    prompt: x\n")

    assert (error.line, error.column) == (3, 9)
    assert error.problem == (
        "a ':' where YAML expected none; 'type:menu' needs a space after the colon: 'type: menu'"
    )


def test_an_unquoted_value_holding_a_colon_is_told_to_be_quoted() -> None:
    error = refusal("text: a: b\n")

    assert error.problem == (
        "a ':' where YAML expected none; a value holding ': ' must be quoted, like 'text: \"a: b\"'"
    )


def test_python_objects_are_refused_as_safe_load_refuses_them() -> None:
    error = refusal("x: !!python/object/apply:os.system [echo hi]\n")

    assert error.line == 1
    assert error.problem.startswith("could not determine a constructor for the tag")


def test_two_documents_in_one_file_are_refused() -> None:
    error = refusal("a: 1\n---\nb: 2\n")

    assert (error.line, error.problem) == (2, "but found another document")


def test_a_character_yaml_does_not_allow_is_a_yaml_error_without_a_line() -> None:
    error = refusal("a: \x00\n")

    assert (error.line, error.column) == (None, None)
    assert str(error).startswith("flows/x.yaml: not valid YAML: unacceptable character #x0000")
