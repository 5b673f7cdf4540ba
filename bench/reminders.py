"""Issue 5's speed rows: the reminder sweep at scale, and e-mails per second through real Celery workers.

    python bench/reminders.py [--db sqlite|postgres] [--officers 500] [--tasks N] [--reuse] [--keep]
                              [--runs 7] [--send 2000] [--send-runs 3] [--readme]

1. **Data.** A database of its own (bench/results/reminders-<officers>-<tasks>.sqlite, or the PostgreSQL database
   `crm_bench_reminders`), migrated with `flask db upgrade`, filled with Core inserts (COPY on PostgreSQL, the
   task table's indexes built after it): `--officers` officers, `--tasks` open tasks (100,000 on SQLite, 1,000,000
   on PostgreSQL) due over the past year, today and the next three months, so that nine officers in ten have
   something due and one in ten only later work; meetings on working days a month either side (one per 50 tasks, a
   third with a colleague taking part) and one per five officers starting within the hour after the bench's moment.
   The moment is 10:00 zone time on the day of the seed (kept in the table `bench_meta`, so `--reuse` sweeps the
   same moment).
2. **The sweep.** `services.sweep(moment)` in this process, as the scheduled task calls it (inside `writing()`), on
   an empty notification log; then the same sweep again (the next minute's sweep finds everything recorded). Its
   floor, in the same repetition on the same engine: the bare SQL that finds the same due set (who has an open task
   due by today or a meeting today; who takes part in a meeting starting within the hour) and one Core executemany
   INSERT of the same rows into the notification table. Two forms of the floor's SELECT are timed (a UNION of
   DISTINCT scans, and one EXISTS per officer); the faster is the floor. The floor's rows must equal the sweep's
   digest and meeting rows, or the bench stops. One untimed repetition first, then `--runs`.
3. **Sending.** An aiosmtpd sink in its own process (bench/smtp_sink.py), two Celery worker processes
   (`celery -A worker worker -c 1`, prefork) on Redis db 13 (flushed at the start and the end: only db 13), the
   bench database and that sink. Each of `--send-runs` runs: empty log, `services.sweep` at the moment and on the
   days before it until `--send` + 10 rows are recorded, 10 sent untimed (warm-up), then `--send` send tasks
   published as the sweep task publishes them; timed from the first publish to the last message the sink accepted,
   once every row is sent or skipped. The floor, after each run: the same messages, built beforehand from the rows
   just sent (`mail.build_message`), sent with smtplib by two processes to the same sink: one connection per process
   (as the app's workers keep one each: the floor the ratios are taken to), and a connection per message (for
   comparison). And the same rows' e-mails made again by the app's code in two processes, nothing written or sent
   (`content_floor`): the content's own cost, which the smtplib floor leaves out. `--relay-ms N` has the sink
   answer each DATA N ms late, as a relay needing that long per message.

Before each timed part the bench waits (up to --quiet-wait seconds) for the 1-minute load average to fall below
--max-load, and records it. Results go to bench/results/reminders-<db>.json and .md; --readme replaces the block
`<!-- results:reminders-<db> -->` of bench/README.md. Every process started here is stopped at the end, and the
PostgreSQL database is dropped unless --keep.
"""
import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("BENCH_REMINDERS_PG_DB", "crm_bench_reminders")
#: Redis db 13 belongs to this bench (the tests use 14 and 15)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
ZONE = "Asia/Shanghai"
#: the sweep's moment: zone time on the seed's day (after the default 08:30 digest time)
MOMENT = clock(10, 0)
WARMUP = 10
SENDER = "CRM <crm@bench.local>"
TITLES = ("电话回访", "发送项目资料", "跟进用地需求", "确认考察行程", "提交投资意向书", "约谈财务负责人",
          "整理会谈纪要", "Follow up on the site visit", "Send the incentive summary", "Call about the land survey")


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank, as bench/load.py."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "p95": percentile(values, 95), "min": min(values),
            "max": max(values), "all": values}


def quiet(max_load: float, wait: float, what: str) -> float:
    """Wait until the 1-minute load average is below max_load (other people use this machine), at most `wait`
    seconds; returns the load average the measurement starts at."""
    deadline = time.monotonic() + wait
    load = os.getloadavg()[0]
    while load > max_load and time.monotonic() < deadline:
        log(f"  load average {load:.2f} > {max_load}: waiting before {what}")
        time.sleep(15)
        load = os.getloadavg()[0]
    return round(load, 2)


# --- the database ---------------------------------------------------------------------------------------------------

def database_url(db: str, officers: int, tasks: int, reuse: bool) -> tuple[str, bool]:
    """(SQLAlchemy URL, whether it must be seeded)."""
    if db == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"reminders-{officers}-{tasks}.sqlite"
        if reuse and path.exists():
            return f"sqlite:///{path}", False
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}", True
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB})
        if exists and not reuse:
            conn.execute(text(f"DROP DATABASE {PG_DB} WITH (FORCE)"))
        if not exists or not reuse:
            conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    admin.dispose()
    return f"{PG_SERVER}/{PG_DB}", not (exists and reuse)


def drop_pg_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    admin.dispose()


def _row(table, **values) -> dict:
    """Every column of the table: the given values, else the column's scalar default, else None (COPY takes no
    Python-side defaults)."""
    row = {}
    for column in table.columns:
        if column.name in values:
            row[column.name] = values[column.name]
        elif column.default is not None and column.default.is_scalar:
            row[column.name] = column.default.arg
        else:
            row[column.name] = None
    return row


