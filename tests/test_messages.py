"""Texts the hotline sends rather than says: their words are the flow's ``messages``, sent in
the caller's language (the reset-password SMS of ``send_reset_sms``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.clock import ManualClock
from ivr.flow.loader import load_flow
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.web.app import create_app

HOTLINE = Path(__file__).resolve().parent.parent / "flows" / "hotline.yaml"
ZHANG, LI = "+8613800000001", "+8613800000002"


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
            "IVR_LOG_LEVEL": "WARNING",
            "IVR_AUDIO": False,
        },
        clock=clock,
        environ={},
    )
    yield app
    app.extensions["ivr"].database.dispose()


def texts_after_login_help(app: Flask, clock: ManualClock, caller: str, lang_key: str) -> Any:
    """The SMS bodies in the caller's outbox once they asked for login help (key 7)."""
    call = Simulator(WsgiTransport(app), clock=clock).dial(caller)
    call.press(lang_key)
    call.press("123456#")
    assert call.state == "main_menu"
    call.press("7")
    wallet = app.extensions["ivr"].services.wallet
    return [sms.body for sms in wallet.outbox(wallet.find_by_phone(caller).id)]


def test_the_reset_sms_is_sent_in_chinese_to_a_caller_who_chose_chinese(
    app: Flask, clock: ManualClock
) -> None:
    assert texts_after_login_help(app, clock, ZHANG, "1") == [
        "【数字钱包】您正在重置登录密码，请点击链接完成重置，10分钟内有效："
        "https://wallet.example/reset"
    ]


def test_the_reset_sms_is_sent_in_english_to_a_caller_who_chose_english(
    app: Flask, clock: ManualClock
) -> None:
    assert texts_after_login_help(app, clock, LI, "2") == [
        "[Digital Wallet] You are resetting your login password. Open this link within "
        "10 minutes to finish: https://wallet.example/reset"
    ]


def test_the_reset_sms_is_the_flows_message_in_each_language() -> None:
    flow = load_flow(HOTLINE)

    assert set(flow.messages) == {"reset_sms"}
    assert list(flow.messages["reset_sms"]) == list(flow.languages)
