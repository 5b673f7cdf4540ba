"""`flask crm reminders run`: the scheduler's sweep and the sends, from one process; run again, nothing twice. Also run
as two processes at once against one database and one SMTP server (the issue's 200 officers)."""
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from crm.notifications.models import SENT, Notification

from ..factories import make_user
from .helpers import day, make_task, rows

ROOT = Path(__file__).resolve().parents[2]


def test_run_now_at_a_given_time_sweeps_and_sends(app, smtp):
    officers = [make_user(locale="en") for _ in range(3)]
    for officer in officers:
        make_task(officer, day("2025-03-10"))
    runner = app.test_cli_runner()
    early = runner.invoke(args=["crm", "reminders", "run", "--now", "2025-03-10T08:29+08:00"])
    assert early.exit_code == 0, early.output
    assert "0 due" in early.output and smtp.messages == []
    result = runner.invoke(args=["crm", "reminders", "run", "--at", "2025-03-10T08:30"])  # zone time
    assert result.exit_code == 0, result.output
    assert "3 due; 3 sent." in result.output
    again = runner.invoke(args=["crm", "reminders", "run", "--now", "2025-03-10T08:31+08:00"])
    assert "0 due; nothing sent." in again.output
    assert len(smtp.messages) == 3 and {r.status for r in rows()} == {SENT}


def test_bare_now_is_the_current_time_and_a_bad_time_is_refused(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["crm", "reminders", "run", "--now"]).exit_code == 0
    assert runner.invoke(args=["crm", "reminders", "run"]).exit_code == 0
    bad = runner.invoke(args=["crm", "reminders", "run", "--now", "tomorrow morning"])
    assert bad.exit_code != 0 and "not an ISO time" in bad.output


def test_a_failed_send_is_counted_and_left_for_a_retry(app, smtp):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    smtp.refuse = 1
    result = app.test_cli_runner().invoke(args=["crm", "reminders", "run", "--now", "2025-03-10T08:30+08:00"])
    assert result.exit_code == 0, result.output
    assert "1 due; 1 retry." in result.output
    (row,) = rows()
    assert row.status == "pending" and row.attempts == 1


# --- two processes at once -------------------------------------------------------------------------------------------

OFFICERS = 200


def _seed(url: str) -> None:
    """200 officers, each with a task due on 2025-03-10 and one overdue, written straight into the database."""
    engine = create_engine(url)
    stamp = datetime(2025, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO user (email, name, password_hash, role, is_active_user, locale, version, "
                          "password_changed_at, created_at, updated_at) VALUES (:email, :name, 'x', 'officer', 1, "
                          ":locale, 1, :t, :t, :t)"),
                     [{"email": f"o{i}@test.zone", "name": f"Officer {i}", "locale": ("en", "zh_Hans_CN")[i % 2],
                       "t": stamp} for i in range(OFFICERS)])
        ids = [r[0] for r in conn.execute(text("SELECT id FROM user ORDER BY id"))]
        conn.execute(text("INSERT INTO task (title, notes, due_on, owner_id, version, created_at, updated_at) "
                          "VALUES (:title, '', :due, :owner, 1, :t, :t)"),
                     [{"title": f"Task {i}-{k}", "due": due, "owner": uid, "t": stamp}
                      for i, uid in enumerate(ids) for k, due in enumerate((date(2025, 3, 10), date(2025, 3, 3)))])
    engine.dispose()


@pytest.mark.sqlite  # two processes on a SQLite file of its own: the PostgreSQL pass would repeat it unchanged
def test_two_processes_sweeping_at_once_send_each_digest_once(tmp_path, smtp_server):
    recorder, host, port = smtp_server
    url = f"sqlite:///{tmp_path / 'two.sqlite'}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "MAIL_SERVER")}
    env = {**inherited, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(tmp_path), "CRM_CONFIG": "development",
           "MAIL_SERVER": host, "MAIL_PORT": str(port), "MAIL_USE_TLS": "false", "CRM_TIMEZONE": "Asia/Shanghai",
           "CRM_DIGEST_TIME": "08:30"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    _seed(url)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "reminders", "run", "--now",
               "2025-03-10T08:30+08:00"]
    started = time.time()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(recorder.accepted) == OFFICERS, outputs
    assert sorted(rcpt[0] for rcpt, _raw in recorder.accepted) == sorted(f"o{i}@test.zone" for i in range(OFFICERS))
    # and a third run, later that day, sends nothing more
    third = subprocess.run([*command[:-1], "2025-03-10T09:30+08:00"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert "0 due; nothing sent." in third.stdout, third.stdout + third.stderr
    assert len(recorder.accepted) == OFFICERS
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = dict(conn.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
        message_ids = conn.scalar(select(func.count(func.distinct(Notification.message_id))))
    engine.dispose()
    assert counts == {SENT: OFFICERS} and message_ids == OFFICERS
    assert time.time() - started < 240
