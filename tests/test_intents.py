"""ivr.voice.intents: spoken answers to menu keys, in zh-CN and en-US.

Accuracy over the labelled phrase sets in ``tests/speech/`` (what callers say at the main menu
and at yes/no questions), then exact unit tests: normalisation, keys said aloud, yes/no edge
cases, hints.

``CHOICES`` holds the synonyms proposed for the main menu of ``flows/hotline.yaml``, shaped as
each option's ``synonyms:`` key there (issue id → language → words). The matchers as the
engine uses them (the flow's own synonyms, examples and agent words, rules or trained) are
scored in tests/test_understanding.py and bench/intents.py.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from ivr.flow.loader import load_flow
from ivr.voice import intents
from ivr.voice.intents import Choice
from ivr.voice.intents import Match
from ivr.voice.intents import clean
from ivr.voice.intents import hints
from ivr.voice.intents import match
from ivr.voice.intents import normalise
from ivr.voice.intents import spoken_key
from ivr.voice.intents import yes_no

HERE = Path(__file__).parent
HOTLINE = HERE.parent / "flows" / "hotline.yaml"
LANGUAGES = ("zh-CN", "en-US")

# The main menu of flows/hotline.yaml: issue id → key.
MAIN_MENU_KEYS = {
    "frozen": "1",
    "payment_failed": "2",
    "topup": "3",
    "refund": "4",
    "stolen": "5",
    "complaint": "6",
    "login": "7",
    "limits": "8",
}

# Proposed `synonyms:` for each main-menu option (issue id → language → words). Short words that
# only one option uses carry the most: a synonym said anywhere in a sentence routes the call, so
# 充 catches 充值/充钱/充了两百块, and "declined" any declined payment.
# fmt: off
CHOICES: dict[str, dict[str, list[str]]] = {
    "frozen": {
        "zh-CN": ["冻结", "冻", "锁", "解锁", "被封", "封号", "被限制", "风控", "账户异常", "不能用了", "密码输错"],
        "en-US": ["frozen", "unfreeze", "locked", "unlock", "blocked", "suspended", "disabled", "restricted", "on hold", "too many password attempts"],
    },
    "payment_failed": {
        "zh-CN": ["支付失败", "付款失败", "交易失败", "付不了", "支付不了", "付不出去", "付款不成功", "支付没成功", "没付成功", "付钱没成功", "交易异常"],
        "en-US": ["payment failed", "failed payment", "declined", "rejected", "can't pay", "unable to pay", "didn't go through", "transaction failed", "payment error", "payment not working"],
    },
    "topup": {
        "zh-CN": ["充值", "充", "充值没到账", "余额没变", "银行卡扣款", "扣了钱", "进账"],
        "en-US": ["top up", "topped up", "add money", "added funds", "deposit", "recharge", "loaded money", "money I put in", "wallet not credited", "balance didn't change"],
    },
    "refund": {
        "zh-CN": ["退款", "退钱", "退货", "退回", "退的", "退款进度"],
        "en-US": ["refund", "refunded", "money back", "returned an item", "refund status"],
    },
    "stolen": {
        "zh-CN": ["盗", "被黑", "别人登录", "别人用", "转走", "冒用", "不是我做的", "不认识", "陌生", "莫名其妙", "手机丢了"],
        "en-US": ["stolen", "hacked", "compromised", "fraud", "unauthorized", "disappeared", "someone used", "someone took", "someone logged in", "didn't make", "don't recognize", "lost my phone"],
    },
    "complaint": {
        "zh-CN": ["投诉", "举报", "不满", "太差", "态度差", "服务差", "意见", "建议", "反映", "乱收费"],
        "en-US": ["complaint", "complain", "report", "not happy", "unhappy", "rude", "terrible", "awful", "bad service"],
    },
    "login": {
        "zh-CN": ["登录", "登不上", "密码", "忘记密码", "找回密码", "重置密码", "改密码", "验证码"],
        "en-US": ["log in", "sign in", "password", "forgot my password", "reset my password", "change my password", "verification code", "login problem"],
    },
    "limits": {
        "zh-CN": ["限额", "额度", "上限", "手续费", "服务费", "收费", "收多少", "提现", "最多能", "调高"],
        "en-US": ["limit", "fee", "maximum", "cost", "withdraw", "per day", "in one day"],
    },
}
# fmt: on

INTENT_ACCURACY = 0.90
YES_NO_ACCURACY = 0.95
FALSE_ACCEPTS = 0.10


@dataclass(frozen=True)
class Phrase:
    say: str
    expected: str  # an issue id or "none"; for yes/no, "1" (yes) or "2" (no)


@cache
def main_menu_choices(lang: str) -> tuple[Choice, ...]:
    """The main menu as ``match`` sees it: the flow's labels, the synonyms proposed here."""
    options = load_flow(HOTLINE).states["main_menu"].options
    return tuple(
        Choice(o.key, (o.label[lang],), tuple(CHOICES[o.issue or ""][lang])) for o in options
    )


