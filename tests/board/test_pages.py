"""The wall chart's page and its .xlsx export: coloured cells with their words and dates, the filters, the code name
of a confidential project, staff only, and a workbook with the same fills whose texts cannot run as formulas."""
import io
import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.support.board_views import FILLS
from crm.support.models import MILESTONE_KEYS

from ..factories import make_company, make_project
from ..security.helpers import client_for, executable_content
from .conftest import milestones


def soup_of(response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def status_of(td) -> str | None:
    """A cell's status, read from its colour class (wall-red, ...; wall-none: no milestone)."""
    found = [c[5:] for c in td["class"] if c.startswith("wall-") and c != "wall-cell"]
    assert len(found) == 1, td["class"]
    return None if found[0] == "none" else found[0]


def wall_rows(page: BeautifulSoup) -> dict[int, dict]:
    """project id → {"name", "company", "worst", "requests", "cells": {kind: (status, text)}} as the page shows it."""
    out = {}
    kinds = [th["data-kind"] for th in page.select('table[data-test="wall"] thead th[data-kind]')]
    assert kinds == list(MILESTONE_KEYS)
    for tr in page.select('table[data-test="wall"] tbody tr'):
        cells = {}
        for kind, td in zip(kinds, tr.select("td.wall-cell"), strict=True):
            cells[kind] = (status_of(td), " ".join(td.get_text(" ").split()))
        out[int(tr["data-project"])] = {
            "name": tr.select_one(".wall-name").get_text(" ", strip=True),
            "company": tr.select_one('[data-test="company"]').get_text(strip=True), "worst": tr["data-worst"],
            "requests": tr.select_one('[data-test="requests"]').get_text(" ", strip=True), "cells": cells}
    return out


def test_the_wall_chart_shows_each_milestone_coloured_with_its_words_and_dates(app, w):
    w.a.locale = "en"
    db.session.commit()
    page = soup_of(client_for(app, w.a).get("/board"))
    rows = wall_rows(page)
    assert list(rows) == [w.red2.id, w.red.id, w.yellow.id, w.green.id, w.secret.id, w.b_open.id, w.done.id, w.bare.id]
    red = rows[w.red.id]
    assert red["worst"] == "red" and red["requests"] == "3 (1)"  # open or in progress (past the deadline)
    assert [red["cells"][k][0] for k in MILESTONE_KEYS] == ["done", "red", "yellow"] + ["green"] * 6
    day = timedelta(days=1)
    assert red["cells"]["planning_permit"][1] == f"Overdue Planned {w.today - day}"
    assert red["cells"]["construction_permit"][1] == f"Due soon Planned {w.today + 3 * day}"
    assert red["cells"]["construction_start"][1] == f"On track Planned {w.today + 30 * day}"
    assert red["cells"]["topping_out"][1] == "On track Planned —"
    assert red["cells"]["land_acquired"][1] == f"Done Planned {w.today - 40 * day} Actual {w.today - 41 * day}"
    assert rows[w.yellow.id]["cells"]["planning_permit"][1] == f"Due soon Planned {w.today + 7 * day}"
    assert rows[w.green.id]["cells"]["land_acquired"][1] == f"On track Planned {w.today + 8 * day}"
    assert rows[w.yellow.id]["requests"] == "0"
    # every cell's class is its status (the colour) and it carries the status in words
    for td in page.select('table[data-test="wall"] td.wall-cell'):
        assert status_of(td) in {"red", "yellow", "green", "done", None}
        assert td.select_one(".wall-status").get_text(strip=True)
    assert {status for status, _ in rows[w.bare.id]["cells"].values()} == {None}
    assert {text for _, text in rows[w.bare.id]["cells"].values()} == {"— No milestone"}
    # the project links to its page; the worst status is in words too; the legend explains the colours
    assert page.select_one(f'tr[data-project="{w.red.id}"] a.wall-name')["href"] == f"/projects/{w.red.id}"
    assert page.select_one(f'tr[data-project="{w.red.id}"] td.wall-worst').get_text(strip=True) == "Overdue"
    legend = page.select_one('[data-test="legend"]').get_text(" ", strip=True)
    for words in ("Overdue", "Due soon", "due within 7 days", "On track", "Done", "No milestone"):
        assert words in legend
    summary = page.select_one('[data-test="summary"]').get_text(" ", strip=True)
    assert summary.startswith("8 key projects") and w.today.isoformat() in summary


def test_the_wall_in_the_officers_language(app, w):
    """Chinese by default: the cells' words come from the catalog, the dates stay ISO."""
    page = soup_of(client_for(app, w.a).get("/board"))
    red = wall_rows(page)[w.red.id]
    text = red["cells"]["planning_permit"][1]
    assert text.endswith(str(w.today - timedelta(days=1))) and not text.startswith("Overdue Planned")
    assert page.find("html")["lang"] == "zh-CN"


def test_confidential_project_shows_its_code_name_and_another_teams_secret_is_absent(app, w):
    officer = soup_of(client_for(app, w.a).get("/board"))
    rows = wall_rows(officer)
    assert rows[w.secret.id]["company"] == "白鹭"
    assert w.hidden.id not in rows
    assert "深圳华信电子有限公司" not in str(officer.select_one(f'tr[data-project="{w.secret.id}"]'))
    manager = wall_rows(soup_of(client_for(app, w.manager).get("/board")))
    assert manager[w.secret.id]["company"] == "深圳华信电子有限公司" and w.hidden.id in manager


def test_filters_through_the_form(app, w):
    client = client_for(app, w.a)
    assert set(wall_rows(soup_of(client.get("/board?park=fenghuang&key=0&key=1")))) == {w.yellow.id}
    every = wall_rows(soup_of(client.get("/board?key=0")))  # the box unticked: every signed project
    assert w.plain.id in every and w.talks.id not in every
    assert set(wall_rows(soup_of(client.get("/board?park=none&key=0")))) == {w.plain.id}
    assert set(wall_rows(soup_of(client.get("/board?cluster=green_food")))) == {w.green.id}
    assert set(wall_rows(soup_of(client.get(f"/board?owner_id={w.b.id}")))) == {w.b_open.id}
    by_name = soup_of(client.get("/board?sort=name"))
    names = [r["name"] for r in wall_rows(by_name).values()]
    assert names == sorted(names)
    empty = soup_of(client.get("/board?park=nowhere"))
    assert empty.select_one('[data-test="empty"]') and not empty.select('table[data-test="wall"]')
    # nonsense is dropped, never an error
    assert client.get("/board?owner_id=abc&sort=%00&page=-4&key=maybe").status_code == 200
    form = soup_of(client.get("/board?key=0&park=dunhou"))
    assert not form.select_one('[data-test="key-only"]').has_attr("checked")
    assert form.select_one('select[name="park"] option[selected]')["value"] == "dunhou"


def test_pages_past_the_wall_cap(app, w, monkeypatch):
    monkeypatch.setattr("crm.support.board.PAGE_SIZE", 3)
    client = client_for(app, w.a)
    first = soup_of(client.get("/board"))
    assert len(wall_rows(first)) == 3
    pager = first.select_one("nav.wall-pager")
    assert "1–3" in pager.get_text() and "8" in pager.get_text()
    second = soup_of(client.get(pager.select_one("a")["href"]))
    assert len(wall_rows(second)) == 3 and not set(wall_rows(second)) & set(wall_rows(first))


def test_print_layout_follows_the_number_of_rows(app, w, monkeypatch):
    monkeypatch.setattr("crm.support.board_views.PRINT_ROWS", 1)
    monkeypatch.setattr("crm.support.board_views.PRINT_ROWS_DENSE", 7)
    client = client_for(app, w.a)

    def layout(query):
        page = soup_of(client.get(f"/board{query}"))
        table = page.select_one('table[data-test="wall"]')
        return [c for c in table["class"] if c.startswith("wall-print-")], page

    assert layout("?cluster=green_food")[0] == ["wall-print-normal"]  # 1 row
    dense, page = layout("?park=dunhou")  # 7 rows
    assert dense == ["wall-print-dense"] and not page.select('[data-test="print-warning"]')
    over, page = layout("")  # 8 rows: more than one sheet, and the page says so
    assert over == ["wall-print-over"] and page.select_one('[data-test="print-warning"]')


def test_the_page_runs_no_inline_code_and_loads_the_print_styles(app, w):
    html = client_for(app, w.a).get("/board").get_data(as_text=True)
    assert [x for x in executable_content(html) if "/static/js/support-board.js" not in x] == []
    assert ' style="' not in html and "<style" not in html
    assert "/static/css/support-board.css" in html and "data-print" in html
    css = (app.static_folder + "/css/support-board.css")
    with open(css, encoding="utf-8") as fh:
        rules = fh.read()
    assert re.search(r"@page\s*\{\s*size:\s*A3 landscape", rules)
    for status, colour in FILLS.items():  # the page and the workbook use the same colours
        assert re.search(rf"\.wall-{status}\s*\{{\s*background:\s*#{colour}\b", rules, re.I), status


@pytest.mark.parametrize("path", ["/board", "/board.xlsx", "/board?key=0"])
def test_liaisons_may_not_open_the_board(app, w, path):
    assert client_for(app, w.liaison).get(path).status_code == 403
    anonymous = client_for(app).get(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


# --- the workbook ----------------------------------------------------------------------------------------------------

def workbook_of(response):
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return load_workbook(io.BytesIO(response.data))


def test_export_has_the_same_fills_headers_and_frozen_panes(app, w):
    w.a.locale = "en"
    db.session.commit()
    response = client_for(app, w.a).get("/board.xlsx")
    assert "support-board-" in response.headers["Content-Disposition"]
    wb = workbook_of(response)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:7] == ["Project", "Company", "Stage", "Officer", "Park", "Open requests", "Worst status"]
    assert header[7:] == ["Land acquired", "Planning permit", "Construction permit", "Construction start",
                          "Topping out", "Equipment in", "Trial production", "Production start", "Full capacity"]
    assert ws.freeze_panes == "C2"
    lines = {row[0].value: row for row in ws.iter_rows(min_row=2)}
    assert list(lines) == ["乙 更久逾期项目", "甲 逾期项目", "丙 将到期项目", "丁 正常项目", "壬 保密项目",
                           "子 二组公开项目", "戊 已完成项目", "己 无节点项目"]
    red = lines["甲 逾期项目"]
    assert red[5].value == 3 and red[6].value == "Overdue"
    expected = ["done", "red", "yellow"] + ["green"] * 6
    for cell, status in zip(red[7:], expected, strict=True):
        assert cell.fill.fgColor.rgb[-6:] == FILLS[status], (cell.coordinate, status)
        assert cell.value.split("\n")[0] == {"done": "Done", "red": "Overdue", "yellow": "Due soon",
                                             "green": "On track"}[status]
    assert red[8].value == f"Overdue\nPlanned {w.today - timedelta(days=1)}"
    assert red[7].value == f"Done\nPlanned {w.today - timedelta(days=40)}\nActual {w.today - timedelta(days=41)}"
    assert red[6].fill.fgColor.rgb[-6:] == FILLS["red"]
    assert lines["壬 保密项目"][1].value == "白鹭"  # the code name, as on the page
    bare = lines["己 无节点项目"]
    assert [c.value for c in bare[7:]] == ["—"] * 9 and bare[6].value == "—"
    legend = wb.worksheets[1]
    assert [legend.cell(r, 1).fill.fgColor.rgb[-6:] for r in range(2, 6)] == [FILLS[s] for s in
                                                                             ("red", "yellow", "green", "done")]
    # the export is audited with its row count
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id.desc()))
    assert event.actor_id == w.a.id and event.changes == {"rows": [None, 8]} and event.label.startswith("board")


