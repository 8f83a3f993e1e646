"""Call scripts: strict parsing with key paths, and running them through the real simulator.

The IVR under test is ``TinyHotline`` below, a two-level WSGI menu written for these tests (not
the real hotline), so that what the caller hears is known to the character.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from ivr.clock import ManualClock
from ivr.errors import ScriptError
from ivr.testing.scripts import Agent
from ivr.testing.scripts import Dial
from ivr.testing.scripts import EffectExpectation
from ivr.testing.scripts import Expect
from ivr.testing.scripts import ExpectState
from ivr.testing.scripts import Failure
from ivr.testing.scripts import Hangup
from ivr.testing.scripts import Hold
from ivr.testing.scripts import OutcomeExpectation
from ivr.testing.scripts import Press
from ivr.testing.scripts import Record
from ivr.testing.scripts import Say
from ivr.testing.scripts import Script
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import Wait
from ivr.testing.scripts import best_match
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import parse_script
from ivr.testing.scripts import run_script
from ivr.testing.simulator import Outcome
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport

LI_NA = "+8613800000002"
BROKEN_LINE = "+8613800000099"  # TinyHotline answers this caller with TwiML Twilio rejects

# ---------------------------------------------------------------------------------------------
# A tiny two-level hotline: language menu, then main menu (balance, agent, voicemail, unlock).

WELCOME = "您好，欢迎致电钱包客服。中文服务请按1。For English, press 2."
MAIN_ZH = "查询余额请按1，人工服务请按2，留言请按3，解锁账户请按9。"
MAIN_EN = "For your balance press 1, for an agent press 2, to leave a message press 3."


class TinyHotline:
    """A WSGI IVR with ``X-IVR-State``/``X-IVR-Flow`` headers and a little lasting state.

    Welcome (1 中文, 2 English; three silences hang up) → main menu: 1 balance, 2 agent queue,
    3 voicemail, 9 unlock with a PIN, 0 transfer by <Dial>, 8 a reply Twilio rejects.
    """

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {LI_NA: "locked"}
        self.messages: list[tuple[str, str]] = []
        self.status_callbacks: list[dict[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.route(request)
        return response(environ, start_response)

    def route(self, request: Request) -> Response:  # noqa: C901 - a menu is a list of branches
        form = request.form
        lang = request.args.get("lang", "zh")
        path = request.path
        if path == "/voice/status":
            self.status_callbacks.append(dict(form))
            return Response("", status=204)
        if path == "/voice":
            if form.get("From") == BROKEN_LINE:
                return twiml("welcome", "<Gather><Sya>typo</Sya></Gather>")
            tries = int(request.args.get("tries", "0"))
            if tries >= 3:
                return twiml("goodbye", "<Say language='cmn-CN'>再见。</Say><Hangup/>")
            return self.welcome("", tries)
        if path == "/lang":
            digits = form.get("Digits", "")
            if digits in ("1", "2"):
                return self.main_menu("zh" if digits == "1" else "en", "")
            return self.welcome("无效选择。", 0)
        if path == "/main":
            if request.args.get("silent"):
                return self.main_menu(lang, "我们没有听到您的选择。")
            digits = form.get("Digits", "")
            speech = form.get("SpeechResult", "")
            if digits == "1" or "余额" in speech:
                return twiml(
                    "balance", "<Say language='cmn-CN'>您的余额是一百元。再见。</Say><Hangup/>"
                )
            if digits == "2" or "人工" in speech:
                return twiml(
                    "queue",
                    "<Say language='cmn-CN'>正在为您转接人工服务。</Say>"
                    "<Enqueue waitUrl='/hold' action='/after-queue'>security</Enqueue>",
                )
            if digits == "3":
                return twiml(
                    "voicemail",
                    "<Say language='cmn-CN'>请在提示音后留言，按井号键结束。</Say>"
                    "<Record maxLength='60' finishOnKey='#' action='/saved'/>",
                )
            if digits == "9":
                return twiml(
                    "password",
                    "<Gather numDigits='6' action='/pin'>"
                    "<Say language='cmn-CN'>请输入您的6位密码。</Say></Gather>"
                    "<Redirect>/main?silent=1</Redirect>",
                )
            if digits == "0":
                return twiml(
                    "transfer",
                    "<Say language='cmn-CN'>正在为您转接。</Say>"
                    "<Dial action='/after-dial'>+8610000000</Dial>",
                )
            if digits == "8":
                return twiml("broken", "<Sya>typo</Sya>")
            return self.main_menu(lang, "无效选择。")
        if path == "/hold":
            position = form.get("QueuePosition", "?")
            return twiml("hold", f"<Say language='cmn-CN'>您前面还有{position}位。</Say>")
        if path == "/after-queue":
            return twiml("goodbye", "<Say language='cmn-CN'>感谢您的来电，再见。</Say><Hangup/>")
        if path == "/after-dial":
            status = form.get("DialCallStatus", "")
            return twiml("goodbye", f"<Say language='cmn-CN'>转接结果：{status}。</Say><Hangup/>")
        if path == "/saved":
            self.messages.append((form.get("From", ""), form.get("RecordingUrl", "")))
            return twiml("saved", "<Say language='cmn-CN'>留言已保存。</Say><Hangup/>")
        if path == "/pin":
            if form.get("Digits") == "123456":
                self.accounts[form.get("From", "")] = "active"
                return twiml("unlocked", "<Say language='cmn-CN'>您的账户已解锁。</Say><Hangup/>")
            return self.main_menu(lang, "密码错误。")
        return Response("not found", status=404)

    def welcome(self, before: str, tries: int) -> Response:
        say = f"<Say language='cmn-CN'>{before}</Say>" if before else ""
        return twiml(
            "welcome",
            f"{say}<Gather numDigits='1' action='/lang'><Say language='cmn-CN'>{WELCOME}</Say>"
            f"</Gather><Redirect>/voice?tries={tries + 1}</Redirect>",
        )

    def main_menu(self, lang: str, before: str) -> Response:
        say = f"<Say language='cmn-CN'>{before}</Say>" if before else ""
        menu = MAIN_ZH if lang == "zh" else MAIN_EN
        language = "cmn-CN" if lang == "zh" else "en-US"
        return twiml(
            "main_menu",
            f"{say}<Gather input='dtmf speech' numDigits='1' action='/main?lang={lang}'"
            f" language='{language}'><Say language='{language}'>{escape(menu)}</Say></Gather>"
            f"<Redirect>/main?lang={lang}&amp;silent=1</Redirect>",
        )

    def check_account(self, args: Mapping[str, Any]) -> str | None:
        status = self.accounts.get(str(args["phone"]))
        if status != args["status"]:
            return f"account {args['phone']} is {status}, not {args['status']}"
        return None

    def check_messages(self, args: Mapping[str, Any]) -> str | None:
        count = sum(1 for caller, _ in self.messages if caller == args["phone"])
        if count != args["count"]:
            return f"{args['phone']} left {count} message(s), not {args['count']}"
        return None

    def checks(self) -> dict[str, Any]:
        return {"account": self.check_account, "messages": self.check_messages}


def twiml(state: str, body: str) -> Response:
    xml = f"<?xml version='1.0' encoding='UTF-8'?><Response>{body}</Response>"
    response = Response(xml, mimetype="text/xml")
    response.headers["X-IVR-State"] = state
    response.headers["X-IVR-Flow"] = "tiny"
    return response


def make_simulator(app: TinyHotline, clock: ManualClock) -> Simulator:
    return Simulator(WsgiTransport(app), clock=clock)


def script_file(folder: Path, text: str, name: str = "call.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_text(
    text: str, tmp_path: Path, clock: ManualClock, app: TinyHotline | None = None
) -> ScriptResult:
    app = app if app is not None else TinyHotline()
    script = load_script(script_file(tmp_path, text))
    return run_script(script, make_simulator(app, clock), checks=app.checks())


@pytest.fixture
def hotline() -> TinyHotline:
    return TinyHotline()


# ---------------------------------------------------------------------------------------------
# Parsing

FULL_SCRIPT = """\
name: Li Na unlocks her locked account, in Chinese
from: "+8613800000002"
lang: zh-CN
steps:
  - expect: 中文服务请按1
  - press: "1"
  - expect: {regex: "密码.*6位"}
  - expect: {fuzzy: "您的账户因多次输入错误密码已被锁定", threshold: 0.8}
  - press: "123456"
  - say: 我的账户被锁了
  - say: {text: 人工, confidence: 0.4}
  - wait
  - wait: 3
  - hold: 2
  - agent
  - agent: {seconds: 90}
  - record: {seconds: 8, finish: "#"}
  - record
  - dial: busy
  - expect_state: main_menu
  - expect: {contains: 再见}
  - hangup
