"""Milestones (crm/support/services.py): the template applied once when a project is signed, the derived status
around the yellow and red boundaries in the zone's time zone (Asia/Shanghai), edits with their warnings and the stage
offer. On the suite's database: SQLite by default, PostgreSQL with TEST_DATABASE_URL."""
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.core.timeutil import as_aware, today_in_zone
from crm.errors import Conflict, Forbidden, NotFound
from crm.extensions import db
from crm.projects import services as projects
from crm.projects.models import Project
from crm.reference import services as reference
from crm.support import queries, services
from crm.support.models import MILESTONE_KEYS, Milestone

from ..factories import make_project, make_user
from .conftest import DEV, LAND, count, invalid, refused


def milestones_of(project_id: int) -> dict[str, Milestone]:
    db.session.rollback()
    return {m.kind: m for m in db.session.scalars(select(Milestone).where(Milestone.project_id == project_id))}


def with_board(project) -> dict[str, Milestone]:
    """Give a project written by the factory (at a signed-or-later stage) its standard milestones."""
    services.add_standard_milestones(db.session.get(Project, project.id))
    db.session.commit()
    return milestones_of(project.id)


def version(project_id: int) -> int:
    db.session.rollback()
    return db.session.get(Project, project_id).version


# --- status, derived -------------------------------------------------------------------------------------------------

def test_status_rules():
    on = date(2026, 6, 1)
    m = SimpleNamespace
    assert services.milestone_status(m(planned_date=date(2026, 5, 1), actual_date=date(2026, 5, 3)), on=on,
                                     days=7) == "done"
    assert services.milestone_status(m(planned_date=date(2026, 7, 1), actual_date=date(2026, 5, 3)), on=on,
                                     days=7) == "done"
    assert services.milestone_status(m(planned_date=None, actual_date=None), on=on, days=7) == "green"
    assert services.milestone_status(m(planned_date=date(2026, 5, 31), actual_date=None), on=on, days=7) == "red"
    assert services.milestone_status(m(planned_date=on, actual_date=None), on=on, days=7) == "yellow"  # due today
    assert services.milestone_status(m(planned_date=date(2026, 6, 8), actual_date=None), on=on, days=7) == "yellow"
    assert services.milestone_status(m(planned_date=date(2026, 6, 9), actual_date=None), on=on, days=7) == "green"
    assert services.milestone_status(m(planned_date=date(2026, 6, 4), actual_date=None), on=on, days=2) == "green"
    assert services.worst_status(["green", "done", "yellow"]) == "yellow"
    assert services.worst_status(["green", "red", "yellow"]) == "red"
    assert services.worst_status([]) is None


#: Beijing is UTC+8: its midnight is 16:00 UTC the day before
JUST_BEFORE_MIDNIGHT = datetime(2026, 5, 31, 15, 59, 59, tzinfo=UTC)  # 05-31 23:59:59 Beijing
AT_MIDNIGHT = datetime(2026, 5, 31, 16, 0, tzinfo=UTC)  # 06-01 00:00 Beijing
DAY_END = datetime(2026, 6, 1, 15, 59, 59, tzinfo=UTC)  # 06-01 23:59:59 Beijing
NEXT_MIDNIGHT = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 06-02 00:00 Beijing


def _statuses(project_id, user, at) -> dict[str, str]:
    """Each milestone's status at `at`, from the query (Python) and from the SQL expression: they must agree."""
    with time_machine.travel(at, tick=False):
        rows = {r.milestone.kind: r.status for r in queries.project_milestones(project_id, user)}
        on, days = services.today(), services.warning_days()
    sql = dict(db.session.execute(select(Milestone.kind, services.status_expression(on, days))
                                  .where(Milestone.project_id == project_id)).all())
    assert rows == sql
    return rows


@pytest.mark.parametrize("at, due, soon, later", [
    # the day before, in Beijing (the UTC date is the same): nothing overdue, 06-08 more than 7 days away
    (JUST_BEFORE_MIDNIGHT, "yellow", "yellow", "green"),
    # Beijing's 06-01 begins at 16:00 UTC: 06-08 is now within 7 days
    (AT_MIDNIGHT, "yellow", "yellow", "yellow"),
    (DAY_END, "yellow", "yellow", "yellow"),
    # Beijing's 06-02 begins at 16:00 UTC on 06-01 (the UTC date still says 06-01): 06-01 is overdue
    (NEXT_MIDNIGHT, "red", "yellow", "yellow"),
])
def test_status_turns_at_midnight_beijing_time(w, at, due, soon, later):
    board = with_board(w.p)
    board["construction_start"].planned_date = date(2026, 6, 1)
    board["topping_out"].planned_date = date(2026, 6, 2)
    board["equipment_in"].planned_date = date(2026, 6, 8)
    board["land_acquired"].planned_date = date(2026, 5, 1)
    board["land_acquired"].actual_date = date(2026, 5, 20)
    db.session.commit()
    statuses = _statuses(w.p.id, w.a, at)
    assert (statuses["construction_start"], statuses["topping_out"], statuses["equipment_in"]) == (due, soon, later)
    assert statuses["land_acquired"] == "done"
    assert statuses["full_capacity"] == "green"  # not planned yet


