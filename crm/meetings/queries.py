"""Read paths of meetings and tasks: "my tasks" in its four groups, the calendar's range, the calendar feed, and the
one timeline of a company or a project (meetings, tasks, stage moves and changes, newest first)."""
import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Integer, and_, bindparam, or_, select, union
from sqlalchemy.orm import aliased, joinedload, load_only, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from crm.audit.models import AuditEvent
from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company, CompanyAlias, Contact
from crm.companies.queries import count
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db
from crm.projects.models import FundsEntry, Project, StageMove
from crm.projects.queries import STAGE_FIELDS
from crm.projects.stages import is_backwards

from . import services
from .models import Meeting, MeetingContact, MeetingUser, Task

#: how many tasks of each group "my tasks" shows (with the group's count and a link to show all of it: `SHOW_ALL`)
SHOWN = {"overdue": 30, "today": 100, "week": 100, "later": 20}
SHOW_ALL = 1000
#: how many of today's completed tasks "my tasks" shows
DONE_TODAY = 20
#: the columns of a task the lists show (not its notes or bookkeeping)
LIST_COLUMNS = (Task.title, Task.due_on, Task.due_at, Task.owner_id, Task.company_id, Task.project_id, Task.meeting_id,
                Task.done_at, Task.version)
#: the calendar and the feed stop here (a month of a big team is far below)
CALENDAR_LIMIT = 2000
#: up to this many of a calendar's meetings are looked up by id (more: by their time range)
CALENDAR_IDS = 5000
#: the feed covers this window around today
FEED_PAST, FEED_AHEAD = timedelta(days=90), timedelta(days=366)
TIMELINE_KINDS = ("meeting", "task", "stage", "change")
TIMELINE_PAGE = 30
#: tasks by due day, a day's timed tasks by time before its all-day ones (the same on SQLite and PostgreSQL)
TASK_ORDER = (Task.due_on, Task.due_at.asc().nulls_last(), Task.id)


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the zone's time zone, as an aware datetime in UTC (SQLite compares the
    stored UTC text and drops a bound value's offset: a zone-time bound would be 8 hours off)."""
    return datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


# --- my tasks --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskRefs:
    """What a listed task's row names besides the task: its company and its project."""
    company_name: str | None
    project_name: str | None
    project_code_name: str | None
    project_confidential: bool | None


@dataclass
class TaskGroups:
    overdue: list[Task] = field(default_factory=list)
    today: list[Task] = field(default_factory=list)
    week: list[Task] = field(default_factory=list)
    later: list[Task] = field(default_factory=list)
    #: how many tasks each group has (the lists stop at SHOWN, or SHOW_ALL for the group asked for)
    counts: dict[str, int] = field(default_factory=dict)
    #: completed today (zone time), newest first: a slip of the finger is one click from undone
    done_today: list[Task] = field(default_factory=list)
    #: each listed task's company and project names, by task id
    refs: dict[int, "TaskRefs"] = field(default_factory=dict)
    #: the listed tasks' companies and projects the viewer may open (rows.Links)
    company_ids: set[int] = field(default_factory=set)
    project_ids: set[int] = field(default_factory=set)

    @property
    def open_total(self) -> int:
        return sum(self.counts.values())


def _refs(model) -> tuple:
    """Load a meeting's or a task's company, project and owner with the columns the lists, the calendar and the feed
    read (name, a confidential project's code name, the owner's team for the edit check), not every column."""
    return (joinedload(model.company).load_only(Company.name),
            joinedload(model.project).load_only(Project.name, Project.code_name, Project.confidential,
                                                Project.company_id),
            _person(model.owner))


def _person(relationship):
    """A record's owner or actor, with the columns the pages show and the edit checks read."""
    return joinedload(relationship).load_only(User.name, User.team_id, User.role)


def _task_options():
    return _refs(Task)


