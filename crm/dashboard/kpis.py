"""The KPIs managers read (DESIGN.md "KPIs managers read"), each figure with the list that reproduces its records.

Public API (the page, GET /api/v1/dashboard/pipeline and the reports build on these; nothing here reads the request):

- periods: `Period`, `period_for(kind, day)`, `custom_period(start, end)`, `period_from_args(args)`; a period is
  whole days of the zone's calendar (Asia/Shanghai by default), `previous()` the one before it for comparison;
- `pipeline(viewer, period)` → `Pipeline`, every figure below; the parts alone: `funnel`, `breakdown`, `changes`,
  `rates`, `target_progress`, `officer_load`;
- `to_json(pipeline)`: the API's shape (plain numbers, ISO dates, each figure's drill-down list and arguments).

The page and the API read the figures through crm.dashboard.snapshots (a snapshot at most 15 minutes old, refreshed
by the worker for the managers): computed here, a year's figures take 0.5–2 s at the sizes of DESIGN.md.

Definitions (a period is [first day 00:00, day after the last 00:00) zone time):

- funnel: live projects per current stage, count and planned investment (计划投资, 万元), now (not per period).
- breakdowns by cluster, park, origin city (the company's), officer (the owner), team (the owner's), source and
  event: the pipeline now (every stage but lost) count and planned investment, and the projects signed in the period.
- signed in the period: the project's signing day (`signed_on`: the day it first reached signed, or the first later
  stage it reached when it skipped signed) falls in the period AND it is signed or further along now (signed, under
  construction, in production, full capacity). A signing that fell back (moved back to negotiating), was put on hold
  or was lost no longer counts: a manager reports contracts that still stand.
- new leads: projects created in the period (whatever stage they were created at); meetings: meetings that started
  in the period; stage moves: recorded moves dated in the period (a project's creation is not a move), with how many
  went backwards; each against the previous period.
- conversion lead → signed: of the projects created in the period, the share signed or further along now.
- 开工率: of the projects signed in the period, the share under construction or further; 投产率: in production or
  further.
- 资金到位率: funds in place (到位资金, all entries to date) ÷ planned investment, over the projects signed in the
  period that have a planned investment.
- 履约率: of the support-board milestones planned in the period and already due (planned day up to today), the share
  done on or before the planned day. Milestones of lost projects count too: a promise missed is missed.
- targets: signed investment (planned investment of projects signed) from 1 January of the period's last year up to
  the period's end, per cluster and per team, against the admins' annual target (AnnualTarget).
- stale projects per officer: the list's "stale" (no activity for the `stale_days` setting, not full capacity or
  lost); overdue tasks per officer: open tasks past their due time now.

An empty denominator gives None (the page shows "—"), never a division by zero.

Confidential projects (issue 7 point 4): every figure is counted over `access.project_scope(viewer)` (milestones over
`milestone_scope`, meetings `meeting_scope`, tasks `task_scope`), the same scope as the lists the figures drill into,
so each number is reproduced by its list. (Stage moves, milestones and an officer's meetings are counted with the
scope written as "not among the few projects / companies the viewer may not see", `_hidden_projects`: the same
rows, tests/dashboard/test_origin_city_and_scope.py.) A manager's totals include every confidential project; an
officer's include their own team's confidential projects and leave out other teams' (neither counted nor summed: a
count alone would reveal that a secret project exists in a cluster or park). The page and the API say which
(`Pipeline.scope`: "all" or "visible"). Overdue tasks per officer list, for an officer, their own team (the task
list they can open).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from flask import g, url_for
from flask_babel import gettext as _
from sqlalchemy import and_, case, func, null, or_, select, true, union_all

from crm.auth import access
from crm.auth.models import Role, Team, User
from crm.companies.models import Company
from crm.core.timeutil import today_in_zone, zone
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingUser, Task
from crm.projects import queries as pq
from crm.projects import stages
from crm.projects.models import Project, StageMove
from crm.projects.services import stale_days
from crm.reference import services as reference
from crm.support.access import milestone_scope
from crm.support.models import Milestone

from .models import AnnualTarget

#: the period picker's choices, in its order
PERIOD_KINDS = ("week", "month", "quarter", "year", "custom")
DEFAULT_PERIOD = "month"
#: a custom period is at most this long (a longer one is cut at its start + this)
MAX_CUSTOM_DAYS = 3660
#: the breakdowns, in the page's order
DIMENSIONS = ("cluster", "park", "origin_city", "officer", "team", "source", "event")
#: the rates, in the page's order
RATES = ("conversion", "construction", "production", "funds", "milestones")
#: the flows compared with the previous period
CHANGES = ("new_leads", "meetings", "stage_moves", "signed")

# the stage groups the project list understands (crm.projects.queries.STAGE_GROUPS): a figure's drill-down names them
PIPELINE = "pipeline"  # every stage but lost
SIGNED_GROUP = "signed_or_later"
STARTED_GROUP = "started"  # under construction or further
PRODUCING_GROUP = "producing"  # in production or further


# --- periods ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Whole days [start, end] of the zone's calendar."""
    kind: str
    start: date
    #: the last day, included
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def starts_at(self) -> datetime:
        """The first moment, in UTC (00:00 zone time on the first day)."""
        return _midnight(self.start)

    def ends_before(self) -> datetime:
        """The first moment after the period, in UTC (00:00 zone time on the day after the last)."""
        return _midnight(self.end + timedelta(days=1))

    def previous(self) -> Period:
        """The period before: the previous week, month, quarter or year; a custom period's same length before."""
        if self.kind == "custom":
            return Period("custom", self.start - timedelta(days=self.days), self.start - timedelta(days=1))
        return period_for(self.kind, self.start - timedelta(days=1))

    def args(self) -> dict[str, str]:
        """The query arguments that give this period back through `period_from_args`."""
        if self.kind == "custom":
            return {"period": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"period": self.kind, "day": self.start.isoformat()}

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


