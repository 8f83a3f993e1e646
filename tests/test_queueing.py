"""Opening hours, wait estimates and queue limits: pure, no database, no Flask."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from ivr.flow.hours import Hours
from ivr.flow.hours import QueueSettings
from ivr.flow.hours import Window
from ivr.flow.hours import estimate_wait_minutes
from ivr.flow.hours import parse_hours
from ivr.flow.hours import parse_queue_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-11-23 is a Monday.
FLOW_HOURS = """
timezone: Asia/Shanghai
open: {mon-fri: "09:00-21:00", sat: "10:00-18:00", sun: closed}
holidays: [2026-01-01, 2026-02-17]
"""


def sh(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def flow_hours() -> Hours:
    return parse_hours(yaml.safe_load(FLOW_HOURS), "hours")


# -- Hours --------------------------------------------------------------------------------------


def test_default_hours_are_nine_to_nine_every_day_in_shanghai() -> None:
    hours = Hours()
    assert hours.timezone == SHANGHAI
    assert hours.weekly == ((Window(540, 1260),),) * 7
    assert hours.is_open(sh(2026, 11, 29, 9, 0)) is True  # a Sunday
    assert hours.is_open(sh(2026, 11, 29, 20, 59, 59)) is True
    assert hours.is_open(sh(2026, 11, 29, 21, 0)) is False
    assert hours.is_open(sh(2026, 11, 29, 8, 59, 59)) is False


def test_is_open_reads_any_timezone_in_the_lines_own_timezone() -> None:
    hours = Hours()
    assert hours.is_open(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) is True  # 09:00 Shanghai
    assert hours.is_open(datetime(2026, 11, 23, 0, 59, tzinfo=UTC)) is False


def test_a_naive_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        Hours().is_open(datetime(2026, 11, 23, 10, 0))


def test_flow_file_hours_open_per_weekday_and_close_on_holidays() -> None:
    hours = flow_hours()
    assert hours.is_open(sh(2026, 11, 27, 20, 30)) is True  # Friday
    assert hours.is_open(sh(2026, 11, 28, 9, 30)) is False  # Saturday opens at 10
    assert hours.is_open(sh(2026, 11, 28, 10, 0)) is True
    assert hours.is_open(sh(2026, 11, 29, 12, 0)) is False  # Sunday closed
    assert hours.is_open(sh(2026, 2, 17, 12, 0)) is False  # a Tuesday, but a holiday
    assert hours.holidays == frozenset({date(2026, 1, 1), date(2026, 2, 17)})


def test_next_opening_while_open_is_now_in_the_lines_timezone() -> None:
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    opening = flow_hours().next_opening(at)
    assert opening == sh(2026, 11, 23, 10, 0)
    assert opening.tzinfo == SHANGHAI


def test_next_opening_before_the_window_is_later_the_same_day() -> None:
    assert flow_hours().next_opening(sh(2026, 11, 28, 7, 15)) == sh(2026, 11, 28, 10, 0)


def test_next_opening_after_saturday_closing_skips_closed_sunday_to_monday() -> None:
    opening = flow_hours().next_opening(sh(2026, 11, 28, 18, 0))
    assert opening == sh(2026, 11, 30, 9, 0)
    assert opening.isoformat() == "2026-11-30T09:00:00+08:00"


def test_next_opening_skips_a_holiday_that_falls_on_an_open_day() -> None:
    # 2026-02-16 is a Monday evening; Tuesday 17th is a holiday.
    assert flow_hours().next_opening(sh(2026, 2, 16, 22, 0)) == sh(2026, 2, 18, 9, 0)


def test_next_opening_spans_a_closure_of_several_days() -> None:
    data = yaml.safe_load(FLOW_HOURS)
    data["holidays"] = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-05", "2026-10-06"]
    hours = parse_hours(data, "hours")
    # Wednesday 30 September after closing; Sunday the 4th is closed anyway.
    assert hours.next_opening(sh(2026, 9, 30, 21, 0)) == sh(2026, 10, 7, 9, 0)


def test_next_opening_between_two_windows_is_the_afternoon_window() -> None:
    hours = parse_hours({"open": "09:00-12:00, 13:30-24:00"}, "hours")
    assert hours.next_opening(sh(2026, 11, 23, 12, 0)) == sh(2026, 11, 23, 13, 30)
    assert hours.is_open(sh(2026, 11, 23, 23, 59, 59)) is True
    assert hours.next_opening(sh(2026, 11, 24, 0, 0)) == sh(2026, 11, 24, 9, 0)


def test_next_opening_lands_on_the_real_instant_when_daylight_saving_skips_the_hour() -> None:
    # New York springs forward on 2026-03-08: 02:00-03:00 does not exist.
    hours = parse_hours({"timezone": "America/New_York", "open": "02:30-10:00"}, "hours")
    opening = hours.next_opening(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))  # 01:00 EST
    assert opening.isoformat() == "2026-03-08T03:30:00-04:00"


def test_next_opening_gives_up_when_a_year_of_holidays_closes_the_line() -> None:
    days = frozenset(date.fromordinal(date(2026, 1, 1).toordinal() + i) for i in range(400))
    hours = Hours(holidays=days)
    with pytest.raises(ValueError, match="does not open within 373 days of 2026-01-01"):
        hours.next_opening(sh(2026, 1, 1, 0, 0))


def test_shorthand_open_is_every_day_and_timezone_defaults_to_shanghai() -> None:
    hours = parse_hours({"open": "08:00-20:00"}, "hours")
    assert hours == Hours(weekly=((Window(480, 1200),),) * 7)


def test_day_lists_and_ranges_cover_the_week() -> None:
    hours = parse_hours(
        {"open": {"mon,wed-fri": "09:00-17:00", "tue": "closed", "sat-sun": "10:00-12:00"}},
        "hours",
    )
    nine_to_five = (Window(540, 1020),)
    weekend = (Window(600, 720),)
    assert hours.weekly == (nine_to_five, (), nine_to_five, nine_to_five, nine_to_five) + (
        weekend,
        weekend,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("09:00-21:00", "hours: expected a mapping with keys holidays, open, timezone"),
        ({"opne": "09:00-21:00"}, "hours: unknown key 'opne'; allowed: holidays, open, timezone"),
        ({}, "hours: missing key 'open'"),
        (
            {"open": "09:00-21:00", "timezone": "Asia/Shangai"},
            "hours.timezone: unknown timezone 'Asia/Shangai'; use an IANA name such as Asia/Shanghai",
        ),
        (
            {"open": "09:00-21:00", "timezone": 8},
            "hours.timezone: expected an IANA timezone name such as Asia/Shanghai",
        ),
        ({"open": ["09:00-21:00"]}, 'hours.open: expected "HH:MM-HH:MM" (every day) or a mapping'),
        (
            {"open": {"mon-fri": "09:00-21:00", "sat": "closed"}},
            "hours.open: no hours for sun; write sun: closed for a day without agents",
        ),
        (
            {"open": {"mon-sun": "09:00-21:00", "sat": "closed"}},
            "hours.open.sat: sat is already given by hours.open.mon-sun",
        ),
        (
            {"open": {"mon-fri": "09:00-21:00", "sat-sun": "10:00-1800"}},
            "hours.open.sat-sun: '10:00-1800' is not 'closed' or opening hours such as \"09:00-21:00\"",
        ),
        (
            {"open": {"mon-fri": "09:00-21:00", "sat-sun": False}},
            "hours.open.sat-sun: expected 'closed' or opening hours such as \"09:00-21:00\", got False",
        ),
        (
            {"open": {"mon-fri": "09:00-21:00", "weekend": "closed"}},
            "hours.open.weekend: 'weekend' is not a day (mon … sun), a range (mon-fri) or a list (sat,sun)",
        ),
        (
            {"open": {"fri-mon": "09:00-21:00", "tue-thu": "closed"}},
            "hours.open.fri-mon: 'fri-mon' runs backwards; weeks run mon to sun (write fri-sun,mon-mon)",
        ),
        (
            {"open": "21:00-09:00"},
            "hours.open: 21:00-09:00: closing must come after opening, on the same day",
        ),
        (
            {"open": "09:00-24:30"},
            "hours.open: '09:00-24:30' is not a time of day (00:00 to 24:00)",
        ),
        ({"open": "09:00-13:00,12:00-18:00"}, "hours.open: 09:00-13:00 and 12:00-18:00 overlap"),
        ({"open": "closed"}, "hours.open: every day is closed; the line would never open"),
        (
            {"open": "09:00-21:00", "holidays": "2026-01-01"},
            "hours.holidays: expected a list of dates such as [2026-01-01, 2026-02-17]",
        ),
        (
            {"open": "09:00-21:00", "holidays": ["2026-01-01", "2026-13-01"]},
            "hours.holidays[1]: '2026-13-01' is not a date like 2026-01-01",
        ),
        (
            {"open": "09:00-21:00", "holidays": [date(2026, 1, 1), "2026-01-01"]},
            "hours.holidays[1]: 2026-01-01 is listed twice",
        ),
        (
            {"open": "09:00-21:00", "holidays": [datetime(2026, 1, 1, 9, 0)]},
            "hours.holidays[0]: 2026-01-01 09:00:00 has a time of day; a holiday is a whole date",
        ),
    ],
)
def test_malformed_hours_name_the_sub_key_and_what_to_write(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^") as raised:
        parse_hours(data, "hours")
    assert str(raised.value).startswith(message)


def test_yaml_dates_and_quoted_strings_both_parse_as_holidays() -> None:
    data = yaml.safe_load("open: '09:00-21:00'\nholidays: [2026-01-01, '2026-02-17']")
    assert parse_hours(data, "hours").holidays == frozenset({date(2026, 1, 1), date(2026, 2, 17)})


# -- wait estimates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "avg", "handle", "agents", "size", "minutes"),
    [
        (1, None, 300, 1, None, 5),  # no history: position × handle time / agents
        (3, 0, 300, 1, None, 15),  # AvgQueueTime 0 means no history either
        (3, None, 300, 2, None, 8),  # 7.5 rounded up
        (1, None, 20, 4, None, 1),  # 5 seconds: still "about a minute"
        (4, 600, 300, 1, 4, 10),  # last in line: the average wait itself
        (1, 600, 300, 1, 4, 3),  # Little's law: 600 × 1 / 4 = 150 s
        (2, 600, 300, 1, None, 10),  # no queue size: taken to be last in line
        (5, 600, 300, 1, 3, 10),  # a size below the position is not believed
        (1, 61, 300, 1, None, 2),
    ],
)
def test_wait_estimate_rounds_up_to_whole_minutes(
    position: int, avg: int | None, handle: int, agents: int, size: int | None, minutes: int
) -> None:
    assert (
        estimate_wait_minutes(position, avg, handle_time_s=handle, agents=agents, queue_size=size)
        == minutes
    )


@pytest.mark.parametrize(
    ("position", "avg", "handle", "agents", "message"),
    [
        (0, None, 300, 1, "position must be 1 or more, not 0"),
        (1, None, 0, 1, "handle_time_s and agents must be 1 or more"),
        (1, None, 300, 0, "handle_time_s and agents must be 1 or more"),
        (1, -5, 300, 1, r"avg_queue_time_s cannot be negative \(-5\)"),
    ],
)
def test_wait_estimate_refuses_impossible_inputs(
    position: int, avg: int | None, handle: int, agents: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_wait_minutes(position, avg, handle_time_s=handle, agents=agents)


# -- queue settings -----------------------------------------------------------------------------


def test_a_full_queue_offers_a_callback_at_max_size() -> None:
    settings = QueueSettings(max_size=5)
    assert settings.offer_callback(4) is False
    assert settings.offer_callback(5) is True


def test_queue_settings_estimate_with_their_own_handle_time_and_agents() -> None:
    settings = QueueSettings(handle_time_s=240, agents=2)
    assert settings.estimate_wait_minutes(3, None) == 6
    assert settings.estimate_wait_minutes(1, 300, queue_size=2) == 3


def test_priority_names_take_the_highest_named_level_at_or_below() -> None:
    settings = QueueSettings()
    assert [settings.priority_name(p) for p in (0, 5, 10, 99)] == [
        "normal",
        "normal",
        "urgent",
        "urgent",
    ]


def test_queue_settings_parse_from_flow_data() -> None:
    data = yaml.safe_load(
        "max_size: 8\nhandle_time_s: 240\nagents: 3\npriorities: {0: 普通, 10: 紧急}"
    )
    settings = parse_queue_settings(data, "queues.security")
    assert (settings.max_size, settings.handle_time_s, settings.agents) == (8, 240, 3)
    assert dict(settings.priorities) == {0: "普通", 10: "紧急"}
    assert parse_queue_settings({}, "queues.general") == QueueSettings()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"max": 3},
            "queues.general: unknown key 'max'; allowed: agents, handle_time_s, max_size, priorities",
        ),
        ({"max_size": 0}, "queues.general.max_size: expected a whole number of 1 or more, got 0"),
        ({"agents": True}, "queues.general.agents: expected a whole number of 1 or more, got True"),
        (
            {"handle_time_s": "5m"},
            "queues.general.handle_time_s: expected a whole number of 1 or more, got '5m'",
        ),
        ({"priorities": {10: "urgent"}}, "queues.general.priorities: missing level 0"),
        (
            {"priorities": {"high": "urgent"}},
            "queues.general.priorities: level 'high' is not a whole number",
        ),
        ({"priorities": {0: ""}}, "queues.general.priorities.0: expected a name, got ''"),
        ({"priorities": []}, "queues.general.priorities: expected a mapping of levels to names"),
    ],
)
def test_malformed_queue_settings_name_the_sub_key(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^") as raised:
        parse_queue_settings(data, "queues.general")
    assert str(raised.value).startswith(message)
