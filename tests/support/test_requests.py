"""Enterprise requests (企业诉求, crm/support/services.py): creation with a department and a deadline, the status
workflow open → in progress → resolved → closed (and reopening), every change as a RequestEvent and an audit record,
and every bad input refused with per-field messages and nothing written."""
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.core.timeutil import today_in_zone
from crm.errors import Conflict, Forbidden, NotFound
from crm.extensions import db
from crm.support import queries, services
from crm.support.models import EnterpriseRequest, RequestEvent

from ..factories import make_project
from .conftest import DEV, LAND, count, invalid, refused

#: a Wednesday noon in Beijing, with the 2026 National Day ahead
NOW = datetime(2026, 9, 16, 4, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def valid(**extra) -> dict:
    return {"category": "utilities", "description": "厂区双回路供电尚未接入", "department": LAND,
            "deadline": "2026-10-30", **extra}


def fresh(request_id: int) -> EnterpriseRequest:
    db.session.rollback()
    return db.session.get(EnterpriseRequest, request_id)


def events(request_id: int) -> list[tuple]:
    db.session.rollback()
    return [(e.action, e.from_status, e.to_status) for e in queries.request_events(request_id)]


def audits(request_id: int) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "request",
                                                                   AuditEvent.object_id == request_id)
                                   .order_by(AuditEvent.id)))


def test_create(w):
    found = services.create_request(w.p.id, valid(), actor=w.a, note="企业来电")
    found = fresh(found.id)
    assert (found.status, found.department, found.deadline) == ("open", LAND, date(2026, 10, 30))
    assert found.company_id == w.p.company_id and found.owner_id == w.a.id and found.created_by_id == w.a.id
    assert found.resolution == "" and found.satisfaction is None and found.version == 1
    [event] = queries.request_events(found.id)
    assert (event.action, event.from_status, event.to_status, event.actor_id, event.note) == (
        "created", None, "open", w.a.id, "企业来电")
    assert event.project_id == w.p.id and event.changes["deadline"] == [None, "2026-10-30"]
    assert audits(found.id) == ["create"]
    # a liaison of the department may own it; a number of working days is a deadline too
    # (from 09-16: the make-up Sunday 09-20 counts, Mid-Autumn and National Day do not, the make-up Saturday does)
    other = services.create_request(w.p.id, valid(owner_id=w.land.id, deadline=13, category="permits"), actor=w.a)
    assert other.owner_id == w.land.id and other.deadline == date(2026, 10, 10)


@pytest.mark.parametrize("change, fields", [
    ({"department": None}, ["department"]),
    ({"department": ""}, ["department"]),
    ({"deadline": None}, ["deadline"]),
    ({"deadline": ""}, ["deadline"]),
    ({"department": "", "deadline": ""}, ["department", "deadline"]),
    ({"department": "no_such_bureau"}, ["department"]),
    ({"category": "weather"}, ["category"]),
    ({"category": ""}, ["category"]),
    ({"description": "   "}, ["description"]),
    ({"deadline": "2026-09-15"}, ["deadline"]),  # yesterday
    ({"deadline": "30/10/2026"}, ["deadline"]),
    ({"deadline": 0}, ["deadline"]),
    ({"deadline": 251}, ["deadline"]),
    ({"deadline": True}, ["deadline"]),
    ({"owner_id": 10**6}, ["owner_id"]),
])
def test_create_refuses_bad_input(w, change, fields):
    data = valid()
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    invalid(fields, services.create_request, w.p.id, data, actor=w.a)


def test_create_refused_for_the_wrong_people_and_projects(w):
    invalid(["owner_id"], services.create_request, w.p.id, valid(owner_id=w.dev.id), actor=w.a)  # wrong department
    refused(Forbidden, services.create_request, w.p.id, valid(), actor=w.b)  # another team's project
    refused(NotFound, services.create_request, w.q.id, valid(), actor=w.a)  # confidential, another team
    refused(NotFound, services.create_request, w.p.id, valid(), actor=w.land)  # liaisons see no project
    lead = make_project(w.company, owner=w.a, stage="site_visit")
    refused(Conflict, services.create_request, lead.id, valid(), actor=w.a)
    assert count(EnterpriseRequest) == 0


