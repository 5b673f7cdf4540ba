"""The reminders as production runs them: a real Celery worker process on Redis, sweeps sent through the broker (two
at once, as two schedulers would), a real SMTP server. Every reminder arrives once."""
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from sqlalchemy import create_engine, func, select

from crm.auth.models import User
from crm.companies.models import Company
from crm.meetings.models import Meeting, MeetingUser, Task
from crm.notifications.models import Notification

from ..conftest import need, port_open

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL_REMINDERS", "redis://127.0.0.1:6379/14")


def _seed(url: str) -> list[str]:
    """Three officers with a task due today (zone time); a meeting in 30 minutes of the first, the second taking
    part. Written through the tables (their column defaults apply). Returns the addresses."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    emails = [f"w{i}@test.zone" for i in range(3)]
    with engine.begin() as conn:
        ids = [conn.execute(User.__table__.insert().values(email=e, name=f"Officer {i}", password_hash="x",
                                                           role="officer", locale="zh_Hans_CN")).inserted_primary_key[0]
               for i, e in enumerate(emails)]
        conn.execute(Task.__table__.insert(), [{"title": "回访", "due_on": today, "owner_id": uid} for uid in ids])
        company_id = conn.execute(Company.__table__.insert().values(
            name="测试企业有限公司", name_norm="测试企业", owner_id=ids[0])).inserted_primary_key[0]
        meeting_id = conn.execute(Meeting.__table__.insert().values(
            type="visit", start_at=now + timedelta(minutes=30), company_id=company_id,
            owner_id=ids[0])).inserted_primary_key[0]
        conn.execute(MeetingUser.__table__.insert().values(meeting_id=meeting_id, user_id=ids[1]))
    engine.dispose()
    return emails


def _statuses(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
    finally:
        engine.dispose()


def test_a_worker_on_redis_sends_every_reminder_once_whatever_the_number_of_sweeps(tmp_path, smtp_server):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    import redis

    recorder, host, port = smtp_server
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # this database belongs to this test
    url = f"sqlite:///{tmp_path / 'reminders.sqlite'}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "MAIL_SERVER")}
    env = {**inherited, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(tmp_path), "CRM_CONFIG": "development",
           "REDIS_URL": REDIS_URL, "MAIL_SERVER": host, "MAIL_PORT": str(port), "MAIL_USE_TLS": "false",
           "CRM_TIMEZONE": "Asia/Shanghai", "CRM_DIGEST_TIME": "00:00", "CRM_MEETING_REMINDER_MINUTES": "60"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    emails = _seed(url)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115  (closed below)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--concurrency=2", "--loglevel=info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    sender = Celery(broker=REDIS_URL)
    expected = 3 + 2  # three digests, the meeting reminder to its owner and to the colleague
    try:
        sender.send_task("notifications.sweep")
        sender.send_task("notifications.sweep")  # a second scheduler by mistake (RM-1)
        deadline = time.time() + 90
        while time.time() < deadline and len(recorder.accepted) < expected:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        assert len(recorder.accepted) == expected, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        sender.send_task("notifications.sweep")
        deadline = time.time() + 30
        while time.time() < deadline and _statuses(url) != {"sent": expected}:
            time.sleep(0.5)
        time.sleep(3)  # the third sweep had time to run: nothing more arrives
        assert len(recorder.accepted) == expected
        assert _statuses(url) == {"sent": expected}
        assert sorted(r[0] for r, _raw in recorder.accepted) == sorted([*emails, emails[0], emails[1]])
        assert len({m["Message-ID"] for m in recorder.messages}) == expected
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        broker.flushdb()
        sender.close()
