"""/api/v1 support board: a signed project's milestones (derived status around the yellow and red boundaries in the
zone's time zone, warnings for planned dates out of order, the stage offer), enterprise requests (deadlines in
working days, the status workflow, the handling's events, the lists), department liaisons, and every bad input of
issue 6: clear errors, nothing changed, never a 500. The clock is fixed: a Wednesday noon in Beijing."""
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from crm.extensions import db
from crm.projects.models import Project
from crm.reference.models import RefItem
from crm.support import services
from crm.support.models import (
    MILESTONE_KINDS,
    REQUEST_CATEGORIES,
    EnterpriseRequest,
    Milestone,
    RequestEvent,
)

from ..factories import make_company, make_project, make_reference, make_team, make_user
from ..sweeps import sweep
from .conftest import assert_error, assert_iso_with_offset, assert_record

LAND, DEV = "natural_resources", "development_reform"
#: Wednesday 16 September 2026, 12:00 in Beijing; Sunday 20 September is a make-up working day (National Day)
NOW = datetime(2026, 9, 16, 4, 0, tzinfo=UTC)
#: 00:30 on 16 September in Beijing, still the 15th in UTC
JUST_AFTER_MIDNIGHT = datetime(2026, 9, 15, 16, 30, tzinfo=UTC)
LIST_KEYS = {"items", "total", "page", "per_page"}
MILESTONE_KEYS = {"id", "version", "created_at", "updated_at", "project_id", "company_name", "kind", "sort",
                  "planned_date", "actual_date", "department", "owner_id", "note", "status"}
REQUEST_KEYS = {"id", "version", "created_at", "updated_at", "project_id", "company_id", "company_name", "category",
                "description", "department", "owner_id", "deadline", "status", "resolution", "satisfaction",
                "resolved_at", "closed_at", "created_by_id", "overdue"}
ODD_VALUES = [None, True, False, 0, -1, 1.5, 10**30, 1e308, "", " ", "\x00\x1f", "x" * 20_001, [], [1], {},
              {"a": 1}, "NaN", "-0", "１２３", "2026-02-30", "2026-09-01", "2026-09-16T25:00", "next tuesday", [0],
              "5", 5, 251, "2099-01-01", "closed", "in_progress", "land", "construction_start", LAND]
HUGE_ID = 10**20


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world():
    """Team 1 (officer, mate), team 2 (outsider), a manager, liaisons of the land (LAND) and development (DEV)
    departments; team 1's signed project with the standard milestones, a project still in negotiation, and team 2's
    confidential signed project."""
    make_reference()
    db.session.add(RefItem(kind="department", key=DEV, name="发展改革委", name_en="Development and Reform"))
    db.session.commit()

    class W:
        team1, team2 = make_team("一组"), make_team("二组")
        officer = make_user(team=team1, name="张伟")
        mate = make_user(team=team1, name="王芳")
        outsider = make_user(team=team2, name="刘洋")
        manager = make_user("manager", name="陈局")
        land = make_user("liaison", name="自然资源联络员", department=LAND)
        dev = make_user("liaison", name="发改联络员", department=DEV)
        company = make_company("立讯智造（江西）有限公司", owner=officer)
        project = make_project(company, owner=officer, name="连接器基地", stage="signed")
        talks = make_project(company, owner=officer, name="二期扩产", stage="negotiating")
        company_b = make_company("深圳华信电子有限公司", owner=outsider)
        secret = make_project(company_b, owner=outsider, name="华信保密项目", stage="signed", confidential=True,
                              code_name="H项目")

    services.backfill_standard_milestones()
    return W


def milestone(project_id: int, kind: str) -> Milestone:
    db.session.rollback()
    return db.session.scalar(select(Milestone).where(Milestone.project_id == project_id, Milestone.kind == kind))


def fresh(model, record_id: int):
    db.session.rollback()
    return db.session.get(model, record_id)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(model.deleted_at.is_(None)))


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def valid_request(**extra) -> dict:
    return {"category": "utilities", "description": "厂区双回路供电尚未接入", "department": LAND,
            "deadline": "2026-10-30", **extra}


def new_request(api, project_id: int, **extra) -> dict:
    return ok(api.post(f"/api/v1/projects/{project_id}/requests", json=valid_request(**extra)), 201)


def snapshot() -> tuple:
    """Every row of the support board's tables and the projects: "nothing was changed"."""
    db.session.rollback()
    rows = []
    for model in (Milestone, EnterpriseRequest, RequestEvent, Project):
        table = model.__table__
        rows.append(db.session.execute(select(table).order_by(table.c.id)).all())
    return tuple(tuple(r) for r in rows)


# --- milestones ------------------------------------------------------------------------------------------------------

