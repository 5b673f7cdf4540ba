"""Chinese working days (crm/support/workdays.py) on the real holiday schedule of the `chinese-calendar` package, and
request deadlines given as a number of working days, counted from the zone's today."""
from datetime import UTC, date, datetime

import pytest
import time_machine

from crm.support import services, workdays
from crm.support.models import EnterpriseRequest

from .conftest import LAND, count, invalid


def test_national_day_is_skipped_and_the_make_up_saturday_counts():
    # 2026: National Day 10-01..10-07 off; Saturday 10-10 is a working day (调休)
    start = date(2026, 9, 30)  # a Wednesday, the last working day before the holiday
    assert [workdays.add_working_days(start, n) for n in (1, 2, 3, 4)] == [
        date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 12)]
    assert date(2026, 10, 10).weekday() == 5 and workdays.is_working_day(date(2026, 10, 10))
    assert not workdays.is_working_day(date(2026, 10, 5))  # a Monday inside the holiday
    assert not workdays.is_working_day(date(2026, 10, 11))  # the Sunday after the make-up Saturday


def test_mid_autumn_and_a_make_up_sunday():
    # 2026: Mid-Autumn 09-25..09-27 (Fri..Sun) off; Sunday 09-20 is a working day
    assert workdays.add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)
    assert workdays.add_working_days(date(2026, 9, 24), 1) == date(2026, 9, 28)


def test_plain_weekends_and_the_start_day_is_not_counted():
    assert workdays.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Friday → Monday
    assert workdays.add_working_days(date(2026, 11, 30), 5) == date(2026, 12, 7)
    # starting on a holiday: the first working day after it
    assert workdays.add_working_days(date(2026, 10, 1), 1) == date(2026, 10, 8)


def test_the_2025_national_day_too():
    # 2025: 10-01..10-08 off, Saturday 10-11 a working day
    assert workdays.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)


def test_years_the_package_does_not_cover_are_a_clear_error():
    first, last = workdays.covered_years()
    assert first <= 2025 and last >= 2026
    with pytest.raises(workdays.CalendarNotCovered) as caught:
        workdays.add_working_days(date(last, 12, 28), 5)
    assert caught.value.day.year == last + 1
    assert str(first) in caught.value.message and str(last) in caught.value.message
    with pytest.raises(workdays.CalendarNotCovered):
        workdays.is_working_day(date(first - 1, 6, 1))


@pytest.mark.parametrize("days", [0, -1, True, 251, 2.5, "3"])
def test_the_number_of_days_is_checked(days):
    with pytest.raises(ValueError):
        workdays.add_working_days(date(2026, 3, 2), days)


# --- through the request service --------------------------------------------------------------------------------------

def test_a_deadline_in_working_days_counts_from_the_zone_s_today(w):
    # 16:30 UTC on 09-29 is 00:30 on 09-30 in Beijing: three working days from 09-30 end on the make-up Saturday
    # (from the UTC date, 09-29, they would end on 10-09)
    with time_machine.travel(datetime(2026, 9, 29, 16, 30, tzinfo=UTC), tick=False):
        found = services.create_request(w.p.id, {"category": "land", "description": "用地指标未落实",
                                                 "department": LAND, "deadline": 3}, actor=w.a)
        text_days = services.create_request(w.p.id, {"category": "utilities", "description": "双回路供电",
                                                     "department": LAND, "deadline": "３"}, actor=w.a)
    assert found.deadline == date(2026, 10, 10)
    assert text_days.deadline == date(2026, 10, 10)  # full-width digits from a Chinese keyboard too
    with time_machine.travel(datetime(2026, 9, 29, 15, 30, tzinfo=UTC), tick=False):  # 23:30 on 09-29, Beijing
        earlier = services.create_request(w.p.id, {"category": "land", "description": "用地",
                                                   "department": LAND, "deadline": 3}, actor=w.a)
    assert earlier.deadline == date(2026, 10, 9)


def test_a_deadline_past_the_calendar_is_refused_with_a_clear_message(w):
    _, last = workdays.covered_years()
    with time_machine.travel(datetime(last, 12, 28, 4, 0, tzinfo=UTC), tick=False):
        error = invalid(["deadline"], services.create_request, w.p.id,
                        {"category": "land", "description": "用地", "department": LAND, "deadline": 5}, actor=w.a)
        assert str(last) in error.fields["deadline"][0]
        # a date still works
        found = services.create_request(w.p.id, {"category": "land", "description": "用地", "department": LAND,
                                                 "deadline": f"{last + 1}-01-08"}, actor=w.a)
    assert found.deadline == date(last + 1, 1, 8)
    assert count(EnterpriseRequest) == 1
