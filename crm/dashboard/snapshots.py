"""Snapshots of the dashboard's figures: at the sizes of DESIGN.md a year's figures read millions of meetings, tasks
and stage moves (0.5–2 s), so the page and the API show a snapshot at most MAX_AGE old, with its age, and the worker
refreshes the managers' current week, month, quarter and year every few minutes (`refresh`). A view that finds none
(an officer's first look, a custom period), or one too old, computes the figures and stores them; `fresh=True` always
does (the page's "Recompute now").

A snapshot holds numbers, keys and drill-down arguments, never labels: the names of stages, clusters, parks and
cities are the viewer's language's, looked up again when it is read. Its scope is "all" for managers and admins (who
see every project) and "user:<id>" for an officer: an officer's figures depend on their team and on the meetings
they took part in, so no two officers share one.
"""
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from crm.auth import access
from crm.auth.models import Role, Team, User
from crm.core.database import writing
from crm.core.timeutil import as_aware, today_in_zone
from crm.extensions import db
from crm.projects import stages
from crm.reference import services as reference

from . import kpis
from .models import DashboardSnapshot

#: how old a snapshot the page and the API show (the worker refreshes the managers' every REFRESH_EVERY)
MAX_AGE = timedelta(minutes=15)
REFRESH_EVERY = timedelta(minutes=10)
#: snapshots not refreshed for this long are deleted by `refresh` (periods gone by, officers who stopped looking)
KEEP = timedelta(days=2)
#: the periods the worker keeps fresh
CURRENT_KINDS = ("week", "month", "quarter", "year")


def scope_of(viewer: User) -> str:
    return "all" if access.is_manager(viewer) else f"user:{viewer.id}"


# --- to and from JSON ---------------------------------------------------------------------------------------------

def _value(value):
    return {"d": str(value)} if isinstance(value, Decimal) else value


def _unvalue(value):
    if isinstance(value, dict):
        return Decimal(value["d"])
    return value


def _drill(drill: kpis.Drill | None):
    return None if drill is None else [drill.list, drill.args]


def _undrill(raw) -> kpis.Drill | None:
    return None if raw is None else kpis.Drill(raw[0], dict(raw[1]))


def _cell(cell: kpis.Cell | None):
    return None if cell is None else [_value(cell.value), _drill(cell.drill)]


def _uncell(raw) -> kpis.Cell | None:
    return None if raw is None else kpis.Cell(_unvalue(raw[0]), _undrill(raw[1]))


def _rate(rate: kpis.Rate):
    return [rate.key, _value(rate.numerator), _value(rate.denominator), _drill(rate.drill),
            _drill(rate.numerator_drill)]


def _unrate(raw) -> kpis.Rate:
    return kpis.Rate(raw[0], _unvalue(raw[1]), _unvalue(raw[2]), _undrill(raw[3]), _undrill(raw[4]))


def _row(row: kpis.Row):
    return [row.key, _cell(row.projects), _cell(row.investment), _cell(row.signed), _cell(row.signed_investment)]


def _unrow(raw) -> kpis.Row:
    return kpis.Row(raw[0], "", _uncell(raw[1]), _uncell(raw[2]), _uncell(raw[3]), _uncell(raw[4]))


def dump(result: kpis.Pipeline) -> dict:
    """The figures as JSON-able values (Decimals kept exact)."""
    return {
        "scope": result.scope, "target_year": result.target_year, "backward_moves": result.backward_moves,
        "funnel": [_row(r) for r in result.funnel],
        "breakdowns": {d: [_row(r) for r in b.rows] for d, b in result.breakdowns.items()},
        "changes": {k: [_cell(c.current), _cell(c.previous)] for k, c in result.changes.items()},
        "rates": {k: _rate(r) for k, r in result.rates.items()},
        "targets": [[t.kind, t.key, _value(t.target), _cell(t.signed), _rate(t.completion)] for t in result.targets],
        "officers": [[o.user_id, o.name, o.team, _cell(o.stale), _cell(o.overdue_tasks)] for o in result.officers],
    }