def test_a_signed_projects_milestones_in_board_order(api_as, world):
    api = api_as(world.officer)
    body = ok(api.get(f"/api/v1/projects/{world.project.id}/milestones"))
    assert set(body) == LIST_KEYS and body["total"] == 9
    assert [m["kind"] for m in body["items"]] == [k.key for k in MILESTONE_KINDS]
    for item in body["items"]:
        assert_record(item)
        assert set(item) == MILESTONE_KEYS
        assert (item["project_id"], item["owner_id"], item["status"], item["actual_date"]) == \
            (world.project.id, world.officer.id, "green", None)
        assert item["company_name"] == "立讯智造（江西）有限公司"
    one = body["items"][3]
    assert ok(api.get(f"/api/v1/milestones/{one['id']}")) == one
    # a project not signed yet has none
    assert ok(api.get(f"/api/v1/projects/{world.talks.id}/milestones"))["items"] == []


@pytest.mark.parametrize(("planned", "status"), [
    ("2026-09-15", "red"),  # yesterday
    ("2026-09-16", "yellow"),  # today
    ("2026-09-23", "yellow"),  # the 7th day ahead (the default milestone_warning_days)
    ("2026-09-24", "green"),  # the 8th
    (None, "green"),
])
def test_status_is_derived_around_the_yellow_and_red_boundaries(api_as, world, planned, status):
    api = api_as(world.officer)
    row = milestone(world.project.id, "topping_out")
    body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "planned_date": planned}))
    assert (body["status"], body["planned_date"]) == (status, planned)
    assert ok(api.get(f"/api/v1/milestones/{row.id}"))["status"] == status
    listed = {m["id"]: m["status"] for m in ok(api.get(f"/api/v1/projects/{world.project.id}/milestones"))["items"]}
    assert listed[row.id] == status
    assert [m["id"] for m in ok(api.get(f"/api/v1/milestones?status={status}&project_id={world.project.id}"))[
        "items"]].count(row.id) == 1


def test_status_goes_by_the_zones_calendar_day(api_as, world):
    """At 00:30 in Beijing the 15th is yesterday (red) although UTC is still on the 15th; an actual date of the
    16th is not in the future."""
    row = milestone(world.project.id, "topping_out")
    with time_machine.travel(JUST_AFTER_MIDNIGHT, tick=False):
        api = api_as(world.officer)
        body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "planned_date": "2026-09-15"}))
        assert body["status"] == "red"
        body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 2, "actual_date": "2026-09-16"}))
        assert (body["status"], body["actual_date"]) == ("done", "2026-09-16")
        error = assert_error(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 3,
                                                                              "actual_date": "2026-09-17"}), 422)
        assert set(error["fields"]) == {"actual_date"}


def test_an_actual_date_in_the_future_is_a_field_error_and_changes_nothing(api_as, world):
    api = api_as(world.officer)
    row = milestone(world.project.id, "land_acquired")
    before = snapshot()
    error = assert_error(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "actual_date": "2026-09-17",
                                                                          "note": "提前录入"}), 422, "validation_error")
    assert set(error["fields"]) == {"actual_date"} and error["fields"]["actual_date"][0]
    assert snapshot() == before
    body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "actual_date": "2026-09-16"}))
    assert (body["version"], body["status"], body["warnings"], body["offer"]) == (2, "done", {}, None)


def test_planned_dates_out_of_order_are_saved_with_a_warning(api_as, world):
    api = api_as(world.officer)
    start = milestone(world.project.id, "construction_start")
    production = milestone(world.project.id, "production_start")
    ok(api.patch(f"/api/v1/milestones/{start.id}", json={"version": 1, "planned_date": "2026-12-01"}))
    api.client.set_cookie("lang", "en")
    body = ok(api.patch(f"/api/v1/milestones/{production.id}", json={"version": 1, "planned_date": "2026-11-01"}))
    assert (body["version"], body["planned_date"]) == (2, "2026-11-01")  # saved: reality is messy
    [warning] = body["warnings"]["planned_date"]
    assert "2026-12-01" in warning and "Saved anyway" in warning
    assert fresh(Milestone, production.id).planned_date == date(2026, 11, 1)
    # in order again: no warning
    body = ok(api.patch(f"/api/v1/milestones/{production.id}", json={"version": 2, "planned_date": "2027-06-01"}))
    assert body["warnings"] == {}


def test_construction_start_offers_the_stage_move(api_as, world):
    api = api_as(world.officer)
    row = milestone(world.project.id, "construction_start")
    project_version = fresh(Project, world.project.id).version
    body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "actual_date": "2026-09-15"}))
    assert body["status"] == "done"
    # dated by the actual date, or by the last stage move if that is later (the project was signed today)
    assert body["offer"] == {"stage": "under_construction", "version": project_version, "from_stage": "signed",
                             "date": "2026-09-16"}
    assert fresh(Project, world.project.id).stage == "signed"  # offered, never moved by itself
    moved = ok(api.post(f"/api/v1/projects/{world.project.id}/stage", json=body["offer"]))
    assert moved["stage"] == "under_construction"
    # a later edit of a done milestone offers nothing again
    body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 2, "note": "已开工"}))
    assert body["offer"] is None
    # production start offers the next stage
    row = milestone(world.project.id, "production_start")
    body = ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "actual_date": "2026-09-16"}))
    assert body["offer"]["stage"] == "in_production"


