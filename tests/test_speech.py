"""ivr.voice.reading: exact spoken text for every value type in zh-CN and en-US, JSON, templates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from ivr.voice.reading import Count
from ivr.voice.reading import DateOnly
from ivr.voice.reading import DigitString
from ivr.voice.reading import LabelRef
from ivr.voice.reading import Localized
from ivr.voice.reading import Money
from ivr.voice.reading import PhoneNumber
from ivr.voice.reading import When
from ivr.voice.reading import fill
from ivr.voice.reading import from_json
from ivr.voice.reading import placeholders
from ivr.voice.reading import say_key
from ivr.voice.reading import say_value
from ivr.voice.reading import ssml
from ivr.voice.reading import to_json

# 2026-11-23 10:00 in Shanghai, the conftest clock's start.
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def say(value: object, lang: str, now: datetime = NOW) -> str:
    return say_value(value, lang, now=now)


def flow_labels(group: str, key: str, lang: str) -> str:
    table = {
        ("reasons", "card_declined"): {"zh-CN": "银行卡被拒", "en-US": "the card was declined"}
    }
    return table[(group, key)][lang]


# Money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "zh", "en"),
    [
        (300000, "3000元", "3,000 yuan"),
        (8990, "89元9角", "89 yuan and 90 fen"),
        (12345, "123元4角5分", "123 yuan and 45 fen"),
        (5, "5分", "5 fen"),
        (50, "5角", "50 fen"),
        (55, "5角5分", "55 fen"),
        (0, "0元", "0 yuan"),
        (100, "1元", "1 yuan"),
        (1005, "10元零5分", "10 yuan and 5 fen"),
        (1050, "10元5角", "10 yuan and 50 fen"),
        (100000000, "1000000元", "1,000,000 yuan"),
        (100000001, "1000000元零1分", "1,000,000 yuan and 1 fen"),
        (-8990, "负89元9角", "minus 89 yuan and 90 fen"),
    ],
)
def test_money_is_read_as_yuan_jiao_fen_in_mandarin_and_yuan_and_fen_in_english(
    fen: int, zh: str, en: str
) -> None:
    assert (say(Money(fen), "zh-CN"), say(Money(fen), "en-US")) == (zh, en)


def test_money_refuses_anything_but_an_int_of_fen() -> None:
    with pytest.raises(TypeError, match=r"Money.fen must be an int: 89.9"):
        Money(89.9)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Money.fen must be an int: True"):
        Money(True)


# When -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "zh", "en"),
    [
        (utc(2026, 11, 23, 6, 30), "今天14点30分", "today at 2:30 PM"),
        (utc(2026, 11, 22, 1, 5), "昨天9点05分", "yesterday at 9:05 AM"),
        (utc(2026, 11, 21, 1, 5), "前天9点05分", "on November 21 at 9:05 AM"),
        (utc(2026, 11, 24, 8, 0), "明天16点00分", "tomorrow at 4:00 PM"),
        (utc(2026, 11, 25, 8, 0), "11月25日16点00分", "on November 25 at 4:00 PM"),
        (utc(2026, 11, 20, 6, 30), "11月20日14点30分", "on November 20 at 2:30 PM"),
        (utc(2025, 11, 20, 6, 30), "2025年11月20日14点30分", "on November 20, 2025 at 2:30 PM"),
        # 17:00Z is 01:00 next day in Shanghai: the caller's "today", not the UTC yesterday.
        (utc(2026, 11, 22, 17, 0), "今天1点00分", "today at 1:00 AM"),
        # 15:59Z is 23:59 in Shanghai on the 22nd: yesterday, though the same UTC date as 16:00Z.
        (utc(2026, 11, 22, 15, 59), "昨天23点59分", "yesterday at 11:59 PM"),
        (utc(2026, 11, 22, 16, 0), "今天0点00分", "today at 12:00 AM"),
        (utc(2026, 11, 23, 4, 0), "今天12点00分", "today at 12:00 PM"),
        (utc(2026, 11, 23, 4, 59), "今天12点59分", "today at 12:59 PM"),
        (utc(2026, 11, 22, 16, 1), "今天0点01分", "today at 12:01 AM"),
    ],
)
def test_when_is_read_relative_to_now_on_the_shanghai_calendar(
    at: datetime, zh: str, en: str
) -> None:
    assert (say(When(at), "zh-CN"), say(When(at), "en-US")) == (zh, en)


def test_when_is_read_on_the_calendar_of_the_timezone_passed() -> None:
    # 2026-11-23T02:00Z is 21:00 on the 22nd in New York; 15:30Z is 10:30 on the 23rd there.
    new_york = ZoneInfo("America/New_York")
    at = When(utc(2026, 11, 23, 15, 30))
    assert say_value(at, "en-US", now=NOW, tz=new_york) == "tomorrow at 10:30 AM"
    assert say_value(at, "zh-CN", now=NOW, tz=new_york) == "明天10点30分"


def test_when_year_is_added_only_when_it_differs_from_the_callers_year() -> None:
    new_year = utc(2027, 1, 1, 2, 0)  # 10:00 on 1 January in Shanghai
    assert say(When(utc(2026, 12, 29, 2, 0)), "zh-CN", now=new_year) == "2026年12月29日10点00分"
    assert say(When(utc(2026, 12, 29, 2, 0)), "en-US", now=new_year) == (
        "on December 29, 2026 at 10:00 AM"
    )
    assert say(When(utc(2026, 12, 31, 2, 0)), "en-US", now=new_year) == "yesterday at 10:00 AM"
    # 2026-12-31T16:30Z is already 1 January 2027 in Shanghai: no year.
    assert say(When(utc(2026, 12, 31, 16, 30)), "en-US", now=utc(2027, 1, 5, 2, 0)) == (
        "on January 1 at 12:30 AM"
    )


def test_when_with_a_non_utc_instant_is_stored_in_utc_and_equals_the_same_instant() -> None:
    shanghai = When(datetime(2026, 11, 23, 14, 30, tzinfo=timezone(timedelta(hours=8))))
    assert shanghai.at.tzinfo is UTC
    assert shanghai == When(utc(2026, 11, 23, 6, 30))
    assert say(shanghai, "zh-CN") == "今天14点30分"


def test_when_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match=r"When.at must be timezone-aware"):
        When(datetime(2026, 11, 23, 14, 30))


def test_when_refuses_what_is_not_a_datetime() -> None:
    with pytest.raises(TypeError, match=r"When.at must be a datetime: '2026-11-23T02:00:00Z'"):
        When("2026-11-23T02:00:00Z")  # type: ignore[arg-type]


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match=r"now must be timezone-aware"):
        say_value(When(NOW), "zh-CN", now=datetime(2026, 11, 23, 10, 0))


# DateOnly ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "zh", "en"),
    [
        (utc(2026, 11, 23, 2, 0), "今天", "today"),
        (utc(2026, 11, 24, 2, 0), "明天", "tomorrow"),
        (utc(2026, 11, 26, 2, 0), "11月26日", "on November 26"),
        (utc(2026, 11, 22, 2, 0), "11月22日", "on November 22"),
        (utc(2027, 1, 5, 2, 0), "2027年1月5日", "on January 5, 2027"),
        # 16:30Z on the 23rd is the 24th in Shanghai.
        (utc(2026, 11, 23, 16, 30), "明天", "tomorrow"),
    ],
)
def test_date_only_says_today_tomorrow_or_the_shanghai_date(at: datetime, zh: str, en: str) -> None:
    assert (say(DateOnly(at), "zh-CN"), say(DateOnly(at), "en-US")) == (zh, en)


# Digits and phone numbers -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_digit_string_is_read_digit_by_digit_in_both_languages(lang: str) -> None:
    assert say(DigitString("10000001"), lang) == "1 0 0 0 0 0 0 1"
    assert say(DigitString("0042"), lang) == "0 0 4 2"


@pytest.mark.parametrize("digits", ["", "12a4", "12 34", "١٢٣"])
def test_digit_string_refuses_anything_but_ascii_digits(digits: str) -> None:
    with pytest.raises(ValueError, match=r"DigitString.digits must be one or more digits"):
        DigitString(digits)


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        ("13800000001", "1 3 8, 0 0 0 0, 0 0 0 1"),
        ("+8613800000001", "1 3 8, 0 0 0 0, 0 0 0 1"),
        ("+861012345678", "0 1 0, 1 2 3 4, 5 6 7 8"),  # Beijing: the trunk 0 is said
        ("+862112345678", "0 2 1, 1 2 3 4, 5 6 7 8"),  # Shanghai
        ("02112345678", "0 2 1, 1 2 3 4, 5 6 7 8"),
        ("+864001234567", "4 0 0, 1 2 3, 4 5 6 7"),  # a 400 service line
        ("+12349013030", "1, 2 3 4, 9 0 1, 3 0 3 0"),  # abroad: country code, then its groups
        ("12345678", "1 2 3 4, 5 6 7 8"),
        ("123456789", "1 2 3 4 5, 6 7 8 9"),
        ("95188", "9 5 1 8 8"),
        ("110", "1 1 0"),
    ],
)
@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_phone_number_is_read_in_groups_as_written_in_china_without_its_country_code(
    number: str, spoken: str, lang: str
) -> None:
    assert say(PhoneNumber(number), lang) == spoken


@pytest.mark.parametrize("number", ["", "+", "+86", "138-0000-0001", "anonymous", "1+38"])
def test_phone_number_refuses_anything_but_digits_after_an_optional_plus(number: str) -> None:
    with pytest.raises(ValueError, match=r"PhoneNumber.number must be digits"):
        PhoneNumber(number)


# Localized, Count, labels, plain values ---------------------------------------------------


def test_localized_says_the_text_of_the_language() -> None:
    merchant = Localized(zh="星巴克", en="Starbucks")
    assert (say(merchant, "zh-CN"), say(merchant, "en-US")) == ("星巴克", "Starbucks")


def test_count_and_plain_values_are_said_as_written() -> None:
    assert [say(Count(3), "zh-CN"), say(Count(0), "en-US")] == ["3", "0"]
    assert [say("张三", "zh-CN"), say(42, "en-US")] == ["张三", "42"]


def test_label_ref_is_said_through_the_labels_lookup() -> None:
    reason = LabelRef("reasons", "card_declined")
    assert say_value(reason, "zh-CN", now=NOW, labels=flow_labels) == "银行卡被拒"
    assert say_value(reason, "en-US", now=NOW, labels=flow_labels) == "the card was declined"


def test_label_ref_without_a_labels_lookup_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"label reasons.card_declined cannot be said"):
        say(LabelRef("reasons", "card_declined"), "zh-CN")


@pytest.mark.parametrize("value", [89.9, True, None, b"1", ["a"]])
def test_values_of_other_types_are_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match=r"cannot say"):
        say(value, "en-US")


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown language 'zh'; expected one of zh-CN, en-US"):
        say(Money(100), "zh")


# JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (Money(300000), {"t": "money", "v": 300000}),
        (When(utc(2026, 11, 22, 17, 0)), {"t": "when", "v": "2026-11-22T17:00:00+00:00"}),
        (DateOnly(utc(2026, 11, 26, 0, 0)), {"t": "date", "v": "2026-11-26T00:00:00+00:00"}),
        (DigitString("0042"), {"t": "digits", "v": "0042"}),
        (PhoneNumber("+8613800000001"), {"t": "phone", "v": "+8613800000001"}),
        (
            Localized("星巴克", "Starbucks"),
            {"t": "localized", "v": {"zh": "星巴克", "en": "Starbucks"}},
        ),
        (Count(2), {"t": "count", "v": 2}),
        (
            LabelRef("reasons", "card_declined"),
            {"t": "label", "v": {"group": "reasons", "key": "card_declined"}},
        ),
        ("张三", "张三"),
        (7, 7),
    ],
)
def test_every_value_round_trips_through_json(value: object, stored: object) -> None:
    text = json.dumps(to_json(value), ensure_ascii=False)
    assert json.loads(text) == stored
    assert from_json(json.loads(text)) == value
    assert type(from_json(json.loads(text))) is type(value)


def test_json_round_trip_keeps_microseconds_of_an_instant() -> None:
    at = When(datetime(2026, 11, 23, 2, 0, 0, 123456, tzinfo=UTC))
    assert from_json(json.loads(json.dumps(to_json(at)))) == at


@pytest.mark.parametrize(
    "stored",
    [
        {"t": "money"},
        {"t": "money", "v": 1, "x": 2},
        {"t": "euro", "v": 1},
        {"t": "money", "v": "100"},
        {"t": "money", "v": True},
        {"t": "when", "v": "yesterday"},
        {"t": "when", "v": "2026-11-23T02:00:00"},
        {"t": "digits", "v": "12a"},
        {"t": "localized", "v": {"zh": "星巴克"}},
        {"t": "label", "v": ["reasons", "card_declined"]},
        True,
        None,
        1.5,
    ],
)
def test_from_json_refuses_what_to_json_could_not_have_written(stored: object) -> None:
    with pytest.raises(ValueError, match=r"not a stored spoken value"):
        from_json(stored)


def test_to_json_refuses_values_it_cannot_say() -> None:
    with pytest.raises(TypeError, match=r"cannot say float 1.5"):
        to_json(1.5)


# Templates --------------------------------------------------------------------------------

FAILED_PAYMENT = {
    "when": When(utc(2026, 11, 23, 6, 30)),
    "merchant": Localized(zh="星巴克", en="Starbucks"),
    "amount": Money(8990),
}


def test_fill_says_each_placeholder_in_mandarin() -> None:
    template = "您最近一笔失败的支付是{when}向{merchant}支付的{amount}"
    assert fill(template, FAILED_PAYMENT, "zh-CN", now=NOW) == (
        "您最近一笔失败的支付是今天14点30分向星巴克支付的89元9角"
    )


def test_fill_says_each_placeholder_in_english() -> None:
    template = "Your most recent failed payment was {amount} to {merchant} {when}."
    assert fill(template, FAILED_PAYMENT, "en-US", now=NOW) == (
        "Your most recent failed payment was 89 yuan and 90 fen to Starbucks today at 2:30 PM."
    )


def test_fill_passes_labels_and_timezone_through_and_keeps_literal_braces() -> None:
    values = {"reason": LabelRef("reasons", "card_declined"), "at": When(NOW)}
    template = "{{{reason}}} {at}"
    tokyo = ZoneInfo("Asia/Tokyo")
    assert fill(template, values, "en-US", now=NOW, tz=tokyo, labels=flow_labels) == (
        "{the card was declined} today at 11:00 AM"
    )


def test_fill_with_a_missing_value_is_a_key_error_naming_the_placeholder() -> None:
    with pytest.raises(KeyError) as caught:
        fill("{when}向{merchant}支付的{total}", FAILED_PAYMENT, "zh-CN", now=NOW)
    assert caught.value.args == ("total",)


def test_fill_with_a_malformed_template_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"malformed template"):
        fill("您的余额是{amount", FAILED_PAYMENT, "zh-CN", now=NOW)


def test_placeholders_lists_each_name_once() -> None:
    assert placeholders("{amount}，{when}，再说一遍{amount}") == {"amount", "when"}
    assert placeholders("没有占位符 {{literal}}") == set()


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("余额{amount", "malformed template '余额{amount': expected '}' before end of string"),
        ("余额amount}", "malformed template '余额amount}': Single '}' encountered"),
        ("余额{", "malformed template '余额{': Single '{' encountered"),
        ("{}", "placeholder {} is not a plain name like {amount}"),
        ("{0}", "placeholder {0} is not a plain name"),
        ("{a.b}", "placeholder {a.b} is not a plain name"),
        ("{a[0]}", "placeholder {a[0]} is not a plain name"),
        ("{a!r}", "placeholder {a!r} is not a plain name"),
        ("{a:>5}", "placeholder {a:>5} is not a plain name"),
        ("{a:{b}}", "placeholder {a:{b}} is not a plain name"),
    ],
)
def test_placeholders_refuses_a_malformed_template_saying_what_is_wrong(
    template: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        placeholders(template)


# Keys and SSML ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "zh", "en"),
    [("1", "1", "1"), ("0", "0", "0"), ("*", "星号键", "star"), ("#", "井号键", "pound")],
)
def test_say_key_names_the_phone_key(key: str, zh: str, en: str) -> None:
    assert (say_key(key, "zh-CN"), say_key(key, "en-US")) == (zh, en)


@pytest.mark.parametrize("key", ["", "10", "a", "+"])
def test_say_key_refuses_what_is_not_a_phone_key(key: str) -> None:
    with pytest.raises(ValueError, match=r"not a phone key"):
        say_key(key, "en-US")


def test_ssml_reads_digits_and_phone_numbers_as_digits() -> None:
    assert ssml(DigitString("10000001"), "zh-CN") == (
        '<say-as interpret-as="digits">10000001</say-as>'
    )
    assert ssml(PhoneNumber("+8613800000001"), "en-US") == (
        '<say-as interpret-as="digits">138</say-as><break time="300ms"/>'
        '<say-as interpret-as="digits">0000</say-as><break time="300ms"/>'
        '<say-as interpret-as="digits">0001</say-as>'
    )
    assert ssml(PhoneNumber("+861012345678"), "zh-CN") == (
        '<say-as interpret-as="digits">010</say-as><break time="300ms"/>'
        '<say-as interpret-as="digits">1234</say-as><break time="300ms"/>'
        '<say-as interpret-as="digits">5678</say-as>'
    )


@pytest.mark.parametrize(
    "value", [Money(8990), When(NOW), Localized("星巴克", "Starbucks"), "x", 3]
)
def test_ssml_is_none_where_the_text_reads_as_well(value: object) -> None:
    assert ssml(value, "zh-CN") is None


# Purity -----------------------------------------------------------------------------------


def test_speech_imports_only_the_standard_library() -> None:
    code = (
        "import sys, ivr.voice.reading; "
        "print(sorted(m for m in ('flask', 'twilio', 'statemachine', 'sqlalchemy', 'yaml') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
