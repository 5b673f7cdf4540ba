"""Where the reminders' time goes, in this process, on the database bench/reminders.py seeded (run it first, with
--keep on PostgreSQL).

    python bench/profile_reminders.py [--db sqlite|postgres] --part send [--sends 300] [--top 30]
    python bench/profile_reminders.py [--db sqlite|postgres] --part sweep [--runs 7] [--top 30]

`--part sweep`: `services.sweep(moment)` on an empty log, timed per repetition with its SQL (statements and their
time, from engine events) and each kind's `find`, then once more under cProfile.

`--part send`: `services.send` to the same kind of SMTP sink (bench/smtp_sink.py, its own process). It sweeps the
bench's moment (and the days before it) until --sends rows are recorded, sends the first 20 untimed, then sends the
rest one by one as a worker's task does (`writing()`, then `services.send`), timing per send: the whole call, SQL
(statements, commits and their time), the claim, rendering (`services.render`), building the message, the SMTP
hand-over (`mail.deliver`: connect, EHLO, flatten, MAIL, RCPT, DATA, QUIT). Then the same sends again (fresh rows)
under cProfile, with the top functions by cumulative time. The notification log is emptied at the end.
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import reminders  # noqa: E402


class Timer:
    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    @contextmanager
    def part(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - started
            self.counts[name] += 1


def wrap(module, name: str, timer: Timer, label: str):
    original = getattr(module, name)

    def timed(*args, **kwargs):
        with timer.part(label):
            return original(*args, **kwargs)

    setattr(module, name, timed)
    return original


class SqlTimer:
    """Statements, their time (cursor execute) and commits with their time (the DBAPI commit: a WAL flush on
    PostgreSQL), from engine events and a wrapped `Connection._commit_impl`."""

    def __init__(self, engine):
        from sqlalchemy import event
        from sqlalchemy.engine import Connection

        self.reset()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        original = Connection._commit_impl

        def commit_impl(conn):
            started = time.perf_counter()
            try:
                return original(conn)
            finally:
                self.commits += 1
                self.commit_seconds += time.perf_counter() - started

        Connection._commit_impl = commit_impl

    def reset(self) -> None:
        self.n, self.seconds, self.commits, self.commit_seconds = 0, 0.0, 0, 0.0

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.n += 1
        self.seconds += time.perf_counter() - conn.info["started"].pop()

    def report(self, n: int, total: float, what: str) -> str:
        return (f"  SQL: {self.n / n:.1f} statements per {what}, {self.seconds / n * 1000:.1f} ms "
                f"({self.seconds / total:.0%}); {self.commits / n:.1f} commits, "
                f"{self.commit_seconds / n * 1000:.1f} ms "
                f"({self.commit_seconds / total:.0%})")


def top(profile: cProfile.Profile, count: int) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(count)
    return out.getvalue()


def profile_sweep(args, moment, url) -> None:
    from crm.core.database import writing
    from crm.extensions import db
    from crm.notifications import kinds, services

    sql = SqlTimer(db.engine)
    timer = Timer()
    for name, kind in list(kinds.KINDS.items()):  # each kind's find, timed (the generator drained by the sweep)
        def find(now, _find=kind.find, _name=name):
            with timer.part(f"find {_name} (drained)"):
                return list(_find(now))
        kinds.KINDS[name] = kind.__class__(name=kind.name, label=kind.label, find=find, compose=kind.compose)
    wrap(services, "_eligible", timer, "_eligible (active staff, opt-outs)")
    wrap(services, "_insert_new", timer, "_insert_new (INSERT ... ON CONFLICT DO NOTHING RETURNING)")
    per = []
    for rep in range(args.runs + 1):
        reminders._clear_log()
        if rep == 1:
            timer.totals.clear()
            sql.reset()
        started = time.perf_counter()
        with writing():
            ids = services.sweep(moment)
        db.session.remove()
        if rep:
            per.append(time.perf_counter() - started)
    total = sum(per)
    print(f"\n{args.runs} sweeps of {len(ids)} rows, {reminders.database_version(url)}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"  one sweep: median {statistics.median(per) * 1000:.1f} ms, max {max(per) * 1000:.1f} ms, "
          f"all {', '.join(f'{x * 1000:.0f}' for x in per)}")
    print(sql.report(args.runs, total, "sweep"))
    for name, seconds in timer.totals.items():
        print(f"  {name}: {seconds / args.runs * 1000:.1f} ms per sweep ({seconds / total:.0%})")
    reminders._clear_log()
    profile = cProfile.Profile()
    profile.enable()
    with writing():
        services.sweep(moment)
    profile.disable()
    db.session.remove()
    print(top(profile, args.top))
    reminders._clear_log()


def profile_send(args, moment, url) -> None:
    from crm.core.database import writing
    from crm.extensions import db
    from crm.notifications import mail, services

    sql = SqlTimer(db.engine)
    timer = Timer()
    wrap(services, "_claim", timer, "claim (_claim: read, UPDATE, commit)")
    wrap(services, "render", timer, "render (compose + both templates)")
    wrap(mail, "build_message", timer, "build the message (EmailMessage)")
    wrap(mail, "deliver", timer, "SMTP hand-over (mail.deliver: connect, flatten, send, QUIT)")

    def rows() -> list[int]:
        reminders._clear_log()
        return reminders._rows_for_sending(moment, args.sends)

    ids = rows()
    for notification_id in ids[:20]:  # warm-up
        with writing():
            services.send(notification_id)
        db.session.remove()
    timer.totals.clear()
    sql.reset()
    per_send, outcomes = [], defaultdict(int)
    for notification_id in ids[20:]:
        started = time.perf_counter()
        with writing():
            outcomes[services.send(notification_id)] += 1
        db.session.remove()
        per_send.append(time.perf_counter() - started)
    n = len(per_send)
    total = sum(per_send)
    print(f"\n{n} sends ({dict(outcomes)}), {reminders.database_version(url)}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"  one send: median {statistics.median(per_send) * 1000:.1f} ms, p95 "
          f"{reminders.percentile(per_send, 95) * 1000:.1f} ms, mean {total / n * 1000:.1f} ms")
    print(sql.report(n, total, "send"))
    for name, seconds in timer.totals.items():
        print(f"  {name}: {seconds / n * 1000:.1f} ms per send ({seconds / total:.0%})")

    ids = rows()
    profile = cProfile.Profile()
    for notification_id in ids[20:]:
        profile.enable()
        with writing():
            services.send(notification_id)
        db.session.remove()
        profile.disable()
    print(top(profile, args.top))
    reminders._clear_log()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--part", choices=("send", "sweep"), default="send")
    parser.add_argument("--officers", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    if args.tasks is None:
        args.tasks = 100_000 if args.db == "sqlite" else 1_000_000
    url, fresh = reminders.database_url(args.db, args.officers, args.tasks, reuse=True)
    facts = None if fresh else reminders.stored_facts(url)
    if facts is None:
        raise SystemExit("no bench database: run bench/reminders.py first (with --keep on PostgreSQL)")
    port = reminders.free_port()
    sink = reminders.SinkProcess(port)
    os.environ.update({"DATABASE_URL": url, "CRM_INSTANCE_DIR": tempfile.mkdtemp(prefix="crm-profile-"),
                       "CRM_CONFIG": "development", "CRM_TIMEZONE": reminders.ZONE, "CRM_DIGEST_TIME": "08:30",
                       "CRM_MEETING_REMINDER_MINUTES": "60", "CRM_BASE_URL": "https://crm.bench.local",
                       "MAIL_DEFAULT_SENDER": reminders.SENDER, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port),
                       "MAIL_USE_TLS": "false", "MAIL_USE_SSL": "false", "MAIL_USERNAME": ""})
    for name in ["REDIS_URL", *(n for n in os.environ if n.startswith("CRM_TEST_"))]:
        os.environ.pop(name, None)
    from crm import create_app
    from crm.extensions import db

    moment = datetime.fromisoformat(facts["moment"])
    app = create_app()
    try:
        with app.app_context():
            (profile_sweep if args.part == "sweep" else profile_send)(args, moment, url)
            db.session.remove()
            db.engine.dispose()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