#: an owner's open tasks and those done since a time (due and id, by `ix_task_owner_open`), live ones only: "my tasks"
#: adds the viewer's scope unless the viewer sees every task of the owner (access.sees_every_task_of)
_OWNER_TASK_KEYS = (select(Task.id, Task.due_on, Task.due_at, Task.done_at)
                    .where(Task.owner_id == bindparam("owner", type_=Integer), Task.deleted_at.is_(None),
                           or_(Task.done_at.is_(None), Task.done_at >= bindparam("since", type_=Task.done_at.type)))
                    .order_by(*TASK_ORDER))

#: the company and project a task row names (aliases: the access scope's subqueries read the same tables); built
#: once, as an alias builds a proxy of every column
_LISTED_COMPANY, _LISTED_PROJECT = aliased(Company), aliased(Project)
#: the tasks "my tasks" lists, by id, with their company's and project's names as columns, and what decides whether
#: the viewer may open them (access.sees_company, access.sees_project): deleted, holder or owner, and their team
_COMPANY_HOLDER, _PROJECT_OWNER = aliased(User), aliased(User)
_LISTED_TASKS = (select(Task, _LISTED_COMPANY.name, _LISTED_PROJECT.name, _LISTED_PROJECT.code_name,
                        _LISTED_PROJECT.confidential, _LISTED_COMPANY.deleted_at, _LISTED_COMPANY.owner_id,
                        _COMPANY_HOLDER.team_id, _LISTED_PROJECT.deleted_at, _LISTED_PROJECT.owner_id,
                        _PROJECT_OWNER.team_id)
                 .options(load_only(*LIST_COLUMNS))
                 .outerjoin(_LISTED_COMPANY, _LISTED_COMPANY.id == Task.company_id)
                 .outerjoin(_COMPANY_HOLDER, _COMPANY_HOLDER.id == _LISTED_COMPANY.owner_id)
                 .outerjoin(_LISTED_PROJECT, _LISTED_PROJECT.id == Task.project_id)
                 .outerjoin(_PROJECT_OWNER, _PROJECT_OWNER.id == _LISTED_PROJECT.owner_id)
                 .where(Task.id.in_(bindparam("ids", expanding=True))))


def task_groups(viewer: User, owner: User, *, now: datetime | None = None, expand: str | None = None) -> TaskGroups:
    """The owner's open tasks grouped overdue / today / this week / later by the zone's calendar days, as the
    viewer may see them (see access.can_see_tasks_of for whose page a viewer may open). Overdue is newest first
    (yesterday's missed follow-up before last year's); the others by due. Each group lists its first SHOWN, the
    `expand` one up to SHOW_ALL; the counts are whole.

    Two statements: every open task's (and today's done ones') due and id by `ix_task_owner_open`, grouped here,
    then the listed ones by id with their company's and project's names as columns (not objects: loading objects
    was a third of the page's time) and their owner set from `owner` (every task here is theirs)."""
    now = now or utcnow()
    today = now.astimezone(zone()).date()
    params = {"owner": owner.id, "since": day_start(today)}
    if access.sees_every_task_of(viewer, owner):  # the page's usual case: a statement kept, as it never changes
        keys = db.session.execute(_OWNER_TASK_KEYS, params).all()
    else:
        keys = db.session.execute(_OWNER_TASK_KEYS.where(access.task_scope(viewer)), params).all()
    groups = TaskGroups()
    found: dict[str, list] = {name: [] for name in services.BUCKETS}
    for key in keys:
        if key.done_at is None:
            found[services.bucket(key, now=now)].append(key)
    # overdue newest first: today's late ones (by time), then yesterday's, and so on back
    found["overdue"] = ([k for k in found["overdue"] if k.due_on >= today]
                       + [k for k in found["overdue"] if k.due_on < today][::-1])
    groups.counts = {name: len(found[name]) for name in services.BUCKETS}
    shown = {name: found[name][:SHOW_ALL if name == expand else SHOWN[name]] for name in services.BUCKETS}
    done = sorted((k for k in keys if k.done_at is not None), key=lambda k: as_aware(k.done_at), reverse=True)
    shown["done_today"] = done[:DONE_TODAY]
    ids = [k.id for listed in shown.values() for k in listed]
    tasks = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        rows = db.session.execute(_LISTED_TASKS, {"ids": chunk})
        for (task, company_name, project_name, code_name, confidential, company_deleted, holder_id, holder_team,
             project_deleted, project_owner_id, project_owner_team) in rows:
            set_committed_value(task, "owner", owner)
            groups.refs[task.id] = TaskRefs(company_name, project_name, code_name, confidential)
            tasks[task.id] = task
            if task.company_id is not None and access.sees_company(
                    viewer, deleted=company_deleted is not None, owner_id=holder_id, owner_team_id=holder_team):
                groups.company_ids.add(task.company_id)
            if task.project_id is not None and access.sees_project(
                    viewer, deleted=project_deleted is not None, confidential=bool(confidential),
                    owner_id=project_owner_id, owner_team_id=project_owner_team):
                groups.project_ids.add(task.project_id)
    for name, listed in shown.items():
        setattr(groups, name, [tasks[k.id] for k in listed if k.id in tasks])
    return groups


