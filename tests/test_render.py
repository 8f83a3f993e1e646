"""``render`` keeps what a document says and fills its URLs in per request: the same document
as rendering afresh, with each request's own step."""

from __future__ import annotations

import pytest

from ivr.engine.reply import Listen
from ivr.engine.reply import Reply
from ivr.engine.reply import Transfer
from ivr.telephony import render as render_module
from ivr.telephony.render import Announcements
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


class OtherUrls(Urls):
    """Where a proxy's prefix puts the same webhooks."""

    def voice(self) -> str:
        return "/ivr/voice"

    def hold(self, queue: str) -> str:
        return f"/ivr/voice/hold?queue={queue}"


SORRY = Announcements(
    apology=(Speech("抱歉，系统出了点问题。", "zh-CN"),),
    restart=(Speech("我们重新开始。", "zh-CN"),),
)
WAITING = (Speech("您前面还有2位。", "zh-CN"),)
OFFER = (Speech("回电请按1。", "zh-CN"),)


def fixed_documents(voices: Voices, urls: Urls, position: int = 2) -> list[str]:
    waiting = (Speech(f"您前面还有{position}位。", "zh-CN"),)
    return [
        render_module.render_apology("general", urls, voices),
        render_module.render_restart(urls, voices),
        render_module.render_goodbye(WAITING, voices),
        render_module.render_goodbye((), voices),
        render_module.render_hold(waiting, voices, offer=OFFER, choice_url="/c?q=1&x=<2>"),
        render_module.render_hold(waiting, voices, offer=OFFER, choice_url="/c", offer_first=True),
        render_module.render_hold(waiting, voices),
        render_module.render_leave(),
        render_module.empty_response(),
    ]


def test_the_fixed_documents_are_written_once_and_read_the_same_as_written_afresh() -> None:
    kept = Voices(announcements=SORRY)
    first = fixed_documents(kept, Urls())
    tables = len(kept.rendered)

    again = fixed_documents(kept, Urls())

    assert again == first == fixed_documents(Voices(announcements=SORRY), Urls())
    assert len(kept.rendered) == tables == 7
    assert render_module.empty_response() == '<?xml version="1.0" encoding="UTF-8"?><Response />'


def test_a_fixed_document_is_kept_by_its_urls_and_what_it_says() -> None:
    kept = Voices(announcements=SORRY)
    here = fixed_documents(kept, Urls())

    elsewhere = fixed_documents(kept, OtherUrls())
    later = fixed_documents(kept, Urls(), position=3)

    assert elsewhere[:2] == fixed_documents(Voices(announcements=SORRY), OtherUrls())[:2]
    assert "/ivr/voice/hold?queue=general" in elsewhere[0]
    assert "/ivr/voice" in elsewhere[1]
    assert "/ivr/voice" not in here[1]
    assert "3位" in later[4]
    assert "2位" in here[4]
    assert later[4:7] == fixed_documents(Voices(announcements=SORRY), Urls(), position=3)[4:7]
