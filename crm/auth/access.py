"""The one place that answers "may this user see / change this" (R3).

Every read path (lists, detail pages, search, exports, the API, reminder queries) filters with the `*_scope`
functions here, and every write path asks the `can_*` / `require_*` functions. Anything a user may not see is
reported as NotFound, so ids cannot be probed.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Integer, and_, bindparam, false, or_, select, true

from crm.errors import Forbidden, NotFound

from .models import Role, User

STAFF_ROLES = {Role.OFFICER.value, Role.MANAGER.value, Role.ADMIN.value}
MANAGING_ROLES = {Role.MANAGER.value, Role.ADMIN.value}


def is_manager(user: User) -> bool:
    """Managers and admins see every record and every contact detail."""
    return user.role in MANAGING_ROLES


def require_role(user: User, *roles: Role) -> None:
    if user.role not in {r.value for r in roles}:
        raise Forbidden(str(_l("This action is not available to your role.")))


def team_member_ids(user: User):
    return select(User.id).where(User.team_id == user.team_id).scalar_subquery()


def company_scope(user: User) -> ColumnElement[bool]:
    """Companies the user may see: managers all; officers the public pool, their own and their team's."""
    from crm.companies.models import Company

    live = Company.deleted_at.is_(None)
    if is_manager(user):
        return live
    if user.role == Role.OFFICER.value:
        held = [Company.owner_id.is_(None), Company.owner_id == user.id]
        if user.team_id is not None:
            held.append(Company.owner_id.in_(team_member_ids(user)))
        return and_(live, or_(*held))
    return false()  # liaisons reach companies only through the requests routed to their department


def sees_company(user: User, *, deleted: bool, owner_id: int | None, owner_team_id: int | None) -> bool:
    """`company_scope` for one company already read (whether it is deleted, its holder and the holder's team)."""
    if deleted or user.role not in STAFF_ROLES:
        return False
    return is_manager(user) or owner_id is None or owner_id == user.id or \
        (user.team_id is not None and owner_team_id == user.team_id)


def can_edit_company(user: User, company) -> bool:
    """Owners and managers edit; any officer may edit a company in the public pool."""
    if is_manager(user):
        return True
    return user.role == Role.OFFICER.value and company.owner_id in (None, user.id)


def can_see_contact_details(user: User, company) -> bool:
    """Phones and WeChat ids are shown in full to the company's owner and to managers only."""
    return is_manager(user) or (company.owner_id is not None and company.owner_id == user.id)


def require_edit_company(user: User, company) -> None:
    if not can_edit_company(user, company):
        raise Forbidden(str(_l("Only the officer who holds this company, or a manager, may change it.")))


def visible_company(company_id: int, user: User):
    """Load a company the user may see, or raise NotFound."""
    from crm.companies.models import Company
    from crm.extensions import db

    company = db.session.scalar(select(Company).where(Company.id == company_id, company_scope(user)))
    if company is None:
        raise NotFound(str(_l("No such company.")))
    return company


# --- projects ---------------------------------------------------------------------------------------------------------

def _team_owns(user: User, owner_column) -> ColumnElement[bool]:
    mine = owner_column == user.id
    return or_(mine, owner_column.in_(team_member_ids(user))) if user.team_id is not None else mine


def project_scope(user: User) -> ColumnElement[bool]:
    """Projects the user may see: managers all; officers every project except other teams' confidential ones."""
    from crm.projects.models import Project

    live = Project.deleted_at.is_(None)
    if is_manager(user):
        return live
    if user.role == Role.OFFICER.value:
        return and_(live, or_(Project.confidential.is_(False), _team_owns(user, Project.owner_id)))
    return false()  # liaisons see only what is routed to their department (the support board)


def same_team(user: User, owner: User | None) -> bool:
    return owner is not None and (owner.id == user.id or (user.team_id is not None and owner.team_id == user.team_id))


def can_edit_project(user: User, project) -> bool:
    """Managers; officers for projects they or their team own."""
    if is_manager(user):
        return True
    return user.role == Role.OFFICER.value and same_team(user, project.owner)


def require_edit_project(user: User, project) -> None:
    if not can_edit_project(user, project):
        raise Forbidden(str(_l("Only the project's owner, the owner's team or a manager may change it.")))


def sees_project(user: User, *, deleted: bool, confidential: bool, owner_id: int | None,
                 owner_team_id: int | None) -> bool:
    """`project_scope` for one project already read (whether it is deleted or confidential, its owner and the
    owner's team)."""
    if deleted or user.role not in STAFF_ROLES:
        return False
    return is_manager(user) or not confidential or owner_id == user.id or \
        (user.team_id is not None and owner_team_id == user.team_id)


def visible_project(project_id: int, user: User):
    """Load a project the user may see, or raise NotFound."""
    from crm.extensions import db
    from crm.projects.models import Project

    project = db.session.scalar(select(Project).where(Project.id == project_id, project_scope(user)))
    if project is None:
        raise NotFound(str(_l("No such project.")))
    return project


def user_scope(user: User) -> ColumnElement[bool]:
    """Users listed in pickers and filters: every staff member sees colleagues' names."""
    return true() if user.role in STAFF_ROLES else User.id == user.id


# --- meetings and tasks ----------------------------------------------------------------------------------------------

def _visible_record(user: User, company_column, project_column) -> ColumnElement[bool]:
    """The record's company is one the user may see, and its project (if any) is too."""
    from crm.companies.models import Company
    from crm.projects.models import Project

    company_ok = company_column.in_(select(Company.id).where(company_scope(user)).scalar_subquery())
    project_ok = or_(project_column.is_(None),
                     project_column.in_(select(Project.id).where(project_scope(user)).scalar_subquery()))
    return and_(company_ok, project_ok)


