"""The project pages: the list (filters, sort, paging, saved views, export, bulk actions), create, the project page
(stage path, stage moves, funds in place, timeline), edit, visibility and escaping."""
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.companies.models import Company
from crm.core.timeutil import today_in_zone, utcnow
from crm.extensions import db
from crm.projects.models import FundsEntry, Project, SavedView, StageMove

from ..factories import VALID_USCC, login, make_company, make_project, make_reference, make_team, make_user


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def listed(response) -> list[str]:
    """The project names in the list's table, in order."""
    return [a.get_text(strip=True) for a in soup(response).select("table.projects-table td.name-cell > a")]


def field_errors(response) -> dict[str, list[str]]:
    """Messages shown by each form field (the field's name → its invalid-feedback texts)."""
    out: dict[str, list[str]] = {}
    for feedback in soup(response).select(".invalid-feedback"):
        box = feedback.parent
        control = box.find(["input", "select", "textarea"], attrs={"name": True})
        if control is not None:
            out.setdefault(control["name"], []).append(feedback.get_text(strip=True))
    return out


def flashes(response) -> str:
    return " ".join(a.get_text(" ", strip=True) for a in soup(response).select(".alert"))


def reload(project: Project) -> Project:
    db.session.expire_all()
    return db.session.get(Project, project.id)


@pytest.fixture
def zone():
    """Two teams: officer a1 and a2 in team A, b1 in team B, a manager; the reference lists."""
    make_reference()
    team_a, team_b = make_team("招商一组"), make_team("招商二组")

    class Zone:
        a1 = make_user(team=team_a, name="王伟")
        a2 = make_user(team=team_a, name="李娜")
        b1 = make_user(team=team_b, name="张强")
        manager = make_user("manager", name="陈局")
        a, b = team_a, team_b
    return Zone


# --- the list ---------------------------------------------------------------------------------------------------------

def test_list_filters_and_sorts(client, zone):
    company = make_company("江西华联电子科技有限公司", owner=zone.a1)
    signed = make_project(company, owner=zone.a1, name="华联智能终端", stage="signed", planned_investment=50000,
                          cluster="electronic_info", park="dunhou", key_project=True)
    lead = make_project(owner=zone.a2, name="绿源食品加工", stage="lead", planned_investment=3000,
                        cluster="green_food")
    lost = make_project(owner=zone.b1, name="远方电池", stage="lost", planned_investment=80000, park="fenghuang")
    full = make_project(owner=zone.b1, name="达产样板", stage="full_capacity", planned_investment=10)
    lead.last_activity_at = utcnow() - timedelta(days=90)
    db.session.commit()
    login(client, zone.a1)

    everything = listed(client.get("/projects"))
    assert sorted(everything) == sorted(["华联智能终端", "绿源食品加工", "远方电池", "达产样板"])
    assert sorted(listed(client.get("/projects?stage=open"))) == ["华联智能终端", "绿源食品加工"]
    assert listed(client.get("/projects?stage=lost")) == ["远方电池"]
    assert listed(client.get("/projects?cluster=green_food")) == ["绿源食品加工"]
    assert listed(client.get("/projects?park=dunhou")) == ["华联智能终端"]
    assert set(listed(client.get("/projects?park=none"))) == {"绿源食品加工", "达产样板"}
    assert set(listed(client.get(f"/projects?owner_id={zone.b1.id}"))) == {"远方电池", "达产样板"}
    assert set(listed(client.get(f"/projects?team_id={zone.a.id}"))) == {"华联智能终端", "绿源食品加工"}
    assert listed(client.get("/projects?key=1")) == ["华联智能终端"]
    assert listed(client.get("/projects?stale=1")) == ["绿源食品加工"]
    # search: the project's own name, or its company's name
    assert listed(client.get("/projects?q=绿源")) == ["绿源食品加工"]
    assert listed(client.get("/projects?q=华联电子")) == ["华联智能终端"]
    # sort links on the columns
    page = client.get("/projects?sort=investment")
    assert listed(page) == ["远方电池", "华联智能终端", "绿源食品加工", "达产样板"]
    headers = soup(page).select("thead a.sort-link")
    assert {a["href"].split("sort=")[1] for a in headers} >= {"name", "stage", "investment", "stage_changed"}
    assert listed(client.get("/projects?sort=name")) == sorted(everything)
    # the row shows the stage, the amount in 万元, the owner, days in stage, the key star and the stale mark
    html = client.get("/projects").get_data(as_text=True)
    row = next(tr for tr in soup(client.get("/projects")).select("tbody tr") if "华联智能终端" in tr.get_text())
    assert "50,000" in row.get_text() and "王伟" in row.get_text()
    assert row.select_one('[data-stage="signed"]') is not None
    assert row.select_one(".project-flag.text-yellow") is not None
    stale_row = next(tr for tr in soup(client.get("/projects")).select("tbody tr") if "绿源食品加工" in tr.get_text())
    assert stale_row.select_one(".stale-mark") is not None
    assert "4" in soup(client.get("/projects")).select_one("[data-test=count]").get_text()
    assert "<script" not in html.split("</nav>")[-1].replace('<script src=', '')
    # nonsense in the query string is ignored, never a 500
    assert client.get("/projects?stage=%00x&owner_id=99999999999&sort=;drop&page=abc&team_id=-1").status_code == 200
    assert signed and lost and full


