"""Integration tests of the pipeline's services and read paths (crm/projects/services.py, queries.py) and of the
project access rules (crm/auth/access.py), on the suite's database: SQLite by default, PostgreSQL with
TEST_DATABASE_URL.

Every refused call is checked to have written nothing: the rows of every table are hashed before and after.
"""
import hashlib
from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.auth import access
from crm.companies import services as companies
from crm.companies.models import Company
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.projects import queries, services, stages
from crm.projects.models import REACHED, FundsEntry, Project, SavedView, StageMove

from ..factories import make_company, make_project, make_reference, make_team, make_user

# --- helpers ----------------------------------------------------------------------------------------------------------


def snapshot() -> tuple[dict, str]:
    """Row counts and a hash of every row of every table (audit log included): "nothing was written"."""
    db.session.rollback()
    counts, digest = {}, hashlib.sha256()
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        counts[table.name] = len(rows)
        digest.update(f"{table.name}:{[tuple(map(repr, r)) for r in rows]}".encode())
    db.session.rollback()
    return counts, digest.hexdigest()


def refused(error, call, *args, **kwargs):
    """Call and expect `error`; assert the database is exactly as before. Returns the exception."""
    before = snapshot()
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    db.session.rollback()
    assert snapshot() == before, f"{call.__name__} wrote something although it raised {error.__name__}"
    return caught.value


def invalid(fields, call, *args, **kwargs) -> Invalid:
    """Expect Invalid naming exactly these fields, with nothing written."""
    error = refused(Invalid, call, *args, **kwargs)
    assert set(error.fields) == set(fields), error.fields
    assert all(error.fields[f] and all(isinstance(m, str) and m for m in error.fields[f]) for f in fields)
    return error


def fresh(project_id: int) -> Project:
    db.session.rollback()
    return db.session.get(Project, project_id)


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def moves_of(project_id: int) -> list[StageMove]:
    db.session.rollback()
    return queries.moves(project_id)


def noon(day) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=zone())


def in_zone(value: datetime) -> datetime:
    return as_aware(value).astimezone(zone())


@pytest.fixture
def w() -> SimpleNamespace:
    """Team 1 (officers a, a2), team 2 (officer b), an officer with no team, a manager, an admin, a liaison."""
    make_reference()
    team1, team2 = make_team("一组"), make_team("二组")
    ns = SimpleNamespace(team1=team1, team2=team2)
    ns.a = make_user(team=team1, name="王一")
    ns.a2 = make_user(team=team1, name="王二")
    ns.b = make_user(team=team2, name="李三")
    ns.loner = make_user(name="独行")
    ns.manager = make_user("manager", name="赵局")
    ns.admin = make_user("admin", name="管理员")
    ns.liaison = make_user("liaison", name="联络员", department="natural_resources")
    ns.retired = make_user(team=team1, name="已离职", active=False)
    ns.company_a = make_company("一组东莞宏达电子有限公司", owner=ns.a)
    ns.company_b = make_company("二组深圳华信电子有限公司", owner=ns.b)
    ns.pool = make_company("公海赣州绿源食品有限公司")
    ns.gone = make_company("已删除科技有限公司", owner=ns.a, deleted=True)
    return ns


def new(w, actor=None, **data):
    """Create through the service: a project of company_a by officer a unless said."""
    values = {"company_id": w.company_a.id, "name": "年产5万吨新材料项目", **data}
    return services.create_project(values, actor=actor or w.a)


def past(project: Project, days: int) -> Project:
    """Pretend the project has sat in its stage for `days` days (entered, and reached, that long ago)."""
    project = db.session.get(Project, project.id)
    then = utcnow() - timedelta(days=days)
    project.stage_changed_at = then
    setattr(project, REACHED[project.stage], in_zone(then).date())
    for move in db.session.scalars(select(StageMove).where(StageMove.project_id == project.id)):
        move.at = then
    db.session.commit()
    return project


# --- create -----------------------------------------------------------------------------------------------------------

def test_create_with_the_defaults(w):
    before, _ = snapshot()
    project = new(w)
    assert project.stage == "lead" and project.version == 1
    assert project.owner_id == w.a.id and project.first_contact_id == w.a.id
    assert project.funds_in_place == 0 and project.lost_reason == "" and project.code_name == ""
    assert project.key_project is False and project.confidential is False
    assert project.cluster is None and project.park is None and project.planned_investment is None
    assert project.stage_dates == {"lead": today_in_zone()}
    assert project.deleted_at is None
    after, _ = snapshot()
    assert after["project"] == before["project"] + 1 and after["stage_move"] == before["stage_move"] + 1
    assert after["company"] == before["company"]
    [move] = moves_of(project.id)
    assert (move.from_stage, move.to_stage, move.actor_id) == (None, "lead", w.a.id)
    creations = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "project",
                                                            AuditEvent.object_id == project.id)).all()
    assert [(e.action, e.actor_id) for e in creations] == [("create", w.a.id)]
    company = db.session.get(Company, w.company_a.id)
    assert abs(as_aware(company.last_activity_at) - as_aware(project.last_activity_at)) < timedelta(seconds=5)


def test_create_with_every_field(w):
    project = services.create_project({
        "company_id": str(w.company_a.id), "name": "  智能终端生产基地 ", "cluster": "electronic_info",
        "park": "dunhou",
        "planned_investment": "50,000", "fixed_asset_investment": "32000.5", "expected_output": "80000",
        "expected_tax": "3000", "jobs": "600", "land_mu": "120.5", "description": "手机整机\n和配件",
        "source": "event", "key_project": "on", "confidential": "y", "code_name": "蓝鲸",
        "planned_start": "2025-03-01", "planned_production": "2026-03-01", "notes": "首谈于深圳推介会",
    }, actor=w.a)
    stored = fresh(project.id)
    assert stored.name == "智能终端生产基地" and stored.cluster == "electronic_info" and stored.park == "dunhou"
    assert stored.planned_investment == Decimal("50000.00")
    assert stored.fixed_asset_investment == Decimal("32000.50")
    assert (stored.expected_output, stored.expected_tax) == (Decimal("80000.00"), Decimal("3000.00"))
    assert stored.jobs == 600 and stored.land_mu == Decimal("120.50")
    assert stored.description == "手机整机\n和配件" and stored.source == "event"
    assert stored.key_project is True and stored.confidential is True and stored.code_name == "蓝鲸"
    assert str(stored.planned_start) == "2025-03-01" and str(stored.planned_production) == "2026-03-01"


