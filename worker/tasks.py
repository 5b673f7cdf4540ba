"""Thin tasks: names, retries and schedule; the work is a call into crm services."""
from datetime import timedelta
from smtplib import SMTPException

from celery import shared_task
from celery.schedules import crontab
from sqlalchemy.exc import OperationalError

from crm.core.database import writing
from crm.jobs import BY_NAME, purge_runs, record_run
from crm.notifications.services import MAX_ATTEMPTS, RETRY_BACKOFF, RETRY_BACKOFF_MAX


@shared_task(name="auth.purge_expired_sessions", ignore_result=True)
def purge_expired_sessions() -> int:
    """Housekeeping: drop sessions and sign-in attempts that ended 30+ days ago, old runs of the periodic jobs, the
    stored files of finished or abandoned imports and the export log's old entries."""
    from crm.auth.services import purge_expired_sessions as purge
    from crm.imports.services import housekeep

    with record_run("auth.purge_expired_sessions") as run, writing():
        n = purge()
        runs = purge_runs()
        files, exports = housekeep()
        run.summary = f"{n} sessions, {runs} job runs, {files} import files, {exports} export log entries purged"
    return n


@shared_task(name="maintenance.refresh_statistics", ignore_result=True)
def refresh_statistics() -> None:
    """Keep the query planner's statistics current as the book grows."""
    from crm.core.database import refresh_statistics as refresh
    from crm.extensions import db

    with record_run("maintenance.refresh_statistics"):
        refresh(db.engine)


@shared_task(name="companies.release_expired_claims", ignore_result=True)
def release_expired_claims() -> int:
    """Daily: prospects whose protection period ended go back to the public pool; the next sweep tells the officers
    who held them (the "pool" reminder)."""
    from crm.companies.services import release_expired_claims as release

    with record_run("companies.release_expired_claims") as run, writing():
        released = release()
        run.summary = f"{len(released)} companies returned to the public pool"
    return len(released)


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep_notifications() -> int:
    """Record the reminders due now and queue one send per new row, plus the rows whose send was lost (R1: the
    sweep decides what is due from the database; nothing waits in the broker with a long ETA)."""
    from crm.core.timeutil import utcnow
    from crm.notifications import services

    with record_run("notifications.sweep") as run:
        with writing():
            ids = services.due_now(utcnow())
        for notification_id in ids:  # after the commit: a send task always finds its row
            send_notification.delay(notification_id)
        run.summary = f"{len(ids)} queued"
    return len(ids)


@shared_task(name="notifications.send", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(SMTPException, OSError, OperationalError), retry_backoff=RETRY_BACKOFF,
             retry_backoff_max=RETRY_BACKOFF_MAX, retry_jitter=True, max_retries=MAX_ATTEMPTS - 1)
def send_notification(notification_id: int) -> str:
    """Send one notification unless it was already sent; the row is the exactly-once gate, so a redelivered,
    retried or duplicated task does nothing (acks_late is safe here)."""
    from crm.notifications import services

    return services.send(notification_id)  # it takes SQLite's write lock for its writes only


@shared_task(name="dashboard.refresh", ignore_result=True)
def refresh_dashboard() -> int:
    """Every few minutes: the managers' dashboard figures for the current week, month, quarter and year (issue 7:
    a year's figures read millions of rows; the page shows these snapshots with their age)."""
    from crm.dashboard import snapshots

    with record_run("dashboard.refresh") as run:
        n = snapshots.refresh()
        run.summary = f"{n} snapshots refreshed"
    return n


def _daily(name: str) -> crontab:
    """A daily job's time comes from crm.jobs, where the scheduler's health check reads it too."""
    at = BY_NAME[name].at
    return crontab(hour=at.hour, minute=at.minute)


def _every(name: str) -> dict:
    """A job run every so often: its interval comes from crm.jobs too; a run that waited in the queue past the next
    one is dropped."""
    every = BY_NAME[name].every
    return {"task": name, "schedule": every, "options": {"expires": max(1, int(every.total_seconds()) - 60)}}


def _sweep_entry(seconds: int) -> dict:
    """Every minute, on the minute (08:30 digests go at 08:30), or every CRM_SWEEP_SECONDS when set otherwise (the
    beat tests use 2 s). A sweep that waited in the queue past the next one is dropped: the next one does its work."""
    schedule = crontab() if seconds == 60 else timedelta(seconds=seconds)
    return {"task": "notifications.sweep", "schedule": schedule, "options": {"expires": max(1, seconds - 10)}}


def register_schedule(celery_app, sweep_seconds: int = 60) -> None:
    celery_app.conf.beat_schedule = {
        "purge-expired-sessions": {"task": "auth.purge_expired_sessions",
                                   "schedule": _daily("auth.purge_expired_sessions")},
        "release-expired-claims": {"task": "companies.release_expired_claims",
                                   "schedule": _daily("companies.release_expired_claims")},
        "refresh-statistics": {"task": "maintenance.refresh_statistics",
                               "schedule": _daily("maintenance.refresh_statistics")},
        "notifications-sweep": _sweep_entry(sweep_seconds),
        "dashboard-refresh": _every("dashboard.refresh"),
    }


@shared_task(name="imports.run", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def run_import(import_id: int, phase: str) -> str:
    """Preview or commit a large import (issue 8). Idempotent: the import's status gates each phase and the commit
    writes in one transaction, so a redelivered task (worker lost, IE-7) either finds it done or runs it afresh."""
    from crm.imports.services import run_phase

    return run_phase(import_id, phase)