def test_list_pages_by_fifty_and_caps_the_count(client, zone):
    company = make_company(owner=zone.a1)
    for i in range(53):
        make_project(company, owner=zone.a1, name=f"项目{i:03d}")
    login(client, zone.a1)
    first = client.get("/projects?sort=name")
    assert listed(first) == [f"项目{i:03d}" for i in range(50)]
    assert "53" in soup(first).select_one("[data-test=count]").get_text()
    second = client.get("/projects?sort=name&page=2")
    assert listed(second) == ["项目050", "项目051", "项目052"]
    assert "page=1" in soup(second).select_one(".pagination").decode()
    assert listed(client.get("/projects?sort=name&page=9")) == []


def test_list_count_is_capped(client, zone, monkeypatch):
    from crm.projects import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    company = make_company(owner=zone.a1)
    for i in range(5):
        make_project(company, owner=zone.a1, name=f"项目{i}")
    login(client, zone.a1)
    page = client.get("/projects")
    assert "3" in soup(page).select_one("[data-test=count]").get_text()
    assert len(listed(page)) == 5


def test_officer_does_not_see_another_teams_confidential_project_in_the_list(client, zone):
    make_project(owner=zone.b1, name="乙组保密项目", confidential=True, code_name="B计划")
    make_project(owner=zone.a2, name="甲组保密项目", confidential=True, code_name="A计划")
    login(client, zone.a1)
    assert listed(client.get("/projects")) == ["甲组保密项目"]


def test_confidential_project_shows_its_code_name_to_whom_the_company_is_hidden(client, zone):
    held_by_b = make_company("乙组的秘密企业有限公司", owner=zone.b1)
    make_project(held_by_b, owner=zone.a1, name="保密扩产", confidential=True, code_name="北极星")
    login(client, zone.a1)
    page = client.get("/projects")
    text = page.get_data(as_text=True)
    assert "北极星" in text and "乙组的秘密企业有限公司" not in text
    manager = make_user("manager")
    client.post("/logout")
    login(client, manager)
    assert "乙组的秘密企业有限公司" in client.get("/projects").get_data(as_text=True)


# --- saved views ------------------------------------------------------------------------------------------------------

def test_saved_views_belong_to_their_user(client, app, zone):
    login(client, zone.a1)
    response = client.post("/projects/views", data={"name": "我的重点项目", "query": "key=1&park=dunhou&evil=1"})
    assert response.status_code == 302 and "key=1" in response.location and "park=dunhou" in response.location
    view = db.session.scalar(select(SavedView))
    assert view.user_id == zone.a1.id and view.query == "key=1&park=dunhou"
    page = soup(client.get("/projects"))
    pill = page.select_one("[data-test=saved-views]").get_text()
    assert "我的重点项目" in pill
    active = soup(client.get("/projects?park=dunhou&key=1")).select_one(".view-pill.active")
    assert "我的重点项目" in active.get_text()
    assert client.post("/projects/views", data={"name": "", "query": "key=1"}).status_code == 302
    assert count(SavedView) == 1

    other = app.test_client()
    login(other, zone.a2)
    assert "我的重点项目" not in other.get("/projects").get_data(as_text=True)
    assert other.post(f"/projects/views/{view.id}/delete").status_code == 404
    assert count(SavedView) == 1

    assert client.post(f"/projects/views/{view.id}/delete").status_code == 302
    assert count(SavedView) == 0


