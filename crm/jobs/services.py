"""The scheduler's health (DESIGN.md, Reminders; RELIABILITY.md RM-11).

Reminders that silently stop because beat is not running are the most common complaint about CRMs. Every periodic
task runs inside `record_run`, which leaves one `JobRun` row per run; `health` compares each job's latest run with
the time it was due, so the admin page and /healthz/scheduler can say a job missed its time. `JOBS` is also where
worker/tasks.py takes the beat schedule from, so the expectation cannot drift from what beat is told.
"""
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crm.core.database import writing
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db
from crm.notifications.models import JOB_ERROR, JOB_OK, JobRun

logger = logging.getLogger(__name__)

#: how long run records are kept (the nightly purge deletes older ones)
KEEP_RUNS = timedelta(days=14)


@dataclass(frozen=True)
class Job:
    #: the Celery task's name, also the `JobRun.name` of its runs
    name: str
    #: the zone time of day it runs at; None: every minute
    at: time | None
    #: how late a run may be before the job counts as missed (queueing, a worker busy with a long task)
    grace: timedelta
    #: its name on the scheduler page and in the admins' digest
    label: object = None
    #: a job run every so often rather than daily (`at` None); None for the sweep, whose interval is a setting
    #: (`sweep_interval`)
    every: timedelta | None = None

    def last_due(self, moment: datetime) -> datetime:
        """The latest time at or before `moment` the job was due (UTC). Daily times are calendar days in the zone,
        never "24 h later", so a DST change (Europe/Berlin in the RM-12 guard) moves nothing."""
        if self.at is None:  # runs all the time: it is due at every moment
            return moment.astimezone(UTC)
        local = moment.astimezone(zone())
        due = datetime.combine(local.date(), self.at, tzinfo=zone())
        if due > local:
            due = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=zone())
        return due.astimezone(UTC)


#: the reminder sweep: the job whose absence users notice (no reminders); /healthz/scheduler turns 503 on it
SWEEP = "notifications.sweep"

JOBS: tuple[Job, ...] = (
    # the sweep's grace is three of its intervals (RM-11): see `grace_of`
    Job(SWEEP, None, timedelta(0), _l("Reminder sweep")),
    Job("companies.release_expired_claims", time(2, 30), timedelta(hours=2),
        _l("Return expired claims to the public pool")),
    Job("auth.purge_expired_sessions", time(3, 15), timedelta(hours=2),
        _l("Housekeeping: expired sessions, old import files")),
    Job("maintenance.refresh_statistics", time(3, 45), timedelta(hours=2), _l("Refresh database statistics")),
    # the managers' dashboard snapshots (crm.dashboard.snapshots, issue 7): every 10 minutes; missed after two
    # intervals without a run (the page then computes the figures itself, so nothing is wrong, only slower)
    Job("dashboard.refresh", None, timedelta(minutes=10), _l("Refresh the managers' dashboard"),
        every=timedelta(minutes=10)),
)
BY_NAME = {job.name: job for job in JOBS}


def sweep_interval() -> timedelta:
    return timedelta(seconds=current_app.config["CRM_SWEEP_SECONDS"])


def interval_of(job: Job) -> timedelta | None:
    """How often a job that is not daily runs: the sweep every `sweep_interval`, others their `every`; None for a
    daily job."""
    if job.at is not None:
        return None
    return job.every if job.every is not None else sweep_interval()


def grace_of(job: Job) -> timedelta:
    """How late a run may be: a daily job's own grace; for the sweep, three of its intervals (3 minutes in
    production), after which /healthz/scheduler answers 503 (RM-11); for another job run every so often, its
    interval and its grace (the dashboard's refresh: 20 minutes without a run)."""
    if job.at is not None:
        return job.grace
    if job.every is None:
        return 3 * sweep_interval()
    return job.every + job.grace


class RunNote:
    """What a run tells its record: set `summary` inside the `with` block."""

    summary: str | None = None


def _first_line(text: str, limit: int = 200) -> str:
    return (text.strip().splitlines() or [""])[0][:limit]