def test_the_warning_window_is_a_setting(w):
    board = with_board(w.p)
    board["equipment_in"].planned_date = date(2026, 6, 4)
    db.session.commit()
    assert reference.get_setting("milestone_warning_days") == 7
    assert _statuses(w.p.id, w.a, AT_MIDNIGHT)["equipment_in"] == "yellow"
    reference.set_settings({"milestone_warning_days": 2}, actor=_admin())
    assert _statuses(w.p.id, w.a, AT_MIDNIGHT)["equipment_in"] == "green"
    invalid(["milestone_warning_days"], reference.set_settings, {"milestone_warning_days": 0}, actor=_admin())


def _admin():
    return make_user("admin")


# --- the template ----------------------------------------------------------------------------------------------------

def test_signing_creates_the_standard_milestones_once(w):
    lead = make_project(w.company, owner=w.a, stage="negotiating", planned_start=date(2027, 3, 1),
                        planned_production=date(2028, 1, 1))
    assert count(Milestone, Milestone.project_id == lead.id) == 0
    projects.move_stage(lead.id, "signed", actor=w.a, version=version(lead.id))
    board = milestones_of(lead.id)
    assert sorted(board, key=MILESTONE_KEYS.index) == list(MILESTONE_KEYS)
    assert [m.kind for m in sorted(board.values(), key=lambda m: m.sort)] == list(MILESTONE_KEYS)
    assert all(m.owner_id == w.a.id and m.department is None and m.actual_date is None for m in board.values())
    assert board["construction_start"].planned_date == date(2027, 3, 1)
    assert board["production_start"].planned_date == date(2028, 1, 1)
    assert board["topping_out"].planned_date is None
    # audited, in the name of who moved the stage
    created = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "milestone",
                                                          AuditEvent.action == "create")).all()
    assert len(created) == 9 and {e.actor_id for e in created} == {w.a.id}

    # later stages, a fall back and a second signing: never a second set, and edits and removals stay
    board["topping_out"].planned_date = date(2027, 9, 1)
    board["equipment_in"].deleted_at = board["equipment_in"].updated_at
    db.session.commit()
    for stage in ("under_construction", "negotiating", "signed", "in_production"):
        projects.move_stage(lead.id, stage, actor=w.a, version=version(lead.id))
    board = milestones_of(lead.id)
    assert len(board) == 9 and count(Milestone, Milestone.project_id == lead.id) == 9
    assert board["topping_out"].planned_date == date(2027, 9, 1)
    assert board["equipment_in"].deleted_at is not None


def test_no_milestones_before_signing(w):
    lead = make_project(w.company, owner=w.a, stage="lead")
    for stage in ("negotiating", "site_visit", "on_hold", "lost"):
        projects.move_stage(lead.id, stage, actor=w.a, version=version(lead.id), reason="价格")
    assert count(Milestone, Milestone.project_id == lead.id) == 0


def test_a_project_created_signed_or_later_gets_them(w):
    made = projects.create_project({"company_id": w.company.id, "name": "现场签约项目"}, actor=w.a,
                                   stage="under_construction")
    assert count(Milestone, Milestone.project_id == made.id) == 9
    lead = projects.create_project({"company_id": w.company.id, "name": "新线索"}, actor=w.a)
    assert count(Milestone, Milestone.project_id == lead.id) == 0


def test_bulk_signing_gives_each_project_one_set(w):
    one = make_project(w.company, owner=w.a, stage="site_visit")
    two = make_project(w.company, owner=w.a, stage="negotiating")
    result = projects.bulk_move([(one.id, version(one.id)), (two.id, version(two.id))], "signed", actor=w.a)
    assert sorted(result.moved) == sorted([one.id, two.id])
    assert count(Milestone, Milestone.project_id == one.id) == 9
    assert count(Milestone, Milestone.project_id == two.id) == 9


def test_a_lost_stage_race_leaves_no_milestones(w):
    """The stage move whose version is stale is refused with 409, and adds no milestones."""
    lead = make_project(w.company, owner=w.a, stage="negotiating")
    stale = version(lead.id)
    projects.update_project(lead.id, {"notes": "更新"}, actor=w.a, version=stale)
    refused(Conflict, projects.move_stage, lead.id, "signed", actor=w.a, version=stale)
    assert count(Milestone, Milestone.project_id == lead.id) == 0