def seed(url: str, officers: int, tasks: int, seed_value: int = 20261205) -> dict:
    """Fill the migrated, empty database; returns the facts kept in bench_meta."""
    from generate import _copy, _insert, _person, _without_indexes
    from sqlalchemy import create_engine, text

    from crm.auth.models import User
    from crm.companies.models import Company
    from crm.meetings.models import MEETING_TYPES, Meeting, MeetingUser, Task

    started = time.perf_counter()
    tz = ZoneInfo(ZONE)
    today = datetime.now(tz).date()
    moment = datetime.combine(today, MOMENT, tzinfo=tz).astimezone(UTC)
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(seed_value)
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    write = _copy if postgres else _insert

    def at(day: date, minutes: int) -> datetime:
        return (datetime.combine(day, clock(0), tzinfo=tz) + timedelta(minutes=minutes)).astimezone(UTC)

    stamp = {"version": 1, "created_at": now, "updated_at": now}
    user_ids = list(range(1, officers + 1))
    users = [_row(User.__table__, id=uid, email=f"officer{uid:04d}@reminders.bench", name=_person(rng),
                  password_hash="x", role="officer", is_active_user=True,  # noqa: S106  (no one signs in)
                  locale="en" if rng.random() < 0.2 else "zh_Hans_CN", password_changed_at=now, **stamp)
             for uid in user_ids]
    n_companies = max(200, tasks // 500)
    companies = []
    for cid in range(1, n_companies + 1):
        transient = Company(name=f"吉安{_person(rng)[1:]}第{cid}电子科技有限公司")  # @validates fills name_norm
        companies.append(_row(Company.__table__, id=cid, name=transient.name, name_norm=transient.name_norm,
                              chain_tags=[], owner_id=rng.choice(user_ids), **stamp))
    # one officer in ten has only later work: no digest unless a meeting today
    later_only = set(rng.sample(user_ids, officers // 10))

    meetings, participants = [], []
    n_meetings = max(500, tasks // 50)
    soon = max(1, officers // 5)
    for mid in range(1, n_meetings + soon + 1):
        if mid <= n_meetings:  # working hours a month either side of the moment
            day = today + timedelta(days=rng.randint(-30, 30))
            start = at(day, rng.randrange(8 * 60 + 30, 17 * 60, 15))
        else:  # starting within the hour after the moment: the meeting reminders
            start = moment + timedelta(minutes=rng.randint(1, 60))
        owner = rng.choice(user_ids)
        meetings.append(_row(Meeting.__table__, id=mid, type=rng.choice(MEETING_TYPES), start_at=start,
                             company_id=rng.randint(1, n_companies), owner_id=owner, city="吉安", **stamp))
        if rng.random() < 1 / 3:
            colleague = rng.choice(user_ids)
            colleague = colleague if colleague != owner else owner % officers + 1
            participants.append({"meeting_id": mid, "user_id": colleague})

    with engine.begin() as conn:
        write(conn, User.__table__, users)
        write(conn, Company.__table__, companies)
        write(conn, Meeting.__table__, meetings)
        write(conn, MeetingUser.__table__, participants)
        restore = _without_indexes(conn, ["task"]) if postgres else []
        counts = {"past": 0, "today": 0, "later": 0}
        chunk = []
        for tid in range(1, tasks + 1):
            owner = user_ids[(tid - 1) % officers]
            roll = rng.random()
            if owner in later_only or roll >= 0.65:
                offset, bucket = rng.randint(1, 90), "later"
            elif roll < 0.6:
                offset, bucket = -rng.randint(1, 365), "past"
            else:
                offset, bucket = 0, "today"
            counts[bucket] += 1
            due_on = today + timedelta(days=offset)
            due_at = at(due_on, rng.randrange(9 * 60, 18 * 60, 30)) if rng.random() < 0.25 else None
            chunk.append(_row(Task.__table__, id=tid, title=rng.choice(TITLES), due_on=due_on, due_at=due_at,
                              owner_id=owner, created_by_id=owner,
                              company_id=rng.randint(1, n_companies) if rng.random() < 0.7 else None, **stamp))
            if len(chunk) == 50_000:
                write(conn, Task.__table__, chunk)
                chunk = []
                if tid % 200_000 == 0:
                    log(f"  {tid:,} tasks written")
        write(conn, Task.__table__, chunk)
        if restore:
            t0 = time.perf_counter()
            conn.execute(text("SET maintenance_work_mem = '256MB'"))
            for statement in restore:
                conn.execute(text(statement))
            log(f"  the task table's indexes and foreign keys built again in {time.perf_counter() - t0:.0f} s")
        if postgres:
            for name in ("user", "company", "meeting", "task"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                                  f"(SELECT max(id) FROM \"{name}\"))"))
        facts = {"moment": moment.isoformat(), "officers": officers, "tasks": tasks, "companies": n_companies,
                 "meetings": len(meetings), "meetings_soon": soon, "participants": len(participants),
                 "officers_later_only": len(later_only), "tasks_past": counts["past"], "tasks_today": counts["today"],
                 "tasks_later": counts["later"], "seed_seconds": round(time.perf_counter() - started)}
        conn.execute(text("CREATE TABLE bench_meta (key VARCHAR(40) PRIMARY KEY, value TEXT NOT NULL)"))
        conn.execute(text("INSERT INTO bench_meta (key, value) VALUES ('facts', :v)"), {"v": json.dumps(facts)})
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    facts["seed_seconds"] = round(time.perf_counter() - started)
    return facts


def stored_facts(url: str) -> dict | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return json.loads(conn.scalar(text("SELECT value FROM bench_meta WHERE key = 'facts'")))
    except DBAPIError:
        return None
    finally:
        engine.dispose()


# --- the sweep ------------------------------------------------------------------------------------------------------

def _clear_log() -> None:
    from sqlalchemy import delete

    from crm.core.database import writing
    from crm.extensions import db
    from crm.notifications.models import Notification

    db.session.remove()
    with writing(), db.engine.begin() as conn:
        conn.execute(delete(Notification.__table__))


def _floor_statements(moment: datetime, form: str, minutes: int):
    """The due set in bare Core SQL: who gets a digest today (an open task due by today, a meeting today, owned or
    taken part in) and who is reminded of a meeting starting within the hour (its owner and the colleagues)."""
    from sqlalchemy import and_, exists, or_, select, union

    from crm.auth.models import User
    from crm.meetings.models import Meeting, MeetingUser, Task
    from crm.meetings.queries import day_start

    t, m, mu, u = Task.__table__.c, Meeting.__table__.c, MeetingUser.__table__.c, User.__table__.c
    day = moment.astimezone(ZoneInfo(ZONE)).date()
    open_due = and_(t.done_at.is_(None), t.deleted_at.is_(None), t.due_on <= day)
    today = and_(m.deleted_at.is_(None), m.start_at >= day_start(day), m.start_at < day_start(day + timedelta(1)))
    if form == "scan":
        digests = union(select(t.owner_id).where(open_due).distinct(), select(m.owner_id).where(today),
                        select(mu.user_id).join(Meeting.__table__, m.id == mu.meeting_id).where(today))
    else:
        digests = select(u.id).where(or_(exists().where(t.owner_id == u.id, open_due),
                                         exists().where(m.owner_id == u.id, today),
                                         exists().where(mu.user_id == u.id, mu.meeting_id == m.id, today)))
    soon = and_(m.deleted_at.is_(None), m.start_at > moment, m.start_at <= moment + timedelta(minutes=minutes))
    reminders = union(select(m.id, m.owner_id, m.start_at).where(soon),
                      select(m.id, mu.user_id, m.start_at).join(MeetingUser.__table__, mu.meeting_id == m.id)
                      .where(soon))
    return day, digests, reminders


def floor_sweep(moment: datetime, form: str) -> tuple[float, set]:
    """One SELECT of each due set and one executemany INSERT of the rows; seconds and the rows' identities."""
    from flask import current_app
    from sqlalchemy import insert

    from crm.core.database import writing
    from crm.core.timeutil import as_aware
    from crm.extensions import db
    from crm.notifications.models import Notification

    day, digests, reminders = _floor_statements(moment, form, current_app.config["CRM_MEETING_REMINDER_MINUTES"])
    db.session.remove()
    started = time.perf_counter()
    with writing(), db.engine.begin() as conn:
        stamp = datetime.now(UTC)
        rows = []
        for uid in conn.execute(digests).scalars():
            rows.append({"kind": "digest", "recipient_id": uid, "object_type": "user", "object_id": uid,
                         "period": day.isoformat(), "context": None})
        for meeting_id, uid, start in conn.execute(reminders):
            period = as_aware(start).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
            rows.append({"kind": "meeting", "recipient_id": uid, "object_type": "meeting", "object_id": meeting_id,
                         "period": period, "context": {"start_at": period}})
        for row in rows:
            row.update(key=f"{row['kind']}/{row['recipient_id']}/{row['object_type']}:{row['object_id']}/"
                       f"{row['period']}", status="pending", attempts=0, possible_duplicate=False,
                       next_attempt_at=stamp, created_at=stamp, updated_at=stamp)
        conn.execute(insert(Notification.__table__), rows)
    elapsed = time.perf_counter() - started
    return elapsed, {(r["kind"], r["recipient_id"], r["object_type"], r["object_id"], r["period"]) for r in rows}


def recorded() -> tuple[set, dict]:
    """The rows in the log: identities of the digest and meeting rows (what the floor finds), and counts by kind."""
    from sqlalchemy import select

    from crm.extensions import db
    from crm.notifications.models import Notification

    n = Notification.__table__.c
    rows = db.session.execute(select(n.kind, n.recipient_id, n.object_type, n.object_id, n.period)).all()
    db.session.rollback()
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row.kind] = kinds.get(row.kind, 0) + 1
    return {tuple(r) for r in rows if r.kind in ("digest", "meeting")}, kinds


def measure_sweep(moment: datetime, runs: int, max_load: float, wait: float) -> dict:
    from crm.core.database import writing
    from crm.extensions import db
    from crm.notifications import services

    times: dict[str, list[float]] = {"fresh": [], "again": [], "scan": [], "exists": []}
    loads = []
    kinds: dict[str, int] = {}
    for rep in range(runs + 1):  # the first is a warm-up
        if rep == 1:
            loads.append(quiet(max_load, wait, "the timed sweeps"))
        results = {}
        for form in ("scan", "exists"):
            _clear_log()
            results[form], floor_rows = floor_sweep(moment, form)
        _clear_log()
        with writing():
            started = time.perf_counter()
            ids = services.sweep(moment)
            results["fresh"] = time.perf_counter() - started
        db.session.remove()
        with writing():
            started = time.perf_counter()
            again = services.sweep(moment)
            results["again"] = time.perf_counter() - started
        db.session.remove()
        found, kinds = recorded()
        if again:
            raise SystemExit(f"the second sweep of the same moment recorded {len(again)} rows")
        if found != floor_rows:
            raise SystemExit(f"the floor found another due set than the sweep: {len(floor_rows - found)} only in the "
                             f"floor, {len(found - floor_rows)} only in the sweep")
        label = "warm-up" if rep == 0 else f"{rep}/{runs}"
        log(f"  sweep {label}: {len(ids)} rows in {results['fresh']:.3f} s, again {results['again']:.3f} s; "
            f"floor (UNION scan) {results['scan']:.3f} s, floor (EXISTS per officer) {results['exists']:.3f} s")
        if rep:
            for key, value in results.items():
                times[key].append(value)
    loads.append(round(os.getloadavg()[0], 2))
    _clear_log()
    out = {key: summary(values) for key, values in times.items()}
    floor_form = min(("scan", "exists"), key=lambda f: out[f]["median"])
    return {**out, "floor": floor_form, "rows": len(ids), "kinds": kinds, "floor_rows": len(floor_rows),
            "runs": runs, "load": loads}


# --- sending --------------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SinkProcess:
    """bench/smtp_sink.py in its own process; its lines (time, Message-ID) collected by a thread."""

    def __init__(self, port: int, relay_ms: float = 0.0):
        self.port = port
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "smtp_sink.py"), str(port), str(relay_ms)],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP sink did not start")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            stamp, mid = line.split()
            with self.lock:
                self.lines.append((float(stamp), mid))

    def since(self, t0: float) -> list[tuple[float, str]]:
        with self.lock:
            return [x for x in self.lines if x[0] >= t0]

    def wait_for(self, t0: float, count: int, timeout: float = 600) -> list[tuple[float, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.since(t0)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise SystemExit(f"the sink received {len(self.since(t0))} of {count} messages")

    def stop(self) -> None:
        stop_group(self.proc)


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started here (in its own session) and its children."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_workers(env: dict, n: int, folder: Path) -> list[tuple[subprocess.Popen, Path]]:
    workers = []
    for i in range(1, n + 1):
        logfile = folder / f"worker{i}.log"
        out = open(logfile, "wb")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "--concurrency=1", "--pool=prefork",
             f"--hostname=bench{i}@%h", "--loglevel=info", "--without-gossip", "--without-mingle",
             "--without-heartbeat"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        workers.append((proc, logfile))
    deadline = time.monotonic() + 90
    for proc, logfile in workers:
        while " ready." not in logfile.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a Celery worker did not start: {logfile.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
    return workers


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # state, ppid, ... (utime and stime are the 12th and 13th)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by these processes and their children still running (a Celery
    worker's pool process); a figure the other work on the machine does not inflate as much as wall time."""
    wanted = set(pids)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) in pids:
                wanted.add(int(entry.name))
    total = 0
    for pid in wanted:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


TASK_DONE = re.compile(r"Task notifications\.send\[[^\]]+\] succeeded in ([0-9.]+)s")


def task_seconds(workers, offsets: list[int]) -> list[float]:
    """Each send task's own run time, as the workers logged it, from the given log offsets on."""
    values = []
    for (_proc, logfile), offset in zip(workers, offsets, strict=True):
        with open(logfile, "rb") as f:
            f.seek(offset)
            values += [float(x) for x in TASK_DONE.findall(f.read().decode(errors="replace"))]
    return values


def _open_count(first: int, last: int) -> dict:
    """Rows by status among the ids first..last."""
    from sqlalchemy import func, select

    from crm.extensions import db
    from crm.notifications.models import Notification

    n = Notification.__table__.c
    out = dict(db.session.execute(select(n.status, func.count()).where(n.id.between(first, last))
                                  .group_by(n.status)).all())
    db.session.rollback()
    return out


def _rows_for_sending(moment: datetime, wanted: int) -> list[int]:
    """Sweep the moment and the days before it until `wanted` rows are recorded; rows past `wanted` are removed."""
    from sqlalchemy import delete

    from crm.core.database import writing
    from crm.extensions import db
    from crm.notifications import services
    from crm.notifications.models import Notification

    ids: list[int] = []
    day = 0
    while len(ids) < wanted:
        with writing():
            ids += services.sweep(moment - timedelta(days=day))
        day += 1
        if day > 60:
            raise SystemExit(f"60 days of sweeps recorded only {len(ids)} rows")
    ids.sort()
    keep, extra = ids[:wanted], ids[wanted:]
    if extra:
        with writing(), db.engine.begin() as conn:
            conn.execute(delete(Notification.__table__).where(Notification.__table__.c.id > keep[-1]))
    db.session.remove()
    return keep


def _sent_ids(ids: list[int]) -> list[int]:
    from sqlalchemy import select

    from crm.extensions import db
    from crm.notifications.models import SENT, Notification

    n = Notification.__table__.c
    out = list(db.session.scalars(select(n.id).where(n.id.in_(ids), n.status == SENT).order_by(n.id)))
    db.session.rollback()
    return out


def _wait_settled(ids: list[int], timeout: float = 900) -> dict:
    """Until none of these rows (consecutive ids) is pending or being sent; their statuses then."""
    from crm.notifications.models import PENDING, SENDING

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = _open_count(ids[0], ids[-1])
        if not counts.get(PENDING) and not counts.get(SENDING):
            return counts
        time.sleep(0.2)
    raise SystemExit(f"rows still open after {timeout} s: {_open_count(ids[0], ids[-1])}")


def prebuilt_messages(ids: list[int]) -> list[tuple[str, str, bytes]]:
    """(from, to, bytes) of the e-mails the workers sent for these rows, built again from what the rows keep."""
    from email.utils import parseaddr

    from flask import current_app
    from sqlalchemy import select

    from crm.auth.models import User
    from crm.extensions import db
    from crm.notifications import mail
    from crm.notifications.models import SENT, Notification

    n = Notification.__table__.c
    rows = db.session.execute(select(n.subject, n.body_text, n.body_html, n.message_id, User.email, User.name,
                                     User.locale).join(User, User.id == n.recipient_id)
                              .where(n.id.in_(ids), n.status == SENT).order_by(n.id)).all()
    db.session.rollback()
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    out = []
    for r in rows:
        message = mail.build_message(to_name=r.name, to_email=r.email, subject=r.subject, text=r.body_text,
                                     html=r.body_html, message_id=r.message_id, language=r.locale)
        # as smtplib's send_message flattens it: CRLF line ends
        out.append((sender, r.email, message.as_bytes(policy=message.policy.clone(linesep="\r\n"))))
    return out


def _floor_sender(port: int, messages, ready, go, *, reuse: bool) -> None:
    ready.put(1)
    go.wait()
    if reuse:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=20)
        for sender, to, raw in messages:
            smtp.sendmail(sender, [to], raw)
        smtp.quit()
        return
    for sender, to, raw in messages:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=20)
        smtp.sendmail(sender, [to], raw)
        smtp.quit()


def _content_maker(ids: list[int], ready, go) -> None:
    """In a forked process: each row's e-mail made again as the send makes it, from the records (the recipient,
    `services.render`: the kind's compose and both templates; `mail.build_message`; the bytes SMTP is given), with
    nothing written and nothing sent."""
    from flask import current_app

    from crm.auth.models import User
    from crm.core.timeutil import utcnow
    from crm.extensions import db
    from crm.notifications import mail, services
    from crm.notifications.models import Notification

    app = current_app._get_current_object()
    db.session.remove()
    for engine in db.engines.values():  # the parent's pooled connections are not this process's
        engine.dispose(close=False)
    with app.app_context():
        ready.put(1)
        go.wait()
        for notification_id in ids:
            row = db.session.get(Notification, notification_id)
            recipient = db.session.get(User, row.recipient_id)
            subject, text, html, attachments = services.render(row, recipient, utcnow())
            message = mail.build_message(to_name=recipient.name, to_email=recipient.email, subject=subject,
                                         text=text, html=html, message_id=row.message_id,
                                         language=services.language_of(recipient), attachments=attachments)
            mail.as_smtp_bytes(message)
            db.session.rollback()


def _run_forked(target, parts: list, what: str) -> tuple[float, float]:
    """Start one forked process per part (`target(part, ready, go)`), let them all go at once, wait for them; the
    time they started at, and their CPU seconds (counted once they have ended)."""
    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=target, args=(part, ready, go)) for part in parts]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    cpu_before = _children_cpu()
    t0 = time.time()
    go.set()
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a {what} failed")
    return t0, _children_cpu() - cpu_before