@dataclass
class TaskFilters:
    """The API's task list filters."""
    owner_id: int | None = None
    company_id: int | None = None
    project_id: int | None = None
    meeting_id: int | None = None
    due_before: date | None = None
    overdue: bool | None = None
    done: bool | None = None


def task_list(viewer: User, f: TaskFilters, *, page: int = 1, per_page: int = 50,
              now: datetime | None = None) -> tuple[list[Task], int]:
    """Tasks the viewer may see, by due (then id), filtered; `overdue=true` means open and past due now."""
    now = now or utcnow()
    stmt = select(Task).where(_scope_of_filter(viewer, Task, access.task_scope(viewer), f))
    for name in ("owner_id", "company_id", "project_id", "meeting_id"):
        if getattr(f, name) is not None:
            stmt = stmt.where(getattr(Task, name) == getattr(f, name))
    if f.due_before is not None:
        stmt = stmt.where(Task.due_on < f.due_before)
    if f.done is not None:
        stmt = stmt.where(Task.done_at.is_not(None) if f.done else Task.done_at.is_(None))
    if f.overdue is not None:
        today = now.astimezone(zone()).date()
        # due_at IS NOT NULL keeps NOT(late) true for a date-only task (NULL would drop it from overdue=false)
        late = or_(Task.due_on < today, and_(Task.due_at.is_not(None), Task.due_at <= now))
        stmt = stmt.where(Task.done_at.is_(None), late) if f.overdue else \
            stmt.where(or_(Task.done_at.is_not(None), ~late))
    total = count(stmt)
    rows = list(db.session.scalars(stmt.order_by(*TASK_ORDER)
                                   .offset((page - 1) * per_page).limit(per_page)))
    return rows, total


# --- meetings list (API) ---------------------------------------------------------------------------------------------

@dataclass
class MeetingFilters:
    company_id: int | None = None
    project_id: int | None = None
    owner_id: int | None = None
    type: str | None = None
    start_from: datetime | None = None
    start_before: datetime | None = None


def meeting_list(viewer: User, f: MeetingFilters, *, page: int = 1, per_page: int = 50) -> tuple[list[Meeting], int]:
    """Meetings the viewer may see, newest first."""
    stmt = select(Meeting).where(_scope_of_filter(viewer, Meeting, access.meeting_scope(viewer), f))
    for name in ("company_id", "project_id", "owner_id", "type"):
        if getattr(f, name) is not None:
            stmt = stmt.where(getattr(Meeting, name) == getattr(f, name))
    if f.start_from is not None:
        stmt = stmt.where(Meeting.start_at >= f.start_from)
    if f.start_before is not None:
        stmt = stmt.where(Meeting.start_at < f.start_before)
    total = count(stmt)
    rows = list(db.session.scalars(stmt.options(*meeting_options()).order_by(Meeting.start_at.desc(),
                                                                             Meeting.id.desc())
                                   .offset((page - 1) * per_page).limit(per_page)))
    return rows, total


