"""Chaos tests for the reminders (RELIABILITY.md D: RM-5, RM-7, RM-8, RM-9, RM-13; G: AV-1, AV-3, AV-5, AV-7), with
real processes: a redis-server of the test's own that is killed and restarted (with and without persistence),
`celery -A worker worker` subprocesses whose pool processes or main process are killed (SIGKILL) or stopped (SIGTERM),
gunicorn for the web app, and a recording SMTP server that refuses, rejects, hangs or answers slowly. Each test
fails when the mechanism it covers is taken away (named in its docstring).

The processes run with short timings (chaos.TIMING: a 5 s claim lease, 2 s requeue, 1-4 s retry backoff, 10 s
visibility timeout) so that a crash is recovered in seconds; the test plays beat by sending a sweep every second
where recovery needs one. A SQLite file database, migrated once and copied per test.
"""
import os
import re
import signal
import subprocess
import time

import pytest
import requests
from aiosmtpd.controller import Controller

from .chaos import PYTHON, ROOT, TIMING, Harness, Mailbox, clean_env, migrate, wait_until
from .conftest import free_port

services = pytest.mark.services
#: a short task unrelated to the reminders (RM-9): the nightly housekeeping, which records its run in job_run
SHORT_TASK = "auth.purge_expired_sessions"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chaos-template")
    path = folder / "template.sqlite"
    migrate(path, folder)
    return path


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box.handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.hostname, controller.port
    finally:
        controller.stop()


@pytest.fixture
def chaos(tmp_path, template_db, mailbox):
    box, host, port = mailbox
    harness = Harness(tmp_path, template_db, box, host, port)
    try:
        yield harness
    finally:
        harness.close()


def _sent_once_each(h: Harness, emails: list[str]) -> bool:
    return h.db.statuses() == {"sent": len(emails)} and all(h.mailbox.count(e) >= 1 for e in emails)


# --- settings ---------------------------------------------------------------------------------------------------------