def content_floor(ids: list[int], processes: int = 2) -> tuple[float, float]:
    """Seconds for `processes` processes to make the e-mails of these rows (`_content_maker`), and their CPU seconds:
    the content's own cost, which any way of sending these e-mails pays, and which the smtplib floor leaves out."""
    t0, cpu = _run_forked(_content_maker, [ids[i::processes] for i in range(processes)], "content maker")
    return time.time() - t0, cpu


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def floor_send(sink: SinkProcess, messages, reuse: bool, processes: int = 2) -> tuple[float, float]:
    """Seconds for `processes` smtplib senders to hand the pre-built messages to the sink, and the CPU seconds the
    senders used (counted once they have ended)."""
    parts = [messages[i::processes] for i in range(processes)]
    t0, cpu = _run_forked(partial(_floor_sender, sink.port, reuse=reuse), parts, "floor sender")
    got = sink.wait_for(t0, len(messages))
    return max(t for t, _ in got) - t0, cpu


def measure_sending(moment: datetime, env: dict, count: int, runs: int, max_load: float, wait: float,
                    folder: Path, n_workers: int = 2, relay_ms: float = 0.0) -> dict:
    import redis
    from celery import Celery

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # db 13 belongs to this bench
    port = free_port()
    sink = SinkProcess(port, relay_ms)
    env = {**env, "REDIS_URL": REDIS_URL, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port),
           "MAIL_USE_TLS": "false", "MAIL_USE_SSL": "false", "MAIL_USERNAME": ""}
    workers = []
    sender = Celery(broker=REDIS_URL)
    out: dict = {"app": [], "floor_connect": [], "floor_reuse": [], "content": [], "publish": [], "task": [],
                 "statuses": [], "load": [], "relay_ms": relay_ms}
    try:
        workers = start_workers(env, n_workers, folder)
        log(f"  {n_workers} Celery workers (-c 1) on {REDIS_URL}, the SMTP sink on 127.0.0.1:{port}")
        for run in range(1, runs + 1):
            _clear_log()
            ids = _rows_for_sending(moment, count + WARMUP)
            warm, timed = ids[:WARMUP], ids[WARMUP:]
            t_warm = time.time()
            for notification_id in warm:
                sender.send_task("notifications.send", args=[notification_id])
            warm_sent = _wait_settled(warm).get("sent", 0)
            sink.wait_for(t_warm, warm_sent)
            out["load"].append(quiet(max_load, wait, f"sending run {run}"))
            offsets = [logfile.stat().st_size for _proc, logfile in workers]
            worker_pids = [proc.pid for proc, _logfile in workers]
            cpu_workers, cpu_sink = cpu_seconds(worker_pids), cpu_seconds([sink.proc.pid])
            t0 = time.time()
            for notification_id in timed:  # as the sweep task queues them (send_notification.delay)
                sender.send_task("notifications.send", args=[notification_id])
            published = time.time() - t0
            statuses = _wait_settled(timed)
            got = sink.wait_for(t0, statuses.get("sent", 0))
            if len({mid for _t, mid in sink.since(t_warm)}) != len(sink.since(t_warm)):
                raise SystemExit("a message arrived twice")
            elapsed = max(t for t, _ in got) - t0
            cpu_workers = cpu_seconds(worker_pids) - cpu_workers
            cpu_sink = cpu_seconds([sink.proc.pid]) - cpu_sink
            per_task = task_seconds(workers, offsets)
            out["app"].append({"seconds": elapsed, "sent": len(got), "rate": len(got) / elapsed,
                               "cpu_ms": cpu_workers / len(got) * 1000, "sink_cpu_ms": cpu_sink / len(got) * 1000})
            out["publish"].append(published)
            out["task"] += per_task
            out["statuses"].append({k: v for k, v in statuses.items()})
            log(f"  sending run {run}/{runs}: {len(got)} e-mails in {elapsed:.2f} s ({len(got) / elapsed:.0f}/s; "
                f"{len(timed)} queued in {published:.2f} s; rows {statuses}); task median "
                f"{statistics.median(per_task) * 1000:.1f} ms; worker CPU {cpu_workers / len(got) * 1000:.1f} ms and "
                f"sink CPU {cpu_sink / len(got) * 1000:.1f} ms per e-mail")
            messages = prebuilt_messages(timed)
            for key, reuse in (("floor_connect", False), ("floor_reuse", True)):
                sink_before = cpu_seconds([sink.proc.pid])
                seconds, cpu = floor_send(sink, messages, reuse, n_workers)
                sink_cpu = cpu_seconds([sink.proc.pid]) - sink_before
                out[key].append({"seconds": seconds, "sent": len(messages), "rate": len(messages) / seconds,
                                 "cpu_ms": cpu / len(messages) * 1000,
                                 "sink_cpu_ms": sink_cpu / len(messages) * 1000})
                log(f"    floor ({'one connection per process' if reuse else 'a connection per message'}): "
                    f"{len(messages)} in {seconds:.2f} s ({len(messages) / seconds:.0f}/s); sender CPU "
                    f"{cpu / len(messages) * 1000:.2f} ms and sink CPU {sink_cpu / len(messages) * 1000:.2f} ms per "
                    "e-mail")
            sent_ids = _sent_ids(timed)
            seconds, cpu = content_floor(sent_ids, n_workers)
            out["content"].append({"seconds": seconds, "sent": len(sent_ids), "rate": len(sent_ids) / seconds,
                                   "cpu_ms": cpu / len(sent_ids) * 1000, "sink_cpu_ms": 0.0})
            log(f"    the content alone (render and build, {n_workers} processes, nothing written or sent): "
                f"{len(sent_ids)} in {seconds:.2f} s ({len(sent_ids) / seconds:.0f}/s); CPU "
                f"{cpu / len(sent_ids) * 1000:.2f} ms per e-mail")
            out["bytes"] = statistics.mean(len(raw) for _f, _t, raw in messages)
        _clear_log()
    finally:
        for proc, _logfile in workers:
            stop_group(proc)
        sink.stop()
        broker.flushdb()
        broker.close()
        sender.close()
    for key in ("app", "floor_connect", "floor_reuse", "content"):
        rates = [r["rate"] for r in out[key]]
        out[f"{key}_rate"] = statistics.median(rates)
        out[f"{key}_seconds"] = statistics.median(r["seconds"] for r in out[key])
        out[f"{key}_cpu_ms"] = statistics.median(r["cpu_ms"] for r in out[key])
        out[f"{key}_sink_cpu_ms"] = statistics.median(r["sink_cpu_ms"] for r in out[key])
    tasks = out.pop("task")
    out["task_summary"] = {**summary(tasks), "all": None, "count": len(tasks)}
    return out


