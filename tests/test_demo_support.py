"""The demo zone's support board (seed-demo): every signed project has its nine milestones, done up to its stage and
with cells of every status on the day it is loaded; enterprise requests routed to several departments with their
handling history; department liaisons who see only their department's requests; loading twice adds nothing. Also
`flask crm backfill-milestones`, and seed-demo's sign-ins file keeping earlier passwords when new users come."""
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from crm import demo
from crm.audit.models import AuditEvent
from crm.auth import services as auth_services
from crm.auth.models import Role, User
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.extensions import db
from crm.projects import stages
from crm.projects.models import Project, StageMove
from crm.reference.models import RefItem
from crm.support import access as support_access
from crm.support import services as support
from crm.support.models import (
    CATEGORY_KEYS,
    MILESTONE_KEYS,
    OPEN_STATUSES,
    EnterpriseRequest,
    Milestone,
    RequestEvent,
)

from .factories import TEST_PASSWORD_METHOD, login, make_company, make_project, make_user


@pytest.fixture
def seeded(monkeypatch):
    # the demo users' passwords hashed at the suite's small cost (tests/factories.py), not eleven 0.1 s hashes a test
    monkeypatch.setattr(auth_services, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)
    return demo.seed_demo(companies=60)


def _signed_projects() -> list[Project]:
    return list(db.session.scalars(select(Project).where(Project.deleted_at.is_(None),
                                                         Project.stage.in_(stages.SIGNED_OR_LATER))))


def _departments() -> set[str]:
    return set(db.session.scalars(select(RefItem.key).where(RefItem.kind == "department")))


def _liaisons() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == Role.LIAISON.value).order_by(User.id)))


def test_the_zone_s_departments_are_in_the_reference_list(seeded):
    assert _departments() >= {"natural_resources", "housing_construction", "development_reform", "market_regulation",
                              "power_supply", "human_resources", "tax"}
    names = dict(db.session.execute(select(RefItem.key, RefItem.name).where(RefItem.kind == "department")).all())
    assert names["development_reform"] == "发改委" and names["market_regulation"] == "市场监管局"


def test_every_signed_project_has_its_nine_milestones_consistent_with_its_stages(seeded):
    today = today_in_zone()
    projects = _signed_projects()
    assert seeded["milestones"] == 9 * len(projects) and len(projects) >= 15
    assert {p.stage for p in projects} == set(stages.SIGNED_OR_LATER)
    departments = _departments()
    signed_at = {}
    for move in db.session.scalars(select(StageMove).where(StageMove.to_stage == "signed")
                                   .order_by(StageMove.at, StageMove.id)):
        signed_at.setdefault(move.project_id, move)
    for p in projects:
        rows = sorted(db.session.scalars(select(Milestone).where(Milestone.project_id == p.id)), key=lambda m: m.sort)
        assert [m.kind for m in rows] == list(MILESTONE_KEYS), p.name
        by_kind = {m.kind: m for m in rows}
        # construction, production and full capacity happened on the days the project reached those stages
        assert by_kind["construction_start"].actual_date == p.reached_under_construction, p.name
        assert by_kind["production_start"].actual_date == p.reached_in_production, p.name
        assert by_kind["full_capacity"].actual_date == p.reached_full_capacity, p.name
        planned = [m.planned_date for m in rows]
        assert None not in planned and planned == sorted(planned), p.name
        actual = [m.actual_date for m in rows if m.actual_date is not None]
        assert actual == sorted(actual) and all(p.reached_signed <= day <= today for day in actual), p.name
        # done from the start, without gaps: nothing is done after a milestone still to come
        done = [m.actual_date is not None for m in rows]
        assert done == sorted(done, reverse=True), p.name
        if p.stage == "full_capacity":
            assert all(done)
        assert all(m.department is None or m.department in departments for m in rows)
        assert all(m.owner_id == p.owner_id and m.deleted_at is None for m in rows)
        # the log dates the milestones to the signing, by whoever signed
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.object_type == "milestone", AuditEvent.object_id.in_([m.id for m in rows]))))
        assert len(events) == 9 and {e.action for e in events} == {"create"}
        assert {(as_aware(e.at), e.actor_id) for e in events} == {
            (as_aware(signed_at[p.id].at), signed_at[p.id].actor_id)}