def test_the_workflow_to_closed(w):
    found = services.create_request(w.p.id, valid(), actor=w.a)
    services.change_request_status(found.id, "in_progress", actor=w.a, version=1, note="已转供电公司")
    services.change_request_status(found.id, "resolved", actor=w.a, version=2, resolution="10月8日已送电")
    assert fresh(found.id).resolved_at is not None
    services.change_request_status(found.id, "closed", actor=w.a, version=3, satisfaction=5)
    found = fresh(found.id)
    assert (found.status, found.resolution, found.satisfaction) == ("closed", "10月8日已送电", 5)
    assert found.closed_at is not None and found.version == 4
    assert events(found.id) == [("created", None, "open"), ("status", "open", "in_progress"),
                                ("status", "in_progress", "resolved"), ("status", "resolved", "closed")]
    assert audits(found.id) == ["create", "update", "update", "update"]
    closing = queries.request_events(found.id)[-1]
    assert closing.changes == {"satisfaction": [None, 5]}
    # closed is final
    invalid(["status"], services.change_request_status, found.id, "in_progress", actor=w.a, version=4)
    invalid(["status"], services.update_request, found.id, {"description": "补充"}, actor=w.a, version=4)


def test_reopen_and_the_resolution_given_at_closing(w):
    found = services.create_request(w.p.id, valid(), actor=w.a)
    services.change_request_status(found.id, "in_progress", actor=w.a, version=1)
    services.change_request_status(found.id, "resolved", actor=w.a, version=2)
    services.change_request_status(found.id, "in_progress", actor=w.a, version=3, note="企业反映仍未送电")
    found = fresh(found.id)
    assert found.status == "in_progress" and found.resolved_at is None
    services.change_request_status(found.id, "resolved", actor=w.a, version=4)
    services.update_request(found.id, {"status": "closed", "resolution": "已送电并验收", "satisfaction": "4"},
                            actor=w.a, version=5)
    found = fresh(found.id)
    assert (found.status, found.resolution, found.satisfaction) == ("closed", "已送电并验收", 4)
    assert [e[2] for e in events(found.id)] == ["open", "in_progress", "resolved", "in_progress", "resolved",
                                                "closed"]
    assert queries.request_events(found.id)[3].note == "企业反映仍未送电"


@pytest.mark.parametrize("path, to", [
    ([], "resolved"), ([], "closed"), (["in_progress"], "closed"), (["in_progress"], "open"),
    (["in_progress", "resolved"], "open"), ([], "done"),
])
def test_moves_out_of_order_are_refused(w, path, to):
    found = services.create_request(w.p.id, valid(), actor=w.a)
    for version, status in enumerate(path, start=1):
        services.change_request_status(found.id, status, actor=w.a, version=version)
    invalid(["status"], services.change_request_status, found.id, to, actor=w.a, version=len(path) + 1,
            resolution="已解决", satisfaction=5)


def test_closing_needs_a_resolution_and_a_satisfaction(w):
    found = services.create_request(w.p.id, valid(), actor=w.a)
    services.change_request_status(found.id, "in_progress", actor=w.a, version=1)
    services.change_request_status(found.id, "resolved", actor=w.a, version=2)
    error = invalid(["resolution"], services.change_request_status, found.id, "closed", actor=w.a, version=3,
                    satisfaction=5)
    assert "办理结果" in error.fields["resolution"][0]  # "say how it was resolved", in the default language
    invalid(["resolution"], services.change_request_status, found.id, "closed", actor=w.a, version=3,
            resolution="   ", satisfaction=5)
    invalid(["satisfaction"], services.change_request_status, found.id, "closed", actor=w.a, version=3,
            resolution="已解决")
    invalid(["resolution", "satisfaction"], services.change_request_status, found.id, "closed", actor=w.a,
            version=3)
    for bad in (0, 6, "five", True):
        invalid(["satisfaction"], services.change_request_status, found.id, "closed", actor=w.a, version=3,
                resolution="已解决", satisfaction=bad)
    # a satisfaction belongs to closing only
    invalid(["satisfaction"], services.update_request, found.id, {"resolution": "已解决", "satisfaction": 3},
            actor=w.a, version=3)
    assert fresh(found.id).status == "resolved"


