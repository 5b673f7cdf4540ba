"""Where the reminders' time goes, in this process, on the database bench/reminders.py seeded (run it first, with
--keep on PostgreSQL).

    python bench/profile_reminders.py [--db sqlite|postgres] --part send [--sends 300] [--top 30]
    python bench/profile_reminders.py [--db sqlite|postgres] --part sweep [--runs 7] [--top 30]
    python bench/profile_reminders.py [--db sqlite|postgres] --part insert [--runs 7]

`--part sweep`: `services.sweep(moment)` on an empty log, timed per repetition with its SQL (statements and their
time, from engine events) and each kind's `find`, then once more under cProfile.

`--part insert`: the sweep's writing step (`services._insert_new`) against two other ways to write the same rows
(see `profile_insert`).

`--part send`: `services.send` to the same kind of SMTP sink (bench/smtp_sink.py, its own process). It sweeps the
bench's moment (and the days before it) until --sends rows are recorded, sends the first 20 untimed, then sends the
rest one by one as a worker's task does (`services.send`), timing per send: the whole call, SQL
(statements, commits and their time), the claim, rendering (`services.render`), building the message, the SMTP
hand-over (`mail.deliver`: connect, EHLO, flatten, MAIL, RCPT, DATA; the connection is kept). Then the same sends
again (fresh rows) under cProfile, with the top functions by cumulative time.
The notification log is emptied at the end.
"""
import argparse
import cProfile
import io
import os
import pstats
import shutil
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
        self.active: set[str] = set()

    @contextmanager
    def part(self, name: str):
        if name in self.active:  # a recursive call (flatten of a sub-part) is inside the outer one's time
            yield
            return
        self.active.add(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.active.discard(name)
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
        self.statements: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - conn.info["started"].pop()
        self.n += 1
        self.seconds += elapsed
        entry = self.statements[" ".join(statement.split())[:150]]
        entry[0] += 1
        entry[1] += elapsed

    def slowest(self, n: int, count: int = 16) -> str:
        ranked = sorted(self.statements.items(), key=lambda kv: -kv[1][1])[:count]
        return "\n".join(f"    {seconds / n * 1000:6.2f} ms per run, {calls / n:4.1f}×: {sql}"
                         for sql, (calls, seconds) in ranked)

    def report(self, n: int, total: float, what: str) -> str:
        return (f"  SQL: {self.n / n:.1f} statements per {what}, {self.seconds / n * 1000:.1f} ms "
                f"({self.seconds / total:.0%}); {self.commits / n:.1f} commits, "
                f"{self.commit_seconds / n * 1000:.1f} ms "
                f"({self.commit_seconds / total:.0%})")


def top(profile: cProfile.Profile, count: int) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(count)
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
    print(sql.slowest(args.runs))
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


def profile_insert(args, moment, url) -> None:
    """The sweep's writing step three ways, on the rows a sweep of the moment records: `services._insert_new` as it is
    (ON CONFLICT DO NOTHING RETURNING id as one executemany: SQLAlchemy's insertmanyvalues batches it under a cached
    compiled form), the earlier form (one multi-row VALUES statement per 500 rows), and executemany without
    RETURNING (psycopg's pipeline; the ids would then be read back by key). Each new, then again with every key
    recorded (what the next minute's sweep would write, were its keys not filtered first)."""
    from sqlalchemy import select

    from crm.core.database import writing
    from crm.extensions import db
    from crm.notifications import services
    from crm.notifications.models import Notification

    table = Notification.__table__
    reminders._clear_log()
    with writing():
        services.sweep(moment)
    columns = [c for c in table.c if c.name in ("kind", "recipient_id", "object_type", "object_id", "period", "key",
                                                "context", "status", "attempts", "possible_duplicate",
                                                "next_attempt_at", "created_at", "updated_at")]
    rows = [dict(r._mapping) for r in db.session.execute(select(*columns))]
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    upsert = insert(table).on_conflict_do_nothing(index_elements=[table.c.key])

    def as_is() -> int:
        return len(services._insert_new(rows))

    def values_per_500() -> int:  # what _insert_new did before: a multi-row VALUES statement, compiled each time
        return sum(len(db.session.scalars(upsert.values(rows[i:i + 500]).returning(table.c.id)).all())
                   for i in range(0, len(rows), 500))

    def no_returning() -> int:
        return db.session.execute(upsert, rows).rowcount

    forms = (("services._insert_new (one executemany, RETURNING: insertmanyvalues)", as_is),
             ("VALUES per 500 rows, RETURNING (the earlier form)", values_per_500),
             ("executemany, no RETURNING", no_returning))
    times = {name: ([], []) for name, _ in forms}
    for rep in range(args.runs + 1):
        for name, form in forms:
            reminders._clear_log()
            for known in (False, True):
                started = time.perf_counter()
                with writing():
                    form()
                    db.session.commit()
                elapsed = time.perf_counter() - started
                db.session.remove()
                if rep:
                    times[name][known].append(elapsed)
    reminders._clear_log()
    print(f"\nwriting {len(rows)} rows, {args.runs} repetitions, {reminders.database_version(url)}, load average "
          f"{os.getloadavg()[0]:.2f}")
    for name, (new, known) in times.items():
        print(f"  {name}: new rows median {statistics.median(new) * 1000:.1f} ms (max {max(new) * 1000:.1f}); "
              f"every key recorded {statistics.median(known) * 1000:.1f} ms")


def profile_send(args, moment, url) -> None:
    from crm.extensions import db
    from crm.notifications import mail, services

    sql = SqlTimer(db.engine)
    timer = Timer()
    import smtplib
    from email.generator import BytesGenerator

    from crm.notifications import kinds

    wrap(services, "_claim", timer, "claim (_claim: UPDATE ... RETURNING, commit)")
    wrap(services, "render", timer, "render (compose + both templates)")
    for name, kind in list(kinds.KINDS.items()):
        def compose(*a, _compose=kind.compose, _name=name, **kw):
            with timer.part(f"  of which compose {_name} (records, links, words)"):
                return _compose(*a, **kw)
        kinds.KINDS[name] = kind.__class__(name=kind.name, label=kind.label, find=kind.find, compose=compose)
    wrap(services, "render_template", timer, "  of which the two templates (render_template)")
    wrap(mail, "build_message", timer, "build the message (email.mime)")
    wrap(mail, "deliver", timer, "SMTP hand-over (mail.deliver)")
    wrap(smtplib.SMTP, "connect", timer, "  of which connect (TCP + greeting)")
    wrap(smtplib.SMTP, "ehlo", timer, "  of which EHLO")
    wrap(BytesGenerator, "flatten", timer, "  of which flatten the message (as_bytes)")
    wrap(smtplib.SMTP, "mail", timer, "  of which MAIL")
    wrap(smtplib.SMTP, "rcpt", timer, "  of which RCPT")
    wrap(smtplib.SMTP, "data", timer, "  of which DATA")
    wrap(smtplib.SMTP, "quit", timer, "  of which QUIT (an idle connection closed)")
    wrap(services, "_while_claimed", timer, "the row's writes after the claim (content, then sent)")

    def rows() -> list[int]:
        reminders._clear_log()
        return reminders._rows_for_sending(moment, args.sends)

    ids = rows()
    for notification_id in ids[:20]:  # warm-up
        services.send(notification_id)
        db.session.remove()
    timer.totals.clear()
    sql.reset()
    per_send, outcomes = [], defaultdict(int)
    for notification_id in ids[20:]:
        started = time.perf_counter()
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
    print(sql.slowest(n))
    for name, seconds in timer.totals.items():
        print(f"  {name}: {seconds / n * 1000:.1f} ms per send ({seconds / total:.0%})")

    ids = rows()
    profile = cProfile.Profile()
    for notification_id in ids[20:]:
        profile.enable()
        services.send(notification_id)
        db.session.remove()
        profile.disable()
    print(top(profile, args.top))
    reminders._clear_log()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--part", choices=("send", "sweep", "insert"), default="send")
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
    instance = tempfile.mkdtemp(prefix="crm-profile-")
    os.environ.update({"DATABASE_URL": url, "CRM_INSTANCE_DIR": instance,
                       "CRM_CONFIG": "development", "CRM_TIMEZONE": reminders.ZONE, "CRM_DIGEST_TIME": "08:30",
                       "CRM_MEETING_REMINDER_MINUTES": "60", "CRM_BASE_URL": "https://crm.bench.local",
                       "MAIL_DEFAULT_SENDER": reminders.SENDER, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port),
                       "MAIL_USE_TLS": "false", "MAIL_USE_SSL": "false", "MAIL_USERNAME": ""})
    for name in ["REDIS_URL", *(n for n in os.environ if n.startswith("CRM_TEST_"))]:
        os.environ.pop(name, None)
    # the schema moves on while others work: bring the bench database to the code's migrations first
    reminders.flask(["db", "upgrade"], dict(os.environ))
    from crm import create_app
    from crm.extensions import db

    moment = datetime.fromisoformat(facts["moment"])
    app = create_app()
    try:
        with app.app_context():
            {"sweep": profile_sweep, "send": profile_send, "insert": profile_insert}[args.part](args, moment, url)
            db.session.remove()
            db.engine.dispose()
    finally:
        sink.stop()
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
