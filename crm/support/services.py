"""The support board's rules (项目帮扶): milestones made from the template when a project is signed, their derived
status, edits (with the stage offer at construction and production start), and enterprise requests with their
status workflow. Pages, the API, the CLI and the worker all come through here; each public function that writes is
one unit of work, committed once (except `add_standard_milestones`, which joins the stage move's).
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, select
from sqlalchemy.orm.exc import StaleDataError

from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import Role, User
from crm.core import fields as rules
from crm.core import text as textrules
from crm.core.timeutil import as_aware, utcnow, zone
from crm.errors import Conflict, Forbidden, Invalid
from crm.extensions import db
from crm.projects import stages
from crm.projects.models import REACHED, Project
from crm.reference import services as reference

from . import access as support_access
from . import workdays
from .models import (
    CATEGORY_KEYS,
    MILESTONE_BY_KEY,
    MILESTONE_KEYS,
    MILESTONE_KINDS,
    OPEN_STATUSES,
    REQUEST_STATUSES,
    EnterpriseRequest,
    Milestone,
    RequestEvent,
    status_label,
)

#: the setting this feature reads (see crm.reference.services.SETTINGS)
WARNING_SETTING = "milestone_warning_days"
#: a milestone's statuses, worst first: the board sorts its rows by their worst cell
STATUSES = ("red", "yellow", "green", "done")
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}
#: reaching these milestones offers to move the project to the stage they begin (never moved automatically: the
#: officer confirms, since an actual date is sometimes entered early or by a liaison)
STAGE_OFFERS = {"construction_start": "under_construction", "production_start": "in_production"}
#: the status moves a request may make; resolved → in progress reopens it
TRANSITIONS = {"open": ("in_progress",), "in_progress": ("resolved",), "resolved": ("closed", "in_progress"),
               "closed": ()}
#: what a liaison may change on a request of their department besides its status and resolution
LIAISON_REQUEST_FIELDS = ("owner_id",)
_ID = {"minimum": 1, "maximum": 2**31 - 1}


def _invalid(errors: dict) -> Invalid:
    return Invalid(str(_l("Please correct the marked fields.")), errors)


def _stale() -> Conflict:
    return Conflict(str(_l("This record was changed by someone else since you opened it. "
                           "Reload to see the changes; your input was not saved.")))


def _check_version(record, version) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version != record.version:
        raise _stale()


def _commit_versioned() -> None:
    """Commit; an UPDATE that found the row at another version (someone committed in between) is a 409."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise _stale() from None


def _touch_project(project_id: int) -> None:
    """Work on a project's milestones or requests is activity on the project (its stale flag), without a new
    version (an open edit form stays current)."""
    from crm.projects.services import note_activity  # here: crm.projects.services imports this module

    note_activity(project_id, utcnow())


def today(now: datetime | None = None) -> date:
    """The calendar day in the zone's time zone (Beijing's midnight is 16:00 UTC)."""
    return as_aware(now or utcnow()).astimezone(zone()).date()


# --- milestone status (derived, never stored) ------------------------------------------------------------------------

def warning_days() -> int:
    return int(reference.get_setting(WARNING_SETTING))


def milestone_status(milestone, *, on: date | None = None, days: int | None = None) -> str:
    """done (an actual date), red (planned before today and not done), yellow (planned within `days` days from
    today, today included), green (later, or not planned yet).

    `on` is the zone's today unless given; `days` the setting unless given (a page reads both once)."""
    if milestone.actual_date is not None:
        return "done"
    planned = milestone.planned_date
    if planned is None:
        return "green"
    on = on or today()
    if planned < on:
        return "red"
    if planned <= on + timedelta(days=warning_days() if days is None else days):
        return "yellow"
    return "green"


def status_expression(on: date, days: int):
    """`milestone_status` as SQL (for sorting and counting on the board): the same four values."""
    return case((Milestone.actual_date.is_not(None), "done"),
                (Milestone.planned_date.is_(None), "green"),
                (Milestone.planned_date < on, "red"),
                (Milestone.planned_date <= on + timedelta(days=days), "yellow"),
                else_="green")


def worst_status(statuses) -> str | None:
    """The worst of some statuses (a board row's sort key); None for none."""
    ranked = sorted(statuses, key=STATUS_RANK.__getitem__)
    return ranked[0] if ranked else None


# --- a request past its deadline ------------------------------------------------------------------------------------

