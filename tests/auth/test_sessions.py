"""Sessions and sign-in (RELIABILITY.md SA-1 to SA-7, SA-8 in part, SA-9) through the Flask test client.

Sessions live server-side in `user_session`: the cookie only carries a token, so logout, a password change,
deactivation and "terminate sessions" end a session everywhere, and moving `last_seen_at` or `expires_at` back in
the database is how the timeouts are exercised.
"""
import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash

from crm import create_app
from crm.auth.models import LoginAttempt, User, UserSession
from crm.auth.services import password_problems
from crm.companies.models import Company
from crm.core.timeutil import as_aware, utcnow
from crm.extensions import db
from crm.reference.models import RefItem

from .. import factories
from ..factories import (
    PASSWORD,
    api_token,
    bearer,
    csrf_token,
    login,
    make_company,
    make_contact,
    make_reference,
    make_team,
)

SESSION_COOKIE = "session"
REMEMBER_COOKIE = "remember_token"
NEW_PASSWORD = "a fresh passphrase 2024"


# --- helpers ---------------------------------------------------------------------------------------------------------

def make_user(*args, **kwargs):
    # Requests run on other app instances, so this test's session may hold an old SQLite snapshot; writing from it
    # would fail at once (a deferred read transaction cannot upgrade). Start from a fresh transaction.
    db.session.rollback()
    return factories.make_user(*args, **kwargs)


def cookie(client, name: str) -> str:
    found = client.get_cookie(name)
    assert found is not None, f"no {name} cookie"
    return found.value


def replay(app, **cookies):
    """A brand-new browser that only has the given cookies."""
    fresh = app.test_client()
    for name, value in cookies.items():
        fresh.set_cookie(name, value)
    return fresh