@pytest.mark.parametrize("stage", ["negotiating", "signed", "under_construction", "full_capacity", "on_hold"])
def test_create_at_a_later_stage_records_that_stage_reached_today(w, stage):
    project = services.create_project({"company_id": w.company_a.id, "name": "签约即落地"}, actor=w.a, stage=stage)
    assert project.stage == stage and project.stage_dates == {stage: today_in_zone()}
    assert [(m.from_stage, m.to_stage) for m in moves_of(project.id)] == [(None, stage)]


def test_create_as_lost_needs_a_reason_and_keeps_it(w):
    data = {"company_id": w.company_a.id, "name": "流失项目"}
    invalid(["lost_reason"], services.create_project, data, actor=w.a, stage="lost")
    invalid(["lost_reason"], services.create_project, data, actor=w.a, stage="lost", lost_reason="  ")
    invalid(["stage"], services.create_project, data, actor=w.a, stage="finished")
    project = services.create_project(data, actor=w.a, stage="lost", lost_reason="选择了赣州")
    assert project.lost_reason == "选择了赣州"
    [move] = moves_of(project.id)
    assert move.to_stage == "lost" and move.reason == "选择了赣州"
    # a reason given with another stage is not kept as a lost reason
    other = services.create_project(data, actor=w.a, stage="lead", lost_reason="ignored")
    assert other.lost_reason == ""


def test_an_officer_cannot_give_a_new_project_to_someone_else(w):
    for other in (w.a2, w.b, w.manager):
        error = refused(Forbidden, services.create_project, {"company_id": w.company_a.id, "name": "转交"},
                        actor=w.a, owner_id=other.id)
        assert error.status == 403
    # naming oneself is fine, as a number, as the text of a form, or as "self"
    for me in (w.a.id, str(w.a.id), "self", "", None):
        project = services.create_project({"company_id": w.company_a.id, "name": "自己的"}, actor=w.a, owner_id=me)
        assert project.owner_id == w.a.id


def test_a_manager_gives_a_new_project_to_an_officer(w):
    project = services.create_project({"company_id": w.company_b.id, "name": "分配给李三"}, actor=w.manager,
                                      owner_id=w.b.id, first_contact_id=w.b.id)
    assert project.owner_id == w.b.id and project.first_contact_id == w.b.id
    mine = services.create_project({"company_id": w.pool.id, "name": "局长自己跟"}, actor=w.manager)
    assert mine.owner_id == w.manager.id and mine.first_contact_id == w.manager.id
    # only active officers and managers can hold a project
    for bad in (w.liaison.id, w.admin.id, w.retired.id, 987654, "abc", -1, 2**40, True):
        invalid(["owner_id"], services.create_project, {"company_id": w.pool.id, "name": "坏负责人"},
                actor=w.manager, owner_id=bad)


def test_an_admin_must_name_the_owner(w):
    data = {"company_id": w.pool.id, "name": "管理员录入"}
    invalid(["owner_id"], services.create_project, data, actor=w.admin)
    invalid(["owner_id"], services.create_project, data, actor=w.admin, owner_id=w.admin.id)
    project = services.create_project(data, actor=w.admin, owner_id=w.a.id)
    assert project.owner_id == w.a.id and project.first_contact_id == w.a.id  # the admin only typed it in


def test_a_liaison_cannot_create_projects(w):
    refused(Forbidden, services.create_project, {"company_id": w.pool.id, "name": "联络员"}, actor=w.liaison)


def test_first_contact_credit_stays_when_a_manager_reassigns(w):
    project = new(w)
    moved = services.reassign_project(project.id, w.b.id, actor=w.manager, version=project.version)
    stored = fresh(moved.id)
    assert stored.owner_id == w.b.id and stored.first_contact_id == w.a.id and stored.version == 2
    # officers do not reassign, not even within their team, and not their own project
    refused(Forbidden, services.reassign_project, project.id, w.a2.id, actor=w.b, version=stored.version)
    refused(Forbidden, services.reassign_project, project.id, w.a.id, actor=w.a, version=stored.version)
    refused(Conflict, services.reassign_project, project.id, w.a.id, actor=w.manager, version=1)
    invalid(["owner_id"], services.reassign_project, project.id, w.liaison.id, actor=w.manager, version=2)
    invalid(["owner_id"], services.reassign_project, project.id, w.retired.id, actor=w.manager, version=2)
    refused(NotFound, services.reassign_project, 987654, w.a.id, actor=w.manager, version=1)
    services.reassign_project(project.id, w.a2.id, actor=w.manager, version=2)
    stored = fresh(project.id)
    assert stored.owner_id == w.a2.id and stored.first_contact_id == w.a.id


def _base(w) -> dict:
    return {"company_id": w.company_a.id, "name": "校验项目"}


BAD_CREATE = [
    ({"planned_investment": "-5"}, "planned_investment"),
    ({"planned_investment": "abc"}, "planned_investment"),
    ({"planned_investment": "NaN"}, "planned_investment"),
    ({"planned_investment": "Infinity"}, "planned_investment"),
    ({"planned_investment": "1E+999999999"}, "planned_investment"),
    ({"expected_output": "1e20"}, "expected_output"),
    ({"expected_tax": "-0.01"}, "expected_tax"),
    ({"fixed_asset_investment": [1]}, "fixed_asset_investment"),
    ({"land_mu": "-3"}, "land_mu"),
    ({"land_mu": "2000000"}, "land_mu"),
    ({"jobs": "-1"}, "jobs"),
    ({"jobs": "many"}, "jobs"),
    ({"jobs": "1.5"}, "jobs"),
    ({"planned_investment": "100", "fixed_asset_investment": "100.01"}, "fixed_asset_investment"),
    ({"planned_start": "2025-06-01", "planned_production": "2025-05-31"}, "planned_production"),
    ({"planned_start": "2024-02-30"}, "planned_start"),
    ({"confidential": True}, "code_name"),
    ({"confidential": "on", "code_name": "   "}, "code_name"),
    ({"confidential": "perhaps"}, "confidential"),
    ({"cluster": "aerospace_on_mars"}, "cluster"),
    ({"park": "nowhere"}, "park"),
    ({"source": "spam"}, "source"),
    ({"park": 5}, "park"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "项" * 201}, "name"),
    ({"company_id": 987654}, "company_id"),
    ({"company_id": "abc"}, "company_id"),
    ({"company_id": 0}, "company_id"),
    ({"company_id": 2**40}, "company_id"),
    ({"company_id": None}, "company_id"),
]