def is_past_deadline(found, *, on: date | None = None) -> bool:
    """Still waiting for the zone (open or in progress) after its deadline day, in the zone's calendar."""
    return found.status in OPEN_STATUSES and found.deadline < (on or today())


def past_deadline(on: date):
    """`is_past_deadline` as SQL: the lists, the API's `overdue` filter, the digests and the escalation."""
    return EnterpriseRequest.status.in_(OPEN_STATUSES) & (EnterpriseRequest.deadline < on)


# --- the template ----------------------------------------------------------------------------------------------------

def was_signed(project: Project) -> bool:
    """At a signed-or-later stage, or was once (a project on hold after signing keeps its board)."""
    return project.stage in stages.SIGNED_OR_LATER or any(
        getattr(project, REACHED[key]) is not None for key in stages.SIGNED_OR_LATER)


def add_standard_milestones(project: Project) -> list[Milestone]:
    """Give a project at a signed-or-later stage the standard milestones, once in its life: a project that has any
    milestone row (deleted ones too) gets none, so a project moved back and signed again keeps what its officers
    edited. The planned construction and production starts come from the project's planned dates.

    Part of the caller's unit of work (a stage move or a project's creation): adds, never commits. The unique
    (project, kind) key stops a second set even from a racing transaction.
    """
    if project.stage not in stages.SIGNED_OR_LATER:
        return []
    if any(isinstance(obj, Milestone) and obj.project_id == project.id for obj in db.session.new):
        return []
    with db.session.no_autoflush:  # the caller's versioned UPDATE flushes under its own conflict handling
        if db.session.scalar(select(Milestone.id).where(Milestone.project_id == project.id).limit(1)) is not None:
            return []
    planned = {"construction_start": project.planned_start, "production_start": project.planned_production}
    rows = [Milestone(project_id=project.id, kind=kind.key, sort=_template_sort(kind.key),
                      planned_date=planned.get(kind.key), owner_id=project.owner_id, note="")
            for kind in MILESTONE_KINDS]
    db.session.add_all(rows)
    return rows


def _template_sort(kind: str) -> int:
    return (MILESTONE_KEYS.index(kind) + 1) * 10


def backfill_standard_milestones() -> int:
    """Give every live project already past signing (from before the support board) its milestones; returns how
    many projects got them. Safe to run again."""
    done = 0
    projects = db.session.scalars(select(Project).where(Project.deleted_at.is_(None),
                                                        Project.stage.in_(stages.SIGNED_OR_LATER),
                                                        ~Project.id.in_(select(Milestone.project_id))))
    for project in projects:
        if add_standard_milestones(project):
            done += 1
    db.session.commit()
    return done


# --- milestone edits -------------------------------------------------------------------------------------------------

MILESTONE_FIELDS: dict[str, rules.Field] = {
    "kind": rules.Choice(required=True, values=MILESTONE_KEYS),
    "planned_date": rules.Date(),
    "actual_date": rules.Date(),
    "department": rules.Ref(kind="department"),
    "owner_id": rules.Integer(**_ID),
    "note": rules.Text(max_length=2000, multiline=True),
    #: the column order on the board: a whole number whenever it is sent (the column is NOT NULL)
    "sort": rules.Integer(required=True, minimum=0, maximum=10_000),
}


@dataclass
class StageOffer:
    """The project may now move to `to_stage` (construction or production started): the page asks the officer,
    and a yes is `crm.projects.services.move_stage(project_id, to_stage, version=version, on=on)`."""

    project_id: int
    from_stage: str
    to_stage: str
    #: the project's version as it stands (the move's optimistic lock)
    version: int
    #: the day to record the move on: the milestone's actual date, or the project's last move if that is later
    on: date


@dataclass
class MilestoneChange:
    """What a milestone edit returns: the milestone, its status, warnings (saved anyway) and any stage offer."""

    milestone: Milestone
    status: str
    #: per-field messages that did not stop the save (planned dates out of the usual order)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    offer: StageOffer | None = None


def may_answer_for(department: str | None):
    """Who may answer for a milestone or request (its responsible person or owner): active officers and managers,
    and the active liaisons of its department. The pickers list these; `_responsible` checks a choice against it."""
    staff = (Role.OFFICER.value, Role.MANAGER.value)
    if department not in reference.names("department"):
        department = None  # not a department (its own field says so): no liaison answers for it
    return and_(User.is_active_user.is_(True), User.role.in_(staff) | (
        (User.role == Role.LIAISON.value) & (User.department == (department or ""))))