def signed_in(client) -> bool:
    """True when the dashboard opens; False when the request is sent to the sign-in page (anything else fails)."""
    response = client.get("/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302, response.status_code
    assert urlsplit(response.headers["Location"]).path == "/login", response.headers["Location"]
    return False


def api_ok(app, token: str) -> bool:
    status = app.test_client().get("/api/v1/companies", headers=bearer(token)).status_code
    assert status in (200, 401), status
    return status == 200


def live_sessions(user_id: int, kind: str = "web") -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(UserSession).where(
        UserSession.user_id == user_id, UserSession.kind == kind, UserSession.revoked_at.is_(None)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_row(client) -> UserSession:
    """The user_session row behind a client's session cookie."""
    with client.session_transaction() as sess:
        token = sess["_user_id"]
    db.session.rollback()
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    assert row is not None
    return row


def shift_session(row_id: int, **deltas: timedelta) -> None:
    """Move a session's timestamps into the past, as if that much time had passed."""
    db.session.rollback()
    row = db.session.get(UserSession, row_id)
    values = {name: as_aware(getattr(row, name)) - delta for name, delta in deltas.items()}
    db.session.execute(update(UserSession).where(UserSession.id == row_id).values(**values))
    db.session.commit()


def parse_set_cookies(response) -> dict[str, dict[str, str]]:
    """Set-Cookie headers as {name: {"value": ..., attribute (lower-case): value or ""}}."""
    out = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        parsed = {"value": value}
        for attr in attrs:
            key, _, val = attr.partition("=")
            parsed[key.strip().lower()] = val.strip()
        out[name] = parsed
    return out


def user_version(user_id: int) -> int:
    db.session.rollback()
    return db.session.get(User, user_id).version


def db_snapshot() -> str:
    """A checksum of every row of every table: a refused request must leave it unchanged."""
    db.session.rollback()
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        for row in db.session.execute(select(table).order_by(*pk)):
            digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


def _app_on_test_db(app, config_name: str = "test", **overrides):
    other = create_app(config_name, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], **overrides)
    yield other
    with other.app_context():
        db.engine.dispose()


# Requests go to app instances of their own: conftest keeps the session app's context pushed during a test, and a
# request reuses a pushed context of its own app, so Flask-Login's cached user in `g` would leak from one client's
# request into the next one's and hide a revoked session. A separate instance gets a fresh context per request.

@pytest.fixture(scope="module")
def web(app):
    """The web app as a browser sees it (test config, CSRF off)."""
    yield from _app_on_test_db(app)


@pytest.fixture(scope="module")
def web2(app):
    """A second web worker on the same database."""
    yield from _app_on_test_db(app)


@pytest.fixture(scope="module")
def csrf_app(app):
    """The test config with CSRF protection switched on, as in production."""
    yield from _app_on_test_db(app, WTF_CSRF_ENABLED=True)


@pytest.fixture(scope="module")
def prod_app(app):
    yield from _app_on_test_db(app, "production", SECRET_KEY="x" * 40)


@pytest.fixture
def client(web):
    return web.test_client()


# --- SA-1 ------------------------------------------------------------------------------------------------------------

def test_sa1_logout_ends_the_session_and_the_remember_cookie(web, client):
    user = make_user()
    assert login(client, user, remember=True).status_code == 302
    session_value, remember_value = cookie(client, SESSION_COOKIE), cookie(client, REMEMBER_COOKIE)
    # each cookie on its own signs a new browser in before logout (the replay below is a real check)
    assert signed_in(replay(web, **{SESSION_COOKIE: session_value}))
    assert signed_in(replay(web, **{REMEMBER_COOKIE: remember_value}))

    response = client.post("/logout")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert not signed_in(client)
    assert live_sessions(user.id) == 0

    assert not signed_in(replay(web, **{SESSION_COOKIE: session_value}))
    assert not signed_in(replay(web, **{REMEMBER_COOKIE: remember_value}))
    assert not signed_in(replay(web, **{SESSION_COOKIE: session_value, REMEMBER_COOKIE: remember_value}))


# --- SA-2 ------------------------------------------------------------------------------------------------------------

class Devices:
    """User U signed in on two browsers, a third browser holding only a remember cookie, and an API token."""

    def __init__(self, app, user):
        self.app, self.user = app, user
        self.client1, self.client2, third = app.test_client(), app.test_client(), app.test_client()
        assert login(self.client1, user, remember=True).status_code == 302
        assert login(self.client2, user).status_code == 302
        assert login(third, user, remember=True).status_code == 302
        self.remembered = replay(app, **{REMEMBER_COOKIE: cookie(third, REMEMBER_COOKIE)})
        self.token = api_token(app.test_client(), user)
        assert self.state() == {"client1": True, "client2": True, "remember": True, "api": True}

    def state(self) -> dict[str, bool]:
        return {"client1": signed_in(self.client1), "client2": signed_in(self.client2),
                "remember": signed_in(self.remembered), "api": api_ok(self.app, self.token)}


def test_sa2_own_password_change_keeps_this_browser_and_ends_the_others(web):
    user = make_user(locale="en")
    devices = Devices(web, user)
    response = devices.client1.post("/profile", data={"action": "password", "pw-current": PASSWORD,
                                                      "pw-new": NEW_PASSWORD})
    assert response.status_code == 302
    assert devices.state() == {"client1": True, "client2": False, "remember": False, "api": False}
    assert live_sessions(user.id) == 1 and live_sessions(user.id, "api") == 0
    # the old password is gone, the new one works
    assert login(web.test_client(), user).status_code == 401
    assert login(web.test_client(), user, NEW_PASSWORD).status_code == 302


def _admin_reset(admin_client, user):
    return admin_client.post(f"/admin/users/{user.id}/password", data={"password": NEW_PASSWORD})


def _admin_deactivate(admin_client, user):
    return admin_client.post(f"/admin/users/{user.id}", data={
        "email": user.email, "name": user.name, "role": user.role, "team_id": str(user.team_id),
        "department": "", "locale": user.locale, "version": str(user_version(user.id))})  # "active" unticked


def _admin_terminate(admin_client, user):
    return admin_client.post(f"/admin/users/{user.id}/sessions/terminate")


@pytest.mark.parametrize("action", [_admin_reset, _admin_deactivate, _admin_terminate],
                         ids=["reset-password", "deactivate", "terminate-sessions"])
def test_sa2_admin_actions_end_every_session_and_token(web, action):
    team = make_team()
    user = make_user(team=team, locale="en")
    admin = make_user("admin")
    admin_client = web.test_client()
    assert login(admin_client, admin).status_code == 302
    devices = Devices(web, user)

    response = action(admin_client, user)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert devices.state() == {"client1": False, "client2": False, "remember": False, "api": False}
    assert live_sessions(user.id) == 0 and live_sessions(user.id, "api") == 0
    assert signed_in(admin_client)  # the admin's own session is untouched

    db.session.rollback()
    stored = db.session.get(User, user.id)
    if action is _admin_reset:
        assert check_password_hash(stored.password_hash, NEW_PASSWORD)
        assert login(web.test_client(), user).status_code == 401
    elif action is _admin_deactivate:
        assert stored.is_active_user is False
        assert login(web.test_client(), user).status_code == 401
    else:
        # sessions ended, the account itself is fine: signing in again works
        assert login(web.test_client(), user).status_code == 302


# --- SA-3 ------------------------------------------------------------------------------------------------------------

def test_sa3_sign_in_starts_a_new_session(csrf_app):
    user = make_user()
    client = csrf_app.test_client()
    page = client.get("/login", query_string={"next": "/companies"})
    form_token = csrf_token(page.get_data(as_text=True))
    with client.session_transaction() as sess:
        assert "csrf_token" in sess  # the anonymous session really exists
        pre_csrf = sess["csrf_token"]
        sess["planted"] = "set before sign-in"
    before = cookie(client, SESSION_COOKIE)
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0

    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": "/companies",
                                           "csrf_token": form_token})
    assert response.status_code == 302 and response.headers["Location"] == "/companies"  # the allowed next
    after = cookie(client, SESSION_COOKIE)
    assert after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("csrf_token") != pre_csrf
        token = sess["_user_id"]
    db.session.rollback()
    rows = db.session.scalars(select(UserSession)).all()
    assert len(rows) == 1 and rows[0].token_hash == token_hash(token) and rows[0].user_id == user.id
    assert signed_in(client)
    # the cookie from before sign-in (a fixation attempt) authenticates nobody
    assert not signed_in(replay(csrf_app, **{SESSION_COOKIE: before}))

    # the next sign-in gets yet another session id
    assert client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))}
                       ).status_code == 302
    page = client.get("/login")
    client.post("/login", data={"email": user.email, "password": PASSWORD,
                                "csrf_token": csrf_token(page.get_data(as_text=True))})
    with client.session_transaction() as sess:
        assert sess["_user_id"] != token
    assert not signed_in(replay(csrf_app, **{SESSION_COOKIE: after}))