def meeting_scope(user: User) -> ColumnElement[bool]:
    """Meetings the user may see: managers all; officers those they or their team logged, those they took part in,
    and those on companies (and projects) they may see."""
    from crm.meetings.models import Meeting, MeetingUser

    live = Meeting.deleted_at.is_(None)
    if is_manager(user):
        return live
    if user.role == Role.OFFICER.value:
        took_part = Meeting.id.in_(select(MeetingUser.meeting_id).where(MeetingUser.user_id == user.id)
                                   .scalar_subquery())
        return and_(live, or_(_team_owns(user, Meeting.owner_id), took_part,
                              _visible_record(user, Meeting.company_id, Meeting.project_id)))
    return false()


def task_scope(user: User) -> ColumnElement[bool]:
    """Tasks the user may see: managers all; officers their own and their team's, and those on companies (and
    projects) they may see. A task on no company is its owner's team's business only."""
    from crm.meetings.models import Task

    live = Task.deleted_at.is_(None)
    if is_manager(user):
        return live
    if user.role == Role.OFFICER.value:
        on_visible = and_(Task.company_id.is_not(None), _visible_record(user, Task.company_id, Task.project_id))
        return and_(live, or_(_team_owns(user, Task.owner_id), on_visible))
    return false()


def one_scope_shape(user: User, company_visible: bool) -> tuple:
    """What `scope_on_one`'s expression depends on besides its parameters: the role, whether the officer has a
    team, whether they may see the company."""
    if is_manager(user):
        return ("manager",)
    if user.role != Role.OFFICER.value:
        return ("none",)
    return ("officer", user.team_id is not None, company_visible)


def one_scope_params(user: User, project_ids) -> dict:
    """The values of `scope_on_one`'s parameters for `user`."""
    return {"scope_user": user.id, "scope_team": user.team_id, "scope_projects": list(project_ids)}


def scope_on_one(model, shape: tuple) -> ColumnElement[bool]:
    """`meeting_scope` or `task_scope` (by `model`) for the records of ONE company or ONE project, given what the
    caller read once: whether the user may see that company, and the ids of its projects they may see (a project
    page: that project). The same rows, as a statement a fraction of the size: the general scopes test each record's
    company and project against the lists of every company and project the user may see. Valid only for records of
    that company or project (services keep a record's project one of its company's).

    Written with bound parameters (`one_scope_params`), so a statement built with it is kept and run again for any
    user of the same `one_scope_shape` (queries.timeline keeps its statements: building one and working out its
    cache key cost more than running it)."""
    from crm.meetings.models import Meeting, MeetingUser

    live = model.deleted_at.is_(None)
    if shape[0] == "manager":
        return live
    if shape[0] != "officer":
        return false()
    _, has_team, company_visible = shape
    user = bindparam("scope_user", type_=Integer)
    team_owns = model.owner_id == user
    if has_team:
        team_owns = or_(team_owns, model.owner_id.in_(
            select(User.id).where(User.team_id == bindparam("scope_team", type_=Integer)).scalar_subquery()))
    on_visible = and_(model.company_id.is_not(None), or_(
        model.project_id.is_(None), model.project_id.in_(bindparam("scope_projects", expanding=True)))) \
        if company_visible else false()
    allowed = [team_owns, on_visible]
    if model is Meeting:
        allowed.append(Meeting.id.in_(select(MeetingUser.meeting_id).where(MeetingUser.user_id == user)
                                      .scalar_subquery()))
    return and_(live, or_(*allowed))


def can_edit_meeting(user: User, meeting) -> bool:
    """Managers; officers for meetings they or their team logged."""
    return is_manager(user) or (user.role == Role.OFFICER.value and same_team(user, meeting.owner))


def can_edit_task(user: User, task) -> bool:
    """Managers; officers for their own and their team's tasks."""
    return is_manager(user) or (user.role == Role.OFFICER.value and same_team(user, task.owner))


def require_edit_meeting(user: User, meeting) -> None:
    if not can_edit_meeting(user, meeting):
        raise Forbidden(str(_l("Only the officer who logged this meeting, their team or a manager may change it.")))


def require_edit_task(user: User, task) -> None:
    if not can_edit_task(user, task):
        raise Forbidden(str(_l("Only the task's owner, the owner's team or a manager may change it.")))


def visible_meeting(meeting_id: int, user: User):
    from crm.extensions import db
    from crm.meetings.models import Meeting

    meeting = db.session.scalar(select(Meeting).where(Meeting.id == meeting_id, meeting_scope(user)))
    if meeting is None:
        raise NotFound(str(_l("No such meeting.")))
    return meeting


def visible_task(task_id: int, user: User):
    from crm.extensions import db
    from crm.meetings.models import Task

    task = db.session.scalar(select(Task).where(Task.id == task_id, task_scope(user)))
    if task is None:
        raise NotFound(str(_l("No such task.")))
    return task


def can_see_tasks_of(user: User, owner: User) -> bool:
    """Whose "my tasks" page a user may open: their own; a manager anyone's; an officer a teammate's."""
    return owner.id == user.id or is_manager(user) or (user.role == Role.OFFICER.value and same_team(user, owner))


def sees_every_task_of(user: User, owner: User) -> bool:
    """Whether `task_scope` admits every live task of `owner` for `user`: a manager sees every task, an officer
    their team's (themselves included), so it does for exactly the owners whose "my tasks" page the user may open
    (`can_see_tasks_of`). "My tasks" then reads an owner's tasks without the scope's subqueries."""
    return user.role in STAFF_ROLES and can_see_tasks_of(user, owner)
