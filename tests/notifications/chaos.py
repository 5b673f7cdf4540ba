"""The chaos harness for the reminders (RELIABILITY.md D and G): real processes on loopback, each started, killed and
restarted by the test, never one the test did not start.

- `RedisServer`: a redis-server of the test's own on a free port, with or without persistence (AOF), killed with
  SIGKILL and started again on the same port (emptied when it has no persistence).
- `Worker`: `celery -A worker worker` as a subprocess in a process group of its own; its pool processes can be
  killed one by one, the main process sent SIGTERM or SIGKILL; it is always killed (the whole group) at the end.
- `WebApp`: gunicorn serving `wsgi:app`, for requests while Redis is down.
- `Mailbox`: the suite's aiosmtpd recorder that also logs every RCPT and DATA with its time and reply, and can answer
  slowly (`delay`) to keep sends running.
- `Harness`: one test's world (a SQLite file database migrated once per session and copied, the environment with
  short timings, a Celery client that plays beat by sending sweeps), and `wait_until` with a timeout on every wait.
"""
import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.pool import NullPool

from crm.auth.models import User
from crm.meetings.models import Task
from crm.notifications.models import JobRun, Notification

from .conftest import Recorder, _Hooks, free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

#: the timings every chaos process runs with (seconds), in the order production keeps: an SMTP reply waits at most
#: MAIL_TIMEOUT < the task's hard limit < the claim's lease; retry countdowns 1, 2, 4 (capped at 4) < the Redis
#: visibility timeout. A crashed send is retaken after lease + requeue = 7 s instead of 15 minutes.
TIMING = {
    "MAIL_TIMEOUT": "2",
    "CRM_TASK_TIME_LIMIT": "4",
    "CRM_CLAIM_LEASE_SECONDS": "5",
    "CRM_REQUEUE_AFTER_SECONDS": "2",
    "CRM_RETRY_BACKOFF_SECONDS": "1",
    "CRM_RETRY_BACKOFF_MAX_SECONDS": "4",
    "REDIS_VISIBILITY_TIMEOUT": "10",
}
#: variables of the developer's shell that must not leak into the processes under test
_SCRUBBED = ("REDIS_URL", "DATABASE_URL", "TEST_DATABASE_URL", "CRM_CONFIG", "CRM_INSTANCE_DIR", "CRM_TEST_CRASH_AT",
             "CRM_TEST_CRASH_ONCE_FILE", "CRM_BASE_URL", *TIMING)


def wait_until(predicate: Callable[[], object], timeout: float, *, interval: float = 0.2,
               tick: Callable[[], None] | None = None, what: str | Callable[[], str] = "the condition"):
    """Poll `predicate` until it returns something true (returned), calling `tick` before each try (to play beat or
    check a process is alive); AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if tick is not None:
            tick()
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("MAIL_")}
    env.update(extra)
    return env


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL, *, wait: float = 10) -> None:
    """Kill a process this harness started (in its own session, so its group is its id) and its children."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (a worker's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# --- Redis -----------------------------------------------------------------------------------------------------------