def period_for(kind: str, day: date) -> Period:
    """The week (Monday to Sunday), month, quarter or year holding `day`."""
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period("week", start, start + timedelta(days=6))
    if kind == "month":
        return Period("month", day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1]))
    if kind == "quarter":
        first = 3 * ((day.month - 1) // 3) + 1
        last = first + 2
        return Period("quarter", date(day.year, first, 1),
                      date(day.year, last, calendar.monthrange(day.year, last)[1]))
    if kind == "year":
        return Period("year", date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"unknown period kind {kind!r}")


def custom_period(start: date, end: date) -> Period:
    """Days `start` to `end` (swapped when given the wrong way round; at most MAX_CUSTOM_DAYS)."""
    if end < start:
        start, end = end, start
    end = min(end, start + timedelta(days=MAX_CUSTOM_DAYS - 1))
    return Period("custom", start, end)


def _day_arg(value) -> date | None:
    try:
        return date.fromisoformat(str(value or "").strip()[:10])
    except ValueError:
        return None


def period_from_args(args, *, today: date | None = None) -> Period:
    """`period=week|month|quarter|year` (the one holding `day=YYYY-MM-DD`, today by default) or
    `period=custom&start=…&end=…`; anything unreadable falls back to this month."""
    today = today or today_in_zone()
    kind = args.get("period") or DEFAULT_PERIOD
    if kind == "custom":
        start, end = _day_arg(args.get("start")), _day_arg(args.get("end"))
        if start and end:
            return custom_period(start, end)
        kind = DEFAULT_PERIOD
    if kind not in PERIOD_KINDS:
        kind = DEFAULT_PERIOD
    return period_for(kind, _day_arg(args.get("day")) or today)


def period_problems(args) -> dict[str, list[str]]:
    """Per-argument messages for period arguments `period_from_args` would not understand (the API answers 422
    rather than falling back to this month)."""
    problems: dict[str, list[str]] = {}
    kind = args.get("period")
    if kind is not None and kind not in PERIOD_KINDS:
        problems["period"] = [f"Choose one of: {', '.join(PERIOD_KINDS)}."]
    names = ("start", "end") if kind == "custom" else ("day",)
    for name in names:
        raw = args.get(name)
        if (raw is None and kind == "custom") or (raw is not None and _day_arg(raw) is None):
            problems[name] = ["Send a date as YYYY-MM-DD."]
    return problems


# --- figures ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drill:
    """Where a figure's records are: a list ("projects", "tasks" or "meetings") and the query arguments that filter
    it to exactly them (as the viewer may see them)."""
    list: str
    args: dict[str, str]

    #: the list (Flask endpoint) of each: the API's for meetings (the JSON's drill-downs); a page links the meetings
    #: list page instead (`PAGE_ENDPOINTS`), with the same arguments
    ENDPOINTS = {"projects": "projects.index", "tasks": "meetings.tasks", "meetings": "api.list_meetings"}
    PAGE_ENDPOINTS = {**ENDPOINTS, "meetings": "meetings.index"}

    @property
    def endpoint(self) -> str:
        return self.ENDPOINTS[self.list]

    def url(self) -> str:
        """The list's URL (needs a request context)."""
        return self._url(self.endpoint)

    def page_url(self) -> str:
        """The URL a page links the figure to: the list page (for meetings the meetings list over the period)."""
        return self._url(self.PAGE_ENDPOINTS[self.list])

    def _url(self, endpoint: str) -> str:
        """The list's path is built once per request and the arguments appended: a page links a few hundred figures,
        and a `url_for` each was a fifth of its time."""
        bases = g.setdefault("_drill_bases", {})
        if endpoint not in bases:
            bases[endpoint] = url_for(endpoint)
        return f"{bases[endpoint]}?{urlencode(self.args)}" if self.args else bases[endpoint]


@dataclass(frozen=True)
class Cell:
    """One number on the page: a count or an amount (万元), and its records."""
    value: int | Decimal
    drill: Drill | None = None


@dataclass(frozen=True)
class Rate:
    """A ratio; None when the denominator is zero (the page shows "—")."""
    key: str
    numerator: int | Decimal
    denominator: int | Decimal
    #: the denominator's records (clicking the rate opens them)
    drill: Drill | None = None
    #: the numerator's records, where a list can show them
    numerator_drill: Drill | None = None

    @property
    def value(self) -> Decimal | None:
        if not self.denominator:
            return None
        return Decimal(self.numerator) / Decimal(self.denominator)

    @property
    def percent(self) -> float | None:
        """The rate in per cent, one decimal."""
        return None if self.value is None else round(float(self.value) * 100, 1)


@dataclass(frozen=True)
class Change:
    """A flow in the period against the previous period."""
    key: str
    current: Cell
    previous: Cell

    @property
    def delta(self) -> int:
        return int(self.current.value) - int(self.previous.value)

    @property
    def percent(self) -> float | None:
        """The change in per cent of the previous period; None when the previous period had none."""
        if not self.previous.value:
            return None
        return round(self.delta * 100 / float(self.previous.value), 1)


@dataclass(frozen=True)
class Row:
    """One bar of the funnel or of a breakdown. `key` is the stage, cluster, park, city, source key, the officer's,
    team's or event's id; None for "not set" (no cluster, park undecided, no team...)."""
    key: str | int | None
    label: str
    projects: Cell
    #: planned investment, 万元 (the same records as `projects`)
    investment: Cell
    #: breakdowns only: signed in the period, count and planned investment
    signed: Cell | None = None
    signed_investment: Cell | None = None


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    rows: list[Row]


@dataclass(frozen=True)
class TargetRow:
    """Signed investment against the annual target of a cluster or a team."""
    kind: str  # "cluster" or "team"
    key: str | int | None
    label: str
    #: 万元; None when no target is set
    target: Decimal | None
    #: signed investment from 1 January to the period's end, 万元
    signed: Cell
    #: signed ÷ target (None without a target)
    completion: Rate


@dataclass(frozen=True)
class OfficerRow:
    user_id: int
    name: str
    team: str
    stale: Cell
    #: None where the viewer may not open the officer's task list (an officer looking at another team)
    overdue_tasks: Cell | None


@dataclass
class Pipeline:
    period: Period
    previous: Period
    #: "all" (a manager: confidential projects included) or "visible" (an officer: other teams' confidential ones left
    #: out)
    scope: str
    funnel: list[Row]
    breakdowns: dict[str, Breakdown]
    changes: dict[str, Change]
    #: of the period's stage moves, how many went back along the main path
    backward_moves: int
    rates: dict[str, Rate]
    #: the year the targets are for (the period's last day's)
    target_year: int
    targets: list[TargetRow]
    officers: list[OfficerRow]
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def pipeline(viewer, period: Period, *, now: datetime | None = None) -> Pipeline:
    """Every figure of the dashboard for `viewer` over `period`. Each statement reads the rows it counts through an
    index where one fits, and is at most 1.5× a bare GROUP BY over its table (bench/README.md, issue 7): per
    breakdown one over the pipeline (the officer's with the stale count) and one over the period's signings (the
    cluster's and the team's with the year's, for the targets); the period's creations and its signings (the totals
    and rates); meetings; stage moves (three); milestones; overdue tasks."""
    now = now or datetime.now(UTC)
    today = now.astimezone(zone()).date()
    stale_before = now - timedelta(days=stale_days())
    raw = {d: _breakdown_rows(viewer, d, period, ytd=d in ("cluster", "team"),
                              stale_before=stale_before if d == "officer" else None) for d in DIMENSIONS}
    totals, moves = _totals(viewer, period), _moves(viewer, period)
    return Pipeline(
        period=period, previous=period.previous(), scope="all" if access.is_manager(viewer) else "visible",
        funnel=funnel(viewer), breakdowns={d: _breakdown(d, period, raw[d]) for d in DIMENSIONS},
        changes=_changes(viewer, period, totals, moves), backward_moves=moves[2],
        rates=_rates(viewer, period, totals, today), target_year=period.end.year,
        targets=_targets(period, raw["cluster"], raw["team"]),
        officers=_officers(viewer, now, {r[0]: r[-1] for r in raw["officer"]}), computed_at=now)


# --- the pieces ------------------------------------------------------------------------------------------------------

def _money(value) -> Decimal:
    return Decimal(value or 0)


def _signed_in(period_start: date, period_end: date):
    """Signed in the days [start, end] and still signed or further along (the module's definition)."""
    day = pq.signed_on()
    return and_(day >= period_start, day <= period_end, Project.stage.in_(pq.STAGE_GROUPS[SIGNED_GROUP]))


def _signed_args(start: date, end: date, group: str = SIGNED_GROUP) -> dict[str, str]:
    return {"stage": group, "signed_from": start.isoformat(), "signed_to": end.isoformat()}


def _projects(args: dict) -> Drill:
    return Drill("projects", {k: str(v) for k, v in args.items()})


def _when(condition, value=1):
    """SUM(CASE WHEN condition THEN value ELSE 0 END): a conditional count or sum, 0 over no rows."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _hidden_projects(viewer):
    """The ids of the projects `viewer` may not see: those outside `access.project_scope`, looked for among the
    deleted and the confidential ones only (every other project is visible to staff), each through its partial index
    (`ix_project_deleted`, `ix_project_confidential`): a few hundred ids where the scope lists nearly every project."""
    # a deleted project is hidden from everyone (the scope of every role is of live projects)
    return union_all(select(Project.id).where(Project.deleted_at.is_not(None)),
                     select(Project.id).where(Project.confidential == true(), ~access.project_scope(viewer)))


def _of_visible_project(viewer, project_column):
    """`project_column IN (projects the viewer may see)` written as NOT IN the few they may not
    (`_hidden_projects`), for staff; the scope as is for anyone else. Same rows: the column is a project's id."""
    if viewer.role not in access.STAFF_ROLES:
        return project_column.in_(select(Project.id).where(access.project_scope(viewer)))
    return project_column.not_in(_hidden_projects(viewer))


def _meeting_scope(viewer):
    """`access.meeting_scope(viewer)`, for an officer with the checks of the meeting's company and project written
    as NOT IN the companies and projects they may not see (a fifth of the companies, a few projects) rather than IN
    those they may: the same meetings, counted in one pass over the period's meetings instead of an index probe
    per visible company (SQLite) or a hash of every visible project (PostgreSQL), 4.3× the bare GROUP BY
    (bench/README.md, issue 7)."""
    if viewer.role != Role.OFFICER.value:
        return access.meeting_scope(viewer)
    mine = [Meeting.owner_id == viewer.id]
    if viewer.team_id is not None:
        mine.append(Meeting.owner_id.in_(select(User.id).where(User.team_id == viewer.team_id)))
    took_part = Meeting.id.in_(select(MeetingUser.meeting_id).where(MeetingUser.user_id == viewer.id))
    company_ok = Meeting.company_id.not_in(select(Company.id).where(~access.company_scope(viewer)))
    project_ok = or_(Meeting.project_id.is_(None), Meeting.project_id.not_in(_hidden_projects(viewer)))
    # the test most meetings pass first: the OR stops at the first true one
    return and_(Meeting.deleted_at.is_(None), or_(and_(company_ok, project_ok), *mine, took_part))


def _group_key(column):
    """A column to GROUP BY as an expression: SQLite otherwise walks the column's index (ix_project_cluster...) and
    fetches each row from the table in the index's order, two to three times slower than reading the table through
    and sorting the groups (bench/README.md, issue 7). PostgreSQL hashes the groups either way."""
    return func.coalesce(column, null())


def funnel(viewer) -> list[Row]:
    """Live projects per stage now: count and planned investment, every stage in order."""
    found = {stage: (n, total) for stage, n, total in db.session.execute(
        select(Project.stage, func.count(), func.coalesce(func.sum(Project.planned_investment), 0))
        .where(access.project_scope(viewer)).group_by(Project.stage))}
    rows = []
    for stage in stages.STAGES:
        n, total = found.get(stage.key, (0, 0))
        drill = _projects({"stage": stage.key})
        rows.append(Row(stage.key, str(stage.label), Cell(n, drill), Cell(_money(total), drill)))
    return rows


#: a breakdown's filter in the project list
_DIMENSION_ARG = {"cluster": "cluster", "park": "park", "origin_city": "origin_city", "officer": "owner_id",
                  "team": "team_id", "source": "source", "event": "event_id"}


def _dimension_column(dimension: str):
    """The column a breakdown groups by: the team's is the owner's (folded into teams by `_by_team`), the origin
    city the project's copy of its company's (`Project.origin_city`): a join would cost more than the breakdown."""
    return {"cluster": Project.cluster, "park": Project.park, "origin_city": Project.origin_city,
            "officer": Project.owner_id, "team": Project.owner_id, "source": Project.source,
            "event": Project.event_id}[dimension]


def _by_team(rows: list[tuple]) -> list[tuple]:
    """Rows grouped by owner → the same rows summed per owner's team (None: no team). Grouping the projects by their
    owner and adding up here reads `project` alone; a join to `user` made the team's breakdown the slowest."""
    owners = [r[0] for r in rows]
    team_of = dict(db.session.execute(select(User.id, User.team_id).where(User.id.in_(owners))).all()) \
        if owners else {}
    sums: dict = {}
    for owner, *values in rows:
        team = team_of.get(owner)
        sums[team] = [a + b for a, b in zip(sums[team], values, strict=True)] if team in sums else list(values)
    return [(team, *values) for team, values in sums.items()]


def dimension_labels(dimension: str, keys) -> dict:
    """key → the name a breakdown's row shows (None: "not set" in the dimension's words)."""
    keys = [k for k in keys if k is not None]
    none = {"cluster": _("No cluster"), "park": _("Park undecided"), "origin_city": _("Origin city not set"),
            "team": _("No team"), "source": _("Source not set"), "event": _("No event"),
            "officer": _("No owner")}[dimension]
    if dimension in ("cluster", "park", "origin_city", "source"):
        names = reference.names({"origin_city": "city"}.get(dimension, dimension))
        out = {k: names.get(k, k) for k in keys}
    elif dimension == "officer":
        out = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(keys))).all()) if keys else {}
    elif dimension == "team":
        out = dict(db.session.execute(select(Team.id, Team.name).where(Team.id.in_(keys))).all()) if keys else {}
    else:
        out = {k: _("Event #%(id)s", id=k) for k in keys}
    return {None: none, **out}