def test_a_stale_version_is_409_and_changes_nothing(api_as, world):
    api, mate = api_as(world.officer), api_as(world.mate)
    row = milestone(world.project.id, "planning_permit")
    ok(mate.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "note": "同事先改"}))
    before = snapshot()
    error = assert_error(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "note": "旧版本"}), 409,
                         "conflict")
    assert error["message"]
    assert_error(api.delete(f"/api/v1/milestones/{row.id}?version=1"), 409)
    assert snapshot() == before
    assert fresh(Milestone, row.id).note == "同事先改"


def test_milestone_patch_refusals(api_as, world):
    api = api_as(world.officer)
    row = milestone(world.project.id, "equipment_in")
    url = f"/api/v1/milestones/{row.id}"
    before = snapshot()
    for values, field in (({"kind": "topping_out"}, "kind"), ({"planned_date": "next tuesday"}, "planned_date"),
                          ({"department": "no_such_department"}, "department"),
                          ({"owner_id": world.dev.id, "department": LAND}, "owner_id"),
                          ({"owner_id": 987654}, "owner_id"), ({"note": "x" * 2001}, "note")):
        error = assert_error(api.patch(url, json={"version": 1, **values}), 422)
        assert set(error["fields"]) == {field}, (values, error)
    assert set(assert_error(api.patch(url, json={"note": "无版本"}), 422)["fields"]) == {"version"}
    assert_error(api.patch(url, json={"note": "x", "version": "1"}), 422)
    for raw in ("{broken", "[1, 2]", '"text"', "null", ""):
        assert_error(api.patch(url, data=raw, content_type="application/json"), 400)
        assert_error(api.post(f"/api/v1/projects/{world.project.id}/milestones", data=raw,
                              content_type="application/json"), 400)
    assert snapshot() == before
    # the department's liaison may be the responsible one
    body = ok(api.patch(url, json={"version": 1, "department": LAND, "owner_id": world.land.id, "status": "red"}))
    assert (body["department"], body["owner_id"], body["status"]) == (LAND, world.land.id, "green")


def test_add_delete_and_bring_back_a_milestone(api_as, world):
    api = api_as(world.officer)
    row = milestone(world.project.id, "trial_production")
    url = f"/api/v1/milestones/{row.id}"
    assert_error(api.delete(url), 409)  # no version
    assert api.delete(f"{url}?version=1").status_code == 204
    assert_error(api.get(url), 404)
    assert_error(api.patch(url, json={"version": 1, "note": "x"}), 404)
    assert ok(api.get(f"/api/v1/projects/{world.project.id}/milestones"))["total"] == 8
    created = ok(api.post(f"/api/v1/projects/{world.project.id}/milestones",
                          json={"kind": "trial_production", "planned_date": "2027-03-01", "department": DEV}), 201)
    assert_record(created)
    assert (created["id"], created["planned_date"], created["department"]) == (row.id, "2027-03-01", DEV)
    assert set(created) == MILESTONE_KEYS | {"warnings", "offer"}
    # one of each kind per project
    error = assert_error(api.post(f"/api/v1/projects/{world.project.id}/milestones", json={"kind": "topping_out"}),
                         422)
    assert set(error["fields"]) == {"kind"}
    error = assert_error(api.post(f"/api/v1/projects/{world.project.id}/milestones", json={}), 422)
    assert set(error["fields"]) == {"kind"}
    # from signing on only
    assert_error(api.post(f"/api/v1/projects/{world.talks.id}/milestones", json={"kind": "topping_out"}), 409,
                 "conflict")
    assert count(Milestone) == 18


# --- enterprise requests ---------------------------------------------------------------------------------------------

def test_create_read_and_deadline_in_working_days(api_as, world):
    api = api_as(world.officer)
    body = new_request(api, world.project.id, note="企业来电")
    assert_record(body)
    assert set(body) == REQUEST_KEYS
    assert (body["status"], body["department"], body["deadline"], body["owner_id"], body["company_id"]) == \
        ("open", LAND, "2026-10-30", world.officer.id, world.company.id)
    assert (body["resolution"], body["satisfaction"], body["resolved_at"], body["closed_at"], body["overdue"]) == \
        ("", None, None, None, False)
    assert ok(api.get(f"/api/v1/requests/{body['id']}")) == body
    # five working days from Wednesday the 16th: Thursday, Friday, the make-up Sunday, Monday, Tuesday
    for deadline in (5, "5", "５"):
        assert new_request(api, world.project.id, deadline=deadline)["deadline"] == "2026-09-22"
    # twelve skip the National Day holiday
    assert new_request(api, world.project.id, deadline=12)["deadline"] == "2026-10-09"


@pytest.mark.parametrize(("values", "fields"), [
    ({"department": None}, {"department"}),
    ({"deadline": None}, {"deadline"}),
    ({"department": "", "deadline": ""}, {"department", "deadline"}),
    ({"department": "no_such_department"}, {"department"}),
    ({"deadline": "2026-09-15"}, {"deadline"}),  # in the past
    ({"deadline": 0}, {"deadline"}),
    ({"deadline": 251}, {"deadline"}),
    ({"deadline": "next tuesday"}, {"deadline"}),
    ({"category": "bribes"}, {"category"}),
    ({"description": "  "}, {"description"}),
    ({"owner_id": 987654}, {"owner_id"}),
    ({"note": ["x"]}, {"note"}),
])
def test_a_request_with_bad_values_is_refused_and_nothing_is_written(api_as, world, values, fields):
    before = snapshot()
    body = valid_request(**values)
    for name in [k for k, v in values.items() if v is None]:
        del body[name]  # absent and null are the same: required
    error = assert_error(api_as(world.officer).post(f"/api/v1/projects/{world.project.id}/requests", json=body), 422,
                         "validation_error")
    assert set(error["fields"]) == fields, error
    assert snapshot() == before