def test_create_refuses_bad_input_and_writes_nothing(w):
    # one test for the table (each test on PostgreSQL pays for a clean database); every failing row is reported
    failures = []
    for override, field in BAD_CREATE:
        try:
            invalid([field], services.create_project, {**_base(w), **override}, actor=w.a)
        except Exception as exc:  # noqa: BLE001  (collected, then asserted on)
            db.session.rollback()
            failures.append(f"{override}: {exc!r}"[:300])
    assert failures == []


def test_create_refuses_a_company_the_officer_may_not_see(w):
    # another team's company, and a deleted one, are "not in the book" for this officer (no hint that they exist)
    for company in (w.company_b, w.gone):
        invalid(["company_id"], services.create_project, {"company_id": company.id, "name": "别人的企业"},
                actor=w.a)
    # a manager sees every live company, but not a deleted one
    services.create_project({"company_id": w.company_b.id, "name": "局长录入"}, actor=w.manager)
    invalid(["company_id"], services.create_project, {"company_id": w.gone.id, "name": "已删"}, actor=w.manager)
    # the public pool is everyone's
    services.create_project({"company_id": w.pool.id, "name": "公海企业项目"}, actor=w.b)


def test_create_reports_every_bad_field_at_once(w):
    error = invalid(["name", "planned_investment", "cluster", "company_id", "code_name"],
                    services.create_project, {"company_id": 987654, "name": "", "planned_investment": "-1",
                                              "cluster": "x", "confidential": True}, actor=w.a)
    assert error.status == 422


def test_create_with_a_new_company_writes_both_or_neither(w):
    invalid(["planned_investment"], services.create_project, {"name": "新企业项目", "planned_investment": "-1"},
            actor=w.a, new_company={"name": "新来的科技有限公司"})
    assert count(Company, Company.name == "新来的科技有限公司") == 0
    invalid(["company.name"], services.create_project, {"name": "新企业项目"}, actor=w.a, new_company={"name": ""})
    project = services.create_project({"name": "新企业项目"}, actor=w.a, new_company={"name": "新来的科技有限公司"})
    company = db.session.scalar(select(Company).where(Company.name == "新来的科技有限公司"))
    assert company is not None and project.company_id == company.id and company.owner_id == w.a.id


# --- update -----------------------------------------------------------------------------------------------------------

def test_update_changes_the_given_fields_and_bumps_the_version(w):
    project = new(w, planned_investment="1000", notes="旧备注")
    services.update_project(project.id, {"notes": "新备注", "fixed_asset_investment": "800", "park": "fenghuang"},
                            actor=w.a, version=1)
    stored = fresh(project.id)
    assert stored.version == 2 and stored.notes == "新备注" and stored.park == "fenghuang"
    assert stored.fixed_asset_investment == Decimal("800.00") and stored.planned_investment == Decimal("1000.00")
    # a teammate edits too
    services.update_project(project.id, {"key_project": True}, actor=w.a2, version=2)
    assert fresh(project.id).key_project is True and fresh(project.id).version == 3


def test_update_refuses_bad_input_stale_versions_and_managed_fields(w):
    project = new(w, planned_investment="1000")
    pid = project.id
    refused(Conflict, services.update_project, pid, {"notes": "过时"}, actor=w.a, version=0)
    refused(Conflict, services.update_project, pid, {"notes": "过时"}, actor=w.a, version=None)
    refused(Conflict, services.update_project, pid, {"notes": "过时"}, actor=w.a, version=True)
    # the cross-field rules read the stored values for fields not sent
    invalid(["fixed_asset_investment"], services.update_project, pid, {"fixed_asset_investment": "1000.01"},
            actor=w.a, version=1)
    invalid(["code_name"], services.update_project, pid, {"confidential": True}, actor=w.a, version=1)
    invalid(["planned_investment"], services.update_project, pid, {"planned_investment": "-1"}, actor=w.a,
            version=1)
    invalid(["company_id"], services.update_project, pid, {"company_id": w.company_b.id}, actor=w.a, version=1)
    invalid(["company_id"], services.update_project, pid, {"company_id": 987654}, actor=w.a, version=1)
    for managed, value in (("stage", "signed"), ("owner_id", w.b.id), ("funds_in_place", "999"),
                           ("lost_reason", "x"), ("stage_dates", {})):
        invalid([managed], services.update_project, pid, {managed: value}, actor=w.a, version=1)
    # only a manager moves the first-contact credit
    refused(Forbidden, services.update_project, pid, {"first_contact_id": w.a2.id}, actor=w.a, version=1)
    invalid(["first_contact_id"], services.update_project, pid, {"first_contact_id": w.liaison.id},
            actor=w.manager, version=1)
    services.update_project(pid, {"first_contact_id": w.a2.id}, actor=w.manager, version=1)
    stored = fresh(pid)
    assert stored.first_contact_id == w.a2.id and stored.owner_id == w.a.id and stored.version == 2


# --- stage moves ------------------------------------------------------------------------------------------------------