outcome:
  kind: queued
  queue: security
  recording: true
effects:
  - account: {phone: "+8613800000002", status: active}
  - tickets: {phone: "+8613800000003", count: 2}
"""


def test_a_full_script_loads_into_typed_steps(tmp_path: Path) -> None:
    path = script_file(tmp_path, FULL_SCRIPT)

    script = load_script(path)

    assert script == Script(
        path=str(path),
        name="Li Na unlocks her locked account, in Chinese",
        from_=LI_NA,
        lang="zh-CN",
        steps=(
            Expect("substring", "中文服务请按1"),
            Press("1"),
            Expect("regex", "密码.*6位"),
            Expect("fuzzy", "您的账户因多次输入错误密码已被锁定", 0.8),
            Press("123456"),
            Say("我的账户被锁了"),
            Say("人工", 0.4),
            Wait(1),
            Wait(3),
            Hold(2),
            Agent(None),
            Agent(90),
            Record(8, "#"),
            Record(5, "#"),
            Dial("busy"),
            ExpectState("main_menu"),
            Expect("substring", "再见"),
            Hangup(),
        ),
        outcome=OutcomeExpectation("queued", queue="security", recording=True),
        effects=(
            EffectExpectation("account", {"phone": LI_NA, "status": "active"}),
            EffectExpectation("tickets", {"phone": "+8613800000003", "count": 2}),
        ),
    )


def test_language_defaults_to_chinese_and_outcome_and_effects_are_optional(tmp_path: Path) -> None:
    script = load_script(
        script_file(tmp_path, "name: n\nfrom: '+8613800000002'\nsteps: [hangup]\n")
    )

    assert (script.lang, script.steps, script.outcome, script.effects) == (
        "zh-CN",
        (Hangup(),),
        None,
        (),
    )


def test_steps_describe_themselves_as_they_are_written(tmp_path: Path) -> None:
    script = load_script(script_file(tmp_path, FULL_SCRIPT))

    assert [step.describe() for step in script.steps] == [
        "expect: 中文服务请按1",
        'press: "1"',
        'expect: {regex: "密码.*6位"}',
        'expect: {fuzzy: "您的账户因多次输入错误密码已被锁定", threshold: 0.8}',
        'press: "123456"',
        "say: 我的账户被锁了",
        'say: {text: "人工", confidence: 0.4}',
        "wait",
        "wait: 3",
        "hold: 2",
        "agent",
        "agent: {seconds: 90}",
        'record: {seconds: 8, finish: "#"}',
        'record: {seconds: 5, finish: "#"}',
        "dial: busy",
        "expect_state: main_menu",
        "expect: 再见",
        "hangup",
    ]


HEAD = "name: n\nfrom: '+8613800000002'\n"

INVALID = [
    pytest.param(
        HEAD + "steps: [hangup]\noutcom: {kind: hangup}\n",
        "outcom",
        "unknown key 'outcom' (did you mean 'outcome'?); "
        "allowed: at, callback, effects, from, lang, name, network, outcome, steps",
        "4",
        id="unknown-top-key",
    ),
    pytest.param(
        "from: '+8613800000002'\nsteps: [hangup]\n", "name", "is required", "", id="missing-name"
    ),
    pytest.param(HEAD + "steps: []\n", "steps", "needs at least one step", "3", id="no-steps"),
    pytest.param(
        HEAD + "steps:\n  - hangup\n  - pres: '1'\n",
        "steps[1].pres",
        "unknown step 'pres' (did you mean 'press'?); allowed: agent, dial, expect, "
        "expect_state, hangup, hold, press, record, say, wait",
        "5",
        id="unknown-step-kind",
    ),
    pytest.param(
        HEAD + "steps:\n  - dance\n",
        "steps[0]",
        "unknown step 'dance'; allowed: agent, dial, expect, expect_state, hangup, hold, press, "
        "record, say, wait",
        "4",
        id="unknown-bare-step",
    ),
    pytest.param(
        HEAD + "steps:\n  - press: '1'\n    expect: x\n",
        "steps[0]",
        "a step does one thing, found 2 keys (press, expect): split them",
        "4",
        id="two-actions-in-one-step",
    ),
    pytest.param(
        HEAD + "steps:\n  - press\n",
        "steps[0].press",
        "needs a value, like `press: ...`",
        "4",
        id="bare-press",
    ),
    pytest.param(
        HEAD + "steps:\n  - hangup\n  - hangup\n  - hangup\n"
        "  - expect: {fuzzy: abc, threshold: high}\n",
        "steps[3].expect.threshold",
        "must be a number above 0 and at most 1, not the text 'high'",
        "7",
        id="threshold-wrong-type",
    ),
    pytest.param(
        HEAD + "steps:\n  - expect: {fuzzy: abc, threshold: 1.5}\n",
        "steps[0].expect.threshold",
        "must be a number above 0 and at most 1, not the number 1.5",
        "4",
        id="threshold-above-one",
    ),
    pytest.param(
        HEAD + "steps:\n  - expect: {fuzzy: abc, treshold: 0.5}\n",
        "steps[0].expect.treshold",
        "unknown key 'treshold' (did you mean 'threshold'?); "
        "allowed: contains, fuzzy, regex, threshold",
        "4",
        id="unknown-expect-key",
    ),
    pytest.param(
        HEAD + "steps:\n  - expect: {regex: abc, threshold: 0.5}\n",
        "steps[0].expect.threshold",
        "only a fuzzy expectation takes a threshold",
        "4",
        id="threshold-on-regex",
    ),
    pytest.param(
        HEAD + "steps:\n  - expect: {regex: abc, fuzzy: abc}\n",
        "steps[0].expect",
        "give exactly one of contains, regex or fuzzy (or just the text to find)",
        "4",
        id="two-expect-modes",
    ),
    pytest.param(
        HEAD + "steps:\n  - expect: {regex: '密码(6位'}\n",
        "steps[0].expect.regex",
        "not a valid regular expression: missing ), unterminated subpattern at position 2",
        "4",
        id="bad-regex",
    ),
    pytest.param(
        HEAD + "steps:\n  - expect: 12\n",
        "steps[0].expect",
        "must be a mapping with keys contains, fuzzy, regex, threshold, not the number 12",
        "4",
        id="expect-number",
    ),
    pytest.param(
        HEAD + "steps:\n  - press: 1\n",
        "steps[0].press",
        'write the keys in quotes, like "1" (YAML reads 0123 as a number)',
        "4",
        id="press-unquoted-number",
    ),
    pytest.param(
        HEAD + "steps:\n  - press: '1a'\n",
        "steps[0].press",
        "'1a': a phone has only the keys 0-9, * and #",
        "4",
        id="press-not-a-key",
    ),
    pytest.param(
        HEAD + "steps:\n  - wait: 0\n",
        "steps[0].wait",
        "must be a whole number of at least 1, not the number 0",
        "4",
        id="wait-zero",
    ),
    pytest.param(
        HEAD + "steps:\n  - hold: yes\n",
        "steps[0].hold",
        "must be a whole number of at least 1, not true",
        "4",
        id="hold-boolean",
    ),
    pytest.param(
        HEAD + "steps:\n  - record:\n      seconds: 8\n      finish: #\n",
        "steps[0].record.finish",
        'must be a key in quotes, like "#" (YAML reads # as a comment)',
        "6",
        id="record-finish-unquoted-hash",
    ),
    pytest.param(
        HEAD + "steps:\n  - dial: engaged\n",
        "steps[0].dial",
        "unknown value 'engaged'; allowed: answered, busy, canceled, completed, failed, no-answer",
        "4",
        id="dial-status",
    ),
    pytest.param(
        HEAD + "steps:\n  - hangup: now\n",
        "steps[0].hangup",
        "takes no value (write just `- hangup`), not the text 'now'",
        "4",
        id="hangup-with-value",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\noutcome: {kind: transferred}\n",
        "outcome.kind",
        "unknown value 'transferred' (did you mean 'unanswered'?); "
        "allowed: bridged, caller-hangup, dialed, hangup, queued, rejected, unanswered",
        "4",
        id="outcome-kind",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\noutcome: {queue: security}\n",
        "outcome.kind",
        "is required; one of hangup, caller-hangup, queued, bridged, dialed, rejected, unanswered",
        "4",
        id="outcome-without-kind",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\noutcome: {kind: queued, recording: sometimes}\n",
        "outcome.recording",
        "must be true or false, not the text 'sometimes'",
        "4",
        id="outcome-recording-type",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\neffects: {account: {}}\n",
        "effects",
        "must be a list of checks, not a mapping",
        "4",
        id="effects-not-a-list",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\neffects:\n  - account: active\n",
        "effects[0].account",
        "must be a mapping of arguments, not the text 'active'",
        "5",
        id="effect-arguments",
    ),
    pytest.param(
        "name: n\nfrom: 8613800000002x\nsteps: [hangup]\n",
        "from",
        "'8613800000002x' is not a phone number; write it quoted, like \"+8613800000002\"",
        "2",
        id="from-not-a-number",
    ),
    pytest.param(
        HEAD + "lang: chinese\nsteps: [hangup]\n",
        "lang",
        "'chinese' is not a language tag such as zh-CN or en-US",
        "3",
        id="lang",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\nname: m\n",
        "name",
        "not valid YAML: key 'name' is written twice in one mapping (first on line 1)",
        "4:1",
        id="duplicate-key",
    ),
    pytest.param(
        HEAD + "steps: [hangup\n",
        "",
        "not valid YAML: expected ',' or ']', but got '<stream end>'",
        "4:1",
        id="broken-yaml",
    ),
    pytest.param(
        HEAD + "steps:\n  - press: {keys: '2', soon: true}\n",
        "steps[0].press.soon",
        "unknown key 'soon'; allowed: early, keys",
        "4",
        id="press-unknown-key",
    ),
    pytest.param(
        HEAD + "steps:\n  - press: {keys: '2', early: yes please}\n",
        "steps[0].press.early",
        "must be true or false, not the text 'yes please'",
        "4",
        id="press-early-not-a-flag",
    ),
    pytest.param(
        HEAD + "steps:\n  - agent: {result: full}\n",
        "steps[0].agent.result",
        "unknown value 'full'; allowed: error, queue-full, redirected, "
        "redirected-from-bridged, system-error",
        "4",
        id="agent-result",
    ),
    pytest.param(
        HEAD + "steps:\n  - agent: {result: error, seconds: 5}\n",
        "steps[0].agent.result",
        "a queue that ends without an agent has no talk seconds and no pickup",
        "4",
        id="agent-result-with-seconds",
    ),
    pytest.param(
        HEAD + "steps:\n  - agent: {answer: true}\n",
        "steps[0].agent.answer",
        "unknown key 'answer'; allowed: pickup, result, seconds",
        "4",
        id="agent-unknown-key",
    ),
    pytest.param(
        HEAD + "network: engaged\nsteps: [hangup]\n",
        "network",
        "unknown value 'engaged'; allowed: busy, canceled, failed, no-answer",
        "3",
        id="network",
    ),
    pytest.param(
        HEAD + "steps: [hangup]\noutcome: {kind: hangup, status: done}\n",
        "outcome.status",
        "unknown value 'done'; allowed: busy, canceled, completed, failed, no-answer",
        "4",
        id="outcome-status",
    ),
]


@pytest.mark.parametrize(("text", "key", "message", "at"), INVALID)
def test_a_malformed_script_names_the_file_line_and_key_path(
    tmp_path: Path, text: str, key: str, message: str, at: str
) -> None:
    path = script_file(tmp_path, text, "bad.yaml")

    with pytest.raises(ScriptError) as caught:
        load_script(path)

    where = f"{path}:{at}" if at else str(path)
    assert (caught.value.path, caught.value.key, caught.value.message, str(caught.value)) == (
        str(path),
        key,
        message,
        f"{where}: {key}: {message}" if key else f"{where}: {message}",
    )


def test_a_missing_script_file_is_a_script_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="no such file$"):
        load_script(tmp_path / "nowhere.yaml")


def test_parse_script_rejects_a_document_that_is_not_a_mapping() -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script(["hangup"], "calls/x.yaml")

    assert str(caught.value) == (
        "calls/x.yaml: must be a mapping with keys name, from, lang, at, network, steps, outcome, "
        "effects, callback, not a list"
    )


def test_discover_finds_yaml_files_in_folders_recursively_and_sorts_them(tmp_path: Path) -> None:
    (tmp_path / "calls" / "zh").mkdir(parents=True)
    (tmp_path / "calls" / ".hidden").mkdir()
    for name in ("calls/b.yaml", "calls/zh/a.yml", "calls/notes.txt", "calls/.hidden/c.yaml"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    single = tmp_path / "single.yaml"
    single.write_text("x", encoding="utf-8")

    found = discover([single, tmp_path / "calls", tmp_path / "calls" / "b.yaml"])

    assert found == [tmp_path / "calls/b.yaml", tmp_path / "calls/zh/a.yml", single]


def test_best_match_finds_the_closest_stretch_and_its_ratio() -> None:
    assert best_match("您的账户已被锁定", "您好。您的账户已被冻结。请按1") == (
        0.8,
        "您的账户已被冻结",
    )
    assert best_match("按1", "中文服务请按1。") == (1.0, "按1")
    assert best_match("很长的一句话", "短") == (0.0, "短")


# ---------------------------------------------------------------------------------------------
# Running scripts against the tiny hotline

CALL = "name: a call\nfrom: '+8613800000002'\n"


def test_a_substring_expectation_passes_when_the_words_were_said(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(
        CALL + "steps:\n  - expect: 中文服务请按1\n  - press: '1'\n  - expect: 人工服务请按2\n",
        tmp_path,
        clock,
    )

    assert (result.passed, result.failure) == (True, None)


def test_expectations_only_see_what_was_said_since_the_last_action(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(CALL + "steps:\n  - press: '1'\n  - expect: 中文服务请按1\n", tmp_path, clock)

    assert result.failure == Failure(
        step_index=1,
        step="expect: 中文服务请按1",
        expected="中文服务请按1",
        heard=MAIN_ZH,
        message="expected the IVR to say '中文服务请按1'",
        mode="substring",
        closest="人工服务请按2",
        score=8 / 13,
    )
    assert result.passed is False


def test_a_regex_expectation_searches_what_was_heard(tmp_path: Path, clock: ManualClock) -> None:
    passing = run_text(CALL + "steps:\n  - expect: {regex: '中文.*按1'}\n", tmp_path, clock)
    failing = run_text(CALL + "steps:\n  - expect: {regex: '按[3-9]'}\n", tmp_path, clock)

    assert passing.passed is True
    assert failing.failure == Failure(
        0,
        'expect: {regex: "按[3-9]"}',
        "按[3-9]",
        WELCOME,
        "expected the IVR to say something matching /按[3-9]/",
        "regex",
    )


def test_a_fuzzy_expectation_passes_at_or_above_its_threshold(
    tmp_path: Path, clock: ManualClock
) -> None:
    # "欢迎致电钱包客户服务" against the heard "欢迎致电钱包客服。": ratio 0.8421...
    text = CALL + "steps:\n  - expect: {{fuzzy: 欢迎致电钱包客户服务, threshold: {}}}\n"

    at_80 = run_text(text.format(0.8), tmp_path, clock)
    at_90 = run_text(text.format(0.9), tmp_path, clock)

    assert at_80.passed is True
    assert at_90.failure == Failure(
        step_index=0,
        step='expect: {fuzzy: "欢迎致电钱包客户服务", threshold: 0.9}',
        expected="欢迎致电钱包客户服务",
        heard=WELCOME,
        message="expected the IVR to say something like '欢迎致电钱包客户服务': "
        "best match 0.84 is below the threshold 0.90",
        mode="fuzzy",
        closest="欢迎致电钱包客服。",
        score=16 / 19,
    )


def test_press_say_and_wait_move_through_the_menu(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(
        CALL
        + """\