def test_backfill_gives_older_signed_projects_their_milestones(w):
    assert services.backfill_standard_milestones() == 2  # p and q, signed before the board existed
    assert services.backfill_standard_milestones() == 0
    assert count(Milestone) == 18


# --- edits -----------------------------------------------------------------------------------------------------------

def test_actual_date_in_the_future_is_refused_in_the_zone_s_calendar(w):
    board = with_board(w.p)
    m = board["land_acquired"]
    # 00:30 on 06-02 in Beijing is still 06-01 in UTC: 06-02 is today, not the future
    with time_machine.travel(datetime(2026, 6, 1, 16, 30, tzinfo=UTC), tick=False):
        error = invalid(["actual_date"], services.update_milestone, m.id, {"actual_date": "2026-06-03"}, actor=w.a,
                        version=m.version)
        assert "不能晚于今天" in error.fields["actual_date"][0]  # "cannot be in the future", in the default language
        change = services.update_milestone(m.id, {"actual_date": "2026-06-02"}, actor=w.a, version=m.version)
    assert change.status == "done" and change.warnings == {} and change.offer is None
    assert milestones_of(w.p.id)["land_acquired"].actual_date == date(2026, 6, 2)


def test_planned_dates_out_of_order_are_a_warning_and_saved(w):
    board = with_board(w.p)
    services.update_milestone(board["construction_start"].id, {"planned_date": "2027-03-01"}, actor=w.a,
                              version=board["construction_start"].version)
    # production before construction: saved, with a warning naming the other milestone
    production = board["production_start"]
    change = services.update_milestone(production.id, {"planned_date": "2027-01-15"}, actor=w.a,
                                       version=production.version)
    assert list(change.warnings) == ["planned_date"] and len(change.warnings["planned_date"]) == 1
    assert "2027-03-01" in change.warnings["planned_date"][0]
    assert milestones_of(w.p.id)["production_start"].planned_date == date(2027, 1, 15)
    # the land planned after construction start: the earlier milestone is warned about too
    land = board["land_acquired"]
    change = services.update_milestone(land.id, {"planned_date": "2027-04-01"}, actor=w.a, version=land.version)
    assert len(change.warnings["planned_date"]) == 2
    # in order: no warning
    production = milestones_of(w.p.id)["production_start"]
    change = services.update_milestone(production.id, {"planned_date": "2028-01-15"}, actor=w.a,
                                       version=production.version)
    assert change.warnings == {}
    # editing only the note says nothing about dates
    land = milestones_of(w.p.id)["land_acquired"]
    change = services.update_milestone(land.id, {"note": "已挂牌"}, actor=w.a, version=land.version)
    assert change.warnings == {}


def test_edit_checks(w):
    board = with_board(w.p)
    m = board["planning_permit"]
    invalid(["kind"], services.update_milestone, m.id, {"kind": "topping_out"}, actor=w.a, version=m.version)
    invalid(["department"], services.update_milestone, m.id, {"department": "no_such_bureau"}, actor=w.a,
            version=m.version)
    invalid(["planned_date"], services.update_milestone, m.id, {"planned_date": "2027-02-30"}, actor=w.a,
            version=m.version)
    # the responsible user: an active officer, or a liaison of the milestone's department
    invalid(["owner_id"], services.update_milestone, m.id, {"owner_id": w.dev.id}, actor=w.a, version=m.version)
    invalid(["owner_id"], services.update_milestone, m.id, {"owner_id": 10**6}, actor=w.a, version=m.version)
    change = services.update_milestone(m.id, {"department": DEV, "owner_id": w.dev.id}, actor=w.a,
                                       version=m.version)
    assert (change.milestone.department, change.milestone.owner_id) == (DEV, w.dev.id)
    # moving it to another department while a liaison of the first is responsible
    invalid(["owner_id"], services.update_milestone, m.id, {"department": LAND}, actor=w.a, version=m.version)
    refused(Conflict, services.update_milestone, m.id, {"note": "旧版本"}, actor=w.a, version=m.version - 1)
    # officers of another team see the project but may not change it
    refused(Forbidden, services.update_milestone, m.id, {"note": "x"}, actor=w.b, version=m.version)
    refused(NotFound, services.update_milestone, 10**6, {"note": "x"}, actor=w.a, version=1)