# --- export -----------------------------------------------------------------------------------------------------------

def _sheet(response):
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=False))


def test_export_is_formula_safe_and_scoped(client, zone):
    company = make_company("=HYPERLINK(\"http://x\")", owner=zone.a1)
    for name in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "普通项目"):
        make_project(company, owner=zone.a1, name=name, planned_investment=1200)
    make_project(owner=zone.b1, name="乙组保密", confidential=True, code_name="暗号")
    make_project(owner=zone.b1, name="乙组公开", planned_investment=5)
    login(client, zone.a1)
    rows = _sheet(client.get("/projects/export.xlsx?sort=name"))
    header, body = rows[0], rows[1:]
    assert header[0].value and header[1].value
    names = [r[1].value for r in body]
    assert "乙组保密" not in names and "'乙组保密" not in names
    assert "乙组公开" in names and "普通项目" in names
    for row in body:
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula: {cell.value!r}"
    assert {"'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd"} <= set(names)
    assert all(r[0].value == "'=HYPERLINK(\"http://x\")" for r in body if r[1].value != "乙组公开")
    planned = next(r for r in body if r[1].value == "普通项目")[5].value
    assert planned == 1200
    # the same filters as the page
    only = _sheet(client.get("/projects/export.xlsx?q=乙组"))
    assert [r[1].value for r in only[1:]] == ["乙组公开"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export",
                                                       AuditEvent.object_type == "project")
                              .order_by(AuditEvent.id.desc()))
    assert event is not None and event.actor_id == zone.a1.id and event.changes["rows"][1] == 1


def test_export_shows_code_name_for_hidden_company(client, zone):
    held_by_b = make_company("乙组持有企业", owner=zone.b1)
    make_project(held_by_b, owner=zone.a1, name="保密项目", confidential=True, code_name="天鹅")
    login(client, zone.a1)
    body = _sheet(client.get("/projects/export.xlsx"))[1:]
    assert [(r[0].value, r[1].value) for r in body] == [("天鹅", "保密项目")]


# --- create -----------------------------------------------------------------------------------------------------------

def test_create_from_the_company_page(client, zone):
    company = make_company("吉安市恒达新材料有限公司", owner=zone.a1)
    login(client, zone.a1)
    page = soup(client.get(f"/companies/{company.id}"))
    card = page.select_one("[data-test=company-projects]")
    link = card.select_one("a.btn")["href"]
    assert link == f"/projects/new?company_id={company.id}"
    form = soup(client.get(link))
    assert form.select_one("input[name=company_id]")["value"] == str(company.id)
    assert form.select_one("input[name=company_q]")["value"] == "吉安市恒达新材料有限公司"
    response = client.post("/projects/new", data={
        "company_id": str(company.id), "name": "年产5万吨新材料项目", "cluster": "electronic_info", "park": "dunhou",
        "planned_investment": "52,000", "fixed_asset_investment": "40000.5", "expected_output": "100000",
        "expected_tax": "3000", "jobs": "350", "land_mu": "120.5", "description": "新材料生产线",
        "source": "event", "key_project": "y", "planned_start": "2025-03-01", "planned_production": "2026-06-30",
        "stage": "negotiating", "first_contact_id": "self", "notes": "首次接洽在深圳"})
    assert response.status_code == 302, field_errors(response)
    project = db.session.scalar(select(Project))
    assert response.location.endswith(f"/projects/{project.id}")
    assert project.company_id == company.id and project.owner_id == zone.a1.id
    assert project.first_contact_id == zone.a1.id
    assert project.planned_investment == Decimal("52000.00") and project.land_mu == Decimal("120.50")
    assert project.stage == "negotiating" and project.key_project and project.park == "dunhou"
    assert db.session.scalar(select(StageMove.to_stage)) == "negotiating"
    # the company page's card lists it
    card = soup(client.get(f"/companies/{company.id}")).select_one("[data-test=company-projects]")
    assert "年产5万吨新材料项目" in card.get_text() and "52,000" in card.get_text()


