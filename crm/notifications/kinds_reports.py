"""The reports that go out by e-mail, each a `find` and a `compose` registered in `kinds`:

- "weekly_report" (周报): the weekly project report (crm.reports.weekly) to every active manager on Fridays from
  CRM_WEEKLY_REPORT_TIME (17:00 zone time unless configured), one per manager per ISO week (the period is the week,
  2025-W11). The round stays open over the weekend, so a scheduler that was down on Friday evening still sends it on
  Saturday or Sunday; from Monday it is the next week's. The e-mail carries a summary (how many projects, key
  projects, projects with no update and how many of them lack a reason) and the report itself as an .xlsx
  attachment, built at send time for the manager's scope (R3: a manager sees every project).
"""
from collections.abc import Iterator
from datetime import datetime

from flask import current_app
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.auth.models import Role, User
from crm.core.timeutil import zone
from crm.extensions import db
from crm.i18n import gettext as _

from .kinds import Due, NotDue, _clean, _clock, register
from .mail import absolute_url
from .models import Notification

#: Friday (Monday is 0)
REPORT_WEEKDAY = 4
#: the report time when CRM_WEEKLY_REPORT_TIME is not configured
DEFAULT_REPORT_TIME = "17:00"
#: the projects without a reason the e-mail names (the attachment lists them all)
MAIL_LIST = 10


def report_time():
    return _clock(current_app.config.get("CRM_WEEKLY_REPORT_TIME") or DEFAULT_REPORT_TIME)


def report_round_open(now: datetime) -> bool:
    """Friday from the report time until Sunday midnight (zone time)."""
    local = now.astimezone(zone())
    weekday = local.weekday()
    return weekday > REPORT_WEEKDAY or (weekday == REPORT_WEEKDAY and
                                        local.time().replace(tzinfo=None) >= report_time())


def compose_weekly_report(notification: Notification, recipient: User, at: datetime) -> dict:
    """The week's report for the manager, as of the send: the summary in the e-mail, the report attached."""
    from crm.reports import weekly
    from crm.reports.workbook import XLSX_MIME

    if recipient.role != Role.MANAGER.value:
        raise NotDue("not_a_manager")
    monday = weekly.parse_week(notification.period)
    if monday is None:
        raise NotDue("bad_period")
    report = weekly.weekly_report(recipient, week=monday, now=at)
    missing = [row for row in report.stale if not row.reason][:MAIL_LIST]
    first, last = format_date(report.week.start, "medium"), format_date(report.last_day, "medium")
    return {
        "subject": _("Weekly project report, %(first)s – %(last)s", first=first, last=last),
        "first": first, "last": last, "week": report.key,
        "rows": report.rows_total, "key_projects": report.key_projects,
        "stale_days": report.stale_days, "stale": report.stale_total, "with_reason": report.stale_with_reason,
        "without_reason": report.stale_without_reason,
        "missing": [{"name": _clean(row.name), "investor": _clean(row.investor), "owner": _clean(row.owner),
                     "days": row.idle_days, "url": absolute_url("projects.show", project_id=row.project_id)}
                    for row in missing],
        "filename": report.filename,
        "reports_url": absolute_url("reports.index"),
        "attachments": [(report.filename, XLSX_MIME, weekly.workbook(report))],
    }


@register("weekly_report", label=_l("Weekly project report (managers)"), compose=compose_weekly_report)
def find_weekly_reports(now: datetime) -> Iterator[Due]:
    """Every active manager, once per ISO week, from Friday's report time."""
    if not report_round_open(now):
        return
    from crm.reports.weekly import week_key

    period = week_key(now.astimezone(zone()).date())
    for user_id in db.session.scalars(select(User.id).where(
            User.is_active_user.is_(True), User.role == Role.MANAGER.value).order_by(User.id)):
        yield Due(user_id, "user", user_id, period)