def test_a_request_without_department_or_deadline_names_both(api_as, world):
    error = assert_error(api_as(world.officer).post(f"/api/v1/projects/{world.project.id}/requests",
                                                    json={"category": "land", "description": "用地指标"}), 422)
    assert set(error["fields"]) == {"department", "deadline"}
    assert all(error["fields"][f][0] for f in ("department", "deadline"))
    assert count(EnterpriseRequest) == 0


def test_request_workflow_and_its_events(api_as, world):
    api = api_as(world.officer)
    body = new_request(api, world.project.id)
    url = f"/api/v1/requests/{body['id']}"
    # no step may be skipped
    error = assert_error(api.patch(url, json={"version": 1, "status": "resolved"}), 422)
    assert set(error["fields"]) == {"status"}
    body = ok(api.patch(url, json={"version": 1, "status": "in_progress", "note": "已转供电公司"}))
    assert (body["version"], body["status"]) == (2, "in_progress")
    body = ok(api.patch(url, json={"version": 2, "status": "resolved", "resolution": "已接入双回路"}))
    assert (body["status"], body["resolution"]) == ("resolved", "已接入双回路")
    assert_iso_with_offset(body["resolved_at"])
    # reopened, resolved again
    body = ok(api.patch(url, json={"version": 3, "status": "in_progress"}))
    assert (body["status"], body["resolved_at"]) == ("in_progress", None)
    body = ok(api.patch(url, json={"version": 4, "status": "resolved"}))
    # closing needs a resolution and the company's satisfaction
    before = snapshot()
    error = assert_error(api.patch(url, json={"version": 5, "status": "closed", "resolution": "  ",
                                              "satisfaction": 5}), 422)
    assert set(error["fields"]) == {"resolution"}
    error = assert_error(api.patch(url, json={"version": 5, "status": "closed"}), 422)
    assert set(error["fields"]) == {"satisfaction"}
    error = assert_error(api.patch(url, json={"version": 5, "status": "closed", "satisfaction": 6}), 422)
    assert set(error["fields"]) == {"satisfaction"}
    assert snapshot() == before
    body = ok(api.patch(url, json={"version": 5, "status": "closed", "satisfaction": 4}))
    assert (body["status"], body["satisfaction"], body["version"]) == ("closed", 4, 6)
    assert_iso_with_offset(body["closed_at"])
    # a closed request is final
    error = assert_error(api.patch(url, json={"version": 6, "status": "in_progress"}), 422)
    assert set(error["fields"]) == {"status"}
    events = ok(api.get(f"{url}/events"))
    assert set(events) == LIST_KEYS and events["total"] == 6
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events["items"]] == [
        ("created", None, "open"), ("status", "open", "in_progress"), ("status", "in_progress", "resolved"),
        ("status", "resolved", "in_progress"), ("status", "in_progress", "resolved"),
        ("status", "resolved", "closed")]
    assert events["items"][1]["note"] == "已转供电公司"
    assert events["items"][1]["actor_id"] == world.officer.id and events["items"][1]["actor_name"] == "张伟"
    assert events["items"][2]["changes"]["resolution"] == ["", "已接入双回路"]
    assert_iso_with_offset(events["items"][0]["at"])


def test_closing_without_a_resolution_changes_nothing(api_as, world):
    api = api_as(world.officer)
    body = new_request(api, world.project.id)
    url = f"/api/v1/requests/{body['id']}"
    ok(api.patch(url, json={"version": 1, "status": "in_progress"}))
    ok(api.patch(url, json={"version": 2, "status": "resolved"}))
    before = snapshot()
    error = assert_error(api.patch(url, json={"version": 3, "status": "closed", "satisfaction": 3}), 422)
    assert set(error["fields"]) == {"resolution"} and error["fields"]["resolution"][0]
    assert snapshot() == before
    assert fresh(EnterpriseRequest, body["id"]).status == "resolved"


def test_request_stale_version_and_edits(api_as, world):
    api, mate = api_as(world.officer), api_as(world.mate)
    body = new_request(api, world.project.id)
    url = f"/api/v1/requests/{body['id']}"
    ok(mate.patch(url, json={"version": 1, "description": "同事补充：还需燃气"}))
    before = snapshot()
    assert_error(api.patch(url, json={"version": 1, "status": "in_progress"}), 409, "conflict")
    assert_error(api.delete(f"{url}?version=1"), 409)
    assert snapshot() == before
    body = ok(api.patch(url, json={"version": 2, "department": DEV, "deadline": 5, "category": "permits"}))
    assert (body["department"], body["deadline"], body["category"], body["version"]) == (DEV, "2026-09-22",
                                                                                         "permits", 3)
    # fields that are not input are ignored
    body = ok(api.patch(url, json={"version": 3, "closed_at": "2020-01-01T00:00:00Z", "company_id": 1,
                                   "overdue": True, "note": "只是备注"}))
    assert (body["closed_at"], body["company_id"], body["overdue"]) == (None, world.company.id, False)
    assert ok(api.get(f"{url}/events"))["items"][-1]["note"] == "只是备注"


