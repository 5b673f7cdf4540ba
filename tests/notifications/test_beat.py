"""Celery beat as production runs it, but sweeping every 2 seconds: two schedulers started by mistake still give one
e-mail per reminder, and the scheduler page says two are running (RM-1); a scheduler that stalls turns
/healthz/scheduler to 503 within three intervals and back to 200 when it resumes (RM-11)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select

from crm.auth.models import User
from crm.meetings.models import Task
from crm.notifications.models import Notification

from ..conftest import need, port_open
from .conftest import free_port

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL_BEAT", "redis://127.0.0.1:6379/12")
SWEEP_SECONDS = 2
OFFICERS = 20


def _seed(url: str) -> None:
    """Twenty officers, each with a follow-up due today (zone time): twenty digests (digest time 00:00)."""
    engine = create_engine(url)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    with engine.begin() as conn:
        for i in range(OFFICERS):
            uid = conn.execute(User.__table__.insert().values(
                email=f"b{i}@test.zone", name=f"Officer {i}", password_hash="x", role="officer",
                locale="en")).inserted_primary_key[0]
            conn.execute(Task.__table__.insert().values(title="Call back", due_on=today, owner_id=uid))
    engine.dispose()


def _sent(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent"))
    finally:
        engine.dispose()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _sweep_state(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return next(j for j in json.load(response)["jobs"] if j["name"] == "notifications.sweep")
    except OSError:
        return {}


def _wait(predicate, timeout: float, what: str, logs=()) -> float:
    """Poll until `predicate()`; returns the seconds it took, fails with the processes' logs after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tails}")


def test_two_schedulers_send_each_reminder_once_and_a_stalled_one_turns_the_health_check_red(tmp_path, smtp_server):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    import redis

    recorder, host, port = smtp_server
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # this database belongs to this test
    url = f"sqlite:///{tmp_path / 'beat.sqlite'}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "MAIL_SERVER")}
    env = {**inherited, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(tmp_path), "CRM_CONFIG": "development",
           "REDIS_URL": REDIS_URL, "MAIL_SERVER": host, "MAIL_PORT": str(port), "MAIL_USE_TLS": "false",
           "CRM_TIMEZONE": "Asia/Shanghai", "CRM_DIGEST_TIME": "00:00", "CRM_SWEEP_SECONDS": str(SWEEP_SECONDS)}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    _seed(url)
    processes, logs = [], []

    def start(name: str, *args: str) -> subprocess.Popen:
        log = tmp_path / f"{name}.log"
        logs.append(log)
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    web_port = free_port()
    health = f"http://127.0.0.1:{web_port}/healthz/scheduler"
    try:
        start("worker", "celery", "-A", "worker", "worker", "--concurrency=2", "--loglevel=info",
              "--without-gossip", "--without-mingle", "--without-heartbeat")
        beats = [start(f"beat{i}", "celery", "-A", "worker", "beat", "--loglevel=info",
                       "-s", str(tmp_path / f"schedule{i}")) for i in range(2)]
        start("web", "flask", "--app", "wsgi", "run", "--port", str(web_port))
        # RM-1: two schedulers, each queueing a sweep every 2 s; every digest arrives once
        _wait(lambda: len(recorder.accepted) >= OFFICERS, 90, "twenty digests", logs)
        _wait(lambda: _sent(url) == OFFICERS, 30, "twenty rows marked sent", logs)
        time.sleep(3 * SWEEP_SECONDS)  # three more sweeps from each scheduler: nothing more arrives
        assert len(recorder.accepted) == OFFICERS
        assert sorted(rcpt for (rcpt,), _raw in recorder.accepted) == sorted(f"b{i}@test.zone" for i in range(OFFICERS))
        assert len({m["Message-ID"] for m in recorder.messages}) == OFFICERS
        _wait(lambda: _status(health) == 200, 30, "the health check", logs)
        # once ten intervals have passed, the check (and the scheduler page) say that a second beat is running
        _wait(lambda: _sweep_state(health).get("too_often") is True, 30, "too_often from the health check", logs)
        # RM-11: one scheduler stopped for good, the other frozen: within three intervals the check says so
        beats[1].terminate()
        beats[1].wait(timeout=20)
        os.kill(beats[0].pid, signal.SIGSTOP)
        stopped = time.monotonic()
        _wait(lambda: _status(health) == 503, 30, "503 from the health check", logs)
        # 3 intervals of grace, plus the sweep that was already running and the poll
        assert time.monotonic() - stopped <= 3 * SWEEP_SECONDS + 6
        os.kill(beats[0].pid, signal.SIGCONT)
        _wait(lambda: _status(health) == 200, 30, "the health check back to 200", logs)
        assert len(recorder.accepted) == OFFICERS
    finally:
        for process in processes:
            if process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.flushdb()