# --- SA-4 ------------------------------------------------------------------------------------------------------------

def test_sa4_production_cookies_are_secure_host_only_and_httponly(prod_app):
    user = make_user()
    client = prod_app.test_client()
    https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}
    page = client.get("/login", **https)
    assert page.status_code == 200
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y",
                                           "csrf_token": csrf_token(page.get_data(as_text=True))}, **https)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    cookies = parse_set_cookies(response)
    assert set(cookies) >= {"__Host-session", "__Host-remember"}, cookies
    for name in ("__Host-session", "__Host-remember"):
        attrs = cookies[name]
        assert "secure" in attrs, (name, attrs)
        assert "httponly" in attrs, (name, attrs)
        assert attrs.get("samesite", "").lower() in ("lax", "strict"), (name, attrs)
        assert attrs.get("path") == "/", (name, attrs)
        assert "domain" not in attrs, (name, attrs)
    # the remember cookie lasts the configured 14 days, not Flask-Login's old 365-day default
    expires = parsedate_to_datetime(cookies["__Host-remember"]["expires"])
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14, minutes=1)
    assert prod_app.config["REMEMBER_COOKIE_HTTPONLY"] is True and prod_app.config["REMEMBER_COOKIE_SECURE"] is True
    assert client.get("/", **https).status_code == 200  # the cookies do sign the browser in

    # the language cookie is also Secure and HttpOnly
    token = csrf_token(client.get("/profile", **https).get_data(as_text=True))
    lang = parse_set_cookies(client.post("/lang/en", data={"csrf_token": token}, **https))
    assert "secure" in lang["lang"] and "httponly" in lang["lang"] and lang["lang"]["samesite"].lower() == "lax"


