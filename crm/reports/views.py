"""Report pages and downloads (staff only; a department liaison gets 403): the list of reports, the weekly report
(.xlsx), the monthly report (a printable page and .xlsx) and the dashboard's tables (.xlsx). Each holds what the
signed-in user may see; every download is audited with its row count (IE-6)."""
from babel.dates import format_skeleton
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_login import login_required

from crm.audit import services as audit
from crm.core.database import writing
from crm.core.text import mask_digit_runs
from crm.core.timeutil import today_in_zone
from crm.dashboard import kpis
from crm.extensions import db
from crm.notifications.kinds_reports import report_time
from crm.projects.services import stale_days
from crm.web import signed_in_user, staff_only

from . import monthly, weekly
from .workbook import XLSX_MIME

#: no url_prefix: a prefix would make the downloads /reports/.xlsx-like (Flask joins prefix and rule with a slash)
bp = Blueprint("reports", __name__)
bp.before_request(login_required(staff_only))


def _download(body: bytes, filename: str, *, kind: str, rows: int) -> Response:
    """The file as an attachment, its download audited (in a writer's transaction of its own: the report's reads
    began a plain one, and on SQLite a plain transaction that turns writer fails at once when another is writing)."""
    db.session.rollback()
    with writing():
        audit.record("export", actor=signed_in_user(), object_type="project", changes={"rows": [None, rows]},
                     label=(f"{kind} " + mask_digit_runs(request.query_string.decode(errors="replace")))[:200])
        db.session.commit()
    response = Response(body, mimetype=XLSX_MIME)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _week():
    """The ?week=2025-W11 asked for (this week when none); 400 for one that is not a week."""
    value = request.args.get("week")
    if not value:
        return None
    monday = weekly.parse_week(value)
    if monday is None:
        abort(400)
    return monday


def _month():
    """The ?month=2025-03 asked for (this month when none); 400 for one that is not a month."""
    value = request.args.get("month")
    if not value:
        return None
    first = monthly.parse_month(value)
    if first is None:
        abort(400)
    return first


@bp.get("/reports")
def index():
    """The reports there are: this week's report (and any week's), the monthly report, the dashboard's tables."""
    today = today_in_zone()
    dashboard = "dashboard.index" in current_app.view_functions  # the dashboard's page (crm.dashboard.views)
    return render_template("reports/index.html", this_week=weekly.week_key(today), this_month=f"{today:%Y-%m}",
                           report_time=report_time(), stale_days=stale_days(),
                           dashboard_url=url_for("dashboard.index") if dashboard else "")


@bp.get("/reports/weekly.xlsx")
def weekly_xlsx():
    """The weekly project report (周报) of ?week= (this week by default), as the managers get it on Fridays."""
    report = weekly.weekly_report(signed_in_user(), week=_week())
    return _download(weekly.workbook(report), report.filename, kind="weekly report",
                     rows=len(report.rows) + len(report.stale))


@bp.get("/reports/monthly")
def monthly_page():
    """The monthly report of ?month= (this month by default) as a printable page (A4)."""
    report = monthly.monthly_report(signed_in_user(), month=_month())
    return render_template("reports/monthly.html", report=report, change_labels=monthly.CHANGE_LABELS,
                           rate_labels=monthly.RATE_LABELS, change_keys=kpis.CHANGES, rate_keys=kpis.RATES,
                           month_label=format_skeleton("yMMMM", report.month.start, locale=str(get_locale())),
                           previous_label=format_skeleton("yMMMM", report.month.previous().start,
                                                          locale=str(get_locale())))


@bp.get("/reports/monthly.xlsx")
def monthly_xlsx():
    report = monthly.monthly_report(signed_in_user(), month=_month(), language=weekly.report_language())
    rows = len(report.signed) + len(report.key_rows) + len(report.requests) + len(report.stale)
    return _download(monthly.workbook(report), report.filename, kind="monthly report", rows=rows)


@bp.get("/reports/dashboard.xlsx")
def dashboard_xlsx():
    """The dashboard's tables for ?period= (as the dashboard page takes it: week, month, quarter, year, custom)."""
    from . import dashboard

    period = kpis.period_from_args(request.args)
    body, filename, rows = dashboard.workbook(signed_in_user(), period)
    return _download(body, filename, kind="dashboard", rows=rows)