def test_construction_start_offers_the_stage_move_without_making_it(w):
    board = with_board(w.p)
    m = board["construction_start"]
    day = today_in_zone() - timedelta(days=1)
    change = services.update_milestone(m.id, {"actual_date": day.isoformat()}, actor=w.a, version=m.version)
    offer = change.offer
    assert offer is not None and (offer.project_id, offer.from_stage, offer.to_stage) == (
        w.p.id, "signed", "under_construction")
    project = db.session.get(Project, w.p.id)
    assert project.stage == "signed" and offer.version == project.version
    assert offer.on == today_in_zone()  # not before the project's last move (the factory's, today)
    # accepting it is an ordinary stage move
    projects.move_stage(w.p.id, offer.to_stage, actor=w.a, version=offer.version, on=offer.on)
    assert db.session.get(Project, w.p.id).stage == "under_construction"
    # production start offers in production; a second edit of a done milestone offers nothing
    production = board["production_start"]
    change = services.update_milestone(production.id, {"actual_date": today_in_zone().isoformat()}, actor=w.a,
                                       version=production.version)
    assert change.offer.to_stage == "in_production"
    change = services.update_milestone(production.id, {"note": "已投产"}, actor=w.a,
                                       version=change.milestone.version)
    assert change.offer is None


def test_no_offer_when_the_project_is_past_that_stage_or_for_a_liaison(w):
    later = make_project(w.company, owner=w.a, stage="in_production")
    board = with_board(later)
    m = board["construction_start"]
    change = services.update_milestone(m.id, {"actual_date": today_in_zone().isoformat()}, actor=w.a,
                                       version=m.version)
    assert change.offer is None
    board = with_board(w.p)
    m = board["construction_start"]
    m.department = LAND
    db.session.commit()
    change = services.update_milestone(m.id, {"actual_date": today_in_zone().isoformat()}, actor=w.land,
                                       version=m.version)
    assert change.status == "done" and change.offer is None  # a liaison cannot move the stage


def test_add_remove_and_bring_back_a_milestone(w):
    board = with_board(w.p)
    invalid(["kind"], services.add_milestone, w.p.id, {"kind": "topping_out"}, actor=w.a)
    invalid(["kind"], services.add_milestone, w.p.id, {"kind": "groundbreaking_party"}, actor=w.a)
    invalid(["kind"], services.add_milestone, w.p.id, {}, actor=w.a)
    m = board["equipment_in"]
    refused(Forbidden, services.delete_milestone, m.id, actor=w.b, version=m.version)
    services.delete_milestone(m.id, actor=w.a, version=m.version)
    assert [r.milestone.kind for r in queries.project_milestones(w.p.id, w.a)].count("equipment_in") == 0
    change = services.add_milestone(w.p.id, {"kind": "equipment_in", "planned_date": "2030-01-01",
                                             "department": DEV}, actor=w.a)
    assert change.milestone.id == m.id and change.milestone.deleted_at is None
    assert (change.milestone.planned_date, change.milestone.department) == (date(2030, 1, 1), DEV)
    assert count(Milestone, Milestone.project_id == w.p.id) == 9
    # a project not signed has no board
    lead = make_project(w.company, owner=w.a, stage="negotiating")
    refused(Conflict, services.add_milestone, lead.id, {"kind": "land_acquired"}, actor=w.a)
    # a project with no milestones yet (its template removed from the database) gets the one asked for
    fresh = make_project(w.company, owner=w.a, stage="under_construction")
    change = services.add_milestone(fresh.id, {"kind": "topping_out", "planned_date": "2031-05-01"}, actor=w.a)
    assert change.status == "green" and change.milestone.owner_id == w.a.id


def test_one_milestone_of_a_kind_per_project_is_kept_by_the_database(w):
    """The template's guard against a racing second set: the unique (project, kind) key."""
    from sqlalchemy.exc import IntegrityError

    with_board(w.p)
    db.session.add(Milestone(project_id=w.p.id, kind="topping_out", sort=50, note=""))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert count(Milestone, Milestone.project_id == w.p.id) == 9


def test_edits_are_audited_and_on_the_project_timeline(w):
    board = with_board(w.p)
    m = board["planning_permit"]
    long_ago = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    db.session.get(Project, w.p.id).last_activity_at = long_ago
    db.session.commit()
    services.update_milestone(m.id, {"planned_date": "2027-02-01", "department": LAND}, actor=w.a,
                              version=m.version)
    db.session.rollback()
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "milestone",
                                                          AuditEvent.object_id == m.id,
                                                          AuditEvent.action == "update")).all()
    assert event.actor_id == w.a.id
    assert event.changes == {"planned_date": [None, "2027-02-01"], "department": [None, LAND]}
    [item] = queries.timeline(w.p.id)
    assert (item["kind"], item["action"], item["milestone_id"]) == ("milestone", "update", m.id)
    # the project counts it as activity (its stale flag) without a new version
    project = db.session.get(Project, w.p.id)
    assert project.version == 2  # the one edit above, not the milestone's
    assert as_aware(project.last_activity_at) > long_ago + timedelta(days=30)