def meeting_options():
    return (joinedload(Meeting.company), joinedload(Meeting.project), _person(Meeting.owner),
            selectinload(Meeting.participant_users), selectinload(Meeting.participant_contacts))


def meeting_tasks(viewer: User, meeting_id: int) -> list[Task]:
    return list(db.session.scalars(select(Task).options(_person(Task.owner)).where(
        Task.meeting_id == meeting_id, access.task_scope(viewer)).order_by(*TASK_ORDER)))


def company_contacts(company_id: int) -> list[Contact]:
    return list(db.session.scalars(select(Contact).where(Contact.company_id == company_id,
                                                         Contact.deleted_at.is_(None)).order_by(Contact.id)))


def company_projects(viewer: User, company_id: int) -> list[Project]:
    """The company's projects the viewer may see (the quick-log form's project choice), open ones first."""
    return list(db.session.scalars(select(Project).where(Project.company_id == company_id,
                                                         access.project_scope(viewer))
                                   .order_by(Project.stage.in_(("lost", "full_capacity")), Project.updated_at.desc())))


# --- the calendar ----------------------------------------------------------------------------------------------------

@dataclass
class CalendarItems:
    #: Meeting and Task objects, or with `columns` rows of CALENDAR_MEETING and CALENDAR_TASK
    meetings: list
    tasks: list


#: the company, project and owner a calendar row names (aliases: the access scope's subqueries read the same tables,
#: and would otherwise be correlated to the outer query's joins)
_CAL_COMPANY, _CAL_PROJECT, _CAL_OWNER = aliased(Company), aliased(Project), aliased(User)
#: what the calendar page shows of a meeting and a task, with the names it shows as columns
_CAL_NAMES = (_CAL_COMPANY.name.label("company_name"), _CAL_PROJECT.confidential.label("project_confidential"),
              _CAL_PROJECT.code_name.label("project_code_name"), _CAL_PROJECT.company_id.label("project_company_id"),
              _CAL_OWNER.name.label("owner_name"))
CALENDAR_MEETING = (Meeting.id, Meeting.type, Meeting.start_at, Meeting.end_at, Meeting.owner_id,
                    Meeting.company_id, Meeting.project_id, *_CAL_NAMES)
CALENDAR_TASK = (Task.id, Task.title, Task.due_on, Task.due_at, Task.done_at, Task.owner_id, Task.company_id,
                 Task.project_id, *_CAL_NAMES)


def _calendar_rows(model, columns):
    """A select of `columns` of `model` with its company's, project's and owner's columns joined in."""
    return (select(*columns)
            .outerjoin(_CAL_COMPANY, _CAL_COMPANY.id == model.company_id)
            .outerjoin(_CAL_PROJECT, _CAL_PROJECT.id == model.project_id)
            .outerjoin(_CAL_OWNER, _CAL_OWNER.id == model.owner_id))


