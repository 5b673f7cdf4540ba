"""Data integrity (RELIABILITY.md DI-1, DI-4, DI-5, DI-7, DI-8, DI-10) on the suite's database and on SQLite.

DI-7 and the SQLite half of DI-10 always build their own SQLite database in a temporary directory, whatever
TEST_DATABASE_URL says; the PostgreSQL half of DI-10 and the concurrent USCC race are marked `pg`.
"""
import logging
import multiprocessing
import os
import threading
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, event, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from crm import create_app
from crm.auth.models import User
from crm.companies import search_index, services
from crm.companies.models import Company, Contact
from crm.core.database import SQLITE_BUSY_TIMEOUT_MS, writing
from crm.core.text import normalise_name
from crm.core.timeutil import utcnow
from crm.errors import Conflict
from crm.extensions import db

from .. import factories
from ..conftest import need, pg_url, port_open
from ..factories import VALID_USCC, api_token, bearer, login, make_company, make_reference

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")
USCC = VALID_USCC[0]


# --- helpers ---------------------------------------------------------------------------------------------------------

def make_user(*args, **kwargs):
    # Requests and threads run on other app instances, so this test's session may hold an old SQLite snapshot;
    # writing from it would fail at once (a deferred read transaction cannot upgrade). Start a fresh transaction.
    db.session.rollback()
    return factories.make_user(*args, **kwargs)


def fresh(model, ident):
    db.session.rollback()
    return db.session.get(model, ident)


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


class _FormReader(HTMLParser):
    """What a browser would submit for each <form>: inputs, checked boxes, selected options, textareas."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.forms[-1][a["name"]] = a.get("value", "y")
            elif kind not in ("submit", "button", "file"):
                self.forms[-1][a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name")
            self.forms[-1].setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in a:
            self.forms[-1][self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.forms[-1][self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            if not self.forms[-1][self._textarea]:  # browsers drop one newline right after <textarea>
                data = data.removeprefix("\r\n") if data.startswith("\r\n") else data.removeprefix("\n")
            self.forms[-1][self._textarea] += data


def edit_form(html: str) -> dict[str, str]:
    reader = _FormReader()
    reader.feed(html)
    forms = [f for f in reader.forms if "version" in f and "name" in f]
    assert len(forms) == 1, reader.forms
    return forms[0]


def _app_on(url: str, config_name: str = "test", **overrides):
    other = create_app(config_name, SQLALCHEMY_DATABASE_URI=url, **overrides)
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def web(app):
    """The web app on the suite's database as a browser or a worker thread sees it: a fresh app context (and so a
    fresh SQLAlchemy session and Flask-Login user) per request or thread, not the test's own pushed context."""
    yield from _app_on(app.config["SQLALCHEMY_DATABASE_URI"])


def _sqlite_app(tmp_path, name: str = "crm.sqlite"):
    return create_app("test", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / name}")


def _dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