def _config_values(envs: list[dict[str, str]], tmp_path) -> list[dict]:
    """The timing settings as fresh processes read them from config.py and worker.tasks, one per environment (run
    side by side)."""
    import json

    code = ("import json, config\n"
            "from worker.tasks import send_notification as t\n"
            "from crm.notifications import services as s\n"
            "c = config.Config.CELERY\n"
            "print(json.dumps({'visibility': c['broker_transport_options']['visibility_timeout'],\n"
            "  'time_limit': c['task_time_limit'], 'backoff': t.retry_backoff, 'backoff_max': t.retry_backoff_max,\n"
            "  'max_retries': t.max_retries, 'lease': s.CLAIM_LEASE.total_seconds(),\n"
            "  'requeue': s.REQUEUE_AFTER.total_seconds(), 'mail_timeout': config.Config.MAIL_TIMEOUT}))")
    procs = []
    for i, env in enumerate(envs):
        env = {**env, "REDIS_URL": "redis://127.0.0.1:1/0", "CRM_CONFIG": "development",
               "CRM_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / f'unused{i}.sqlite'}"}
        procs.append(subprocess.Popen([PYTHON, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    values = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        values.append(json.loads(out.strip().splitlines()[-1]))
    return values


def _assert_ordered(v: dict) -> None:
    # a retry waiting for its countdown, or a task still running, is never handed out again by Redis (R1, RM-3)
    assert v["backoff_max"] < v["visibility"]
    assert v["time_limit"] < v["visibility"]
    # a live send is never retaken as a dead one; an SMTP reply never outwaits the hard limit
    assert v["time_limit"] < v["lease"]
    assert v["mail_timeout"] < v["time_limit"]


def test_shipped_timing_keeps_retries_inside_the_visibility_timeout(tmp_path):
    """On the real config (no overrides in the environment): retry backoff max < visibility timeout, and the other
    orderings the exactly-once design rests on. The chaos timings keep the same order, and do reach the worker."""
    shipped, chaos = _config_values([clean_env(), clean_env(**TIMING)], tmp_path)
    assert shipped == {"visibility": 3600, "time_limit": 240, "backoff": 30, "backoff_max": 600, "max_retries": 4,
                       "lease": 600.0, "requeue": 300.0, "mail_timeout": 20}
    _assert_ordered(shipped)
    assert chaos == {"visibility": 10, "time_limit": 4, "backoff": 1, "backoff_max": 4, "max_retries": 4,
                     "lease": 5.0, "requeue": 2.0, "mail_timeout": 2}
    _assert_ordered(chaos)


# --- AV-5: a forked pool process has connections of its own -----------------------------------------------------------

def test_a_forked_worker_process_does_not_reuse_the_parents_connections():
    """AV-5: Celery forks its pool processes from a parent that may hold pooled database connections; a socket
    shared by two processes corrupts both conversations (PostgreSQL). worker_process_init disposes the inherited
    pool in the child. Without the handler the child checks out the very connection object of the parent."""
    from celery.signals import worker_process_init

    import worker
    from crm.extensions import db

    with worker.flask_app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            parent_connection = conn.connection.dbapi_connection

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave at once (no pytest teardown in here)
        try:
            os.close(read)
            worker_process_init.send(sender=None)
            with worker.flask_app.app_context(), db.engine.connect() as conn:
                same = conn.connection.dbapi_connection is parent_connection
                os.write(write, b"same" if same else b"new")
        except BaseException as exc:  # noqa: BLE001
            os.write(write, repr(exc).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as answer:
            report = answer.read()
    finally:
        os.waitpid(pid, 0)
    assert report == b"new"
    # the parent's own connection was left open for the parent (dispose(close=False) in the child)
    with worker.flask_app.app_context(), db.engine.connect() as conn:
        assert conn.connection.dbapi_connection is parent_connection
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


# --- RM-5: the worker killed mid-send --------------------------------------------------------------------------------

@services
def test_a_send_killed_after_its_claim_is_sent_exactly_once_after_recovery(chaos):
    """RM-5 (a): the pool process dies (SIGKILL) after committing the claim, before SMTP. Celery may requeue the
    task at once (reject_on_worker_lost; when billiard notices the death late, the hard time limit acks it instead),
    and a redelivery finds the row held by the dead claim and does nothing; once the lease has passed, the sweep's
    recovery (`recoverable`) queues it again and `_claim` retakes it: exactly one email. Without the lease retake or
    the recovery pass the row stays 'sending' and nothing arrives."""
    h = chaos
    emails = h.db.seed_officers(3, prefix="rm5a-")
    h.redis.start()
    once = h.tmp / "crashed-after-claim"
    worker = h.start_worker(CRM_TEST_CRASH_AT="after_claim", CRM_TEST_CRASH_ONCE_FILE=str(once))
    pool_before = worker.pool()
    started = time.monotonic()
    h.sweep()
    wait_until(once.exists, 20, tick=worker.alive, what="the crash hook to fire")
    wait_until(lambda: "WorkerLostError" in worker.text() or "SIGKILL" in worker.text(), 10,
               what=lambda: f"the worker to see its process die:\n{h.logs()}")
    assert set(worker.pool()) != set(pool_before)  # a pool process died and was replaced
    # the two others go out; the dead claim holds its row (no sweep has run since)
    wait_until(lambda: h.db.statuses() == {"sent": 2, "sending": 1}, 10, tick=worker.alive,
               what=lambda: f"two sent, one held: {h.db.rows()}")
    crashed = [r for r in h.db.rows() if r["status"] == "sending"]
    assert h.mailbox.count(crashed[0]["email"]) == 0

    wait_until(lambda: _sent_once_each(h, emails), 40, tick=h.beat(),
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    recovered_after = time.monotonic() - started
    _quiet_sweeps(h)
    assert h.mailbox.per_recipient() == {e: 1 for e in emails}
    row = h.db.by_email()[crashed[0]["email"]]
    assert (row["status"], row["attempts"], row["possible_duplicate"]) == ("sent", 2, False)
    assert recovered_after >= int(TIMING["CRM_CLAIM_LEASE_SECONDS"])  # retaken only after the lease
    assert all(h.db.by_email()[e]["attempts"] == 1 for e in emails if e != row["email"])


def _quiet_sweeps(h: Harness, seconds: float = 2.5) -> None:
    """A few more sweeps after the last delivery, and time for whatever they would queue: nothing more arrives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        h.sweep()
        time.sleep(0.5)
    time.sleep(1)


@services
def test_a_send_killed_after_the_server_accepted_gives_at_most_one_flagged_duplicate(chaos):
    """RM-5 (b): the pool process dies after the SMTP server's 250 and before the row is marked sent. SMTP cannot be
    exactly-once across that gap; the recovery sends it again, at most once more, with the same Message-ID (fixed
    on the row before the first hand-over), and the row says a duplicate is possible. The other reminders arrive
    once and are not flagged."""
    h = chaos
    emails = h.db.seed_officers(3, prefix="rm5b-")
    h.redis.start()
    once = h.tmp / "crashed-after-smtp"
    worker = h.start_worker(CRM_TEST_CRASH_AT="after_smtp", CRM_TEST_CRASH_ONCE_FILE=str(once))
    h.sweep()
    wait_until(once.exists, 20, tick=worker.alive, what="the crash hook to fire")
    wait_until(lambda: _sent_once_each(h, emails), 40, tick=h.beat(),
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    _quiet_sweeps(h)
    rows = h.db.by_email()
    (crashed,) = [r for r in rows.values() if r["attempts"] == 2]
    copies = h.mailbox.to(crashed["email"])
    assert 1 <= len(copies) <= 2
    assert {m["Message-ID"] for m in copies} == {crashed["message_id"]}
    assert crashed["status"] == "sent" and crashed["possible_duplicate"] is True
    others = [r for r in rows.values() if r is not crashed]
    assert all(r["attempts"] == 1 and not r["possible_duplicate"] and h.mailbox.count(r["email"]) == 1
               for r in others)
    assert len({m["Message-ID"] for m in h.mailbox.messages}) == 3


@services
def test_a_worker_main_process_killed_with_tasks_running_and_reserved_loses_and_doubles_nothing(chaos):
    """RM-5 with the main process killed (SIGKILL, OOM-style) while two sends run and two more wait reserved in it
    (RM-13: prefetch 2 per process here, to have some). Redis gives unacknowledged messages back only after the
    visibility timeout, and the claims of the killed sends hold their rows until the lease ends; a new worker and
    the sweep's recovery deliver every reminder: none lost, and a reminder whose copy the server may have accepted
    before the kill comes at most twice, with one Message-ID, flagged. The held messages, handed out again after
    the visibility timeout, find their rows sent and do nothing."""
    h = chaos
    emails = h.db.seed_officers(6, prefix="rm13-")
    h.redis.start()
    h.mailbox.delay = 1.0  # each accepted message takes a second: the kill finds sends running
    first = h.start_worker(prefetch=2)
    h.sweep()
    wait_until(lambda: len(h.mailbox.data_events(reply="start")) >= 2 and _received(first.text()) >= 4, 20,
               tick=first.alive, what=lambda: f"two sends running and more reserved:\n{h.logs()}")
    first.kill()  # SIGKILL to the main process and its pool at once
    h.mailbox.delay = 0
    killed_at = time.monotonic()
    held = set(re.findall(r"Task notifications\.send\[([0-9a-f-]+)\] received", first.text())) - \
        set(re.findall(r"Task notifications\.send\[([0-9a-f-]+)\] succeeded", first.text()))
    assert len(held) >= 3, first.text()  # running and reserved, unacknowledged when the worker died
    second = h.start_worker()
    wait_until(lambda: h.db.statuses() == {"sent": 6}, 60, tick=h.beat(),
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    recovered = time.monotonic() - killed_at
    # The messages the dead worker held are handed out again once the visibility timeout has passed; kombu looks
    # for them when a worker starts (and then only every 100 s): a worker started after the timeout gets them, and
    # they find their rows sent and do nothing.
    time.sleep(max(0.0, killed_at + int(TIMING["REDIS_VISIBILITY_TIMEOUT"]) + 0.5 - time.monotonic()))
    third = h.start_worker()

    def redelivered() -> set[str]:
        # 'none' as a rule; 'sent' when the machine is slow enough that the second worker started after the
        # visibility timeout and the held message itself took its row before the sweep's recovery did
        return set(re.findall(r"Task notifications\.send\[([0-9a-f-]+)\] succeeded in [0-9.e-]+s: '(?:none|sent)'",
                              second.text() + third.text()))

    wait_until(lambda: held <= redelivered(), 20, interval=0.3, tick=third.alive,
               what=lambda: f"the held messages {held} to be redelivered:\n{h.logs()}")
    _quiet_sweeps(h)
    per = h.mailbox.per_recipient()
    assert set(per) == set(emails) and all(1 <= n <= 2 for n in per.values()), per
    rows = h.db.by_email()
    for email, n in per.items():
        copies = {m["Message-ID"] for m in h.mailbox.to(email)}
        assert copies == {rows[email]["message_id"]}
        if n == 2:
            assert rows[email]["possible_duplicate"] is True
    assert recovered < 40


def _received(log: str) -> int:
    """Send tasks the worker took from the queue (running or reserved)."""
    return len(re.findall(r"Task notifications\.send\[[0-9a-f-]+\] received", log))


# --- RM-7, RM-8: SMTP failures through the real worker ----------------------------------------------------------------

@services
def test_smtp_refusing_three_times_then_accepting_gives_one_email_after_growing_waits(chaos):
    """RM-7: the server answers 451 three times. Celery's autoretry (autoretry_for, retry_backoff, max_retries)
    brings the send back with no sweep at all; the row counts 4 attempts and its scheduled retries wait 1, 2 and
    4 s (exponential, capped); Celery's jittered countdowns stay under those caps; exactly one email."""
    h = chaos
    (email,) = h.db.seed_officers(1, prefix="rm7-")
    h.db.log_retries()
    h.mailbox.refuse = 3
    h.redis.start()
    worker = h.start_worker()
    h.sweep()  # one sweep only: the retries are the send task's own
    wait_until(lambda: h.db.statuses() == {"sent": 1}, 30, tick=worker.alive,
               what=lambda: f"the reminder sent: {h.db.rows()}\n{h.logs()}")
    time.sleep(1)
    assert h.mailbox.count(email) == 1
    row = h.db.by_email()[email]
    assert (row["status"], row["attempts"]) == ("sent", 4)
    assert "451" in row["last_error"]
    retries = h.db.retries()
    assert [a for _id, a, _wait in retries] == [1, 2, 3]
    waits = [wait for _id, _a, wait in retries]
    backoff, cap = int(TIMING["CRM_RETRY_BACKOFF_SECONDS"]), int(TIMING["CRM_RETRY_BACKOFF_MAX_SECONDS"])
    for wait, expected in zip(waits, [min(cap, backoff * 2 ** i) for i in range(3)], strict=True):
        assert expected - 1 < wait <= expected, waits  # the wait is counted from the try's start
    assert waits == sorted(waits) and waits[0] < waits[-1]
    # at the server: three refusals then one acceptance, each try within its cap of the one before
    tries = [(at, code) for at, code in h.mailbox.data_events(email) if code != "start"]
    assert [code for _at, code in tries] == ["451", "451", "451", "250"]
    gaps = [b[0] - a[0] for a, b in zip(tries, tries[1:], strict=False)]
    assert all(gap <= min(cap, backoff * 2 ** i) + 2.5 for i, gap in enumerate(gaps)), gaps
    assert worker.text().count("Retry in") == 3


@services
def test_permanent_rejections_fail_at_once_while_temporary_ones_are_retried_alone(chaos):
    """RM-8: eight reminders; the server rejects two recipients for good (550 at RCPT) and refuses the first three
    messages (451). The two are 'failed' after one try and never asked for again; the refused ones are retried
    alone; each of the six others gets exactly one email."""
    h = chaos
    emails = h.db.seed_officers(8, prefix="rm8-")
    rejected, good = emails[:2], emails[2:]
    h.mailbox.reject.update(rejected)
    h.mailbox.refuse = 3
    h.redis.start()
    worker = h.start_worker()
    h.sweep()
    wait_until(lambda: h.db.statuses() == {"sent": 6, "failed": 2}, 30, tick=worker.alive,
               what=lambda: f"six sent and two failed: {h.db.rows()}\n{h.logs()}")
    time.sleep(int(TIMING["CRM_RETRY_BACKOFF_MAX_SECONDS"]) + 1)  # longer than any retry would wait
    rows = h.db.by_email()
    for email in rejected:
        assert (rows[email]["status"], rows[email]["attempts"]) == ("failed", 1)
        assert "550" in rows[email]["last_error"]
        assert h.mailbox.rcpt_events(email) == ["550"]  # asked once, never again
        assert h.mailbox.count(email) == 0
    assert h.mailbox.per_recipient() == {e: 1 for e in good}
    assert sum(rows[e]["attempts"] for e in good) == 6 + 3  # the three refusals were tried again, nothing else
    assert len(h.mailbox.data_events(reply="451")) == 3 and len(h.mailbox.data_events(reply="250")) == 6


# --- RM-9: a hanging SMTP server --------------------------------------------------------------------------------------

@services
def test_a_hanging_smtp_server_times_out_the_send_and_frees_the_worker(chaos):
    """RM-9: the server never answers DATA. MAIL_TIMEOUT (2 s here) ends the try with an error recorded on the row;
    the only worker process is free again, so a short unrelated task queued behind it finishes within 5 s; the
    send task retries by itself and the email arrives once. Without the SMTP time-out the send would hold the
    process until the hard time limit killed it, with no error recorded and no retry."""
    h = chaos
    (email,) = h.db.seed_officers(1, prefix="rm9-")
    h.mailbox.hang = 1
    h.redis.start()
    worker = h.start_worker(concurrency=1)
    h.sweep()
    wait_until(lambda: h.mailbox.data_events(email, "start"), 20, tick=worker.alive,
               what=lambda: f"the send to reach DATA:\n{h.logs()}")
    queued = time.monotonic()
    h.send_task(SHORT_TASK)
    wait_until(lambda: any(r["outcome"] == "ok" for r in h.db.job_runs(SHORT_TASK)), 10,
               interval=0.1, tick=worker.alive, what=lambda: f"the short task to finish:\n{h.logs()}")
    assert time.monotonic() - queued < 5
    wait_until(lambda: h.db.statuses() == {"sent": 1}, 20, tick=worker.alive,
               what=lambda: f"the retry to send it: {h.db.rows()}\n{h.logs()}")
    row = h.db.by_email()[email]
    assert row["attempts"] == 2 and h.mailbox.count(email) == 1
    assert "timed out" in row["last_error"].lower() or "disconnected" in row["last_error"].lower(), row
    assert "TimeLimitExceeded" not in worker.text()


@services
def test_the_hard_time_limit_frees_the_worker_when_the_smtp_timeout_is_too_long(chaos):
    """RM-9, second guard: with an SMTP time-out longer than the task's hard limit (misconfigured), the hard
    task_time_limit (4 s here) kills the stuck pool process; the short task still runs, and the claim left behind is
    recovered after its lease by the sweep: one email, flagged as a possible duplicate since the server had the
    message in hand when the try was cut off."""
    h = chaos
    (email,) = h.db.seed_officers(1, prefix="rm9b-")
    h.mailbox.hang = 1
    h.redis.start()
    worker = h.start_worker(concurrency=1, MAIL_TIMEOUT="60")
    h.sweep()
    wait_until(lambda: h.mailbox.data_events(email, "start"), 20, tick=worker.alive,
               what=lambda: f"the send to reach DATA:\n{h.logs()}")
    queued = time.monotonic()
    h.send_task(SHORT_TASK)
    wait_until(lambda: any(r["outcome"] == "ok" for r in h.db.job_runs(SHORT_TASK)), 15,
               interval=0.1, tick=worker.alive, what=lambda: f"the short task to finish:\n{h.logs()}")
    assert time.monotonic() - queued < int(TIMING["CRM_TASK_TIME_LIMIT"]) + 3
    assert "TimeLimitExceeded" in worker.text()
    wait_until(lambda: h.db.statuses() == {"sent": 1}, 30, tick=h.beat(),
               what=lambda: f"the recovery to send it: {h.db.rows()}\n{h.logs()}")
    row = h.db.by_email()[email]
    assert row["attempts"] == 2 and h.mailbox.count(email) == 1 and row["possible_duplicate"] is True


# --- AV-1, AV-3: Redis down, Redis emptied ----------------------------------------------------------------------------

@services
@pytest.mark.parametrize("persistent", [False, True], ids=["no-persistence", "aof"])
def test_send_tasks_lost_with_redis_are_rebuilt_from_the_database(chaos, persistent):
    """AV-3: the sweep recorded five reminders and queued their sends, no worker running; Redis is killed and
    restarted. Without persistence the queue is empty: the sweep's recovery pass (pending rows past their time)
    queues them again. With AOF the messages survive, and the recovery's extra copies do nothing. Either way each
    reminder arrives exactly once."""
    h = chaos
    emails = h.db.seed_officers(5, prefix="av3-")
    h.redis.start(persistent=persistent)
    h.run_sweep_here()
    assert h.db.statuses() == {"pending": 5}
    assert h.redis.queue_length() == 5
    h.redis.restart()
    assert h.redis.queue_length() == (5 if persistent else 0)
    h.reset_sender()
    h.start_worker()
    wait_until(lambda: _sent_once_each(h, emails), 40, tick=h.beat(),
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    _quiet_sweeps(h)
    assert h.mailbox.per_recipient() == {e: 1 for e in emails}
    assert all(r["attempts"] == 1 for r in h.db.rows())


def _csrf(html: str) -> str:
    return re.search(r'name="csrf[-_]token"[^>]*(?:value|content)="([^"]+)"', html).group(1)


@services
def test_the_web_app_works_with_redis_down_and_due_reminders_go_out_once_it_is_back(chaos):
    """AV-1 (and AV-2): Redis is killed while the web app runs and a sweep is due. Sign-in, the dashboard and the
    reminders pages answer within 2 s, and a manager's resend of a failed reminder returns at once (queued off the
    request, R4: its publish waits for Redis in a thread of its own, and the sweep's recovery queues the row again
    if that publish is lost). Redis comes back empty; the same worker reconnects, and the sweeps deliver every due
    reminder and the resent one, each exactly once."""
    h = chaos
    (failed_email,) = h.db.seed_officers(1, prefix="av1-x")
    h.db.seed_user("boss@test.zone", role="manager", password="a long enough password")
    h.redis.start()
    h.start_web()
    worker = h.start_worker()
    h.mailbox.reject.add(failed_email)
    h.sweep()
    # the officer's row (a manager's own reminders, e.g. the weekly report on a Friday, are not this test's business)
    wait_until(lambda: h.db.by_email().get(failed_email, {}).get("status") == "failed", 20, tick=worker.alive,
               what=lambda: f"the first reminder to fail: {h.db.rows()}\n{h.logs()}")
    failed_id = h.db.by_email()[failed_email]["id"]
    h.mailbox.reject.clear()
    due = h.db.seed_officers(3, prefix="av1-due")  # due at the next sweep, which cannot come while Redis is down

    h.redis.kill()
    h.reset_sender()
    web = requests.Session()

    def timed(method: str, path: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        response = web.request(method, h.web.url + path, timeout=5, allow_redirects=False, **kwargs)
        assert time.monotonic() - started < 2, f"{method} {path} took {time.monotonic() - started:.1f}s"
        return response

    login = timed("GET", "/login")
    assert login.status_code == 200
    signed_in = timed("POST", "/login", data={"csrf_token": _csrf(login.text), "email": "boss@test.zone",
                                              "password": "a long enough password", "next": ""})
    assert signed_in.status_code == 302, signed_in.text[:500]
    assert timed("GET", "/").status_code == 200
    assert timed("GET", "/notifications/").status_code == 200
    page = timed("GET", f"/notifications/{failed_id}")
    assert page.status_code == 200
    resent = timed("POST", f"/notifications/{failed_id}/resend", data={"csrf_token": _csrf(page.text)})
    assert resent.status_code == 302, resent.text[:500]
    assert h.db.by_email()[failed_email]["status"] == "pending"
    assert timed("GET", f"/notifications/{failed_id}").status_code == 200
    time.sleep(1)
    assert h.mailbox.count(failed_email) == 0 and worker.alive()

    h.redis.start()  # back, and empty
    wait_until(lambda: _sent_once_each(h, [failed_email, *due]), 60, tick=h.beat(),
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    _quiet_sweeps(h)
    officers = [failed_email, *due]
    # the manager who signed in may get the managers' own reminders (the weekly report on a Friday evening, say)
    assert {e: n for e, n in h.mailbox.per_recipient().items() if e in officers} == {e: 1 for e in officers}
    assert worker.text().count("Connected to redis://") >= 2  # the same worker, reconnected


# --- AV-7: a deploy stops the worker ----------------------------------------------------------------------------------

@services
def test_sigterm_with_sends_running_and_reserved_loses_and_doubles_nothing(chaos):
    """AV-7: SIGTERM (a deploy) while two sends are running and two more are reserved by the worker. The running
    ones finish (warm shutdown), the reserved ones go back to the queue at once (not after the visibility timeout,
    60 s in this test), and a new worker sends them, with no sweep's help: every email exactly once."""
    h = chaos
    emails = h.db.seed_officers(6, prefix="av7-")
    h.redis.start()
    h.mailbox.delay = 1.5
    slow = {"MAIL_TIMEOUT": "3", "REDIS_VISIBILITY_TIMEOUT": "60"}
    first = h.start_worker(prefetch=2, **slow)
    h.sweep()
    wait_until(lambda: len(h.mailbox.data_events(reply="start")) >= 2 and _received(first.text()) >= 4, 20,
               tick=first.alive, what=lambda: f"two sends running and more reserved:\n{h.logs()}")
    stopped_at = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait_exit(20) == 0
    assert "Warm shutdown" in first.text()
    assert re.search(r"Restoring [1-9]\d* unacknowledged message", first.text()), first.text()
    h.start_worker(**slow)
    wait_until(lambda: h.db.statuses() == {"sent": 6}, 30, tick=h.workers[-1].alive,
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    assert time.monotonic() - stopped_at < 30
    time.sleep(1)
    assert h.mailbox.per_recipient() == {e: 1 for e in emails}
    assert all(r["attempts"] == 1 and not r["possible_duplicate"] for r in h.db.rows())