def test_a_forward_move_is_recorded_with_who_when_from_to_and_note(w):
    project = new(w)
    started = utcnow()
    services.move_stage(project.id, "negotiating", actor=w.a2, version=1, note="<b>第二次</b>面谈")
    stored = fresh(project.id)
    assert stored.stage == "negotiating" and stored.version == 2
    assert stored.reached_negotiating == today_in_zone() and stored.reached_lead == today_in_zone()
    assert as_aware(stored.stage_changed_at) >= started
    first, move = moves_of(project.id)
    assert (first.from_stage, first.to_stage) == (None, "lead")
    assert (move.from_stage, move.to_stage, move.actor_id, move.note) == ("lead", "negotiating", w.a2.id,
                                                                         "<b>第二次</b>面谈")
    assert as_aware(move.at) == as_aware(stored.stage_changed_at) and move.reason == ""
    assert as_aware(move.recorded_at) >= started
    # skipping ahead is fine: signed on the spot at an event
    services.move_stage(project.id, "signed", actor=w.a, version=2)
    assert fresh(project.id).stage == "signed"


def test_a_move_back_is_recorded_and_keeps_the_first_reached_dates(w):
    project = past(new(w), 30)
    lead_day, v = project.reached_lead, project.version
    d = today_in_zone()
    services.move_stage(project.id, "negotiating", actor=w.a, version=v, on=d - timedelta(days=20))
    services.move_stage(project.id, "signed", actor=w.a, version=v + 1, on=str(d - timedelta(days=10)))
    services.move_stage(project.id, "negotiating", actor=w.a, version=v + 2, note="对方董事会否决",
                        on=d - timedelta(days=5))
    services.move_stage(project.id, "signed", actor=w.a, version=v + 3)
    stored = fresh(project.id)
    assert stored.stage == "signed"
    # each stage's date is the first time it was reached, whatever happened after
    assert stored.stage_dates == {"lead": lead_day, "negotiating": d - timedelta(days=20),
                                  "signed": d - timedelta(days=10)}
    path = [(m.from_stage, m.to_stage) for m in moves_of(project.id)]
    assert path == [(None, "lead"), ("lead", "negotiating"), ("negotiating", "signed"), ("signed", "negotiating"),
                    ("negotiating", "signed")]
    assert [stages.is_backwards(f, t) for f, t in path[1:]] == [False, False, True, False]
    # a move dated in the past happened at noon of that day (zone time); today's moves happened now
    at = [in_zone(m.at) for m in moves_of(project.id)]
    assert at[1:4] == [noon(d - timedelta(days=20)), noon(d - timedelta(days=10)), noon(d - timedelta(days=5))]
    assert in_zone(stored.stage_changed_at) == at[4] and at[4].date() == d
    assert services.days_in_stage(stored) == 0


def test_a_move_dated_in_the_past_sets_that_day(w):
    project = past(new(w), 10)
    day = today_in_zone() - timedelta(days=3)
    services.move_stage(project.id, "signed", actor=w.a, version=project.version, on=day.isoformat())
    stored = fresh(project.id)
    assert stored.reached_signed == day and in_zone(stored.stage_changed_at) == noon(day)
    assert services.days_in_stage(stored) == 3
    [_, move] = moves_of(project.id)
    assert in_zone(move.at) == noon(day) and as_aware(move.recorded_at) > as_aware(move.at)
    # today's date is "now"
    services.move_stage(project.id, "under_construction", actor=w.a, version=stored.version,
                        on=today_in_zone().isoformat())
    stored = fresh(project.id)
    assert stored.reached_under_construction == today_in_zone()
    assert utcnow() - as_aware(stored.stage_changed_at) < timedelta(minutes=1)


def test_move_dates_in_the_future_or_before_the_last_move_are_refused(w):
    project = past(new(w), 10)
    pid, v = project.id, project.version
    today = today_in_zone()
    invalid(["date"], services.move_stage, pid, "signed", actor=w.a, version=v, on=today + timedelta(days=1))
    invalid(["date"], services.move_stage, pid, "signed", actor=w.a, version=v, on=today - timedelta(days=11))
    for junk in ("yesterday", "2024-13-01", "1900-01-01", 20240101):
        invalid(["date"], services.move_stage, pid, "signed", actor=w.a, version=v, on=junk)
    services.move_stage(pid, "signed", actor=w.a, version=v, on=today - timedelta(days=4))
    invalid(["date"], services.move_stage, pid, "under_construction", actor=w.a, version=v + 1,
            on=today - timedelta(days=5))
    services.move_stage(pid, "under_construction", actor=w.a, version=v + 1, on=today - timedelta(days=4))
    assert fresh(pid).stage == "under_construction"


def test_side_states_and_back(w):
    project = new(w)
    services.move_stage(project.id, "on_hold", actor=w.a, version=1, note="等待环评")
    services.move_stage(project.id, "negotiating", actor=w.a, version=2)
    stored = fresh(project.id)
    assert stored.stage == "negotiating" and stored.reached_on_hold == today_in_zone()
    assert [m.to_stage for m in moves_of(project.id)] == ["lead", "on_hold", "negotiating"]


def test_lost_needs_a_reason_and_the_reason_goes_when_it_leaves_lost(w):
    project = new(w)
    invalid(["reason"], services.move_stage, project.id, "lost", actor=w.a, version=1)
    invalid(["reason"], services.move_stage, project.id, "lost", actor=w.a, version=1, reason=" \n ")
    services.move_stage(project.id, "lost", actor=w.a, version=1, reason="<i>选择了赣州</i>")
    stored = fresh(project.id)
    assert stored.stage == "lost" and stored.lost_reason == "<i>选择了赣州</i>"
    assert moves_of(project.id)[-1].reason == "<i>选择了赣州</i>"
    assert not services.is_stale(stored, now=utcnow() + timedelta(days=999))
    services.move_stage(project.id, "negotiating", actor=w.a, version=2, note="重新接洽")
    stored = fresh(project.id)
    assert stored.stage == "negotiating" and stored.lost_reason == "" and stored.reached_lost == today_in_zone()


def test_same_stage_unknown_stage_and_stale_versions_are_refused(w):
    project = new(w)
    pid = project.id
    invalid(["stage"], services.move_stage, pid, "lead", actor=w.a, version=1)
    for bad in ("finished", "", None, "LEAD", 3, ["signed"]):
        invalid(["stage"], services.move_stage, pid, bad, actor=w.a, version=1)
    error = refused(Conflict, services.move_stage, pid, "signed", actor=w.a, version=0)
    assert error.status == 409 and error.message
    services.update_project(pid, {"notes": "别人先改了"}, actor=w.a2, version=1)
    refused(Conflict, services.move_stage, pid, "signed", actor=w.a, version=1)
    services.move_stage(pid, "signed", actor=w.a, version=2)
    assert fresh(pid).stage == "signed" and fresh(pid).version == 3


