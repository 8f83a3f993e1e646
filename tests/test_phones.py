"""ivr.phones: parsing, the E.164 check, national format, reading aloud, masking, caller IDs.

Also ``ivr.masking.mask_digits``, masking's other half (keyed-in digits).
"""

from __future__ import annotations

import pytest

from ivr.masking import mask_digits
from ivr.phones import is_caller_id
from ivr.phones import is_e164
from ivr.phones import mask_phone
from ivr.phones import national_format
from ivr.phones import spoken_groups
from ivr.phones import to_e164
from ivr.voice.reading import PhoneNumber
from ivr.voice.reading import say_value
from tests.conftest import T0

# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+8613800000001", "+8613800000001"),
        ("8613800000001", "+8613800000001"),  # the country code without its +
        ("13800000001", "+8613800000001"),  # a mainland mobile, dialled at home
        ("138 0000 0001", "+8613800000001"),
        ("+86 138-0000 0001", "+8613800000001"),
        ("010-12345678", "+861012345678"),  # a Beijing landline with its trunk 0
        ("(010) 1234 5678", "+861012345678"),
        ("+86 10 1234 5678", "+861012345678"),
        ("0755 1234 5678", "+8675512345678"),  # Shenzhen
        ("400-123-4567", "+864001234567"),
        ("0086 138 0000 0001", "+8613800000001"),  # China's international prefix
        ("+1 (415) 555-0100", "+14155550100"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_a_number_as_people_write_it_becomes_e164_read_in_china_when_national(
    text: str, e164: str
) -> None:
    assert to_e164(text) == e164


@pytest.mark.parametrize(
    "text",
    [
        "12800000001",  # no mobile network has 128
        "1380000000",  # a digit short
        "138000000012",  # a digit over
        "03800000001",  # no area code 038
        "+1415555010",  # a US number a digit short
        "+0155550100",  # no country code starts with 0
        "+86 138 0000 000x",  # letters: no vanity numbers, no extensions
        "138 0000 0001 ext. 5",
        "１３８０００００００１",  # full-width digits no caller or Twilio sends
        "1+3800000001",
        "+",
        "",
        "anonymous",
        "client:alice",
    ],
)
def test_what_is_not_a_valid_number_has_no_e164_form(text: str) -> None:
    assert to_e164(text) is None


def test_without_a_region_a_number_must_be_international() -> None:
    assert (
        to_e164("13800000001", region=None),
        to_e164("+8613800000001", region=None),
        to_e164("0086 138 0000 0001", region=None),
    ) == (None, "+8613800000001", "+8613800000001")


def test_national_input_is_read_in_the_region_given() -> None:
    assert to_e164("(415) 555-0100", region="US") == "+14155550100"
    assert to_e164("(415) 555-0100") == "+864155550100"  # in China: Dandong, area code 0415


# --- the E.164 check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+8613800000000", True),
        ("+861012345678", True),
        ("+14155550100", True),
        ("+86 138 0000 0000", False),  # a number, not written in E.164
        ("8613800000000", False),
        ("13800000000", False),
        ("+8610000000", False),  # too short for a Beijing number
        ("+12800000001", False),
        ("+1415555010012345", False),  # over E.164's 15 digits
        ("", False),
    ],
)
def test_is_e164_accepts_only_a_valid_number_written_in_e164(text: str, expected: bool) -> None:
    assert is_e164(text) is expected


# --- national format -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "written"),
    [
        ("+8613800000001", "138 0000 0001"),
        ("13800000001", "138 0000 0001"),
        ("+861012345678", "010 1234 5678"),
        ("+8675512345678", "0755 1234 5678"),
        ("+14155550100", "(415) 555-0100"),
        ("95188", None),
        ("anonymous", None),
    ],
)
def test_national_format_writes_a_number_as_its_country_does(
    number: str, written: str | None
) -> None:
    assert national_format(number) == written


# --- reading aloud -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "groups"),
    [
        ("+8613800000001", ("138", "0000", "0001")),
        ("13800000001", ("138", "0000", "0001")),
        ("8613800000001", ("138", "0000", "0001")),
        ("+861012345678", ("010", "1234", "5678")),  # Beijing: trunk 0 kept
        ("+8675512345678", ("0755", "1234", "5678")),  # Shenzhen
        ("+864001234567", ("400", "123", "4567")),
        ("+12349013030", ("1", "234", "901", "3030")),  # abroad: with its country code
        ("+85291234567", ("852", "9123", "4567")),
    ],
)
def test_a_valid_number_is_read_in_the_groups_it_is_written_in(
    number: str, groups: tuple[str, ...]
) -> None:
    assert spoken_groups(number) == groups


