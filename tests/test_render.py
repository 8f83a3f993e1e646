"""``render`` keeps what a document says and fills its URLs in per request: the same document
as rendering afresh, with each request's own step."""

from __future__ import annotations

import pytest

from ivr.engine.reply import Listen
from ivr.engine.reply import Reply
from ivr.engine.reply import Transfer
from ivr.telephony import render as render_module
from ivr.telephony.render import Voices
from ivr.telephony.render import render
from ivr.voice.speech import Speech


class Urls:
    """URLs with characters XML must escape, to prove they are escaped as the builder does."""

    def voice(self) -> str:
        return "/voice"

    def step(self, n: int) -> str:
        return f"/voice/step?n={n}&x=<1>"

    def hold(self, queue: str) -> str:
        return f"/voice/hold?queue={queue}"

    def queue_result(self, n: int) -> str:
        return f"/voice/queue-result?n={n}"

    def recording_status(self) -> str:
        return "/voice/recording-status"


MENU = Listen((Speech("按1查询余额。", "zh-CN"),), 5, "#", 1)
QUEUE = Transfer("general", 1, (Speech("请稍候。", "zh-CN"),))


def test_a_kept_document_is_the_one_rendered_afresh_with_each_steps_own_urls() -> None:
    kept = Voices()

    for step in (3, 4, 5):
        for verb in (MENU, QUEUE):
            reply = Reply((Speech("您好。", "zh-CN"),), verb, "hotline", "main_menu", step)
            assert render(reply, Urls(), kept) == render(reply, Urls(), Voices())

    assert len(kept.rendered) == 2


def test_the_kept_documents_start_afresh_past_their_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(render_module, "MAX_RENDERED", 2)
    voices = Voices()

    for n in range(3):
        reply = Reply((Speech(f"余额{n}元。", "zh-CN"),), MENU, "hotline", "balance", 1)
        render(reply, Urls(), voices)

    assert len(voices.rendered) == 1