def test_edits_write_an_event_with_the_changes(w):
    found = services.create_request(w.p.id, valid(), actor=w.a)
    services.update_request(found.id, {"deadline": 5, "department": DEV, "description": "双回路供电及增容"},
                            actor=w.a, version=1)
    found = fresh(found.id)
    assert (found.deadline, found.department, found.status) == (date(2026, 9, 22), DEV, "open")  # 09-20 counts
    event = queries.request_events(found.id)[-1]
    assert (event.action, event.from_status, event.to_status) == ("updated", "open", "open")
    assert event.changes["deadline"] == ["2026-10-30", "2026-09-22"] and event.changes["department"] == [LAND, DEV]
    assert audits(found.id) == ["create", "update"]
    # nothing changed: no event, no new version
    services.update_request(found.id, {"department": DEV}, actor=w.a, version=2)
    assert fresh(found.id).version == 2 and len(events(found.id)) == 2
    # an old deadline may stay when it has passed; a new one may not be in the past
    found.deadline = date(2026, 9, 1)
    db.session.commit()
    services.update_request(found.id, {"deadline": "2026-09-01", "category": "land"}, actor=w.a, version=3)
    invalid(["deadline"], services.update_request, found.id, {"deadline": "2026-09-02"}, actor=w.a, version=4)
    invalid(["owner_id"], services.update_request, found.id, {"owner_id": None}, actor=w.a, version=4)
    refused(Conflict, services.update_request, found.id, {"category": "policy"}, actor=w.a, version=3)
    refused(Forbidden, services.update_request, found.id, {"category": "policy"}, actor=w.b, version=4)


def test_a_request_owned_by_a_liaison_cannot_move_to_another_department_with_them(w):
    found = services.create_request(w.p.id, valid(owner_id=w.land.id), actor=w.a)
    invalid(["owner_id"], services.update_request, found.id, {"department": DEV}, actor=w.a, version=1)
    services.update_request(found.id, {"department": DEV, "owner_id": w.dev.id}, actor=w.a, version=1)
    assert (fresh(found.id).department, fresh(found.id).owner_id) == (DEV, w.dev.id)


def test_delete_and_the_project_timeline(w):
    found = services.create_request(w.p.id, valid(), actor=w.a)
    services.change_request_status(found.id, "in_progress", actor=w.a, version=1)
    refused(Forbidden, services.delete_request, found.id, actor=w.land, version=2)
    services.delete_request(found.id, actor=w.a, version=2, note="重复登记")
    assert fresh(found.id).deleted_at is not None
    assert queries.project_requests(w.p.id, w.a) == []
    refused(NotFound, services.update_request, found.id, {"category": "land"}, actor=w.a, version=3)
    assert audits(found.id) == ["create", "update", "delete"]
    items = queries.timeline(w.p.id)
    assert [(i["kind"], i["action"]) for i in items] == [("request", "deleted"), ("request", "status"),
                                                         ("request", "created")]
    assert count(RequestEvent, RequestEvent.project_id == w.p.id) == 3


def test_open_requests_first_by_deadline(w):
    late = services.create_request(w.p.id, valid(deadline="2026-12-01"), actor=w.a)
    soon = services.create_request(w.p.id, valid(deadline="2026-10-09"), actor=w.a)
    done = services.create_request(w.p.id, valid(deadline="2026-09-20"), actor=w.a)
    services.change_request_status(done.id, "in_progress", actor=w.a, version=1)
    services.change_request_status(done.id, "resolved", actor=w.a, version=2, resolution="已办结")
    assert [r.id for r in queries.project_requests(w.p.id, w.a)] == [soon.id, late.id, done.id]
    assert today_in_zone() + timedelta(days=1) == date(2026, 9, 17)