def test_who_may_move_a_project(w):
    ordinary = new(w)
    secret = new(w, confidential=True, code_name="白鹭")
    deleted = make_project(w.company_a, owner=w.a, deleted=True)
    for actor in (w.b, w.loner):
        refused(Forbidden, services.move_stage, ordinary.id, "signed", actor=actor, version=1)
        refused(NotFound, services.move_stage, secret.id, "signed", actor=actor, version=1)
    for actor in (w.liaison,):
        refused(NotFound, services.move_stage, ordinary.id, "signed", actor=actor, version=1)
    for actor in (w.a, w.manager, w.b):
        refused(NotFound, services.move_stage, deleted.id, "signed", actor=actor, version=deleted.version)
    refused(NotFound, services.move_stage, 987654, "signed", actor=w.manager, version=1)
    services.move_stage(secret.id, "signed", actor=w.a2, version=1)
    services.move_stage(secret.id, "under_construction", actor=w.manager, version=2)
    services.move_stage(ordinary.id, "signed", actor=w.admin, version=1)
    assert (fresh(secret.id).stage, fresh(ordinary.id).stage) == ("under_construction", "signed")


# --- history ----------------------------------------------------------------------------------------------------------

def test_history_lists_moves_and_changes_newest_first(w):
    project = new(w, notes="初次")
    pid = project.id
    services.update_project(pid, {"notes": "第二次拜访"}, actor=w.a, version=1)
    services.move_stage(pid, "negotiating", actor=w.a2, version=2, note="<script>alert(1)</script>")
    entry = services.add_funds(pid, {"received_on": today_in_zone(), "amount": "500"}, actor=w.a)
    services.reassign_project(pid, w.b.id, actor=w.manager, version=4)
    db.session.rollback()
    items = queries.history(pid)
    assert [(i["kind"], i.get("action"), i.get("object_type")) for i in items] == [
        ("change", "update", "project"),  # reassign
        ("change", "create", "funds"),
        ("stage", None, None),  # lead → negotiating (its own row update is not listed twice)
        ("change", "update", "project"),  # notes
        ("change", "create", "project"),
        ("stage", None, None),  # created at lead
    ]
    reassign, funds, move, notes, created, first = items
    assert reassign["changes"] == {"owner_id": [w.a.id, w.b.id]} and reassign["actor"].id == w.manager.id
    assert funds["label"] == entry.name and funds["actor"].id == w.a.id
    assert (move["from_stage"], move["to_stage"], move["note"]) == ("lead", "negotiating",
                                                                   "<script>alert(1)</script>")
    assert move["actor"].id == w.a2.id
    assert notes["changes"] == {"notes": ["初次", "第二次拜访"]}
    assert created["changes"]["name"] == [None, "年产5万吨新材料项目"]
    assert (first["from_stage"], first["to_stage"], first["actor"].id) == (None, "lead", w.a.id)
    # nothing of the stage machinery leaks into the changes (the stage path shows it)
    for item in items:
        if item["kind"] == "change":
            assert not set(item["changes"]) & queries.STAGE_FIELDS
    # the stage path alone, oldest first
    assert [m.to_stage for m in queries.moves(pid)] == ["lead", "negotiating"]


def test_history_of_a_past_dated_move_sorts_by_when_it_happened(w):
    project = past(new(w), 10)
    v = project.version
    services.update_project(project.id, {"notes": "今天的修改"}, actor=w.a, version=v)
    services.move_stage(project.id, "signed", actor=w.a, version=v + 1,
                        on=today_in_zone() - timedelta(days=2))
    db.session.rollback()
    kinds = [(i["kind"], i.get("to_stage")) for i in queries.history(project.id)]
    # the signing two days ago comes after (older than) today's note change
    assert kinds.index(("change", None)) < kinds.index(("stage", "signed"))


# --- funds in place ---------------------------------------------------------------------------------------------------

def test_funds_in_place_is_the_running_total_of_its_entries(w):
    project = new(w)
    pid = project.id
    today = today_in_zone()
    services.add_funds(pid, {"received_on": today - timedelta(days=30), "amount": "1,000", "note": "首期"}, actor=w.a)
    services.add_funds(pid, {"received_on": str(today), "amount": "250.5"}, actor=w.a2)
    assert fresh(pid).funds_in_place == Decimal("1250.50")
    correction = services.add_funds(pid, {"received_on": today, "amount": "-200", "note": "冲销重复录入"}, actor=w.a)
    assert fresh(pid).funds_in_place == Decimal("1050.50")
    invalid(["amount"], services.add_funds, pid, {"received_on": today, "amount": "-1050.51"}, actor=w.a)
    services.add_funds(pid, {"received_on": today, "amount": "-1050.50"}, actor=w.manager)  # exactly zero is fine
    assert fresh(pid).funds_in_place == Decimal("0.00")
    entries = queries.funds(pid)
    assert len(entries) == 4 and sum(e.amount for e in entries) == 0
    assert entries[-1].note == "首期"  # newest day first
    # removing the correction raises the total again; the total is always the sum of what is left
    services.delete_funds(correction.id, actor=w.a)
    stored = fresh(pid)
    assert stored.funds_in_place == Decimal("200.00")
    assert stored.funds_in_place == sum(e.amount for e in queries.funds(pid))


def test_funds_refuse_bad_entries_and_write_nothing(w):
    project = new(w)
    pid = project.id
    today = today_in_zone()
    for data, field in (({"received_on": today, "amount": "-1"}, "amount"),  # below zero
                        ({"received_on": today, "amount": "0"}, "amount"),
                        ({"received_on": today, "amount": "0.001"}, "amount"),  # rounds to zero
                        ({"received_on": today, "amount": "abc"}, "amount"),
                        ({"received_on": today, "amount": "NaN"}, "amount"),
                        ({"received_on": today, "amount": "1e30"}, "amount"),
                        ({"received_on": today}, "amount"),
                        ({"amount": "10"}, "received_on"),
                        ({"received_on": today + timedelta(days=1), "amount": "10"}, "received_on"),
                        ({"received_on": "2024-02-30", "amount": "10"}, "received_on")):
        invalid([field], services.add_funds, pid, data, actor=w.a)


