"""Test set-up: one app per session on SQLite (default) or PostgreSQL (TEST_DATABASE_URL), a clean database per test.

With CI=true the suites that need real PostgreSQL, Redis or Chromium must run: their fixtures fail instead of
skipping when the server is missing.
"""
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from werkzeug.serving import make_server

os.environ.setdefault("CRM_CONFIG", "test")

from flask.testing import FlaskClient  # noqa: E402

from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402

from .factories import login, make_user  # noqa: E402,F401

ON_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip off CI when a real service is missing; on CI a missing service is a failure."""
    if condition:
        return
    if ON_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pg_url() -> str:
    return os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The suite keeps one app context pushed for the whole test (so tests can use db.session); a plain client's
    requests would reuse it, so `g` (Flask-Login's user, Flask-Babel's locale) and the SQLAlchemy session would
    carry over between requests and even between two clients. The test's own session also ends its transaction
    around each request, so its next read sees what the request wrote.
    """

    def open(self, *args, **kwargs):
        db.session.rollback()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.rollback()
        return response


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    if url.startswith("postgresql"):
        parts = urlsplit(url)
        need(port_open(parts.hostname or "127.0.0.1", parts.port or 5432), "PostgreSQL is not running")
    instance = tmp_path_factory.mktemp("instance")
    app = create_app("test", SQLALCHEMY_DATABASE_URI=url)
    app.instance_path = str(instance)
    app.test_client_class = IsolatedClient
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        db.drop_all()
        db.create_all()
    yield app


@pytest.fixture(autouse=True)
def _clean_db(request, app):
    """Every test starts from empty tables (rows deleted, not the schema rebuilt)."""
    ctx = app.app_context()
    ctx.push()
    yield
    db.session.rollback()
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        _clean_postgresql()
    else:
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.exec_driver_sql("DELETE FROM sqlite_sequence") if _has_sequence(conn) else None
    ctx.pop()


#: every sequence of the schema back to its start, as TRUNCATE ... RESTART IDENTITY would leave it
_RESTART_SEQUENCES = ("SELECT setval(seqrelid, seqstart, false) FROM pg_sequence JOIN pg_class c ON c.oid = seqrelid "
                      "WHERE c.relnamespace = 'public'::regnamespace")


def _clean_postgresql() -> None:
    """Empty every table and restart the ids in one round trip.

    DELETE, children first, rather than TRUNCATE: a test's few rows go in about 2 ms, while TRUNCATE gives every
    table new files (about 50 ms a test, a minute over the PostgreSQL pass). Should the DELETEs ever fail (a
    foreign-key cycle in a new model), TRUNCATE ... CASCADE still cleans up.
    """
    tables = db.metadata.sorted_tables
    deletes = "; ".join(f'DELETE FROM "{t.name}"' for t in reversed(tables))
    try:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"{deletes}; {_RESTART_SEQUENCES}")
    except DBAPIError:
        names = ", ".join(f'"{t.name}"' for t in tables)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def _has_sequence(conn) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'").first() is not None


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dialect(app) -> str:
    return db.engine.dialect.name


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    need(os.path.exists(path), "Chromium is not installed (apt-get install chromium)")
    return path

# --- browser tests: a live server (the real app with CSRF on) in a thread, and headless Chromium driven by Playwright

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def live_server(app):
    live = create_app("test", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=True)
    live.instance_path = app.instance_path
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_factory(browser):
    contexts = []

    def make(width=1366, height=900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
