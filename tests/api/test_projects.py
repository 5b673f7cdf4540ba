"""/api/v1/projects: create (with an existing or a new company), the list with its filters and paging, PATCH with
versions, stage moves and the history, reassignment, funds in place, bulk moves, visibility per role, bad input."""
from datetime import timedelta

import pytest
from sqlalchemy import event

from crm.companies.models import Company
from crm.core.timeutil import today_in_zone, utcnow
from crm.extensions import db
from crm.projects.models import FundsEntry, Project, StageMove
from crm.projects.services import PROJECT_FIELDS

from ..factories import make_company, make_project, make_reference, make_team, make_user
from ..sweeps import sweep
from .conftest import assert_error, assert_iso_with_offset, assert_record

LIST_KEYS = {"items", "total", "page", "per_page"}
PROJECT_KEYS = {
    "id", "version", "created_at", "updated_at", "company_id", "company_name", "name", "cluster", "park",
    "planned_investment", "fixed_asset_investment", "expected_output", "expected_tax", "jobs", "land_mu",
    "description", "owner_id", "first_contact_id", "source", "event_id", "key_project", "confidential", "code_name",
    "planned_start", "planned_production", "stage", "stage_changed_at", "lost_reason", "stage_dates",
    "funds_in_place", "stale", "notes"}
HUGE_ID = 10**20


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def names(response) -> set[str]:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == LIST_KEYS
    return {p["name"] for p in body["items"]}


def fresh(project_id: int) -> Project:
    db.session.expire_all()
    return db.session.get(Project, project_id)


@pytest.fixture
def world():
    """Team 1 (officer, mate), team 2 (outsider), a manager and a liaison; team 1's company."""
    make_reference()

    class W:
        team1, team2 = make_team("一组"), make_team("二组")
        officer = make_user(team=team1, name="张伟")
        mate = make_user(team=team1, name="王芳")
        outsider = make_user(team=team2, name="刘洋")
        manager = make_user("manager", name="陈局")
        liaison = make_user("liaison", department="natural_resources")
        company = make_company("立讯智造（江西）有限公司", owner=officer)

    return W


# --- create, read, change, delete ------------------------------------------------------------------------------------