# --- the report -----------------------------------------------------------------------------------------------------

def database_version(url: str) -> str:
    from run import database_version as version

    return version(url)


def markdown(result: dict) -> str:
    f, s, m = result["facts"], result["sweep"], result.get("send")
    floor = s["floor"]
    other = s["scan" if floor == "exists" else "exists"]
    floor_name = {"scan": "UNION of DISTINCT scans", "exists": "one EXISTS per officer"}
    extra = {k: v for k, v in s["kinds"].items() if k not in ("digest", "meeting")}
    lines = [
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}  ",
        f"Machine: {result['machine']}; 1-minute load average {result['load_average'][0]:.2f} at the start, "
        f"{s['load'][0]:.2f} before the timed sweeps and {s['load'][-1]:.2f} after them"
        + (f", {', '.join(f'{x:.2f}' for x in m['load'])} before each sending run" if m else "")
        + f", {result['load_average'][1]:.2f} at the end  ",
        f"Database: {result['database']}; {f['officers']:,} officers, {f['tasks']:,} open tasks ({f['tasks_past']:,} "
        f"overdue, {f['tasks_today']:,} due today, {f['tasks_later']:,} later; {f['officers_later_only']} officers "
        f"have only later ones), {f['meetings']:,} meetings ({f['meetings_soon']} starting within the hour after the "
        f"moment) with {f['participants']:,} colleagues taking part, {f['companies']:,} companies; seeded in "
        f"{f['seed_seconds']} s. Moment swept: {result['moment_local']}  ",
        f"Sweep: {s['runs']} repetitions after a warm-up, each on an empty log; figures are the median and p95 "
        f"(nearest rank) of the repetitions",
        "",
        "| Step | Rows recorded | Median s | p95 s | Floor median s | Floor p95 s | Median ÷ floor | p95 ÷ floor | "
        "Target (< 60 s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    fl = s[floor]
    for label, key, rows in (("Sweep, empty log (`services.sweep`)", "fresh", s["rows"]),
                             ("Sweep again, same minute (all recorded)", "again", 0)):
        v = s[key]
        lines.append(f"| {label} | {rows:,} | {v['median']:.3f} | {v['p95']:.3f} | {fl['median']:.3f} | "
                     f"{fl['p95']:.3f} | {v['median'] / fl['median']:.1f}× | {v['p95'] / fl['p95']:.1f}× | "
                     f"{'yes' if v['p95'] < 60 else '**no**'} |")
    lines.append(f"| Floor: due set by {floor_name[floor]} + one INSERT executemany | {s['floor_rows']:,} | "
                 f"{fl['median']:.3f} | {fl['p95']:.3f} | | | | | |")
    lines.append(f"| Floor, other form: {floor_name['scan' if floor == 'exists' else 'exists']} + the INSERT | "
                 f"{s['floor_rows']:,} | {other['median']:.3f} | {other['p95']:.3f} | | | | | |")
    text = "\n".join(lines) + "\n"
    text += (f"\nRows by kind: {', '.join(f'{k} {v:,}' for k, v in sorted(s['kinds'].items()))}"
             + (f" (kinds the floor does not model: {', '.join(extra)})" if extra else "") + "\n")
    if m:
        # the app keeps one SMTP connection per worker process: its floor is smtplib with one connection each
        floor = m["floor_reuse_rate"]
        runs = len(m["app"])
        sent = m["app"][0]["sent"]
        t = m["task_summary"]
        statuses = [", ".join(f"{k} {v:,}" for k, v in sorted(st.items())) for st in m["statuses"]]
        text += (
            f"\nSending: {runs} runs; each run {m['queued']:,} send tasks queued after a warm-up of {WARMUP}; "
            + (f"**the sink answers each DATA {m['relay_ms']:g} ms late**, as a relay needing that long per message; "
               if m.get("relay_ms") else "the sink answers at once (it keeps nothing); ")
            + "e-mails/s = e-mails the sink accepted ÷ seconds from the first publish to the last accepted; the "
            "median of the runs (lowest–highest in brackets). CPU: user + system time of the senders (both workers "
            f"with their pool processes; the floor's two processes) and of the sink, per e-mail. Messages average "
            f"{m['bytes'] / 1024:.1f} KiB\n\n"
            "| Sender | E-mails | Seconds | E-mails/s | Time ÷ floor | Sender CPU ms / e-mail | CPU ÷ floor | "
            "Sink CPU ms / e-mail |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
        rows = ((f"{m['workers']} Celery worker{'s' if m['workers'] > 1 else ''} (prefork, -c 1 each) on Redis, "
                 "`notifications.send`", "app"),
                (f"Floor: smtplib, {m['workers']} processes, pre-built messages, a connection per message",
                 "floor_connect"),
                (f"Floor: smtplib, {m['workers']} processes, pre-built messages, one connection each", "floor_reuse"),
                (f"Not a sender: the same e-mails made again, {m['workers']} processes (render, build, flatten; "
                 "nothing written or sent)", "content"))
        for label, key in rows:
            if not m.get(key):
                continue
            rates = [r["rate"] for r in m[key]]
            ratios = ("", "") if key not in ("app", "content") else (
                f"{floor / m[f'{key}_rate']:.1f}×", f"{m[f'{key}_cpu_ms'] / m['floor_reuse_cpu_ms']:.1f}×")
            if key == "content":
                text += (f"| {label} | {m[key][0]['sent']:,} | {m[f'{key}_seconds']:.2f} | {m[f'{key}_rate']:.0f} "
                         f"({min(rates):.0f}–{max(rates):.0f}) | {ratios[0]} | {m[f'{key}_cpu_ms']:.2f} | "
                         f"{ratios[1]} | |\n")
                continue
            text += (f"| {label} | {sent:,} | {m[f'{key}_seconds']:.2f} | {m[f'{key}_rate']:.0f} "
                     f"({min(rates):.0f}–{max(rates):.0f}) | {ratios[0]} | {m[f'{key}_cpu_ms']:.2f} | {ratios[1]} | "
                     f"{m[f'{key}_sink_cpu_ms']:.2f} |\n")
        text += (
            f"\nOne send task, as the workers logged it: median {t['median'] * 1000:.1f} ms, p95 "
            f"{t['p95'] * 1000:.1f} ms ({t['count']:,} tasks); "
            f"publishing the {m['queued']:,} tasks took {statistics.median(m['publish']):.2f} s (median). "
            f"Rows after each run: {'; '.join(statuses)}\n")
    return text


def update_readme(block: str, text: str) -> None:
    readme = BENCH / "README.md"
    content = readme.read_text()
    start, end = f"<!-- results:{block} -->", f"<!-- /results:{block} -->"
    if start not in content or end not in content:
        raise SystemExit(f"bench/README.md has no {start} … {end} block")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}{end}{tail}")