def _run_threads(n: int, work) -> list:
    """Run work(i, barrier) in n threads released together; return each one's result or exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            results[i] = work(i, barrier)
        except Exception as exc:  # noqa: BLE001  (collected and asserted on by the caller)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


# --- DI-1 ------------------------------------------------------------------------------------------------------------

def test_di1_second_save_of_a_stale_edit_form_gets_409(web):
    make_reference()
    officer = make_user(locale="en", name="Officer A")
    manager = make_user("manager", locale="en")
    company = make_company("吉安稀土新材料有限公司", owner=officer, cluster="electronic_info", notes="original note")
    url = f"/companies/{company.id}/edit"
    a, b = web.test_client(), web.test_client()
    login(a, officer)
    login(b, manager)
    read = company.version
    form_a = edit_form(a.get(url).get_data(as_text=True))
    form_b = edit_form(b.get(url).get_data(as_text=True))
    assert form_a["version"] == form_b["version"] == str(read)
    assert form_b["notes"] == "original note" and form_b["cluster"] == "electronic_info"

    form_a["employees"] = "350"
    response = a.post(url, data=form_a)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    form_b["notes"] = "B's stage note"
    response = b.post(url, data=form_b)
    assert response.status_code == 409
    assert "B&#39;s stage note" in response.get_data(as_text=True)  # B's input is still in the form

    stored = fresh(Company, company.id)
    assert stored.version == read + 1 and stored.employees == 350 and stored.notes == "original note"

    # the API: a PATCH that sends the version it read earlier changes nothing
    token = api_token(web.test_client(), officer)
    api = web.test_client()
    response = api.patch(f"/api/v1/companies/{company.id}", json={"version": read, "notes": "stale"},
                         headers=bearer(token))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"
    stored = fresh(Company, company.id)
    assert stored.version == read + 1 and stored.notes == "original note"
    response = api.patch(f"/api/v1/companies/{company.id}", json={"version": read + 1, "notes": "current"},
                         headers=bearer(token))
    assert response.status_code == 200 and response.get_json()["version"] == read + 2
    assert fresh(Company, company.id).notes == "current"


def test_di1_two_saves_at_the_same_moment_only_one_wins(web):
    officer = make_user()
    manager = make_user("manager")
    actors = [officer.id, manager.id]
    for round_ in range(3):
        company = make_company(f"并发编辑测试{round_}有限公司", owner=officer)
        read = company.version

        def save(i, barrier, company_id=company.id, read=read):
            with web.app_context(), writing():  # a POST request begins IMMEDIATE on SQLite
                barrier.wait()
                actor = db.session.get(User, actors[i])
                services.update_company(company_id, {"notes": f"writer {i}"}, actor=actor, version=read)
                return "ok"

        results = _run_threads(2, save)
        assert results.count("ok") == 1, results
        loser = next(r for r in results if r != "ok")
        assert isinstance(loser, Conflict | StaleDataError), repr(loser)
        stored = fresh(Company, company.id)
        assert stored.version == read + 1 and stored.notes in ("writer 0", "writer 1")


# --- DI-4 ------------------------------------------------------------------------------------------------------------

def _new_company_form(name: str) -> dict:
    return {"name": name, "uscc": USCC, "status": "prospect", "listing_status": "none",
            "contact_name": "王经理", "contact_mobile": "13800138000"}


def test_di4_double_submit_creates_one_company(web):
    make_reference()
    officer = make_user(name="李芳")
    client = web.test_client()
    login(client, officer)
    first = client.post("/companies/new", data=_new_company_form("深圳市华信精密电子有限公司"))
    second = client.post("/companies/new", data=_new_company_form("深圳市华信精密电子有限公司"))
    assert first.status_code == 302 and second.status_code == 409
    assert "李芳" in second.get_data(as_text=True)  # "already exists, held by ..."
    assert count(Company, Company.uscc == USCC) == 1
    assert count(Contact) == 1


def test_di4_concurrent_posts_with_one_uscc_make_one_row_and_no_500(web):
    make_reference()
    officers = [make_user() for _ in range(6)]
    clients = []
    for officer in officers:
        client = web.test_client()
        assert login(client, officer).status_code == 302
        clients.append(client)

    def post(i, barrier):
        barrier.wait()
        return clients[i].post("/companies/new", data=_new_company_form(f"同码企业{i}有限公司")).status_code

    statuses = _run_threads(len(clients), post)
    assert sorted(statuses) == [302] + [409] * (len(clients) - 1), statuses
    assert count(Company, Company.uscc == USCC) == 1


@pytest.mark.pg
def test_di4_ten_threads_create_the_same_uscc_exactly_one_row(web):
    officers = [make_user() for _ in range(10)]
    ids = [o.id for o in officers]

    def create(i, barrier):
        with web.app_context(), writing():  # what a POST does; a no-op on PostgreSQL
            barrier.wait()
            actor = db.session.get(User, ids[i])
            services.create_company({"name": f"竞争企业{i}有限公司", "uscc": USCC}, actor=actor,
                                    contacts=[{"name": f"联系人{i}"}])
            return "ok"

    results = _run_threads(10, create)
    assert results.count("ok") == 1, results
    losers = [r for r in results if r != "ok"]
    assert all(isinstance(r, Conflict) for r in losers), [repr(r) for r in losers]
    assert all(r.duplicates and r.duplicates[0].reason == "uscc" for r in losers)
    assert count(Company, Company.uscc == USCC) == 1
    assert count(Contact) == 1  # the losers' contacts were rolled back with them


# --- DI-5 ------------------------------------------------------------------------------------------------------------

def _upsert(dialect: str, name: str):
    """INSERT ... ON CONFLICT DO NOTHING on the live-USCC index: it must repeat the index's WHERE predicate."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(Company).values(name=name, name_norm=normalise_name(name), uscc=USCC)
    return stmt.on_conflict_do_nothing(index_elements=["uscc"], index_where=Company.deleted_at.is_(None)).returning(
        Company.id)