def _breakdown_rows(viewer, dimension: str, period: Period | None, *, ytd: bool = False,
                    stale_before: datetime | None = None) -> list[tuple]:
    """(key, projects, planned investment, signed in the period, their investment[, signed investment from 1 January
    to the period's end][, stale projects]) of the pipeline now (every stage but lost). Two statements: the pipeline
    (with the stale count) over the whole table, and the signings over the days they fell on, read through the
    index of signing days (`ix_project_signed_on`): one statement with the signing sums read every project's
    signing day several times over, 1.3-1.6× the bare GROUP BY (bench/README.md, issue 7)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    key = _group_key(_dimension_column(dimension))
    columns = [key, func.count(), func.coalesce(func.sum(Project.planned_investment), 0)]
    if stale_before is not None:
        columns.append(_when(and_(Project.last_activity_at < stale_before, Project.stage != "full_capacity")))
    found = db.session.execute(select(*columns).where(access.project_scope(viewer), Project.stage != "lost")
                               .group_by(key)).all()
    if period is None:
        rows = [tuple(r) for r in found]
    else:
        planned = func.coalesce(Project.planned_investment, 0)
        jan1 = date(period.end.year, 1, 1)
        in_period = pq.signed_on() >= period.start
        sums = [_when(in_period), _when(in_period, planned)]
        if ytd:  # from 1 January of the period's last year (a week or a custom period may start the year before)
            sums.append(_when(pq.signed_on() >= jan1, planned))
        signed = {r[0]: tuple(r[1:]) for r in db.session.execute(
            select(key, *sums).where(access.project_scope(viewer),
                                     _signed_in(min(period.start, jan1) if ytd else period.start, period.end))
            .group_by(key))}
        none = (0, Decimal(0), Decimal(0))[:len(sums)]
        rows = [(k, n, total, *signed.get(k, none), *stale) for k, n, total, *stale in found]
    return _by_team(rows) if dimension == "team" else rows


def _breakdown(dimension: str, period: Period, found: list[tuple]) -> Breakdown:
    labels = dimension_labels(dimension, [r[0] for r in found])
    arg = _DIMENSION_ARG[dimension]
    rows = []
    for key, n, total, n_signed, signed_total, *_extra in found:
        base = {arg: "none" if key is None else str(key)}
        drill = _projects({**base, "stage": PIPELINE})
        signed_drill = _projects({**base, **_signed_args(period.start, period.end)})
        rows.append(Row(key, str(labels.get(key, key)), Cell(n, drill), Cell(_money(total), drill),
                        Cell(int(n_signed), signed_drill), Cell(_money(signed_total), signed_drill)))
    rows.sort(key=lambda r: (r.key is None, -r.investment.value, -r.projects.value, r.label))
    return Breakdown(dimension, rows)


def breakdown(viewer, dimension: str, period: Period) -> Breakdown:
    """The pipeline now (every stage but lost) and the projects signed in `period`, by one of DIMENSIONS. Rows with
    the most planned investment first; "not set" last."""
    return _breakdown(dimension, period, _breakdown_rows(viewer, dimension, period))


def _totals(viewer, period: Period) -> tuple:
    """The period's and the previous period's project counts: (created, created before, created and signed or later
    now, signed, signed before, of the signed: started, producing, their funds in place and planned investment where
    they have one). Two statements, each over the rows it counts through an index (creation days, `ix_project_created`;
    signing days, `ix_project_signed_on`): one statement over both read the whole table with nine conditional sums,
    1.7-2× the bare GROUP BY (bench/README.md, issue 7)."""
    before = period.previous()
    groups = pq.STAGE_GROUPS
    is_current = Project.created_at >= period.starts_at()
    created = db.session.execute(select(
        _when(is_current), _when(Project.created_at < period.starts_at()),
        _when(and_(is_current, Project.stage.in_(groups[SIGNED_GROUP])))).where(
        access.project_scope(viewer), Project.created_at >= before.starts_at(),
        Project.created_at < period.ends_before())).one()
    signed = pq.signed_on() >= period.start
    has_amount = and_(signed, Project.planned_investment > 0)
    signings = db.session.execute(select(
        _when(signed), _when(pq.signed_on() < period.start),
        _when(and_(signed, Project.stage.in_(groups[STARTED_GROUP]))),
        _when(and_(signed, Project.stage.in_(groups[PRODUCING_GROUP]))),
        _when(has_amount, func.coalesce(Project.funds_in_place, 0)),
        _when(has_amount, func.coalesce(Project.planned_investment, 0)),
    ).where(access.project_scope(viewer), _signed_in(before.start, period.end))).one()
    return (*created, *signings)


#: (from, to) of the moves back along the main path (e.g. signed → negotiating)
_BACKWARD = frozenset((a.key, b.key) for i, a in enumerate(m for m in stages.STAGES if m.main)
                      for b in [m for m in stages.STAGES if m.main][:i])


def _moves(viewer, period: Period) -> tuple[int, int, int]:
    """(stage moves in the period, in the previous period, of the period's those back along the main path).

    Counted over every move, from the index of moves by day (`ix_stage_move_at`, which holds the project and both
    stages): both periods' counts in one statement, this period's backward moves (a pair of stages of `_BACKWARD`,
    tested per stage moved to) in another; then the moves of the few projects the viewer may not see
    (`_hidden_projects`, through `ix_stage_move_project`) taken off. Checking each move's project against the
    viewer's scope, and working out the stage order of each move with a CASE per stage, was 2-2.8× the bare GROUP
    BY (bench/README.md, issue 7)."""
    before = period.previous()
    current = StageMove.at >= period.starts_at()
    later: dict[str, list[str]] = {}
    for from_stage, to_stage in sorted(_BACKWARD):
        later.setdefault(to_stage, []).append(from_stage)
    backward = or_(*(and_(StageMove.to_stage == to_stage, StageMove.from_stage.in_(froms))
                     for to_stage, froms in later.items()))
    both = and_(StageMove.at >= before.starts_at(), StageMove.at < period.ends_before(),
                StageMove.from_stage.is_not(None))
    now, previous = db.session.execute(select(_when(current), _when(StageMove.at < period.starts_at()))
                                       .where(both)).one()
    back = db.session.scalar(select(func.count()).where(current, StageMove.at < period.ends_before(), backward))
    if viewer.role in access.STAFF_ROLES:
        hidden = db.session.execute(select(_when(current), _when(~current), _when(and_(current, backward))).where(
            both, StageMove.project_id.in_(_hidden_projects(viewer)))).one()
    else:  # (no dashboard for them; every move of a project outside their scope)
        hidden = db.session.execute(select(_when(current), _when(~current), _when(and_(current, backward))).where(
            both, StageMove.project_id.not_in(select(Project.id).where(access.project_scope(viewer))))).one()
    return int(now) - int(hidden[0]), int(previous) - int(hidden[1]), int(back or 0) - int(hidden[2])


def _changes(viewer, period: Period, totals: tuple, moves: tuple) -> dict[str, Change]:
    before = period.previous()
    meetings = db.session.execute(select(_when(Meeting.start_at >= period.starts_at()),
                                         _when(Meeting.start_at < period.starts_at())).where(
        Meeting.start_at >= before.starts_at(), Meeting.start_at < period.ends_before(),
        _meeting_scope(viewer))).one()

    def created(p: Period) -> Drill:
        return _projects({"created_from": p.start.isoformat(), "created_to": p.end.isoformat()})

    def moved(p: Period) -> Drill:
        return _projects({"moved_from": p.start.isoformat(), "moved_to": p.end.isoformat()})

    def met(p: Period) -> Drill:
        return Drill("meetings", {"start_from": p.starts_at().isoformat(), "start_before": p.ends_before().isoformat()})

    def signed(p: Period) -> Drill:
        return _projects(_signed_args(p.start, p.end))

    return {
        "new_leads": Change("new_leads", Cell(int(totals[0]), created(period)), Cell(int(totals[1]), created(before))),
        "meetings": Change("meetings", Cell(int(meetings[0]), met(period)), Cell(int(meetings[1]), met(before))),
        "stage_moves": Change("stage_moves", Cell(moves[0], moved(period)), Cell(moves[1], moved(before))),
        "signed": Change("signed", Cell(int(totals[3]), signed(period)), Cell(int(totals[4]), signed(before))),
    }


def changes(viewer, period: Period) -> dict[str, Change]:
    """New leads, meetings, stage moves and signings in `period` against the previous period."""
    return _changes(viewer, period, _totals(viewer, period), _moves(viewer, period))


def backward_moves(viewer, period: Period) -> int:
    """How many of the period's stage moves went back along the main path (e.g. signed → negotiating)."""
    return _moves(viewer, period)[2]


def _rates(viewer, period: Period, totals: tuple, today: date) -> dict[str, Rate]:
    n_created, _before, n_converted, n_signed, _signed_before, n_started, n_producing, funds, contracted = totals
    due_to = min(period.end, today)
    due = met = 0
    if due_to >= period.start:
        on_time = and_(Milestone.actual_date.is_not(None), Milestone.actual_date <= Milestone.planned_date)
        scope = and_(Milestone.deleted_at.is_(None), _of_visible_project(viewer, Milestone.project_id)) \
            if viewer.role in access.STAFF_ROLES else milestone_scope(viewer)  # (milestone_scope for staff)
        due, met = db.session.execute(select(func.count(), _when(on_time)).where(
            scope, Milestone.planned_date >= period.start, Milestone.planned_date <= due_to)).one()

    created_args = {"created_from": period.start.isoformat(), "created_to": period.end.isoformat()}
    signed_drill = _projects(_signed_args(period.start, period.end))
    return {
        "conversion": Rate("conversion", int(n_converted), int(n_created), _projects(created_args),
                           _projects({**created_args, "stage": SIGNED_GROUP})),
        "construction": Rate("construction", int(n_started), int(n_signed), signed_drill,
                             _projects(_signed_args(period.start, period.end, STARTED_GROUP))),
        "production": Rate("production", int(n_producing), int(n_signed), signed_drill,
                           _projects(_signed_args(period.start, period.end, PRODUCING_GROUP))),
        "funds": Rate("funds", _money(funds), _money(contracted), signed_drill),
        "milestones": Rate("milestones", int(met or 0), int(due or 0),
                           _projects({"milestone_from": period.start.isoformat(), "milestone_to": due_to.isoformat()})
                           if due else None),
    }


def rates(viewer, period: Period, *, today: date | None = None) -> dict[str, Rate]:
    """Conversion lead → signed, 开工率, 投产率, 资金到位率 and 履约率 over `period` (keys: RATES)."""
    return _rates(viewer, period, _totals(viewer, period), today or today_in_zone())


def _targets(period: Period, cluster_rows: list[tuple], team_rows: list[tuple]) -> list[TargetRow]:
    year = period.end.year
    start = date(year, 1, 1)
    by_cluster = {r[0]: r[5] for r in cluster_rows}
    by_team = {r[0]: r[5] for r in team_rows}
    targets = list(db.session.scalars(select(AnnualTarget).where(AnnualTarget.year == year)))
    cluster_targets = {t.cluster: t.amount for t in targets if t.cluster is not None}
    team_targets = {t.team_id: t.amount for t in targets if t.team_id is not None}
    rows: list[TargetRow] = []

    def add(kind: str, key, label: str, arg: str) -> None:
        target = (cluster_targets if kind == "cluster" else team_targets).get(key)
        done = _money((by_cluster if kind == "cluster" else by_team).get(key))
        drill = _projects({arg: "none" if key is None else str(key), **_signed_args(start, period.end)})
        rows.append(TargetRow(kind, key, label, target, Cell(done, drill),
                              Rate("target", done, _money(target), drill)))

    names = reference.names("cluster")
    ordered = [item.key for item in reference.items("cluster", include_inactive=True)]
    for key in ordered + sorted(k for k in set(by_cluster) | set(cluster_targets) if k not in ordered and k):
        if key in cluster_targets or by_cluster.get(key):
            add("cluster", key, names.get(key, key), "cluster")
    if by_cluster.get(None):
        add("cluster", None, str(dimension_labels("cluster", [])[None]), "cluster")
    teams = list(db.session.execute(select(Team.id, Team.name).order_by(Team.name)))
    for team_id, name in teams:
        if team_id in team_targets or by_team.get(team_id):
            add("team", team_id, name, "team_id")
    if by_team.get(None):
        add("team", None, str(dimension_labels("team", [])[None]), "team_id")
    return rows


def target_progress(viewer, period: Period) -> list[TargetRow]:
    """Per cluster, then per team: signed investment from 1 January to the period's end against the year's target.
    A cluster or team shows when it has a target or signed something."""
    return _targets(period, _breakdown_rows(viewer, "cluster", period, ytd=True),
                    _breakdown_rows(viewer, "team", period, ytd=True))


def _officers(viewer, now: datetime, stale: dict) -> list[OfficerRow]:
    today = now.astimezone(zone()).date()
    late = or_(Task.due_on < today, and_(Task.due_at.is_not(None), Task.due_at <= now))
    tasks = select(Task.owner_id, func.count()).where(access.task_scope(viewer), Task.done_at.is_(None), late)
    if not access.is_manager(viewer):
        tasks = tasks.where(Task.owner_id.in_(select(User.id).where(User.team_id == viewer.team_id))
                            if viewer.team_id is not None else Task.owner_id == viewer.id)
    overdue = dict(db.session.execute(tasks.group_by(Task.owner_id)).all())
    stale = {k: int(v) for k, v in stale.items() if v}
    ids = set(stale) | set(overdue)
    if not ids:
        return []
    people = db.session.execute(select(User.id, User.name, User.team_id, Team.name)
                                .outerjoin(Team, Team.id == User.team_id).where(User.id.in_(ids))).all()
    manager = access.is_manager(viewer)
    rows = []
    for user_id, name, team_id, team in people:
        sees_tasks = manager or user_id == viewer.id or (viewer.team_id is not None and team_id == viewer.team_id)
        rows.append(OfficerRow(
            user_id, name, team or "", Cell(stale.get(user_id, 0), _projects({"owner_id": str(user_id), "stale": "1"})),
            Cell(overdue.get(user_id, 0), Drill("tasks", {"owner_id": str(user_id), "expand": "overdue"}))
            if sees_tasks else None))
    rows.sort(key=lambda r: (-(r.stale.value + (r.overdue_tasks.value if r.overdue_tasks else 0)), r.name))
    return rows


def officer_load(viewer, *, now: datetime | None = None) -> list[OfficerRow]:
    """Stale projects and overdue tasks per officer, the busiest first. An officer sees the overdue tasks of their
    own team only (the task lists they may open); stale projects of everyone whose projects they may see."""
    now = now or datetime.now(UTC)
    found = _breakdown_rows(viewer, "officer", None, stale_before=now - timedelta(days=stale_days()))
    return _officers(viewer, now, {r[0]: r[-1] for r in found})


# --- JSON ------------------------------------------------------------------------------------------------------------

def _number(value):
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal) else value


