"""The support board's pages as officers and liaisons use them: the project page's support card, a milestone's
edit (a future actual date refused by the field, dates out of order saved with a warning, the stage offer at
construction start), enterprise requests (recorded with a deadline in working days, moved open → closed, refused
without a department, deadline or resolution) and a liaison who reaches only what is routed to their department."""
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from werkzeug.routing import IntegerConverter

from crm.extensions import db
from crm.projects.models import Project, StageMove
from crm.support import services
from crm.support.models import EnterpriseRequest, Milestone, RequestEvent

from ..factories import make_contact
from ..security.helpers import client_for
from .conftest import DEV, LAND, count, snapshot

# a Tuesday; Beijing's noon
NOW = "2025-09-23T04:00:00+00:00"
TODAY = date(2025, 9, 23)


@pytest.fixture
def board(w):
    """Project p with its nine milestones (land routed to LAND, construction start planned in 3 days) and a request
    of each department."""
    with time_machine.travel(NOW, tick=False):
        project = db.session.get(Project, w.p.id)
        services.add_standard_milestones(project)
        db.session.commit()
        land = _milestone(w, "land_acquired")
        land.department, land.planned_date = LAND, TODAY - timedelta(days=2)  # red
        start = _milestone(w, "construction_start")
        start.department, start.planned_date = DEV, TODAY + timedelta(days=3)  # yellow
        db.session.commit()
        w.req_land = services.create_request(w.p.id, {"category": "land", "description": "用地红线调整",
                                                      "department": LAND, "deadline": "5"}, actor=w.a)
        w.req_dev = services.create_request(w.p.id, {"category": "permits", "description": "立项备案加急",
                                                     "department": DEV, "deadline": "2025-10-20"}, actor=w.a)
    return w


def _milestone(w, kind: str) -> Milestone:
    return db.session.scalar(db.select(Milestone).where(Milestone.project_id == w.p.id, Milestone.kind == kind))


def _soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@time_machine.travel(NOW, tick=False)
def test_the_project_page_shows_the_milestones_with_their_status_and_the_requests(app, board):
    page = _soup(client_for(app, board.a).get(f"/projects/{board.p.id}"))
    card = page.select_one("#support")
    assert card is not None
    rows = {tr["data-milestone"]: tr for tr in card.select("tr[data-milestone]")}
    assert list(rows) == [k for k in ("land_acquired", "planning_permit", "construction_permit",
                                      "construction_start", "topping_out", "equipment_in", "trial_production",
                                      "production_start", "full_capacity")]
    assert rows["land_acquired"].select_one("[data-status]")["data-status"] == "red"
    assert rows["construction_start"].select_one("[data-status]")["data-status"] == "yellow"
    assert rows["topping_out"].select_one("[data-status]")["data-status"] == "green"
    assert "用地红线调整" in card.get_text() and "立项备案加急" in card.get_text()


@time_machine.travel(NOW, tick=False)
def test_a_future_actual_date_is_refused_by_the_field_and_nothing_changes(app, board):
    client = client_for(app, board.a)
    milestone = _milestone(board, "land_acquired")
    before = snapshot()
    response = client.post(f"/milestones/{milestone.id}/edit", data={
        "planned_date": "2025-09-21", "actual_date": "2025-09-30", "department": LAND, "owner_id": str(board.a.id),
        "note": "", "version": str(milestone.version)})
    assert response.status_code == 422
    errors = " ".join(e.get_text() for e in _soup(response).select(".invalid-feedback"))
    assert "cannot be in the future" in errors or "不能晚于今天" in errors
    assert snapshot() == before


@time_machine.travel(NOW, tick=False)
def test_planned_dates_out_of_order_are_saved_with_a_warning(app, board):
    client = client_for(app, board.a)
    permit = _milestone(board, "construction_permit")  # planned after construction start (in 3 days)
    response = client.post(f"/milestones/{permit.id}/edit", data={
        "planned_date": (TODAY + timedelta(days=30)).isoformat(), "actual_date": "", "department": DEV,
        "owner_id": str(board.a.id), "note": "", "version": str(permit.version)}, follow_redirects=True)
    assert response.status_code == 200
    assert _soup(response).select(".alert-warning")  # saved anyway: real projects do change order
    db.session.expire_all()
    assert permit.planned_date == TODAY + timedelta(days=30)