def test_delete_a_request(api_as, world):
    api = api_as(world.officer)
    body = new_request(api, world.project.id)
    url = f"/api/v1/requests/{body['id']}"
    assert api.delete(f"{url}?version=1&note=录错了").status_code == 204
    for response in (api.get(url), api.get(f"{url}/events"), api.patch(url, json={"version": 1, "note": "x"})):
        assert_error(response, 404)
    assert ok(api.get("/api/v1/requests"))["total"] == 0
    assert [e.action for e in db.session.scalars(select(RequestEvent).where(
        RequestEvent.request_id == body["id"]).order_by(RequestEvent.id))] == ["created", "deleted"]


def test_requests_of_a_project_not_signed_are_refused(api_as, world):
    error = assert_error(api_as(world.officer).post(f"/api/v1/projects/{world.talks.id}/requests",
                                                    json=valid_request()), 409, "conflict")
    assert error["message"]
    assert count(EnterpriseRequest) == 0


def test_request_lists_and_filters(api_as, world):
    api = api_as(world.officer)
    late = new_request(api, world.project.id, deadline="2026-09-16", description="今日到期")
    land = new_request(api, world.project.id, deadline="2026-10-30")
    dev = new_request(api, world.project.id, department=DEV, deadline="2026-10-01")
    done = new_request(api, world.project.id, deadline="2026-09-17")
    url = f"/api/v1/requests/{done['id']}"
    ok(api.patch(url, json={"version": 1, "status": "in_progress"}))
    ok(api.patch(url, json={"version": 2, "status": "resolved", "resolution": "已办结"}))

    def ids(query: str = "") -> list[int]:
        body = ok(api.get(f"/api/v1/requests{query}"))
        assert set(body) == LIST_KEYS
        return [r["id"] for r in body["items"]]

    # open ones first, by deadline
    assert ids() == [late["id"], dev["id"], land["id"], done["id"]]
    assert ids("?status=resolved") == [done["id"]]
    assert ids(f"?department={DEV}") == [dev["id"]]
    assert ids("?overdue=true") == []  # the deadline day itself is on time
    with time_machine.travel(datetime(2026, 9, 17, 16, 30, tzinfo=UTC), tick=False):  # 00:30 on the 18th
        assert ids("?overdue=true") == [late["id"]]
        assert ids("?overdue=false") == [dev["id"], land["id"], done["id"]]
        assert ok(api.get(f"/api/v1/requests/{late['id']}"))["overdue"] is True
    assert ids(f"?project_id={world.project.id}&per_page=2") == [late["id"], dev["id"]]
    assert ok(api.get("/api/v1/requests?per_page=2&page=2"))["total"] == 4
    # values that name nothing give an empty list; an unreadable true/false is a 422
    for query in ("?status=bogus", "?department=nowhere", f"?project_id={HUGE_ID}", "?owner_id=abc",
                  f"?project_id={world.talks.id}"):
        assert ids(query) == [], query
    error = assert_error(api.get("/api/v1/requests?overdue=maybe"), 422)
    assert set(error["fields"]) == {"overdue"}
    project_list = ok(api.get(f"/api/v1/projects/{world.project.id}/requests"))
    assert [r["id"] for r in project_list["items"]] == [late["id"], dev["id"], land["id"], done["id"]]


def test_milestone_list_filters(api_as, world):
    api = api_as(world.officer)
    red = milestone(world.project.id, "land_acquired")
    ok(api.patch(f"/api/v1/milestones/{red.id}", json={"version": 1, "planned_date": "2026-09-01",
                                                        "department": LAND}))
    body = ok(api.get("/api/v1/milestones?status=red"))
    assert [m["id"] for m in body["items"]] == [red.id]
    assert [m["id"] for m in ok(api.get(f"/api/v1/milestones?department={LAND}"))["items"]] == [red.id]
    assert ok(api.get("/api/v1/milestones"))["total"] == 9  # the confidential project of team 2 is not theirs
    assert ok(api_as(world.manager).get("/api/v1/milestones"))["total"] == 18
    for query in ("?status=purple", f"?project_id={HUGE_ID}", "?owner_id=x", "?department=nowhere"):
        assert ok(api.get(f"/api/v1/milestones{query}"))["items"] == [], query


# --- who sees what ---------------------------------------------------------------------------------------------------

@pytest.fixture
def routed(world, api_as):
    """A milestone and a request of each department on team 1's project; the same on team 2's confidential one."""
    made = {}
    for project, owner in ((world.project, world.officer), (world.secret, world.outsider)):
        api = api_as(owner)
        for kind, department in (("land_acquired", LAND), ("construction_permit", DEV)):
            row = milestone(project.id, kind)
            ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "department": department}))
            made[(project.id, "milestone", department)] = row.id
            made[(project.id, "request", department)] = new_request(api, project.id, department=department)["id"]
    return made


