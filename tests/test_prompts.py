"""Prompt ids and the split of templates into recorded segments and said values (``ivr.flow.prompts``).

Pure: no app, no files but the shipped flow."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from ivr.flow import prompts
from ivr.flow.loader import load_flow
from ivr.flow.prompts import Prompt
from ivr.flow.prompts import Segment
from ivr.flow.spec import ANSWERING_PHRASES
from ivr.flow.spec import Flow
from ivr.flow.spec import Waiting
from ivr.voice import reading as speech
from ivr.voice.speech import Part

HOTLINE = Path(__file__).resolve().parent.parent / "flows" / "hotline.yaml"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def hotline() -> Flow:
    return load_flow(HOTLINE)


def by_key(flow: Flow) -> dict[tuple[str, str], str]:
    return {(p.id, p.lang): p.text for p in prompts.flow_prompts(flow)}


def test_a_template_without_values_is_one_segment_named_by_the_prompt() -> None:
    assert prompts.segments("请选择您要咨询的问题。", "hotline.main_menu.prompt") == (
        Segment("请选择您要咨询的问题。", prompt="hotline.main_menu.prompt"),
    )


def test_a_template_splits_at_its_values_into_numbered_fixed_segments() -> None:
    template = "您最近一笔失败的支付是{when}向{merchant}支付的{amount}，失败原因是{reason}。"
    assert prompts.segments(template, "hotline.payment_details.prompt") == (
        Segment("您最近一笔失败的支付是", prompt="hotline.payment_details.prompt.0"),
        Segment("", name="when"),
        Segment("向", prompt="hotline.payment_details.prompt.1"),
        Segment("", name="merchant"),
        Segment("支付的", prompt="hotline.payment_details.prompt.2"),
        Segment("", name="amount"),
        Segment("，"),  # said with the amount: no recording starts with a comma
        Segment("失败原因是", prompt="hotline.payment_details.prompt.3"),
        Segment("", name="reason"),
        Segment("。"),  # nothing to pronounce: said with the reason
    )


def test_english_segments_keep_their_spaces_and_a_space_between_two_values_is_said() -> None:
    template = "Your most recent failed payment was {amount} to {merchant} {when}. It failed."
    assert prompts.segments(template, "p") == (
        Segment("Your most recent failed payment was ", prompt="p.0"),
        Segment("", name="amount"),
        Segment(" "),  # the space after a value is said with it, like punctuation
        Segment("to ", prompt="p.1"),
        Segment("", name="merchant"),
        Segment(" "),
        Segment("", name="when"),
        Segment(". "),
        Segment("It failed.", prompt="p.2"),
    )


def test_a_malformed_template_is_refused_with_the_project_message() -> None:
    with pytest.raises(ValueError, match=r"placeholder \{0\} is not a plain name"):
        prompts.segments("Press {0}", "p")


def test_a_template_is_cut_once_and_a_malformed_one_is_refused_every_time() -> None:
    template = "For {amount}, press 1."
    first = prompts.segments(template, "p")

    assert prompts.segments(template, "p") is first  # cached: a step does not cut it again
    assert prompts.segments(template, "q")[0] == Segment("For ", prompt="q.0")  # per prompt id
    for _ in range(2):  # an exception is not cached as a result
        with pytest.raises(ValueError, match=r"placeholder \{0\} is not a plain name"):
            prompts.segments("Press {0}", "p")


def test_fill_tags_fixed_parts_and_takes_values_from_the_caller() -> None:
    def value(name: str) -> Part:
        return Part({"name": "张伟"}[name])

    said = prompts.fill("验证成功，{name}，您好。", "zh-CN", "hotline.welcome_back.prompt", value)
    assert said.text == "验证成功，张伟，您好。"
    assert said.parts == (
        Part("验证成功，", "hotline.welcome_back.prompt.0"),
        Part("张伟"),
        Part("，"),
        Part("您好。", "hotline.welcome_back.prompt.1"),
    )


def test_every_hotline_template_filled_by_segments_reads_exactly_as_speech_fill(
    hotline: Flow,
) -> None:
    templates = [s.prompt for s in hotline.states.values() if s.prompt is not None]
    templates += [q.hold for q in hotline.queues.values()]
    checked = 0
    for text in templates:
        for lang, template in text.items():
            values = {name: f"<{name}>" for name in speech.placeholders(template)}
            said = prompts.fill(template, lang, "p", lambda name, v=values: Part(v[name]))
            assert said.text == speech.fill(template, values, lang, now=NOW), template
            assert "".join(p.text for p in said.parts) == said.text
            checked += 1
    assert checked == sum(len(text) for text in templates) >= 2 * 35


def test_each_option_announcement_has_its_own_id(hotline: Flow) -> None:
    prompts_ = by_key(hotline)
    assert prompts_[("hotline.main_menu.option.2", "zh-CN")] == "支付失败请按2。"
    assert prompts_[("hotline.main_menu.option.2", "en-US")] == "For a failed payment, press 2."
    assert prompts_[("hotline.survey.option.5", "zh-CN")] == "非常满意请按5。"


def test_an_option_announced_in_its_own_language_is_recorded_only_in_that_language(
    hotline: Flow,
) -> None:
    prompts_ = by_key(hotline)
    assert prompts_[("hotline.welcome.option.1", "zh-CN")] == "中文服务请按1。"
    assert ("hotline.welcome.option.1", "en-US") not in prompts_
    assert prompts_[("hotline.welcome.option.2", "en-US")] == "For English, press 2."
    assert ("hotline.welcome.option.2", "zh-CN") not in prompts_


def test_convention_keys_retries_and_hold_announcements_are_flow_wide_prompts(
    hotline: Flow,
) -> None:
    prompts_ = by_key(hotline)
    assert prompts_[("hotline.phrases.back", "zh-CN")] == "返回上一级请按星号键。"
    assert prompts_[("hotline.phrases.agent", "en-US")] == "To speak to an agent, press 0."
    assert prompts_[("hotline.retry.no_match", "zh-CN")] == "抱歉，您的输入无效。"
    assert prompts_[("hotline.retry.exhausted", "en-US")] == "Let me put you through to an agent."
    assert prompts_[("hotline.queues.general.hold", "zh-CN")] == (
        "客服人员正忙，请您稍候，我们会尽快为您接通。"
    )


def test_the_lines_said_outside_any_state_are_flow_wide_prompts(hotline: Flow) -> None:
    prompts_ = by_key(hotline)
    assert {k: v for k, v in prompts_.items() if k[0].split(".")[2] in ANSWERING_PHRASES} == {
        ("hotline.phrases.apology", "zh-CN"): "抱歉，系统暂时出现问题，正在为您转接人工客服。",
        ("hotline.phrases.apology", "en-US"): (
            "Sorry, something went wrong on our side. Let me put you through to an agent."
        ),
        ("hotline.phrases.restart", "zh-CN"): "抱歉，我们没有找到您的通话记录，现在为您重新开始。",
        ("hotline.phrases.restart", "en-US"): (
            "Sorry, we lost track of your call. Let's start again."
        ),
        ("hotline.phrases.connecting", "zh-CN"): "现在为您接通人工客服。",
        ("hotline.phrases.connecting", "en-US"): "Connecting you to an agent now.",
    }


def test_a_line_said_outside_any_state_is_one_recorded_part_per_language(hotline: Flow) -> None:
    lines = prompts.phrase_lines(hotline, "connecting")

    assert list(lines) == ["zh-CN", "en-US"]
    assert lines["en-US"].text == "Connecting you to an agent now."
    assert lines["en-US"].lang == "en-US"
    assert lines["en-US"].parts == (
        Part("Connecting you to an agent now.", "hotline.phrases.connecting"),
    )


def test_a_flow_without_a_line_said_outside_any_state_has_no_prompt_for_it(hotline: Flow) -> None:
    flow = dataclasses.replace(hotline, phrases=dataclasses.replace(hotline.phrases, apology=None))

    assert prompts.phrase_lines(flow, "apology") == {}
    assert not any(p.id == "hotline.phrases.apology" for p in prompts.flow_prompts(flow))


def test_the_confirm_phrase_and_the_waiting_texts_are_prompts_split_at_their_values(
    hotline: Flow,
) -> None:
    flow = dataclasses.replace(
        hotline,
        phrases=dataclasses.replace(
            hotline.phrases, confirm={"zh-CN": "您是说“{label}”吗？是请按1。", "en-US": "{label}?"}
        ),
        waiting=Waiting(
            position={
                "zh-CN": "您前面还有{position}位客户。",
                "en-US": "You are number {position}.",
            },
            offer_callback={"zh-CN": "不想等待请按1。", "en-US": "Press 1 for a call back."},
        ),
    )
    prompts_ = by_key(flow)
    assert prompts_[("hotline.phrases.confirm.0", "zh-CN")] == "您是说“"
    assert prompts_[("hotline.phrases.confirm.1", "zh-CN")] == "吗？是请按1。"
    assert ("hotline.phrases.confirm.0", "en-US") not in prompts_  # nothing fixed to record
    assert prompts_[("hotline.waiting.position.0", "en-US")] == "You are number"
    assert prompts_[("hotline.waiting.offer_callback", "zh-CN")] == "不想等待请按1。"


def test_star_and_pound_option_keys_are_named_in_ids(hotline: Flow) -> None:
    state = hotline.states["survey"]
    option = dataclasses.replace(state.options[0], key="*")
    assert prompts.option_id(hotline, state, option) == "hotline.survey.option.star"
    option = dataclasses.replace(state.options[0], key="#")
    assert prompts.option_id(hotline, state, option) == "hotline.survey.option.pound"


def test_a_state_with_its_own_retry_gets_its_own_retry_ids(hotline: Flow) -> None:
    state = dataclasses.replace(
        hotline.states["survey"],
        retry=dataclasses.replace(hotline.retry, no_match={"zh-CN": "请按1到5。", "en-US": "1-5."}),
    )
    flow = dataclasses.replace(hotline, states={**hotline.states, "survey": state})
    prompts_ = by_key(flow)
    assert prompts_[("hotline.survey.retry.no_match", "zh-CN")] == "请按1到5。"
    assert prompts_[("hotline.retry.no_match", "zh-CN")] == "抱歉，您的输入无效。"
    assert prompts.retry_id(flow, state, "no_match") == "hotline.survey.retry.no_match"
    assert prompts.retry_id(flow, hotline.states["main_menu"], "no_match") == (
        "hotline.retry.no_match"
    )


def test_the_hotline_lists_each_prompt_once_per_language_with_file_safe_ids(
    hotline: Flow,
) -> None:
    listed = prompts.flow_prompts(hotline)
    assert len({(p.id, p.lang) for p in listed}) == len(listed)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", p.id) for p in listed)
    assert all(p.text == p.text.strip() and prompts.speakable(p.text) for p in listed)
    assert listed[0] == Prompt(
        "hotline.welcome.prompt", "zh-CN", "您好，欢迎致电数字钱包客服热线。"
    )
    assert {p.lang for p in listed} == {"zh-CN", "en-US"}


def test_prompts_never_import_flask_or_twilio_and_the_audio_modules_never_import_flask() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import ivr.flow.prompts; print('flask' in sys.modules, 'twilio' in sys.modules); "
        "import ivr.media.recordings, ivr.media.tts, ivr.testing.speaker; print('flask' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