def drill_json(drill: Drill | None) -> dict | None:
    """{"list": ..., "params": {...}, "url": ...}: the list and the query arguments that give a figure's records."""
    if drill is None:
        return None
    return {"list": drill.list, "params": dict(drill.args), "url": drill.url()}


def _cell(cell: Cell | None) -> dict | None:
    return None if cell is None else {"value": _number(cell.value), "drill": drill_json(cell.drill)}


def rate_json(rate: Rate) -> dict:
    return {"value": None if rate.value is None else float(rate.value), "percent": rate.percent,
            "numerator": _number(rate.numerator), "denominator": _number(rate.denominator),
            "drill": drill_json(rate.drill), "numerator_drill": drill_json(rate.numerator_drill)}


def _row(row: Row) -> dict:
    out = {"key": row.key, "label": row.label, "count": row.projects.value,
           "planned_investment": _number(row.investment.value), "drill": drill_json(row.projects.drill)}
    if row.signed is not None:
        out.update({"signed": row.signed.value, "signed_investment": _number(row.signed_investment.value),
                    "signed_drill": drill_json(row.signed.drill)})
    return out


def _period(period: Period) -> dict:
    return {"kind": period.kind, "start": period.start.isoformat(), "end": period.end.isoformat(),
            "starts_at": period.starts_at().astimezone(zone()).isoformat(),
            "ends_before": period.ends_before().astimezone(zone()).isoformat()}


