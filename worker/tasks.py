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


def register_schedule(celery_app) -> None:
    celery_app.conf.beat_schedule = {
        "purge-expired-sessions": {"task": "auth.purge_expired_sessions", "schedule": crontab(hour=3, minute=15)},
    }
