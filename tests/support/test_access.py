"""Who sees and changes the support board's records (crm/support/access.py): a department liaison sees only the
requests routed to their department and the milestones their department is responsible for, and nothing else;
staff see those of the projects they may see."""
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from crm.auth import access
from crm.core.timeutil import utcnow
from crm.errors import Forbidden, NotFound
from crm.extensions import db
from crm.projects.models import Project
from crm.support import access as support_access
from crm.support import queries, services
from crm.support.models import EnterpriseRequest, Milestone

from .conftest import DEV, LAND, invalid, refused


@pytest.fixture
def board(w):
    """Milestones of p and q, two per department; a request per department on each."""
    with time_machine.travel(datetime(2026, 9, 16, 4, 0, tzinfo=UTC), tick=False):
        services.backfill_standard_milestones()
        for project in (w.p, w.q):
            rows = {m.kind: m for m in db.session.scalars(select(Milestone).where(Milestone.project_id == project.id))}
            rows["land_acquired"].department = rows["planning_permit"].department = LAND
            rows["construction_permit"].department = rows["construction_start"].department = DEV
        db.session.commit()
        owner = {w.p.id: w.a, w.q.id: w.b}
        made = {}
        for project in (w.p, w.q):
            for department in (LAND, DEV):
                made[(project.id, department)] = services.create_request(
                    project.id, {"category": "land", "description": f"{department} 诉求", "department": department,
                                 "deadline": "2026-12-01"}, actor=owner[project.id])
    return made


def seen_milestones(user) -> set[tuple[int, str]]:
    db.session.rollback()
    return {(m.project_id, m.kind) for m in db.session.scalars(select(Milestone)
                                                               .where(support_access.milestone_scope(user)))}


def seen_requests(user) -> set[tuple[int, str]]:
    db.session.rollback()
    return {(r.project_id, r.department) for r in db.session.scalars(select(EnterpriseRequest)
                                                                     .where(support_access.request_scope(user)))}


def test_a_liaison_sees_only_their_department_s_records(w, board):
    # the confidential project of another team too: what is routed to a department is that department's work
    assert seen_milestones(w.land) == {(p, k) for p in (w.p.id, w.q.id) for k in ("land_acquired", "planning_permit")}
    assert seen_requests(w.land) == {(w.p.id, LAND), (w.q.id, LAND)}
    assert seen_milestones(w.dev) == {(p, k) for p in (w.p.id, w.q.id)
                                      for k in ("construction_permit", "construction_start")}
    assert seen_requests(w.dev) == {(w.p.id, DEV), (w.q.id, DEV)}
    # a liaison without a department sees nothing
    assert seen_milestones(w.nodept) == set() and seen_requests(w.nodept) == set()
    # and a liaison sees no project, company or other record (crm.auth.access, unchanged)
    assert db.session.scalars(select(Project).where(access.project_scope(w.land))).all() == []
    with pytest.raises(NotFound):
        access.visible_project(w.p.id, w.land)
    with pytest.raises(NotFound):
        access.visible_company(w.company.id, w.land)
    # the project's page lists: only their department's
    assert [r.milestone.kind for r in queries.project_milestones(w.p.id, w.land)] == ["land_acquired",
                                                                                      "planning_permit"]
    assert [r.department for r in queries.project_requests(w.p.id, w.land)] == [LAND]
    assert {r.department for r in queries.department_requests(w.land)} == {LAND}


def test_another_department_s_records_are_not_found(w, board):
    other_request = board[(w.p.id, DEV)]
    other_milestone = db.session.scalar(select(Milestone).where(Milestone.project_id == w.p.id,
                                                                Milestone.kind == "construction_start"))
    refused(NotFound, support_access.visible_request, other_request.id, w.land)
    refused(NotFound, support_access.visible_milestone, other_milestone.id, w.land)
    refused(NotFound, services.change_request_status, other_request.id, "in_progress", actor=w.land, version=1)
    refused(NotFound, services.update_milestone, other_milestone.id, {"note": "x"}, actor=w.land, version=1)
    refused(NotFound, services.change_request_status, other_request.id, "in_progress", actor=w.nodept, version=1)
    refused(NotFound, services.add_milestone, w.p.id, {"kind": "topping_out"}, actor=w.land)


