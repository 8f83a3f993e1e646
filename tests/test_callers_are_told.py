"""What callers are told: the PIN lockout, a freeze without the PIN, a freeze described as the
caller's own, opening hours read from ``hours:``, and numbers keyed in that cannot be told
apart before the PIN is checked."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr.engine.context import CallContext
from ivr.engine.session import CallSession
from ivr.hotline.actions import identify_caller
from ivr.hotline.actions import pin_locked_now
from ivr.voice.reading import Duration
from ivr.voice.reading import Localized
from ivr.voice.reading import OpeningHours
from ivr.voice.reading import from_json
from ivr.voice.reading import say_value
from ivr.voice.reading import to_json
from ivr.wallet.demo import DEMO_PIN
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import ZHANG_WEI
from ivr.wallet.pins import PinKeys
from ivr.wallet.tables import AccountRow
from tests.conftest import T0
from tests.conftest import post
from tests.conftest import runtime_of

FLOWS = Path(__file__).resolve().parent.parent / "flows"
STRANGER = "+8613900000009"
LOCKED_EN = (
    "For your security, phone PIN checks are locked for now. You can try again in 30 minutes. "
    "An agent can verify who you are another way."
)


def say(app: Flask, n: int, caller: str, digits: str | None = None) -> str:
    form = {"From": caller, "CallSid": f"CA{caller[1:]:0>32}"}
    if digits is not None:
        form["Digits"] = digits
    path = "/voice" if n == 0 else f"/voice/step?n={n}"
    return post(app, path, **form).get_data(as_text=True)


def lock_pin(app: Flask, phone: str) -> None:
    wallet = runtime_of(app).services.wallet
    account = wallet.find_by_phone(phone)
    assert account is not None
    for _ in range(3):
        wallet.verify_pin(account.id, "000000")


def test_a_caller_whose_pin_is_locked_is_told_for_how_long_and_not_asked_for_it(
    make_app: Any,
) -> None:
    app = make_app(IVR_AUDIO="off")
    lock_pin(app, ZHANG_WEI)
    say(app, 0, ZHANG_WEI)
    body = say(app, 1, ZHANG_WEI, "2")

    assert LOCKED_EN in body
    assert "To report a stolen account or a lost phone and freeze the account now" in body
    assert "Please enter your 6-digit phone PIN" not in body


def test_a_pin_the_server_cannot_check_is_not_counted_and_the_caller_is_told_and_queued(
    make_app: Any,
) -> None:
    # Zhang Wei's PIN hashed under a key this server lacks (a rotation without
    # IVR_PIN_KEY_OLD): his right PIN cannot pass, and it is not his mistake.
    app = make_app(IVR_AUDIO="off")
    rt = runtime_of(app)
    with rt.database.begin() as conn:
        conn.execute(
            sa.update(AccountRow)
            .where(AccountRow.phone == ZHANG_WEI)
            .values(pin_hash=PinKeys.of("k" * 40).hash(DEMO_PIN))
        )
    say(app, 0, ZHANG_WEI)
    assert "Please enter your 6-digit phone PIN" in say(app, 1, ZHANG_WEI, "2")

    body = say(app, 2, ZHANG_WEI, DEMO_PIN)

    assert (
        "Sorry, we cannot check your PIN right now. This is not a mistake on your part. I am "
        "putting you through to an agent, who can verify who you are another way."
    ) in body
    assert "<Enqueue" in body
    assert "That PIN is not correct" not in body
    account = rt.services.wallet.find_by_phone(ZHANG_WEI)
    assert account is not None
    with rt.database.connect() as conn:
        failures = conn.execute(
            sa.select(AccountRow.pin_failures).where(AccountRow.id == account.id)
        ).scalar_one()
        reason = conn.execute(sa.text("SELECT reason FROM agent_handoffs")).scalar_one()
    assert failures == 0
    assert (
        reason == "the PIN could not be checked (the server lacks the key its hash was made with)"
    )


def test_the_lockout_is_said_in_chinese_too(make_app: Any) -> None:
    app = make_app(IVR_AUDIO="off")
    lock_pin(app, ZHANG_WEI)
    say(app, 0, ZHANG_WEI)
    body = say(app, 1, ZHANG_WEI, "1")

    assert (
        "电话密码验证已暂时锁定，30分钟后可以再试。人工客服可以通过其他方式核实您的身份。" in body
    )


def keyed_number_answers(app: Flask, number: str) -> list[str]:
    """What a caller from an unregistered line hears keying ``number``, then three PINs."""
    caller = STRANGER
    bodies = [say(app, 0, caller), say(app, 1, caller, "2"), say(app, 2, caller, number + "#")]
    bodies.append(say(app, 3, caller, "1"))
    for n, pin in enumerate(["111111#", "222222#", "333333#"], 4):
        bodies.append(say(app, n, caller, pin))
    return [b.replace(number, "N").replace(" ".join(number), "N") for b in bodies]


def test_a_keyed_number_is_asked_for_the_pin_and_fails_the_same_registered_or_not(
    make_app: Any, tmp_path: Path
) -> None:
    registered = keyed_number_answers(make_app(IVR_AUDIO="off"), "13800000001")
    unregistered = keyed_number_answers(make_app(IVR_AUDIO="off"), "13800000077")

    assert registered == unregistered
    assert "Please enter your 6-digit phone PIN" in registered[3]
    assert LOCKED_EN in registered[-1]


def test_a_freeze_the_caller_asked_for_is_described_as_theirs(make_app: Any) -> None:
    app = make_app(IVR_AUDIO="off")
    wallet = runtime_of(app).services.wallet
    account = wallet.find_by_phone(ZHANG_WEI)
    assert account is not None
    wallet.protective_freeze(account.id, key="test-freeze")
    say(app, 0, ZHANG_WEI)
    say(app, 1, ZHANG_WEI, "2")
    say(app, 2, ZHANG_WEI, DEMO_PIN)
    body = say(app, 3, ZHANG_WEI, "1")

    assert "Your account was frozen today at 10:00 AM, as you asked" in body
    assert "risk team" not in body
    assert " after ." not in body


def test_the_spoken_opening_hours_follow_the_flows_hours(
    make_app: Any, tmp_path: Path, clock: Any
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (FLOWS / "hotline.yaml").read_text(encoding="utf-8")
    assert 'open: "09:00-21:00"' in text
    (flows / "hotline.yaml").write_text(
        text.replace(
            'open: "09:00-21:00"', 'open: {mon-fri: "10:00-18:00", sat: "10:00-16:00", sun: closed}'
        )
    )
    clock.set(T0 + timedelta(hours=10))  # 20:00 in Shanghai on a Monday
    app = make_app(IVR_AUDIO="off", IVR_FLOWS_DIR=str(flows))
    say(app, 0, ZHANG_WEI)
    say(app, 1, ZHANG_WEI, "2")
    body = say(app, 2, ZHANG_WEI, "0")

    assert (
        "Sorry, our agents answer Monday to Friday from 10 AM to 6 PM, and Saturday from "
        "10 AM to 4 PM. The line is closed now and opens again tomorrow at 10:00 AM."
    ) in body


NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("minutes", "zh", "en"),
    [
        (1, "1分钟", "1 minute"),
        (30, "30分钟", "30 minutes"),
        (60, "1小时", "1 hour"),
        (90, "1小时30分钟", "1 hour and 30 minutes"),
    ],
)
def test_a_duration_is_read_in_hours_and_minutes(minutes: int, zh: str, en: str) -> None:
    assert say_value(Duration(minutes), "zh-CN", now=NOW) == zh
    assert say_value(Duration(minutes), "en-US", now=NOW) == en
    assert from_json(to_json(Duration(minutes))) == Duration(minutes)


NINE_TO_NINE = ((540, 1260),)
OFFICE = ((540, 720), (780, 1080))


@pytest.mark.parametrize(
    ("weekly", "zh", "en"),
    [
        ((NINE_TO_NINE,) * 7, "每天9点到21点", "from 9 AM to 9 PM every day"),
        (
            (OFFICE,) * 5 + (((600, 930),), ()),
            "周一至周五9点到12点和13点到18点，周六10点到15点30分",
            "Monday to Friday from 9 AM to noon and from 1 PM to 6 PM, "
            "and Saturday from 10 AM to 3:30 PM",
        ),
    ],
)
def test_opening_hours_are_read_as_runs_of_days(
    weekly: tuple[tuple[tuple[int, int], ...], ...], zh: str, en: str
) -> None:
    hours = OpeningHours(weekly)
    assert say_value(hours, "zh-CN", now=NOW) == zh
    assert say_value(hours, "en-US", now=NOW) == en
    assert from_json(to_json(hours)) == hours


def test_a_pin_for_a_number_with_no_account_is_refused_after_the_same_work(make_app: Any) -> None:
    wallet = runtime_of(make_app()).services.wallet
    assert wallet.refuse_pin(DEMO_PIN).ok is False
    account = wallet.find_by_phone(ZHANG_WEI)
    assert account is not None
    assert wallet.pin_locked_until(account.id) is None
    for _ in range(3):
        wallet.verify_pin(account.id, "000000")
    assert wallet.pin_locked_until(account.id) == T0 + timedelta(minutes=30)


def account_reads(app: Flask) -> list[str]:
    """Every statement on the accounts table the app sends from now on (a live list)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "accounts" in statement:
            seen.append(statement.split()[0])

    sa.event.listen(runtime_of(app).database, "before_cursor_execute", note)
    return seen


