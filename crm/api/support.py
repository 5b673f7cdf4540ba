"""The support board over JSON (项目帮扶): a signed project's milestones and enterprise requests, a request's
handling, and the caller's lists. The rules are crm.support's services and access: staff see what belongs to the
projects they may see; a department liaison sees what is routed to their department and nothing else.

Lists follow crm/api/meetings.py: a filter value that names nothing (an unknown status or department, an id out of
range) gives an empty list; a true/false filter that cannot be read is a 422 naming the parameter.
"""
from datetime import date

from flask import g, request
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from crm.auth import access
from crm.auth.models import User
from crm.core.pagination import page_args
from crm.errors import Invalid, NotFound
from crm.extensions import db
from crm.projects import queries as project_queries
from crm.projects.models import Project
from crm.support import access as support_access
from crm.support import queries, services
from crm.support.models import OPEN_STATUSES, REQUEST_STATUSES, EnterpriseRequest, Milestone, RequestEvent

from . import bp, iso, json_body, token_required, version_of
from .meetings import _bool_arg, _empty, _id_arg, _Unmatched

#: what a request's PATCH reads: its fields, and a status move with its resolution, satisfaction and note
_REQUEST_INPUT = (*services.REQUEST_FIELDS, *services.STATUS_FIELDS)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _company_names(projects) -> dict[int, str]:
    """Project id → the company's name as this caller may see it (a confidential project's code name to whoever
    may not open its company: a liaison always, another team's officer)."""
    projects = [p for p in projects if p is not None]
    company_ids = project_queries.visible_company_ids(g.api_user, projects)
    return {p.id: project_queries.shown_name(p, company_ids) for p in projects}


def _not_found_project() -> NotFound:
    return NotFound("No such project.")


# --- shapes ----------------------------------------------------------------------------------------------------------

def milestone_json(milestone: Milestone, status: str, names: dict[int, str]) -> dict:
    return {
        "id": milestone.id, "version": milestone.version, "created_at": iso(milestone.created_at),
        "updated_at": iso(milestone.updated_at), "project_id": milestone.project_id,
        "company_name": names.get(milestone.project_id, ""), "kind": milestone.kind, "sort": milestone.sort,
        "planned_date": _day(milestone.planned_date), "actual_date": _day(milestone.actual_date),
        "department": milestone.department, "owner_id": milestone.owner_id, "note": milestone.note,
        "status": status,
    }


def _milestone_change(change: services.MilestoneChange) -> dict:
    """A write's answer: the milestone, the warnings it was saved with, and the stage move it offers (accepted with
    POST /projects/{id}/stage and the offer's stage, version and date)."""
    milestone, offer = change.milestone, change.offer
    return {**milestone_json(milestone, change.status, _company_names([milestone.project])),
            "warnings": change.warnings,
            "offer": None if offer is None else {"stage": offer.to_stage, "version": offer.version,
                                                 "from_stage": offer.from_stage, "date": offer.on.isoformat()}}


def request_json(found: EnterpriseRequest, names: dict[int, str], today: date) -> dict:
    return {
        "id": found.id, "version": found.version, "created_at": iso(found.created_at),
        "updated_at": iso(found.updated_at), "project_id": found.project_id, "company_id": found.company_id,
        "company_name": names.get(found.project_id, ""), "category": found.category,
        "description": found.description, "department": found.department, "owner_id": found.owner_id,
        "deadline": _day(found.deadline), "status": found.status, "resolution": found.resolution,
        "satisfaction": found.satisfaction, "resolved_at": iso(found.resolved_at), "closed_at": iso(found.closed_at),
        "created_by_id": found.created_by_id, "overdue": services.is_past_deadline(found, on=today),
    }


def _one_request(found: EnterpriseRequest) -> dict:
    return request_json(found, _company_names([db.session.get(Project, found.project_id)]), services.today())


def event_json(event: RequestEvent) -> dict:
    actor = event.actor
    return {"id": event.id, "at": iso(event.at), "actor_id": event.actor_id,
            "actor_name": actor.name if actor else None, "action": event.action,
            "from_status": event.from_status, "to_status": event.to_status, "changes": event.changes or {},
            "note": event.note}