def test_sa4_production_refuses_a_weak_secret(web):
    with pytest.raises(RuntimeError):
        create_app("production", SECRET_KEY="short", SQLALCHEMY_DATABASE_URI=web.config["SQLALCHEMY_DATABASE_URI"])


# --- SA-5 ------------------------------------------------------------------------------------------------------------

def test_sa5_idle_session_times_out(web, client):
    user = make_user()
    login(client, user)
    row = session_row(client)
    idle = web.config["CRM_SESSION_IDLE"]
    shift_session(row.id, last_seen_at=idle - timedelta(minutes=1))
    assert signed_in(client)  # within the limit (and the request refreshes last_seen_at)
    assert as_aware(db.session.get(UserSession, row.id).last_seen_at) > utcnow() - timedelta(minutes=1)
    shift_session(row.id, last_seen_at=idle + timedelta(minutes=1))
    assert not signed_in(client)


def test_sa5_absolute_limit_ends_even_an_active_session(web, client):
    user = make_user()
    login(client, user)
    row = session_row(client)
    absolute = web.config["CRM_SESSION_ABSOLUTE"]
    assert absolute <= timedelta(hours=12)
    assert abs(as_aware(row.expires_at) - as_aware(row.created_at) - absolute) < timedelta(seconds=5)
    # the browser stayed busy (last_seen is now) but the session was opened longer ago than the absolute limit
    shift_session(row.id, created_at=absolute + timedelta(minutes=1), expires_at=absolute + timedelta(minutes=1))
    assert not signed_in(client)


def test_sa5_remember_cookie_expires_after_its_configured_age(web, client):
    user = make_user()
    response = login(client, user, remember=True)
    age = web.config["REMEMBER_COOKIE_DURATION"]
    assert age <= timedelta(days=14)
    expires = parsedate_to_datetime(parse_set_cookies(response)[REMEMBER_COOKIE]["expires"])
    assert expires - datetime.now(UTC) <= age + timedelta(minutes=1)
    remember_value = cookie(client, REMEMBER_COOKIE)
    row = session_row(client)
    assert abs(as_aware(row.expires_at) - as_aware(row.created_at) - age) < timedelta(seconds=5)
    assert signed_in(replay(web, **{REMEMBER_COOKIE: remember_value}))
    shift_session(row.id, created_at=age + timedelta(minutes=1), expires_at=age + timedelta(minutes=1))
    assert not signed_in(replay(web, **{REMEMBER_COOKIE: remember_value}))
    assert not signed_in(client)