def test_identifying_the_caller_reads_the_account_once_for_the_account_and_its_pin_lock(
    make_app: Any,
) -> None:
    app = make_app(IVR_AUDIO="off")
    say(app, 0, ZHANG_WEI)
    reads = account_reads(app)
    body = say(app, 1, ZHANG_WEI, "2")  # English: identify, then is the PIN locked?

    assert "Please enter your 6-digit phone PIN" in body
    assert reads == ["SELECT"]


def test_a_pin_lock_that_has_run_out_when_the_caller_is_identified_asks_for_the_pin(
    make_app: Any, clock: Any
) -> None:
    app = make_app(IVR_AUDIO="off")
    lock_pin(app, ZHANG_WEI)
    clock.advance(30 * 60)  # the lockout ends now
    say(app, 0, ZHANG_WEI)
    body = say(app, 1, ZHANG_WEI, "2")

    assert LOCKED_EN not in body
    assert "Please enter your 6-digit phone PIN" in body


def _context(app: Flask, caller: str) -> CallContext:
    session = CallSession(
        call_sid="CA" + "0" * 32, flow="hotline", state="identify", lang="en-US",
        data={"caller": caller}, created_at=T0, updated_at=T0,
    )  # fmt: skip
    return CallContext(session=session, services=runtime_of(app).services, step=1)


def test_pin_locked_now_reads_the_wallet_for_an_account_not_identified_in_this_webhook(
    make_app: Any,
) -> None:
    app = make_app(IVR_AUDIO="off")
    lock_pin(app, LI_NA)
    call = _context(app, ZHANG_WEI)
    identify_caller(call)  # Zhang Wei's PIN is not locked: noted for this webhook
    li_na = runtime_of(app).services.wallet.find_by_phone(LI_NA)
    assert li_na is not None
    call.account_id = li_na.id  # then another account, as a number keyed in would be
    call.put("name", Localized(li_na.name_zh, li_na.name_en))

    assert pin_locked_now(call) is True
    assert call.get("locked_for") == Duration(30)