def _paged(rows: list, page: int, per_page: int) -> tuple[list, int]:
    return rows[(page - 1) * per_page:page * per_page], len(rows)


# --- milestones ------------------------------------------------------------------------------------------------------

def _project_rows(project_id: int, read, user: User) -> list:
    """A project's board records for this caller, `read(project_id, user)`: staff must be able to see the project
    (404 otherwise); a liaison, who sees no project, reaches one only through the records of their department on it
    (none: 404, the answer for a project that does not exist, so ids cannot be probed)."""
    if user.role in access.STAFF_ROLES:
        access.visible_project(project_id, user)
    rows = read(project_id, user)
    if not rows and user.role not in access.STAFF_ROLES:
        raise _not_found_project()
    return rows


@bp.get("/projects/<int:project_id>/milestones")
@token_required
def list_project_milestones(project_id: int):
    page, per_page = page_args(request.args, default_per_page=200)
    rows = _project_rows(project_id, queries.project_milestones, g.api_user)
    shown, total = _paged(rows, page, per_page)
    names = _company_names([db.session.get(Project, project_id)]) if rows else {}
    return {"items": [milestone_json(r.milestone, r.status, names) for r in shown], "total": total, "page": page,
            "per_page": per_page}


def _milestone_values(data: dict) -> dict:
    """The milestone fields of a body (the service checks them)."""
    return {k: v for k, v in data.items() if k in services.MILESTONE_FIELDS}


@bp.post("/projects/<int:project_id>/milestones")
@token_required
def create_milestone(project_id: int):
    data = json_body()
    values = _milestone_values(data)
    return _milestone_change(services.add_milestone(project_id, values, actor=g.api_user)), 201


@bp.get("/milestones")
@token_required
def list_milestones():
    """The milestones the caller may see (a liaison: their department's), not done first, soonest planned first."""
    page, per_page = page_args(request.args)
    try:
        ids = {name: _id_arg(name) for name in ("project_id", "owner_id")}
    except _Unmatched:
        return _empty(page, per_page)
    status = request.args.get("status") or None
    department = request.args.get("department") or None
    if status is not None and status not in services.STATUSES:
        return _empty(page, per_page)
    on, days = services.today(), services.warning_days()
    stmt = select(Milestone).where(support_access.milestone_scope(g.api_user))
    if ids["project_id"] is not None:
        stmt = stmt.where(Milestone.project_id == ids["project_id"])
    if ids["owner_id"] is not None:
        stmt = stmt.where(Milestone.owner_id == ids["owner_id"])
    if department is not None:
        stmt = stmt.where(Milestone.department == department)
    if status is not None:
        stmt = stmt.where(services.status_expression(on, days) == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(
        stmt.options(joinedload(Milestone.project).joinedload(Project.company))
        .order_by(Milestone.actual_date.is_not(None), Milestone.planned_date.is_(None), Milestone.planned_date,
                  Milestone.project_id, Milestone.sort, Milestone.id)
        .limit(per_page).offset((page - 1) * per_page)))
    names = _company_names({m.project_id: m.project for m in rows}.values())
    return {"items": [milestone_json(m, services.milestone_status(m, on=on, days=days), names) for m in rows],
            "total": total, "page": page, "per_page": per_page}


@bp.get("/milestones/<int:milestone_id>")
@token_required
def get_milestone(milestone_id: int):
    milestone = support_access.visible_milestone(milestone_id, g.api_user)
    return milestone_json(milestone, services.milestone_status(milestone), _company_names([milestone.project]))


@bp.patch("/milestones/<int:milestone_id>")
@token_required
def patch_milestone(milestone_id: int):
    data = json_body()
    milestone = support_access.visible_milestone(milestone_id, g.api_user)  # 404 and 403 before the body's checks
    support_access.require_edit_milestone(g.api_user, milestone, milestone.project)
    version = version_of(data)
    values = _milestone_values(data)
    return _milestone_change(services.update_milestone(milestone_id, values, actor=g.api_user, version=version))