@cache
def phrases(lang: str) -> tuple[tuple[Phrase, ...], tuple[Phrase, ...]]:
    """The phrase set of a language: (main-menu phrases, yes/no phrases). Refuses entries that
    are not what the file's header says, so a typo cannot silently skip a phrase."""
    data = yaml.safe_load((HERE / "speech" / f"{lang}.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"intents", "yes_no"}
    issues = set(MAIN_MENU_KEYS) | {"none"}
    menu = []
    for item in data["intents"]:
        assert set(item) == {"say", "intent"}, item
        assert item["intent"] in issues, item
        menu.append(Phrase(item["say"], item["intent"]))
    answers = {"yes": "1", "no": "2"}
    questions = []
    for item in data["yes_no"]:
        assert set(item) == {"say", "answer"}, item
        assert item["answer"] in answers, item
        questions.append(Phrase(item["say"], answers[item["answer"]]))
    return tuple(menu), tuple(questions)


def routed(phrase: str, lang: str) -> str:
    """The issue a main-menu answer is routed to, or "none" when it is not clear."""
    found = match(phrase, main_menu_choices(lang), lang)
    issue_of = {key: issue for issue, key in MAIN_MENU_KEYS.items()}
    return issue_of[found.key] if found.clear and found.key is not None else "none"


def answered(phrase: str, lang: str) -> str:
    found = yes_no(phrase, lang)
    return found.key if found.clear and found.key is not None else "none"


# ----------------------------------------------------------------------------- the data


def test_main_menu_keys_and_issues_are_those_of_the_flow() -> None:
    options = load_flow(HOTLINE).states["main_menu"].options
    assert {o.issue: o.key for o in options} == MAIN_MENU_KEYS


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_option_has_five_to_twelve_distinct_synonyms(lang: str) -> None:
    assert set(CHOICES) == set(MAIN_MENU_KEYS)
    sizes = {issue: len(set(words[lang])) for issue, words in CHOICES.items()}
    assert {issue: size for issue, size in sizes.items() if not 5 <= size <= 12} == {}
    assert all(len(words[lang]) == len(set(words[lang])) for words in CHOICES.values())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_phrase_sets_cover_every_issue_with_enough_phrases(lang: str) -> None:
    menu, questions = phrases(lang)
    issues = [p.expected for p in menu if p.expected != "none"]
    assert len(issues) >= 70
    assert set(issues) == set(MAIN_MENU_KEYS)
    assert sum(p.expected == "none" for p in menu) >= 10
    assert {p.expected for p in questions} == {"1", "2"}
    assert len(questions) >= 15


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("lang", LANGUAGES)
def test_main_menu_phrases_are_routed_to_their_issue_at_least_90_percent(lang: str) -> None:
    menu, _ = phrases(lang)
    wanted = [p for p in menu if p.expected != "none"]
    wrong = [(p.say, p.expected, routed(p.say, lang)) for p in wanted]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert 1 - len(wrong) / len(wanted) >= INTENT_ACCURACY, wrong


@pytest.mark.parametrize("lang", LANGUAGES)
def test_yes_no_phrases_are_understood_at_least_95_percent(lang: str) -> None:
    _, questions = phrases(lang)
    wrong = [(p.say, p.expected, answered(p.say, lang)) for p in questions]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert 1 - len(wrong) / len(questions) >= YES_NO_ACCURACY, wrong


@pytest.mark.parametrize("lang", LANGUAGES)
def test_unrelated_phrases_are_rarely_routed(lang: str) -> None:
    menu, _ = phrases(lang)
    unrelated = [p.say for p in menu if p.expected == "none"]
    accepted = [(say, routed(say, lang)) for say in unrelated if routed(say, lang) != "none"]
    assert len(accepted) / len(unrelated) <= FALSE_ACCEPTS, accepted


# ----------------------------------------------------------------------------- normalising


@pytest.mark.parametrize(
    ("text", "lang", "cleaned"),
    [
        ("我的充值，还没到账。", "zh-CN", "我的充值还没到账"),
        ("退款？！", "zh-CN", "退款"),
        ("ＡＰＰ 登录 不了", "zh-CN", "app登录不了"),
        ("２号", "zh-CN", "2号"),
        ("Yes.", "en-US", "yes"),
        ("  My   top-up ISN'T there!  ", "en-US", "my top up isnt there"),
        ("Ｐｒｅｓｓ　２", "en-US", "press 2"),
        ("", "en-US", ""),
    ],
)
def test_clean_folds_width_case_punctuation_and_spaces(text: str, lang: str, cleaned: str) -> None:
    assert clean(text, lang) == cleaned


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("我的充值，还没到账。", "充值还没到账"),
        ("那个，请问一下我的退款呢？", "退款"),
        ("嗯，就是帮我查一下为什么付款失败了吧", "查付款失败"),
        ("我想了解一下手续费", "了解手续费"),
        ("我不要投诉", "不要投诉"),
        ("我的帐号被别人登陆了", "账户被有人登录"),
    ],
)
def test_mandarin_loses_fillers_but_keeps_the_words_that_hold_them(
    text: str, normalised: str
) -> None:
    assert normalise(text, "zh-CN") == normalised


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("My payments FAILED.", "pay fail"),
        ("Payment fails, failing, failed.", "pay fail fail fail"),
        ("I topped up.", "top up"),
        ("My account is frozen.", "account freez"),
        ("Unfreeze it", "unfreez"),
        ("I can't log in, I didn't get the code.", "not log in not code"),
        ("Someone logged into my login", "someon log in log in"),
        ("Unauthorized charges", "not authoriz charg"),
    ],
)
def test_english_is_stemmed_without_stopwords_and_negations_become_not(
    text: str, normalised: str
) -> None:
    assert normalise(text, "en-US") == normalised