def test_create_read_patch_delete(api_as, world):
    api = api_as(world.officer)
    response = api.post("/api/v1/projects", json={
        "company_id": world.company.id, "name": "连接器生产基地", "cluster": "electronic_info", "park": "dunhou",
        "planned_investment": 50000, "fixed_asset_investment": "32000.5", "expected_output": 120000,
        "expected_tax": 3000, "jobs": 800, "land_mu": 150.5, "description": "<b>连接器</b>", "source": "event",
        "key_project": True, "planned_start": "2025-03-01", "planned_production": "2026-06-30", "notes": "首谈"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert_record(body)
    assert set(body) == PROJECT_KEYS
    assert body["version"] == 1
    assert body["company_name"] == "立讯智造（江西）有限公司"
    assert (body["planned_investment"], body["fixed_asset_investment"], body["land_mu"]) == (50000, 32000.5, 150.5)
    assert (body["jobs"], body["expected_output"], body["expected_tax"]) == (800, 120000, 3000)
    assert body["description"] == "<b>连接器</b>"  # stored as given; JSON strings are not HTML
    assert (body["planned_start"], body["planned_production"]) == ("2025-03-01", "2026-06-30")
    assert (body["owner_id"], body["first_contact_id"]) == (world.officer.id, world.officer.id)
    assert (body["stage"], body["lost_reason"], body["funds_in_place"], body["stale"]) == ("lead", "", 0, False)
    assert body["stage_dates"] == {"lead": today_in_zone().isoformat()}
    assert body["key_project"] is True and body["confidential"] is False
    assert_iso_with_offset(body["stage_changed_at"])
    project_id = body["id"]

    got = api.get(f"/api/v1/projects/{project_id}")
    assert got.status_code == 200 and got.get_json() == body

    patched = api.patch(f"/api/v1/projects/{project_id}",
                        json={"version": 1, "name": "连接器生产基地二期", "jobs": 900, "park": None})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["version"] == 2
    assert (patched.get_json()["name"], patched.get_json()["jobs"], patched.get_json()["park"]) == \
        ("连接器生产基地二期", 900, None)
    assert fresh(project_id).name == "连接器生产基地二期"

    assert_error(api.delete(f"/api/v1/projects/{project_id}?version=1"), 409)
    assert fresh(project_id).deleted_at is None
    assert api.delete(f"/api/v1/projects/{project_id}?version=2").status_code == 204
    assert_error(api.get(f"/api/v1/projects/{project_id}"), 404)
    assert api.get("/api/v1/projects").get_json()["total"] == 0
    assert fresh(project_id).deleted_at is not None


def test_create_at_a_later_stage_for_someone_else(api_as, world):
    """A manager may create a signed project for an officer, crediting another with first contact."""
    boss = api_as(world.manager)
    response = boss.post("/api/v1/projects", json={
        "company_id": world.company.id, "name": "活动现场签约", "stage": "signed", "owner_id": world.mate.id,
        "first_contact_id": world.officer.id})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["stage"], body["owner_id"], body["first_contact_id"]) == ("signed", world.mate.id, world.officer.id)
    assert body["stage_dates"] == {"signed": today_in_zone().isoformat()}
    # an officer may not give a new project to someone else
    error = assert_error(api_as(world.officer).post("/api/v1/projects", json={
        "company_id": world.company.id, "name": "代建", "owner_id": world.mate.id}), 403)
    assert error["message"]
    lost = boss.post("/api/v1/projects", json={"company_id": world.company.id, "name": "已流失", "stage": "lost",
                                               "lost_reason": "选址外省"})
    assert lost.status_code == 201 and lost.get_json()["lost_reason"] == "选址外省"
    assert count(Project) == 2


def test_create_with_a_new_company_in_one_unit_of_work(api_as, world):
    api = api_as(world.officer)
    response = api.post("/api/v1/projects", json={
        "name": "食品加工厂", "planned_investment": 8000,
        "company": {"name": "江西绿源食品有限公司", "cluster": "green_food", "origin_city": "jian"}})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    company = db.session.get(Company, body["company_id"])
    assert company.name == "江西绿源食品有限公司" and company.owner_id == world.officer.id
    assert body["company_name"] == "江西绿源食品有限公司"

    before = (count(Company), count(Project))
    # the project fails its checks: no company is left behind
    error = assert_error(api.post("/api/v1/projects", json={
        "name": "食品二厂", "planned_investment": 100, "fixed_asset_investment": 200,
        "company": {"name": "江西新源食品有限公司"}}), 422)
    assert set(error["fields"]) == {"fixed_asset_investment"}
    # the company fails its own: its errors are named company.<field>
    error = assert_error(api.post("/api/v1/projects", json={
        "name": "食品三厂", "company": {"name": "", "employees": -1}}), 422)
    assert set(error["fields"]) == {"company.name", "company.employees"}
    for company_value in ("江西新源食品有限公司", ["x"], 5):
        error = assert_error(api.post("/api/v1/projects", json={"name": "食品四厂", "company": company_value}), 422)
        assert "company" in error["fields"]
    error = assert_error(api.post("/api/v1/projects", json={
        "name": "食品五厂", "company_id": world.company.id, "company": {"name": "江西又一食品有限公司"}}), 422)
    assert set(error["fields"]) == {"company_id"}
    assert (count(Company), count(Project)) == before


@pytest.mark.parametrize(("values", "field"), [
    ({"company_id": None}, "company_id"),
    ({"company_id": 987654}, "company_id"),
    ({"company_id": HUGE_ID}, "company_id"),
    ({"company_id": "abc"}, "company_id"),
    ({"name": ""}, "name"),
    ({"name": ["a list"]}, "name"),
    ({"planned_investment": -1}, "planned_investment"),
    ({"planned_investment": "lots"}, "planned_investment"),
    ({"planned_investment": "NaN"}, "planned_investment"),
    ({"expected_tax": {"a": 1}}, "expected_tax"),
    ({"land_mu": -3}, "land_mu"),
    ({"planned_investment": 100, "fixed_asset_investment": 100.01}, "fixed_asset_investment"),
    ({"jobs": "many"}, "jobs"),
    ({"jobs": True}, "jobs"),
    ({"cluster": "no_such_cluster"}, "cluster"),
    ({"park": 7}, "park"),
    ({"key_project": "maybe"}, "key_project"),
    ({"confidential": True}, "code_name"),
    ({"planned_start": "2026-02-30"}, "planned_start"),
    ({"planned_start": "2026-05-01", "planned_production": "2026-01-01"}, "planned_production"),
    ({"stage": "signd"}, "stage"),
    ({"stage": 3}, "stage"),
    ({"stage": "lost"}, "lost_reason"),
    ({"stage": "lost", "lost_reason": 5}, "lost_reason"),
    ({"owner_id": "5"}, "owner_id"),
    ({"first_contact_id": 1.5}, "first_contact_id"),
    ({"first_contact_id": HUGE_ID}, "first_contact_id"),
])
def test_create_refuses_bad_values_with_422(api_as, world, values, field):
    api = api_as(world.officer)
    error = assert_error(api.post("/api/v1/projects", json={"company_id": world.company.id, "name": "校验项目",
                                                            **values}), 422, "validation_error")
    assert field in error["fields"], error
    assert count(Project) == 0 and count(StageMove) == 0


def test_a_company_the_officer_may_not_see_is_422_on_company_id(api_as, world):
    theirs = make_company("别组企业有限公司", owner=world.outsider)
    error = assert_error(api_as(world.officer).post("/api/v1/projects", json={"company_id": theirs.id,
                                                                               "name": "越界"}), 422)
    assert set(error["fields"]) == {"company_id"}
    assert count(Project) == 0


def test_malformed_json_is_400(api_as, world):
    api = api_as(world.officer)
    project = make_project(world.company, owner=world.officer)
    for method, url in (("post", "/api/v1/projects"), ("patch", f"/api/v1/projects/{project.id}"),
                        ("post", f"/api/v1/projects/{project.id}/stage"),
                        ("post", f"/api/v1/projects/{project.id}/owner"),
                        ("post", f"/api/v1/projects/{project.id}/funds"), ("post", "/api/v1/projects/bulk-stage")):
        for raw in ("{broken", "[1, 2]", '"text"', "null"):
            assert_error(getattr(api, method)(url, data=raw, content_type="application/json"), 400)
    assert count(Project) == 1 and fresh(project.id).version == 1


def test_patch_refuses_managed_fields_and_checks_first_contact(api_as, world):
    project = make_project(world.company, owner=world.officer)
    api, boss = api_as(world.officer), api_as(world.manager)
    for field, value in (("stage", "signed"), ("owner_id", world.mate.id), ("funds_in_place", 100),
                         ("lost_reason", "x"), ("stage_dates", {"signed": "2025-01-01"})):
        error = assert_error(api.patch(f"/api/v1/projects/{project.id}", json={"version": 1, field: value}), 422)
        assert set(error["fields"]) == {field}
        assert "对应操作" in error["fields"][field][0]  # "change this through its own action" (the default zh)
    assert_error(api.patch(f"/api/v1/projects/{project.id}", json={"version": 1, "first_contact_id": world.mate.id}),
                 403)
    assert_error(api.patch(f"/api/v1/projects/{project.id}", json={"name": "无版本"}), 422)
    assert_error(api.patch(f"/api/v1/projects/{project.id}", json={"version": "1", "name": "字符串版本"}), 422)
    unchanged = fresh(project.id)
    assert (unchanged.version, unchanged.stage, unchanged.first_contact_id) == (1, "lead", world.officer.id)
    response = boss.patch(f"/api/v1/projects/{project.id}", json={"version": 1, "first_contact_id": world.mate.id})
    assert response.status_code == 200 and response.get_json()["first_contact_id"] == world.mate.id
    assert_error(boss.patch(f"/api/v1/projects/{project.id}", json={"version": 2,
                                                                     "first_contact_id": world.liaison.id}), 422)


def test_patch_validates_across_stored_values(api_as, world):
    project = make_project(world.company, owner=world.officer, planned_investment=1000)
    api = api_as(world.officer)
    error = assert_error(api.patch(f"/api/v1/projects/{project.id}",
                                   json={"version": 1, "fixed_asset_investment": 1500}), 422)
    assert set(error["fields"]) == {"fixed_asset_investment"}
    other = make_company("别组企业有限公司", owner=world.outsider)
    error = assert_error(api.patch(f"/api/v1/projects/{project.id}", json={"version": 1, "company_id": other.id}),
                         422)
    assert set(error["fields"]) == {"company_id"}
    assert fresh(project.id).version == 1


# --- the list --------------------------------------------------------------------------------------------------------

def test_list_filters(api_as, world):
    other_company = make_company("江西绿源食品有限公司", owner=world.mate)
    make_project(world.company, owner=world.officer, name="甲", stage="negotiating", cluster="electronic_info",
                 park="dunhou", key_project=True)
    make_project(world.company, owner=world.officer, name="乙", stage="signed", cluster="electronic_info",
                 park="fenghuang")
    make_project(other_company, owner=world.mate, name="丙", stage="lost", cluster="green_food", lost_reason="外迁")
    make_project(owner=world.outsider, name="丁", stage="full_capacity", park="dunhou")
    idle = make_project(owner=world.outsider, name="戊", stage="site_visit")
    idle.last_activity_at = utcnow() - timedelta(days=400)
    db.session.commit()
    api = api_as(world.officer)

    assert names(api.get("/api/v1/projects")) == {"甲", "乙", "丙", "丁", "戊"}
    assert names(api.get("/api/v1/projects?stage=signed")) == {"乙"}
    assert names(api.get("/api/v1/projects?stage=open")) == {"甲", "乙", "戊"}
    assert names(api.get("/api/v1/projects?cluster=electronic_info")) == {"甲", "乙"}
    assert names(api.get("/api/v1/projects?park=dunhou")) == {"甲", "丁"}
    assert names(api.get("/api/v1/projects?park=none")) == {"丙", "戊"}
    assert names(api.get(f"/api/v1/projects?owner_id={world.mate.id}")) == {"丙"}
    assert names(api.get(f"/api/v1/projects?team_id={world.team1.id}")) == {"甲", "乙", "丙"}
    assert names(api.get("/api/v1/projects?key=true")) == {"甲"}
    assert names(api.get("/api/v1/projects?stale=true")) == {"戊"}
    assert names(api.get(f"/api/v1/projects?company_id={other_company.id}")) == {"丙"}
    assert names(api.get("/api/v1/projects?q=绿源")) == {"丙"}
    assert names(api.get("/api/v1/projects?q=戊")) == {"戊"}
    assert names(api.get("/api/v1/projects?cluster=electronic_info&park=fenghuang")) == {"乙"}
    # a filter value that names nothing matches nothing (it is not dropped)
    for query in ("stage=signd", "owner_id=abc", f"owner_id={HUGE_ID}", "team_id=-1", "company_id=x",
                  "cluster=nope"):
        body = api.get(f"/api/v1/projects?{query}").get_json()
        assert (body["items"], body["total"]) == ([], 0), query
    rows = api.get("/api/v1/projects?sort=name").get_json()["items"]
    assert [p["name"] for p in rows] == sorted(p["name"] for p in rows)
    by_name = {p["name"]: p for p in rows}
    assert by_name["戊"]["stale"] is True and by_name["甲"]["stale"] is False
    assert by_name["丙"]["lost_reason"] == "外迁"


def test_list_paging_and_exact_total(api_as, world):
    for i in range(7):
        make_project(world.company, owner=world.officer, name=f"分页{i}")
    api = api_as(world.officer)
    pages = [api.get(f"/api/v1/projects?per_page=3&page={n}").get_json() for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    assert all(p["total"] == 7 and p["per_page"] == 3 for p in pages)
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    seen = [p["id"] for page in pages for p in page["items"]]
    assert len(set(seen)) == 7
    for record in pages[0]["items"]:
        assert_record(record)
        assert set(record) == PROJECT_KEYS
    assert api.get("/api/v1/projects?per_page=500").get_json()["per_page"] == 200
    for query in ("page=abc&per_page=-3", "page=0&per_page=0", f"page={HUGE_ID}", "per_page=1e9"):
        response = api.get(f"/api/v1/projects?{query}")
        assert response.status_code == 200 and set(response.get_json()) == LIST_KEYS


def test_list_statements_do_not_grow_with_the_page(api_as, world):
    """A page of full records costs the same few statements for 2 rows as for 40 (no query per row)."""
    api = api_as(world.officer)

    def statements(per_page: int) -> int:
        seen = []

        def count_it(*_args):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count_it)
        try:
            response = api.get(f"/api/v1/projects?per_page={per_page}")
        finally:
            event.remove(db.engine, "before_cursor_execute", count_it)
        assert len(response.get_json()["items"]) == per_page
        return len(seen)

    for i in range(40):
        make_project(make_company(owner=world.officer if i % 2 else world.outsider), owner=world.officer,
                     name=f"批量{i}", confidential=i % 3 == 0, code_name=f"代号{i}")
    assert statements(40) == statements(2)


# --- stage moves and the history -------------------------------------------------------------------------------------

def test_stage_moves_and_history(api_as, world):
    api = api_as(world.officer)
    created = api.post("/api/v1/projects", json={"company_id": world.company.id, "name": "连接器基地"}).get_json()
    url = f"/api/v1/projects/{created['id']}"

    moved = api.post(f"{url}/stage", json={"stage": "negotiating", "version": 1, "note": "第一次洽谈 <i>顺利</i>"})
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert (body["stage"], body["version"]) == ("negotiating", 2)
    assert set(body["stage_dates"]) == {"lead", "negotiating"}

    error = assert_error(api.post(f"{url}/stage", json={"stage": "lost", "version": 2}), 422)
    assert set(error["fields"]) == {"reason"}
    error = assert_error(api.post(f"{url}/stage", json={"stage": "signd", "version": 2}), 422)
    assert set(error["fields"]) == {"stage"}
    assert_error(api.post(f"{url}/stage", json={"stage": "negotiating", "version": 2}), 422)
    assert_error(api.post(f"{url}/stage", json={"stage": "signed", "version": 2, "date": "2099-01-01"}), 422)
    assert_error(api.post(f"{url}/stage", json={"stage": "signed", "version": 2, "date": "yesterday"}), 422)
    assert_error(api.post(f"{url}/stage", json={"stage": "signed", "version": 2, "note": ["x"]}), 422)
    assert_error(api.post(f"{url}/stage", json={"stage": "signed"}), 422)
    assert fresh(created["id"]).version == 2

    lost = api.post(f"{url}/stage", json={"stage": "lost", "version": 2, "reason": "选址外省", "note": "对方决定"})
    assert lost.status_code == 200, lost.get_json()
    assert (lost.get_json()["stage"], lost.get_json()["lost_reason"]) == ("lost", "选址外省")
    back = api.post(f"{url}/stage", json={"stage": "negotiating", "version": 3, "note": "重启"})
    assert back.status_code == 200 and back.get_json()["lost_reason"] == ""
    assert set(back.get_json()["stage_dates"]) == {"lead", "negotiating", "lost"}
    api.patch(url, json={"version": 4, "name": "连接器基地二期"})

    history = api.get(f"{url}/history")
    assert history.status_code == 200
    items = history.get_json()["items"]
    for item in items:
        assert_iso_with_offset(item["at"])
        assert (item["actor_id"], item["actor_name"]) == (world.officer.id, "张伟")
    at = [item["at"] for item in items]
    assert at == sorted(at, reverse=True)  # newest first
    stage_items = [i for i in items if i["kind"] == "stage"]
    assert [(i["from_stage"], i["to_stage"]) for i in stage_items] == [
        ("lost", "negotiating"), ("negotiating", "lost"), ("lead", "negotiating"), (None, "lead")]
    assert set(stage_items[0]) == {"kind", "at", "actor_id", "actor_name", "from_stage", "to_stage", "note", "reason"}
    assert (stage_items[1]["note"], stage_items[1]["reason"]) == ("对方决定", "选址外省")
    assert stage_items[2]["note"] == "第一次洽谈 <i>顺利</i>"
    changes = [i for i in items if i["kind"] == "change"]
    assert items[0]["kind"] == "change" and items[0]["action"] == "update"
    assert items[0]["changes"] == {"name": ["连接器基地", "连接器基地二期"]}
    assert set(items[0]) == {"kind", "at", "actor_id", "actor_name", "action", "object_type", "changes"}
    assert items[0]["object_type"] == "project"
    assert [c["action"] for c in changes] == ["update", "create"]  # the moves' own updates are not repeated


def test_stale_version_is_409_and_changes_nothing(api_as, world):
    project = make_project(world.company, owner=world.officer, name="并发项目")
    me, mate = api_as(world.officer), api_as(world.mate)
    url = f"/api/v1/projects/{project.id}"
    assert mate.patch(url, json={"version": 1, "notes": "王芳先改"}).status_code == 200

    error = assert_error(me.patch(url, json={"version": 1, "name": "覆盖"}), 409, "conflict")
    assert error["message"]
    error = assert_error(me.post(f"{url}/stage", json={"stage": "signed", "version": 1, "note": "迟到"}), 409)
    assert_error(api_as(world.manager).post(f"{url}/owner", json={"owner_id": world.mate.id, "version": 1}), 409)
    after = fresh(project.id)
    assert (after.version, after.name, after.stage, after.notes) == (2, "并发项目", "lead", "王芳先改")
    assert after.owner_id == world.officer.id and after.reached_signed is None
    assert db.session.scalar(db.select(db.func.count()).where(StageMove.project_id == project.id)) == 1
    assert me.post(f"{url}/stage", json={"stage": "signed", "version": 2}).status_code == 200


# --- visibility per role ---------------------------------------------------------------------------------------------

def test_visibility_per_role(api_as, world):
    secret = make_project(world.company, owner=world.officer, name="保密项目", confidential=True, code_name="星河")
    open_ = make_project(world.company, owner=world.officer, name="公开项目")
    outsider, mate, boss = api_as(world.outsider), api_as(world.mate), api_as(world.manager)
    liaison = api_as(world.liaison)
    s, o = f"/api/v1/projects/{secret.id}", f"/api/v1/projects/{open_.id}"

    # another team's officer: the confidential project does not exist for them
    assert names(outsider.get("/api/v1/projects")) == {"公开项目"}
    assert names(outsider.get("/api/v1/projects?q=星河")) == set()
    assert_error(outsider.get(s), 404)
    assert_error(outsider.patch(s, json={"version": 1, "name": "改"}), 404)
    assert_error(outsider.post(f"{s}/stage", json={"stage": "signed", "version": 1}), 404)
    assert_error(outsider.get(f"{s}/history"), 404)
    assert_error(outsider.get(f"{s}/funds"), 404)
    assert_error(outsider.post(f"{s}/funds", json={"received_on": "2025-01-02", "amount": 5}), 404)
    assert_error(outsider.delete(f"{s}?version=1"), 404)
    # ... and may read the open one, but not change it
    assert outsider.get(o).status_code == 200
    assert outsider.get(f"{o}/history").status_code == 200
    assert_error(outsider.patch(o, json={"version": 1, "name": "改"}), 403, "forbidden")
    assert_error(outsider.post(f"{o}/stage", json={"stage": "signed", "version": 1}), 403)
    assert_error(outsider.post(f"{o}/funds", json={"received_on": "2025-01-02", "amount": 5}), 403)
    assert_error(outsider.delete(f"{o}?version=1"), 403)
    assert_error(outsider.post(f"{o}/owner", json={"owner_id": world.outsider.id, "version": 1}), 403)

    # the owner's team sees and edits both
    assert names(mate.get("/api/v1/projects")) == {"保密项目", "公开项目"}
    assert mate.post(f"{s}/stage", json={"stage": "negotiating", "version": 1}).status_code == 200
    # a manager sees everything
    assert boss.get("/api/v1/projects").get_json()["total"] == 2
    assert boss.get(s).get_json()["company_name"] == "立讯智造（江西）有限公司"
    # a liaison gets nothing
    body = liaison.get("/api/v1/projects").get_json()
    assert (body["items"], body["total"]) == ([], 0)
    for url in (s, o, f"{o}/history", f"{o}/funds"):
        assert_error(liaison.get(url), 404)
    assert_error(liaison.post(f"{o}/stage", json={"stage": "signed", "version": 1}), 404)
    assert_error(liaison.post("/api/v1/projects", json={"company_id": world.company.id, "name": "联络员项目"}), 403)

    after = fresh(open_.id)
    assert (after.version, after.name, after.stage, after.deleted_at) == (1, "公开项目", "lead", None)
    assert count(Project) == 2 and count(FundsEntry) == 0


def test_confidential_project_shows_its_code_name_where_the_company_is_hidden(api_as, world):
    """Team 1 owns the confidential project, but team 2 holds the company: team 1 sees the code name."""
    theirs = make_company("宁德某电池有限公司", owner=world.outsider)
    make_project(theirs, owner=world.officer, name="电池项目", confidential=True, code_name="北极星")
    [row] = api_as(world.mate).get("/api/v1/projects").get_json()["items"]
    assert (row["company_name"], row["code_name"]) == ("北极星", "北极星")
    [row] = api_as(world.manager).get("/api/v1/projects").get_json()["items"]
    assert row["company_name"] == "宁德某电池有限公司"


# --- reassign, funds, bulk -------------------------------------------------------------------------------------------

def test_reassign_keeps_the_first_contact_credit(api_as, world):
    project = make_project(world.company, owner=world.officer)
    boss = api_as(world.manager)
    url = f"/api/v1/projects/{project.id}/owner"
    assert_error(api_as(world.officer).post(url, json={"owner_id": world.mate.id, "version": 1}), 403)
    assert_error(api_as(world.officer).post(url, json={"version": 1}), 403)  # the role is checked first
    for bad in ("5", None, 1.5, HUGE_ID, world.liaison.id, 987654):
        assert_error(boss.post(url, json={"owner_id": bad, "version": 1}), 422)
    response = boss.post(url, json={"owner_id": world.outsider.id, "version": 1})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["owner_id"], body["first_contact_id"], body["version"]) == \
        (world.outsider.id, world.officer.id, 2)
    # the new owner's team edits it now; the old one may only read it
    assert api_as(world.outsider).patch(f"/api/v1/projects/{project.id}",
                                        json={"version": 2, "notes": "接手"}).status_code == 200
    assert_error(api_as(world.officer).patch(f"/api/v1/projects/{project.id}", json={"version": 3, "notes": "x"}),
                 403)
    history = boss.get(f"/api/v1/projects/{project.id}/history").get_json()["items"]
    assert any(i["kind"] == "change" and i["changes"].get("owner_id") == [world.officer.id, world.outsider.id]
               for i in history)
    assert fresh(project.id).first_contact_id == world.officer.id