def responsible_people(department: str | None) -> list[tuple[int, str, str]]:
    """(id, name, role) of everyone `may_answer_for` the department, by name."""
    return db.session.execute(select(User.id, User.name, User.role).where(may_answer_for(department))
                              .order_by(User.name)).all()


def _responsible(user_id, field_name: str, errors: dict, *, department: str | None) -> int | None:
    """The id of a person who `may_answer_for` the department; None with a message otherwise."""
    if user_id is None:
        return None
    if db.session.scalar(select(User.id).where(User.id == user_id, may_answer_for(department))) is None:
        errors[field_name] = [str(_l("Choose an active officer, or a liaison of the responsible department."))]
        return None
    return user_id


def _sort_key(milestone: Milestone) -> tuple:
    return (milestone.sort, MILESTONE_KEYS.index(milestone.kind) if milestone.kind in MILESTONE_KEYS else 99)


def _order_warnings(milestone: Milestone, planned: date | None) -> list[str]:
    """Messages for a planned date out of order with the project's other milestones (e.g. production planned
    before construction start): a warning only, since plans do change order in real projects."""
    if planned is None:
        return []
    others = db.session.scalars(select(Milestone).where(
        Milestone.project_id == milestone.project_id, Milestone.id != (milestone.id or 0),
        Milestone.deleted_at.is_(None), Milestone.planned_date.is_not(None)))
    mine, out = _sort_key(milestone), []
    for other in sorted(others, key=_sort_key):
        before = _sort_key(other) < mine
        if (before and other.planned_date > planned) or (not before and other.planned_date < planned):
            kind = MILESTONE_BY_KEY.get(other.kind)
            out.append(str(_l("%(which)s is planned for %(day)s, %(order)s this one in the usual order. Saved "
                              "anyway: real projects do change order, check that the dates are right.",
                              which=kind.label if kind else other.kind, day=other.planned_date.isoformat(),
                              order=_l("before") if before else _l("after"))))
    return out


def _offer(milestone: Milestone, project: Project, actor: User) -> StageOffer | None:
    """A stage offer when the milestone starts a later stage than the project's, to an actor who may move it."""
    target = STAGE_OFFERS.get(milestone.kind)
    if target is None or milestone.actual_date is None or not access.can_edit_project(actor, project):
        return None
    current = stages.BY_KEY.get(project.stage)
    if project.stage in (target, "lost") or (current and current.main and stages.order(project.stage) >=
                                             stages.order(target)):
        return None
    last_move = as_aware(project.stage_changed_at).astimezone(zone()).date()
    return StageOffer(project_id=project.id, from_stage=project.stage, to_stage=target, version=project.version,
                      on=max(milestone.actual_date, last_move))


def _milestone_checks(values: dict, errors: dict, milestone: Milestone) -> None:
    """The rules of one milestone's values: a known department, an actual date not in the future, a responsible
    user who fits the department."""
    if "department" in values:
        reference.check_key(errors, "department", "department", values["department"], current=milestone.department)
    actual = values.get("actual_date")
    if actual is not None and actual > today() and "actual_date" not in errors:
        errors["actual_date"] = [str(_l("The actual date cannot be in the future: enter it when it has "
                                        "happened, and plan it with the planned date."))]
    department = values.get("department", milestone.department)
    if "owner_id" in values and "owner_id" not in errors and values["owner_id"] != milestone.owner_id:
        _responsible(values["owner_id"], "owner_id", errors, department=department)
    elif "department" in values and milestone.owner_id is not None and "owner_id" not in errors:
        # the responsible user must still fit when the department changes (a liaison of the old one does not)
        _responsible(milestone.owner_id, "owner_id", errors, department=department)


def _project_of(record) -> Project:
    return db.session.get(Project, record.project_id)