def test_funds_total_cannot_overflow_the_column(w):
    """Two entries at the per-entry maximum would give a total the column cannot hold: a clear error, not a 500."""
    project = new(w)
    services.add_funds(project.id, {"received_on": today_in_zone(), "amount": "999999999999"}, actor=w.a)
    invalid(["amount"], services.add_funds, project.id, {"received_on": today_in_zone(), "amount": "1"}, actor=w.a)
    assert fresh(project.id).funds_in_place == Decimal("999999999999.00")


def test_removing_an_entry_that_would_leave_the_total_below_zero_is_refused(w):
    project = new(w)
    pid = project.id
    today = today_in_zone()
    income = services.add_funds(pid, {"received_on": today, "amount": "100"}, actor=w.a)
    services.add_funds(pid, {"received_on": today, "amount": "-60"}, actor=w.a)
    error = refused(Conflict, services.delete_funds, income.id, actor=w.a)
    assert error.status == 409
    assert fresh(pid).funds_in_place == Decimal("40.00")


def test_who_may_add_and_remove_funds(w):
    ordinary, secret = new(w), new(w, confidential=True, code_name="白鹭")
    today = today_in_zone()
    entry = services.add_funds(ordinary.id, {"received_on": today, "amount": "10"}, actor=w.a)
    hidden = services.add_funds(secret.id, {"received_on": today, "amount": "10"}, actor=w.a)
    refused(Forbidden, services.add_funds, ordinary.id, {"received_on": today, "amount": "10"}, actor=w.b)
    refused(NotFound, services.add_funds, secret.id, {"received_on": today, "amount": "10"}, actor=w.b)
    refused(NotFound, services.add_funds, ordinary.id, {"received_on": today, "amount": "10"}, actor=w.liaison)
    refused(Forbidden, services.delete_funds, entry.id, actor=w.b)
    refused(NotFound, services.delete_funds, hidden.id, actor=w.b)
    refused(NotFound, services.delete_funds, 987654, actor=w.manager)
    services.delete_funds(hidden.id, actor=w.a2)
    assert count(FundsEntry) == 1 and fresh(secret.id).funds_in_place == 0


# --- delete -----------------------------------------------------------------------------------------------------------

def test_delete_is_soft_and_hides_the_project_everywhere(w):
    project = new(w)
    pid = project.id
    services.move_stage(pid, "negotiating", actor=w.a, version=1)
    refused(Forbidden, services.delete_project, pid, actor=w.b)
    refused(Conflict, services.delete_project, pid, actor=w.a, version=1)
    services.delete_project(pid, actor=w.a2, version=2)
    stored = fresh(pid)
    assert stored is not None and stored.deleted_at is not None and stored.deleted_by_id == w.a2.id
    assert count(StageMove, StageMove.project_id == pid) == 2  # its history stays
    for user in (w.a, w.manager):
        with pytest.raises(NotFound):
            access.visible_project(pid, user)
        assert pid not in {p.id for p in db.session.scalars(queries.filtered(user, queries.ProjectFilters()))}
        assert queries.company_projects(user, w.company_a.id) == []
        assert sum(c.count for c in queries.board(user, queries.ProjectFilters())) == 0
    refused(NotFound, services.delete_project, pid, actor=w.manager)
    refused(NotFound, services.update_project, pid, {"notes": "x"}, actor=w.manager, version=stored.version)


def test_a_company_with_live_projects_cannot_be_deleted(w):
    project = new(w)
    refused(Conflict, companies.delete_company, w.company_a.id, actor=w.a)
    services.delete_project(project.id, actor=w.a)
    companies.delete_company(w.company_a.id, actor=w.a)
    assert db.session.get(Company, w.company_a.id).deleted_at is not None


# --- visibility per role ----------------------------------------------------------------------------------------------

@pytest.fixture
def world(w):
    """Projects of every kind of holder, in several stages, some confidential, one deleted."""
    spec = [  # owner, company, stage, confidential, planned investment
        ("a", "company_a", "lead", False, 100), ("a", "company_a", "signed", True, 2000),
        ("a2", "pool", "negotiating", True, 300), ("a2", "pool", "signed", False, 50),
        ("b", "company_b", "lead", False, 700), ("b", "company_b", "negotiating", True, 900),
        ("b", "pool", "lost", True, None), ("loner", "pool", "on_hold", True, 40),
        ("manager", "pool", "full_capacity", True, 10000), ("manager", "company_b", "signed", False, 1),
    ]
    w.projects = []
    for i, (owner, company, stage, secret, planned) in enumerate(spec):
        w.projects.append(make_project(getattr(w, company), owner=getattr(w, owner), stage=stage, name=f"项目{i}",
                                       confidential=secret, code_name=f"代号{i}" if secret else "",
                                       planned_investment=planned))
    w.projects.append(make_project(w.company_a, owner=w.a, stage="lead", name="已删项目", deleted=True))
    w.projects.append(make_project(w.company_b, owner=w.b, stage="lead", name="已删机密", deleted=True,
                                   confidential=True, code_name="已删"))
    return w


def expect_visible(user, project) -> bool:
    """The rule, written independently of crm.auth.access."""
    if project.deleted_at is not None:
        return False
    if user.role in ("manager", "admin"):
        return True
    if user.role != "officer":
        return False
    owner = db.session.get(type(user), project.owner_id)
    same = owner.id == user.id or (user.team_id is not None and owner.team_id == user.team_id)
    return not project.confidential or same


def expect_editable(user, project) -> bool:
    if not expect_visible(user, project):
        return False
    if user.role in ("manager", "admin"):
        return True
    owner = db.session.get(type(user), project.owner_id)
    return owner.id == user.id or (user.team_id is not None and owner.team_id == user.team_id)


def users(w):
    return [w.a, w.a2, w.b, w.loner, w.manager, w.admin, w.liaison]