def test_a_liaison_reaches_their_departments_records_only(api_as, world, routed):
    land = api_as(world.land)
    mine = {routed[(p, "request", LAND)] for p in (world.project.id, world.secret.id)}
    body = ok(land.get("/api/v1/requests"))
    assert {r["id"] for r in body["items"]} == mine and body["total"] == 2
    assert all(r["department"] == LAND for r in body["items"])
    # another team's confidential project: its code name, never the company's
    names = {r["project_id"]: r["company_name"] for r in body["items"]}
    assert names == {world.project.id: "立讯智造（江西）有限公司", world.secret.id: "H项目"}
    milestones = ok(land.get("/api/v1/milestones"))["items"]
    assert {m["id"] for m in milestones} == {routed[(p, "milestone", LAND)] for p in (world.project.id,
                                                                                      world.secret.id)}
    assert [m["kind"] for m in ok(land.get(f"/api/v1/projects/{world.secret.id}/milestones"))["items"]] == \
        ["land_acquired"]
    assert [r["department"] for r in ok(land.get(f"/api/v1/projects/{world.project.id}/requests"))["items"]] == \
        [LAND]
    # another department's records, like records that do not exist: 404
    missing = land.get("/api/v1/requests/987654").get_json()
    for project_id in (world.project.id, world.secret.id):
        other = routed[(project_id, "request", DEV)]
        assert land.get(f"/api/v1/requests/{other}").get_json() == missing
        assert_error(land.get(f"/api/v1/requests/{other}/events"), 404)
        assert_error(land.patch(f"/api/v1/requests/{other}", json={"version": 1, "status": "in_progress"}), 404)
        assert_error(land.delete(f"/api/v1/requests/{other}?version=1"), 404)
        other = routed[(project_id, "milestone", DEV)]
        assert_error(land.get(f"/api/v1/milestones/{other}"), 404)
        assert_error(land.patch(f"/api/v1/milestones/{other}", json={"version": 2, "note": "越权"}), 404)
    # a project with nothing of theirs, like one that does not exist: 404
    assert_error(land.get(f"/api/v1/projects/{world.talks.id}/requests"), 404)
    assert_error(land.get(f"/api/v1/projects/{world.talks.id}/milestones"), 404)
    assert land.get(f"/api/v1/projects/{world.talks.id}/milestones").get_json() == \
        land.get("/api/v1/projects/987654/milestones").get_json()


def test_a_liaison_opens_no_company_or_project(api_as, world, routed):
    land = api_as(world.land)
    missing = land.get("/api/v1/companies/987654").get_json()
    for company in (world.company, world.company_b):
        assert land.get(f"/api/v1/companies/{company.id}").get_json() == missing
        assert_error(land.get(f"/api/v1/companies/{company.id}/contacts"), 404)
    for project in (world.project, world.secret):
        assert_error(land.get(f"/api/v1/projects/{project.id}"), 404)
        assert_error(land.get(f"/api/v1/projects/{project.id}/history"), 404)
    for url in ("/api/v1/companies", "/api/v1/projects", "/api/v1/meetings", "/api/v1/tasks"):
        body = ok(land.get(url))
        assert (body["items"], body["total"]) == ([], 0), url
    # and records nothing on a project: it cannot open one
    before = snapshot()
    assert_error(land.post(f"/api/v1/projects/{world.project.id}/requests", json=valid_request()), 404)
    assert_error(land.post(f"/api/v1/projects/{world.project.id}/milestones", json={"kind": "topping_out"}), 404)
    assert snapshot() == before


def test_a_liaison_handles_their_departments_records(api_as, world, routed):
    land = api_as(world.land)
    request_id = routed[(world.secret.id, "request", LAND)]
    url = f"/api/v1/requests/{request_id}"
    before = snapshot()
    # the status, the resolution and the owner only
    for values in ({"description": "改写"}, {"department": DEV}, {"deadline": 5}, {"category": "other"}):
        error = assert_error(land.patch(url, json={"version": 1, "status": "in_progress", **values}), 422)
        assert set(error["fields"]) == set(values)
    assert_error(land.delete(f"{url}?version=1"), 403, "forbidden")
    assert snapshot() == before
    body = ok(land.patch(url, json={"version": 1, "status": "in_progress", "owner_id": world.land.id}))
    assert (body["status"], body["owner_id"]) == ("in_progress", world.land.id)
    body = ok(land.patch(url, json={"version": 2, "status": "resolved", "resolution": "已完成用地预审"}))
    body = ok(land.patch(url, json={"version": 3, "status": "closed", "satisfaction": 5}))
    assert (body["status"], body["resolution"], body["satisfaction"]) == ("closed", "已完成用地预审", 5)
    assert [e["actor_id"] for e in ok(land.get(f"{url}/events"))["items"]] == [world.outsider.id] + \
        [world.land.id] * 3
    # milestones: the dates and the note
    row_id = routed[(world.secret.id, "milestone", LAND)]
    url = f"/api/v1/milestones/{row_id}"
    error = assert_error(land.patch(url, json={"version": 2, "department": DEV, "owner_id": world.land.id}), 422)
    assert set(error["fields"]) == {"department", "owner_id"}
    assert_error(land.delete(f"{url}?version=2"), 403)
    body = ok(land.patch(url, json={"version": 2, "actual_date": "2026-09-10", "note": "已摘牌"}))
    assert (body["status"], body["note"], body["offer"]) == ("done", "已摘牌", None)
    # a liaison of another department sees none of it
    assert_error(api_as(world.dev).get(url), 404)