def test_an_unknown_language_is_a_bug_not_a_no_match() -> None:
    with pytest.raises(ValueError, match="no speech matching for language 'fr-FR'"):
        match("bonjour", main_menu_choices("en-US"), "fr-FR")


def test_recogniser_language_codes_are_accepted() -> None:
    assert normalise("我的退款", "cmn-Hans-CN") == "退款"
    assert normalise("Refunds", "en-GB") == "refund"


# ----------------------------------------------------------------------------- keys said aloud


@pytest.mark.parametrize(
    ("said", "lang", "key"),
    [
        ("2", "en-US", "2"),
        ("Two.", "en-US", "2"),
        ("Press two.", "en-US", "2"),
        ("Press to.", "en-US", "2"),
        ("Option 3", "en-US", "3"),
        ("Number one, please.", "en-US", "1"),
        ("One.", "en-US", "1"),
        ("The second one.", "en-US", "2"),
        ("I'll take the third one.", "en-US", "3"),
        ("Zero", "en-US", "0"),
        ("Press star", "en-US", "*"),
        ("二", "zh-CN", "2"),
        ("2。", "zh-CN", "2"),
        ("按三", "zh-CN", "3"),
        ("第三个", "zh-CN", "3"),
        ("我选第二个吧", "zh-CN", "2"),
        ("两号", "zh-CN", "2"),
        ("幺", "zh-CN", "1"),
        ("选项5", "zh-CN", "5"),
        ("零", "zh-CN", "0"),
        ("星号键", "zh-CN", "*"),
        ("井号", "zh-CN", "#"),
    ],
)
def test_a_key_said_aloud_is_that_key(said: str, lang: str, key: str) -> None:
    assert spoken_key(said, lang) == key


