"""The monthly report (March 2025, made on Friday 14 March 17:00): the dashboard's totals, the projects signed, the
key projects' progress, the problems (open enterprise requests, projects with no update); as .xlsx and as a page."""
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from crm.dashboard import kpis
from crm.extensions import db
from crm.reports import monthly
from crm.support.models import Milestone

from .helpers import FRIDAY, month_world, names

MARCH = date(2025, 3, 1)


@pytest.fixture
def m(app):
    return month_world()


def report(viewer, *, language="zh_Hans_CN"):
    return monthly.monthly_report(viewer, month=MARCH, now=FRIDAY, language=language)


def test_totals_are_the_dashboards_figures_for_the_month(m):
    r = report(m.manager)
    assert (r.month.start, r.month.end) == (date(2025, 3, 1), date(2025, 3, 31))
    figures = kpis.changes(m.manager, kpis.period_for("month", MARCH))
    assert {k: (c.current.value, c.previous.value) for k, c in r.changes.items()} == \
        {k: (c.current.value, c.previous.value) for k, c in figures.items()}
    # signed: the three-month signing and the one that skipped signed; not the one that fell back, not February's
    assert r.changes["signed"].current.value == 2 and r.changes["signed"].previous.value == 1
    assert set(r.rates) == set(kpis.RATES)
    # 300 - 50 arrived in March (February's 100 does not count)
    assert r.funds_received == Decimal("250")
    assert [row.key for row in r.funnel] == [s for s in ("lead", "negotiating", "site_visit", "signed",
                                                         "under_construction", "in_production", "full_capacity",
                                                         "on_hold", "lost")]


def test_signed_projects_are_the_dashboards_list(m):
    r = report(m.manager)
    assert names(r.signed) == ["三月签约项目", "直接开工项目"]  # by signing day
    first = r.signed[0]
    assert (first.signed_on, first.planned_investment, first.fixed_asset_investment) == (
        date(2025, 3, 5), Decimal("5000"), Decimal("3000"))
    assert (first.cluster, first.park, first.investor, first.stage) == (
        "电子信息", "凤凰园区", "华信电子有限公司", "签约")
    assert r.signed[1].signed_on == date(2025, 3, 8)
    assert r.signed_investment == Decimal("7000")


def test_key_projects_progress(m):
    r = report(m.manager)
    # still worked (under construction, signed, negotiating), and the one that reached full capacity this month
    assert names(r.key_rows) == ["本月达产重点项目", "节点项目丙", "连接器扩产项目", "星河计划项目"]
    rows = {row.name: row for row in r.key_rows}
    assert rows["连接器扩产项目"].moves == ["03-02 签约→在建", "03-04 在建→签约"]
    assert rows["连接器扩产项目"].progress.startswith("签约\n2025-03-04 在建→签约：手续退回")
    assert rows["本月达产重点项目"].moves == ["03-03 投产→达产"]
    assert rows["节点项目丙"].next_milestone == "开工 2025-03-01（已逾期）" and rows["节点项目丙"].next_status == "red"
    assert rows["星河计划项目"].meetings == 0 and rows["连接器扩产项目"].meetings == 0
    assert r.key_total == 4


def test_problems_open_requests_late_first_and_projects_with_no_update(m):
    r = report(m.manager)
    assert [q.request_id for q in r.requests] == [m.r_late.id, m.r_secret.id, m.r_open.id]  # by deadline
    late = r.requests[0]
    assert (late.late, late.category, late.department, late.project) == (True, "用地", "自然资源局", "连接器扩产项目")
    assert r.requests[2].late is False and r.requests[2].status == "办理中"
    assert (r.requests_total, r.requests_late) == (3, 1)
    assert names(r.stale) == ["连接器扩产项目", "节点项目丙", "线索项目甲"]
    assert (r.stale_total, r.stale_with_reason) == (3, 1)


def test_an_officer_gets_their_own_view(m):
    r = report(m.a)
    assert "星河计划项目" not in names(r.key_rows)
    assert m.r_secret.id not in [q.request_id for q in r.requests] and r.requests_total == 2


def test_the_workbook(m):
    book = load_workbook(io.BytesIO(monthly.workbook(report(m.manager))))
    assert book.sheetnames == ["总体情况", "本月签约项目", "重点项目进展", "存在问题-企业诉求", "存在问题-未更新项目"]
    totals = book["总体情况"]
    assert totals["A1"].value == "招商工作月报（2025年3月）"
    lines = {(row[1].value): row[2].value for row in totals.iter_rows(min_row=4)}
    assert lines["新签约项目"] == 2 and lines["到位资金（万元）"] == 250 and lines["新签约计划投资（万元）"] == 7000
    signed = book["本月签约项目"]
    assert [signed.cell(n, 2).value for n in (4, 5)] == ["三月签约项目", "直接开工项目"]
    assert signed.cell(4, 8).value.date() == date(2025, 3, 5)
    requests = book["存在问题-企业诉求"]
    assert requests.cell(4, 5).value == "'=用地指标未落实" and requests.cell(4, 9).value == "是"  # defused; late
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A4" and sheet.page_setup.orientation == "landscape"


def test_parse_month():
    assert monthly.parse_month("2025-03") == MARCH
    for bad in ("2025-13", "2025-3", "", None, "25-03-01", "abcd-ef"):
        assert monthly.parse_month(bad) is None


def test_an_english_page_report_names_things_in_english(m):
    r = report(m.manager, language="en")
    assert r.signed[0].stage == "Signed" and r.signed[0].park == "Fenghuang Park"
    assert r.key_rows[0].moves == ["03-03 In production→Full capacity"]


def test_next_milestone_unplanned_shows_a_dash(m):
    db.session.add(Milestone(project_id=m.p1.id, kind="land_acquired", sort=10, note=""))
    db.session.commit()
    row = next(k for k in report(m.manager).key_rows if k.project_id == m.p1.id)
    assert row.next_milestone == "土地摘牌 —" and row.next_status == "green"


def test_stale_days_comes_from_the_setting(m):
    from crm.reference import services as reference

    reference.set_settings({"stale_days": "42"}, actor=m.admin)
    r = report(m.manager)
    assert r.stale_days == 42 and names(r.stale) == ["线索项目甲"]  # 45 days quiet; P1 (40) and P9 (31) no longer