def test_every_read_path_shows_each_role_what_the_rule_allows(world):
    w = world
    everything = queries.ProjectFilters()
    for user in users(w):
        db.session.rollback()
        visible = [p for p in w.projects if expect_visible(user, p)]
        want = {p.id for p in visible}
        assert {p.id for p in db.session.scalars(queries.filtered(user, everything))} == want, user.name
        rows, total = queries.project_page(user, everything, per_page=100)
        assert {p.id for p in rows} == want and total == len(want)
        for sort in queries.SORTS:
            rows, _ = queries.project_page(user, queries.ProjectFilters(sort=sort), per_page=100)
            assert {p.id for p in rows} == want
        # paging through two at a time gives each visible project once
        paged, page = [], 1
        while chunk := queries.project_page(user, everything, page=page, per_page=2)[0]:
            paged += [p.id for p in chunk]
            page += 1
        assert sorted(paged) == sorted(want)
        # the board: per-stage counts and totals equal the expectation; the cards are the visible ones
        columns = queries.board(user, everything)
        assert [c.stage.key for c in columns] == list(stages.KEYS)
        for column in columns:
            in_stage = [p for p in visible if p.stage == column.stage.key]
            assert column.count == len(in_stage), (user.name, column.stage.key)
            assert Decimal(column.total) == sum((p.planned_investment or 0 for p in in_stage), Decimal(0))
            assert {c.id for c in column.cards} == {p.id for p in in_stage}
            assert queries.column_total(user, everything, column.stage.key) == (column.count, column.total)
        open_columns = queries.board(user, queries.ProjectFilters(stage="open"))
        assert [c.stage.key for c in open_columns] == list(stages.OPEN)
        assert sum(c.count for c in open_columns) == len([p for p in visible if p.stage in stages.OPEN])
        # a company's projects, and the single-project lookup
        for company in (w.company_a, w.company_b, w.pool):
            assert {p.id for p in queries.company_projects(user, company.id)} == \
                {p.id for p in visible if p.company_id == company.id}
        for project in w.projects:
            if project.id in want:
                assert access.visible_project(project.id, user).id == project.id
                assert access.can_edit_project(user, db.session.get(Project, project.id)) is \
                    expect_editable(user, project), (user.name, project.name)
            else:
                with pytest.raises(NotFound):
                    access.visible_project(project.id, user)


def test_search_does_not_reveal_hidden_confidential_projects(world):
    w = world
    secret = w.projects[1]  # a's confidential project on company_a, code name 代号1
    for q, who, found in (("代号1", w.b, False), ("代号1", w.a2, True), ("代号1", w.manager, True),
                          ("一组东莞", w.b, False), ("项目1", w.b, False), ("项目1", w.a, True)):
        ids = {p.id for p in db.session.scalars(queries.filtered(who, queries.ProjectFilters(q=q)))}
        assert (secret.id in ids) is found, (q, who.name)
    # filters narrow within the scope and never widen it
    f = queries.ProjectFilters(owner_id=w.a.id)
    assert {p.id for p in db.session.scalars(queries.filtered(w.b, f))} == {w.projects[0].id}
    f = queries.ProjectFilters(team_id=w.team1.id, stage="signed")
    assert {p.id for p in db.session.scalars(queries.filtered(w.b, f))} == {w.projects[3].id}
    assert {p.id for p in db.session.scalars(queries.filtered(w.a, f))} == {w.projects[1].id, w.projects[3].id}


def test_services_answer_404_for_what_is_hidden_and_403_for_what_is_not_yours(world):
    w = world
    for user in users(w):
        for project in w.projects:
            current = fresh(project.id)
            if not expect_visible(user, current):
                refused(NotFound, services.update_project, project.id, {"notes": "x"}, actor=user,
                        version=current.version)
                refused(NotFound, services.move_stage, project.id, "on_hold" if current.stage != "on_hold"
                        else "lead", actor=user, version=current.version)
                refused(NotFound, services.delete_project, project.id, actor=user)
            elif not expect_editable(user, current):
                refused(Forbidden, services.update_project, project.id, {"notes": "x"}, actor=user,
                        version=current.version)
                refused(Forbidden, services.move_stage, project.id, "on_hold" if current.stage != "on_hold"
                        else "lead", actor=user, version=current.version)
                refused(Forbidden, services.delete_project, project.id, actor=user)
            else:
                services.update_project(project.id, {"notes": f"by {user.id}"}, actor=user, version=current.version)
                assert fresh(project.id).notes == f"by {user.id}"


def test_the_liaison_sees_no_projects_at_all(world):
    w = world
    assert list(db.session.scalars(queries.filtered(w.liaison, queries.ProjectFilters()))) == []
    assert all(c.count == 0 and c.cards == [] for c in queries.board(w.liaison, queries.ProjectFilters()))
    assert queries.project_page(w.liaison, queries.ProjectFilters())[1] == 0


def test_shown_name_hides_the_company_of_a_confidential_project_the_viewer_cannot_open(world):
    w = world
    # a2 sees a's confidential project but not company_b; a confidential project of the manager on company_b
    secret = make_project(w.company_b, owner=w.a, confidential=True, code_name="青鸟")
    rows = [p for p in queries.project_page(w.a2, queries.ProjectFilters(), per_page=100)[0]]
    companies_seen = queries.visible_company_ids(w.a2, rows)
    assert w.company_b.id not in companies_seen and w.company_a.id in companies_seen
    shown = {p.id: queries.shown_name(p, companies_seen) for p in rows}
    assert shown[secret.id] == "青鸟"
    assert shown[w.projects[1].id] == "一组东莞宏达电子有限公司"
    manager_rows = queries.project_page(w.manager, queries.ProjectFilters(), per_page=100)[0]
    manager_seen = queries.visible_company_ids(w.manager, manager_rows)
    assert queries.shown_name(next(p for p in manager_rows if p.id == secret.id), manager_seen) == \
        "二组深圳华信电子有限公司"


# --- saved views ------------------------------------------------------------------------------------------------------