@pytest.mark.parametrize(
    ("said", "lang"),
    [
        ("to", "en-US"),  # "to" is 2 only after "press"
        ("someone", "en-US"),
        ("one or two", "en-US"),
        ("22", "en-US"),
        ("I have one question", "en-US"),
        ("Oh.", "en-US"),
        ("", "en-US"),
        ("一下", "zh-CN"),
        ("十二", "zh-CN"),
        ("我要一个退款", "zh-CN"),
        ("", "zh-CN"),
    ],
)
def test_words_that_merely_contain_a_number_are_not_a_key(said: str, lang: str) -> None:
    assert spoken_key(said, lang) is None


def test_a_key_said_aloud_wins_when_the_menu_offers_it() -> None:
    assert match("Press two.", main_menu_choices("en-US"), "en-US") == Match(
        "2", 1.0, 0.0, "press two"
    )
    assert match("第八个", main_menu_choices("zh-CN"), "zh-CN") == Match("8", 1.0, 0.0, "第八个")


def test_a_key_the_menu_does_not_offer_is_no_match() -> None:
    assert match("Press nine.", main_menu_choices("en-US"), "en-US") == Match(
        None, 0.0, 0.0, "press nine"
    )


# ----------------------------------------------------------------------------- matching

YES_NO_MENU = (Choice("1", ("确认",), ("对",)), Choice("2", ("重新输入",), ("不对",)))


def test_a_synonym_said_alone_scores_exactly_one() -> None:
    assert match("退款。", main_menu_choices("zh-CN"), "zh-CN") == Match("4", 1.0, 0.0, "退款")


def test_a_synonym_said_in_a_sentence_is_clear() -> None:
    found = match("我的充值还没到账", main_menu_choices("zh-CN"), "zh-CN")
    assert (found.key, found.clear, found.score, found.runner_up) == ("3", True, 0.8667, 0.0)


def test_a_synonym_with_words_inserted_is_clear_but_scores_less() -> None:
    found = match("付款老是失败", main_menu_choices("zh-CN"), "zh-CN")
    assert (found.key, found.clear, found.score) == ("2", True, 0.65)
    found = match("Payments keep failing.", main_menu_choices("en-US"), "en-US")
    assert (found.key, found.clear, found.score) == ("2", True, 0.7)


@pytest.mark.parametrize(
    ("said", "lang", "score"),
    [
        # 别人登录 (stolen) holds 登录 (login)
        ("我收到短信说有人登录了我的账号", "zh-CN", 0.8727),
        # "someone logged in" (stolen) holds "log in" (login)
        ("Somebody logged into my account without permission.", "en-US", 0.9),
    ],
)
def test_a_synonym_inside_a_longer_synonym_of_another_option_is_outranked(
    said: str, lang: str, score: float
) -> None:
    found = match(said, main_menu_choices(lang), lang)
    assert (found.key, found.score, found.runner_up) == ("5", score, intents.SHADOWED_SCORE)
    assert found.clear


def test_two_problems_at_once_are_not_clear() -> None:
    found = match("付款失败了，还要退款", main_menu_choices("zh-CN"), "zh-CN")
    assert (found.key, found.clear) == ("2", False)
    assert found.score - found.runner_up < intents.CLEAR_MARGIN


@pytest.mark.parametrize("said", ["", "。", "嗯。", "吧"])
def test_nothing_meaningful_said_is_no_match(said: str) -> None:
    assert match(said, main_menu_choices("zh-CN"), "zh-CN") == Match(
        None, 0.0, 0.0, clean(said, "zh-CN")
    )


def test_an_unrelated_sentence_is_no_match_at_all() -> None:
    assert match("今天天气怎么样", main_menu_choices("zh-CN"), "zh-CN") == Match(
        None, 0.0, 0.0, "今天天气怎么样"
    )


def test_choices_may_come_as_a_list_and_the_result_is_the_same() -> None:
    choices = main_menu_choices("en-US")
    assert match("My card was declined.", list(choices), "en-US") == match(
        "My card was declined.", choices, "en-US"
    )
    assert match("My card was declined.", choices, "en-US").key == "2"