def test_another_teams_confidential_project_is_404_and_an_ordinary_one_read_only(api_as, world, routed):
    outsider = api_as(world.outsider)
    missing = outsider.get("/api/v1/milestones/987654").get_json()
    row_id = routed[(world.project.id, "milestone", LAND)]
    request_id = routed[(world.project.id, "request", LAND)]
    officer = api_as(world.officer)
    for kind in ("milestone", "request"):
        for department in (LAND, DEV):
            record = routed[(world.secret.id, kind, department)]
            assert officer.get(f"/api/v1/{kind}s/{record}").get_json() == \
                officer.get(f"/api/v1/{kind}s/987654").get_json()
    assert_error(officer.get(f"/api/v1/projects/{world.secret.id}/milestones"), 404)
    assert_error(officer.get(f"/api/v1/projects/{world.secret.id}/requests"), 404)
    assert_error(officer.post(f"/api/v1/projects/{world.secret.id}/requests", json=valid_request()), 404)
    # team 1's ordinary project: team 2 reads it, changes nothing
    assert ok(outsider.get(f"/api/v1/milestones/{row_id}"))["id"] == row_id
    assert missing["error"]["code"] == "not_found"
    before = snapshot()
    assert_error(outsider.patch(f"/api/v1/milestones/{row_id}", json={"version": 2, "note": "越权"}), 403,
                 "forbidden")
    assert_error(outsider.delete(f"/api/v1/milestones/{row_id}?version=2"), 403)
    assert_error(outsider.patch(f"/api/v1/requests/{request_id}", json={"version": 1, "status": "in_progress"}),
                 403)
    assert_error(outsider.post(f"/api/v1/projects/{world.project.id}/requests", json=valid_request()), 403)
    assert_error(outsider.post(f"/api/v1/projects/{world.project.id}/milestones", json={"kind": "topping_out"}),
                 403)
    assert snapshot() == before


def test_every_route_needs_a_token_and_odd_ids_are_404(client, api_as, world):
    row = milestone(world.project.id, "topping_out")
    for method, url in (("get", f"/api/v1/projects/{world.project.id}/milestones"),
                        ("post", f"/api/v1/projects/{world.project.id}/milestones"), ("get", "/api/v1/milestones"),
                        ("get", f"/api/v1/milestones/{row.id}"), ("patch", f"/api/v1/milestones/{row.id}"),
                        ("delete", f"/api/v1/milestones/{row.id}"), ("get", "/api/v1/requests"),
                        ("post", f"/api/v1/projects/{world.project.id}/requests"), ("get", "/api/v1/requests/1"),
                        ("get", "/api/v1/requests/1/events")):
        assert_error(getattr(client, method)(url, json={"version": 1}), 401, "unauthorized")
    api = api_as(world.officer)
    for kind in ("milestones", "requests"):
        for record_id in (HUGE_ID, -1, "abc", 987654):
            url = f"/api/v1/{kind}/{record_id}"
            assert_error(api.get(url), 404)
            assert_error(api.patch(url, json={"version": 1, "note": "x"}), 404)
            assert_error(api.delete(f"{url}?version=1"), 404)
        assert_error(api.get(f"/api/v1/projects/{HUGE_ID}/{kind}"), 404)
        assert_error(api.post(f"/api/v1/projects/987654/{kind}", json={}), 404)


# --- odd values ------------------------------------------------------------------------------------------------------

MILESTONE_INPUT = sorted(services.MILESTONE_FIELDS)
REQUEST_INPUT = sorted({*services.REQUEST_FIELDS, *services.STATUS_FIELDS})
#: a field of each rule for the PostgreSQL pass (tests/sweeps.py)
MILESTONE_SAMPLE = ["kind", "planned_date", "actual_date", "department", "owner_id"]
REQUEST_SAMPLE = ["deadline", "department", "status", "satisfaction", "description"]


@pytest.mark.parametrize("field", sweep(MILESTONE_INPUT, MILESTONE_SAMPLE))
def test_odd_values_in_milestone_fields_are_never_a_500(api_as, world, field):
    api = api_as(world.officer)
    row = milestone(world.project.id, "full_capacity")
    url = f"/api/v1/milestones/{row.id}"
    for value in ODD_VALUES:
        version = ok(api.get(url))["version"]
        response = api.patch(url, json={"version": version, field: value})
        assert response.status_code in (200, 422), (field, value, response.get_json())
        if response.status_code == 422:
            assert field in response.get_json()["error"]["fields"], (field, value)
        gone = api.delete(f"/api/v1/milestones/{row.id}?version={ok(api.get(url))['version']}")
        assert gone.status_code == 204
        response = api.post(f"/api/v1/projects/{world.project.id}/milestones",
                            json={"kind": "full_capacity", field: value} if field != "kind" else {field: value})
        assert response.status_code in (201, 422), (field, value, response.get_json())
        if response.status_code == 422:
            ok(api.post(f"/api/v1/projects/{world.project.id}/milestones", json={"kind": "full_capacity"}), 201)