def calendar_items(viewer: User, user_ids: list[int], start: date, end: date, *,
                   open_tasks_only: bool = False, columns: bool = False) -> CalendarItems:
    """Meetings that start, and tasks due, on the days [start, end) for these users (owners or participants),
    as the viewer may see them (only the open tasks with `open_tasks_only`). The meetings come with their company,
    project and owner, not their participants (neither the calendar nor the feed shows them).

    With `columns` (the calendar page) they come as rows of CALENDAR_MEETING and CALENDAR_TASK, the names as
    columns: loading objects with their related objects was most of the month view's query time."""
    lo, hi = day_start(start), day_start(end)
    in_range = (Meeting.start_at >= lo, Meeting.start_at < hi)
    # Theirs (by owner and start) or taken part in (by participant, each checked for its start by the meeting's key),
    # as a list of ids first, then those of the range as the viewer may see them. In one statement (an OR of the
    # two, or an IN or a join of this union) PostgreSQL walks every meeting of the range and checks the viewer's
    # scope on each: 260,000 rows and 250 ms to over a second for a feed with 5 million meetings and tasks. The
    # start is a correlated subquery, not a join: joined, PostgreSQL hashes the range's every meeting (70,000 for a
    # month); without it the list holds every meeting they ever took part in (hundreds of ids a person, bound and
    # looked up again: 3,400 ids for a team's month, 700 of them in it). More ids than CALENDAR_IDS (a manager's
    # month of everyone) take that one statement: the range is then most of it anyway.
    took_part = select(MeetingUser.meeting_id).where(MeetingUser.user_id.in_(user_ids))
    started = select(Meeting.start_at).where(Meeting.id == MeetingUser.meeting_id, *in_range).scalar_subquery()
    theirs = list(db.session.scalars(
        union(select(Meeting.id).where(Meeting.owner_id.in_(user_ids), *in_range),
              took_part.where(started.is_not(None)))
        .limit(CALENDAR_IDS + 1)))
    which = Meeting.id.in_(theirs) if len(theirs) <= CALENDAR_IDS else \
        or_(Meeting.owner_id.in_(user_ids), Meeting.id.in_(took_part.scalar_subquery()))
    open_only = (Task.done_at.is_(None),) if open_tasks_only else ()
    if columns:
        meeting_stmt, task_stmt = _calendar_rows(Meeting, CALENDAR_MEETING), _calendar_rows(Task, CALENDAR_TASK)
        read = db.session.execute
    else:
        meeting_stmt = select(Meeting).options(*_refs(Meeting))
        task_stmt = select(Task).options(*_task_options())
        read = db.session.scalars
    meetings = list(read(
        meeting_stmt.where(which, *in_range, access.meeting_scope(viewer))
        .order_by(Meeting.start_at, Meeting.id).limit(CALENDAR_LIMIT)))
    tasks = list(read(
        task_stmt.where(Task.due_on >= start, Task.due_on < end, Task.owner_id.in_(user_ids), *open_only,
                        access.task_scope(viewer))
        .order_by(*TASK_ORDER).limit(CALENDAR_LIMIT)))
    return CalendarItems(meetings, tasks)


def feed_items(user: User, *, now: datetime | None = None) -> CalendarItems:
    """What a user's calendar feed carries: their meetings (owned or taken part in) and open tasks, from 90 days
    back to a year ahead."""
    now = now or utcnow()
    today = now.astimezone(zone()).date()
    return calendar_items(user, [user.id], today - FEED_PAST, today + FEED_AHEAD, open_tasks_only=True)


# --- timelines -------------------------------------------------------------------------------------------------------

@dataclass
class TimelineItem:
    kind: str  # meeting, task, stage or change
    at: datetime
    id: int
    #: the record's columns the timeline shows (queries._TIMELINE_COLUMNS): a row of a meeting, a task, a stage move
    #: or an audit event, with `person`, who logged it
    record: object
    #: for a change: the changed fields worth showing (a stage move's own update shows as the move)
    changes: dict | None = None
    #: a stage move back along the main path
    backwards: bool = False
    #: an open task past its due (zone time), or a meeting still to come
    overdue: bool = False
    scheduled: bool = False
    #: a meeting's contacts who took part, by name
    people: tuple[str, ...] = ()


#: the names of the contacts who took part in some meetings (as Meeting.participant_contacts: by the contact's id)
_PEOPLE = (select(MeetingContact.meeting_id, Contact.name).join(Contact, Contact.id == MeetingContact.contact_id)
           .where(MeetingContact.meeting_id.in_(bindparam("ids", expanding=True)))
           .order_by(MeetingContact.meeting_id, Contact.id))


@dataclass
class Timeline:
    items: list[TimelineItem]
    #: the `before` value of the next page, or None at the end
    next_before: str | None


def parse_kinds(raw) -> tuple[str, ...]:
    """`kind=meeting,task` (or repeated) → the known kinds asked for; nothing known means all."""
    values = raw if isinstance(raw, list) else [raw or ""]
    kinds = tuple(k for k in TIMELINE_KINDS if any(k in str(v).split(",") for v in values))
    return kinds or TIMELINE_KINDS