def test_create_with_a_new_company_in_one_unit_of_work(client, zone):
    login(client, zone.a1)
    response = client.post("/projects/new", data={
        "new_company": "y", "new_company_name": "赣州稀土永磁科技有限公司", "new_company_uscc": VALID_USCC[2],
        "name": "永磁电机项目", "planned_investment": "8000", "stage": "lead", "first_contact_id": "self",
        "cluster": "electronic_info"})
    assert response.status_code == 302, (field_errors(response), flashes(response))
    company = db.session.scalar(select(Company))
    project = db.session.scalar(select(Project))
    assert company.name == "赣州稀土永磁科技有限公司" and company.uscc == VALID_USCC[2]
    assert company.owner_id == zone.a1.id and company.cluster == "electronic_info"
    assert project.company_id == company.id


def test_manager_chooses_owner_and_first_contact(client, zone):
    company = make_company()
    login(client, zone.manager)
    response = client.post("/projects/new", data={
        "company_id": str(company.id), "name": "分派项目", "stage": "lead", "owner_id": str(zone.b1.id),
        "first_contact_id": str(zone.a1.id)})
    assert response.status_code == 302, field_errors(response)
    project = db.session.scalar(select(Project))
    assert project.owner_id == zone.b1.id and project.first_contact_id == zone.a1.id


def test_officer_cannot_give_the_project_to_someone_else(client, zone):
    company = make_company(owner=zone.a1)
    login(client, zone.a1)
    response = client.post("/projects/new", data={"company_id": str(company.id), "name": "我的项目", "stage": "lead",
                                                   "owner_id": str(zone.b1.id)})
    assert response.status_code == 302
    assert db.session.scalar(select(Project)).owner_id == zone.a1.id


BAD_INPUTS = [
    ({"planned_investment": "-5"}, "planned_investment", "negative"),
    ({"planned_investment": "五千"}, "planned_investment", "10,000 yuan"),
    ({"jobs": "many"}, "jobs", "whole number"),
    ({"planned_investment": "100", "fixed_asset_investment": "200"}, "fixed_asset_investment", "exceed"),
    ({"planned_start": "2026-05-01", "planned_production": "2026-01-01"}, "planned_production", "before"),
    ({"planned_start": "2026-13-45"}, "planned_start", "YYYY-MM-DD"),
    ({"company_id": "987654"}, "company_q", "Choose a company"),
    ({"stage": "lost"}, "lost_reason", "lost"),
    ({"name": ""}, "name", "required"),
    ({"confidential": "y"}, "code_name", "code name"),
    ({"cluster": "no_such_cluster"}, "cluster", "list"),
]


@pytest.mark.parametrize("change, field, message", BAD_INPUTS)
def test_create_refuses_bad_input_by_the_field(client, zone, change, field, message):
    company = make_company(owner=zone.a1)
    companies_before = count(Company)
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    data = {"company_id": str(company.id), "name": "测试项目", "stage": "lead", "first_contact_id": "self", **change}
    response = client.post("/projects/new", data=data)
    assert response.status_code == 422
    errors = field_errors(response)
    assert field in errors, errors
    assert any(message.lower() in m.lower() for m in errors[field]), errors
    assert count(Project) == 0 and count(StageMove) == 0 and count(Company) == companies_before


def test_create_with_new_company_and_bad_project_writes_nothing(client, zone):
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    response = client.post("/projects/new", data={
        "new_company": "y", "new_company_name": "不该出现的企业", "name": "项目", "stage": "lead",
        "planned_investment": "-1"})
    assert response.status_code == 422
    assert "planned_investment" in field_errors(response)
    assert count(Company) == 0 and count(Project) == 0
    # the new company's own fields and the project's are reported together
    response = client.post("/projects/new", data={
        "new_company": "y", "new_company_name": "", "new_company_uscc": "123", "name": "", "stage": "lead"})
    assert response.status_code == 422
    errors = field_errors(response)
    assert {"new_company_name", "new_company_uscc", "name"} <= set(errors), errors
    assert "company_q" not in errors
    assert count(Company) == 0 and count(Project) == 0


def test_create_without_company_says_so_by_the_picker(client, zone):
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    response = client.post("/projects/new", data={"name": "孤儿项目", "stage": "lead"})
    assert response.status_code == 422
    assert "company_q" in field_errors(response)