def flask(command: list[str], env: dict) -> None:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *command], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"flask {' '.join(command)} failed:\n{done.stderr[-3000:]}")


# --- main -----------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--officers", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=None,
                        help="open tasks (default: 100,000 on SQLite, 1,000,000 on PostgreSQL)")
    parser.add_argument("--pg-db", default=PG_DB, help="the PostgreSQL database (default: crm_bench_reminders)")
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench database instead of seeding")
    parser.add_argument("--keep", action="store_true", help="do not drop the PostgreSQL database at the end")
    parser.add_argument("--runs", type=int, default=7, help="timed sweep repetitions (after one warm-up)")
    parser.add_argument("--send", type=int, default=2000, help="e-mails per sending run (0: no sending part)")
    parser.add_argument("--send-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (-c 1 each) sending")
    parser.add_argument("--max-load", type=float, default=1.0,
                        help="wait for the 1-minute load average to fall below this before each timed part")
    parser.add_argument("--quiet-wait", type=float, default=240, help="how long to wait for it, at most (seconds)")
    parser.add_argument("--relay-ms", type=float, default=0.0,
                        help="the sink answers each DATA this many ms late, as a relay needing that long per message")
    parser.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop the workers and the sink
    globals()["PG_DB"] = args.pg_db
    if args.tasks is None:
        args.tasks = 100_000 if args.db == "sqlite" else 1_000_000

    load_start = os.getloadavg()[0]
    instance = Path(tempfile.mkdtemp(prefix="crm-bench-reminders-"))
    url, fresh = database_url(args.db, args.officers, args.tasks, args.reuse)
    settings = {"DATABASE_URL": url, "CRM_INSTANCE_DIR": str(instance), "CRM_CONFIG": "development",
                "CRM_TIMEZONE": ZONE, "CRM_DIGEST_TIME": "08:30", "CRM_MEETING_REMINDER_MINUTES": "60",
                "CRM_BASE_URL": "https://crm.bench.local", "MAIL_DEFAULT_SENDER": SENDER}
    os.environ.update(settings)
    for name in ("REDIS_URL", "MAIL_SERVER"):  # this process neither queues through the app nor sends
        os.environ.pop(name, None)
    for name in [n for n in os.environ if n.startswith("CRM_TEST_")]:  # the chaos tests' hooks: never here
        os.environ.pop(name)
    env = {**os.environ, **settings, "PYTHONPATH": str(ROOT)}
    try:
        log(f"migrating {url} (flask db upgrade)")
        flask(["db", "upgrade"], env)
        facts = None if fresh else stored_facts(url)
        if facts is not None and (facts["officers"], facts["tasks"]) != (args.officers, args.tasks):
            raise SystemExit(f"--reuse: the bench database holds {facts['officers']} officers and {facts['tasks']} "
                             "tasks; run without --reuse to seed it again")
        if facts is None:
            if not fresh:
                raise SystemExit("--reuse: the database was not seeded by this bench; run without --reuse")
            log(f"seeding {args.officers:,} officers and {args.tasks:,} open tasks")
            facts = seed(url, args.officers, args.tasks)
            log(f"seeded in {facts['seed_seconds']} s")
        flask(["crm", "optimize-db"], env)
        moment = datetime.fromisoformat(facts["moment"])

        from crm import create_app
        from crm.extensions import db

        app = create_app()
        with app.app_context():
            log(f"sweeping {moment.astimezone(ZoneInfo(ZONE)):%Y-%m-%d %H:%M} zone time, {args.runs} repetitions")
            sweep = measure_sweep(moment, args.runs, args.max_load, args.quiet_wait)
            send = None
            if args.send:
                log(f"sending {args.send:,} reminders per run, {args.send_runs} runs")
                send = measure_sending(moment, env, args.send, args.send_runs, args.max_load, args.quiet_wait,
                                       instance, args.workers, args.relay_ms)
                send.update(queued=args.send, workers=args.workers)
            db.session.remove()
            db.engine.dispose()
        version = database_version(url)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        if args.db == "postgres" and not args.keep:
            drop_pg_database()
            log(f"dropped {PG_DB}")

    from run import machine

    result = {"command": "python bench/reminders.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(), "database": version,
              "db": args.db, "facts": facts, "sweep": sweep, "send": send,
              "moment_local": f"{moment.astimezone(ZoneInfo(ZONE)):%Y-%m-%d %H:%M} {ZONE}",
              "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)]}
    RESULTS.mkdir(exist_ok=True)
    variant = (f"-w{args.workers}" if args.workers != 2 else "") + (f"-relay{args.relay_ms:g}" if args.relay_ms else "")
    stem = RESULTS / f"reminders-{args.db}{variant}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    if args.readme:
        update_readme(f"reminders-{args.db}{variant}", text)
    print()
    print(text)


if __name__ == "__main__":
    main()