@time_machine.travel(NOW, tick=False)
def test_construction_start_done_offers_to_move_the_project_and_yes_moves_it(app, board):
    client = client_for(app, board.a)
    # the world was built at the real date: its stage moves are dated back to before this test's "today"
    for move in db.session.scalars(db.select(StageMove).where(StageMove.project_id == board.p.id)):
        move.at = move.recorded_at = datetime(2025, 8, 1, tzinfo=UTC)
    db.session.get(Project, board.p.id).stage_changed_at = datetime(2025, 8, 1, tzinfo=UTC)
    db.session.commit()
    start = _milestone(board, "construction_start")
    response = client.post(f"/milestones/{start.id}/edit", data={
        "planned_date": (TODAY + timedelta(days=3)).isoformat(), "actual_date": TODAY.isoformat(),
        "department": DEV, "owner_id": str(board.a.id), "note": "破土动工", "version": str(start.version)})
    assert response.status_code == 200
    offer = _soup(response).select_one("[data-test=accept-offer]").find_parent("form")
    fields = {i["name"]: i.get("value", "") for i in offer.select("input")}
    assert fields["stage"] == "under_construction"
    db.session.expire_all()
    assert db.session.get(Project, board.p.id).stage == "signed"  # offered, not moved
    moved = client.post(offer["action"], data=fields)
    assert moved.status_code == 302, [a.get_text() for a in _soup(moved).select(".alert, .invalid-feedback")]
    db.session.expire_all()
    assert db.session.get(Project, board.p.id).stage == "under_construction"


@time_machine.travel(NOW, tick=False)
def test_a_request_is_recorded_with_a_deadline_in_working_days_and_refused_without_department(app, board):
    client = client_for(app, board.a)
    before = count(EnterpriseRequest)
    refused = client.post(f"/projects/{board.p.id}/requests/new", data={
        "category": "utilities", "description": "双回路供电", "department": "", "deadline": "", "working_days": "",
        "owner_id": str(board.a.id), "note": ""})
    assert refused.status_code == 422
    marked = {e.find_previous(["select", "input", "textarea"]).get("name")
              for e in _soup(refused).select(".invalid-feedback")}
    assert {"department", "deadline"} <= marked
    assert count(EnterpriseRequest) == before
    # 2025-09-23 + 5 working days, across the National Day holiday (10-01 to 10-08) with 09-28 a make-up day:
    # 24, 25, 26, 28 (Sunday, worked), 29 → 2025-09-29
    created = client.post(f"/projects/{board.p.id}/requests/new", data={
        "category": "utilities", "description": "双回路供电", "department": LAND, "deadline": "",
        "working_days": "5", "owner_id": str(board.a.id), "note": "企业来电"})
    assert created.status_code == 302
    found = db.session.scalar(db.select(EnterpriseRequest).order_by(EnterpriseRequest.id.desc()).limit(1))
    assert (found.deadline, found.status, found.department) == (date(2025, 9, 29), "open", LAND)


@time_machine.travel(NOW, tick=False)
def test_a_request_moves_to_closed_only_with_a_resolution_and_a_satisfaction(app, board):
    client = client_for(app, board.a)
    rid = board.req_dev.id

    def move(status: str, **extra):
        version = db.session.get(EnterpriseRequest, rid, populate_existing=True).version
        return client.post(f"/requests/{rid}/status", data={"status": status, "version": str(version), "note": "",
                                                            **extra})

    assert move("closed").status_code == 422  # open cannot close
    assert move("in_progress").status_code == 302
    assert move("resolved", resolution="已协调发改委加急办理").status_code == 302
    before = snapshot()
    no_satisfaction = move("closed")
    assert no_satisfaction.status_code == 422 and snapshot() == before
    assert move("closed", satisfaction="5").status_code == 302
    page = _soup(client.get(f"/requests/{rid}"))
    assert page.select_one("[data-test=satisfaction]").get_text(strip=True) == "5 / 5"
    assert [e.to_status for e in db.session.scalars(db.select(RequestEvent).where(RequestEvent.request_id == rid)
                                                    .order_by(RequestEvent.id))] == \
        ["open", "in_progress", "resolved", "closed"]
    assert not page.select("#handle")  # closed is final
    # every step is in the project's timeline too (its changes), in words
    timeline = _soup(client.get(f"/projects/{board.p.id}/timeline?kind=change")).get_text(" ", strip=True)
    assert timeline.count("企业诉求") >= 4 and "已关闭" in timeline and "办理中" in timeline


