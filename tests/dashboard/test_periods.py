"""Periods: whole days of the zone's calendar (Asia/Shanghai), the previous period, reading them from a query."""
from datetime import UTC, date, datetime

import pytest
from werkzeug.datastructures import MultiDict

from crm.dashboard import kpis


@pytest.mark.parametrize(("kind", "day", "start", "end", "before"), [
    # 2026-03-11 is a Wednesday: its week runs Monday 03-09 to Sunday 03-15
    ("week", date(2026, 3, 11), date(2026, 3, 9), date(2026, 3, 15), (date(2026, 3, 2), date(2026, 3, 8))),
    # a week across the turn of the year
    ("week", date(2026, 1, 1), date(2025, 12, 29), date(2026, 1, 4), (date(2025, 12, 22), date(2025, 12, 28))),
    ("month", date(2026, 3, 31), date(2026, 3, 1), date(2026, 3, 31), (date(2026, 2, 1), date(2026, 2, 28))),
    ("month", date(2024, 3, 1), date(2024, 3, 1), date(2024, 3, 31), (date(2024, 2, 1), date(2024, 2, 29))),
    ("month", date(2026, 1, 15), date(2026, 1, 1), date(2026, 1, 31), (date(2025, 12, 1), date(2025, 12, 31))),
    ("quarter", date(2026, 5, 20), date(2026, 4, 1), date(2026, 6, 30), (date(2026, 1, 1), date(2026, 3, 31))),
    ("quarter", date(2026, 2, 1), date(2026, 1, 1), date(2026, 3, 31), (date(2025, 10, 1), date(2025, 12, 31))),
    ("year", date(2026, 7, 4), date(2026, 1, 1), date(2026, 12, 31), (date(2025, 1, 1), date(2025, 12, 31))),
])
def test_named_periods_and_the_one_before(kind, day, start, end, before):
    period = kpis.period_for(kind, day)
    assert (period.kind, period.start, period.end) == (kind, start, end)
    assert (period.previous().start, period.previous().end) == before
    assert period.previous().kind == kind


def test_custom_period_and_the_same_length_before():
    period = kpis.custom_period(date(2026, 3, 10), date(2026, 3, 19))
    assert period.days == 10
    assert (period.previous().start, period.previous().end) == (date(2026, 2, 28), date(2026, 3, 9))
    # given the wrong way round: swapped; far too long: cut
    assert kpis.custom_period(date(2026, 3, 19), date(2026, 3, 10)) == period
    assert kpis.custom_period(date(2000, 1, 1), date(2099, 1, 1)).days == kpis.MAX_CUSTOM_DAYS


def test_bounds_are_zone_midnights_in_utc(app):
    period = kpis.period_for("month", date(2026, 3, 1))
    # 00:00 in Shanghai (UTC+8) is 16:00 UTC the day before
    assert period.starts_at() == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert period.ends_before() == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert date(2026, 3, 31) in period and date(2026, 4, 1) not in period


def test_periods_from_query_arguments(app):
    today = date(2026, 3, 11)

    def read(**args):
        return kpis.period_from_args(MultiDict(args), today=today)

    assert read() == kpis.period_for(kpis.DEFAULT_PERIOD, today)
    assert read(period="quarter") == kpis.period_for("quarter", today)
    assert read(period="year", day="2025-06-01") == kpis.period_for("year", date(2025, 6, 1))
    assert read(period="custom", start="2026-01-05", end="2026-01-09") == kpis.custom_period(date(2026, 1, 5),
                                                                                           date(2026, 1, 9))
    # anything unreadable falls back, never raises
    assert read(period="decade") == kpis.period_for(kpis.DEFAULT_PERIOD, today)
    assert read(period="week", day="2026-02-30") == kpis.period_for("week", today)
    assert read(period="custom", start="2026-01-05") == kpis.period_for(kpis.DEFAULT_PERIOD, today)
    assert read(period="custom", start="yesterday", end="\x00") == kpis.period_for(kpis.DEFAULT_PERIOD, today)
    # a period's own arguments give it back
    for period in (kpis.period_for("week", today), kpis.custom_period(date(2026, 1, 5), date(2026, 2, 9))):
        assert kpis.period_from_args(MultiDict(period.args()), today=date(1999, 1, 1)) == period


def test_period_problems_name_the_arguments():
    def problems(**args):
        return kpis.period_problems(MultiDict(args))

    assert problems() == {} and problems(period="week", day="2026-03-01") == {}
    assert problems(period="custom", start="2026-03-01", end="2026-03-02") == {}
    assert set(problems(period="decade")) == {"period"}
    assert set(problems(period="custom", start="2026-03-01")) == {"end"}
    assert set(problems(period="month", day="03/01/2026")) == {"day"}
