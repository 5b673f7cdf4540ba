"""Settings from the environment; embedded defaults (SQLite in instance/, a file broker) when nothing is set."""
import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_DIR", BASE_DIR / "instance"))
load_dotenv(BASE_DIR / ".env")

#: the placeholder key that development uses; ProductionConfig refuses to start with it
DEV_SECRET_KEY = "dev-only-not-secret"
#: seconds before Redis hands an unacknowledged message to another worker: longer than any retry countdown
#: (notifications.send backs off to at most 10 minutes) and than task_time_limit, or a task waiting for its retry,
#: or still running, would run twice (R1)
REDIS_VISIBILITY_TIMEOUT = int(os.environ.get("REDIS_VISIBILITY_TIMEOUT", "3600"))
#: the hard cap on one task's run (seconds): below the visibility timeout and the reminders' claim lease
TASK_TIME_LIMIT = int(os.environ.get("CRM_TASK_TIME_LIMIT", "240"))

# Reminders' timing (seconds; crm.notifications.services). The environment may shorten them, as the chaos tests do
# (tests/notifications/test_chaos.py) to see a crash recovered in seconds; production keeps these defaults, and the
# order must hold: retry backoff max < visibility timeout, task time limit < claim lease.
#: a send's retry countdown: this, doubling per try, up to the max (the send task's retry_backoff and its max)
NOTIFICATION_RETRY_BACKOFF = int(os.environ.get("CRM_RETRY_BACKOFF_SECONDS", "30"))
NOTIFICATION_RETRY_BACKOFF_MAX = int(os.environ.get("CRM_RETRY_BACKOFF_MAX_SECONDS", "600"))
#: a claim older than this belongs to a worker that died
NOTIFICATION_CLAIM_LEASE = int(os.environ.get("CRM_CLAIM_LEASE_SECONDS", "600"))
#: a pending row (or an expired claim) this long past its time had its send lost: the sweep queues it again
NOTIFICATION_REQUEUE_AFTER = int(os.environ.get("CRM_REQUEUE_AFTER_SECONDS", "300"))


def _bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'crm.sqlite'}"
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "")

    # Sessions: the cookie only carries a reference to a user_session row (R5).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    CRM_SESSION_IDLE = timedelta(minutes=int(os.environ.get("CRM_SESSION_IDLE_MINUTES", "30")))
    CRM_SESSION_ABSOLUTE = timedelta(hours=12)
    CRM_API_TOKEN_LIFETIME = timedelta(days=30)
    #: a calendar feed URL (subscribed by Outlook, Apple Calendar, phones) lives until revoked or replaced
    CRM_FEED_TOKEN_LIFETIME = timedelta(days=3650)
    #: the canonical address for links shown for use elsewhere (calendar feed URLs): CRM_BASE_URL when it is set,
    #: else the address the request came to (e-mails always use CRM_BASE_URL, since they have no request)
    PUBLIC_BASE_URL = os.environ.get("CRM_BASE_URL", "")
    #: sign-in throttling: failures per account (and per address) within the window before 429
    CRM_LOGIN_MAX_FAILURES = 5
    CRM_LOGIN_MAX_FAILURES_PER_IP = 30
    CRM_LOGIN_WINDOW = timedelta(minutes=15)
    #: how many reverse proxies to trust for X-Forwarded-For; 0 trusts none, so a forged header changes nothing
    CRM_PROXY_COUNT = int(os.environ.get("CRM_PROXY_COUNT", "0"))

    WTF_CSRF_TIME_LIMIT = 3600
    MAX_CONTENT_LENGTH = 10 * 1024 * 1024

    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("CRM_TIMEZONE", "Asia/Shanghai")
    CRM_TIMEZONE = os.environ.get("CRM_TIMEZONE", "Asia/Shanghai")
    CRM_LANGUAGES = {"zh_Hans_CN": "简体中文", "en": "English"}
    CRM_BASE_URL = os.environ.get("CRM_BASE_URL", "http://127.0.0.1:5000")
    CRM_PAGE_SIZE = 50

    #: no server: e-mails are written to instance/outbox/ as .eml files (what `make run` does out of the box)
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    #: implicit TLS from the first byte (port 465), instead of STARTTLS
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER") or os.environ.get("MAIL_FROM") or "crm@localhost"
    #: seconds an SMTP connect or reply may take: a hanging server fails the attempt (and it is retried) instead of
    #: holding a worker process
    MAIL_TIMEOUT = int(os.environ.get("MAIL_TIMEOUT", "20"))

    #: reminders: the daily digest's default time (zone time; each user may choose another) and how long before a
    #: meeting its reminder goes out
    CRM_DIGEST_TIME = os.environ.get("CRM_DIGEST_TIME", "08:30")
    CRM_MEETING_REMINDER_MINUTES = int(os.environ.get("CRM_MEETING_REMINDER_MINUTES", "60"))
    #: the weekly round (zone time, Mondays): the managers' pipeline summary and the stale-lead nudges
    CRM_WEEKLY_TIME = os.environ.get("CRM_WEEKLY_TIME", "09:00")
    #: the weekly project report (周报) to managers, Fridays from this time (zone time) until Sunday night
    CRM_WEEKLY_REPORT_TIME = os.environ.get("CRM_WEEKLY_REPORT_TIME", "17:00")
    #: how often beat queues the reminder sweep (seconds; 60 = at the start of every minute). Tests shorten it; the
    #: scheduler counts as stalled after three intervals without a sweep (RM-11)
    CRM_SWEEP_SECONDS = int(os.environ.get("CRM_SWEEP_SECONDS", "60"))

    CELERY = {
        "broker_url": os.environ.get("REDIS_URL") or "filesystem://",
        "broker_transport_options": (
            {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT}
            if os.environ.get("REDIS_URL")
            else {
                "data_folder_in": str(INSTANCE_DIR / "broker"),
                "data_folder_out": str(INSTANCE_DIR / "broker"),
                "processed_folder": str(INSTANCE_DIR / "broker-done"),
                "store_processed": False,
            }
        ),
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": os.environ.get("CRM_TIMEZONE", "Asia/Shanghai"),
        "enable_utc": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # a late-acked task whose broker connection dropped is redelivered anyway: stop it rather than finish twice
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": TASK_TIME_LIMIT,
        "beat_schedule_filename": str(INSTANCE_DIR / "celerybeat-schedule"),
    }


class DevelopmentConfig(Config):
    DEBUG = False


class TestConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    SECRET_KEY = "test-secret-key"
    CRM_LOGIN_MAX_FAILURES = 5
    CELERY = {**Config.CELERY, "task_always_eager": True, "broker_url": "memory://"}
    #: never mail anyone from the suite: tests that send start their own SMTP server
    MAIL_SERVER = ""


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    REMEMBER_COOKIE_NAME = "__Host-remember"
    PREFERRED_URL_SCHEME = "https"
    CRM_HSTS = True


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}