@pytest.mark.parametrize(
    ("number", "groups"),
    [
        ("12345678", ("1234", "5678")),
        ("123456789", ("12345", "6789")),
        ("1234567890", ("12", "3456", "7890")),
        ("95188", ("95188",)),  # a bank's service number
        ("110", ("110",)),
        ("+8612345", ("12345",)),  # +86 dropped
        ("+447700900123", ("4477", "0090", "0123")),  # a bare + dropped
    ],
)
def test_any_other_number_is_read_in_fours_from_the_right(
    number: str, groups: tuple[str, ...]
) -> None:
    assert spoken_groups(number) == groups


@pytest.mark.parametrize("number", ["", "+", "138-0000-0001", "anonymous", "1+38", "+86"])
def test_only_digits_after_an_optional_plus_can_be_read(number: str) -> None:
    with pytest.raises(ValueError, match=r"^not a phone number: "):
        spoken_groups(number)


@pytest.mark.parametrize(
    ("lang", "spoken"),
    [
        ("zh-CN", "0 1 0, 1 2 3 4, 5 6 7 8"),
        ("en-US", "0 1 0, 1 2 3 4, 5 6 7 8"),
    ],
)
def test_a_beijing_landline_is_said_with_its_trunk_0_in_both_languages(
    lang: str, spoken: str
) -> None:
    assert say_value(PhoneNumber("+861012345678"), lang, now=T0) == spoken


# --- masking for logs and views ------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800000001", "+86*******0001"),  # China: 2-digit code
        ("+861012345678", "+86******5678"),
        ("+14155550123", "+1******0123"),  # North America: 1-digit code
        ("+79161234567", "+7******4567"),  # Russia: 1-digit code
        ("+447700900123", "+44******0123"),  # UK: 2-digit code
        ("+85291234567", "+852****4567"),  # Hong Kong: 3-digit code
        ("+886912345678", "+886*****5678"),  # Taiwan: 3-digit code
        ("+80012345678", "+800****5678"),  # international freephone: a code of no country
    ],
)
def test_an_international_number_keeps_its_country_code_and_last_four_digits(
    number: str, masked: str
) -> None:
    assert mask_phone(number) == masked


def test_a_number_without_plus_has_no_country_code_to_keep() -> None:
    assert mask_phone("13800000001") == "*******0001"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("10086", "*****"),  # a service short code
        ("+8612345", "********"),  # too few digits after the country code
        ("1234567", "*******"),
    ],
)
def test_a_short_number_is_masked_whole(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+99912345678", "************"),  # no country has code 999 (nor 99 or 9)
        ("+0155550100", "***********"),
    ],
)
def test_a_number_with_an_unknown_country_code_is_masked_whole(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize(
    ("caller", "masked"),
    [
        ("anonymous", "*********"),
        ("client:alice", "************"),
        ("+86 138 0000 0001", "*****************"),
        ("", ""),
    ],
)
def test_a_caller_that_is_not_a_plain_number_is_masked_whole(caller: str, masked: str) -> None:
    assert mask_phone(caller) == masked


def test_the_shortest_number_that_shows_digits_hides_as_many_as_it_shows() -> None:
    assert mask_phone("12345678") == "****5678"


def test_keyed_in_digits_become_one_star_each() -> None:
    assert (mask_digits("123456"), mask_digits("")) == ("******", "")


# --- caller IDs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+8613800000002", True),
        ("13800000002", True),
        ("10086", True),  # a short code as some networks pass it on
        ("client:alice", True),  # a Twilio Client call
        ("client:agent_7.desk-2", True),
        ("anonymous", True),  # a withheld number
        ("8613800000002x", False),
        ("138-0000-0002", False),
        ("+86 138 0000 0002", False),
        ("12", False),
        ("+1234567890123456", False),
        ("client:", False),
        ("Anonymous", False),
        ("", False),
    ],
)
def test_a_caller_id_is_a_number_a_twilio_client_or_anonymous(text: str, expected: bool) -> None:
    assert is_caller_id(text) is expected
