"""Strict loading of flow files (``ivr.flow.loader``): what a file turns into, and what it is refused for.

The catalogue of invalid flows, one file per problem, is exercised by ``test_validation``; here
are the loader's own promises: defaults, types, paths in messages, every problem collected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import FlowValidationError
from ivr.errors import Problem
from ivr.flow.loader import STATE_KEYS
from ivr.flow.loader import load_flow
from ivr.flow.loader import parse_flow
from ivr.flow.spec import Call
from ivr.flow.spec import Gather
from ivr.flow.spec import Hints
from ivr.flow.spec import Keys
from ivr.flow.spec import RecordSpec
from ivr.flow.spec import Route

HERE = Path(__file__).parent
MINIMAL = HERE / "flows" / "valid" / "minimal.yaml"
HOTLINE = HERE.parent / "flows" / "hotline.yaml"


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def minimal_with(tmp_path: Path, old: str, new: str) -> Path:
    """The minimal flow with one piece of text replaced (which must be there)."""
    text = MINIMAL.read_text(encoding="utf-8")
    assert old in text
    return write(tmp_path, text.replace(old, new, 1))


def problems_of(path: Path) -> list[str]:
    """Every problem of one file as ``path: message`` (the file name checked, then left out)."""
    _, problems = parse_flow(path)
    assert {p.file for p in problems} <= {str(path)}
    return [f"{p.path}: {p.message}" if p.path else p.message for p in problems]


# -- what a valid file becomes ----------------------------------------------------------------


def test_minimal_flow_loads_with_defaults_for_what_it_leaves_out() -> None:
    flow = load_flow(MINIMAL)

    assert flow.name == "minimal"
    assert flow.file == str(MINIMAL)
    assert flow.start == "main_menu"
    assert flow.languages == ("zh-CN", "en-US")
    assert flow.default_language == "zh-CN"
    assert flow.keys == Keys(agent="0", repeat="9", back="*", finish="#")
    assert flow.agent_state == "agent"
    assert flow.issues == {}
    assert flow.labels == {}
    assert list(flow.queues) == ["general"]
    assert list(flow.states) == ["main_menu", "goodbye", "agent"]
    assert flow.retry.attempts == 3
    assert flow.phrases.option == {
        "zh-CN": "{label}请按{key}。",
        "en-US": "For {label}, press {key}.",
    }
    assert (flow.phrases.apology, flow.phrases.restart, flow.phrases.connecting) == (None,) * 3
    assert flow.hints == Hints(yes_no={})
    assert flow.messages == {}


def test_hotline_holds_the_lines_said_outside_its_states() -> None:
    phrases = load_flow(HOTLINE).phrases

    assert phrases.apology == {
        "zh-CN": "抱歉，系统暂时出现问题，正在为您转接人工客服。",
        "en-US": "Sorry, something went wrong on our side. Let me put you through to an agent.",
    }
    assert phrases.restart == {
        "zh-CN": "抱歉，我们没有找到您的通话记录，现在为您重新开始。",
        "en-US": "Sorry, we lost track of your call. Let's start again.",
    }
    assert phrases.connecting == {
        "zh-CN": "现在为您接通人工客服。",
        "en-US": "Connecting you to an agent now.",
    }


def test_hotline_holds_its_yes_no_hints_and_its_reset_sms() -> None:
    flow = load_flow(HOTLINE)

    assert flow.hints == Hints(
        yes_no={
            "zh-CN": ("是", "是的", "对", "不是", "不对", "没有"),
            "en-US": ("yes", "no", "correct", "that's right", "not really"),
        }
    )
    assert flow.messages == {
        "reset_sms": {
            "zh-CN": "【数字钱包】您正在重置登录密码，请点击链接完成重置，10分钟内有效："
            "https://wallet.example/reset",
            "en-US": "[Digital Wallet] You are resetting your login password. Open this link "
            "within 10 minutes to finish: https://wallet.example/reset",
        }
    }


def test_an_unknown_hints_key_is_refused_with_the_allowed_one_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.read_text(encoding="utf-8") + "hints: {maybe: {zh-CN: [是]}}\n")

    assert problems_of(path) == ["hints.maybe: unknown key 'maybe'; allowed: yes_no"]


def test_hints_are_lists_of_words_per_flow_language(tmp_path: Path) -> None:
    hints = 'hints:\n  yes_no: {zh-CN: 是, en: [yes], en-US: ["yes", "no"]}\n'
    path = write(tmp_path, MINIMAL.read_text(encoding="utf-8") + hints)

    assert problems_of(path) == [
        "hints.yes_no.zh-CN: expected a list of words",
        "hints.yes_no.en: unknown language 'en'; allowed: zh-CN, en-US",
    ]


def test_messages_are_texts_per_language_under_any_name(tmp_path: Path) -> None:
    messages = "messages:\n  welcome: {zh-CN: 欢迎。, en-US: Welcome.}\n  bad: [a]\n"
    flow, problems = parse_flow(write(tmp_path, MINIMAL.read_text(encoding="utf-8") + messages))

    assert [f"{p.path}: {p.message}" for p in problems] == [
        "messages.bad: expected a text per language (zh-CN, en-US), got a list"
    ]
    assert flow is not None
    assert flow.messages == {"welcome": {"zh-CN": "欢迎。", "en-US": "Welcome."}, "bad": {}}


def test_messages_must_be_a_mapping_of_names(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.read_text(encoding="utf-8") + "messages: [reset_sms]\n")

    assert problems_of(path) == ["messages: expected a mapping of message names, got a list"]


def test_minimal_menu_is_read_into_its_option_and_a_default_gather() -> None:
    menu = load_flow(MINIMAL).states["main_menu"]

    assert menu.type == "menu"
    assert menu.path == "states.main_menu"
    assert menu.prompt == {"zh-CN": "您好。", "en-US": "Hello."}
    assert menu.gather == Gather(timeout=5, finish_on_key="#", min_digits=1, max_digits=1)
    assert menu.back is None
    assert menu.retry is None
    assert menu.waits_for_input is True
    assert menu.is_final is False
    (option,) = menu.options
    assert option.key == "1"
    assert option.label == {"zh-CN": "结束通话", "en-US": "ending the call"}
    assert option.goto == "goodbye"
    assert option.do == ()
    assert option.issue is None
    assert option.path == "states.main_menu.options[0]"


def test_flow_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "flow: minimal\n", "")

    assert load_flow(path).name == "flow"


def test_hotline_entry_keeps_its_gather_and_secrecy() -> None:
    ask_pin = load_flow(HOTLINE).states["ask_pin"]

    assert ask_pin.type == "entry"
    assert ask_pin.gather == Gather(timeout=8, finish_on_key="#", min_digits=6, max_digits=6)
    assert ask_pin.save_as == "pin"
    assert ask_pin.secret is True
    assert ask_pin.next == (Route("check_pin", path="states.ask_pin.next"),)


def test_hotline_routes_keep_guards_arguments_and_reasons() -> None:
    check_pin = load_flow(HOTLINE).states["check_pin"]

    assert check_pin.do == (Call("verify_pin", None, "states.check_pin.do"),)
    assert [r.goto for r in check_pin.next] == [
        "welcome_back",
        "pin_unchecked",
        "pin_locked",
        "wrong_pin",
        "pin_locked",
    ]
    assert check_pin.next[3].when == Call(
        "count_below", {"wrong_pins": 3}, "states.check_pin.next[3].when"
    )
    pin_locked = load_flow(HOTLINE).states["pin_locked"]
    assert pin_locked.on_no_input is not None
    assert pin_locked.on_no_input.reason == "verification failed"
    assert check_pin.next[4].when is None
    assert check_pin.next[4].path == "states.check_pin.next[4]"
    unchecked = load_flow(HOTLINE).states["pin_unchecked"].next
    assert [(r.goto, r.reason) for r in unchecked] == [
        ("agent", "the PIN could not be checked (the server lacks the key its hash was made with)")
    ]


def test_an_option_may_say_its_own_line_in_some_languages() -> None:
    confirm = load_flow(HOTLINE).states["confirm_phone"]

    assert confirm.options[0].line == {"en-US": "If that is right, press {key}."}
    assert load_flow(HOTLINE).states["main_menu"].options[0].line == {}


def test_hotline_language_menu_options_carry_language_and_action_argument() -> None:
    welcome = load_flow(HOTLINE).states["welcome"]

    assert welcome.bilingual is True
    english = welcome.options[1]
    assert english.lang == "en-US"
    assert english.do == (Call("set_language", "en-US", "states.welcome.options[1].do"),)
    assert welcome.on_no_input == Route(
        "identify",
        do=(Call("set_language", "zh-CN", "states.welcome.on_no_input.do"),),
        path="states.welcome.on_no_input",
    )


def test_hotline_record_and_transfer_states_keep_their_settings() -> None:
    flow = load_flow(HOTLINE)

    assert flow.states["record_complaint"].record == RecordSpec(
        max_length=120, finish_on_key="#", timeout=5
    )
    assert flow.states["record_complaint"].back is None
    priority = flow.states["security_priority"]
    assert (priority.queue, priority.priority, priority.is_final) == ("security", 10, True)
    assert flow.states["agent"].queue is None
    assert flow.issues["stolen"].queue == "security"
    assert flow.labels["topup_status"]["pending"] == {"zh-CN": "处理中", "en-US": "pending"}


def with_a_recording(tmp_path: Path, more: str = "") -> Path:
    """The minimal flow with a record state ``leave_message`` before goodbye (``more``: its
    extra lines)."""
    return minimal_with(
        tmp_path,
        "  goodbye:\n",
        "  leave_message:\n"
        "    type: record\n"
        "    prompt: {zh-CN: 请留言。, en-US: Please leave a message.}\n"
        f"    next: goodbye\n{more}"
        "  goodbye:\n",
    )


def test_record_state_without_settings_gets_the_default_record_spec(tmp_path: Path) -> None:
    path = with_a_recording(tmp_path)

    assert load_flow(path).states["leave_message"].record == RecordSpec()


def test_a_record_state_has_no_back_key(tmp_path: Path) -> None:
    # Twilio's <Record> ends only on its finish key: a '*' is recorded, never sent, so a
    # back key there would be announced by nothing and taken by nobody.
    path = with_a_recording(tmp_path, "    back: main_menu\n")

    assert problems_of(path) == [
        "states.leave_message.back: unknown key 'back'; allowed: prompt, do, record, next, retry"
    ]


def test_option_synonyms_are_read_per_language(tmp_path: Path) -> None:
    path = minimal_with(
        tmp_path,
        "goto: goodbye}",
        "goto: goodbye, synonyms: {zh-CN: [再见, 结束], en-US: [bye]}}",
    )

    option = load_flow(path).states["main_menu"].options[0]
    assert option.synonyms == {"zh-CN": ("再见", "结束"), "en-US": ("bye",)}


def test_unquoted_number_keys_and_targets_are_read_as_text(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, 'key: "1"', "key: 1")

    assert load_flow(path).states["main_menu"].options[0].key == "1"


def test_every_key_a_state_type_allows_has_a_reader() -> None:
    # A key allowed in STATE_KEYS but not read would crash loading instead of being used.
    from ivr.flow.loader import _STATE_FIELDS

    allowed = {key for keys in STATE_KEYS.values() for key in keys}
    assert allowed == set(_STATE_FIELDS)


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = minimal_with(
        tmp_path,
        "  agent:\n",
        "  farewell:\n    <<: *goodbye\n    prompt: {zh-CN: 再会。, en-US: Farewell.}\n  agent:\n",
    )
    path.write_text(path.read_text().replace("  goodbye:\n", "  goodbye: &goodbye\n"))

    flow, problems = parse_flow(path)

    assert problems == []
    assert flow is not None
    assert flow.states["farewell"].type == "hangup"
    assert flow.states["farewell"].prompt == {"zh-CN": "再会。", "en-US": "Farewell."}


# -- what a file is refused for -----------------------------------------------------------------


def test_unknown_key_names_file_and_path_and_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "    options:\n", "    optoins:\n")

    with pytest.raises(FlowValidationError) as caught:
        load_flow(path)

    assert caught.value.problems == [
        Problem(
            str(path),
            "states.main_menu.optoins",
            "unknown key 'optoins'; allowed: prompt, bilingual, do, options, gather, back, retry, "
            "on_no_input, speech",
            line=25,
        )
    ]
    assert str(caught.value.problems[0]) == (
        f"{path}:25: states.main_menu.optoins: unknown key 'optoins'; allowed: prompt, bilingual, "
        "do, options, gather, back, retry, on_no_input, speech"
    )


def test_allowed_keys_depend_on_the_state_type(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "    type: transfer\n", "    type: transfer\n    next: goodbye\n")

    assert problems_of(path) == [
        "states.agent.next: unknown key 'next'; allowed: prompt, do, queue, priority, reason"
    ]


def test_bare_on_key_is_named_on_not_true(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "  goodbye:\n", "  goodbye:\n    on: {next: agent}\n")

    assert problems_of(path) == [
        "states.goodbye.on: unknown key on (YAML reads a bare on: as true); allowed: prompt, do"
    ]


def test_every_problem_in_a_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    text = text.replace("attempts: 3", "attempts: 0")
    text = text.replace('key: "1"', 'key: "12"')
    text = text.replace(
        "  agent:\n    type: transfer\n", "  agent:\n    type: transfer\n    priority: high\n"
    )
    path = write(tmp_path, text)

    assert problems_of(path) == [
        "states.main_menu.options[0].key: a key is one of 0-9, * or #, got '12'",
        "states.agent.priority: expected a whole number, got text",
        "retry.attempts: must be at least 1, got 0",
    ]


def test_a_missing_key_is_reported_once(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "label: {zh-CN: 结束通话, en-US: ending the call}, ", "")

    assert problems_of(path) == ["states.main_menu.options[0].label: missing"]


def test_a_key_written_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = minimal_with(tmp_path, "    type: hangup\n", "    type: hangup\n    type: transfer\n")

    _, problems = parse_flow(path)

    assert problems == [
        Problem(
            str(path),
            "states.goodbye.type",
            "not valid YAML: key 'type' is written twice in one mapping (first on line 28)",
            line=29,
            column=5,
        )
    ]
    assert str(problems[0]) == (
        f"{path}:29:5: states.goodbye.type: not valid YAML: key 'type' is written twice in one "
        "mapping (first on line 28)"
    )


def test_a_file_with_only_comments_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing here yet\n")

    assert problems_of(path) == ["expected a mapping, got nothing"]


def test_an_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "gone.yaml"

    flow, problems = parse_flow(path)

    assert flow is None
    assert problems == [Problem(str(path), "", "cannot read: No such file or directory")]


def test_load_flow_raises_with_every_problem_in_the_message(tmp_path: Path) -> None:
    path = write(tmp_path, "start: main_menu\nstates: []\n")

    with pytest.raises(FlowValidationError) as caught:
        load_flow(path)

    assert str(caught.value) == (
        "3 problem(s) in flows:\n"
        f"  {path}:2: states: expected a mapping of state names to states, got a list\n"
        f"  {path}: retry: missing\n"
        f"  {path}: phrases: missing"
    )