def test_create_with_a_new_company_that_already_exists_names_it(client, zone):
    make_company("深圳市华信精密电子有限公司", owner=zone.b1)
    login(client, zone.a1)
    response = client.post("/projects/new", data={
        "new_company": "y", "new_company_name": "深圳市华信精密电子有限公司", "name": "精密项目", "stage": "lead"})
    assert response.status_code == 409
    assert "张强" in response.get_data(as_text=True)  # the holder of the look-alike
    assert "new_company_name" in field_errors(response)
    assert count(Company) == 1 and count(Project) == 0


def test_company_picker_offers_only_visible_companies(client, zone):
    make_company("吉安电子一厂", owner=zone.a1)
    make_company("吉安电子二厂")  # public pool
    make_company("吉安电子三厂", owner=zone.b1)  # another team's
    make_company("<b>吉安电子</b>四厂", owner=zone.a2)
    login(client, zone.a1)
    html = client.get("/projects/company-options?q=吉安电子").get_data(as_text=True)
    names = [b["data-company-name"] for b in BeautifulSoup(html, "html.parser").select("[data-company-id]")]
    assert set(names) == {"吉安电子一厂", "吉安电子二厂", "<b>吉安电子</b>四厂"}
    assert "<b>" not in html and "&lt;b&gt;" in html
    # with nothing typed: the companies the user holds
    mine = BeautifulSoup(client.get("/projects/company-options").get_data(as_text=True), "html.parser")
    assert [b["data-company-name"] for b in mine.select("[data-company-id]")] == ["吉安电子一厂"]
    for i in range(25):
        make_company(f"吉安批量{i}厂")
    many = BeautifulSoup(client.get("/projects/company-options?q=吉安批量").get_data(as_text=True), "html.parser")
    assert len(many.select("[data-company-id]")) == 20
    # the create page preselects only a company the user may see
    other = make_company("乙组企业", owner=zone.b1)
    form = soup(client.get(f"/projects/new?company_id={other.id}"))
    assert form.select_one("input[name=company_id]").get("value", "") == ""


# --- the project page -------------------------------------------------------------------------------------------------

def _move(client, project, stage, **extra):
    project = reload(project)
    return client.post(f"/projects/{project.id}/stage", data={"stage": stage, "version": project.version, **extra})


def test_project_page_shows_details_and_the_stage_path(client, zone):
    company = make_company("江西晶科光电有限公司", owner=zone.a1)
    project = make_project(company, owner=zone.a1, name="光伏组件项目", planned_investment=120000,
                           cluster="electronic_info", park="dunhou")
    project.first_contact_id = zone.a2.id
    db.session.commit()
    login(client, zone.a1)
    assert _move(client, project, "negotiating", note="第一次洽谈").status_code == 302
    assert _move(client, project, "signed").status_code == 302
    assert _move(client, project, "negotiating", note="条款要重谈").status_code == 302
    page = soup(client.get(f"/projects/{project.id}"))
    text = page.get_text(" ")
    assert "光伏组件项目" in text and "120,000" in text
    assert page.select_one("[data-test=company]")["href"] == f"/companies/{company.id}"
    assert "李娜" in page.select_one("[data-test=first-contact]").get_text()
    moves = page.select("[data-test=moves] li")
    assert len(moves) == 4  # created, and three moves, oldest first
    assert [m.select('[data-stage]')[-1]["data-stage"] for m in moves] == ["lead", "negotiating", "signed",
                                                                           "negotiating"]
    assert [bool(m.select_one("[data-test=backward]")) for m in moves] == [False, False, False, True]
    assert "第一次洽谈" in moves[1].get_text() and "条款要重谈" in moves[3].get_text()
    steps = page.select("[data-test=stage-steps] li")
    today = today_in_zone().isoformat()
    reached = {s.select_one(".stage-step-name").get_text(strip=True): s.select_one(".stage-step-date").get_text()
               for s in steps}
    assert len(steps) == 7 and list(reached.values()).count(today) == 3
    assert "current" in steps[1]["class"]
    history = page.select_one("[data-test=timeline]").get_text(" ")
    assert "条款要重谈" in history