def test_sa5_remember_restored_session_must_sign_in_again_for_admin_user_pages(web):
    admin = make_user("admin", locale="en")
    target = make_user()
    fresh_client = web.test_client()
    login(fresh_client, admin, remember=True)
    third = web.test_client()
    login(third, admin, remember=True)
    remember_value = cookie(third, REMEMBER_COOKIE)
    restored = replay(web, **{REMEMBER_COOKIE: remember_value})

    assert restored.get("/admin/users").status_code == 200  # a plain admin page is fine
    with restored.session_transaction() as sess:
        assert sess.get("_fresh") is False  # restored from the remember cookie
    guarded = [("get", "/admin/users/new"), ("get", f"/admin/users/{target.id}"),
               ("post", f"/admin/users/{target.id}/password", {"password": NEW_PASSWORD}),
               ("post", f"/admin/users/{target.id}/sessions/terminate", {})]
    target_client = web.test_client()
    login(target_client, target)
    for method, url, *data in guarded:
        response = getattr(restored, method)(url, data=data[0] if data else None)
        assert response.status_code == 302, (url, response.status_code)
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login" and "next=" in location.query, (url, response.headers["Location"])
    db.session.rollback()
    assert check_password_hash(db.session.get(User, target.id).password_hash, PASSWORD)  # nothing was changed
    assert signed_in(target_client)
    # the fresh browser that typed the password may use them
    assert fresh_client.get("/admin/users/new").status_code == 200

    # re-authenticating on the restored browser makes it fresh again and lands on the page it asked for
    to_login = restored.get("/admin/users/new").headers["Location"]
    page = restored.get(to_login)
    assert page.status_code == 200, (to_login, page.status_code, page.headers.get("Location"))
    response = restored.post(to_login, data={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users/new"
    assert restored.get("/admin/users/new").status_code == 200
    # the restored session that this sign-in replaced is over; the other browser's is not
    assert not signed_in(replay(web, **{REMEMBER_COOKIE: remember_value}))
    assert signed_in(fresh_client)


# --- SA-6 ------------------------------------------------------------------------------------------------------------

EVIL_NEXT = ["https://evil.test", "//evil.test", "////evil.test", "/\\evil.test", "\\/evil.test", "https:evil.test",
             "javascript:alert(1)", "%2F%2Fevil.test", "/%09/evil.test", "/\t/evil.test", " //evil.test",
             "http://localhost@evil.test", "//localhost%2F@evil.test"]


def resolved_host(location: str) -> tuple[str, str]:
    """Where a browser goes for this Location: it treats backslashes as slashes and drops tabs and newlines."""
    browser = re.sub(r"[\t\n\r]", "", location.replace("\\", "/")).strip()
    parts = urlsplit(urljoin("http://localhost/login", browser))
    return parts.scheme, parts.netloc


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_sa6_next_never_leaves_the_site(web, target):
    user = make_user()
    # the real flow: ?next= on the login page becomes the form's hidden field
    client = web.test_client()
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    hidden = re.search(r'name="next"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*name="next"', page)
    form_next = (hidden.group(1) or hidden.group(2)) if hidden else target
    attempts = [
        lambda c: c.post("/login", data={"email": user.email, "password": PASSWORD, "next": unescape(form_next)}),
        lambda c: c.post("/login", data={"email": user.email, "password": PASSWORD, "next": target}),
        lambda c: c.post("/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD}),
        lambda c: c.post(f"/login?next={target}", data={"email": user.email, "password": PASSWORD}),
    ]
    for attempt in attempts:
        response = attempt(web.test_client())
        assert response.status_code == 302
        location = response.headers["Location"]
        assert resolved_host(location) in {("http", "localhost"), ("https", "localhost")}, (target, location)
        assert "evil.test" not in urlsplit(location).netloc and not location.startswith("javascript:")


def test_sa6_a_path_on_this_site_is_honoured(web, client):
    user = make_user()
    response = client.get("/companies?x=1")
    assert response.status_code == 302
    to_login = response.headers["Location"]
    page = client.get(to_login).get_data(as_text=True)
    form_next = unescape(re.search(r'name="next"[^>]*value="([^"]*)"', page).group(1))
    assert form_next == "/companies?x=1"
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": form_next})
    assert response.status_code == 302 and response.headers["Location"] == "/companies?x=1"
    assert client.get(response.headers["Location"]).status_code == 200


# --- SA-7 ------------------------------------------------------------------------------------------------------------

HTML_BLUEPRINTS = {"auth", "companies", "admin", "home"}


def _csrf_login(client, user) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302


def _world() -> dict:
    """One of everything a URL can point at."""
    make_reference()
    team = make_team()
    officer = make_user(team=team)
    company = make_company("CSRF 测试企业有限公司", owner=officer)
    contact = make_contact(company, mobile="13800138000")
    make_company("已删除企业有限公司", deleted=True)
    item = db.session.scalar(select(RefItem).where(RefItem.kind == "cluster"))
    return {"company_id": company.id, "contact_id": contact.id, "user_id": officer.id, "team_id": team.id,
            "item_id": item.id, "kind": "cluster", "code": "en"}


def _state_changing_rules(app) -> list:
    rules = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        methods = rule.methods - {"GET", "HEAD", "OPTIONS"}
        if blueprint in HTML_BLUEPRINTS and methods:
            rules.append((rule, sorted(methods)))
    return rules


class _TwoHoursAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 7200


def test_sa7_every_html_post_needs_this_sessions_csrf_token(csrf_app):
    world = _world()
    admin = make_user("admin")
    client = csrf_app.test_client()
    _csrf_login(client, admin)
    good_token = csrf_token(client.get("/profile").get_data(as_text=True))
    other = csrf_app.test_client()
    foreign_token = csrf_token(other.get("/login").get_data(as_text=True))
    # an expired token of this very session: its raw value signed two hours ago (the limit is one hour)
    with client.session_transaction() as sess:
        raw = sess["csrf_token"]
    expired_token = URLSafeTimedSerializer(csrf_app.secret_key, salt="wtf-csrf-token",
                                           signer=_TwoHoursAgo).dumps(raw)
    assert good_token and foreign_token and expired_token and len({good_token, foreign_token, expired_token}) == 3

    rules = _state_changing_rules(csrf_app)
    endpoints = {rule.endpoint for rule, _ in rules}
    assert {"auth.logout", "auth.login", "companies.create", "companies.delete", "admin.reset_password",
            "admin.terminate_sessions", "admin.settings"} <= endpoints
    with csrf_app.test_request_context():
        from flask import url_for
        urls = [(rule.endpoint, url_for(rule.endpoint, **{a: world[a] for a in rule.arguments}), methods)
                for rule, methods in rules]
    before = db_snapshot()
    for endpoint, url, methods in urls:
        for method in methods:
            for label, token in [("none", None), ("foreign", foreign_token), ("expired", expired_token)]:
                data = {"name": "changed", "password": NEW_PASSWORD, "protection_days": "3", "owner_id": "1",
                        "action": "password", "pw-current": PASSWORD, "pw-new": NEW_PASSWORD, "version": "1"}
                if token:
                    data["csrf_token"] = token
                response = client.open(url, method=method, data=data)
                assert response.status_code == 400, (endpoint, method, label, response.status_code)
                assert db_snapshot() == before, (endpoint, method, label)
    assert signed_in(client)  # not even logout happened
    # control: the same session's own token is accepted, and so is the raw value signed now
    response = client.post(f"/companies/{world['company_id']}/release", data={"csrf_token": good_token})
    assert response.status_code == 302
    fresh_token = URLSafeTimedSerializer(csrf_app.secret_key, salt="wtf-csrf-token").dumps(raw)
    response = client.post(f"/companies/{world['company_id']}/claim", data={"csrf_token": fresh_token})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Company, world["company_id"]).owner_id == admin.id
    response = client.post(f"/companies/{world['company_id']}/release", data={"csrf_token": good_token})
    db.session.rollback()
    assert db.session.get(Company, world["company_id"]).owner_id is None


def test_sa7_a_refused_form_says_why(csrf_app):
    admin = make_user("admin", locale="en")
    client = csrf_app.test_client()
    _csrf_login(client, admin)
    response = client.post("/admin/settings", data={"protection_days": "3"})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)


def test_sa7_logout_is_post_only(csrf_app):
    user = make_user()
    client = csrf_app.test_client()
    _csrf_login(client, user)
    assert client.get("/logout").status_code == 405
    assert signed_in(client)
    assert live_sessions(user.id) == 1


def test_sa7_api_is_csrf_exempt_but_never_takes_the_cookie(csrf_app):
    make_reference()
    user = make_user()
    browser = csrf_app.test_client()
    _csrf_login(browser, user)
    body = {"name": "接口测试企业有限公司", "status": "prospect"}
    for method, url in [("post", "/api/v1/companies"), ("get", "/api/v1/companies")]:
        response = getattr(browser, method)(url, json=body if method == "post" else None)
        assert response.status_code == 401, (url, response.status_code)
        assert response.get_json()["error"]["code"] == "unauthorized"
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0
    token = api_token(csrf_app.test_client(), user)
    response = csrf_app.test_client().post("/api/v1/companies", json=body, headers=bearer(token))
    assert response.status_code == 201  # no CSRF token needed with a bearer token
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Company)) == 1


