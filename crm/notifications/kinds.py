"""The kinds of reminder. Each kind is a `find` function and a `compose` function, registered under a name:

- `find(now)` yields a `Due` for every (recipient, object, period) the kind has due at `now`. It reads database
  state only (R1), so it may run every minute, twice at once or hours late: the notification log's unique key
  turns every repeat into nothing (`services.sweep`). The sweep itself leaves out inactive users and opt-outs.
- `compose(notification, recipient, at)` runs at send time, in the recipient's language: it reads the records again
  and returns the e-mail's template context (with its `subject`, and optionally `attachments`: a list of (file name,
  MIME type, bytes) sent with the e-mail but not kept in the log), or raises `NotDue` when there is nothing to send
  any more (the task was done, the meeting deleted or moved).

The templates are `templates/email/<kind>.html` (the HTML part) and `<kind>.txt.html` (the plain-text part).
Adding a kind: write the two functions and register them; the sweep, the send task, the CLI and the log pick it up.
"""
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from flask import current_app
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, exists, func, not_, or_, select
from sqlalchemy.orm import joinedload

from crm.auth import access
from crm.auth.models import Role, User
from crm.core.timeutil import as_aware, to_zone, zone
from crm.extensions import db
from crm.i18n import gettext as _
from crm.meetings.models import Meeting, MeetingUser, Task
from crm.meetings.queries import TaskRefs, day_start

from .mail import absolute_url
from .models import Notification


@dataclass(frozen=True)
class Due:
    """One reminder a kind found due: to whom, about what, for which period, with what it saw (kept on the row)."""
    recipient_id: int
    object_type: str
    object_id: int
    period: str
    context: dict | None = None


class NotDue(Exception):
    """Raised by `compose` when the reminder should not go out any more; `reason` is kept on the row."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Kind:
    name: str
    #: what users see on their preferences page
    label: object
    find: Callable[[datetime], Iterable[Due]]
    compose: Callable[[Notification, User, datetime], dict]

    @property
    def template(self) -> str:
        return f"email/{self.name}"


KINDS: dict[str, Kind] = {}


def register(name: str, *, label, compose: Callable[[Notification, User, datetime], dict]):
    """Decorator for a kind's `find` function: `@register("digest", label=_l("Daily digest"), compose=...)`."""

    def wrap(find: Callable[[datetime], Iterable[Due]]):
        KINDS[name] = Kind(name=name, label=label, find=find, compose=compose)
        return find

    return wrap


