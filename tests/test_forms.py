"""Twilio's webhook form read from the raw body (``ivr.web.voice.parse_form``): the same fields,
in the same order, as werkzeug's form parser gives, whatever the body holds."""

from __future__ import annotations

import random
from io import BytesIO

import pytest
from werkzeug.formparser import FormDataParser

from ivr.web.voice import parse_form


def werkzeugs(body: bytes) -> dict[str, str]:
    """What ``request.form.to_dict()`` holds for a urlencoded ``body``."""
    _, form, _ = FormDataParser().parse(
        BytesIO(body), "application/x-www-form-urlencoded", len(body)
    )
    return dict(form.to_dict())


BODIES = [
    b"",
    b"CallSid=CA1&From=%2B8613800138000&Digits=1%23&CallerCity=&msg=Gather+End",
    b"a=1&a=2&b=3",  # a repeated field: the first value
    b"&&a&=x&b==&c=1=2",  # empty pairs, no '=', an empty name, '=' in a value
    b"SpeechResult=my+pin+is+%E4%B8%80%E4%BA%8C%E4%B8%89",  # UTF-8 escapes
    b"bad=%FF%FE&half=%E4%B8&short=%2&odd=%zz",  # escapes that are not UTF-8, or not escapes
    b"raw=\xe4\xb8\x80",  # UTF-8 bytes unescaped
    b"notutf8=\xff",  # the whole body is not UTF-8: no fields at all
    b"a+b%20c=d+e%2Bf",  # '+' is a space, '%2B' a plus, in names too
]


@pytest.mark.parametrize("body", BODIES)
def test_a_form_reads_as_werkzeugs_form_parser_reads_it(body: bytes) -> None:
    fields = parse_form(body)

    assert fields == werkzeugs(body)
    assert list(fields) == list(werkzeugs(body))


def test_random_bodies_read_as_werkzeugs_form_parser_reads_them() -> None:
    pieces = [b"a", b"B", b"=", b"&", b"+", b"%", b"2", b"b", b"F", b"%C3%A9", b"%FF", b"\xc3\xa9"]
    pieces += [b"\xff", b" ", b"%2", b"%zz", b"&&", b"=="]
    rng = random.Random(13)
    for _ in range(3000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert list(parse_form(body).items()) == list(werkzeugs(body).items()), body