def test_funds_in_place(api_as, world):
    project = make_project(world.company, owner=world.officer)
    api = api_as(world.officer)
    url = f"/api/v1/projects/{project.id}/funds"
    first = api.post(url, json={"received_on": "2025-01-10", "amount": 100, "note": "首笔"})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["amount"], body["received_on"], body["note"], body["funds_in_place"]) == (100, "2025-01-10",
                                                                                           "首笔", 100)
    assert body["project_version"] == 2
    correction = api.post(url, json={"received_on": "2025-02-01", "amount": "-30.5"})
    assert correction.status_code == 201 and correction.get_json()["funds_in_place"] == 69.5

    for bad, field in ((-100, "amount"), ("abc", "amount"), (0, "amount"), (None, "amount"), ([5], "amount")):
        error = assert_error(api.post(url, json={"received_on": "2025-03-01", "amount": bad}), 422)
        assert set(error["fields"]) == {field}
    future = (today_in_zone() + timedelta(days=2)).isoformat()
    for day in (future, "2025-13-01", None, 20250101):
        error = assert_error(api.post(url, json={"received_on": day, "amount": 5}), 422)
        assert set(error["fields"]) == {"received_on"}

    listed = api.get(url).get_json()
    assert [e["amount"] for e in listed["items"]] == [-30.5, 100]  # newest first
    assert (listed["total"], listed["funds_in_place"]) == (2, 69.5)
    assert api.get(f"/api/v1/projects/{project.id}").get_json()["funds_in_place"] == 69.5

    # removing the first entry would leave -30.5: refused
    assert_error(api.delete(f"/api/v1/funds/{body['id']}"), 409)
    assert fresh(project.id).funds_in_place == 69.5
    assert_error(api_as(world.outsider).delete(f"/api/v1/funds/{correction.get_json()['id']}"), 403)
    removed = api.delete(f"/api/v1/funds/{correction.get_json()['id']}")
    assert removed.status_code == 200 and removed.get_json()["funds_in_place"] == 100
    assert_error(api.delete(f"/api/v1/funds/{correction.get_json()['id']}"), 404)
    assert_error(api.delete(f"/api/v1/funds/{HUGE_ID}"), 404)
    assert count(FundsEntry) == 1