def parse_before(raw) -> datetime | None:
    try:
        # in UTC: SQLite compares the stored UTC text with the parameter's clock time, whatever its offset
        return as_aware(datetime.fromisoformat(str(raw or "")[:40])).astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one that leaves the calendar in UTC (year 1, +14:00)
        return None


def kind_toggles(kinds: tuple[str, ...]) -> list[tuple[str, bool, str]]:
    """The timeline's filter chips: (kind, shown as on, the `kind` value a click asks for). With every kind on, a
    click shows only that kind; otherwise a click turns the kind on or off (none left, or all: every kind)."""
    everything = set(kinds) >= set(TIMELINE_KINDS)
    chips = []
    for kind in TIMELINE_KINDS:
        if everything:
            wanted = {kind}
        else:
            wanted = set(kinds) ^ {kind}
        wanted_param = "" if not wanted or wanted >= set(TIMELINE_KINDS) else \
            ",".join(k for k in TIMELINE_KINDS if k in wanted)
        chips.append((kind, not everything and kind in kinds, wanted_param))
    return chips


@dataclass(frozen=True)
class OneScope:
    """What the access rule needs to know once for the meetings and tasks of one company or one project: whether
    the viewer may see the company, and which of its projects (access.scope_on_one)."""
    viewer: User
    company_visible: bool
    project_ids: tuple[int, ...]

    @classmethod
    def of(cls, viewer: User, company_id: int | None = None, project_id: int | None = None) -> "OneScope":
        if company_id is None:
            company_id = db.session.scalar(select(Project.company_id).where(Project.id == project_id))
            projects = select(Project.id).where(Project.id == project_id)
        else:
            projects = select(Project.id).where(Project.company_id == company_id)
        visible = company_id is not None and db.session.scalar(
            select(Company.id).where(Company.id == company_id, access.company_scope(viewer))) is not None
        return cls(viewer, visible, tuple(db.session.scalars(projects.where(access.project_scope(viewer)))))

    @property
    def shape(self) -> tuple:
        return access.one_scope_shape(self.viewer, self.company_visible)

    @property
    def params(self) -> dict:
        return access.one_scope_params(self.viewer, self.project_ids)

    def of_model(self, model):
        """The rule as an expression with its values bound, for a statement built on the spot."""
        return access.scope_on_one(model, self.shape).params(**self.params)


def _scope_of_filter(viewer: User, model, scope, f):
    """`scope` for a list filtered by company or project: access.scope_on_one for that company (or project), the
    same rows."""
    if f.company_id is not None:
        return OneScope.of(viewer, company_id=f.company_id).of_model(model)
    if f.project_id is not None:
        return OneScope.of(viewer, project_id=f.project_id).of_model(model)
    return scope