@contextmanager
def record_run(name: str) -> Iterator[RunNote]:
    """Record one run of a periodic job: a row committed at the start (so a run that hangs or whose worker dies
    still shows), its end, outcome and summary at the end. An exception marks the run as an error and propagates
    (Celery's retries and logs still see it). Used at the top of a task or command: it commits the session."""
    with writing():
        run = JobRun(name=name, started_at=utcnow())
        db.session.add(run)
        db.session.flush()
        # read before the commit: reading it after would reload the row and, on SQLite, open a write transaction
        # that the job itself would then hold (and a job using a second connection, like ANALYZE, wait for)
        run_id = run.id
        db.session.commit()
    note = RunNote()
    try:
        yield note
    except Exception as exc:
        db.session.rollback()  # the job's own transaction failed with it; the record must still be written
        try:
            _finish(run_id, JOB_ERROR, _first_line(f"{type(exc).__name__}: {exc}"))
        except Exception:  # the database itself may be what failed: never hide the job's own error behind this one
            db.session.rollback()
            logger.exception("could not record the failed run of %s", name)
        raise
    _finish(run_id, JOB_OK, _first_line(note.summary) if note.summary else None)


def _finish(run_id: int, outcome: str, summary: str | None) -> None:
    with writing():
        run = db.session.get(JobRun, run_id, populate_existing=True)
        run.finished_at, run.outcome, run.summary = utcnow(), outcome, summary
        db.session.commit()


def purge_runs(older_than: timedelta = KEEP_RUNS) -> int:
    """Keep the run log bounded (about 20,000 sweep rows for two weeks); part of the nightly purge."""
    n = db.session.execute(JobRun.__table__.delete().where(JobRun.started_at < utcnow() - older_than)).rowcount
    db.session.commit()
    return n


@dataclass
class JobHealth:
    job: Job
    #: the latest run (finished or not), None if there is none in the kept log
    last: JobRun | None
    #: the due time a run should have started by, allowing the grace
    expected: datetime
    #: no run started at or after `expected`, though the scheduler was already seen running then (or never was)
    missed: bool
    #: the sweep ran half as often again as scheduled over its last ten intervals: two schedulers are running (RM-1;
    #: harmless to the reminders, which the notification log keeps to one each, but a deployment fault to fix)
    too_often: bool = False

    @property
    def ok(self) -> bool:
        return not self.missed and self.last is not None and self.last.outcome == JOB_OK


@dataclass(frozen=True)
class Miss:
    """A time a job should have run and did not: a daily job's due time, or a gap in the sweep's runs (from the
    last run before it to the next run, or to now)."""
    job: Job
    since: datetime
    until: datetime | None


def misses(since: datetime, now: datetime | None = None) -> list[Miss]:
    """What the scheduler missed between `since` and `now` (for the admins' digest): each daily job's due time in
    the window with no run started within its grace, and each stretch longer than the grace without a sweep."""
    now = as_aware(now or utcnow())
    since = as_aware(since)
    first_seen = db.session.scalar(select(func.min(JobRun.started_at)))
    if first_seen is None:
        return []
    since = max(since, as_aware(first_seen))  # nothing was missed before the scheduler first ran
    found = []
    for job in JOBS:
        starts = [as_aware(at) for at in db.session.scalars(
            select(JobRun.started_at).where(JobRun.name == job.name, JobRun.started_at >= since - grace_of(job),
                                            JobRun.started_at <= now).order_by(JobRun.started_at))]
        if job.at is None:
            edges = [since, *starts, now]
            for before, after in zip(edges, edges[1:], strict=False):
                if after - before > grace_of(job):
                    found.append(Miss(job, before, after if after < now else None))
            continue
        due = job.last_due(now - job.grace)
        while due >= since:
            if not any(due <= at <= due + job.grace for at in starts):
                found.append(Miss(job, due, None))
            due = job.last_due(due - timedelta(seconds=1))
    return sorted(found, key=lambda miss: miss.since)


def health(now: datetime | None = None) -> list[JobHealth]:
    """Each job's latest run and whether it missed its time: a job is missed when the last time it was due, more
    than its grace ago, has no run started since. Before the first run of anything (the scheduler never ran) every
    job is missed; a daily job whose time came before the scheduler was first seen is not (a fresh install)."""
    now = now or utcnow()
    first_seen = db.session.scalar(select(func.min(JobRun.started_at)))
    first_seen = as_aware(first_seen) if first_seen else None
    result = []
    for job in JOBS:
        last = db.session.scalar(select(JobRun).where(JobRun.name == job.name)
                                 .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1))
        expected = job.last_due(now - grace_of(job))
        ran = last is not None and as_aware(last.started_at) >= expected
        before_us = first_seen is not None and first_seen > expected
        too_often = False
        if job.at is None:
            window = 10 * interval_of(job)
            recent = db.session.scalar(select(func.count()).select_from(JobRun).where(
                JobRun.name == job.name, JobRun.started_at > now - window, JobRun.started_at <= now))
            too_often = recent > 15
        result.append(JobHealth(job=job, last=last, expected=expected, missed=not (ran or before_us),
                                too_often=too_often))
    return result