class RedisServer:
    """A redis-server on a free loopback port with a password, as RELIABILITY.md's harness has it."""

    password = "chaos-test-password"

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.persistent = False

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2,
                           socket_connect_timeout=2)

    def start(self, *, persistent: bool = False) -> "RedisServer":
        """Start on this server's port. With persistence every write is in the AOF before the reply (fsync always),
        so a SIGKILL loses nothing; without it a restart starts empty."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.persistent = persistent
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", self.password,
                "--dir", str(self.dir), "--save", "", "--maxmemory-policy", "noeviction",
                "--logfile", str(self.dir / "redis.log")]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)

        def answers() -> bool:
            assert self.proc.poll() is None, tail(self.dir / "redis.log")
            try:
                client = self.client()
                try:
                    return client.ping()
                finally:
                    client.close()
            except Exception:
                return False

        wait_until(answers, 10, interval=0.05, what="redis-server to answer")
        return self

    def kill(self) -> None:
        """Stop it the hard way (no save, no goodbye to clients), as a crash or an OOM kill would."""
        if self.proc is not None:
            _kill_group(self.proc)

    def restart(self, *, persistent: bool | None = None) -> None:
        self.kill()
        self.start(persistent=self.persistent if persistent is None else persistent)

    def queue_length(self, queue: str = "celery") -> int:
        client = self.client()
        try:
            return client.llen(queue)
        finally:
            client.close()


# --- processes under test --------------------------------------------------------------------------------------------

class Worker:
    """`celery -A worker worker` in a process group of its own, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, *, name: str, concurrency: int = 2, prefetch: int = 1):
        self.env, self.log, self.name = env, log, name
        self.args = [PYTHON, "-m", "celery", "-A", "worker", "worker", f"--concurrency={concurrency}",
                     f"--prefetch-multiplier={prefetch}", "--loglevel=info", "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "-n", f"{name}@%h"]
        self.proc: subprocess.Popen | None = None

    def start(self, *, ready_timeout: float = 30) -> "Worker":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until(lambda: self.alive() and " ready." in self.text(), ready_timeout, interval=0.1,
                   what=lambda: f"worker {self.name} to be ready:\n{tail(self.log)}")
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        assert self.proc.poll() is None, f"worker {self.name} exited ({self.proc.returncode}):\n{tail(self.log)}"
        return True

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pool(self) -> list[int]:
        return children_of(self.pid)

    def signal(self, sig: int) -> None:
        """Signal the main process only (not its pool), as a deploy's SIGTERM or an OOM kill would."""
        os.kill(self.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Kill the main process and its pool at once."""
        if self.proc is not None:
            _kill_group(self.proc)


class WebApp:
    """gunicorn serving the app, for requests while Redis is down."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebApp":
        import requests

        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([PYTHON, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{self.port}",
                                          "--timeout", "30", "wsgi:app"], cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            assert self.proc.poll() is None, tail(self.log)
            try:
                return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 30, interval=0.1, what=lambda: f"gunicorn to serve:\n{tail(self.log)}")
        return self

    def kill(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)


# --- the SMTP server -------------------------------------------------------------------------------------------------

class Mailbox(Recorder):
    """The suite's recording SMTP server (refuse, reject, hang) plus a log of every RCPT and DATA with its time
    (time.time()) and reply code, and `delay`: seconds to wait before answering a DATA that is then accepted."""

    def __init__(self):
        super().__init__()
        self.events: list[tuple[float, str, object, str]] = []
        self.delay = 0.0
        self.handler = _LoggingHooks(self)

    def log(self, what: str, who, reply: str) -> None:
        with self.lock:
            self.events.append((time.time(), what, who, reply))

    def count(self, address: str) -> int:
        """Copies accepted for this address."""
        with self.lock:
            return sum(address in rcpt for rcpt, _raw in self.accepted)

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(r for rcpt, _raw in self.accepted for r in rcpt)

    def data_events(self, address: str | None = None, reply: str | None = None) -> list[tuple[float, str]]:
        """(time, reply) of each finished DATA ("start" for one that began), optionally for one address."""
        with self.lock:
            return [(at, code) for at, what, who, code in self.events
                    if what == "data" and (address is None or address in who) and (reply is None or code == reply)]

    def rcpt_events(self, address: str) -> list[str]:
        with self.lock:
            return [code for _at, what, who, code in self.events if what == "rcpt" and who == address]


class _LoggingHooks(_Hooks):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = await super().handle_RCPT(server, session, envelope, address, rcpt_options)
        self.recorder.log("rcpt", address, reply[:3])
        return reply

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        who = tuple(envelope.rcpt_tos)
        self.recorder.log("data", who, "start")
        if self.recorder.delay and not self.recorder.hang:
            await asyncio.sleep(self.recorder.delay)
        reply = await super().handle_DATA(server, session, envelope)
        self.recorder.log("data", who, reply[:3])
        return reply


# --- the database ----------------------------------------------------------------------------------------------------

def migrate(path: Path, instance: Path) -> None:
    """Create the schema with the migrations (as production does), then fold the WAL into the file."""
    env = clean_env(DATABASE_URL=f"sqlite:///{path}", CRM_INSTANCE_DIR=str(instance), CRM_CONFIG="development")
    subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def copy_database(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _clear_of_midnight(margin: float = 90) -> None:
    """A test must not cross midnight in the zone (16:00 UTC): the next day's sweep would owe every officer a new
    digest for their now overdue task. Within `margin` seconds of it, wait until it has passed."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    left = (midnight - now).total_seconds()
    if left < margin:
        time.sleep(left + 1)


class Database:
    """The test's SQLite file, read and seeded from the test process (writes go through the tables, so column
    defaults apply)."""

    def __init__(self, path: Path):
        self.path = path
        self.url = f"sqlite:///{path}"
        self.engine = create_engine(self.url, poolclass=NullPool, connect_args={"timeout": 15})

    def close(self) -> None:
        self.engine.dispose()

    def seed_officers(self, n: int, *, prefix: str) -> list[str]:
        """`n` officers, each with one task due today (zone time), so each is due a digest. Returns the addresses."""
        _clear_of_midnight()
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
        emails = [f"{prefix}{i}@test.zone" for i in range(n)]
        with self.engine.begin() as conn:
            ids = [conn.execute(User.__table__.insert().values(
                email=e, name=f"Officer {prefix}{i}", password_hash="x", role="officer",
                locale="en")).inserted_primary_key[0] for i, e in enumerate(emails)]
            conn.execute(Task.__table__.insert(), [{"title": f"Call back {uid}", "due_on": today, "owner_id": uid}
                                                   for uid in ids])
        return emails

    def seed_user(self, email: str, *, role: str, password: str) -> None:
        from crm.auth.services import hash_password

        with self.engine.begin() as conn:
            conn.execute(User.__table__.insert().values(email=email, name=email.split("@")[0], role=role,
                                                        password_hash=hash_password(password), locale="en"))

    def rows(self) -> list[dict]:
        """The officers' reminder rows (their digests): a manager seeded by a test may also get the managers' own
        kinds (the escalation, the weekly summary or report) depending on the day; those are not these tests'."""
        n = Notification.__table__.c
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(n.id, n.kind, n.status, n.attempts, n.possible_duplicate, n.message_id, n.last_error,
                       n.next_attempt_at, User.email).join(User, User.id == n.recipient_id)
                .where(User.role == "officer").order_by(n.id))]

    def by_email(self) -> dict[str, dict]:
        rows = self.rows()
        assert len({r["email"] for r in rows}) == len(rows), rows  # one digest per officer in these tests
        return {r["email"]: r for r in rows}

    def statuses(self) -> Counter:
        return Counter(r["status"] for r in self.rows())

    def job_runs(self, name: str) -> list[dict]:
        j = JobRun.__table__.c
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(j.id, j.outcome, j.started_at, j.finished_at)
                                                           .where(j.name == name).order_by(j.id))]

    def log_retries(self) -> None:
        """Test instrumentation: a trigger that writes down every retry the send schedules (a claim put back to
        pending: its attempts, its next_attempt_at and the time), since the row keeps only the latest."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE chaos_retry (notification_id INTEGER, attempts INTEGER, "
                                 "next_attempt_at TEXT, at TEXT)")
            conn.exec_driver_sql(
                "CREATE TRIGGER chaos_retry_log AFTER UPDATE OF status ON notification "
                "WHEN OLD.status = 'sending' AND NEW.status = 'pending' BEGIN "
                "INSERT INTO chaos_retry VALUES (NEW.id, NEW.attempts, NEW.next_attempt_at, "
                "strftime('%Y-%m-%d %H:%M:%f', 'now')); END")

    def retries(self) -> list[tuple[int, int, float]]:
        """(notification id, attempts, seconds until the scheduled retry) for each retry logged by the trigger."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT notification_id, attempts, next_attempt_at, at FROM chaos_retry "
                                        "ORDER BY rowid").all()

        def parse(value: str) -> datetime:
            return datetime.fromisoformat(value).replace(tzinfo=None)

        return [(i, a, (parse(nxt) - parse(at)).total_seconds()) for i, a, nxt, at in rows]