# --- SA-8 (the parts the test client can show) -----------------------------------------------------------------------

def test_sa8_sixth_try_is_throttled_even_with_the_right_password(web, web2):
    user = make_user()
    target = make_user()  # another account from the same address is not locked out
    workers = [web.test_client(), web2.test_client()]
    for i in range(5):
        assert login(workers[i % 2], user, "wrong password!").status_code == 401
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == user.email, LoginAttempt.success.is_(False))) == 5
    for worker in workers:
        response = login(worker, user, "wrong password!")
        assert response.status_code == 429
        response = login(worker, user)
        assert response.status_code == 429
        assert not signed_in(worker)
    response = web.test_client().post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "too_many_requests"
    assert live_sessions(user.id) == 0 and live_sessions(user.id, "api") == 0
    assert login(web.test_client(), target).status_code == 302


def test_sa8_forged_forwarded_for_does_not_reset_the_count(web, monkeypatch):
    assert web.config["CRM_PROXY_COUNT"] == 0
    monkeypatch.setitem(web.config, "CRM_LOGIN_MAX_FAILURES_PER_IP", 8)
    user = make_user()
    for i in range(5):
        response = web.test_client().post("/login", data={"email": user.email, "password": "wrong password!"},
                                          headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
        assert response.status_code == 401
    response = web.test_client().post("/login", data={"email": user.email, "password": PASSWORD},
                                      headers={"X-Forwarded-For": "198.51.100.77"})
    assert response.status_code == 429
    db.session.rollback()
    assert set(db.session.scalars(select(LoginAttempt.ip))) == {"127.0.0.1"}
    # the per-address limit also holds across e-mails when every try claims another address
    others = [make_user().email for _ in range(3)]
    fresh = make_user().email
    for i, other in enumerate(others):
        response = web.test_client().post("/login", data={"email": other, "password": "wrong password!"},
                                          headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
        assert response.status_code in (401, 429)
    response = web.test_client().post("/login", data={"email": fresh, "password": PASSWORD},
                                      headers={"X-Forwarded-For": "192.0.2.200"})
    assert response.status_code == 429


# --- SA-9 ------------------------------------------------------------------------------------------------------------

LONG_64 = ("长风破浪会有时🚀直挂云帆济沧海🌊" * 8)[:64]
LONG_128 = ("Ünïcödé 密码短语 🐉🔐 καλημέρα " * 8)[:128]


def _change(client, current: str, new: str):
    return client.post("/profile", data={"action": "password", "pw-current": current, "pw-new": new})


def _hash_of(user_id: int) -> str:
    db.session.rollback()
    return db.session.get(User, user_id).password_hash


def test_sa9_length_rules_and_no_truncation(web, client):
    user = make_user(locale="en")
    login(client, user)
    original = _hash_of(user.id)
    response = _change(client, PASSWORD, "Ab3$ef7")
    assert response.status_code == 422 and "at least 8" in response.get_data(as_text=True)
    assert _hash_of(user.id) == original

    current = PASSWORD
    for new in ["Tq8#mZ2v", LONG_64, LONG_128]:
        assert len(new) in (8, 64, 128)
        response = _change(client, current, new)
        assert response.status_code == 302, (len(new), response.get_data(as_text=True)[:300])
        stored = _hash_of(user.id)
        assert check_password_hash(stored, new)
        # no truncation (bcrypt's 72 bytes), no dropped last character, no case folding
        for variant in {new[:-1], new.encode()[:72].decode(errors="ignore"), new.upper(), new.lower()} - {new}:
            assert not check_password_hash(stored, variant), repr(variant)
        current = new
    assert len(LONG_128.encode()) > 128  # multi-byte characters really were in it
    assert login(web.test_client(), user, LONG_128).status_code == 302
    assert login(web.test_client(), user, LONG_128[:64]).status_code == 401


@pytest.mark.parametrize("common", ["password1", "12345678", "qwerty123"])
def test_sa9_common_passwords_are_refused(client, common):
    user = make_user(locale="en")
    login(client, user)
    original = _hash_of(user.id)
    response = _change(client, PASSWORD, common)
    assert response.status_code == 422
    assert "too common" in response.get_data(as_text=True)
    assert _hash_of(user.id) == original
    assert password_problems(common.upper())  # case does not sneak it past


def test_sa9_password_equal_to_the_email_is_refused(client):
    user = make_user(locale="en", email="zhangwei2024@test.zone")
    login(client, user)
    original = _hash_of(user.id)
    for new in ["zhangwei2024", "ZhangWei2024", "zhangwei2024@test.zone"]:
        response = _change(client, PASSWORD, new)
        assert response.status_code == 422, new
        assert "name or e-mail" in response.get_data(as_text=True)
    assert _hash_of(user.id) == original


def test_sa9_stored_hash_is_scrypt_with_current_parameters(client):
    user = make_user(locale="en")
    login(client, user)
    assert _change(client, PASSWORD, NEW_PASSWORD).status_code == 302
    stored = _hash_of(user.id)
    method, salt, digest = stored.split("$")
    name, n, r, p = method.split(":")
    assert name == "scrypt" and int(n) >= 2 ** 15 and int(r) >= 8 and int(p) >= 1
    assert len(salt) >= 16 and NEW_PASSWORD not in stored


def _normalised(response, email: str) -> tuple[int, str]:
    """Status and body with the typed e-mail and the per-session CSRF token blanked out."""
    body = response.get_data(as_text=True).replace(email, "EMAIL")
    return response.status_code, re.sub(r'(csrf_token" value=|csrf-token" content=)"[^"]*"', r"\1TOKEN", body)


def test_sa9_unknown_and_known_email_look_the_same(web):
    known = make_user(locale="en", email="known.person@test.zone")
    unknown = "nobody.here@test.zone"
    responses = {}
    for email in (known.email, unknown):
        response = web.test_client().post("/login", data={"email": email, "password": "not the password"})
        responses[email] = _normalised(response, email)
    assert responses[known.email] == responses[unknown]
    assert responses[unknown][0] == 401
    api = {email: web.test_client().post("/api/v1/auth/token", json={"email": email, "password": "nope nope"})
           for email in (known.email, unknown)}
    assert api[known.email].status_code == api[unknown].status_code
    assert api[unknown].status_code in (401, 422) and api[unknown].get_json()["error"]["fields"]
    assert api[known.email].get_json() == api[unknown].get_json()
    # an inactive account with its right password answers the same as a wrong password
    inactive = make_user(locale="en", email="gone.person@test.zone", active=False)
    response = web.test_client().post("/login", data={"email": inactive.email, "password": PASSWORD})
    assert _normalised(response, inactive.email) == responses[unknown]