def add_milestone(project_id: int, data: dict, *, actor: User) -> MilestoneChange:
    """Add a milestone of one of the standard kinds to a signed project, or bring back a deleted one of that kind
    (a project has one of each kind, ever: the template's guard), with the values given."""
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    if not was_signed(project):
        raise Conflict(str(_l("Milestones are tracked from signing on: this project is not signed yet.")))
    result = rules.clean(MILESTONE_FIELDS, data, partial=True)
    errors, values = dict(result.errors), result.values
    if "kind" not in data:
        errors["kind"] = [str(_l("This field is required."))]
    kind = values.pop("kind", None)
    existing = db.session.scalar(select(Milestone).where(Milestone.project_id == project.id, Milestone.kind == kind)) \
        if kind else None
    if existing is not None and existing.deleted_at is None:
        errors["kind"] = [str(_l("This project has this milestone already: edit it instead."))]
    milestone = existing or Milestone(project_id=project.id, kind=kind, sort=_template_sort(kind) if kind else 0,
                                      owner_id=project.owner_id, note="")
    values.setdefault("owner_id", milestone.owner_id)
    _milestone_checks(values, errors, milestone)
    if errors:
        raise _invalid(errors)
    if existing is not None:  # restored, with what it said before it was deleted unless given anew
        milestone.deleted_at = milestone.deleted_by_id = None
    for key, value in values.items():
        setattr(milestone, key, value)
    with db.session.no_autoflush:
        warnings = _order_warnings(milestone, milestone.planned_date)
    db.session.add(milestone)
    _touch_project(project.id)
    _commit_versioned()
    return MilestoneChange(milestone, milestone_status(milestone),
                           {"planned_date": warnings} if warnings else {}, _offer(milestone, project, actor))


def update_milestone(milestone_id: int, data: dict, *, actor: User, version) -> MilestoneChange:
    """Change the given fields of a milestone (a PATCH). A liaison changes the dates and the note of their
    department's milestones; the project's officers everything but the kind."""
    audit.set_actor(actor)
    milestone = support_access.visible_milestone(milestone_id, actor)
    project = _project_of(milestone)
    support_access.require_edit_milestone(actor, milestone, project)
    if "kind" in data and data["kind"] != milestone.kind:
        raise _invalid({"kind": [str(_l("A milestone's kind is fixed: add a milestone of the other kind "
                                        "instead."))]})
    if support_access.is_liaison(actor):
        barred = [k for k in data if k in MILESTONE_FIELDS and k != "kind"
                  and k not in support_access.LIAISON_MILESTONE_FIELDS]
        if barred:
            raise _invalid({k: [str(_l("The project's officers change this."))] for k in barred})
    _check_version(milestone, version)
    spec = {k: v for k, v in MILESTONE_FIELDS.items() if k != "kind"}
    result = rules.clean(spec, data, partial=True)
    errors, values = dict(result.errors), result.values
    _milestone_checks(values, errors, milestone)
    if errors:
        raise _invalid(errors)
    was_done = milestone.actual_date is not None
    for key, value in values.items():
        setattr(milestone, key, value)
    with db.session.no_autoflush:
        warnings = _order_warnings(milestone, milestone.planned_date) \
            if values.get("planned_date") is not None or "sort" in values else []
    if db.session.is_modified(milestone):
        _touch_project(project.id)
    _commit_versioned()
    offer = None if was_done else _offer(milestone, project, actor)
    return MilestoneChange(milestone, milestone_status(milestone),
                           {"planned_date": warnings} if warnings else {}, offer)


def delete_milestone(milestone_id: int, *, actor: User, version) -> None:
    """Take a milestone off the project's row (kept, so the template never comes back; `add_milestone` of its
    kind brings it back)."""
    audit.set_actor(actor)
    milestone = support_access.visible_milestone(milestone_id, actor)
    project = _project_of(milestone)
    if support_access.is_liaison(actor) or not access.can_edit_project(actor, project):
        raise Forbidden(str(_l("Only the project's owner, the owner's team or a manager may remove a milestone.")))
    _check_version(milestone, version)
    milestone.deleted_at, milestone.deleted_by_id = utcnow(), actor.id
    _touch_project(project.id)
    _commit_versioned()


# --- enterprise requests ---------------------------------------------------------------------------------------------