def _chunks(values: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _clock(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def default_digest_time() -> time:
    return _clock(current_app.config["CRM_DIGEST_TIME"])


def _utc(value: datetime) -> datetime:
    """Bound datetimes are UTC: SQLite compares the stored UTC text and drops a bound value's offset."""
    return as_aware(value).astimezone(UTC)


def _clean(value: str | None) -> str:
    """A record's text in a subject or a list line: one line (a CR/LF in a name must not start a header)."""
    return " ".join((value or "").split())


def _links_of(recipient: User, records):
    # The names and links rule of the task lists ("my tasks"): a confidential project's company is named by its code
    # name for those who may not see the company; only what the recipient may open is linked (AC-5).
    from crm.meetings.rows import Links

    return Links.of(recipient, records)


def _company_url(links, record) -> str:
    return absolute_url("companies.show", company_id=record.company_id) \
        if record.company_id in links.company_ids else ""


# --- the daily digest (每日待办摘要) ----------------------------------------------------------------------------------

#: how many of each list a digest shows (with the full count and a link to the page that lists them all)
DIGEST_LIST = 30


def _open_tasks_until(owner_id, day: date):
    return and_(Task.owner_id == owner_id, Task.done_at.is_(None), Task.deleted_at.is_(None), Task.due_on <= day)


def _meetings_on(day: date):
    return and_(Meeting.deleted_at.is_(None), Meeting.start_at >= day_start(day),
                Meeting.start_at < day_start(day + timedelta(days=1)))


def _takes_part(user_id: int):
    took_part = select(MeetingUser.meeting_id).where(MeetingUser.user_id == user_id).scalar_subquery()
    return or_(Meeting.owner_id == user_id, Meeting.id.in_(took_part))


def _named(entity, *columns):
    """The columns a digest line shows, with the names of the record's company and project (outer joins): plain rows,
    not entities, for what is only read (TaskRefs' fields, for `Links.company_name`)."""
    from crm.companies.models import Company
    from crm.projects.models import Project

    return (select(*columns, entity.company_id, entity.project_id, Company.name.label("company_name"),
                   Project.name.label("project_name"), Project.code_name.label("project_code_name"),
                   Project.confidential.label("project_confidential"))
            .select_from(entity)
            .outerjoin(Company, Company.id == entity.company_id).outerjoin(Project, Project.id == entity.project_id))


def _refs(row) -> TaskRefs:
    return TaskRefs(row.company_name, row.project_name, row.project_code_name, row.project_confidential)


@dataclass(frozen=True)
class _DigestStatements:
    counts: object
    meetings: object
    overdue: object
    today: object
    milestones: object
    requests: object


@cache
def _digest_statements() -> _DigestStatements:
    """The digest's statements, built once per process with bound parameters (owner, day, at, at_day, day_from,
    day_to, ahead): a send then skips building each statement and its cache key afresh, most of a digest's CPU
    besides the SQL. Each send passes the values (`_digest_params`)."""
    from crm.projects.models import Project
    from crm.support.models import EnterpriseRequest, Milestone

    owner, day = bindparam("owner"), bindparam("day")
    overdue = or_(and_(Task.due_at.is_not(None), Task.due_at <= bindparam("at")),
                  and_(Task.due_at.is_(None), Task.due_on < bindparam("at_day")))
    open_tasks = _open_tasks_until(owner, day)
    due_today = and_(not_(overdue), Task.due_on == day)
    meetings_on = and_(Meeting.deleted_at.is_(None), Meeting.start_at >= bindparam("day_from"),
                       Meeting.start_at < bindparam("day_to"))

    def tasks(*where, order):
        return _named(Task, Task.title, Task.due_on, Task.due_at).where(open_tasks, *where).order_by(*order) \
            .limit(DIGEST_LIST)

    return _DigestStatements(
        # both counts in one pass over the owner's open tasks (`ix_task_owner_open` holds every column they read)
        counts=select(func.count().filter(overdue), func.count().filter(due_today)).where(open_tasks),
        meetings=_named(Meeting, Meeting.id, Meeting.start_at, Meeting.type, Meeting.city, Meeting.place)
        .where(meetings_on, _takes_part(owner)).order_by(Meeting.start_at, Meeting.id).limit(DIGEST_LIST),
        # overdue newest first, as "my tasks" lists them; today's in the order of the day
        overdue=tasks(overdue, order=(Task.due_on.desc(), Task.due_at.desc().nulls_last(), Task.id.desc())),
        today=tasks(due_today, order=(Task.due_at.asc().nulls_last(), Task.id)),
        milestones=select(Milestone.kind, Milestone.planned_date, Project.id, Project.name)
        .join(Project, Project.id == Milestone.project_id)
        .where(_milestones_due(owner, day, ahead=bindparam("ahead")), Project.deleted_at.is_(None))
        .order_by(Milestone.planned_date, Milestone.id).limit(DIGEST_LIST),
        requests=select(EnterpriseRequest.id, EnterpriseRequest.category, EnterpriseRequest.description,
                        EnterpriseRequest.deadline, Project.name)
        .join(Project, Project.id == EnterpriseRequest.project_id)
        .where(_requests_late(owner, day), Project.deleted_at.is_(None))
        .order_by(EnterpriseRequest.deadline, EnterpriseRequest.id).limit(DIGEST_LIST),
    )


def _digest_params(owner_id: int, day: date, at: datetime) -> dict:
    return {"owner": owner_id, "day": day, "at": _utc(at), "at_day": to_zone(at).date(), "day_from": day_start(day),
            "day_to": day_start(day + timedelta(days=1)), "ahead": day + timedelta(days=MILESTONE_AHEAD)}


def compose_digest(notification: Notification, recipient: User, at: datetime) -> dict:
    """Tasks due on the digest's day and overdue (as of `at`), and the day's meetings; NotDue when all are empty
    (everything was done between the sweep and the send)."""
    day = date.fromisoformat(notification.period)
    statements, params = _digest_statements(), _digest_params(recipient.id, day, at)
    overdue_count, today_count = db.session.execute(statements.counts, params).one()
    meetings = db.session.execute(statements.meetings, params).all()
    missed = _scheduler_misses(recipient, at)
    board = _support_lines(params)
    if not overdue_count and not today_count and not meetings and not missed and not board["any"]:
        raise NotDue("nothing_due")
    overdue_tasks = db.session.execute(statements.overdue, params).all() if overdue_count else []
    today_tasks = db.session.execute(statements.today, params).all() if today_count else []
    links = _links_of(recipient, [*overdue_tasks, *today_tasks, *meetings])
    labels = _meeting_type_labels()
    day_labels: dict[date, str] = {}

    def task_item(task, show_day: bool) -> dict:
        clock = to_zone(task.due_at).strftime("%H:%M") if task.due_at is not None else ""
        if show_day:
            if task.due_on not in day_labels:
                day_labels[task.due_on] = format_date(task.due_on, "medium")
            due = f"{day_labels[task.due_on]} {clock}" if clock else day_labels[task.due_on]
        else:
            due = clock
        refs = _refs(task)
        return {"title": _clean(task.title), "due": due, "company": _clean(links.company_name(task, refs)),
                "company_url": _company_url(links, task), "project": _clean(links.project_name(task, refs))}

    def meeting_item(meeting) -> dict:
        return {"time": to_zone(meeting.start_at).strftime("%H:%M"), "type": labels.get(meeting.type, meeting.type),
                "company": _clean(links.company_name(meeting, _refs(meeting))), "place": _clean(" ".join(
                    p for p in (meeting.city, meeting.place) if p)),
                "url": absolute_url("meetings.show", meeting_id=meeting.id)}

    day_label = format_date(day, "full")
    return {
        "subject": _("Daily digest for %(day)s", day=day_label),
        "day": day_label,
        "overdue": [task_item(t, True) for t in overdue_tasks], "overdue_count": overdue_count,
        "today": [task_item(t, False) for t in today_tasks], "today_count": today_count,
        "meetings": [meeting_item(m) for m in meetings],
        "tasks_url": absolute_url("meetings.tasks"),
        "missed": missed, "scheduler_url": absolute_url("admin.scheduler") if missed else "",
        **board,
    }


# --- the support board's lines in the digest --------------------------------------------------------------------------
#: a milestone shows in its officer's digest this many days before its planned date, and every day once overdue
MILESTONE_AHEAD = 7


def _milestones_due(owner_id, day: date, ahead=None):
    """`ahead`: the last planned date that counts (default MILESTONE_AHEAD days after `day`; a bound parameter in
    the digest's statements)."""
    from crm.support.models import Milestone

    return and_(Milestone.owner_id == owner_id, Milestone.deleted_at.is_(None), Milestone.actual_date.is_(None),
                Milestone.planned_date <= (ahead if ahead is not None else day + timedelta(days=MILESTONE_AHEAD)))


def _requests_late(owner_id, day: date):
    from crm.support.models import EnterpriseRequest
    from crm.support.services import past_deadline

    return and_(EnterpriseRequest.owner_id == owner_id, EnterpriseRequest.deleted_at.is_(None), past_deadline(day))


def _support_lines(params: dict) -> dict:
    """The milestones the recipient answers for that are due within 7 days or overdue, and their requests past
    the deadline (DESIGN.md, Reminders: the daily digest), on live projects."""
    from crm.support.models import CATEGORY_BY_KEY, MILESTONE_BY_KEY

    statements, day = _digest_statements(), params["day"]
    milestones = db.session.execute(statements.milestones, params).all()
    requests = db.session.execute(statements.requests, params).all()

    def label(table, key):
        return str(table[key].label) if key in table else key

    return {
        "any": bool(milestones or requests),
        "milestones": [{"kind": label(MILESTONE_BY_KEY, kind), "project": _clean(name), "late": planned < day,
                        "planned": format_date(planned, "medium"),
                        "url": absolute_url("projects.show", project_id=pid) + "#support"}
                       for kind, planned, pid, name in milestones],
        "requests": [{"category": label(CATEGORY_BY_KEY, category), "text": _clean(text)[:80],
                      "project": _clean(name), "deadline": format_date(deadline, "medium"),
                      "url": absolute_url("support.show_request", request_id=rid)}
                     for rid, category, text, deadline, name in requests],
    }


#: how far back an admin's digest reports what the scheduler missed (since the digest of the day before)
MISSES_WINDOW = timedelta(hours=24)


def _admins_to_tell(now: datetime) -> set[int]:
    """Admins, when the scheduler missed anything in the last day: their digest says so even if nothing else is due."""
    from crm.jobs import misses

    if not misses(now - MISSES_WINDOW, now):
        return set()
    return set(db.session.scalars(select(User.id).where(User.role == Role.ADMIN.value)))


def _scheduler_misses(recipient: User, at: datetime) -> list[dict]:
    """For an admin: each periodic job that missed its time in the last day (DESIGN.md: flagged "in the next digest
    to admins"); for everyone else nothing."""
    from crm.jobs import misses

    if recipient.role != Role.ADMIN.value:
        return []

    def when(value: datetime | None) -> str:
        return to_zone(value).strftime("%m-%d %H:%M") if value is not None else ""

    return [{"job": str(m.job.label), "since": when(m.since), "until": when(m.until)}
            for m in misses(at - MISSES_WINDOW, at)]


@register("digest", label=_l("Daily digest"), compose=compose_digest)
def find_digests(now: datetime) -> Iterator[Due]:
    """Each staff member whose digest time (theirs, or CRM_DIGEST_TIME) has come today in the zone's time zone, who
    has no digest for today yet, and who has a task due by today or a meeting today. One per user per zone day:
    the period is the day. A scheduler that was down catches up at its first sweep, for today only."""
    from .models import NotificationPreference

    local = now.astimezone(zone())
    day, clock = local.date(), local.time().replace(tzinfo=None)
    default = default_digest_time()
    people = db.session.execute(
        select(User.id, NotificationPreference.digest_time)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(User.is_active_user.is_(True), User.role.in_(tuple(access.STAFF_ROLES))))
    has_one = set(db.session.scalars(select(Notification.recipient_id).where(
        Notification.kind == "digest", Notification.period == day.isoformat())))
    candidates = sorted(uid for uid, chosen in people if (chosen or default) <= clock and uid not in has_one)
    recipients: set[int] = set()
    recipients.update(_admins_to_tell(now) & set(candidates))
    for chunk in _chunks(candidates):
        recipients.update(db.session.scalars(select(User.id).where(User.id.in_(chunk), or_(
            exists().where(_open_tasks_until(User.id, day)),
            exists().where(_meetings_on(day), Meeting.owner_id == User.id),
            exists().where(_meetings_on(day), MeetingUser.meeting_id == Meeting.id, MeetingUser.user_id == User.id),
            exists().where(_milestones_due(User.id, day)), exists().where(_requests_late(User.id, day)),
        ))))
    for uid in sorted(recipients):
        yield Due(uid, "user", uid, day.isoformat())


# --- the meeting reminder (会前提醒) ----------------------------------------------------------------------------------

def meeting_period(start_at: datetime) -> str:
    """A meeting reminder's period is the meeting's start (UTC, to the minute): moved to another time, the meeting is
    reminded again for the new time, and the reminder for the old time is dropped at send time."""
    return _utc(start_at).strftime("%Y-%m-%dT%H:%MZ")


def _meeting_type_labels() -> dict[str, str]:
    from crm.meetings.ical import meeting_type_labels

    return meeting_type_labels()


def compose_meeting(notification: Notification, recipient: User, at: datetime) -> dict:
    meeting = db.session.scalar(select(Meeting).options(joinedload(Meeting.company), joinedload(Meeting.project))
                                .where(Meeting.id == notification.object_id))
    if meeting is None or meeting.deleted_at is not None:
        raise NotDue("deleted")
    start = as_aware(meeting.start_at)
    if meeting_period(start) != notification.period:
        raise NotDue("moved")
    if start <= at:
        raise NotDue("started")
    colleagues = list(db.session.scalars(select(User).join(MeetingUser, MeetingUser.user_id == User.id)
                                         .where(MeetingUser.meeting_id == meeting.id).order_by(User.name)))
    if recipient.id != meeting.owner_id and recipient.id not in {u.id for u in colleagues}:
        raise NotDue("not_taking_part")
    links = _links_of(recipient, [meeting])
    kind = _meeting_type_labels().get(meeting.type, meeting.type)
    company = _clean(links.company_name(meeting))
    clock = to_zone(start).strftime("%H:%M")
    people = [meeting.owner, *colleagues] if meeting.owner is not None else colleagues
    return {
        "subject": _("%(type)s with %(company)s at %(time)s", type=kind, company=company, time=clock),
        "type": kind, "time": clock, "day": format_date(to_zone(start).date(), "full"),
        "company": company, "company_url": _company_url(links, meeting),
        "project": _clean(links.project_name(meeting)),
        "place": _clean(" ".join(p for p in (meeting.city, meeting.place) if p)),
        "people": [_clean(u.name) for u in people],
        "url": absolute_url("meetings.show", meeting_id=meeting.id),
    }


@register("meeting", label=_l("Meeting reminders"), compose=compose_meeting)
def find_meeting_reminders(now: datetime) -> Iterator[Due]:
    """Meetings starting within the next CRM_MEETING_REMINDER_MINUTES (default 60): one reminder to the owner and to
    each colleague taking part. A meeting that already began is not reminded (a late sweep does not nag)."""
    ahead = timedelta(minutes=current_app.config["CRM_MEETING_REMINDER_MINUTES"])
    meetings = db.session.execute(select(Meeting.id, Meeting.owner_id, Meeting.start_at).where(
        Meeting.deleted_at.is_(None), Meeting.start_at > _utc(now), Meeting.start_at <= _utc(now + ahead))).all()
    people: dict[int, set[int]] = {m.id: {m.owner_id} for m in meetings}
    for chunk in _chunks(list(people)):
        for meeting_id, user_id in db.session.execute(
                select(MeetingUser.meeting_id, MeetingUser.user_id).where(MeetingUser.meeting_id.in_(chunk))):
            people[meeting_id].add(user_id)
    for meeting in meetings:
        period = meeting_period(meeting.start_at)
        for user_id in sorted(people[meeting.id]):
            yield Due(user_id, "meeting", meeting.id, period, {"start_at": period})


# --- the pipeline's kinds ------------------------------------------------------------------------------------------
# Escalation, stale leads, public-pool notes and the weekly summary live in kinds_pipeline (registered on import,
# after the two above: the preferences page lists the kinds in this order). Milestones and enterprise requests join
# the digest and the escalation with the support board. The reports sent by e-mail (the managers' weekly project
# report, its .xlsx attached) live in kinds_reports, registered after those.
from . import kinds_pipeline, kinds_reports  # noqa: E402,F401
