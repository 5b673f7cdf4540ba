"""Read paths of the support board that the project page, the liaison's lists and the timeline build on; every one
filters with crm.support.access, so a liaison reads only their department's records."""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.core.timeutil import as_aware
from crm.extensions import db

from . import access as support_access
from . import services
from .models import EnterpriseRequest, Milestone, RequestEvent


@dataclass
class MilestoneRow:
    milestone: Milestone
    status: str


def project_milestones(project_id: int, user: User, *, on: date | None = None) -> list[MilestoneRow]:
    """The project's milestones the user may see, in board order, each with its status (one query)."""
    on, days = on or services.today(), services.warning_days()
    rows = db.session.scalars(select(Milestone).options(joinedload(Milestone.owner))
                              .where(Milestone.project_id == project_id, support_access.milestone_scope(user))
                              .order_by(Milestone.sort, Milestone.id))
    return [MilestoneRow(m, services.milestone_status(m, on=on, days=days)) for m in rows]


def project_requests(project_id: int, user: User) -> list[EnterpriseRequest]:
    """The project's requests the user may see: open ones first, soonest deadline first."""
    still_open = EnterpriseRequest.status.in_(("open", "in_progress"))
    return list(db.session.scalars(select(EnterpriseRequest).options(joinedload(EnterpriseRequest.owner))
                                   .where(EnterpriseRequest.project_id == project_id,
                                          support_access.request_scope(user))
                                   .order_by(still_open.desc(), EnterpriseRequest.deadline, EnterpriseRequest.id)))


def department_requests(user: User, *, open_only: bool = True, limit: int = 200) -> list[EnterpriseRequest]:
    """The requests the user may see (a liaison: their department's), open ones by deadline."""
    stmt = select(EnterpriseRequest).where(support_access.request_scope(user))
    if open_only:
        stmt = stmt.where(EnterpriseRequest.status.in_(("open", "in_progress")))
    return list(db.session.scalars(stmt.order_by(EnterpriseRequest.deadline, EnterpriseRequest.id).limit(limit)))


def request_events(request_id: int) -> list[RequestEvent]:
    """A request's handling, oldest first (the caller has checked that the request is visible)."""
    return list(db.session.scalars(select(RequestEvent).options(joinedload(RequestEvent.actor))
                                   .where(RequestEvent.request_id == request_id)
                                   .order_by(RequestEvent.at, RequestEvent.id)))


def timeline(project_id: int, *, limit: int = 200) -> list[dict]:
    """The project's request events and audited milestone changes, newest first, as items shaped like those of
    crm.projects.queries.history (kind, at, actor, id), to be merged into the project's timeline. For viewers who
    may see the project (a liaison's view of a request is `request_events`)."""
    items = []
    events = db.session.scalars(select(RequestEvent).options(joinedload(RequestEvent.actor))
                                .where(RequestEvent.project_id == project_id)
                                .order_by(RequestEvent.at.desc(), RequestEvent.id.desc()).limit(limit))
    for e in events:
        items.append({"kind": "request", "at": e.at, "actor": e.actor, "action": e.action,
                      "request_id": e.request_id, "from_status": e.from_status, "to_status": e.to_status,
                      "changes": e.changes or {}, "note": e.note, "id": e.id})
    milestone_ids = select(Milestone.id).where(Milestone.project_id == project_id)
    changes = db.session.scalars(select(AuditEvent).options(joinedload(AuditEvent.actor))
                                 .where(AuditEvent.object_type == "milestone", AuditEvent.action != "create",
                                        AuditEvent.object_id.in_(milestone_ids))
                                 .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit))
    for e in changes:  # creations are the template's nine rows at signing: the stage move says that
        items.append({"kind": "milestone", "at": e.at, "actor": e.actor, "action": e.action,
                      "milestone_id": e.object_id, "label": e.label, "changes": e.changes or {}, "id": e.id})
    items.sort(key=lambda i: (as_aware(i["at"]), i["id"]), reverse=True)
    return items[:limit]


