"""The pipeline's reminders (DESIGN.md, Reminders), each a `find` and a `compose` registered in `kinds`:

- "escalation" (逾期督办): managers hear of follow-ups overdue by `escalation_days` (a setting), once a day at their
  digest time, for their team (a manager without a team: everyone's);
- "stale" (线索久未跟进): the officer holding a lead, negotiation or site visit that has had no activity for
  `stale_days` is nudged once per staleness episode (the period is the last activity's time, RM-14), on the weekly
  round (Mondays from CRM_WEEKLY_TIME);
- "pool" (退回公海): the day's automatic returns to the public pool (`companies.release_expired_claims`) are told to
  the officers who held them, one e-mail per officer per day;
- "weekly" (周报摘要): the pipeline summary of the week before to managers, Mondays from CRM_WEEKLY_TIME.

Every `find` reads state only and may run at every sweep: the notification log's key makes each reminder one e-mail.
"""
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select

from crm.audit.models import AuditEvent
from crm.auth.models import Role, User
from crm.core.timeutil import as_aware, to_zone, zone
from crm.extensions import db
from crm.i18n import gettext as _
from crm.meetings.models import Task
from crm.projects.models import Project, StageMove
from crm.reference import services as reference

from .kinds import DIGEST_LIST, Due, NotDue, _clean, _clock, _utc, register
from .mail import absolute_url
from .models import Notification

#: the stages a stale-lead nudge is about: before signing (a signed project's idleness is the support board's)
LEAD_STAGES = ("lead", "negotiating", "site_visit")
#: how far back a day's pool releases are still told (a scheduler that was down catches up)
POOL_LOOKBACK = timedelta(days=7)


def _local(now: datetime) -> tuple[date, object]:
    local = now.astimezone(zone())
    return local.date(), local.time().replace(tzinfo=None)


def weekly_round_open(now: datetime) -> bool:
    """Mondays from CRM_WEEKLY_TIME (zone time) to midnight: the weekly kinds' window."""
    day, clock = _local(now)
    return day.weekday() == 0 and clock >= _clock(current_app.config["CRM_WEEKLY_TIME"])


def _managers() -> list[tuple[int, int | None]]:
    return db.session.execute(select(User.id, User.team_id).where(
        User.is_active_user.is_(True), User.role == Role.MANAGER.value).order_by(User.id)).all()


def _owners_of(team_id: int | None):
    """The owners whose work a manager oversees: the team's members, or everyone for a manager without a team."""
    if team_id is None:
        return None
    return select(User.id).where(User.team_id == team_id).scalar_subquery()


