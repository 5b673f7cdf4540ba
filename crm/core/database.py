"""Engine set-up that makes the embedded SQLite default behave like PostgreSQL.

SQLite gets foreign keys, WAL, a busy timeout and synchronous=NORMAL on every connection. pysqlite's own
transaction handling is switched off (the documented SQLAlchemy recipe) so that we emit BEGIN ourselves: requests
that will write (POST/PUT/PATCH/DELETE, CLI commands, worker tasks) begin with BEGIN IMMEDIATE and so wait on the
busy timeout for the write lock, instead of failing at once when a deferred read transaction tries to upgrade.
"""
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: True while the current unit of work is expected to write
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)

SQLITE_BUSY_TIMEOUT_MS = 10_000


@contextmanager
def writing():
    """Mark the code inside as a writer, so its SQLite transaction begins IMMEDIATE."""
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


#: PostgreSQL's "this session was ended by the server" errors (admin_shutdown, crash_shutdown, cannot_connect_now):
#: the connection is gone, whatever state the driver has noticed yet
_SERVER_ENDED_SESSION = {"57P01", "57P02", "57P03"}


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        @event.listens_for(engine, "handle_error")
        def _ended_by_server(context):
            """A backend terminated by the server (pg_terminate_backend, a fast restart: AV-5) is a disconnect, also
            when the driver reads the server's goodbye before it sees the socket close: pool_pre_ping then opens a
            new connection at checkout instead of raising the goodbye, and the pool drops its other old ones."""
            if getattr(context.original_exception, "sqlstate", None) in _SERVER_ENDED_SESSION:
                context.is_disconnect = True
        return
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database and engine.url.database != ":memory:":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = write_intent.get() or conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def refresh_statistics(engine: Engine) -> None:
    """ANALYZE: give the query planner row statistics (SQLite has none until asked; PostgreSQL's autovacuum also
    does it). Without them SQLite may pick a poor index for the company list. Run after bulk loads and daily."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        conn.exec_driver_sql("ANALYZE")