def test_a_very_long_utterance_is_scored_on_its_start() -> None:
    found = match("我的退款还没到" + "然后" * 500, main_menu_choices("zh-CN"), "zh-CN")
    assert (found.key, found.clear) == ("4", True)


def test_a_two_option_menu_matches_its_own_labels() -> None:
    assert match("确认", YES_NO_MENU, "zh-CN") == Match("1", 1.0, 0.0, "确认")
    assert match("重新输入一下", YES_NO_MENU, "zh-CN").key == "2"
    assert match("不对", YES_NO_MENU, "zh-CN").key == "2"


@pytest.mark.parametrize(
    ("score", "runner_up", "clear"),
    [(0.5, 0.4, True), (0.49, 0.0, False), (0.9, 0.81, False), (1.0, 0.9, True)],
)
def test_a_match_is_clear_above_the_threshold_with_a_margin(
    score: float, runner_up: float, clear: bool
) -> None:
    assert Match("1", score, runner_up, "x").clear is clear


def test_no_key_is_never_clear() -> None:
    assert Match(None, 1.0, 0.0, "x").clear is False


# ----------------------------------------------------------------------------- yes / no


@pytest.mark.parametrize(
    ("said", "lang", "key"),
    [
        ("是的。", "zh-CN", "1"),
        ("解决了", "zh-CN", "1"),
        ("已经解决了，谢谢", "zh-CN", "1"),
        ("没问题", "zh-CN", "1"),
        ("嗯", "zh-CN", "1"),
        ("没有解决", "zh-CN", "2"),
        ("还没解决呢", "zh-CN", "2"),
        ("问题还是没解决", "zh-CN", "2"),
        ("不是", "zh-CN", "2"),
        ("不需要", "zh-CN", "2"),
        ("嗯，没解决", "zh-CN", "2"),
        ("按一", "zh-CN", "1"),
        ("Yes.", "en-US", "1"),
        ("That's right.", "en-US", "1"),
        ("No problem.", "en-US", "1"),
        ("Uh huh.", "en-US", "1"),
        ("No, it didn't.", "en-US", "2"),
        ("That's not right.", "en-US", "2"),
        ("Not really.", "en-US", "2"),
        ("Press two.", "en-US", "2"),
    ],
)
def test_yes_and_no(said: str, lang: str, key: str) -> None:
    found = yes_no(said, lang)
    assert (found.key, found.clear) == (key, True)


def test_a_whole_answer_scores_one_and_a_longer_sentence_less() -> None:
    assert yes_no("没有解决", "zh-CN") == Match("2", 1.0, 0.0, "没有解决")
    assert yes_no("Yes, it did.", "en-US") == Match("1", 0.9333, 0.0, "yes it did")


@pytest.mark.parametrize(
    ("said", "lang"),
    [("是的，没解决", "zh-CN"), ("对，不对", "zh-CN"), ("Yes, no.", "en-US")],
)
def test_a_yes_and_a_no_together_are_not_clear(said: str, lang: str) -> None:
    assert yes_no(said, lang).clear is False


@pytest.mark.parametrize(
    ("said", "lang"),
    [
        ("不知道", "zh-CN"),
        ("我不确定", "zh-CN"),
        ("Not sure.", "en-US"),
        ("I don't know.", "en-US"),
    ],
)
def test_unsure_is_neither_yes_nor_no(said: str, lang: str) -> None:
    assert yes_no(said, lang).key is None


@pytest.mark.parametrize(
    ("said", "lang"), [("今天天气怎么样", "zh-CN"), ("Pizza.", "en-US"), ("", "en-US")]
)
def test_something_else_is_neither_yes_nor_no(said: str, lang: str) -> None:
    assert yes_no(said, lang) == Match(None, 0.0, 0.0, clean(said, lang))


# ----------------------------------------------------------------------------- hints


def test_hints_are_labels_then_synonyms_deduplicated_without_commas() -> None:
    choices = [
        Choice("1", ("Refund status",), ("refund", "money back")),
        Choice("2", ("Payment failed",), ("REFUND", "declined, rejected", "x")),
    ]
    assert hints(choices) == "Refund status, refund, money back, Payment failed, declined rejected"