def test_a_liaison_updates_their_department_s_records(w, board):
    mine = board[(w.q.id, LAND)]  # on another team's confidential project
    services.change_request_status(mine.id, "in_progress", actor=w.land, version=1, note="已受理")
    services.change_request_status(mine.id, "resolved", actor=w.land2, version=2, resolution="已完成土地预审")
    services.update_request(mine.id, {"owner_id": w.land2.id}, actor=w.land, version=3)
    services.change_request_status(mine.id, "closed", actor=w.land, version=4, satisfaction=4)
    db.session.rollback()
    closed = db.session.get(EnterpriseRequest, mine.id)
    assert (closed.status, closed.owner_id, closed.satisfaction) == ("closed", w.land2.id, 4)
    # but not what the officers decide: the routing, the deadline, the description
    other = board[(w.p.id, LAND)]
    for field, value in (("department", DEV), ("deadline", "2026-12-20"), ("description", "改"),
                         ("category", "policy")):
        invalid([field], services.update_request, other.id, {field: value}, actor=w.land, version=1)
    refused(Forbidden, services.delete_request, other.id, actor=w.land, version=1)

    milestone = db.session.scalar(select(Milestone).where(Milestone.project_id == w.p.id,
                                                          Milestone.kind == "land_acquired"))
    change = services.update_milestone(milestone.id, {"actual_date": "2026-09-10", "note": "已摘牌"},
                                       actor=w.land, version=milestone.version)
    assert change.status == "done"
    for field, value in (("department", DEV), ("owner_id", w.land2.id), ("sort", 5)):
        invalid([field], services.update_milestone, milestone.id, {field: value}, actor=w.land,
                version=change.milestone.version)
    refused(Forbidden, services.delete_milestone, milestone.id, actor=w.land, version=change.milestone.version)


def test_rerouting_and_deleting_take_records_out_of_a_liaison_s_view(w, board):
    moved = board[(w.p.id, LAND)]
    services.update_request(moved.id, {"department": DEV}, actor=w.a, version=1)
    assert seen_requests(w.land) == {(w.q.id, LAND)}
    dev_ids = set(db.session.scalars(select(EnterpriseRequest.id).where(support_access.request_scope(w.dev))))
    assert dev_ids == {moved.id, board[(w.p.id, DEV)].id, board[(w.q.id, DEV)].id}
    # a deleted project's records are nobody's business but the trash's
    project = db.session.get(Project, w.q.id)
    project.deleted_at = utcnow()
    db.session.commit()
    assert seen_requests(w.land) == set()
    assert all(p == w.p.id for p, _ in seen_milestones(w.land))
    assert seen_requests(w.manager) == {(w.p.id, DEV)}


def test_staff_see_the_records_of_projects_they_may_see(w, board):
    everything_p = {(w.p.id, d) for d in (LAND, DEV)}
    everything_q = {(w.q.id, d) for d in (LAND, DEV)}
    assert seen_requests(w.manager) == everything_p | everything_q
    assert seen_requests(w.a) == everything_p  # q is another team's confidential project
    assert seen_requests(w.b) == everything_p | everything_q
    assert len(seen_milestones(w.a)) == 9 and len(seen_milestones(w.manager)) == 18
    refused(NotFound, support_access.visible_request, board[(w.q.id, LAND)].id, w.a)
    # officer b sees p's records but may not change them
    refused(Forbidden, services.change_request_status, board[(w.p.id, LAND)].id, "in_progress", actor=w.b,
            version=1)
    # the manager may change anyone's
    services.change_request_status(board[(w.q.id, DEV)].id, "in_progress", actor=w.manager, version=1)