steps:
  - expect_state: welcome
  - press: "1"
  - expect_state: main_menu
  - wait
  - expect: 我们没有听到您的选择
  - expect_state: main_menu
  - say: 我想查余额
  - expect: 您的余额是一百元
  - expect_state: balance
outcome: {kind: hangup}
""",
        tmp_path,
        clock,
    )

    assert result.failure is None
    assert result.call.states == ["welcome", "main_menu", "main_menu", "balance"]
    assert [
        (turn.kind, turn.text) for turn in result.call.transcript if turn.speaker == "caller"
    ] == [
        ("press", "1"),
        ("silence", ""),
        ("speech", "我想查余额"),
    ]


def test_wait_two_times_is_two_silences(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(CALL + "steps:\n  - wait: 2\n  - expect_state: welcome\n", tmp_path, clock)

    assert result.passed is True
    assert result.call.states == ["welcome", "welcome", "welcome"]


def test_waiting_longer_than_the_ivr_listens_fails_the_step(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(CALL + "steps:\n  - wait: 4\n", tmp_path, clock)

    assert result.failure == Failure(
        0, "wait: 4", "", "再见。", "the call ended after 3 of 4 silences", "ended"
    )
    assert result.outcome == Outcome("hangup")


def test_an_expected_state_that_differs_fails_with_both_states(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(CALL + "steps:\n  - press: '2'\n  - expect_state: balance\n", tmp_path, clock)

    assert result.failure == Failure(
        1,
        "expect_state: balance",
        "balance",
        "main_menu",
        "expected the IVR to be in state 'balance', it reports 'main_menu'",
        "state",
    )


def test_an_explicit_hangup_ends_the_call_as_the_caller(tmp_path: Path, clock: ManualClock) -> None:
    app = TinyHotline()
    result = run_text(
        CALL + "steps:\n  - hangup\noutcome: {kind: caller-hangup}\n", tmp_path, clock, app
    )

    assert (result.passed, result.outcome) == (True, Outcome("caller-hangup"))
    assert [callback["CallStatus"] for callback in app.status_callbacks] == ["completed"]


def test_a_call_still_live_after_the_last_step_is_hung_up_so_the_status_callback_runs(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = TinyHotline()
    result = run_text(CALL + "steps:\n  - press: '1'\n", tmp_path, clock, app)

    assert result.outcome == Outcome("caller-hangup")
    assert result.call.transcript[-1].kind == "hangup"
    assert len(app.status_callbacks) == 1


def test_a_caller_left_in_the_queue_ends_queued(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(
        CALL + "steps:\n  - press: '1'\n  - press: '2'\n  - hold: 2\n  - expect: 您前面还有1位\n"
        "outcome: {kind: queued, queue: security}\n",
        tmp_path,
        clock,
    )

    assert (result.passed, result.outcome) == (True, Outcome("queued", queue="security"))


def test_an_agent_answering_bridges_the_call(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(
        CALL + "steps:\n  - press: '1'\n  - press: '2'\n  - agent: {seconds: 90}\n"
        "  - expect: 感谢您的来电\noutcome: {kind: bridged, queue: security, recording: false}\n",
        tmp_path,
        clock,
    )

    assert (result.passed, result.outcome) == (True, Outcome("bridged", queue="security"))


def test_a_wrong_outcome_fails_after_the_call_and_says_what_happened(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(
        CALL + "steps:\n  - press: '1'\n  - press: '1'\n"
        "outcome: {kind: queued, queue: security, recording: true}\n",
        tmp_path,
        clock,
    )

    assert result.failure == Failure(
        None,
        "outcome: {kind: queued, queue: security, recording: true}",
        "outcome: {kind: queued, queue: security, recording: true}",
        "ended hangup, 0 recordings",
        "expected the call to end queued and in queue 'security' and a recording,"
        " but it ended hangup, 0 recordings",
        "outcome",
    )


def test_a_recording_counts_for_the_outcome_and_leaves_a_message(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = TinyHotline()
    result = run_text(
        CALL
        + """\
