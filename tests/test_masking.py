"""Masking phone numbers and keyed-in digits for logs and views."""

from __future__ import annotations

import pytest

from ivr.masking import mask_digits
from ivr.masking import mask_phone


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800000001", "+86*******0001"),  # China: 2-digit code
        ("+14155550123", "+1******0123"),  # North America: 1-digit code
        ("+79161234567", "+7******4567"),  # Russia: 1-digit code
        ("+447700900123", "+44******0123"),  # UK: 2-digit code
        ("+85291234567", "+852****4567"),  # Hong Kong: 3-digit code
        ("+886912345678", "+886*****5678"),  # Taiwan: 3-digit code
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
