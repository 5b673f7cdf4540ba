"""The rules of meetings and follow-up tasks: log, edit and delete a meeting (with its follow-ups in the same unit
of work), create, edit, complete, reopen and snooze tasks, and where each task falls in "my tasks". Pages, the API,
the CLI and the worker all come through here."""
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm.exc import StaleDataError

from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import Role, User
from crm.companies import services as companies
from crm.companies.models import Contact
from crm.core import fields as rules
from crm.core.timeutil import as_aware, utcnow, zone
from crm.errors import Conflict, Forbidden, Invalid
from crm.extensions import db
from crm.projects import services as projects
from crm.projects.models import Project

from .models import MEETING_TYPES, Meeting, MeetingContact, MeetingUser, Task

_ID = {"minimum": 1, "maximum": 2**31 - 1}
#: a meeting's long texts are kept whole (an officer may paste a whole visit report)
LONG_TEXT = 20000

MEETING_FIELDS: dict[str, rules.Field] = {
    "type": rules.Choice(required=True, values=MEETING_TYPES),
    "start_at": rules.DateTime(required=True),
    "end_at": rules.DateTime(),
    "city": rules.Text(max_length=50),
    "place": rules.Text(max_length=200),
    "company_id": rules.Integer(required=True, **_ID),
    "project_id": rules.Integer(**_ID),
    "participant_user_ids": rules.IdList(),
    "participant_contact_ids": rules.IdList(),
    "summary": rules.Text(max_length=LONG_TEXT, multiline=True),
    "outcome": rules.Text(max_length=LONG_TEXT, multiline=True),
    "next_step": rules.Text(max_length=LONG_TEXT, multiline=True),
}
TASK_FIELDS: dict[str, rules.Field] = {
    "title": rules.Text(required=True, max_length=200),
    "due": rules.Due(required=True),
    "owner_id": rules.Integer(**_ID),
    "company_id": rules.Integer(**_ID),
    "project_id": rules.Integer(**_ID),
    "meeting_id": rules.Integer(**_ID),
    "notes": rules.Text(max_length=LONG_TEXT, multiline=True),
}
#: the fields of one follow-up sent with a new meeting (its company, project and meeting come from the meeting)
FOLLOW_UP_FIELDS = {k: TASK_FIELDS[k] for k in ("title", "due", "owner_id", "notes")}
#: at most this many follow-ups with one meeting
MAX_FOLLOW_UPS = 20
#: snooze choices: key → how far the task moves
SNOOZES = ("tomorrow", "next_week")


def _invalid(errors: dict) -> Invalid:
    return Invalid(str(_l("Please correct the marked fields.")), errors)


def _stale(what: str = "meeting") -> Conflict:
    if what == "task":
        return Conflict(str(_l("This task was changed by someone else since you opened it. "
                               "Reload to see the changes; your input was not saved.")))
    return Conflict(str(_l("This meeting was changed by someone else since you opened it. "
                           "Reload to see the changes; your input was not saved.")))