steps:
  - press: "1"
  - press: "3"
  - record: {seconds: 8, finish: "#"}
  - expect: 留言已保存
outcome: {kind: hangup, recording: true}
effects:
  - messages: {phone: "+8613800000002", count: 1}
""",
        tmp_path,
        clock,
        app,
    )

    assert result.failure is None
    assert [recording.duration for recording in result.call.recordings] == [8]


def test_effects_are_checked_after_the_call_through_named_checks(
    tmp_path: Path, clock: ManualClock
) -> None:
    text = (
        CALL + "steps:\n  - press: '1'\n  - press: '9'\n  - press: '{pin}'\n"
        "effects:\n  - account: {{phone: '+8613800000002', status: active}}\n"
    )

    unlocked = run_text(text.format(pin="123456"), tmp_path, clock)
    wrong_pin = run_text(text.format(pin="000000"), tmp_path, clock)

    assert unlocked.passed is True
    assert wrong_pin.failure == Failure(
        None,
        "effects[0].account",
        "account: {phone: +8613800000002, status: active}",
        "account +8613800000002 is locked, not active",
        "account: {phone: +8613800000002, status: active}: "
        "account +8613800000002 is locked, not active",
        "effect",
    )


def test_an_unknown_effect_check_fails_and_lists_the_known_checks(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(
        CALL + "steps: [hangup]\neffects:\n  - tickets: {count: 1}\n", tmp_path, clock
    )

    assert result.failure is not None
    assert result.failure.message == "unknown check 'tickets'; known checks: account, messages"


def test_a_reply_twilio_would_reject_fails_the_script_instead_of_crashing(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(CALL + "steps:\n  - press: '1'\n  - press: '8'\n  - wait\n", tmp_path, clock)

    assert result.failure is not None
    assert (result.failure.step_index, result.failure.mode) == (1, "error")
    assert result.failure.message.startswith(
        "the simulated call failed: https://ivr.example.test/main?lang=zh: <Sya>:"
    )
    assert result.outcome is not None
    assert result.outcome.kind == "failed"


def test_an_action_after_the_call_ended_fails_the_step(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(
        CALL + "steps:\n  - press: '1'\n  - press: '1'\n  - press: '1'\n", tmp_path, clock
    )

    assert result.failure == Failure(
        2,
        'press: "1"',
        "",
        "您的余额是一百元。再见。",
        "the call had already ended (hangup) before this step",
        "ended",
    )


def test_an_action_the_call_is_not_waiting_for_fails_the_step(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(CALL + "steps:\n  - hold: 1\n", tmp_path, clock)

    assert result.failure is not None
    assert result.failure.message == (
        "the simulated call failed: call CA00000000000000000000000000000001 is not in a queue:"
        " it cannot hold"
    )


def test_the_first_failing_step_stops_the_script(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(
        CALL + "steps:\n  - expect: 不存在的话\n  - press: '1'\n  - expect: 人工\n", tmp_path, clock
    )

    assert result.failure is not None
    assert result.failure.step_index == 0
    assert [turn.kind for turn in result.call.transcript] == ["say", "hangup"]
    assert [(entry.step_index, entry.passed) for entry in result.log] == [(0, False)]


def test_a_dial_step_ends_the_transfer_and_the_call_ends_dialed(
    tmp_path: Path, clock: ManualClock
) -> None:
    text = CALL + (
        "steps:\n  - press: '1'\n  - press: '0'\n  - dial: {dial}\n  - expect: {heard}\n"
        "outcome: {{kind: {kind}, number: '+8610000000'}}\n"
    )

    answered = run_text(
        text.format(dial="{status: completed, duration: 40}", heard="completed", kind="dialed"),
        tmp_path,
        clock,
    )
    busy = run_text(text.format(dial="busy", heard="busy", kind="dialed"), tmp_path, clock)

    assert (answered.passed, answered.outcome) == (True, Outcome("dialed", number="+8610000000"))
    assert busy.failure is not None
    assert busy.failure.message == (
        "expected the call to end dialed and to dial '+8610000000', but it ended hangup"
    )


def test_speech_with_a_low_confidence_is_sent_with_that_confidence(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(
        CALL + "steps:\n  - press: '1'\n  - say: {text: 人工, confidence: 0.4}\n", tmp_path, clock
    )

    assert [
        form.get("Confidence") for _, form in result.call.requests if "SpeechResult" in form
    ] == ["0.4"]


def test_a_call_rejected_on_its_first_document_fails_the_script_at_dial(
    tmp_path: Path, clock: ManualClock
) -> None:
    text = "name: broken\nfrom: '+8613800000099'\nsteps: [hangup]\n"

    result = run_text(text, tmp_path, clock)

    assert result.failure is not None
    assert (result.failure.step_index, result.failure.step, result.failure.mode) == (
        None,
        "dial",
        "error",
    )
    assert result.failure.message.startswith(
        "the simulated call failed: https://ivr.example.test/voice: "
    )
    assert result.outcome is not None
    assert result.outcome.kind == "failed"


def test_a_check_that_cannot_run_with_the_given_arguments_fails_the_script(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(
        CALL + "steps: [hangup]\neffects:\n  - account: {status: active}\n", tmp_path, clock
    )

    assert result.failure is not None
    assert result.failure.message == (
        "account: {status: active}: check 'account' could not run: KeyError: 'phone'"
    )


def test_new_step_forms_describe_themselves_as_written(tmp_path: Path) -> None:
    text = CALL + (
        "steps:\n  - press: {keys: '2', early: true}\n  - say: {text: hi, early: true}\n"
        "  - agent: {result: queue-full}\n  - agent: {seconds: 9, pickup: /agent/pickup}\n"
        "outcome: {kind: hangup, status: completed}\n"
    )
    script = load_script(script_file(tmp_path, text))

    assert [step.describe() for step in script.steps] == [
        'press: {keys: "2", early: true}',
        'say: {text: "hi", early: true}',
        "agent: {result: queue-full}",
        'agent: {seconds: 9, pickup: "/agent/pickup"}',
    ]
    assert script.outcome is not None
    assert script.outcome.describe() == "outcome: {kind: hangup, status: completed}"


def test_an_early_press_cuts_the_prompt_off_in_the_transcript(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(CALL + "steps:\n  - press: {keys: '1', early: true}\n", tmp_path, clock)

    assert result.passed is True
    assert result.call.transcript[0].cut is True
    assert result.call.transcript[1].kind == "press"


def test_a_network_busy_call_ends_unanswered_and_is_reported_busy(
    tmp_path: Path, clock: ManualClock
) -> None:
    passing = run_text(
        CALL + "network: busy\nsteps: []\noutcome: {kind: unanswered, status: busy}\n",
        tmp_path,
        clock,
    )
    failing = run_text(
        CALL + "network: busy\nsteps: []\noutcome: {kind: unanswered, status: completed}\n",
        tmp_path,
        clock,
    )

    assert passing.passed is True
    assert failing.failure is not None
    assert failing.failure.message == (
        "expected the call to be reported completed, but it ended unanswered (busy), reported busy"
    )


# ---------------------------------------------------------------------------------------------
# Loading again


ONE_KEY = """\
name: one key
from: "+8613800000001"
steps:
  - press: "1"