def test_di5_soft_deleted_uscc_can_be_reused_but_the_old_row_not_restored(dialect):
    manager = make_user("manager")
    old = services.create_company({"name": "旧企业有限公司", "uscc": USCC}, actor=manager)
    old_id = old.id
    services.delete_company(old_id, actor=manager)

    new = services.create_company({"name": "新企业有限公司", "uscc": USCC}, actor=manager)
    assert new.id != old_id
    assert count(Company, Company.uscc == USCC) == 2
    assert count(Company, Company.uscc == USCC, Company.deleted_at.is_(None)) == 1

    with pytest.raises(Conflict) as refused:
        services.restore_company(old_id, actor=manager)
    assert USCC in refused.value.message
    db.session.rollback()
    assert fresh(Company, old_id).deleted_at is not None

    # the database itself holds the rule, not only the service
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE company SET deleted_at = NULL WHERE id = :id"), {"id": old_id})
        db.session.flush()
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.add(Company(name="第三家有限公司", uscc=USCC))
        db.session.flush()
    db.session.rollback()

    # an upsert keyed on the partial index skips the live row ...
    assert db.session.execute(_upsert(dialect, "插入冲突有限公司")).first() is None
    db.session.commit()
    assert count(Company, Company.uscc == USCC) == 2
    # ... and inserts once only deleted rows hold the code
    services.delete_company(new.id, actor=manager)
    inserted = db.session.execute(_upsert(dialect, "插入成功有限公司")).first()
    db.session.commit()
    assert inserted is not None
    assert count(Company, Company.uscc == USCC, Company.deleted_at.is_(None)) == 1
    # with no live holder left, the original can come back
    db.session.execute(text("UPDATE company SET deleted_at = :now WHERE id = :id"),
                       {"now": utcnow(), "id": inserted.id})
    db.session.commit()
    restored = services.restore_company(old_id, actor=manager)
    assert restored.deleted_at is None
    assert count(Company, Company.uscc == USCC, Company.deleted_at.is_(None)) == 1


# --- DI-7 (always on a SQLite file of its own) ----------------------------------------------------------------------

@pytest.mark.sqlite
def test_di7_sqlite_connections_get_wal_foreign_keys_busy_timeout_and_normal_sync(tmp_path):
    lite = _sqlite_app(tmp_path)
    try:
        with lite.app_context():
            db.create_all()
            db.engine.dispose()
            with db.engine.connect() as conn:  # a brand-new connection from the pool
                pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                          for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}
        assert pragma["journal_mode"] == "wal"
        assert pragma["foreign_keys"] == 1
        assert pragma["busy_timeout"] >= 5000 and SQLITE_BUSY_TIMEOUT_MS >= 5000
        assert pragma["synchronous"] == 1  # NORMAL
    finally:
        _dispose(lite)


