"""A large import as production runs it (issue 8, IE-7): a real Celery worker process on Redis (database 11) previews
and commits 20,000 rows while the page's progress file moves; a worker killed with SIGKILL in the middle of the
commit leaves the book untouched, and the redelivered task writes every row exactly once."""
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from openpyxl import Workbook
from sqlalchemy import create_engine, func, select

from crm import create_app
from crm.auth.models import User
from crm.companies.models import Company
from crm.extensions import db
from crm.imports import services
from crm.imports.models import ImportRun

from ..conftest import need, port_open
from ..factories import make_reference, make_user

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL_IMPORTS", "redis://127.0.0.1:6379/11")
ROWS = 20_000


def _workbook(rows: int) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("名单")
    ws.append(["企业名称", "产业集群", "来源城市", "员工人数", "联系人", "手机"])
    for i in range(rows):
        ws.append([f"深圳市批量{i}号电子有限公司", "电子信息", "深圳", i % 500, f"联系人{i}", f"139{i:08d}"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _count(url: str, model) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(model.__table__)).scalar()
    finally:
        engine.dispose()


def _status(url: str, import_id: int) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(ImportRun.status).where(ImportRun.id == import_id)).scalar()
    finally:
        engine.dispose()


def _progress(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class Worker:
    """A worker process in a session of its own, so the whole group can be killed (only what this test started)."""

    def __init__(self, env: dict, log: Path):
        self.log = open(log, "ab")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "--concurrency=1", "--loglevel=info",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def _wait(predicate, timeout: float, what: str, log: Path):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n" + log.read_text(errors="replace")[-3000:])


def test_a_worker_previews_and_commits_20000_rows_with_progress_and_survives_a_kill(app, tmp_path):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    import redis

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # this database belongs to this test
    url = f"sqlite:///{tmp_path / 'imports.sqlite'}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "MAIL_SERVER")}
    env = {**inherited, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(tmp_path), "CRM_CONFIG": "development",
           "REDIS_URL": REDIS_URL, "REDIS_VISIBILITY_TIMEOUT": "5", "CRM_TIMEZONE": "Asia/Shanghai"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    side = create_app("test", SQLALCHEMY_DATABASE_URI=url)
    side.instance_path = str(tmp_path)
    log = tmp_path / "worker.log"
    sender = Celery(broker=REDIS_URL)
    worker = None
    try:
        with side.app_context():
            make_reference()
            officer = make_user("officer", locale="en")
            run = services.upload(io.BytesIO(_workbook(ROWS)), "大名单.xlsx", kind="companies", actor=officer)
            import_id, officer_id, progress_file = run.id, officer.id, services.progress_path(run)
            services.start(import_id, "preview", actor=officer)
        worker = Worker(env, log)
        sender.send_task("imports.run", args=[import_id, "preview"])
        seen = set()

        def previewed():
            seen.add(_progress(progress_file).get("read", 0))
            return _status(url, import_id) == "previewed"

        _wait(previewed, 120, "the preview", log)
        assert any(0 < n < ROWS for n in seen), seen  # the page saw rows read while it ran
        with side.app_context():
            run = db.session.get(ImportRun, import_id)
            assert run.counts == {"create": ROWS} and run.rows_total == ROWS
            services.start(import_id, "commit", actor=db.session.get(User, officer_id))
        assert _count(url, Company) == 0
        sender.send_task("imports.run", args=[import_id, "commit"])
        # kill -9 at 60 % of the commit: nothing of it is in the book, and the import is not done
        _wait(lambda: _progress(progress_file).get("phase") == "commit" and
              _progress(progress_file).get("read", 0) >= ROWS * 0.6, 120, "60 % of the commit", log)
        worker.kill()
        assert _count(url, Company) == 0
        assert _status(url, import_id) == "committing"
        # a new worker gets the unacknowledged task again (visibility timeout 5 s) and writes every row once
        worker = Worker(env, log)
        written = []

        def committed():
            written.append(_progress(progress_file).get("written", 0))
            return _status(url, import_id) == "committed"

        _wait(committed, 180, "the redelivered commit", log)
        assert _count(url, Company) == ROWS
        assert any(0 < n < ROWS for n in written), sorted(set(written))[:10]
        _wait(lambda: _progress(progress_file).get("state") == "done", 10, "the progress file's end", log)
        assert _progress(progress_file)["written"] == ROWS
    finally:
        if worker is not None:
            worker.stop()
        broker.flushdb()
        sender.close()
        with side.app_context():
            db.engine.dispose()
        app.extensions["celery"].set_default()