"""


def test_a_script_edited_in_place_is_read_afresh_even_with_its_size_and_time_kept(
    tmp_path: Path,
) -> None:
    path = script_file(tmp_path, ONE_KEY)
    first = load_script(path)
    kept = path.stat()
    path.write_text(ONE_KEY.replace('"1"', '"2"'), encoding="utf-8")
    os.utime(path, ns=(kept.st_atime_ns, kept.st_mtime_ns))

    second = load_script(path)

    assert path.stat().st_size == kept.st_size
    assert (first.steps, second.steps) == ((Press("1"),), (Press("2"),))


def test_one_text_in_two_files_loads_as_two_scripts_each_naming_its_file(tmp_path: Path) -> None:
    left = script_file(tmp_path, ONE_KEY, "left.yaml")
    right = script_file(tmp_path, ONE_KEY, "right.yaml")

    assert [load_script(left).path, load_script(right).path] == [str(left), str(right)]


def test_a_broken_script_fails_each_time_it_is_loaded_until_it_is_fixed(tmp_path: Path) -> None:
    path = script_file(tmp_path, ONE_KEY.replace("press", "presss"))
    errors = []
    for _ in range(2):
        with pytest.raises(ScriptError) as error:
            load_script(path)
        errors.append(error.value.key)
    path.write_text(ONE_KEY, encoding="utf-8")

    assert errors == ["steps[0].presss", "steps[0].presss"]
    assert load_script(path).steps == (Press("1"),)