def test_bulk_stage_moves_what_it_may_and_reports_the_rest(api_as, world):
    mine = [make_project(world.company, owner=world.officer, name=f"批{i}") for i in range(3)]
    theirs = make_project(owner=world.outsider, name="别组")
    hidden = make_project(owner=world.outsider, name="别组保密", confidential=True, code_name="暗")
    signed = make_project(world.company, owner=world.mate, name="已签", stage="signed")
    api = api_as(world.officer)
    api_as(world.mate).patch(f"/api/v1/projects/{mine[2].id}", json={"version": 1, "notes": "先改"})
    response = api.post("/api/v1/projects/bulk-stage", json={"stage": "signed", "note": "签约仪式", "items": [
        {"id": mine[0].id, "version": 1}, {"id": mine[1].id, "version": 1}, {"id": mine[2].id, "version": 1},
        {"id": theirs.id, "version": 1}, {"id": hidden.id, "version": 1}, {"id": signed.id, "version": 1},
        {"id": 987654, "version": 1}]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert sorted(body["moved"]) == sorted([mine[0].id, mine[1].id])
    assert body["conflicts"] == [mine[2].id]
    assert {s["id"] for s in body["skipped"]} == {theirs.id, hidden.id, signed.id, 987654}
    assert all(isinstance(s["reason"], str) and s["reason"] for s in body["skipped"])
    assert [fresh(p.id).stage for p in mine] == ["signed", "signed", "lead"]
    assert fresh(theirs.id).stage == "lead"
    history = api.get(f"/api/v1/projects/{mine[0].id}/history").get_json()["items"]
    assert (history[0]["to_stage"], history[0]["note"]) == ("signed", "签约仪式")

    url = "/api/v1/projects/bulk-stage"
    item = [{"id": mine[2].id, "version": 2}]
    assert set(assert_error(api.post(url, json={"stage": "lost", "items": item}), 422)["fields"]) == {"reason"}
    assert set(assert_error(api.post(url, json={"stage": "won", "items": item}), 422)["fields"]) == {"stage"}
    for items in ([], None, "1,2", [5], [{"id": "1", "version": 1}], [{"id": 1}], [{"id": HUGE_ID, "version": 1}],
                  [{"id": mine[2].id, "version": 2}, {"id": mine[2].id, "version": 2}]):
        assert set(assert_error(api.post(url, json={"stage": "signed", "items": items}), 422)["fields"]) == {"items"}
    assert fresh(mine[2].id).stage == "lead"


# --- bad input -------------------------------------------------------------------------------------------------------

ODD_VALUES = [None, True, False, 0, -1, 1.5, 10**30, -(10**30), 1e308, "", " ", "\x00\x1f", "x" * 20_000, [], [1],
              {}, {"a": 1}, "NaN", "Infinity", "-0", "１２３"]


#: a field of each rule, and each field with its own handling, for the PostgreSQL pass (tests/sweeps.py)
PROJECT_SAMPLE = ["company_id", "name", "cluster", "planned_investment", "jobs", "land_mu", "description",
                  "confidential", "code_name", "planned_start", "owner_id", "first_contact_id", "stage", "lost_reason"]


@pytest.mark.parametrize("field", sweep(sorted([*PROJECT_FIELDS, "owner_id", "first_contact_id", "stage",
                                                "lost_reason"]), PROJECT_SAMPLE))
def test_odd_values_in_project_fields_are_never_a_500(api_as, world, field):
    project = make_project(world.company, owner=world.officer)
    api, boss = api_as(world.officer), api_as(world.manager)
    for value in ODD_VALUES:
        data = {"company_id": world.company.id, "name": "字段测试", field: value}
        for client in (api, boss):
            created = client.post("/api/v1/projects", json=data)
            assert created.status_code in (201, 403, 422), (field, value, created.get_json())
        version = fresh(project.id).version
        patched = api.patch(f"/api/v1/projects/{project.id}", json={"version": version, field: value})
        assert patched.status_code in (200, 403, 409, 422), (field, value, patched.get_json())


@pytest.mark.parametrize("field", ["stage", "version", "note", "reason", "date"])
def test_odd_values_in_a_stage_move_are_never_a_500(api_as, world, field):
    project = make_project(world.company, owner=world.officer)
    api = api_as(world.officer)
    for value in ODD_VALUES:
        version = fresh(project.id).version
        data = {"stage": "negotiating" if fresh(project.id).stage != "negotiating" else "lead", "version": version,
                field: value}
        response = api.post(f"/api/v1/projects/{project.id}/stage", json=data)
        assert response.status_code in (200, 409, 422), (field, value, response.get_json())
        funds = api.post(f"/api/v1/projects/{project.id}/funds",
                         json={"received_on": "2025-01-01", "amount": 1, "note": value})
        assert funds.status_code in (201, 422), (value, funds.get_json())


def test_huge_and_odd_ids_are_404(api_as, world):
    api = api_as(world.manager)
    base = f"/api/v1/projects/{HUGE_ID}"
    assert_error(api.get(base), 404)
    assert_error(api.patch(base, json={"version": 1}), 404)
    assert_error(api.delete(base), 404)
    assert_error(api.post(f"{base}/stage", json={"stage": "signed", "version": 1}), 404)
    assert_error(api.post(f"{base}/owner", json={"owner_id": world.officer.id, "version": 1}), 404)
    assert_error(api.get(f"{base}/history"), 404)
    assert_error(api.get(f"{base}/funds"), 404)
    assert_error(api.post(f"{base}/funds", json={"received_on": "2025-01-01", "amount": 1}), 404)
    assert_error(api.get("/api/v1/projects/-1"), 404)
    assert_error(api.get("/api/v1/projects/abc"), 404)
    assert_error(api.get("/api/v1/projects/987654"), 404)
    for query in ({"q": "\x00"}, {"q": "' OR 1=1 --"}, {"q": "%_\\"}, {"stage": "\x00"}, {"cluster": "a\x00"},
                  {"park": "x" * 1000}, {"sort": "id; DROP TABLE project"}, {"owner_id": "²"}, {"key": "\x00"}):
        response = api.get("/api/v1/projects", query_string=query)
        assert response.status_code == 200, (query, response.get_data(as_text=True)[:300])


def test_no_token_is_401(client):
    for method, url in (("get", "/api/v1/projects"), ("post", "/api/v1/projects"), ("get", "/api/v1/projects/1"),
                        ("post", "/api/v1/projects/1/stage"), ("get", "/api/v1/projects/1/history"),
                        ("delete", "/api/v1/funds/1"), ("post", "/api/v1/projects/bulk-stage")):
        assert_error(getattr(client, method)(url, json={}), 401)


def test_documented_statuses_of_a_stage_move_are_the_ones_the_api_gives(api_as, world, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    project = make_project(world.company, owner=world.officer)
    url = f"/api/v1/projects/{project.id}/stage"
    me, theirs = api_as(world.officer), api_as(world.outsider)
    observed = {
        me.post(url, json={"stage": "negotiating", "version": 1}).status_code,
        me.post(url, data="{", content_type="application/json").status_code,
        client.post(url, json={"stage": "signed", "version": 2}).status_code,
        theirs.post(url, json={"stage": "signed", "version": 2}).status_code,
        me.post("/api/v1/projects/987654/stage", json={"stage": "signed", "version": 2}).status_code,
        me.post(url, json={"stage": "signed", "version": 1}).status_code,
        me.post(url, json={"stage": "lost", "version": 2}).status_code,
    }
    documented = {int(s) for s in spec["paths"]["/api/v1/projects/{project_id}/stage"]["post"]["responses"]}
    assert observed == documented == {200, 400, 401, 403, 404, 409, 422}
