"""Chinese working days (工作日): weekends and public holidays skipped, make-up working days (调休) counted.

The days come from the maintained `chinese-calendar` package, which carries each year's State Council schedule
from its release on; a year it does not carry yet is refused with `CalendarNotCovered` rather than guessed, since
a guess (weekdays only) would put a deadline on a National Day holiday or miss a make-up Saturday.
"""
from datetime import date, timedelta

import chinese_calendar
from flask_babel import lazy_gettext as _l

#: the most working days a deadline may be set ahead (about a year)
MAX_WORKING_DAYS = 250


class CalendarNotCovered(ValueError):
    """The holiday calendar has no data for the year of `day` (too old, or not yet published in the package)."""

    def __init__(self, day: date):
        super().__init__(f"no holiday data for {day.year}")
        self.day = day

    @property
    def message(self) -> str:
        first, last = covered_years()
        return str(_l("The holiday calendar covers %(first)d to %(last)d only: enter the deadline as a date.",
                      first=first, last=last))


def covered_years() -> tuple[int, int]:
    """The first and last year the installed calendar package knows."""
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return min(years), max(years)


def is_working_day(day: date) -> bool:
    """A weekday that is not a public holiday, or a weekend day the schedule makes a working day."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # the package's answer for a year it has no schedule of
        raise CalendarNotCovered(day) from None


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (`start` itself not counted, whatever it is)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WORKING_DAYS:
        raise ValueError(f"days must be 1..{MAX_WORKING_DAYS}")
    day, left = start, days
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day
