"""The Celery worker as production and `make run` start it: a real process, a real broker, tasks in app context."""
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import create_engine, func, select

from crm.auth.models import UserSession
from crm.core.timeutil import utcnow

from ..conftest import need, port_open

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A SQLite database migrated by `flask db upgrade`, with one user from `flask crm create-user`: made once (the
    two commands take seconds), copied for each test."""
    folder = tmp_path_factory.mktemp("worker-template")
    path = folder / "worker.sqlite"
    inherited = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env = {**inherited, "DATABASE_URL": f"sqlite:///{path}", "CRM_INSTANCE_DIR": str(folder),
           "CRM_CONFIG": "development"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "crm", "create-user", "--email", "w@test.zone",
                    "--name", "Worker Test", "--role", "officer", "--password", "a long worker password"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return path


def _prepare(tmp_path: Path, migrated: Path, extra_env: dict) -> tuple[dict, str]:
    """A copy of the migrated database with one expired and one live session; the env a worker runs with."""
    path = tmp_path / "worker.sqlite"
    with closing(sqlite3.connect(migrated)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)  # whole, whatever the write-ahead log still held
    url = f"sqlite:///{path}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env = {**inherited, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(tmp_path), "CRM_CONFIG": "development",
           **extra_env}
    engine = create_engine(url)
    with engine.begin() as conn:
        long_ago = utcnow() - timedelta(days=60)
        conn.execute(UserSession.__table__.insert(), [
            {"token_hash": "a" * 64, "user_id": 1, "kind": "web", "remember": False, "created_at": long_ago,
             "last_seen_at": long_ago, "expires_at": long_ago + timedelta(hours=12)},
            {"token_hash": "b" * 64, "user_id": 1, "kind": "web", "remember": False, "created_at": utcnow(),
             "last_seen_at": utcnow(), "expires_at": utcnow() + timedelta(hours=12)}])
    engine.dispose()
    return env, url


def _sessions(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(UserSession.__table__))
    finally:
        engine.dispose()


def _run_worker_and_send(env: dict, url: str, sender: Celery) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--pool=solo", "--loglevel=info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        sender.send_task("auth.purge_expired_sessions")
        deadline = time.time() + 60
        while time.time() < deadline and _sessions(url) != 1:
            assert worker.poll() is None, worker.stdout.read().decode(errors="replace")[-3000:]
            time.sleep(0.1)
        assert _sessions(url) == 1, "the worker did not run the task (expired session still there)"
    finally:
        # killed, not stopped: the task is done and acknowledged, and a warm shutdown waits out the broker's poll
        # (over four seconds on the file broker) for nothing this test checks
        worker.kill()
        worker.wait(timeout=20)


def test_worker_on_redis_runs_a_task_against_the_app_database(tmp_path, migrated):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    import redis

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # database 15 belongs to this test
    env, url = _prepare(tmp_path, migrated, {"REDIS_URL": REDIS_URL})
    sender = Celery(broker=REDIS_URL)
    try:
        _run_worker_and_send(env, url, sender)
    finally:
        broker.flushdb()


def test_worker_on_the_embedded_file_broker_needs_no_server(tmp_path, migrated):
    """What `make run` starts when REDIS_URL is not set."""
    env, url = _prepare(tmp_path, migrated, {})
    folder = tmp_path / "broker"
    folder.mkdir()
    (tmp_path / "broker-done").mkdir()
    sender = Celery(broker="filesystem://")
    sender.conf.broker_transport_options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    _run_worker_and_send(env, url, sender)