def test_the_board_has_cells_of_every_status_on_the_key_projects_too(seeded):
    today, days = today_in_zone(), support.warning_days()
    rows = list(db.session.scalars(select(Milestone).join(Project, Project.id == Milestone.project_id)))
    statuses = Counter(support.milestone_status(m, on=today, days=days) for m in rows)
    assert set(statuses) == set(support.STATUSES), statuses
    assert statuses["yellow"] >= 4 and statuses["red"] >= 3 and statuses["green"] >= 3, statuses
    key = Counter(support.milestone_status(m, on=today, days=days) for m in rows if m.project.key_project)
    assert set(key) == set(support.STATUSES), key
    # the SQL status (the board's sort and counts) agrees with the Python one
    in_sql = Counter(db.session.scalars(select(support.status_expression(today, days)).select_from(Milestone)))
    assert in_sql == statuses
    # a late milestone says why, one coming due now and then what is being done
    assert all(m.note for m in rows if support.milestone_status(m, on=today, days=days) == "red")


def test_requests_routed_to_several_departments_with_their_handling_history(seeded):
    today, now = today_in_zone(), utcnow()
    requests = list(db.session.scalars(select(EnterpriseRequest)))
    assert seeded["requests"] == len(requests) >= 25
    statuses = Counter(r.status for r in requests)
    assert statuses["open"] >= 3 and statuses["in_progress"] >= 3 and statuses["resolved"] >= 2 \
        and statuses["closed"] >= 5, statuses
    open_departments = Counter(r.department for r in requests if r.status in OPEN_STATUSES)
    assert len(open_departments) >= 3, open_departments
    assert sum(1 for r in requests if r.status in OPEN_STATUSES and r.deadline < today) >= 1  # past deadline
    assert sum(1 for r in requests if r.status in OPEN_STATUSES and r.deadline >= today) >= 1
    departments = _departments()
    for r in requests:
        project = db.session.get(Project, r.project_id)
        assert project.stage in stages.SIGNED_OR_LATER and r.company_id == project.company_id
        assert r.department in departments and r.category in CATEGORY_KEYS and r.description
        assert r.created_by_id == project.owner_id and r.owner_id is not None
        owner = db.session.get(User, r.owner_id)
        assert owner.role != Role.LIAISON.value or owner.department == r.department
        created = as_aware(r.created_at)
        assert project.reached_signed < created.astimezone(zone()).date() <= r.deadline
        if r.status in ("resolved", "closed"):
            assert r.resolution and r.resolved_at is not None
        else:
            assert r.resolved_at is None
        if r.status == "closed":
            assert 1 <= r.satisfaction <= 5 and as_aware(r.closed_at) > as_aware(r.resolved_at)
        else:
            assert r.satisfaction is None and r.closed_at is None
        # the handling: recorded, then one status move after another, each later than the last, ending where it is
        events = list(db.session.scalars(select(RequestEvent).where(RequestEvent.request_id == r.id)
                                         .order_by(RequestEvent.at, RequestEvent.id)))
        assert events[0].action == "created" and events[0].from_status is None and events[0].to_status == "open"
        assert as_aware(events[0].at) == created and events[0].actor_id == r.created_by_id
        assert events[0].changes["department"] == [None, r.department]
        assert [e.from_status for e in events[1:]] == [e.to_status for e in events[:-1]]
        assert all(e.action == "status" and e.to_status in support.TRANSITIONS[e.from_status] for e in events[1:])
        assert events[-1].to_status == r.status and all(e.project_id == r.project_id for e in events)
        times = [as_aware(e.at) for e in events]
        assert times == sorted(set(times)) and times[-1] < now
        assert as_aware(r.updated_at) == times[-1] <= as_aware(project.last_activity_at)
        if r.status == "closed":
            assert events[-1].changes == {"satisfaction": [None, r.satisfaction]}
        # the log dates the request to its recording
        logged = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "request",
                                                            AuditEvent.object_id == r.id))
        assert as_aware(logged.at) == created and logged.actor_id == r.created_by_id