def to_json(result: Pipeline) -> dict:
    """The API's shape of a Pipeline (GET /api/v1/dashboard/pipeline): money in 万元 as numbers, rates as fractions
    (None where the denominator is zero) and per cent, each figure with its drill-down."""
    def target(row: TargetRow) -> dict:
        return {"key": row.key, "label": row.label, "target": _number(row.target),
                "signed_investment": _number(row.signed.value), "completion": rate_json(row.completion),
                "drill": drill_json(row.signed.drill)}

    return {
        "period": {**_period(result.period), "previous": _period(result.previous)},
        "scope": result.scope,
        "computed_at": result.computed_at.isoformat(),
        "funnel": [{"stage": r.key, **{k: v for k, v in _row(r).items() if k != "key"}} for r in result.funnel],
        "breakdowns": {d: [_row(r) for r in b.rows] for d, b in result.breakdowns.items()},
        "changes": {k: {"current": c.current.value, "previous": c.previous.value, "delta": c.delta,
                        "percent": c.percent, "drill": drill_json(c.current.drill),
                        "previous_drill": drill_json(c.previous.drill)} for k, c in result.changes.items()},
        "backward_moves": result.backward_moves,
        "rates": {k: rate_json(r) for k, r in result.rates.items()},
        "targets": {"year": result.target_year,
                    "clusters": [target(r) for r in result.targets if r.kind == "cluster"],
                    "teams": [target(r) for r in result.targets if r.kind == "team"]},
        "officers": [{"user_id": r.user_id, "name": r.name, "team": r.team, "stale": r.stale.value,
                      "stale_drill": drill_json(r.stale.drill),
                      "overdue_tasks": r.overdue_tasks.value if r.overdue_tasks else None,
                      "overdue_tasks_drill": drill_json(r.overdue_tasks.drill) if r.overdue_tasks else None}
                     for r in result.officers],
    }
