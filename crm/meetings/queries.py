"""Read paths of meetings and tasks: "my tasks" in its four groups, the calendar's range, the calendar feed, and the
one timeline of a company or a project (meetings, tasks, stage moves and changes, newest first)."""
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select, union
from sqlalchemy.orm import aliased, joinedload, load_only, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from crm.audit.models import AuditEvent
from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company, Contact
from crm.companies.queries import count
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db
from crm.projects.models import FundsEntry, Project, StageMove
from crm.projects.queries import STAGE_FIELDS
from crm.projects.stages import is_backwards

from . import services
from .models import Meeting, MeetingUser, Task

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


#: the company and project a task row names (aliases: the access scope's subqueries read the same tables); built
#: once, as an alias builds a proxy of every column
_LISTED_COMPANY, _LISTED_PROJECT = aliased(Company), aliased(Project)


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
    since = day_start(today)
    keys = db.session.execute(
        select(Task.id, Task.due_on, Task.due_at, Task.done_at)
        .where(Task.owner_id == owner.id, or_(Task.done_at.is_(None), Task.done_at >= since),
               access.task_scope(viewer))
        .order_by(*TASK_ORDER)).all()
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
    company, project = _LISTED_COMPANY, _LISTED_PROJECT
    tasks = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for task, *names in db.session.execute(
                select(Task, company.name, project.name, project.code_name, project.confidential)
                .options(load_only(*LIST_COLUMNS))
                .outerjoin(company, company.id == Task.company_id).outerjoin(project, project.id == Task.project_id)
                .where(Task.id.in_(chunk))):
            set_committed_value(task, "owner", owner)
            groups.refs[task.id] = TaskRefs(*names)
            tasks[task.id] = task
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
    meetings: list[Meeting]
    tasks: list[Task]