@bp.delete("/milestones/<int:milestone_id>")
@token_required
def delete_milestone(milestone_id: int):
    version = request.args.get("version", type=int)
    services.delete_milestone(milestone_id, actor=g.api_user, version=version)
    return "", 204


# --- enterprise requests ---------------------------------------------------------------------------------------------

def _note(data: dict) -> str:
    """The optional note of a creation; the service checks its length and text."""
    value = data.get("note")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("note must be text.", {"note": ["Send text."]})
    return value


@bp.get("/projects/<int:project_id>/requests")
@token_required
def list_project_requests(project_id: int):
    page, per_page = page_args(request.args, default_per_page=200)
    rows = _project_rows(project_id, queries.project_requests, g.api_user)
    shown, total = _paged(rows, page, per_page)
    names, today = (_company_names([db.session.get(Project, project_id)]) if rows else {}), services.today()
    return {"items": [request_json(r, names, today) for r in shown], "total": total, "page": page,
            "per_page": per_page}


@bp.post("/projects/<int:project_id>/requests")
@token_required
def create_request(project_id: int):
    data = json_body()
    values = {k: v for k, v in data.items() if k in services.REQUEST_FIELDS}
    found = services.create_request(project_id, values, actor=g.api_user, note=_note(data))
    return _one_request(found), 201


@bp.get("/requests")
@token_required
def list_requests():
    """The requests the caller may see (a liaison: those routed to their department), open ones first, soonest
    deadline first."""
    page, per_page = page_args(request.args)
    try:
        ids = {name: _id_arg(name) for name in ("project_id", "owner_id")}
    except _Unmatched:
        ids = None
    overdue = _bool_arg("overdue")
    status = request.args.get("status") or None
    department = request.args.get("department") or None
    if ids is None or (status is not None and status not in REQUEST_STATUSES):
        return _empty(page, per_page)
    today = services.today()
    stmt = select(EnterpriseRequest).where(support_access.request_scope(g.api_user))
    if ids["project_id"] is not None:
        stmt = stmt.where(EnterpriseRequest.project_id == ids["project_id"])
    if ids["owner_id"] is not None:
        stmt = stmt.where(EnterpriseRequest.owner_id == ids["owner_id"])
    if status is not None:
        stmt = stmt.where(EnterpriseRequest.status == status)
    if department is not None:
        stmt = stmt.where(EnterpriseRequest.department == department)
    late = services.past_deadline(today)
    if overdue is not None:
        stmt = stmt.where(late if overdue else ~late)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(
        stmt.options(joinedload(EnterpriseRequest.project).joinedload(Project.company))
        .order_by(EnterpriseRequest.status.in_(OPEN_STATUSES).desc(), EnterpriseRequest.deadline,
                  EnterpriseRequest.id)
        .limit(per_page).offset((page - 1) * per_page)))
    names = _company_names({r.project_id: r.project for r in rows}.values())
    return {"items": [request_json(r, names, today) for r in rows], "total": total, "page": page,
            "per_page": per_page}


@bp.get("/requests/<int:request_id>")
@token_required
def get_request(request_id: int):
    return _one_request(support_access.visible_request(request_id, g.api_user))


@bp.patch("/requests/<int:request_id>")
@token_required
def patch_request(request_id: int):
    data = json_body()
    found = support_access.visible_request(request_id, g.api_user)  # 404 and 403 before the body's checks
    support_access.require_edit_request(g.api_user, found, db.session.get(Project, found.project_id))
    version = version_of(data)
    values = {k: v for k, v in data.items() if k in _REQUEST_INPUT}
    return _one_request(services.update_request(request_id, values, actor=g.api_user, version=version))


@bp.delete("/requests/<int:request_id>")
@token_required
def delete_request(request_id: int):
    version = request.args.get("version", type=int)
    services.delete_request(request_id, actor=g.api_user, version=version, note=request.args.get("note", "")[:2000])
    return "", 204


@bp.get("/requests/<int:request_id>/events")
@token_required
def request_history(request_id: int):
    found = support_access.visible_request(request_id, g.api_user)
    items = [event_json(e) for e in queries.request_events(found.id)]
    return {"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)}
