"""Meetings (with their follow-ups) and tasks over JSON; the same services and scope as the pages.

List filters: an id or a type that names nothing matches nothing (an empty list, like the projects' list); a date,
date-time or true/false filter that cannot be read is a 422 naming the parameter in `fields` (a silently dropped
`overdue=yes please` would answer with every task).
"""
from datetime import date, datetime

from flask import g, request
from sqlalchemy import select

from crm.auth import access
from crm.companies.models import Company
from crm.core import fields as rules
from crm.core.pagination import page_args
from crm.core.timeutil import utcnow
from crm.errors import Invalid
from crm.extensions import db
from crm.meetings import queries, services
from crm.meetings.models import MEETING_TYPES, Meeting, Task

from . import bp, iso, json_body, token_required, version_of
from .projects import _user_id

#: fields a meeting's PATCH refuses: its follow-ups are tasks (POST /tasks with meeting_id), its owner stays
_MEETING_REFUSED = {"follow_ups": "Add follow-ups as tasks: POST /api/v1/tasks with this meeting_id.",
                    "owner_id": "The officer who held the meeting cannot be changed."}


def _empty(page: int, per_page: int) -> dict:
    return {"items": [], "total": 0, "page": page, "per_page": per_page}


# --- query parameters ------------------------------------------------------------------------------------------------

class _Unmatched(Exception):
    """A filter value that names nothing: the list is empty."""


def _id_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= 2**31 - 1):
        raise _Unmatched(name)
    return int(value)


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return rules.Boolean().parse(raw.strip())
    except rules.FieldError:
        raise Invalid(f"{name} must be true or false.", {name: ["Send true or false."]}) from None


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return rules.Date().parse(raw[:40])
    except rules.FieldError:
        raise Invalid(f"{name} must be a date.", {name: ["Send a date as YYYY-MM-DD."]}) from None


def _moment_arg(name: str) -> datetime | None:
    """An ISO date-time (without an offset: the zone's time) or a date (its midnight in the zone's time zone)."""
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()[:40]
    try:
        if len(raw) <= 10:
            day = rules.Date().parse(raw)
            return queries.day_start(day)
        return rules.DateTime().parse(raw)
    except rules.FieldError:
        raise Invalid(f"{name} must be a date or a date-time.",
                      {name: ["Send a date (YYYY-MM-DD) or an ISO 8601 date-time."]}) from None


# --- shapes ----------------------------------------------------------------------------------------------------------

def task_json(task: Task, *, now: datetime | None = None) -> dict:
    due = services.due_value(task)
    return {
        "id": task.id, "version": task.version, "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at), "title": task.title, "notes": task.notes,
        "due": iso(due) if isinstance(due, datetime) else due.isoformat(), "due_on": task.due_on.isoformat(),
        "owner_id": task.owner_id, "company_id": task.company_id, "project_id": task.project_id,
        "meeting_id": task.meeting_id, "done": task.done, "done_at": iso(task.done_at), "done_by_id": task.done_by_id,
        "created_by_id": task.created_by_id, "overdue": services.is_overdue(task, now=now),
    }


def visible_company_ids(user, meetings: list[Meeting]) -> set[int]:
    """Of these meetings' companies, the ones the user may open."""
    ids = {m.company_id for m in meetings}
    if not ids:
        return set()
    return set(db.session.scalars(select(Company.id).where(Company.id.in_(ids), access.company_scope(user))))


def shown_company_name(meeting: Meeting, company_ids: set[int]) -> str:
    """The company's name; the code name of a confidential project whose company the viewer may not see (the rule
    of crm.projects.queries.shown_name)."""
    project = meeting.project
    if project is not None and project.confidential and meeting.company_id not in company_ids:
        return project.code_name or f"#{project.id}"
    return meeting.company.name if meeting.company else ""


def meeting_json(meeting: Meeting, company_ids: set[int]) -> dict:
    return {
        "id": meeting.id, "version": meeting.version, "created_at": iso(meeting.created_at),
        "updated_at": iso(meeting.updated_at), "type": meeting.type, "start_at": iso(meeting.start_at),
        "end_at": iso(meeting.end_at), "city": meeting.city, "place": meeting.place,
        "company_id": meeting.company_id, "company_name": shown_company_name(meeting, company_ids),
        "project_id": meeting.project_id, "owner_id": meeting.owner_id,
        "participant_user_ids": sorted(u.id for u in meeting.participant_users),
        "participant_contact_ids": sorted(c.id for c in meeting.participant_contacts),
        "summary": meeting.summary, "outcome": meeting.outcome, "next_step": meeting.next_step,
    }


def _one_meeting(meeting: Meeting) -> dict:
    """A single meeting, with the follow-up tasks linked to it that the caller may see."""
    now = utcnow()
    return {**meeting_json(meeting, visible_company_ids(g.api_user, [meeting])),
            "follow_ups": [task_json(t, now=now) for t in queries.meeting_tasks(g.api_user, meeting.id)]}