def test_liaisons_see_only_their_department_s_requests_and_milestones(seeded, client):
    liaisons = _liaisons()
    assert len(liaisons) >= 4 and len({u.department for u in liaisons}) == len(liaisons)
    assert set(seeded["users"]) >= {u.email for u in liaisons}  # in the sign-ins file with the others
    requests = list(db.session.scalars(select(EnterpriseRequest)))
    for liaison in liaisons:
        theirs = {r.id for r in requests if r.department == liaison.department}
        assert any(r.status in OPEN_STATUSES for r in requests if r.id in theirs), liaison.email
        assert any(r.status in ("resolved", "closed") for r in requests if r.id in theirs), liaison.email
        seen = set(db.session.scalars(select(EnterpriseRequest.id).where(support_access.request_scope(liaison))))
        assert seen == theirs
        milestones = set(db.session.scalars(select(Milestone.department).where(support_access.milestone_scope(
            liaison))))
        assert milestones == {liaison.department}, liaison.email
    # signed in with the seeded password: the request list shows their department's requests, not the others'
    liaison = liaisons[0]
    assert login(client, liaison, seeded["users"][liaison.email]).status_code == 302
    page = client.get("/requests?all=1").get_data(as_text=True)
    mine = {r.description for r in requests if r.department == liaison.department}
    others = {r.description for r in requests if r.department != liaison.department} - mine
    assert mine and others and all(d in page for d in mine) and not any(d in page for d in others)
    other = next(r for r in requests if r.department != liaison.department)
    assert client.get(f"/requests/{other.id}").status_code == 404
    assert client.get(f"/projects/{other.project_id}").status_code == 404  # a record outside their scope


def test_loading_again_adds_no_board_data(seeded):
    def counts():
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (Milestone, EnterpriseRequest, RequestEvent, AuditEvent, User))

    before = counts()
    again = demo.seed_demo(companies=60)
    assert again["milestones"] == 0 and again["requests"] == 0 and not again["users"]
    assert counts() == before


# --- the commands ----------------------------------------------------------------------------------------------------

def test_backfill_milestones_gives_signed_projects_their_milestones_once(app):
    officer = make_user()
    company = make_company(owner=officer)
    signed = make_project(company, owner=officer, stage="signed")  # written directly: no milestones yet
    building = make_project(company, owner=officer, stage="under_construction")
    lead = make_project(company, owner=officer, stage="lead")
    make_project(company, owner=officer, stage="in_production", deleted=True)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "backfill-milestones"])
    assert result.exit_code == 0, result.output
    assert "2 projects got their standard milestones." in result.output
    db.session.rollback()
    per_project = dict(db.session.execute(select(Milestone.project_id, func.count()).group_by(Milestone.project_id))
                       .all())
    assert per_project == {signed.id: 9, building.id: 9} and lead.id not in per_project
    again = runner.invoke(args=["crm", "backfill-milestones"])
    assert again.exit_code == 0 and "0 projects got their standard milestones." in again.output
    assert db.session.scalar(select(func.count()).select_from(Milestone)) == 18


def test_seed_demo_adds_new_users_sign_ins_to_the_earlier_ones(app, monkeypatch):
    """A demo loaded before the liaisons existed: loading the newer demo lists them with the earlier users, whose
    passwords are kept (they exist nowhere else)."""
    monkeypatch.setattr(auth_services, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)
    path = Path(app.instance_path) / "demo-credentials.txt"
    path.unlink(missing_ok=True)
    runner = app.test_cli_runner()
    staff = [u for u in demo.DEMO_USERS if u[2] != Role.LIAISON]
    with monkeypatch.context() as older:
        older.setattr(demo, "DEMO_USERS", staff)
        first = runner.invoke(args=["crm", "seed-demo", "--companies", "20"])
    assert first.exit_code == 0, first.output
    before = path.read_text(encoding="utf-8").splitlines()
    assert len(before) == 1 + len(staff)
    second = runner.invoke(args=["crm", "seed-demo", "--companies", "20"])
    assert second.exit_code == 0, second.output
    assert "new milestones" in second.output
    after = path.read_text(encoding="utf-8").splitlines()
    try:
        assert after[:len(before)] == before
        assert [line.split()[0] for line in after[1:]] == [u[0] for u in staff] + [
            u[0] for u in demo.DEMO_USERS if u[2] == Role.LIAISON]
        # every listed password signs its user in, the earlier ones too
        db.session.rollback()
        for email, password in (line.split() for line in after[1:]):
            user = db.session.scalar(select(User).where(User.email == email))
            assert check_password_hash(user.password_hash, password), email
    finally:
        path.unlink(missing_ok=True)
