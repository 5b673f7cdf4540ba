"""More chaos tests for the reminders on the harness of tests/notifications/chaos.py (real redis-server, celery and
gunicorn subprocesses, a recording SMTP server): RM-13, short sends are not held behind a long one on a 2-process
worker, and a worker killed with tasks reserved loses and doubles nothing; AV-5, every PostgreSQL backend of a warm
web app and worker terminated (what a server restart does to them), after which pages and sends work at once.

AV-5 runs on a PostgreSQL database of its own (CHAOS_PG_URL, default crm_test_chaos2 on 127.0.0.1), created when
missing and migrated afresh, whatever TEST_DATABASE_URL says: the PostgreSQL pass of `make test` leaves out the
`services` tests, and the SQLite pass that runs them has no TEST_DATABASE_URL. It is skipped off CI when no
PostgreSQL answers.
"""
import math
import os
import re
import time
from urllib.parse import urlsplit

import pytest
import requests
from aiosmtpd.controller import Controller

from ..conftest import need, port_open
from .chaos import (
    Harness,
    PgHarness,
    TarpitMailbox,
    migrate,
    prepare_postgres,
    start_worker_with,
    task_ids,
    unacked_deliveries,
    wait_until,
)
from .conftest import free_port

services = pytest.mark.services

CHAOS_PG_URL = os.environ.get("CHAOS_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/crm_test_chaos2")


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chaos-more-template")
    path = folder / "template.sqlite"
    migrate(path, folder)
    return path


@pytest.fixture
def mailbox():
    box = TarpitMailbox()
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


@pytest.fixture
def pg_chaos(tmp_path, mailbox):
    parts = urlsplit(CHAOS_PG_URL.replace("+psycopg", ""))
    need(port_open(parts.hostname or "127.0.0.1", parts.port or 5432), "PostgreSQL is not running")
    box, host, port = mailbox
    harness = PgHarness(tmp_path, prepare_postgres(CHAOS_PG_URL, tmp_path), box, host, port)
    try:
        yield harness
    finally:
        harness.close()