@pytest.mark.parametrize("field", sweep(REQUEST_INPUT, REQUEST_SAMPLE))
def test_odd_values_in_request_fields_are_never_a_500(api_as, world, field):
    api = api_as(world.officer)
    body = new_request(api, world.project.id)
    url = f"/api/v1/requests/{body['id']}"
    for value in ODD_VALUES:
        response = api.post(f"/api/v1/projects/{world.project.id}/requests", json=valid_request(**{field: value}))
        assert response.status_code in (201, 422), (field, value, response.get_json())
        current = ok(api.get(url))
        response = api.patch(url, json={"version": current["version"], field: value})
        assert response.status_code in (200, 422), (field, value, response.get_json())
        if current["status"] == "closed":  # a value that closed it: start again
            body = new_request(api, world.project.id)
            url = f"/api/v1/requests/{body['id']}"


def test_long_text_with_html_and_emoji_is_stored_whole(api_as, world):
    api = api_as(world.officer)
    text = ("<img src=x onerror=alert(1)><b>诉求</b> & 'quote' 🚀😀👍🏽\n第二行" * 200)[:4_990] + "结尾🎉"
    body = new_request(api, world.project.id, description=text)
    assert body["description"] == text
    assert ok(api.get(f"/api/v1/requests/{body['id']}"))["description"] == text
    row = milestone(world.project.id, "topping_out")
    note = text[:1_995] + "🎉"
    assert ok(api.patch(f"/api/v1/milestones/{row.id}", json={"version": 1, "note": note}))["note"] == note


# --- the contract ----------------------------------------------------------------------------------------------------

def test_meta_lists_milestone_kinds_and_request_categories_from_the_models(api_as, world):
    body = ok(api_as(world.land).get("/api/v1/meta"))
    assert body["milestone_kinds"] == [{"key": k.key, "name": k.name, "name_en": k.name_en} for k in MILESTONE_KINDS]
    assert body["request_categories"] == [{"key": c.key, "name": c.name, "name_en": c.name_en}
                                          for c in REQUEST_CATEGORIES]
    assert {d["key"] for d in body["departments"]} == {LAND, DEV}


def test_documented_statuses_of_support_writes_are_the_ones_the_api_gives(app, api_as, world):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    api, outsider, land = api_as(world.officer), api_as(world.outsider), api_as(world.land)
    anonymous = app.test_client()
    requests_url = f"/api/v1/projects/{world.project.id}/requests"
    post = {
        api.post(requests_url, json=valid_request()).status_code,
        api.post(requests_url, data="{", content_type="application/json").status_code,
        anonymous.post(requests_url, json=valid_request()).status_code,
        outsider.post(requests_url, json=valid_request()).status_code,
        land.post(requests_url, json=valid_request()).status_code,
        api.post(f"/api/v1/projects/{world.talks.id}/requests", json=valid_request()).status_code,
        api.post(requests_url, json=valid_request(deadline=None)).status_code,
    }
    found = new_request(api, world.project.id)
    url = f"/api/v1/requests/{found['id']}"
    patch_request = {
        api.patch(url, json={"version": 1, "status": "in_progress"}).status_code,
        api.patch(url, data="[1,", content_type="application/json").status_code,
        anonymous.patch(url, json={"version": 2}).status_code,
        outsider.patch(url, json={"version": 2, "status": "resolved"}).status_code,
        api_as(world.dev).patch(url, json={"version": 2, "status": "resolved"}).status_code,
        api.patch(url, json={"version": 1, "status": "resolved"}).status_code,
        api.patch(url, json={"version": 2, "status": "closed"}).status_code,
    }
    row = milestone(world.project.id, "topping_out")
    url = f"/api/v1/milestones/{row.id}"
    patch_milestone = {
        api.patch(url, json={"version": 1, "note": "a"}).status_code,
        api.patch(url, data="[1,", content_type="application/json").status_code,
        anonymous.patch(url, json={"version": 2}).status_code,
        outsider.patch(url, json={"version": 2, "note": "b"}).status_code,
        land.patch(url, json={"version": 2, "note": "c"}).status_code,
        api.patch(url, json={"version": 1, "note": "d"}).status_code,
        api.patch(url, json={"version": 2, "actual_date": "2099-01-01"}).status_code,
    }
    assert post == {201, 400, 401, 403, 404, 409, 422}
    assert patch_request == patch_milestone == {200, 400, 401, 403, 404, 409, 422}
    for path, method, observed in (("/api/v1/projects/{project_id}/requests", "post", post),
                                   ("/api/v1/requests/{request_id}", "patch", patch_request),
                                   ("/api/v1/milestones/{milestone_id}", "patch", patch_milestone)):
        assert {int(s) for s in spec["paths"][path][method]["responses"]} == observed, (path, method)