def timeline(viewer: User, *, company_id: int | None = None, project_id: int | None = None,
             kinds: tuple[str, ...] = TIMELINE_KINDS, before: datetime | None = None,
             limit: int = TIMELINE_PAGE, now: datetime | None = None, scope: OneScope | None = None) -> Timeline:
    """One list, newest first, of a company's (or a project's) meetings, tasks, stage moves and changes.

    Each kind is read newest-first from its own index and stopped at `limit` + 1 rows; the merged list keeps the
    newest `limit`. `before` (the previous page's `next_before`) pages back. The caller has checked that the viewer
    may see the company or project; every kind is still filtered by the viewer's scope.
    """
    assert (company_id is None) != (project_id is None)
    now = now or utcnow()
    scope = scope or OneScope.of(viewer, company_id=company_id, project_id=project_id)
    on = "company" if company_id is not None else "project"
    args = {"record": company_id if company_id is not None else project_id, "before": before, **scope.params}
    items: list[TimelineItem] = []
    take = limit + 1

    def read(kind: str, **extra):
        return db.session.execute(_timeline_read(kind, on, scope.shape, before is not None, take),
                                  {**args, **extra}).all()

    if "meeting" in kinds:
        meetings = list(read("meeting"))
        people: dict[int, list[str]] = {}
        if meetings:
            for meeting_id, name in db.session.execute(_PEOPLE, {"ids": [m.id for m in meetings]}):
                people.setdefault(meeting_id, []).append(name)
        items += [TimelineItem("meeting", as_aware(m.start_at), m.id, m, scheduled=as_aware(m.start_at) > now,
                               people=tuple(people.get(m.id, ()))) for m in meetings]
    if "task" in kinds:
        items += [TimelineItem("task", as_aware(t.created_at), t.id, t, overdue=services.is_overdue(t, now=now))
                  for t in read("task")]
    if "stage" in kinds:
        items += [TimelineItem("stage", as_aware(m.at), m.id, m, backwards=is_backwards(m.from_stage, m.to_stage))
                  for m in read("stage")]
    if "change" in kinds:
        child_ids = select(Contact.id).where(Contact.company_id == company_id) if company_id is not None else \
            select(FundsEntry.id).where(FundsEntry.project_id == project_id)
        extra = {}
        if company_id is not None:
            # the ids of the duplicates merged into it, whose history the timeline shows too
            extra = {"merged": list(db.session.scalars(select(CompanyAlias.old_id).where(
                CompanyAlias.company_id == company_id)))}
        if project_id is not None:
            from crm.support.models import EnterpriseRequest, Milestone

            # the template's nine milestones are created with the signing: the stage move says that
            extra = {"milestones": list(db.session.scalars(select(Milestone.id).where(
                         Milestone.project_id == project_id))),
                     # the viewer may see the project, so its requests (crm.support.access.request_scope)
                     "requests": list(db.session.scalars(select(EnterpriseRequest.id).where(
                         EnterpriseRequest.project_id == project_id)))}
        for event in read("change", children=list(db.session.scalars(child_ids)), **extra):
            if event.object_type == "milestone" and event.action == "create":
                continue
            shown = {k: v for k, v in (event.changes or {}).items() if k not in STAGE_FIELDS}
            if event.object_type == "project" and event.action == "update" and not shown:
                continue  # a stage move's own update: the move says it
            items.append(TimelineItem("change", as_aware(event.at), event.id, event, shown))
    items.sort(key=lambda i: (i.at, i.kind == "stage", i.id), reverse=True)
    if len(items) <= limit:
        return Timeline(items, None)
    # the next page reads `at < before`: items at the same instant as the first one left out (a project's creation
    # and its first stage move, say) go to the next page together, so none falls between two pages
    cut = items[limit].at
    page = [i for i in items[:limit] if i.at > cut]
    if not page:  # more than a page at one instant: show a page of them
        return Timeline(items[:limit], cut.astimezone(UTC).isoformat())
    return Timeline(page, (cut + timedelta(microseconds=1)).astimezone(UTC).isoformat())


def open_tasks(viewer: User, company_id: int | None = None, project_id: int | None = None,
               limit: int = 20, scope: OneScope | None = None) -> list[Task]:
    """The open follow-ups of a company (or a project) the viewer may see, soonest due first."""
    assert (company_id is None) != (project_id is None)
    scope = scope or OneScope.of(viewer, company_id=company_id, project_id=project_id)
    on = "company" if company_id is not None else "project"
    return list(db.session.scalars(_open_tasks_read(on, scope.shape, limit), {
        "record": company_id if company_id is not None else project_id, **scope.params}))


@functools.cache
def _open_tasks_read(on: str, shape: tuple, limit: int):
    """`open_tasks`' statement, kept per page kind and access shape as `_timeline_read`'s are."""
    return (select(Task).options(_person(Task.owner))
            .where(Task.done_at.is_(None), access.scope_on_one(Task, shape),
                   (Task.company_id if on == "company" else Task.project_id) == bindparam("record", type_=Integer))
            .order_by(*TASK_ORDER).limit(limit))