def test_saved_views_belong_to_their_user(w):
    mine = services.save_view("我的重点项目", "stage=open&key=1&evil=<script>&owner_id=3", actor=w.a)
    assert mine.query == "stage=open&key=1&owner_id=3"  # keys that are not filters are dropped
    services.save_view("敦厚园区", "park=dunhou", actor=w.a)
    theirs = services.save_view("我的重点项目", "cluster=green_food", actor=w.b)
    assert [v.name for v in services.saved_views(w.a)] == sorted(["我的重点项目", "敦厚园区"])
    assert [v.id for v in services.saved_views(w.b)] == [theirs.id]
    assert services.saved_views(w.a2) == []
    # the same name again replaces the query
    again = services.save_view("我的重点项目", "stage=signed", actor=w.a)
    assert again.id == mine.id and again.query == "stage=signed" and count(SavedView) == 3
    # nobody deletes another's view, and it does not say whether it exists
    refused(NotFound, services.delete_view, theirs.id, actor=w.a)
    refused(NotFound, services.delete_view, theirs.id, actor=w.manager)
    refused(NotFound, services.delete_view, 987654, actor=w.a)
    services.delete_view(mine.id, actor=w.a)
    assert [v.name for v in services.saved_views(w.a)] == ["敦厚园区"]
    for name in ("", "   ", "名" * 61):
        invalid(["name"], services.save_view, name, "stage=lead", actor=w.a)


def test_at_most_thirty_saved_views(w):
    for i in range(29):
        services.save_view(f"视图{i:02d}", "stage=lead", actor=w.a)
    services.save_view("视图29", "", actor=w.a)
    invalid(["name"], services.save_view, "视图30", "stage=lead", actor=w.a)
    assert len(services.saved_views(w.a)) == 30


# --- bulk actions -----------------------------------------------------------------------------------------------------

def test_bulk_move_reports_conflicts_and_skipped_rows(world):
    w = world
    mine = [make_project(w.company_a, owner=w.a, stage="lead", name=f"批量{i}") for i in range(3)]
    stale = mine[2]
    services.update_project(stale.id, {"notes": "别人刚改过"}, actor=w.a2, version=1)  # now at version 2
    already = make_project(w.pool, owner=w.a2, stage="on_hold", name="已搁置")
    others = w.projects[4]  # b's ordinary project: visible to a, not a's to change
    hidden = w.projects[5]  # b's confidential project
    deleted = w.projects[10]
    items = [(mine[0].id, 1), (mine[1].id, 1), (stale.id, 1), (already.id, 1), (others.id, 1), (hidden.id, 1),
             (deleted.id, 1), (987654, 1)]
    before = {p.id: (fresh(p.id).stage, fresh(p.id).version) for p in (stale, already, others, hidden, deleted)}
    result = services.bulk_move(items, "on_hold", actor=w.a, note="春节后再议")
    assert result.moved == [mine[0].id, mine[1].id]
    assert result.conflicts == [stale.id]
    assert set(result.skipped) == {already.id, others.id, hidden.id, deleted.id, 987654}
    # the reason does not tell a hidden project from a missing one
    assert result.skipped[hidden.id] == result.skipped[987654] == result.skipped[deleted.id]
    assert result.skipped[others.id] != result.skipped[hidden.id]
    for p in mine[:2]:
        stored = fresh(p.id)
        assert stored.stage == "on_hold" and stored.version == 2 and stored.reached_on_hold == today_in_zone()
        move = moves_of(p.id)[-1]
        assert (move.from_stage, move.to_stage, move.note, move.actor_id) == ("lead", "on_hold", "春节后再议", w.a.id)
    for pid, state in before.items():
        assert (fresh(pid).stage, fresh(pid).version) == state
    assert fresh(stale.id).notes == "别人刚改过"
    assert count(StageMove, StageMove.project_id == stale.id) == 1


def test_bulk_move_refuses_bad_requests_whole(world):
    w = world
    p = world.projects[0]
    invalid(["reason"], services.bulk_move, [(p.id, 1)], "lost", actor=w.a)
    invalid(["stage"], services.bulk_move, [(p.id, 1)], "nowhere", actor=w.a)
    invalid(["ids"], services.bulk_move, [], "on_hold", actor=w.a)
    invalid(["ids"], services.bulk_move, [(p.id, 1)] * 501, "on_hold", actor=w.a)
    result = services.bulk_move([(p.id, 1)], "lost", actor=w.a, reason="整体撤出")
    assert result.moved == [p.id] and fresh(p.id).lost_reason == "整体撤出"


def test_a_manager_bulk_moves_and_reassigns_across_teams(world):
    w = world
    targets = [w.projects[0], w.projects[5], w.projects[7]]  # a's, b's confidential, loner's confidential
    result = services.bulk_move([(p.id, 1) for p in targets], "negotiating", actor=w.manager)
    assert sorted(result.moved) == sorted([w.projects[0].id, w.projects[7].id])
    assert result.skipped == {w.projects[5].id: result.skipped[w.projects[5].id]}  # already negotiating
    refused(Forbidden, services.bulk_reassign, [(w.projects[0].id, 2)], w.a2.id, actor=w.a)
    invalid(["owner_id"], services.bulk_reassign, [(w.projects[0].id, 2)], w.liaison.id, actor=w.manager)
    result = services.bulk_reassign([(w.projects[0].id, 2), (w.projects[4].id, 5), (987654, 1)], w.a2.id,
                                    actor=w.manager)
    assert result.moved == [w.projects[0].id] and result.conflicts == [w.projects[4].id]
    assert list(result.skipped) == [987654]
    stored = fresh(w.projects[0].id)
    assert stored.owner_id == w.a2.id and stored.first_contact_id == w.a.id
    assert fresh(w.projects[4].id).owner_id == w.b.id


# --- staleness --------------------------------------------------------------------------------------------------------

def test_stale_after_the_setting_but_never_when_finished_or_lost(w):
    project = new(w)
    now = utcnow()
    assert not services.is_stale(project, now=now)
    assert services.stale_days() == 30
    assert services.is_stale(project, now=now + timedelta(days=31))
    assert not services.is_stale(project, now=now + timedelta(days=29))
    assert services.is_stale(project, now=now + timedelta(days=4), days=3)
    services.move_stage(project.id, "full_capacity", actor=w.a, version=1)
    assert not services.is_stale(fresh(project.id), now=now + timedelta(days=400))