def _stamp(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- escalation (逾期督办) --------------------------------------------------------------------------------------------

def escalation_days() -> int:
    return int(reference.get_setting("escalation_days"))


def _escalated(day: date, team_id: int | None):
    owners = _owners_of(team_id)
    where = [Task.done_at.is_(None), Task.deleted_at.is_(None), Task.due_on <= day - timedelta(days=escalation_days())]
    if owners is not None:
        where.append(Task.owner_id.in_(owners))
    return and_(*where)


def _escalated_board(day: date, team_id: int | None):
    """The support board's part (DESIGN.md: "when a milestone or request is overdue by N days"): milestones not
    done N days after their planned date, and open requests N days past their deadline, on live projects."""
    from crm.support.models import OPEN_STATUSES, EnterpriseRequest, Milestone

    line = day - timedelta(days=escalation_days())
    owners = _owners_of(team_id)
    live = select(Project.id).where(Project.deleted_at.is_(None)).scalar_subquery()
    milestones = [Milestone.deleted_at.is_(None), Milestone.actual_date.is_(None), Milestone.planned_date <= line,
                  Milestone.project_id.in_(live)]
    requests = [EnterpriseRequest.deleted_at.is_(None), EnterpriseRequest.status.in_(OPEN_STATUSES),
                EnterpriseRequest.deadline <= line, EnterpriseRequest.project_id.in_(live)]
    if owners is not None:
        milestones.append(Milestone.owner_id.in_(owners))
        requests.append(EnterpriseRequest.owner_id.in_(owners))
    return and_(*milestones), and_(*requests)


def _board_items(day: date, team_id: int | None, days: int) -> tuple[int, list[dict]]:
    from crm.support.models import CATEGORY_BY_KEY, MILESTONE_BY_KEY, EnterpriseRequest, Milestone

    milestone_where, request_where = _escalated_board(day, team_id)
    count = db.session.scalar(select(func.count()).select_from(Milestone).where(milestone_where)) + \
        db.session.scalar(select(func.count()).select_from(EnterpriseRequest).where(request_where))
    items = []
    for kind, planned, project_id, name, owner in db.session.execute(
            select(Milestone.kind, Milestone.planned_date, Project.id, Project.name, User.name)
            .join(Project, Project.id == Milestone.project_id).outerjoin(User, User.id == Milestone.owner_id)
            .where(milestone_where).order_by(Milestone.planned_date.desc(), Milestone.id).limit(DIGEST_LIST)):
        items.append({"title": str(MILESTONE_BY_KEY[kind].label) if kind in MILESTONE_BY_KEY else kind,
                      "project": _clean(name), "owner": _clean(owner), "due": format_date(planned, "medium"),
                      "days": (day - planned).days, "new": (day - planned).days == days,
                      "url": absolute_url("projects.show", project_id=project_id) + "#support"})
    for request_id, category, deadline, name, owner in db.session.execute(
            select(EnterpriseRequest.id, EnterpriseRequest.category, EnterpriseRequest.deadline, Project.name,
                   User.name)
            .join(Project, Project.id == EnterpriseRequest.project_id)
            .outerjoin(User, User.id == EnterpriseRequest.owner_id)
            .where(request_where).order_by(EnterpriseRequest.deadline.desc(), EnterpriseRequest.id)
            .limit(DIGEST_LIST)):
        items.append({"title": str(CATEGORY_BY_KEY[category].label) if category in CATEGORY_BY_KEY else category,
                      "project": _clean(name), "owner": _clean(owner), "due": format_date(deadline, "medium"),
                      "days": (day - deadline).days, "new": (day - deadline).days == days,
                      "url": absolute_url("support.show_request", request_id=request_id)})
    return count, items


def compose_escalation(notification: Notification, recipient: User, at: datetime) -> dict:
    """The follow-ups, milestones and enterprise requests overdue by the setting's days (as of the e-mail's day)
    that the manager oversees, the ones that crossed the line most recently first; NotDue when they were all done
    or re-dated meanwhile."""
    from crm.meetings.rows import Links

    day, days = date.fromisoformat(notification.period), escalation_days()
    where = _escalated(day, recipient.team_id)
    count = db.session.scalar(select(func.count()).select_from(Task).where(where))
    board_count, board = _board_items(day, recipient.team_id, days)
    if not count and not board_count:
        raise NotDue("nothing_due")
    tasks = list(db.session.scalars(select(Task).where(where).order_by(Task.due_on.desc(), Task.id.desc())
                                    .limit(DIGEST_LIST)))
    owners = dict(db.session.execute(select(User.id, User.name).where(User.id.in_({t.owner_id for t in tasks}))).all())
    links = Links.of(recipient, tasks)
    items = [{"title": _clean(t.title), "owner": _clean(owners.get(t.owner_id)), "due": format_date(t.due_on, "medium"),
              "days": (day - t.due_on).days, "new": (day - t.due_on).days == days,
              "company": _clean(links.company_name(t)),
              "url": absolute_url("meetings.tasks", owner_id=t.owner_id)} for t in tasks]
    return {"subject": _("Overdue by %(days)s days or more: %(count)s follow-ups, %(board)s milestones and requests",
                         count=count, days=days, board=board_count),
            "count": count, "days": days, "items": items, "day": format_date(day, "full"),
            "board_count": board_count, "board": board}


@register("escalation", label=_l("Overdue follow-ups of my team (managers)"), compose=compose_escalation)
def find_escalations(now: datetime) -> Iterator[Due]:
    """Each manager whose digest time has come today and who oversees a follow-up, milestone or request overdue by
    `escalation_days`: one e-mail a day (the period is the zone day)."""
    from .kinds import default_digest_time
    from .models import NotificationPreference

    day, clock = _local(now)
    chosen = dict(db.session.execute(select(NotificationPreference.user_id, NotificationPreference.digest_time)).all())
    default = default_digest_time()
    for user_id, team_id in _managers():
        if (chosen.get(user_id) or default) > clock:
            continue
        from crm.support.models import EnterpriseRequest, Milestone

        milestones, requests = _escalated_board(day, team_id)
        if any(db.session.scalar(select(column).where(where).limit(1)) is not None for column, where in (
                (Task.id, _escalated(day, team_id)), (Milestone.id, milestones), (EnterpriseRequest.id, requests))):
            yield Due(user_id, "user", user_id, day.isoformat())


# --- stale leads (线索久未跟进) ---------------------------------------------------------------------------------

def compose_stale(notification: Notification, recipient: User, at: datetime) -> dict:
    from crm.projects.queries import shown_name, visible_company_ids
    from crm.projects.services import stale_days
    from crm.projects.stages import BY_KEY

    project = db.session.get(Project, notification.object_id)
    if project is None or project.deleted_at is not None or project.stage not in LEAD_STAGES:
        raise NotDue("moved_on")
    if project.owner_id != recipient.id:
        raise NotDue("owner_changed")
    if _stamp(project.last_activity_at) != notification.period:
        raise NotDue("touched")  # worked on since the sweep: this episode is over
    idle = (to_zone(at).date() - to_zone(project.last_activity_at).date()).days
    return {"subject": _("No activity for %(days)s days: %(name)s", days=idle, name=_clean(project.name)),
            "name": _clean(project.name),
            "company": _clean(shown_name(project, visible_company_ids(recipient, [project]))),
            "stage": str(BY_KEY[project.stage].label), "days": idle, "stale_days": stale_days(),
            "last": format_date(to_zone(project.last_activity_at).date(), "medium"),
            "url": absolute_url("projects.show", project_id=project.id)}


@register("stale", label=_l("Leads with no activity"), compose=compose_stale)
def find_stale(now: datetime) -> Iterator[Due]:
    """On the weekly round, every lead (before signing) idle for `stale_days`, to its officer. The period is the
    time of its last activity: one nudge per staleness episode, however many rounds pass (RM-14); any activity
    starts a new one."""
    if not weekly_round_open(now):
        return
    from crm.projects.services import stale_days

    rows = db.session.execute(select(Project.id, Project.owner_id, Project.last_activity_at).where(
        Project.deleted_at.is_(None), Project.stage.in_(LEAD_STAGES),
        Project.last_activity_at < _utc(now - timedelta(days=stale_days()))).order_by(Project.id))
    for project_id, owner_id, last in rows:
        yield Due(owner_id, "project", project_id, _stamp(last))


# --- returns to the public pool (退回公海) ----------------------------------------------------------------------

def _releases(since: datetime, until: datetime | None = None):
    """The automatic releases (no actor) in the window: (audit time, company id, former owner id, company name)."""
    from crm.companies.services import EXPIRED_RELEASE

    where = [AuditEvent.action == "release", AuditEvent.actor_id.is_(None), AuditEvent.object_type == "company",
             AuditEvent.at >= _utc(since)]
    if until is not None:
        where.append(AuditEvent.at < _utc(until))
    for at, company_id, changes, label in db.session.execute(
            select(AuditEvent.at, AuditEvent.object_id, AuditEvent.changes, AuditEvent.label).where(*where)
            .order_by(AuditEvent.at, AuditEvent.id)):
        changes = changes or {}
        if changes.get("reason", [None, None])[1] == EXPIRED_RELEASE and changes.get("owner_id"):
            yield as_aware(at), company_id, changes["owner_id"][0], label


def _zone_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone())
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def compose_pool(notification: Notification, recipient: User, at: datetime) -> dict:
    """The companies returned to the pool from the recipient on the period's day; those the recipient took back
    meanwhile are left out (NotDue when that is all of them)."""
    from crm.companies.models import Company

    day = date.fromisoformat(notification.period)
    released = [(cid, name) for _at, cid, owner, name in _releases(*_zone_day_bounds(day)) if owner == recipient.id]
    held_again = set(db.session.scalars(select(Company.id).where(
        Company.id.in_([cid for cid, _n in released]), Company.owner_id == recipient.id)))
    items = [{"name": _clean(name), "url": absolute_url("companies.show", company_id=cid)}
             for cid, name in released if cid not in held_again]
    if not items:
        raise NotDue("taken_back")
    from crm.companies.services import protection_period

    return {"subject": _("Companies returned to the public pool: %(count)s", count=len(items)),
            "items": items, "day": format_date(day, "full"), "days": protection_period().days,
            "pool_url": absolute_url("companies.index", pool="public")}