def test_export_keeps_the_filters_and_every_row(app, w, monkeypatch):
    monkeypatch.setattr("crm.support.board.PAGE_SIZE", 2)  # the page's cap does not cut the export
    client = client_for(app, w.a)
    ws = workbook_of(client.get("/board.xlsx?key=0&sort=name")).worksheets[0]
    names = [r[0].value for r in ws.iter_rows(min_row=2)]
    assert len(names) == 9 and names == sorted(names)
    page = soup_of(client.get("/board?key=0&park=dunhou"))
    export = page.select_one('[data-test="export"]')["href"]
    assert export.startswith("/board.xlsx?") and "key=0" in export and "park=dunhou" in export


def test_export_cells_cannot_run_as_formulas(app, w):
    company = make_company("=HYPERLINK(\"http://evil.example\",\"点我\")", owner=w.a)
    project = make_project(company, owner=w.a, name="=cmd|' /C calc'!A0", stage="signed", key_project=True)
    milestones(project, {"land_acquired": (w.today, None)})
    for name in ("+SUM(1,2)", "-2+3", "@SUM(A1)"):
        make_project(company, owner=w.a, name=name, stage="signed", key_project=True)
    ws = workbook_of(client_for(app, w.a).get("/board.xlsx")).worksheets[0]
    values = [c for row in ws.iter_rows(min_row=2) for c in row[:2]]
    risky = [c for c in values if isinstance(c.value, str) and c.value.lstrip("'")[:1] in "=+-@"]
    assert len(risky) == 8  # four names and four company names
    for cell in risky:
        assert cell.data_type == "s" and cell.value.startswith("'"), cell.value
    raw = workbook_of(client_for(app, w.a).get("/board.xlsx"))
    assert not any(c.data_type == "f" for row in raw.worksheets[0].iter_rows() for c in row)
