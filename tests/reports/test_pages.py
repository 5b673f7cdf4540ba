"""The report pages and downloads: staff only (a liaison gets 403), each in the user's scope, downloads audited,
unreadable weeks and months refused, the dashboard's tables as .xlsx."""
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db

from ..security.helpers import STATIC_SCRIPTS, client_for
from .helpers import world

PAGES = ["/reports", "/reports/weekly.xlsx?week=2025-W11", "/reports/monthly?month=2025-03",
         "/reports/monthly.xlsx?month=2025-03", "/reports/dashboard.xlsx?period=month&day=2025-03-14"]


@pytest.fixture
def w(app):
    w = world()
    w.app = app
    return w


def book(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return load_workbook(io.BytesIO(response.data))


@pytest.mark.parametrize("role", ["officer", "manager", "admin", "liaison"])
def test_staff_open_every_report_and_a_liaison_none(w, role):
    user = {"officer": w.a, "manager": w.manager, "admin": w.admin, "liaison": w.liaison}[role]
    client = client_for(w.app, user)
    for url in PAGES:
        assert client.get(url).status_code == (403 if role == "liaison" else 200), f"{role} {url}"


def test_signing_in_is_needed(w):
    for url in PAGES:
        response = client_for(w.app).get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_the_weekly_download_is_the_users_view_and_is_audited(w):
    table = book(client_for(w.app, w.a).get("/reports/weekly.xlsx?week=2025-W11"))["周报"]
    listed = [table.cell(n, 2).value for n in range(4, table.max_row + 1)]
    assert "连接器扩产项目" in listed and "星河计划项目" not in listed  # team 2's secret
    managers = book(client_for(w.app, w.manager).get("/reports/weekly.xlsx?week=2025-W11"))["周报"]
    assert "星河计划项目" in [managers.cell(n, 2).value for n in range(4, managers.max_row + 1)]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.actor_id == w.a.id))
    assert event.label == "weekly report week=2025-W11" and event.changes["rows"][1] > 0


def test_the_weekly_download_defaults_to_this_week(w):
    response = client_for(w.app, w.manager).get("/reports/weekly.xlsx")
    assert book(response).sheetnames[0] == "周报"
    assert "weekly-report-20" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("url", ["/reports/weekly.xlsx?week=2025-W54", "/reports/weekly.xlsx?week=x",
                                 "/reports/monthly?month=2025-13", "/reports/monthly.xlsx?month=03-2025"])
def test_an_unreadable_week_or_month_is_a_bad_request(w, url):
    assert client_for(w.app, w.manager).get(url).status_code == 400


def test_the_monthly_page_is_printable_and_in_the_users_scope(w):
    page = client_for(w.app, w.manager).get("/reports/monthly?month=2025-03").get_data(as_text=True)
    for section in ("totals", "signed", "key-projects", "problems", "requests", "stale", "funnel"):
        assert f'data-test="{section}"' in page
    assert "星河计划项目" in page and "企业等待董事会审议" in page
    assert "/static/css/reports.css" in page and "/static/js/reports.js" in page
    assert 'href="/reports/monthly.xlsx?month=2025-03"' in page
    officer = client_for(w.app, w.a).get("/reports/monthly?month=2025-03").get_data(as_text=True)
    assert "星河计划项目" not in officer and "连接器扩产项目" in officer
    # no inline script: only the vendored files and ours
    import re

    scripts = set(re.findall(r'<script[^>]*src="([^"]+)"', page))
    assert scripts <= STATIC_SCRIPTS | {"/static/js/reports.js"}
    assert "<script>" not in page


def test_the_print_styles_are_a4(app):
    css = app.test_client().get("/static/css/reports.css").get_data(as_text=True)
    assert "@page { size: A4 portrait" in css and "@media print" in css


def test_the_list_of_reports(w):
    page = client_for(w.app, w.manager).get("/reports").get_data(as_text=True)
    for part in ("weekly", "monthly", "dashboard", "weekly-download", "monthly-download", "dashboard-download"):
        assert f'data-test="{part}"' in page
    assert 'action="/reports/weekly.xlsx"' in page and 'formaction="/reports/monthly.xlsx"' in page
    assert 'href="/dashboard"' in page  # the dashboard's own page, whose tables the third card exports


def test_the_dashboards_tables_as_xlsx(w):
    sheets = book(client_for(w.app, w.manager).get("/reports/dashboard.xlsx?period=month&day=2025-03-14"))
    assert sheets.sheetnames[:3] == ["阶段漏斗", "本期变化", "比率"]
    assert {"按产业集群", "按园区", "按责任人", "年度目标", "人员"} <= set(sheets.sheetnames)
    funnel = sheets["阶段漏斗"]
    assert [c.value for c in funnel[3]] == ["阶段", "项目数", "计划投资（万元）"]
    assert "2025-03-01 至 2025-03-31" in funnel["A2"].value and "含全部保密项目" in funnel["A2"].value
    counts = {funnel.cell(n, 1).value: funnel.cell(n, 2).value for n in range(4, funnel.max_row + 1)}
    assert counts["签约"] == 1 and counts["洽谈"] == 4  # P1 (P7 is deleted); P2, P5, P11, P12
    officer = book(client_for(w.app, w.a).get("/reports/dashboard.xlsx?period=month&day=2025-03-14"))["阶段漏斗"]
    assert "仅含本人可见的项目" in officer["A2"].value
    officer_counts = {officer.cell(n, 1).value: officer.cell(n, 2).value for n in range(4, officer.max_row + 1)}
    assert officer_counts["洽谈"] == counts["洽谈"] - 1  # without team 2's secret P5