def test_hints_stop_at_one_hundred_phrases() -> None:
    choices = [Choice(str(i), (f"label {i}",), (f"synonym {i}",)) for i in range(80)]
    text = hints(choices)
    assert len(text.split(", ")) == intents.MAX_HINTS
    assert text.split(", ")[-1] == "synonym 49"


def test_hints_of_the_main_menu_leave_out_single_characters() -> None:
    text = hints(main_menu_choices("zh-CN"))
    assert text.startswith("账户被冻结或锁定, 冻结, 解锁, 被封")
    assert "冻, " not in text
    assert ", 充," not in text


# ----------------------------------------------------------------------------- word lists


def test_the_word_lists_are_read_once() -> None:
    assert intents.mandarin() is intents.mandarin()
    assert intents.english() is intents.english()


def test_a_key_said_in_mandarin_is_matched_by_a_pattern_built_from_the_word_file() -> None:
    words = intents.mandarin()
    assert words.key.pattern == (
        "(?:我)?(?:要|想)?(?:按|选|选择|拨|按键|选项|数字)?(?:第)?"
        "([0-9零〇一幺二两三四五六七八九])"
        "(?:号键|号|个|项|键|个选项)?(?:吧|啊|呢|谢谢)?"
    )
    assert words.key_symbol.pattern == "(?:按)?([星井])(?:号键|号|键)"
    assert words.hesitation.pattern == "[嗯呃啊哦呀啦嘛呗哈]"


def test_the_word_files_keep_yes_and_no_apart_and_in_order() -> None:
    zh, en = intents.mandarin(), intents.english()
    assert list(zh.yes_no) == ["1", "2", None, ""]
    assert zh.yes_no["2"][:3] == ("不", "不是", "不对")
    assert en.yes_no["1"][0] == "yes"
    assert en.yes_no["2"][0] == "no"
    assert {"not", "no", "cant"} <= en.negations
    assert "on" in en.stopwords


def test_the_mandarin_spellings_are_made_one_in_file_order() -> None:
    assert intents.mandarin().same_word == (
        ("帐", "账"),
        ("账号", "账户"),
        ("别人", "有人"),
        ("他人", "有人"),
        ("登陆", "登录"),
    )


def test_a_bare_no_that_yaml_reads_as_false_is_refused_with_file_and_key() -> None:
    words = intents.WordFile("words/en-US.yaml", "negations: [not, no, never]")
    with pytest.raises(
        ValueError,
        match=r"^words/en-US\.yaml: negations: expected a list of words \(quote yes/no/on\)$",
    ):
        words.words("negations")


def test_a_missing_list_is_refused_with_file_and_key() -> None:
    with pytest.raises(ValueError, match=r"^zh\.yaml: spoken_keys\.words: missing$"):
        intents.mandarin_words(intents.WordFile("zh.yaml", "fillers: [我]"))


def test_a_mandarin_key_word_of_two_characters_is_refused() -> None:
    text = "spoken_keys: {words: {十一: '1'}}"
    with pytest.raises(
        ValueError, match=r"^zh\.yaml: spoken_keys\.words: expected single characters$"
    ):
        intents.mandarin_words(intents.WordFile("zh.yaml", text))


def test_the_word_files_ship_with_the_package() -> None:
    data = tomllib.loads((HERE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "voice/words/*.yaml" in data["tool"]["setuptools"]["package-data"]["ivr"]
    shipped = sorted(p.name for p in (HERE.parent / "ivr" / "voice" / "words").glob("*.yaml"))
    assert shipped == ["en-US.yaml", "variants-en-US.yaml", "variants-zh-CN.yaml", "zh-CN.yaml"]


# ----------------------------------------------------------------------------- purity


def test_the_module_imports_neither_flask_nor_twilio_and_of_ivr_only_languages_and_yaml() -> None:
    code = (
        "import sys, ivr.voice.intents; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'twilio', 'ivr')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == (
        "['ivr', 'ivr.errors', 'ivr.voice', 'ivr.voice.intents', 'ivr.voice.languages', "
        "'ivr.yamlstrict']"
    )
