"""The simulator factories that ``ivr replay``, ``ivr call``, bench/replay.py and the tests
share: in-process (isolated or not) and against a server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ivr.clock import as_utc
from ivr.settings import Settings
from ivr.testing.factories import REPLAY_TIME
from ivr.testing.factories import LocalSimulators
from ivr.testing.factories import local_simulators
from ivr.testing.factories import remote_simulators
from tests.conftest import PIN_KEY
from tests.simulator_apps import TwimlApp
from tests.simulator_apps import served

ZHANG_WEI = "+8613800000001"
LI_NA = "+8613800000002"  # her demo account is locked
ZHAO_MIN = "+8613800000005"


@pytest.fixture
def isolated() -> Iterator[LocalSimulators]:
    simulators = local_simulators(Settings(audio=False), isolated=True)
    yield simulators
    simulators.runtime.database.dispose()


def test_isolated_simulators_start_each_call_at_the_replay_time_with_the_demo_data_as_shipped(
    isolated: LocalSimulators,
) -> None:
    wallet = isolated.runtime.services.wallet
    first = isolated()
    li_na = wallet.find_by_phone(LI_NA)
    assert li_na is not None
    assert wallet.unlock(li_na.id, key="test")
    first.clock.advance(3600)

    second = isolated()

    assert second.clock is first.clock
    assert second.clock.now() == as_utc(REPLAY_TIME)
    again = wallet.find_by_phone(LI_NA)
    assert again is not None
    assert again.status == "locked"


def test_isolated_simulators_use_a_private_database_and_number_calls_apart(
    isolated: LocalSimulators,
) -> None:
    url = isolated.runtime.database.url
    assert (url.drivername, Path(str(url.database)).name) == ("sqlite", "replay.sqlite3")
    assert Path(str(url.database)).parent.name.startswith("ivr-replay-")
    sids = [isolated().dial(ZHANG_WEI).call_sid for _ in range(2)]
    assert sids == [f"CA{10_000:032x}", f"CA{20_000:032x}"]


def test_isolated_simulators_start_at_ivr_clock_when_it_is_set() -> None:
    at = datetime(2026, 12, 24, 22, 0, tzinfo=UTC)
    simulators = local_simulators(Settings(clock=at, audio=False), isolated=True)
    assert simulators().clock.now() == at
    simulators.runtime.database.dispose()


def test_local_simulators_call_at_the_public_url_and_sign_with_the_auth_token(
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
        public_url="https://ivr.example-tunnel.app",
        twilio_auth_token="tok",
        pin_key=PIN_KEY,
    )
    simulators = local_simulators(settings, isolated=False, audio=False)
    simulator = simulators()
    call = simulator.dial(ZHANG_WEI)
    assert simulator.base_url == "https://ivr.example-tunnel.app"
    assert simulators.clock is None
    assert simulators.runtime.settings.audio == "off"
    assert call.result.states == ["welcome"]  # signed as the app checks, so answered
    assert [turn.kind for turn in call.result.transcript if turn.kind == "play"] == []
    simulators.runtime.database.dispose()


def test_resetting_needs_the_clock_to_set_back(isolated: LocalSimulators) -> None:
    with pytest.raises(ValueError, match="reset_to needs the clock"):
        LocalSimulators(isolated.app, reset_to=REPLAY_TIME)


def test_remote_simulators_sign_each_call_and_give_each_simulator_its_own_call_sids() -> None:
    app = TwimlApp({"/voice": "<Response><Say>Hi.</Say></Response>"})
    with served(app) as url:
        factory = remote_simulators(url + "/", auth_token="tok", play_text=str.upper)
        first, second = factory(), factory()
        sids = [sim.dial(ZHANG_WEI).call_sid for sim in (first, second)]
    assert first.base_url == url
    assert first.play_text is str.upper
    assert int(sids[1][2:], 16) - int(sids[0][2:], 16) == 10_000
    voice = app.last("/voice")
    assert RequestValidator("tok").validate(
        voice.url, voice.form, voice.headers["X-Twilio-Signature"]
    )


def test_a_simulators_dialer_is_one_dialer_numbering_its_calls_on_from_round_to_round(
    isolated: LocalSimulators,
) -> None:
    simulator = isolated()
    book = isolated.runtime.callbacks
    assert book is not None
    assert simulator.dialer is not None
    placed = []
    # two queues: each may have one callback in progress
    for sid, phone, queue in (("CA1", ZHANG_WEI, "payments"), ("CA2", ZHAO_MIN, "security")):
        book.request(sid, phone=phone, account_id=None, issue=None, queue=queue)
        placed.append(
            [(request.to, int(request.call_sid[2:], 16)) for request in simulator.dialer()]
        )

    (first_to, first_sid), (second_to, second_sid) = placed[0] + placed[1]
    assert [len(round_) for round_ in placed] == [1, 1]
    assert (first_to, second_to, second_sid - first_sid) == (ZHANG_WEI, ZHAO_MIN, 1)