@register("pool", label=_l("Companies returned to the public pool"), compose=compose_pool)
def find_pool_notes(now: datetime) -> Iterator[Due]:
    """One note per former holder per zone day with automatic releases, over the last week (catch-up)."""
    seen: set[tuple[int, str]] = set()
    for at, _cid, owner_id, _name in _releases(now - POOL_LOOKBACK, now):
        key = (owner_id, to_zone(at).date().isoformat())
        if key not in seen:
            seen.add(key)
            yield Due(owner_id, "user", owner_id, key[1])


# --- the weekly pipeline summary (周报摘要) ---------------------------------------------------------------------

def week_key(day: date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def compose_weekly(notification: Notification, recipient: User, at: datetime) -> dict:
    """The week before the period's week (Monday to Sunday, zone days): new leads, stage moves by stage, the
    projects signed, and the follow-ups overdue now, per officer; within what the manager may see."""
    from crm.auth import access
    from crm.projects.queries import shown_name, visible_company_ids
    from crm.projects.stages import BY_KEY, KEYS

    year, week = notification.period.split("-W")
    monday = date.fromisocalendar(int(year), int(week), 1)
    first, last = monday - timedelta(days=7), monday - timedelta(days=1)
    start, end = _zone_day_bounds(first)[0], _zone_day_bounds(monday)[0]
    seen = access.project_scope(recipient)
    new_count = db.session.scalar(select(func.count()).select_from(Project).where(
        seen, Project.deleted_at.is_(None), Project.created_at >= start, Project.created_at < end))
    moves = Counter(dict(db.session.execute(
        select(StageMove.to_stage, func.count()).join(Project, Project.id == StageMove.project_id)
        .where(seen, Project.deleted_at.is_(None), StageMove.from_stage.is_not(None), StageMove.at >= start,
               StageMove.at < end).group_by(StageMove.to_stage)).all()))
    signed = list(db.session.scalars(
        select(Project).join(StageMove, StageMove.project_id == Project.id)
        .where(seen, Project.deleted_at.is_(None), StageMove.to_stage == "signed", StageMove.at >= start,
               StageMove.at < end).order_by(StageMove.at).limit(DIGEST_LIST)))
    company_ids = visible_company_ids(recipient, signed)
    today = to_zone(at).date()
    overdue_where = and_(Task.done_at.is_(None), Task.deleted_at.is_(None), Task.due_on < today,
                         access.task_scope(recipient))
    overdue_total = db.session.scalar(select(func.count()).select_from(Task).where(overdue_where))
    overdue = db.session.execute(
        select(User.name, func.count()).join(Task, Task.owner_id == User.id).where(overdue_where)
        .group_by(User.id, User.name).order_by(func.count().desc(), User.name).limit(10)).all()
    return {
        "subject": _("Pipeline summary, week of %(day)s", day=format_date(first, "medium")),
        "first": format_date(first, "medium"), "last": format_date(last, "medium"),
        "new_count": new_count,
        "moves": [{"stage": str(BY_KEY[k].label), "count": moves[k]} for k in KEYS if moves.get(k)],
        "moves_total": sum(moves.values()),
        "signed": [{"name": _clean(p.name), "company": _clean(shown_name(p, company_ids)),
                    "investment": p.planned_investment, "url": absolute_url("projects.show", project_id=p.id)}
                   for p in signed],
        "overdue_total": overdue_total, "overdue": [{"name": _clean(n), "count": c} for n, c in overdue],
        "board_url": absolute_url("projects.board"),
    }


@register("weekly", label=_l("Weekly pipeline summary (managers)"), compose=compose_weekly)
def find_weekly(now: datetime) -> Iterator[Due]:
    """Every active manager, once per ISO week, on the weekly round."""
    if not weekly_round_open(now):
        return
    period = week_key(_local(now)[0])
    for user_id, _team in _managers():
        yield Due(user_id, "user", user_id, period)