@pytest.mark.sqlite
def test_di7_writers_begin_immediate_so_a_second_writer_waits_instead_of_failing(tmp_path):
    lite = _sqlite_app(tmp_path)
    try:
        with lite.app_context():
            db.create_all()
            engine = db.engine
            locked, done = threading.Event(), threading.Event()

            def hold_the_write_lock():
                with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
                    conn.exec_driver_sql("INSERT INTO team (name, version, created_at, updated_at) "
                                         "VALUES ('holder', 1, '2024-01-01', '2024-01-01')")
                    locked.set()
                    time.sleep(0.5)
                done.set()

            holder = threading.Thread(target=hold_the_write_lock)
            holder.start()
            assert locked.wait(10)
            started = time.monotonic()
            # a writer (BEGIN IMMEDIATE) waits on the busy timeout for the lock, then reads the holder's row
            with writing(), engine.connect() as conn, conn.begin():
                assert conn.exec_driver_sql("SELECT count(*) FROM team").scalar() == 1
                conn.exec_driver_sql("INSERT INTO team (name, version, created_at, updated_at) "
                                     "VALUES ('second', 1, '2024-01-01', '2024-01-01')")
            waited = time.monotonic() - started
            holder.join()
            assert done.is_set() and 0.2 < waited < SQLITE_BUSY_TIMEOUT_MS / 1000
    finally:
        _dispose(lite)


def _increment_worker(url: str, company_id: int, rounds: int, barrier, results) -> None:
    """One process: `rounds` read-then-write transactions through the app's engine, as a POST would run them."""
    app = create_app("test", SQLALCHEMY_DATABASE_URI=url)
    errors, first, last = [], None, None
    with app.app_context():
        barrier.wait()
        for _ in range(rounds):
            try:
                with writing():
                    company = db.session.get(Company, company_id)
                    first = first or time.monotonic()
                    employees = company.employees or 0
                    time.sleep(0.001)  # widen the gap between the read and the write
                    company.employees = employees + 1
                    db.session.commit()
                    last = time.monotonic()
                time.sleep(0.002)  # the gap between two requests, in which the other process gets its turn
            except Exception as exc:  # noqa: BLE001  (reported to the parent, which asserts there were none)
                db.session.rollback()
                errors.append(repr(exc))
        db.engine.dispose()
    results.put({"pid": os.getpid(), "errors": errors, "first": first, "last": last})