def load(payload: dict, period: kpis.Period, computed_at: datetime) -> kpis.Pipeline:
    """A Pipeline again, its labels in the current language."""
    funnel = [replace(row, label=str(stages.BY_KEY[row.key].label)) for row in map(_unrow, payload["funnel"])]
    breakdowns = {}
    for dimension, raw_rows in payload["breakdowns"].items():
        rows = [_unrow(r) for r in raw_rows]
        labels = kpis.dimension_labels(dimension, [r.key for r in rows])
        breakdowns[dimension] = kpis.Breakdown(dimension, [replace(r, label=str(labels.get(r.key, r.key)))
                                                           for r in rows])
    clusters = {**reference.names("cluster"), None: str(kpis.dimension_labels("cluster", [])[None])}
    teams = {**dict(db.session.execute(select(Team.id, Team.name)).all()),
             None: str(kpis.dimension_labels("team", [])[None])}
    targets = [kpis.TargetRow(kind, key, str((clusters if kind == "cluster" else teams).get(key, key)),
                              _unvalue(target), _uncell(signed), _unrate(completion))
               for kind, key, target, signed, completion in payload["targets"]]
    return kpis.Pipeline(
        period=period, previous=period.previous(), scope=payload["scope"], funnel=funnel, breakdowns=breakdowns,
        changes={k: kpis.Change(k, _uncell(c[0]), _uncell(c[1])) for k, c in payload["changes"].items()},
        backward_moves=payload["backward_moves"], rates={k: _unrate(r) for k, r in payload["rates"].items()},
        target_year=payload["target_year"], targets=targets,
        officers=[kpis.OfficerRow(u, name, team, _uncell(stale), _uncell(overdue))
                  for u, name, team, stale, overdue in payload["officers"]],
        computed_at=as_aware(computed_at))


# --- reading and storing ------------------------------------------------------------------------------------------

def _key(scope: str, period: kpis.Period) -> tuple:
    return (DashboardSnapshot.scope == scope, DashboardSnapshot.period_kind == period.kind,
            DashboardSnapshot.period_start == period.start, DashboardSnapshot.period_end == period.end)


def store(scope: str, period: kpis.Period, result: kpis.Pipeline) -> None:
    """Write (or overwrite) a snapshot in a writer's transaction of its own. Two views storing the same one at once:
    the second finds the first's row (unique key) and leaves it."""
    db.session.rollback()  # the figures were read in a plain transaction; on SQLite a writer begins IMMEDIATE
    payload = dump(result)
    with writing():
        row = db.session.scalar(select(DashboardSnapshot).where(*_key(scope, period)))
        if row is None:
            db.session.add(DashboardSnapshot(scope=scope, period_kind=period.kind, period_start=period.start,
                                             period_end=period.end, computed_at=result.computed_at, payload=payload))
        else:
            row.computed_at, row.payload = result.computed_at, payload
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()


def pipeline_for(viewer: User, period: kpis.Period, *, fresh: bool = False,
                 now: datetime | None = None) -> kpis.Pipeline:
    """The viewer's figures for the period: a snapshot at most MAX_AGE old, else computed now (and stored)."""
    now = now or datetime.now(UTC)
    scope = scope_of(viewer)
    if not fresh:
        row = db.session.execute(select(DashboardSnapshot.computed_at, DashboardSnapshot.payload)
                                 .where(*_key(scope, period))).first()
        if row is not None and now - as_aware(row.computed_at) <= MAX_AGE:
            return load(row.payload, period, row.computed_at)
    result = kpis.pipeline(viewer, period, now=now)
    store(scope, period, result)
    return result


def refresh(*, now: datetime | None = None) -> int:
    """The worker's job: compute the managers' current week, month, quarter and year again, and drop snapshots
    nobody refreshed for KEEP. Returns how many were computed."""
    now = now or datetime.now(UTC)
    viewer = db.session.scalar(select(User).where(User.role.in_((Role.MANAGER.value, Role.ADMIN.value)),
                                                  User.is_active_user.is_(True)).order_by(User.id))
    done = 0
    if viewer is not None:
        today = today_in_zone()
        for kind in CURRENT_KINDS:
            period = kpis.period_for(kind, today)
            store("all", period, kpis.pipeline(viewer, period, now=now))
            done += 1
    with writing():
        db.session.execute(delete(DashboardSnapshot).where(DashboardSnapshot.computed_at < now - KEEP))
        db.session.commit()
    return done


def age(result: kpis.Pipeline, *, now: datetime | None = None) -> timedelta:
    return (now or datetime.now(UTC)) - as_aware(result.computed_at)
