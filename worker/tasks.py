"""Thin tasks: names, retries and schedule; the work is a call into crm services."""
from smtplib import SMTPException

from celery import shared_task
from celery.schedules import crontab
from sqlalchemy.exc import OperationalError

from crm.core.database import writing
from crm.jobs import BY_NAME, purge_runs, record_run
from crm.notifications.services import MAX_ATTEMPTS, RETRY_BACKOFF, RETRY_BACKOFF_MAX


@shared_task(name="auth.purge_expired_sessions", ignore_result=True)
def purge_expired_sessions() -> int:
    """Housekeeping: drop sessions and sign-in attempts that ended 30+ days ago, and old runs of the periodic jobs."""
    from crm.auth.services import purge_expired_sessions as purge

    with record_run("auth.purge_expired_sessions") as run, writing():
        n = purge()
        runs = purge_runs()
        run.summary = f"{n} sessions, {runs} job runs purged"
    return n


@shared_task(name="maintenance.refresh_statistics", ignore_result=True)
def refresh_statistics() -> None:
    """Keep the query planner's statistics current as the book grows."""
    from crm.core.database import refresh_statistics as refresh
    from crm.extensions import db

    with record_run("maintenance.refresh_statistics"):
        refresh(db.engine)


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

    with writing():
        return services.send(notification_id)


def _daily(name: str) -> crontab:
    """A daily job's time comes from crm.jobs, where the scheduler's health check reads it too."""
    at = BY_NAME[name].at
    return crontab(hour=at.hour, minute=at.minute)


def register_schedule(celery_app) -> None:
    celery_app.conf.beat_schedule = {
        "purge-expired-sessions": {"task": "auth.purge_expired_sessions",
                                   "schedule": _daily("auth.purge_expired_sessions")},
        "refresh-statistics": {"task": "maintenance.refresh_statistics",
                               "schedule": _daily("maintenance.refresh_statistics")},
        # every minute: 08:30 digests go at 08:30; a sweep that waited in the queue past the next one is dropped
        "notifications-sweep": {"task": "notifications.sweep", "schedule": crontab(), "options": {"expires": 50}},
    }
