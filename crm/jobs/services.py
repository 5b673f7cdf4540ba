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

    def last_due(self, moment: datetime) -> datetime:
        """The latest time at or before `moment` the job was due (UTC). Daily times are calendar days in the zone,
        never "24 h later", so a DST change (Europe/Berlin in the RM-12 guard) moves nothing."""
        if self.at is None:
            return moment.astimezone(UTC).replace(second=0, microsecond=0)
        local = moment.astimezone(zone())
        due = datetime.combine(local.date(), self.at, tzinfo=zone())
        if due > local:
            due = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=zone())
        return due.astimezone(UTC)


#: the reminder sweep: the job whose absence users notice (no reminders); /healthz/scheduler turns 503 on it
SWEEP = "notifications.sweep"

JOBS: tuple[Job, ...] = (
    Job(SWEEP, None, timedelta(minutes=5)),
    Job("auth.purge_expired_sessions", time(3, 15), timedelta(hours=2)),
    Job("maintenance.refresh_statistics", time(3, 45), timedelta(hours=2)),
)
BY_NAME = {job.name: job for job in JOBS}


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
        db.session.commit()
        run_id = run.id
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

    @property
    def ok(self) -> bool:
        return not self.missed and self.last is not None and self.last.outcome == JOB_OK


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
        expected = job.last_due(now - job.grace)
        ran = last is not None and as_aware(last.started_at) >= expected
        before_us = first_seen is not None and first_seen > expected
        result.append(JobHealth(job=job, last=last, expected=expected, missed=not (ran or before_us)))
    return result