def _quiet_sweeps(h: Harness, seconds: float = 2.5) -> None:
    """A few more sweeps after the last delivery, and time for whatever they would queue: nothing more arrives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        h.sweep()
        time.sleep(0.5)
    time.sleep(1)


def _rows_of(h: Harness, emails: list[str]) -> dict[str, dict]:
    """The reminder rows of these officers (one each: their task's digest), by address. Rows of other kinds for other
    users (a manager's weekly ones) are not this test's business."""
    rows = [r for r in h.db.rows() if r["email"] in emails]
    assert len({r["email"] for r in rows}) == len(rows), rows
    return {r["email"]: r for r in rows}


def _all_sent(h: Harness, emails: list[str]) -> bool:
    rows = _rows_of(h, emails)
    return len(rows) == len(emails) and all(r["status"] == "sent" for r in rows.values())


def _each_once_with_its_message_id(h: Harness, emails: list[str]) -> dict[str, dict]:
    """Every address got exactly one copy, carrying the Message-ID its row recorded; returns the rows."""
    assert {e: n for e, n in h.mailbox.per_recipient().items() if e in emails} == {e: 1 for e in emails}
    rows = _rows_of(h, emails)
    assert set(rows) == set(emails) and all(r["status"] == "sent" for r in rows.values()), rows
    for email in emails:
        assert [m["Message-ID"] for m in h.mailbox.to(email)] == [rows[email]["message_id"]]
    assert len({r["message_id"] for r in rows.values()}) == len(emails)
    return rows


# --- RM-13: prefetch and fairness on 2 cores -------------------------------------------------------------------------

#: the long send: the server holds its RCPT TO this long (seconds), longer than the 5 s the short ones may wait,
#: so a short one queued behind it would fail the latency check
LONG_SEND = 7.0
#: timings for a worker whose sends may take LONG_SEND, in the order production keeps (chaos.TIMING's, stretched):
#: SMTP reply < hard task limit < claim lease < visibility timeout
LONG_TIMING = {"MAIL_TIMEOUT": "8", "CRM_TASK_TIME_LIMIT": "9", "CRM_CLAIM_LEASE_SECONDS": "10",
               "REDIS_VISIBILITY_TIMEOUT": "11"}
FAIR = ["-O", "fair"]


def _p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


@services
def test_short_sends_pass_a_long_one_and_a_kill_with_tasks_reserved_loses_and_doubles_nothing(chaos):
    """RM-13 on a worker like production's on 2 cores: 2 processes, `-O fair` (the prefork pool's default in Celery
    5.5, named here so that it stays), prefetch 1 and acks_late (config.py), one queue for the sweep and the sends.

    A send the server holds for 7 s takes one process; 20 short sends queued behind it all start within 5 s (p95,
    from their queuing to their first contact with the server), on the other process, while the long one is still
    running. With fcfs scheduling instead (tried) the pool hands a short task to the busy process, the worker's 2
    messages (prefetch 1 x 2 processes) are then both unacknowledged, and it fetches nothing more until the long
    one ends: the shorts wait 6.9 s and more.

    Then 5 more sends, the server holding each: with prefetch 1 the worker holds 2 messages (unacknowledged, the
    two sends running, the long one still among them or not) and the others stay in Redis. The worker is killed
    (SIGKILL, main process and pool); a new one started once the visibility timeout has passed gets the 2 held
    messages back from Redis and the queued ones, and with no sweep's help every one of the 26 reminders arrives
    exactly once, with its row's Message-ID.
    """
    h = chaos
    (long_email,) = h.db.seed_officers(1, prefix="rm13-long-")
    h.mailbox.tarpit[long_email] = LONG_SEND
    h.redis.start()
    worker = start_worker_with(h, FAIR, concurrency=2, prefetch=1, **LONG_TIMING)
    h.sweep()
    wait_until(lambda: long_email in h.mailbox.held(), 15, tick=worker.alive,
               what=lambda: f"the long send to reach the server:\n{h.logs()}")

    shorts = h.db.seed_officers(20, prefix="rm13-short-")
    queued = time.time()
    h.sweep()
    wait_until(lambda: all(h.mailbox.count(e) for e in shorts), 15, interval=0.1, tick=worker.alive,
               what=lambda: f"the 20 short sends: {h.mailbox.per_recipient()}\n{h.logs()}")
    latencies = [h.mailbox.first_contact(e) - queued for e in shorts]
    assert _p95(latencies) < 5, sorted(latencies)
    # they went past the long one, which is still at the server, not ahead of it
    assert long_email in h.mailbox.held() and _rows_of(h, [long_email])[long_email]["status"] == "sending"

    wave = h.db.seed_officers(5, prefix="rm13-kill-")
    h.mailbox.tarpit.update(dict.fromkeys(wave, LONG_SEND))
    h.sweep()

    def two_held_the_rest_queued() -> bool:
        held = h.mailbox.held() & {long_email, *wave}
        return len(held) == 2 and len(unacked_deliveries(h.redis)) == 2 and \
            h.redis.queue_length() == len(wave) - len(held & set(wave))

    wait_until(two_held_the_rest_queued, 10, interval=0.1, tick=worker.alive,
               what=lambda: f"two sends held and the rest queued: held {h.mailbox.held()}, "
                            f"unacked {unacked_deliveries(h.redis)}, queued {h.redis.queue_length()}\n{h.logs()}")
    handed_out = unacked_deliveries(h.redis)
    worker.kill()
    h.mailbox.tarpit.clear()
    reserved = task_ids(worker.text(), "received") - task_ids(worker.text(), "succeeded")
    assert len(reserved) == 2, worker.text()
    assert len(unacked_deliveries(h.redis)) == 2  # a killed worker acknowledges nothing
    assert not set(h.mailbox.per_recipient()) & set(wave)

    # Redis gives a message back once it is older than the visibility timeout; kombu looks for such messages when a
    # worker starts (then only every 100 s): the new worker starts after that
    visibility = int(LONG_TIMING["REDIS_VISIBILITY_TIMEOUT"])
    time.sleep(max(0.0, max(handed_out) + visibility + 0.5 - time.time()))
    second = start_worker_with(h, FAIR, concurrency=2, prefetch=1, **LONG_TIMING)
    everyone = [long_email, *shorts, *wave]
    wait_until(lambda: _all_sent(h, everyone), 20, tick=second.alive,
               what=lambda: f"every reminder sent: {h.db.rows()}\n{h.logs()}")
    assert reserved <= task_ids(second.text(), "received")  # the held messages came back to the new worker
    wait_until(lambda: not unacked_deliveries(h.redis) and h.redis.queue_length() == 0, 5,
               what="the held messages to be acknowledged")
    _quiet_sweeps(h)
    rows = _each_once_with_its_message_id(h, everyone)
    killed = {e for e in [long_email, *wave] if rows[e]["attempts"] == 2}
    assert len(killed) == 2, rows  # the two sends the kill cut short, each claimed again once its lease had passed
    assert all(rows[e]["attempts"] == 1 and not rows[e]["possible_duplicate"] for e in set(everyone) - killed)


# --- AV-5: PostgreSQL backends terminated under a warm web app and worker --------------------------------------------

PAGES = ["/", "/notifications/", "/companies", "/notifications/settings", "/healthz"]


@services
def test_pages_and_sends_work_at_once_after_every_postgresql_backend_is_terminated(pg_chaos):
    """AV-5: gunicorn and a 2-process worker, both with pooled connections to PostgreSQL, see every one of their
    backends terminated (as `pg_ctl restart -m fast` does). The next 10 signed-in requests all answer 200 and one
    sweep's 10 reminders are each sent exactly once within 15 s, with no try lost to a dead connection: pool_pre_ping
    (config.py) replaces a dead pooled connection at checkout. Without it the first request of each process gets a
    500 ("server closed the connection unexpectedly"), and the sweep fails, so nothing is queued until the next one.
    """
    h = pg_chaos
    warm = h.db.seed_officers(1, prefix="av5-warm-")
    h.db.seed_user("boss@test.zone", role="manager", password="a long enough password")
    h.redis.start()
    h.start_web()
    worker = h.start_worker()
    web = requests.Session()
    login = web.get(f"{h.web.url}/login", timeout=10)
    signed_in = web.post(f"{h.web.url}/login", allow_redirects=False, timeout=10,
                         data={"csrf_token": _csrf(login.text), "email": "boss@test.zone",
                               "password": "a long enough password", "next": ""})
    assert signed_in.status_code == 302, signed_in.text[:500]
    for path in PAGES:  # the web app's pool holds live connections
        assert web.get(h.web.url + path, timeout=10).status_code == 200, path
    h.sweep()  # and so do the worker's pool processes, after a sweep and a send
    wait_until(lambda: _all_sent(h, warm), 15, tick=worker.alive,
               what=lambda: f"the warm-up reminder: {h.db.rows()}\n{h.logs()}")

    live = h.db.backends()
    assert live >= 2  # the web app's and the worker's
    ended = h.db.terminate_backends()
    assert len(ended) >= live  # and an autovacuum worker's, should one be at work there
    # Only the ended ones are awaited: a process that opens a new connection meanwhile is no fault, and on a loaded
    # machine an ended backend may take a few seconds to exit.
    wait_until(lambda: not h.db.still_running(ended), 20,
               what=lambda: f"the terminated backends to be gone: {h.db.still_running(ended)} still running")

    due = h.db.seed_officers(10, prefix="av5-")
    started = time.monotonic()
    h.sweep()
    for i in range(10):
        path = PAGES[i % len(PAGES)]
        response = web.get(h.web.url + path, timeout=10, allow_redirects=False)
        assert response.status_code == 200, f"request {i + 1} {path}: {response.status_code}\n{response.text[:300]}"
    wait_until(lambda: _all_sent(h, [*warm, *due]), max(0.0, 15 - (time.monotonic() - started)), interval=0.1,
               tick=worker.alive, what=lambda: f"the 10 reminders sent: {h.db.rows()}\n{h.logs()}")
    assert time.monotonic() - started < 15
    time.sleep(1)
    rows = _each_once_with_its_message_id(h, [*warm, *due])
    assert all(r["attempts"] == 1 and not r["possible_duplicate"] and r["last_error"] is None for r in rows.values())
    assert [r["outcome"] for r in h.db.job_runs("notifications.sweep")] == ["ok", "ok"]
    assert "OperationalError" not in worker.text()
    assert h.db.backends() >= 2  # the web app and the worker connected again


def _csrf(html: str) -> str:
    return re.search(r'name="csrf[-_]token"[^>]*(?:value|content)="([^"]+)"', html).group(1)