@time_machine.travel(NOW, tick=False)
def test_a_liaison_sees_and_handles_only_their_departments_records(app, board):
    client = client_for(app, board.land)
    home = _soup(client.get("/"))
    assert "用地红线调整" in home.get_text() and "立项备案加急" not in home.get_text()
    assert client.get(f"/requests/{board.req_land.id}").status_code == 200
    assert client.get(f"/requests/{board.req_dev.id}").status_code == 404
    assert client.get(f"/milestones/{_milestone(board, 'construction_start').id}/edit").status_code == 404
    assert client.get(f"/milestones/{_milestone(board, 'land_acquired').id}/edit").status_code == 200
    listed = _soup(client.get("/requests"))
    assert [tr["data-request"] for tr in listed.select("tr[data-request]")] == [str(board.req_land.id)]
    # may move the status and write the resolution; may not change the request's fields
    version = board.req_land.version
    assert client.post(f"/requests/{board.req_land.id}/status", data={
        "status": "in_progress", "version": str(version), "note": "已受理"}).status_code == 302
    assert client.get(f"/requests/{board.req_land.id}/edit").status_code == 403
    assert client.get(f"/projects/{board.p.id}/requests/new").status_code == 404


@time_machine.travel(NOW, tick=False)
def test_the_request_page_gives_the_companys_contacts_to_whoever_handles_it(app, board):
    make_contact(board.company, name="张经理", title="行政总监", mobile="13800138000")
    liaison_page = _soup(client_for(app, board.land).get(f"/requests/{board.req_land.id}"))
    assert "13800138000" in liaison_page.select_one("[data-test=contacts]").get_text()
    other_team = _soup(client_for(app, board.b).get(f"/requests/{board.req_land.id}"))  # may see, not hold it
    contacts = other_team.select_one("[data-test=contacts]").get_text()
    assert "张经理" in contacts and "138****8000" in contacts and "13800138000" not in contacts
    # a confidential project whose company the liaison may not know: no contacts, the code name only
    with time_machine.travel(NOW, tick=False):
        secret = services.create_request(board.q.id, {"category": "land", "description": "保密用地",
                                                      "department": LAND, "deadline": "5"}, actor=board.b)
    make_contact(board.company_b, name="机密联系人", mobile="13900139000")
    page = _soup(client_for(app, board.land).get(f"/requests/{secret.id}"))
    assert page.select_one("[data-test=contacts]") is None and "H项目" in page.get_text()
    assert "深圳华信电子" not in page.get_text() and "华信保密项目" not in page.get_text()


def _fill(rule, ids: dict) -> dict | None:
    args = {}
    for name in rule.arguments:
        if isinstance(rule._converters.get(name), IntegerConverter) or name.endswith("_id"):
            args[name] = ids.get(name, 987654)
        else:
            return None  # a parameter of another kind (a language code, a file name): not a record
    return args


@time_machine.travel(NOW, tick=False)
def test_a_liaison_reaches_no_page_beyond_their_departments_requests_and_milestones(app, board):
    """Every GET page of the app, as a liaison of the land department, with the ids of records they may not see:
    nothing answers 200 but their home, their lists and the land department's own records."""
    client = client_for(app, board.land)
    other = {"company_id": board.company.id, "project_id": board.p.id, "request_id": board.req_dev.id,
             "milestone_id": _milestone(board, "construction_start").id, "user_id": board.a.id,
             "meeting_id": 1, "task_id": 1, "notification_id": 1, "contact_id": 1, "entry_id": 1, "view_id": 1,
             "team_id": board.team1.id, "item_id": 1}
    # their home and lists, their own profile, the public health checks
    allowed = {"home.index", "support.requests", "support.milestones", "auth.profile", "auth.login", "static",
               "home.healthz", "home.healthz_scheduler", "home.favicon"}
    opened = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.startswith("api.") or rule.endpoint in allowed:
            continue
        args = _fill(rule, other)
        if args is None:
            continue
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **args)
        status = client.get(url).status_code
        if status not in (403, 404, 405):
            opened.append(f"{rule.endpoint} {url}: {status}")
    assert opened == []