@dataclass
class Deadline(rules.Field):
    """A deadline: a date (`YYYY-MM-DD`), or a whole number of Chinese working days from today ("5" = five working
    days). Parses to a date or an int; the service turns days into a date."""

    def parse(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            raise self._fail()
        if isinstance(value, int):
            return self._days(value)
        if isinstance(value, str):
            text = textrules.fold_width(value).strip()
            if text.isascii() and text.isdigit():
                return self._days(int(text))
        try:
            return rules.Date().parse(value)
        except rules.FieldError:
            raise self._fail() from None

    @staticmethod
    def _days(days: int) -> int:
        if not 1 <= days <= workdays.MAX_WORKING_DAYS:
            raise rules.FieldError(_l("Enter from %(lo)d to %(hi)d working days.", lo=1,
                                      hi=workdays.MAX_WORKING_DAYS))
        return days

    @staticmethod
    def _fail():
        return rules.FieldError(_l("Enter a date (YYYY-MM-DD) or a number of working days."))

    def schema(self):
        return {"oneOf": [{"type": "string", "format": "date"},
                          {"type": "integer", "minimum": 1, "maximum": workdays.MAX_WORKING_DAYS}],
                "description": "a date, or a number of Chinese working days from today (public holidays skipped, "
                               "make-up working days counted); stored and returned as a date"}


REQUEST_FIELDS: dict[str, rules.Field] = {
    "category": rules.Choice(required=True, values=CATEGORY_KEYS),
    "description": rules.Text(required=True, max_length=5000, multiline=True),
    "department": rules.Ref(required=True, kind="department"),
    "owner_id": rules.Integer(**_ID),
    "deadline": Deadline(required=True),
}
#: the fields of a status change (sent with `status`, or the resolution alone)
STATUS_FIELDS: dict[str, rules.Field] = {
    "status": rules.Choice(values=REQUEST_STATUSES),
    "resolution": rules.Text(max_length=5000, multiline=True),
    "satisfaction": rules.Integer(minimum=1, maximum=5),
    "note": rules.Text(max_length=2000, multiline=True),
}


def _deadline(values: dict, errors: dict, *, current: date | None = None) -> None:
    """Turn a number of working days into the date, and refuse a new deadline in the past."""
    value = values.get("deadline")
    if value is None or "deadline" in errors:
        return
    if isinstance(value, int):
        try:
            values["deadline"] = workdays.add_working_days(today(), value)
        except workdays.CalendarNotCovered as exc:
            errors["deadline"] = [exc.message]
    elif value < today() and value != current:
        errors["deadline"] = [str(_l("The deadline cannot be in the past."))]


def _event(found: EnterpriseRequest, actor: User, action: str, from_status: str | None, *,
           changes: dict | None = None, note: str = "") -> RequestEvent:
    event = RequestEvent(request_id=found.id, project_id=found.project_id, at=utcnow(), actor_id=actor.id,
                         action=action, from_status=from_status, to_status=found.status, changes=changes or None,
                         note=note)
    db.session.add(event)
    return event


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def create_request(project_id: int, data: dict, *, actor: User, note: str = "") -> EnterpriseRequest:
    """Record an enterprise request on a signed project, routed to a department with a deadline (a date, or a
    number of working days). Its owner is the project's officer unless another is named."""
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    if not was_signed(project):
        raise Conflict(str(_l("Requests are tracked from signing on: this project is not signed yet.")))
    result = rules.clean(REQUEST_FIELDS, data)
    errors, values = dict(result.errors), result.values
    if "department" in values:
        reference.check_key(errors, "department", "department", values["department"])
    _deadline(values, errors)
    if values.get("owner_id") is not None and "department" not in errors:
        _responsible(values["owner_id"], "owner_id", errors, department=values.get("department"))
    try:
        note = rules.Text(max_length=2000, multiline=True).parse(note)
    except rules.FieldError as exc:
        errors["note"] = [str(exc.args[0])]
    if errors:
        raise _invalid(errors)
    values["owner_id"] = values.get("owner_id") or project.owner_id
    found = EnterpriseRequest(project_id=project.id, company_id=project.company_id, status="open", resolution="",
                              created_by_id=actor.id, **values)
    db.session.add(found)
    db.session.flush()
    _event(found, actor, "created", None, note=note,
           changes={k: [None, _plain(v)] for k, v in values.items() if v not in (None, "")})
    _touch_project(project.id)
    db.session.commit()
    return found


def update_request(request_id: int, data: dict, *, actor: User, version) -> EnterpriseRequest:
    """Change a request (a PATCH): its fields, and/or its status with a resolution, the company's satisfaction
    (closing) and a note, in one unit of work. Status moves: open → in progress → resolved → closed, and resolved →
    in progress to reopen; closing needs a resolution and a satisfaction from 1 to 5; a closed request is final.
    A liaison moves the status and writes the resolution of their department's requests (and may take one over);
    the project's officers change everything."""
    audit.set_actor(actor)
    found = support_access.visible_request(request_id, actor)
    project = _project_of(found)
    support_access.require_edit_request(actor, found, project)
    if support_access.is_liaison(actor):
        barred = [k for k in data if k in REQUEST_FIELDS and k not in LIAISON_REQUEST_FIELDS]
        if barred:
            raise _invalid({k: [str(_l("The project's officers change this."))] for k in barred})
    _check_version(found, version)
    if found.status == "closed":
        raise _invalid({"status": [str(_l("This request is closed and can no longer be changed."))]})
    fields = rules.clean(REQUEST_FIELDS, data, partial=True)
    moves = rules.clean(STATUS_FIELDS, data, partial=True)
    errors, values, status_values = {**fields.errors, **moves.errors}, fields.values, moves.values
    if "department" in values:
        reference.check_key(errors, "department", "department", values["department"], current=found.department)
    _deadline(values, errors, current=found.deadline)
    department = values.get("department", found.department)
    if "owner_id" in values and values["owner_id"] != found.owner_id:
        if values["owner_id"] is None:
            errors["owner_id"] = [str(_l("A request needs an owner."))]
        else:
            _responsible(values["owner_id"], "owner_id", errors, department=department)
    elif "department" in values and found.owner_id is not None and "owner_id" not in errors:
        _responsible(found.owner_id, "owner_id", errors, department=department)
    to_status = status_values.get("status") or found.status
    if to_status != found.status and to_status not in TRANSITIONS[found.status] and "status" not in errors:
        errors["status"] = [str(_l("A request moves open → in progress → resolved → closed (or from resolved back "
                                   "to in progress); from here it can go to: %(to)s.",
                                   to=", ".join(str(status_label(s)) for s in TRANSITIONS[found.status])))]
    resolution = status_values.get("resolution", found.resolution)
    satisfaction = status_values.get("satisfaction")
    if "status" in errors:
        pass  # the move itself is wrong: what closing would need is beside the point
    elif to_status == "closed":
        if not (resolution or "").strip() and "resolution" not in errors:
            errors["resolution"] = [str(_l("Say how the request was resolved before closing it."))]
        if satisfaction is None and "satisfaction" not in errors:
            errors["satisfaction"] = [str(_l("Give the company's satisfaction, from 1 to 5, to close the "
                                             "request."))]
    elif satisfaction is not None:
        errors["satisfaction"] = [str(_l("The company's satisfaction is given when the request is closed."))]
    if errors:
        raise _invalid(errors)
    from_status, now = found.status, utcnow()
    changes = {}
    for key, value in {**values, "resolution": resolution}.items():
        old = getattr(found, key)
        if value != old:
            changes[key] = [_plain(old), _plain(value)]
            setattr(found, key, value)
    if to_status != from_status:
        found.status = to_status
        if to_status == "resolved":
            found.resolved_at = now
        elif to_status == "in_progress" and from_status == "resolved":
            found.resolved_at = None  # reopened: it is not resolved any more (the events keep when it was)
        elif to_status == "closed":
            found.closed_at, found.satisfaction = now, satisfaction
            changes["satisfaction"] = [None, satisfaction]
    note = status_values.get("note", "")
    if to_status == from_status and not changes and not note:
        db.session.rollback()
        return found  # nothing to change: no new version, no event
    _event(found, actor, "status" if to_status != from_status else "updated", from_status, changes=changes,
           note=note)
    _touch_project(project.id)
    _commit_versioned()
    return found


def change_request_status(request_id: int, to_status: str, *, actor: User, version, note: str = "",
                          resolution: str | None = None, satisfaction=None) -> EnterpriseRequest:
    """Move a request to another status (see `update_request` for the rules)."""
    data = {"status": to_status, "note": note}
    if resolution is not None:
        data["resolution"] = resolution
    if satisfaction is not None:
        data["satisfaction"] = satisfaction
    return update_request(request_id, data, actor=actor, version=version)


def delete_request(request_id: int, *, actor: User, version, note: str = "") -> None:
    """Remove a request recorded by mistake (kept, with an event saying who removed it)."""
    audit.set_actor(actor)
    found = support_access.visible_request(request_id, actor)
    project = _project_of(found)
    if support_access.is_liaison(actor) or not access.can_edit_project(actor, project):
        raise Forbidden(str(_l("Only the project's owner, the owner's team or a manager may remove a request.")))
    _check_version(found, version)
    found.deleted_at, found.deleted_by_id = utcnow(), actor.id
    _event(found, actor, "deleted", found.status, note=textrules.clean_text(note or "", 2000))
    _touch_project(project.id)
    _commit_versioned()