def _check_version(record, version, what: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version != record.version:
        raise _stale(what)


def _commit(what: str) -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise _stale(what) from None


def _require_staff(actor: User) -> None:
    if actor.role not in access.STAFF_ROLES:
        raise Forbidden(str(_l("Your role cannot log meetings or tasks.")))


# --- references ------------------------------------------------------------------------------------------------------

def _project(project_id, actor: User, errors: dict, company_id=None) -> Project | None:
    """A live project the actor may see (of `company_id` when given); a deleted one is named as such."""
    if "project_id" in errors or project_id is None:
        return None
    project = db.session.scalar(select(Project).where(Project.id == project_id, access.project_scope(actor)))
    if project is None:
        gone = db.session.scalar(select(Project.deleted_at).where(Project.id == project_id))
        errors["project_id"] = [str(_l("This project has been deleted.") if gone else
                                    _l("Choose a project you can see."))]
        return None
    if company_id is not None and project.company_id != company_id:
        errors["project_id"] = [str(_l("The project belongs to another company."))]
        return None
    return project


def _meeting_ref(meeting_id, actor: User, errors: dict) -> Meeting | None:
    if "meeting_id" in errors or meeting_id is None:
        return None
    meeting = db.session.scalar(select(Meeting).where(Meeting.id == meeting_id, access.meeting_scope(actor)))
    if meeting is None:
        errors["meeting_id"] = [str(_l("Choose a meeting you can see."))]
    return meeting


def _participants(values: dict, company_id, errors: dict) -> tuple[list[int], list[int]]:
    user_ids = values.get("participant_user_ids") or []
    if user_ids:
        found = set(db.session.scalars(select(User.id).where(
            User.id.in_(user_ids), User.is_active_user.is_(True), User.role.in_(tuple(access.STAFF_ROLES)))))
        if set(user_ids) - found:
            errors["participant_user_ids"] = [str(_l("Choose active colleagues."))]
    contact_ids = values.get("participant_contact_ids") or []
    if contact_ids and company_id is not None:
        found = set(db.session.scalars(select(Contact.id).where(
            Contact.id.in_(contact_ids), Contact.company_id == company_id, Contact.deleted_at.is_(None))))
        if set(contact_ids) - found:
            errors["participant_contact_ids"] = [str(_l("A participant is not a contact of this company."))]
    return user_ids, contact_ids


def _check_times(start: datetime | None, end: datetime | None, errors: dict) -> None:
    if start is not None and end is not None and end < start and "end_at" not in errors:
        errors["end_at"] = [str(_l("The end cannot be before the start."))]
    if start is not None and end is not None and end - start > timedelta(days=14) and "end_at" not in errors:
        errors["end_at"] = [str(_l("A meeting lasts at most 14 days."))]


def _set_participants(meeting: Meeting, user_ids: list[int], contact_ids: list[int]) -> None:
    db.session.execute(delete(MeetingUser).where(MeetingUser.meeting_id == meeting.id))
    db.session.execute(delete(MeetingContact).where(MeetingContact.meeting_id == meeting.id))
    db.session.add_all([MeetingUser(meeting_id=meeting.id, user_id=i) for i in user_ids if i != meeting.owner_id])
    db.session.add_all([MeetingContact(meeting_id=meeting.id, contact_id=i) for i in contact_ids])


def _note_activity(company_id: int, project_id: int | None, at: datetime, actor: User) -> None:
    """Something happened with the company (and project) at `at`: a future meeting is not activity yet."""
    if as_aware(at) > utcnow():
        return
    if project_id is not None:  # rows locked project first, then company, as a stage move does
        projects.note_activity(project_id, at)
    companies.note_activity(company_id, at, actor=actor)


# --- tasks: due and the "my tasks" buckets ---------------------------------------------------------------------------

def split_due(due) -> tuple[date, datetime | None]:
    """A parsed `due` (a date, or an aware datetime) as the (due_on, due_at) columns: due_on is the zone's day."""
    if isinstance(due, datetime):
        return as_aware(due).astimezone(zone()).date(), as_aware(due).astimezone(UTC)
    return due, None


def due_value(task: Task):
    """The task's due as the API shows it: the date, or the time."""
    return as_aware(task.due_at) if task.due_at is not None else task.due_on


def due_end(task: Task) -> datetime:
    """The moment the task becomes overdue: its time, or the end of its day in the zone's time zone."""
    if task.due_at is not None:
        return as_aware(task.due_at)
    return datetime.combine(task.due_on + timedelta(days=1), time(0), tzinfo=zone())


def is_overdue(task: Task, *, now: datetime | None = None) -> bool:
    """Open and past its due time (a date-only task: after its day, zone time). Derived, never stored."""
    return task.done_at is None and (now or utcnow()) >= due_end(task)


BUCKETS = ("overdue", "today", "week", "later")


def bucket(task: Task, *, now: datetime | None = None) -> str:
    """Where an open task falls in "my tasks": overdue, today, this week (to Sunday) or later, by the zone's
    calendar days (a task due at 23:59 today is "today" until 23:59; one due yesterday is overdue at 00:00)."""
    now = now or utcnow()
    if is_overdue(task, now=now):
        return "overdue"
    today = now.astimezone(zone()).date()
    if task.due_on <= today:
        return "today"
    if task.due_on <= week_end(today):
        return "week"
    return "later"


def week_end(today: date) -> date:
    """The Sunday of today's week (a Sunday's week ends that day)."""
    return today + timedelta(days=6 - today.weekday())


def snooze_target(task: Task, how: str, *, now: datetime | None = None):
    """The new due of a snoozed task: the day after, or the Monday after, today or its due day (whichever is later:
    snoozing never brings a task forward). A timed task keeps its time of day."""
    today = max((now or utcnow()).astimezone(zone()).date(), task.due_on)
    day = today + timedelta(days=1) if how == "tomorrow" else today + timedelta(days=7 - today.weekday())
    if task.due_at is None:
        return day
    clock = as_aware(task.due_at).astimezone(zone()).timetz()
    return datetime.combine(day, clock.replace(tzinfo=None), tzinfo=zone()).astimezone(UTC)


# --- meetings --------------------------------------------------------------------------------------------------------

def _clean_follow_ups(follow_ups, actor: User, errors: dict) -> list[dict]:
    """The follow-ups sent with a new meeting, each checked like a task; errors named follow_ups.<n>.<field>."""
    if follow_ups in (None, ""):
        return []
    if not isinstance(follow_ups, list) or not all(isinstance(f, dict) for f in follow_ups):
        errors["follow_ups"] = [str(_l("Send the follow-ups as a list of objects."))]
        return []
    if len(follow_ups) > MAX_FOLLOW_UPS:
        errors["follow_ups"] = [str(_l("At most %(n)d follow-ups.", n=MAX_FOLLOW_UPS))]
        return []
    rows = []
    for n, raw in enumerate(follow_ups):
        checked = rules.clean(FOLLOW_UP_FIELDS, raw)
        row_errors = dict(checked.errors)
        owner = actor
        if checked.values.get("owner_id") not in (None, actor.id):
            owner = projects.staff_user(checked.values["owner_id"], "owner_id", row_errors)
        elif actor.role == Role.ADMIN.value:
            row_errors.setdefault("owner_id", [str(_l("Choose the officer who follows up."))])
        errors.update({f"follow_ups.{n}.{name}": messages for name, messages in row_errors.items()})
        if not row_errors:
            rows.append({**checked.values, "owner": owner})
    return rows


def create_meeting(data: dict, *, actor: User, follow_ups=None, owner_id=None) -> Meeting:
    """Log a meeting (past or scheduled) and its follow-up tasks, all or nothing.

    The company must be one the actor may see; the project, if any, one of that company's; the contacts who took
    part that company's contacts. A manager may log it for another officer (`owner_id`).
    """
    _require_staff(actor)
    audit.set_actor(actor)
    checked = rules.clean(MEETING_FIELDS, data)
    errors, values = dict(checked.errors), checked.values
    company = projects.company_for(values.get("company_id"), actor, errors)
    project = _project(values.get("project_id"), actor, errors, company.id if company else None)
    _check_times(values.get("start_at"), values.get("end_at"), errors)
    user_ids, contact_ids = _participants(values, company.id if company else None, errors)
    owner = actor
    if owner_id not in (None, "", "self") and str(owner_id).strip() != str(actor.id):
        if not access.is_manager(actor):
            raise Forbidden(str(_l("Only a manager can log a meeting for another officer.")))
        owner = projects.staff_user(owner_id, "owner_id", errors)
    elif actor.role == Role.ADMIN.value:
        errors["owner_id"] = [str(_l("Choose the officer who held the meeting."))]
    tasks = _clean_follow_ups(follow_ups, actor, errors)
    if errors:
        raise _invalid(errors)
    meeting = Meeting(type=values["type"], start_at=values["start_at"], end_at=values.get("end_at"),
                      city=values["city"], place=values["place"], company_id=company.id,
                      project_id=project.id if project else None, owner_id=owner.id, summary=values["summary"],
                      outcome=values["outcome"], next_step=values["next_step"])
    db.session.add(meeting)
    db.session.flush()
    _set_participants(meeting, user_ids, contact_ids)
    for row in tasks:
        due_on, due_at = split_due(row["due"])
        db.session.add(Task(title=row["title"], notes=row.get("notes") or "", due_on=due_on, due_at=due_at,
                            owner_id=row["owner"].id, company_id=company.id, project_id=meeting.project_id,
                            meeting_id=meeting.id, created_by_id=actor.id))
    _note_activity(company.id, meeting.project_id, meeting.start_at, owner)
    db.session.commit()
    return meeting


def update_meeting(meeting_id: int, data: dict, *, actor: User, version) -> Meeting:
    """Change the given fields (a PATCH); participants are replaced when sent."""
    audit.set_actor(actor)
    meeting = access.visible_meeting(meeting_id, actor)
    access.require_edit_meeting(actor, meeting)
    _check_version(meeting, version, "meeting")
    checked = rules.clean(MEETING_FIELDS, data, partial=True)
    errors, values = dict(checked.errors), checked.values
    company_id = meeting.company_id
    if "company_id" in values and values["company_id"] != meeting.company_id:
        company = projects.company_for(values["company_id"], actor, errors)
        company_id = company.id if company else None
    project_id = values.get("project_id", meeting.project_id)
    if "project_id" in values or "company_id" in values:
        _project(project_id, actor, errors, company_id)
    _check_times(values.get("start_at", meeting.start_at and as_aware(meeting.start_at)),
                 values.get("end_at", meeting.end_at and as_aware(meeting.end_at)), errors)
    if "company_id" in values and "participant_contact_ids" not in values and company_id != meeting.company_id:
        values["participant_contact_ids"] = []  # the old company's contacts did not meet the new one
    user_ids, contact_ids = _participants(values, company_id, errors)
    if errors:
        raise _invalid(errors)
    for key, value in values.items():
        if key not in ("participant_user_ids", "participant_contact_ids"):
            setattr(meeting, key, value)
    if "participant_user_ids" in values or "participant_contact_ids" in values:
        with db.session.no_autoflush:  # reading the kept list must not flush the field changes on their own
            if "participant_user_ids" not in values:  # (that would move the version twice in one change)
                user_ids = [u.id for u in meeting.participant_users]
            if "participant_contact_ids" not in values:
                contact_ids = [c.id for c in meeting.participant_contacts]
        meeting.updated_at = utcnow()  # the participants are part of the meeting: its version moves too
        db.session.flush()
        _set_participants(meeting, user_ids, contact_ids)
    _note_activity(meeting.company_id, meeting.project_id, as_aware(meeting.start_at), meeting.owner)
    _commit("meeting")
    return meeting


def delete_meeting(meeting_id: int, *, actor: User, version=None) -> None:
    """Soft-delete a meeting; its follow-up tasks stay (they are work still owed)."""
    audit.set_actor(actor)
    meeting = access.visible_meeting(meeting_id, actor)
    access.require_edit_meeting(actor, meeting)
    if version is not None:
        _check_version(meeting, version, "meeting")
    meeting.deleted_at, meeting.deleted_by_id = utcnow(), actor.id
    _commit("meeting")


# --- tasks -----------------------------------------------------------------------------------------------------------

def _task_links(values: dict, actor: User, errors: dict, current: Task | None = None) -> dict:
    """Resolve company, project and meeting: a meeting implies its company and project, a project its company."""
    out = {}
    meeting = _meeting_ref(values.get("meeting_id"), actor, errors) if "meeting_id" in values else None
    if meeting is not None:
        out.update(meeting_id=meeting.id, company_id=meeting.company_id, project_id=meeting.project_id)
    if "project_id" in values and values["project_id"] is not None:
        company_id = values.get("company_id") or out.get("company_id")
        project = _project(values["project_id"], actor, errors, company_id)
        if project is not None:
            out.update(project_id=project.id, company_id=project.company_id)
    elif "project_id" in values and meeting is None:
        out["project_id"] = None
    if "company_id" in values and "company_id" not in out:
        company = projects.company_for(values["company_id"], actor, errors)  # None for None
        out["company_id"] = company.id if company else None
        if current is not None and company is not None and current.project_id and "project_id" not in values:
            if db.session.scalar(select(Project.company_id).where(Project.id == current.project_id)) != company.id:
                out["project_id"] = None  # the project was the old company's
    if "meeting_id" in values and values["meeting_id"] is None:
        out["meeting_id"] = None
    return out


def _task_owner(owner_id, actor: User, errors: dict, current: Task | None = None) -> User | None:
    """The task's owner: the actor unless another active officer is named. An officer may give a task to a
    colleague (a follow-up is often someone else's); only a manager may take one from another team."""
    if owner_id is None or owner_id == actor.id:
        if actor.role == Role.ADMIN.value and current is None:
            errors["owner_id"] = [str(_l("Choose the officer who follows up."))]
            return None
        return actor if actor.role != Role.ADMIN.value else (current.owner if current else None)
    return projects.staff_user(owner_id, "owner_id", errors)


def create_task(data: dict, *, actor: User) -> Task:
    """A follow-up on its own (or linked to a company, project or meeting), owned by the actor unless another
    officer is named."""
    _require_staff(actor)
    audit.set_actor(actor)
    checked = rules.clean(TASK_FIELDS, data)
    errors, values = dict(checked.errors), checked.values
    links = _task_links(values, actor, errors)
    owner = _task_owner(values.get("owner_id"), actor, errors)
    if errors:
        raise _invalid(errors)
    due_on, due_at = split_due(values["due"])
    task = Task(title=values["title"], notes=values.get("notes") or "", due_on=due_on, due_at=due_at,
                owner_id=owner.id, company_id=links.get("company_id"), project_id=links.get("project_id"),
                meeting_id=links.get("meeting_id"), created_by_id=actor.id)
    db.session.add(task)
    db.session.commit()
    return task


def _editable_task(task_id: int, actor: User) -> Task:
    audit.set_actor(actor)
    task = access.visible_task(task_id, actor)
    access.require_edit_task(actor, task)
    return task


def update_task(task_id: int, data: dict, *, actor: User, version) -> Task:
    """Change the given fields (a PATCH); `done` true completes the task, false reopens it."""
    task = _editable_task(task_id, actor)
    _check_version(task, version, "task")
    checked = rules.clean(TASK_FIELDS, {k: v for k, v in data.items() if k != "done"}, partial=True)
    errors, values = dict(checked.errors), checked.values
    done = None
    if "done" in data:
        try:
            done = rules.Boolean().parse(data["done"])
        except rules.FieldError as exc:
            errors["done"] = [str(exc.args[0])]
    links = _task_links(values, actor, errors, current=task)
    owner = None
    if "owner_id" in values and values["owner_id"] != task.owner_id:
        owner = _task_owner(values["owner_id"], actor, errors, current=task)
    if errors:
        raise _invalid(errors)
    for key in ("title", "notes"):
        if key in values:
            setattr(task, key, values[key])
    if "due" in values:
        task.due_on, task.due_at = split_due(values["due"])
    for key, value in links.items():
        setattr(task, key, value)
    if owner is not None:
        task.owner_id = owner.id
    if done is not None:
        _set_done(task, done, actor)
    _commit("task")
    return task


def _set_done(task: Task, done: bool, actor: User) -> None:
    if done and task.done_at is None:
        now = utcnow()
        task.done_at, task.done_by_id = now, actor.id
        if task.company_id is not None:
            _note_activity(task.company_id, task.project_id, now, task.owner)
    elif not done and task.done_at is not None:
        task.done_at, task.done_by_id = None, None


def complete_task(task_id: int, *, actor: User, version=None) -> Task:
    """Mark a task done (one click); completing a done task changes nothing."""
    task = _editable_task(task_id, actor)
    if version is not None:
        _check_version(task, version, "task")
    _set_done(task, True, actor)
    _commit("task")
    return task


def reopen_task(task_id: int, *, actor: User, version=None) -> Task:
    task = _editable_task(task_id, actor)
    if version is not None:
        _check_version(task, version, "task")
    _set_done(task, False, actor)
    _commit("task")
    return task


def snooze_task(task_id: int, how: str, *, actor: User, version=None, now: datetime | None = None) -> Task:
    """Move an open task to tomorrow or next Monday (`how` is one of SNOOZES)."""
    if how not in SNOOZES:
        raise _invalid({"snooze": [str(_l("Choose tomorrow or next week."))]})
    task = _editable_task(task_id, actor)
    if version is not None:
        _check_version(task, version, "task")
    if task.done_at is not None:
        raise Conflict(str(_l("This task is already done.")))
    task.due_on, task.due_at = split_due(snooze_target(task, how, now=now))
    _commit("task")
    return task


def delete_task(task_id: int, *, actor: User, version=None) -> None:
    task = _editable_task(task_id, actor)
    if version is not None:
        _check_version(task, version, "task")
    task.deleted_at, task.deleted_by_id = utcnow(), actor.id
    _commit("task")
