"""Thin tasks: names, retries and schedule; the work is a call into crm services."""
from celery import shared_task
from celery.schedules import crontab

from crm.core.database import writing


@shared_task(name="auth.purge_expired_sessions", ignore_result=True)
def purge_expired_sessions() -> int:
    """Housekeeping: drop sessions and sign-in attempts that ended 30+ days ago."""
    from crm.auth.services import purge_expired_sessions as purge

    with writing():
        return purge()


@shared_task(name="maintenance.refresh_statistics", ignore_result=True)
def refresh_statistics() -> None:
    """Keep the query planner's statistics current as the book grows."""
    from crm.core.database import refresh_statistics as refresh
    from crm.extensions import db

    refresh(db.engine)


def register_schedule(celery_app) -> None:
    celery_app.conf.beat_schedule = {
        "purge-expired-sessions": {"task": "auth.purge_expired_sessions", "schedule": crontab(hour=3, minute=15)},
        "refresh-statistics": {"task": "maintenance.refresh_statistics", "schedule": crontab(hour=3, minute=45)},
    }