def open_milestones(user: User, *, status: str | None = None, limit: int = 300) -> list[MilestoneRow]:
    """The milestones the user may see that are not done (a liaison: their department's), soonest planned first
    (unplanned last); `status` narrows to red, yellow or green."""
    on, days = services.today(), services.warning_days()
    stmt = select(Milestone).options(joinedload(Milestone.project), joinedload(Milestone.owner)).where(
        support_access.milestone_scope(user), Milestone.actual_date.is_(None))
    if status in ("red", "yellow", "green"):
        stmt = stmt.where(services.status_expression(on, days) == status)
    rows = db.session.scalars(stmt.order_by(Milestone.planned_date.asc().nulls_last(), Milestone.id).limit(limit))
    return [MilestoneRow(m, services.milestone_status(m, on=on, days=days)) for m in rows]


def request_list(user: User, *, open_only: bool = True, overdue: bool = False, department: str | None = None,
                 limit: int = 300) -> list[EnterpriseRequest]:
    """The requests the user may see, soonest deadline first: open ones (or all), past their deadline, or routed
    to one department."""
    stmt = select(EnterpriseRequest).options(joinedload(EnterpriseRequest.project),
                                             joinedload(EnterpriseRequest.owner)).where(
        support_access.request_scope(user))
    if open_only:
        stmt = stmt.where(EnterpriseRequest.status.in_(("open", "in_progress")))
    if overdue:
        stmt = stmt.where(services.past_deadline(services.today()))
    if department:
        stmt = stmt.where(EnterpriseRequest.department == department)
    return list(db.session.scalars(stmt.order_by(EnterpriseRequest.deadline, EnterpriseRequest.id).limit(limit)))


def project_names(user: User, projects) -> dict[int, tuple[str, str]]:
    """project id → (the project's name, its company's name or, for a confidential project whose company the user
    may not see, its code name): how lists name the projects their rows belong to."""
    from crm.projects.queries import shown_name, visible_company_ids

    projects = list({p.id: p for p in projects}.values())
    company_ids = visible_company_ids(user, projects)
    return {p.id: (project_label(p, company_ids), shown_name(p, company_ids)) for p in projects}


def project_label(project, company_ids: set[int]) -> str:
    """A project's name, or its code name where its company is hidden from the viewer (a confidential project seen
    by a liaison through a request or a milestone): its name could tell the company."""
    if project.confidential and project.company_id not in company_ids:
        return project.code_name or f"#{project.id}"
    return project.name


def project_card(user: User, project) -> dict:
    """What the project page's support card shows: the milestones with their statuses, the requests, the recent
    history of both, and what the user may do."""
    from crm.auth import access

    can_edit = access.can_edit_project(user, project)
    return {"support_signed": services.was_signed(project),
            "support_milestones": project_milestones(project.id, user),
            "support_requests": project_requests(project.id, user),
            "support_history": timeline(project.id, limit=15),
            "support_can_edit": can_edit}


@dataclass
class ContactLine:
    name: str
    title: str
    mobile: str
    email: str


def request_contacts(user: User, found: EnterpriseRequest, *, limit: int = 5) -> list[ContactLine]:
    """The company's contacts as the request's page shows them: a liaison handling the request (DESIGN.md: "no
    contacts beyond the request's") and the company's holder or a manager read the phones in full, other staff
    masked, as on the company's page. None where the viewer may not know the company (a confidential project's
    code name)."""
    from crm.auth import access
    from crm.companies.models import Company, Contact
    from crm.core.text import mask_phone
    from crm.projects.queries import visible_company_ids

    project = found.project
    if project.confidential and project.company_id not in visible_company_ids(user, [project]):
        return []
    company = db.session.get(Company, found.company_id)
    full = support_access.is_liaison(user) or access.can_see_contact_details(user, company)
    rows = db.session.scalars(select(Contact).where(Contact.company_id == found.company_id,
                                                    Contact.deleted_at.is_(None)).order_by(Contact.id).limit(limit))
    return [ContactLine(c.name, c.title, c.mobile if full else mask_phone(c.mobile), c.email if full else "")
            for c in rows]
