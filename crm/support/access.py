"""Who may see and change the support board's records, in the style of crm.auth.access (R3).

Staff see the milestones and requests of the projects they may see (`access.project_scope`) and change those of
the projects they may change. A department liaison (职能部门联络员) sees only what is routed to their department:
requests whose `department` is theirs and milestones their department is responsible for, on live projects, and
nothing else; they may update those. Anything a user may not see is reported as NotFound, so ids cannot be probed.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, false, select

from crm.auth import access
from crm.auth.models import Role, User
from crm.errors import Forbidden, NotFound
from crm.extensions import db
from crm.projects.models import Project

from .models import EnterpriseRequest, Milestone

#: what a liaison may change on a milestone of their department (its routing and responsible officer stay with
#: the project's officers)
LIAISON_MILESTONE_FIELDS = ("planned_date", "actual_date", "note")


def is_liaison(user: User) -> bool:
    """A liaison with a department: without one a liaison sees nothing."""
    return user.role == Role.LIAISON.value and bool(user.department)


def _projects(user: User):
    """The ids of the projects whose board records the user may see (as staff)."""
    return select(Project.id).where(access.project_scope(user)).scalar_subquery()


def _live_projects():
    return select(Project.id).where(Project.deleted_at.is_(None)).scalar_subquery()


def milestone_scope(user: User) -> ColumnElement[bool]:
    """Milestones the user may see: staff those of projects they may see; a liaison their department's."""
    live = Milestone.deleted_at.is_(None)
    if user.role in access.STAFF_ROLES:
        return and_(live, Milestone.project_id.in_(_projects(user)))
    if is_liaison(user):
        return and_(live, Milestone.department == user.department, Milestone.project_id.in_(_live_projects()))
    return false()


def request_scope(user: User) -> ColumnElement[bool]:
    """Enterprise requests the user may see: staff those of projects they may see; a liaison those routed to
    their department."""
    live = EnterpriseRequest.deleted_at.is_(None)
    if user.role in access.STAFF_ROLES:
        return and_(live, EnterpriseRequest.project_id.in_(_projects(user)))
    if is_liaison(user):
        return and_(live, EnterpriseRequest.department == user.department,
                    EnterpriseRequest.project_id.in_(_live_projects()))
    return false()


def visible_milestone(milestone_id: int, user: User) -> Milestone:
    """Load a milestone the user may see, or raise NotFound."""
    milestone = db.session.scalar(select(Milestone).where(Milestone.id == milestone_id, milestone_scope(user)))
    if milestone is None:
        raise NotFound(str(_l("No such milestone.")))
    return milestone


def visible_request(request_id: int, user: User) -> EnterpriseRequest:
    """Load a request the user may see, or raise NotFound."""
    found = db.session.scalar(select(EnterpriseRequest).where(EnterpriseRequest.id == request_id,
                                                              request_scope(user)))
    if found is None:
        raise NotFound(str(_l("No such request.")))
    return found


def can_edit_milestone(user: User, milestone: Milestone, project: Project) -> bool:
    """Whoever may change the project; a liaison for their department's milestones (some fields only)."""
    if is_liaison(user):
        return milestone.department == user.department
    return access.can_edit_project(user, project)


def can_edit_request(user: User, found: EnterpriseRequest, project: Project) -> bool:
    """Whoever may change the project; a liaison for the requests routed to their department (status and
    resolution only)."""
    if is_liaison(user):
        return found.department == user.department
    return access.can_edit_project(user, project)


def require_edit_milestone(user: User, milestone: Milestone, project: Project) -> None:
    if not can_edit_milestone(user, milestone, project):
        raise Forbidden(str(_l("Only the project's owner, the owner's team, a manager or the responsible "
                               "department's liaison may change this milestone.")))


def require_edit_request(user: User, found: EnterpriseRequest, project: Project) -> None:
    if not can_edit_request(user, found, project):
        raise Forbidden(str(_l("Only the project's owner, the owner's team, a manager or the liaison of the "
                               "department it is routed to may change this request.")))