def test_project_page_shows_the_code_name_when_the_company_is_hidden(client, zone):
    held_by_b = make_company("乙组持有的企业有限公司", owner=zone.b1)
    project = make_project(held_by_b, owner=zone.a1, name="保密项目", confidential=True, code_name="猎鹰")
    login(client, zone.a1)
    page = client.get(f"/projects/{project.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "猎鹰" in html and "乙组持有的企业有限公司" not in html
    assert soup(page).select_one("[data-test=company]").name == "span"  # no link to a company it may not open


def test_stage_form_moves_and_refuses(client, zone):
    project = make_project(owner=zone.a1, name="待推进项目")
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    alone = soup(client.get(f"/projects/{project.id}/stage"))
    assert alone.select_one("form[data-test=stage-form] select[name=stage]") is not None
    assert alone.select_one("input[name=standalone]") is not None

    ok = _move(client, project, "site_visit", note="园区考察", date=today_in_zone().isoformat())
    assert ok.status_code == 302
    assert reload(project).stage == "site_visit"

    lost = _move(client, project, "lost", reason="")
    assert lost.status_code == 422 and "reason" in field_errors(lost)
    assert reload(project).stage == "site_visit"

    future = _move(client, project, "signed", date=(today_in_zone() + timedelta(days=3)).isoformat())
    assert future.status_code == 422 and "date" in field_errors(future)
    alone_error = _move(client, project, "signed", date="yesterday-ish", standalone="1")
    assert alone_error.status_code == 422 and "date" in field_errors(alone_error)
    assert soup(alone_error).select_one("input[name=standalone]") is not None

    stale_version = reload(project).version
    assert _move(client, project, "signed").status_code == 302  # someone moved it meanwhile
    stale = client.post(f"/projects/{project.id}/stage", data={"stage": "lost", "reason": "对方撤资",
                                                                  "version": stale_version})
    assert stale.status_code == 409
    assert "changed by someone else" in flashes(stale)
    current = reload(project)
    assert current.stage == "signed" and current.lost_reason == ""
    # the page shows the current data, with a form carrying the current version
    assert soup(stale).select_one("form[data-test=stage-form] input[name=version]")["value"] == str(current.version)

    lost_ok = _move(client, project, "lost", reason="对方选择了其他园区")
    assert lost_ok.status_code == 302
    assert reload(project).lost_reason == "对方选择了其他园区"


def test_funds_in_place(client, zone):
    project = make_project(owner=zone.a1)
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    today = today_in_zone().isoformat()
    assert client.post(f"/projects/{project.id}/funds",
                       data={"received_on": today, "amount": "1,500", "note": "首期"}).status_code == 302
    assert client.post(f"/projects/{project.id}/funds",
                       data={"received_on": today, "amount": "500.5"}).status_code == 302
    assert reload(project).funds_in_place == Decimal("2000.50")
    page = soup(client.get(f"/projects/{project.id}"))
    assert page.select_one("[data-test=funds-total]").get_text(strip=True) == "2,000.50"
    assert "首期" in page.select_one("#funds").get_text()

    too_much = client.post(f"/projects/{project.id}/funds", data={"received_on": today, "amount": "-3000"})
    assert too_much.status_code == 422 and "amount" in field_errors(too_much)
    bad = client.post(f"/projects/{project.id}/funds", data={"received_on": "", "amount": "abc"})
    assert bad.status_code == 422 and {"received_on", "amount"} <= set(field_errors(bad))
    assert count(FundsEntry) == 2 and reload(project).funds_in_place == Decimal("2000.50")

    correction = client.post(f"/projects/{project.id}/funds", data={"received_on": today, "amount": "-500.5"})
    assert correction.status_code == 302
    first = db.session.scalar(select(FundsEntry).where(FundsEntry.amount == Decimal("1500")))
    # deleting the 1,500 entry would leave -500.5 + 500.5 ... = 0: allowed; deleting the +500.5 one would not
    plus = db.session.scalar(select(FundsEntry).where(FundsEntry.amount == Decimal("500.5")))
    refused = client.post(f"/funds/{first.id}/delete")
    assert refused.status_code == 302
    assert reload(project).funds_in_place == Decimal("0.00")
    refused = client.post(f"/funds/{plus.id}/delete", follow_redirects=True)
    assert "below zero" in flashes(refused)
    assert count(FundsEntry) == 2


def test_history_lists_changes_with_field_names(client, zone):
    project = make_project(owner=zone.a1, name="旧名字")
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    edit = soup(client.get(f"/projects/{project.id}/edit"))
    data = {i["name"]: i.get("value", "") for i in edit.select("input[name]") if i.get("type") != "checkbox"}
    data.update({"name": "新名字", "planned_investment": "900"})
    response = client.post(f"/projects/{project.id}/edit", data=data)
    assert response.status_code == 302, field_errors(response)
    history = soup(client.get(f"/projects/{project.id}")).select_one("[data-test=timeline]").get_text(" ")
    assert "旧名字 → 新名字" in history
    assert "Planned investment" in history


# --- edit, delete, reassign, visibility ------------------------------------------------------------------------------

def test_edit_keeps_first_contact_and_refuses_stale_versions(client, app, zone):
    company = make_company(owner=zone.a1)
    project = make_project(company, owner=zone.a1, name="要编辑的项目", planned_investment=100)
    login(client, zone.a1)
    form = soup(client.get(f"/projects/{project.id}/edit"))
    assert form.select_one("input[name=company_q]")["value"] == company.name
    assert form.select_one("select[name=first_contact_id]") is None  # officers do not change the credit
    version = form.select_one("input[name=version]")["value"]
    other = app.test_client()
    login(other, zone.a2)  # a team mate edits first
    assert other.post(f"/projects/{project.id}/edit", data={
        "version": version, "company_id": str(company.id), "name": "队友改的名字",
        "planned_investment": "100"}).status_code == 302
    stale = client.post(f"/projects/{project.id}/edit", data={
        "version": version, "company_id": str(company.id), "name": "我改的名字", "planned_investment": "100"})
    assert stale.status_code == 409
    assert reload(project).name == "队友改的名字"
    page = soup(stale)
    assert page.select_one("input[name=name]")["value"] == "队友改的名字"
    assert page.select_one("input[name=version]")["value"] == str(reload(project).version)


def test_other_teams_officer_gets_403_to_edit_and_404_for_confidential(client, zone):
    public = make_project(owner=zone.b1, name="乙组公开项目")
    secret = make_project(owner=zone.b1, name="乙组保密项目", confidential=True, code_name="X")
    login(client, zone.a1)
    assert client.get(f"/projects/{public.id}").status_code == 200
    page = soup(client.get(f"/projects/{public.id}"))
    assert page.select_one("form[data-test=stage-form]") is None and page.select_one("#funds form") is None
    assert client.get(f"/projects/{public.id}/edit").status_code == 403
    assert client.post(f"/projects/{public.id}/edit", data={"name": "HIJACKED"}).status_code == 403
    assert client.get(f"/projects/{public.id}/stage").status_code == 403
    assert _move(client, public, "signed").status_code == 403
    assert client.post(f"/projects/{public.id}/funds", data={"amount": "1"}).status_code == 403
    assert client.post(f"/projects/{public.id}/delete", data={"version": 1}).status_code == 403
    for url in (f"/projects/{secret.id}", f"/projects/{secret.id}/edit", f"/projects/{secret.id}/stage"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/projects/{secret.id}/stage", data={"stage": "signed", "version": 1}).status_code == 404
    assert client.post(f"/projects/{secret.id}/funds", data={"amount": "1"}).status_code == 404
    assert reload(public).name == "乙组公开项目" and reload(public).stage == "lead"


def test_delete_and_reassign(client, app, zone):
    project = make_project(owner=zone.a1, name="将被移交")
    login(client, zone.a1)
    assert client.post(f"/projects/{project.id}/reassign",
                       data={"owner_id": zone.b1.id, "version": 1}).status_code == 403
    manager = app.test_client()
    login(manager, zone.manager)
    page = soup(manager.get(f"/projects/{project.id}"))
    assert page.select_one(f"form[action='/projects/{project.id}/reassign']") is not None
    assert manager.post(f"/projects/{project.id}/reassign",
                        data={"owner_id": zone.b1.id, "version": reload(project).version}).status_code == 302
    moved = reload(project)
    assert moved.owner_id == zone.b1.id and moved.first_contact_id == zone.a1.id
    stale = manager.post(f"/projects/{project.id}/reassign", data={"owner_id": zone.a2.id, "version": 1})
    assert stale.status_code == 409 and reload(project).owner_id == zone.b1.id
    assert manager.post(f"/projects/{project.id}/delete", data={"version": 1}).status_code == 409
    assert manager.post(f"/projects/{project.id}/delete",
                        data={"version": reload(project).version}).status_code == 302
    assert reload(project).deleted_at is not None
    assert manager.get(f"/projects/{project.id}").status_code == 404


# --- bulk actions ----------------------------------------------------------------------------------------------------

def test_bulk_move_reports_a_stale_row_as_a_conflict(client, app, zone):
    company = make_company(owner=zone.a1)
    one = make_project(company, owner=zone.a1, name="批量一")
    two = make_project(company, owner=zone.a1, name="批量二")
    theirs = make_project(owner=zone.b1, name="别人的")
    zone.a1.locale = "en"
    db.session.commit()
    login(client, zone.a1)
    page = soup(client.get("/projects"))
    boxes = {b["value"].split(":")[0]: b["value"] for b in page.select("input[name=ids]")}
    assert set(boxes) == {str(one.id), str(two.id)}  # an officer ticks only the rows they may change
    # a team mate moves "批量二" meanwhile
    other = app.test_client()
    login(other, zone.a2)
    assert _move(other, two, "site_visit").status_code == 302
    response = client.post("/projects/bulk", data={
        "action": "move", "stage": "negotiating", "note": "统一推进", "back": "stage=open&sort=name", "page": "1",
        "ids": [boxes[str(one.id)], boxes[str(two.id)], f"{theirs.id}:1", "junk"]}, follow_redirects=False)
    assert response.status_code == 302 and "stage=open" in response.location and "sort=name" in response.location
    summary = flashes(client.get(response.location))
    assert "Moved 1 project" in summary
    assert "批量二" in summary and "someone else" in summary
    assert "别人的" in summary  # skipped: not theirs to change
    assert reload(one).stage == "negotiating" and reload(two).stage == "site_visit"
    assert reload(theirs).stage == "lead"
    note = db.session.scalar(select(StageMove.note).where(StageMove.project_id == one.id,
                                                          StageMove.to_stage == "negotiating"))
    assert note == "统一推进"
    # lost needs a reason in bulk too
    lost = client.post("/projects/bulk", data={"action": "move", "stage": "lost",
                                               "ids": [f"{one.id}:{reload(one).version}"]}, follow_redirects=True)
    assert "lost" in flashes(lost).lower() and reload(one).stage == "negotiating"
    # reassigning is for managers
    assert client.post("/projects/bulk", data={"action": "reassign", "owner_id": zone.b1.id,
                                               "ids": [f"{one.id}:{reload(one).version}"]}).status_code == 403


def test_manager_bulk_reassigns(client, zone):
    one = make_project(owner=zone.a1, name="转一")
    two = make_project(owner=zone.a1, name="转二")
    login(client, zone.manager)
    page = soup(client.get("/projects"))
    assert page.select_one("select[name=owner_id][aria-label]") is not None
    response = client.post("/projects/bulk", data={"action": "reassign", "owner_id": str(zone.b1.id),
                                                   "ids": [f"{one.id}:1", f"{two.id}:1"]}, follow_redirects=True)
    assert response.status_code == 200
    assert reload(one).owner_id == zone.b1.id and reload(two).owner_id == zone.b1.id
    assert reload(one).first_contact_id == zone.a1.id


# --- escaping ---------------------------------------------------------------------------------------------------------

def test_html_in_fields_is_escaped_on_list_show_and_history(client, zone):
    evil = "<script>alert(1)</script>"
    company = make_company(f"{evil}有限公司", owner=zone.a1)
    login(client, zone.a1)
    response = client.post("/projects/new", data={
        "company_id": str(company.id), "name": f"{evil}项目", "notes": f"备注{evil}", "description": evil,
        "stage": "lead", "first_contact_id": "self"})
    assert response.status_code == 302, field_errors(response)
    project = db.session.scalar(select(Project))
    client.post(f"/projects/{project.id}/funds", data={"received_on": today_in_zone().isoformat(), "amount": "1",
                                                        "note": evil})
    _move(client, project, "lost", reason=evil, note=evil)
    client.post("/projects/views", data={"name": evil, "query": "q=x"})
    for url in ("/projects", f"/projects/{project.id}", f"/projects/{project.id}/stage", f"/companies/{company.id}",
                f"/projects/{project.id}/edit", "/projects/company-options?q=script"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html, url
    show = client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;项目" in show
    assert "备注&lt;script&gt;" in show
    history = soup(client.get(f"/projects/{project.id}")).select_one("[data-test=timeline]").decode()
    assert "&lt;script&gt;" in history and "<script>" not in history
    assert "&lt;script&gt;alert(1)&lt;/script&gt;项目" in client.get("/projects").get_data(as_text=True)