# --- one test's world ------------------------------------------------------------------------------------------------

class Harness:
    """Redis, the database, the mailbox, the environment, the processes started, and a Celery client that plays the
    scheduler. `close()` kills every process it started, whatever happened."""

    def __init__(self, tmp: Path, template_db: Path, mailbox: Mailbox, smtp_host: str, smtp_port: int):
        self.tmp = tmp
        self.mailbox = mailbox
        self.redis = RedisServer(tmp / "redis")
        copy_database(template_db, tmp / "crm.sqlite")
        self.db = Database(tmp / "crm.sqlite")
        self.env = clean_env(
            DATABASE_URL=self.db.url, CRM_INSTANCE_DIR=str(tmp), CRM_CONFIG="development", REDIS_URL=self.redis.url,
            MAIL_SERVER=smtp_host, MAIL_PORT=str(smtp_port), MAIL_USE_TLS="false", MAIL_USE_SSL="false",
            MAIL_DEFAULT_SENDER="CRM <crm@example.gov.cn>", CRM_BASE_URL="https://crm.example.gov.cn",
            CRM_TIMEZONE="Asia/Shanghai", CRM_DIGEST_TIME="00:00", PYTHONUNBUFFERED="1", **TIMING)
        self.workers: list[Worker] = []
        self.web: WebApp | None = None
        self._sender = None
        self._last_sweep = 0.0

    # processes

    def start_worker(self, *, concurrency: int = 2, prefetch: int = 1, **env: str) -> Worker:
        name = f"chaos{len(self.workers) + 1}"
        worker = Worker({**self.env, **env}, self.tmp / f"{name}.log", name=name, concurrency=concurrency,
                        prefetch=prefetch)
        self.workers.append(worker)
        return worker.start()

    def start_web(self) -> WebApp:
        self.web = WebApp(self.env, self.tmp / "web.log")
        return self.web.start()

    def run_sweep_here(self) -> None:
        """The scheduled sweep run once in a process of its own (as beat's task would run it) with no worker
        consuming: the rows are recorded and their send tasks wait in Redis."""
        code = "from worker.tasks import sweep_notifications; print(sweep_notifications.apply().get())"
        subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=60)

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{tail(w.log, 3000)}" for w in self.workers)

    # the scheduler's part

    @property
    def sender(self):
        if self._sender is None:
            from celery import Celery

            self._sender = Celery("chaos-beat", broker=self.redis.url)
            self._sender.conf.broker_connection_timeout = 2
        return self._sender

    def reset_sender(self) -> None:
        """After Redis restarted: a fresh client (the old pool's connections are dead)."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def sweep(self) -> None:
        self.sender.send_task("notifications.sweep")
        self._last_sweep = time.monotonic()

    def send_task(self, name: str, *args) -> None:
        self.sender.send_task(name, args=list(args))

    def beat(self, every: float = 1.0) -> Callable[[], None]:
        """A `tick` for wait_until: a sweep every `every` seconds, as beat's schedule would (every minute in
        production), and a check that the live workers are still alive."""
        def tick() -> None:
            for worker in self.workers[-1:]:
                worker.alive()
            if time.monotonic() - self._last_sweep >= every:
                self.sweep()
        return tick

    def close(self) -> None:
        try:
            if self._sender is not None:
                self._sender.close()
        finally:
            for worker in self.workers:
                worker.kill()
            if self.web is not None:
                self.web.kill()
            self.redis.kill()
            self.db.close()


# --- more helpers: RM-13 (fairness, reserved tasks) and AV-5 (PostgreSQL backends terminated) ------------------------

class TarpitMailbox(Mailbox):
    """The Mailbox that can also hold its answer to RCPT TO for chosen recipients (`tarpit`: address -> seconds), as
    a tarpitting or overloaded server does. A send to such an address stays in SMTP that long with nothing handed
    over yet, so a worker killed meanwhile leaves no accepted copy behind (unlike `delay`, which holds the DATA reply
    of a message the server already has)."""

    def __init__(self):
        super().__init__()
        self.tarpit: dict[str, float] = {}
        self.handler = _TarpitHooks(self)

    def first_contact(self, address: str) -> float | None:
        """When a send to `address` first reached the server (time.time() of its first RCPT TO), or None."""
        with self.lock:
            times = [at for at, what, who, _reply in self.events if what in ("rcpt", "rcpt-wait") and who == address]
        return min(times) if times else None

    def held(self) -> set[str]:
        """The addresses whose RCPT TO is being held right now (the tarpit's wait started, its reply not given)."""
        with self.lock:
            waits = Counter((who, reply) for _at, what, who, reply in self.events if what == "rcpt-wait")
        return {who for (who, reply), n in waits.items() if reply == "start" and n > waits[(who, "end")]}


class _TarpitHooks(_LoggingHooks):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        seconds = self.recorder.tarpit.get(address)
        if seconds:
            self.recorder.log("rcpt-wait", address, "start")
            try:
                await asyncio.sleep(seconds)
            finally:
                self.recorder.log("rcpt-wait", address, "end")
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def unacked_deliveries(redis: RedisServer) -> list[float]:
    """When each message a worker holds unacknowledged was handed to it (time.time(); kombu's `unacked_index`):
    the tasks reserved or running under acks_late. Redis gives each back once it is older than the visibility
    timeout."""
    client = redis.client()
    try:
        return [score for _tag, score in client.zrange("unacked_index", 0, -1, withscores=True)]
    finally:
        client.close()


def task_ids(log: str, state: str, name: str = "notifications.send") -> set[str]:
    """The ids of the tasks a worker's log shows `state` ("received", "succeeded") for."""
    return set(re.findall(rf"Task {re.escape(name)}\[([0-9a-f-]+)\] {state}", log))


def start_worker_with(harness: Harness, options: list[str], *, concurrency: int = 2, prefetch: int = 1,
                      **env: str) -> Worker:
    """`Harness.start_worker` with more command-line options for celery (e.g. ["-O", "fair"])."""
    name = f"chaos{len(harness.workers) + 1}"
    worker = Worker({**harness.env, **env}, harness.tmp / f"{name}.log", name=name, concurrency=concurrency,
                    prefetch=prefetch)
    worker.args += options
    harness.workers.append(worker)
    return worker.start()


class PgDatabase(Database):
    """`Database` on a PostgreSQL database of the test's own (AV-5) instead of a SQLite file."""

    def __init__(self, url: str):
        self.path = None
        self.url = url
        self.engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})

    @property
    def name(self) -> str:
        return self.engine.url.database

    def backends(self) -> int:
        """Client connections to this database other than the asking one (the web app's and the worker's)."""
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"), {"db": self.name}).scalar()

    def terminate_backends(self) -> list[int]:
        """What a PostgreSQL restart does to the clients: every other connection to this database is ended (only
        this database's, never another's). Returns the process ids of those ended."""
        with self.engine.connect() as conn:
            return [pid for pid, ended in conn.execute(text(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db "
                "AND pid <> pg_backend_pid()"), {"db": self.name}) if ended]

    def still_running(self, pids: list[int]) -> list[int]:
        """Those of `pids` whose backend process has not exited yet."""
        with self.engine.connect() as conn:
            return list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                                     {"pids": pids}).scalars())


def prepare_postgres(url: str, instance: Path) -> PgDatabase:
    """The database of `url` created when missing, its schema emptied and built again by the migrations (`flask db
    upgrade` in a subprocess, as production does)."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :db"),
                            {"db": parsed.database}).first() is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    finally:
        admin.dispose()
    database = PgDatabase(url)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    env = clean_env(DATABASE_URL=url, CRM_INSTANCE_DIR=str(instance), CRM_CONFIG="development")
    subprocess.run([PYTHON, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    return database


class PgHarness(Harness):
    """The harness on a migrated PostgreSQL database (`prepare_postgres`) instead of a copy of the SQLite template:
    the web app, the workers and the test's own reads and writes all use it."""

    def __init__(self, tmp: Path, database: PgDatabase, mailbox: Mailbox, smtp_host: str, smtp_port: int):
        empty = tmp / "unused.sqlite"  # Harness copies a SQLite template; an empty one costs nothing
        sqlite3.connect(empty).close()
        super().__init__(tmp, empty, mailbox, smtp_host, smtp_port)
        self.db.close()
        self.db = database
        self.env["DATABASE_URL"] = database.url