#: who logged a timeline item (a meeting's or a task's owner, a stage move's or a change's actor), joined by name
_PERSON = aliased(User)
#: the columns of each kind of timeline item the timeline shows: rows, not objects (loading objects with their
#: owners was half of a timeline's time); `person` is the owner's or the actor's name
_TIMELINE_COLUMNS = {
    "meeting": (Meeting.id, Meeting.type, Meeting.start_at, Meeting.city, Meeting.place, Meeting.project_id,
                Meeting.summary, Meeting.next_step, _PERSON.name.label("person")),
    "task": (Task.id, Task.title, Task.created_at, Task.due_on, Task.due_at, Task.done_at, Task.project_id,
             Task.meeting_id, _PERSON.name.label("person")),
    "stage": (StageMove.id, StageMove.project_id, StageMove.from_stage, StageMove.to_stage, StageMove.at,
              StageMove.reason, StageMove.note, _PERSON.name.label("person")),
    "change": (AuditEvent.id, AuditEvent.at, AuditEvent.action, AuditEvent.object_type, AuditEvent.changes,
               AuditEvent.label, _PERSON.name.label("person")),
}


@functools.cache
def _timeline_read(kind: str, on: str, shape: tuple, paged: bool, take: int):
    """The statement that reads one kind of a timeline's items, newest first, each from its own index: built once
    per kind, page (a company's or a project's), access shape (access.one_scope_shape) and paging, then kept, since
    building a statement and working out its cache key cost more than running it. Its values are parameters:
    `record` (the company or project id), `before`, the scope's (access.one_scope_params) and, for changes,
    `children` (the company's contacts or the project's funds entries)."""
    record = bindparam("record", type_=Integer)
    columns = _TIMELINE_COLUMNS[kind]
    if kind in ("meeting", "task"):
        model = Meeting if kind == "meeting" else Task
        at = Meeting.start_at if kind == "meeting" else Task.created_at
        # the company and project are the page's own; a meeting's contacts who took part are read by `_PEOPLE`,
        # colleagues who took part are not shown
        stmt = select(*columns).outerjoin(_PERSON, _PERSON.id == model.owner_id).where(
            access.scope_on_one(model, shape), (model.company_id if on == "company" else model.project_id) == record)
    elif kind == "stage":
        at = StageMove.at
        # a company's: the moves of its projects the viewer may see (the scope's project ids)
        stmt = select(*columns).outerjoin(_PERSON, _PERSON.id == StageMove.actor_id).where(
            StageMove.project_id.in_(bindparam("scope_projects", expanding=True)) if on == "company" else
            StageMove.project_id == record)
    else:  # audited changes of the company and its contacts, or of the project, its funds entries, its support
        # board's milestones and enterprise requests
        at = AuditEvent.at
        own, child = ("company", "contact") if on == "company" else ("project", "funds")
        whose = [(AuditEvent.object_type == own) & (AuditEvent.object_id == record),
                 (AuditEvent.object_type == child) & AuditEvent.object_id.in_(bindparam("children", expanding=True))]
        if on == "company":
            # the history of the duplicates merged into it (crm.companies.merge) is its own; their last entry,
            # "merged into", is told by the survivor's "merge" entry
            whose.append((AuditEvent.object_type == "company") & (AuditEvent.action != "merged_into")
                         & AuditEvent.object_id.in_(bindparam("merged", expanding=True)))
        if on == "project":
            whose += [(AuditEvent.object_type == "milestone")
                      & AuditEvent.object_id.in_(bindparam("milestones", expanding=True)),
                      (AuditEvent.object_type == "request")
                      & AuditEvent.object_id.in_(bindparam("requests", expanding=True))]
        stmt = select(*columns).outerjoin(_PERSON, _PERSON.id == AuditEvent.actor_id).where(or_(*whose))
    if paged:
        stmt = stmt.where(at < bindparam("before", type_=at.type))
    return stmt.order_by(at.desc(), at.class_.id.desc()).limit(take)