def calendar_items(viewer: User, user_ids: list[int], start: date, end: date, *,
                   open_tasks_only: bool = False) -> CalendarItems:
    """Meetings that start, and tasks due, on the days [start, end) for these users (owners or participants),
    as the viewer may see them (only the open tasks with `open_tasks_only`). The meetings come with their company,
    project and owner, not their participants (neither the calendar nor the feed shows them)."""
    lo, hi = day_start(start), day_start(end)
    in_range = (Meeting.start_at >= lo, Meeting.start_at < hi)
    # Theirs (by owner and start) or taken part in (every meeting they took part in, by participant: a few hundred),
    # as a list of ids first, then those of the range as the viewer may see them. In one statement (an OR of the
    # two, or an IN or a join of this union) PostgreSQL walks every meeting of the range and checks the viewer's
    # scope on each: 260,000 rows and 250 ms to over a second for a feed with 5 million meetings and tasks. More ids
    # than CALENDAR_IDS (a manager's month of everyone) take that one statement: the range is then most of it anyway.
    took_part = select(MeetingUser.meeting_id).where(MeetingUser.user_id.in_(user_ids))
    theirs = list(db.session.scalars(
        union(select(Meeting.id).where(Meeting.owner_id.in_(user_ids), *in_range), took_part)
        .limit(CALENDAR_IDS + 1)))
    which = Meeting.id.in_(theirs) if len(theirs) <= CALENDAR_IDS else \
        or_(Meeting.owner_id.in_(user_ids), Meeting.id.in_(took_part.scalar_subquery()))
    open_only = (Task.done_at.is_(None),) if open_tasks_only else ()
    meetings = list(db.session.scalars(
        select(Meeting).options(*_refs(Meeting))
        .where(which, *in_range, access.meeting_scope(viewer))
        .order_by(Meeting.start_at, Meeting.id).limit(CALENDAR_LIMIT)))
    tasks = list(db.session.scalars(
        select(Task).options(*_task_options()).where(
            Task.due_on >= start, Task.due_on < end, Task.owner_id.in_(user_ids), *open_only,
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
    #: the record itself: a Meeting, Task, StageMove or AuditEvent
    record: object
    #: for a change: the changed fields worth showing (a stage move's own update shows as the move)
    changes: dict | None = None
    #: a stage move back along the main path
    backwards: bool = False
    #: an open task past its due (zone time), or a meeting still to come
    overdue: bool = False
    scheduled: bool = False


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


def _scope_of_one(viewer: User, model, scope, company_id: int | None, project_id: int | None):
    """`scope` (access.meeting_scope or access.task_scope of the viewer) for the meetings or tasks of one company or
    one project, with a shortcut tried first that gives the same rows faster.

    The shortcut is the access rule's own "on a company, and on no project or a project, the viewer may see"
    (access._visible_record) for that one company or project: it reads one company and its few projects, where the
    whole scope, once a record falls through to that rule (a colleague of another team logged it), lists every
    company and project the viewer may see: 80,000 and 50,000 ids in the benchmark, 100+ ms a statement on SQLite
    (bench/README.md, issue 4). The shortcut only ever admits records the scope admits, and the scope still decides
    for the rest (a deleted record, one on a project the viewer may not see), so the result is unchanged.
    """
    if company_id is not None:
        companies = select(Company.id).where(Company.id == company_id, access.company_scope(viewer))
        projects = select(Project.id).where(Project.company_id == company_id, access.project_scope(viewer))
    else:
        projects = select(Project.id).where(Project.id == project_id, access.project_scope(viewer))
        companies = select(Company.id).where(
            Company.id.in_(select(Project.company_id).where(Project.id == project_id).scalar_subquery()),
            access.company_scope(viewer))
    shortcut = and_(model.deleted_at.is_(None), model.company_id.in_(companies.scalar_subquery()),
                    or_(model.project_id.is_(None), model.project_id.in_(projects.scalar_subquery())))
    return or_(shortcut, scope)


def _scope_of_filter(viewer: User, model, scope, f):
    """`scope` for a list filtered by company or project: with `_scope_of_one`'s shortcut for that company (or
    project), the same rows."""
    if f.company_id is not None:
        return _scope_of_one(viewer, model, scope, f.company_id, None)
    if f.project_id is not None:
        return _scope_of_one(viewer, model, scope, None, f.project_id)
    return scope


def timeline(viewer: User, *, company_id: int | None = None, project_id: int | None = None,
             kinds: tuple[str, ...] = TIMELINE_KINDS, before: datetime | None = None,
             limit: int = TIMELINE_PAGE, now: datetime | None = None) -> Timeline:
    """One list, newest first, of a company's (or a project's) meetings, tasks, stage moves and changes.

    Each kind is read newest-first from its own index and stopped at `limit` + 1 rows; the merged list keeps the
    newest `limit`. `before` (the previous page's `next_before`) pages back. The caller has checked that the viewer
    may see the company or project; every kind is still filtered by the viewer's scope.
    """
    assert (company_id is None) != (project_id is None)
    now = now or utcnow()
    items: list[TimelineItem] = []
    take = limit + 1
    if "meeting" in kinds:
        # with who logged it and which contacts took part (the item shows them); the company and project are the
        # page's own (already in the session), colleagues who took part are not shown
        stmt = select(Meeting).options(_person(Meeting.owner), selectinload(Meeting.participant_contacts)).where(
            _scope_of_one(viewer, Meeting, access.meeting_scope(viewer), company_id, project_id))
        stmt = stmt.where(Meeting.company_id == company_id) if company_id else \
            stmt.where(Meeting.project_id == project_id)
        if before is not None:
            stmt = stmt.where(Meeting.start_at < before)
        items += [TimelineItem("meeting", as_aware(m.start_at), m.id, m, scheduled=as_aware(m.start_at) > now)
                  for m in db.session.scalars(stmt.order_by(Meeting.start_at.desc(), Meeting.id.desc()).limit(take))]
    if "task" in kinds:
        stmt = select(Task).options(_person(Task.owner)).where(
            _scope_of_one(viewer, Task, access.task_scope(viewer), company_id, project_id))
        stmt = stmt.where(Task.company_id == company_id) if company_id else stmt.where(Task.project_id == project_id)
        if before is not None:
            stmt = stmt.where(Task.created_at < before)
        items += [TimelineItem("task", as_aware(t.created_at), t.id, t, overdue=services.is_overdue(t, now=now))
                  for t in db.session.scalars(stmt.order_by(Task.created_at.desc(), Task.id.desc()).limit(take))]
    if "stage" in kinds:
        stmt = select(StageMove).options(_person(StageMove.actor))
        if company_id:
            stmt = stmt.where(StageMove.project_id.in_(select(Project.id).where(
                Project.company_id == company_id, access.project_scope(viewer)).scalar_subquery()))
        else:
            stmt = stmt.where(StageMove.project_id == project_id)
        if before is not None:
            stmt = stmt.where(StageMove.at < before)
        items += [TimelineItem("stage", as_aware(m.at), m.id, m, backwards=is_backwards(m.from_stage, m.to_stage))
                  for m in db.session.scalars(stmt.order_by(StageMove.at.desc(), StageMove.id.desc()).limit(take))]
    if "change" in kinds:
        items += _changes(company_id, project_id, before, take)
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
               limit: int = 20) -> list[Task]:
    """The open follow-ups of a company (or a project) the viewer may see, soonest due first."""
    scope = access.task_scope(viewer)
    if (company_id is None) != (project_id is None):
        scope = _scope_of_one(viewer, Task, scope, company_id, project_id)
    stmt = select(Task).options(_person(Task.owner)).where(Task.done_at.is_(None), scope)
    if company_id is not None:
        stmt = stmt.where(Task.company_id == company_id)
    if project_id is not None:
        stmt = stmt.where(Task.project_id == project_id)
    return list(db.session.scalars(stmt.order_by(*TASK_ORDER).limit(limit)))


def _changes(company_id, project_id, before, take) -> list[TimelineItem]:
    """Audited changes of the company and its contacts, or of the project and its funds entries."""
    if company_id:
        about = (AuditEvent.object_type == "company") & (AuditEvent.object_id == company_id)
        child_type, child_ids = "contact", select(Contact.id).where(Contact.company_id == company_id)
    else:
        about = (AuditEvent.object_type == "project") & (AuditEvent.object_id == project_id)
        child_type, child_ids = "funds", select(FundsEntry.id).where(FundsEntry.project_id == project_id)
    ids = list(db.session.scalars(child_ids))
    if ids:
        about = or_(about, (AuditEvent.object_type == child_type) & AuditEvent.object_id.in_(ids))
    stmt = select(AuditEvent).options(_person(AuditEvent.actor)).where(about)
    if before is not None:
        stmt = stmt.where(AuditEvent.at < before)
    out = []
    for event in db.session.scalars(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(take)):
        shown = {k: v for k, v in (event.changes or {}).items() if k not in STAGE_FIELDS}
        if event.object_type == "project" and event.action == "update" and not shown:
            continue  # a stage move's own update: the move says it
        out.append(TimelineItem("change", as_aware(event.at), event.id, event, shown))
    return out