# --- meetings --------------------------------------------------------------------------------------------------------

@bp.get("/meetings")
@token_required
def list_meetings():
    page, per_page = page_args(request.args)
    try:
        filters = queries.MeetingFilters(company_id=_id_arg("company_id"), project_id=_id_arg("project_id"),
                                         owner_id=_id_arg("owner_id"))
    except _Unmatched:
        filters = None
    kind = request.args.get("type") or None
    filters_ok = filters is not None and (kind is None or kind in MEETING_TYPES)
    start_from, start_before = _moment_arg("start_from"), _moment_arg("start_before")
    if not filters_ok:
        return _empty(page, per_page)
    filters.type, filters.start_from, filters.start_before = kind, start_from, start_before
    rows, total = queries.meeting_list(g.api_user, filters, page=page, per_page=per_page)
    company_ids = visible_company_ids(g.api_user, rows)
    return {"items": [meeting_json(m, company_ids) for m in rows], "total": total, "page": page,
            "per_page": per_page}


@bp.post("/meetings")
@token_required
def create_meeting():
    data = json_body()
    owner_id = _user_id(data, "owner_id")
    values = {k: v for k, v in data.items() if k in services.MEETING_FIELDS}
    meeting = services.create_meeting(values, actor=g.api_user, follow_ups=data.get("follow_ups"),
                                      owner_id=owner_id)
    return _one_meeting(meeting), 201


@bp.get("/meetings/<int:meeting_id>")
@token_required
def get_meeting(meeting_id: int):
    return _one_meeting(access.visible_meeting(meeting_id, g.api_user))


@bp.patch("/meetings/<int:meeting_id>")
@token_required
def patch_meeting(meeting_id: int):
    data = json_body()
    meeting = access.visible_meeting(meeting_id, g.api_user)  # 404 and 403 before anything about the body
    access.require_edit_meeting(g.api_user, meeting)
    version = version_of(data)
    refused = {k: [v] for k, v in _MEETING_REFUSED.items()
               if k in data and not (k == "owner_id" and data[k] == meeting.owner_id)}
    if refused:
        raise Invalid("These fields cannot be changed here.", refused)
    changes = {k: v for k, v in data.items() if k in services.MEETING_FIELDS}
    return _one_meeting(services.update_meeting(meeting_id, changes, actor=g.api_user, version=version))


@bp.delete("/meetings/<int:meeting_id>")
@token_required
def delete_meeting(meeting_id: int):
    version = request.args.get("version", type=int)
    services.delete_meeting(meeting_id, actor=g.api_user, version=version)
    return "", 204


# --- tasks -----------------------------------------------------------------------------------------------------------

@bp.get("/tasks")
@token_required
def list_tasks():
    page, per_page = page_args(request.args)
    try:
        ids = {name: _id_arg(name) for name in ("owner_id", "company_id", "project_id", "meeting_id")}
    except _Unmatched:
        ids = None
    flags = {"due_before": _date_arg("due_before"), "overdue": _bool_arg("overdue"), "done": _bool_arg("done")}
    if ids is None:
        return _empty(page, per_page)
    now = utcnow()
    rows, total = queries.task_list(g.api_user, queries.TaskFilters(**ids, **flags), page=page, per_page=per_page,
                                    now=now)
    return {"items": [task_json(t, now=now) for t in rows], "total": total, "page": page, "per_page": per_page}


@bp.post("/tasks")
@token_required
def create_task():
    data = json_body()
    values = {k: v for k, v in data.items() if k in services.TASK_FIELDS}
    return task_json(services.create_task(values, actor=g.api_user)), 201


@bp.get("/tasks/<int:task_id>")
@token_required
def get_task(task_id: int):
    return task_json(access.visible_task(task_id, g.api_user))


@bp.patch("/tasks/<int:task_id>")
@token_required
def patch_task(task_id: int):
    data = json_body()
    task = access.visible_task(task_id, g.api_user)  # 404 and 403 before anything about the body
    access.require_edit_task(g.api_user, task)
    version = version_of(data)
    if "snooze" in data:
        if set(data) - {"snooze", "version"}:
            raise Invalid("Send snooze with the version alone.",
                          {"snooze": ["Send snooze with only the version, as its own change."]})
        return task_json(services.snooze_task(task_id, data["snooze"], actor=g.api_user, version=version))
    changes = {k: v for k, v in data.items() if k in services.TASK_FIELDS or k == "done"}
    return task_json(services.update_task(task_id, changes, actor=g.api_user, version=version))


@bp.delete("/tasks/<int:task_id>")
@token_required
def delete_task(task_id: int):
    version = request.args.get("version", type=int)
    services.delete_task(task_id, actor=g.api_user, version=version)
    return "", 204