@pytest.mark.sqlite
def test_di7_two_processes_of_read_then_write_lose_nothing_and_never_lock(tmp_path):
    lite = _sqlite_app(tmp_path)
    url = lite.config["SQLALCHEMY_DATABASE_URI"]
    try:
        with lite.app_context():
            db.create_all()
            company = Company(name="计数器企业有限公司", employees=0)
            db.session.add(company)
            db.session.commit()
            company_id = company.id
            db.session.remove()
            db.engine.dispose()
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_increment_worker, args=(url, company_id, 100, barrier, results))
                 for _ in range(2)]
        for p in procs:
            p.start()
        reports = [results.get(timeout=240) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        errors = [e for r in reports for e in r["errors"]]
        assert errors == [], errors[:5]
        assert not any("database is locked" in e for e in errors)
        # the two processes really overlapped
        assert max(r["first"] for r in reports) < min(r["last"] for r in reports)
        with lite.app_context():
            stored = db.session.get(Company, company_id)
            assert stored.employees == 200  # no lost increments
            assert stored.version == 201
    finally:
        _dispose(lite)


# --- DI-8 (on the suite's database: SQLite in one pass, PostgreSQL in the other) -----------------------------------

def test_di8_deleting_a_company_that_has_contacts_is_refused_by_the_database():
    company = make_company("有联系人企业有限公司", contacts=[{"name": "张三"}, {"name": "李四"}])
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(text("DELETE FROM company WHERE id = :id"), {"id": company.id})
        db.session.flush()
    db.session.rollback()
    assert count(Company) == 1 and count(Contact, Contact.company_id == company.id) == 2
    # once the children are gone the same statement works (the refusal was the foreign key)
    db.session.execute(text("DELETE FROM contact WHERE company_id = :id"), {"id": company.id})
    db.session.execute(text("DELETE FROM company WHERE id = :id"), {"id": company.id})
    db.session.commit()
    assert count(Company) == 0


def test_di8_a_failing_third_contact_leaves_no_company_and_no_contacts():
    officer = make_user()

    def break_third(_mapper, _conn, target):
        if target.name == "第三位":
            target.company_id = 987_654_321  # no such company: the INSERT violates the foreign key

    event.listen(Contact, "before_insert", break_third)
    try:
        with pytest.raises(IntegrityError):
            services.create_company({"name": "半途失败企业有限公司", "uscc": USCC}, actor=officer,
                                    contacts=[{"name": "第一位"}, {"name": "第二位"}, {"name": "第三位"}])
    finally:
        event.remove(Contact, "before_insert", break_third)
    db.session.rollback()
    assert count(Company) == 0
    assert count(Contact) == 0
    # and the same data without the fault goes in whole
    services.create_company({"name": "半途失败企业有限公司", "uscc": USCC}, actor=officer,
                            contacts=[{"name": "第一位"}, {"name": "第二位"}, {"name": "第三位"}])
    assert count(Company) == 1 and count(Contact) == 3


# --- DI-10 -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def keep_logging():
    """Alembic's env.py runs logging.fileConfig, which replaces handlers and disables loggers; put them back."""
    manager = logging.root.manager
    loggers = [logging.root] + [lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = {lg: (lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers}
    yield
    for lg in [logging.root] + [lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger)]:
        level, handlers, propagate, disabled = saved.get(lg, (logging.NOTSET, [], True, False))
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


def _schema_differences() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": search_index.include_object})
        return compare_metadata(context, db.metadata)


def _migration_round_trip(url: str) -> None:
    mig = create_app("test", SQLALCHEMY_DATABASE_URI=url)
    try:
        with mig.app_context():
            assert inspect(db.engine).get_table_names() == []
            flask_migrate.upgrade(directory=MIGRATIONS)
            assert _schema_differences() == []
            tables = {t for t in inspect(db.engine).get_table_names() if search_index.include_object(None, t, "table",
                                                                                                  True, None)}
            assert {t.name for t in db.metadata.sorted_tables} | {"alembic_version"} == tables
            # the search index is there too, and is dropped again by the downgrade
            if db.engine.dialect.name == "sqlite":
                assert "company_search" in inspect(db.engine).get_table_names()

            flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

            flask_migrate.upgrade(directory=MIGRATIONS)
            assert _schema_differences() == []
            with db.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            # the migrated schema works: a row goes in and the live-USCC rule holds
            with db.engine.begin() as conn:
                conn.execute(Company.__table__.insert().values(name="迁移测试", name_norm="迁移测试", uscc=USCC,
                                                                version=1, search_text="", address="",
                                                                short_name="", notes=""))
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                conn.execute(Company.__table__.insert().values(name="迁移测试2", name_norm="迁移测试2", uscc=USCC,
                                                                version=1, search_text="", address="",
                                                                short_name="", notes=""))
    finally:
        _dispose(mig)


@pytest.mark.sqlite
def test_di10_sqlite_migrations_build_the_models_schema_and_round_trip(tmp_path, keep_logging):
    _migration_round_trip(f"sqlite:///{tmp_path / 'migrated.sqlite'}")


@pytest.mark.pg
def test_di10_postgresql_migrations_build_the_models_schema_and_round_trip(keep_logging):
    server = os.environ.get("TEST_DATABASE_URL", "")
    server = make_url(server if server.startswith("postgresql") else pg_url())
    need(port_open(server.host or "127.0.0.1", server.port or 5432), "PostgreSQL is not running")
    name = f"crm_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            _migration_round_trip(server.set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with admin.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}).scalar() == 0
    finally:
        admin.dispose()
