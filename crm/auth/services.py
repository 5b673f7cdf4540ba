"""Sign-in, server-side sessions, API tokens, passwords, users and teams."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from crm.audit import services as audit
from crm.core.text import clean_text
from crm.core.timeutil import as_aware, utcnow
from crm.errors import Conflict, Invalid, NotFound, Throttled
from crm.extensions import db

from .access import require_role
from .models import LoginAttempt, Role, Team, User, UserSession

PASSWORD_MIN = 8
PASSWORD_MAX = 128
#: werkzeug's scrypt, spelled out so a library default can never weaken it
PASSWORD_METHOD = "scrypt:32768:8:1"
#: a fixed hash checked for unknown e-mails, so unknown and known accounts take the same time
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"][:10000])


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Why a password is refused (ASVS V6.2): length 8–128, not common, not the user's own name or e-mail."""
    problems = []
    if len(password) < PASSWORD_MIN:
        problems.append(str(_l("Use at least %(n)d characters.", n=PASSWORD_MIN)))
    if len(password) > PASSWORD_MAX:
        problems.append(str(_l("Use at most %(n)d characters.", n=PASSWORD_MAX)))
    lowered = password.lower()
    if lowered in _common_passwords():
        problems.append(str(_l("This password is too common; choose another.")))
    if lowered and lowered in {email.lower(), email.split("@")[0].lower(), name.lower()}:
        problems.append(str(_l("The password must not be your name or e-mail.")))
    return problems


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- sign-in -----------------------------------------------------------------------------------------------------

def _check_throttle(email: str, ip: str) -> None:
    cfg = current_app.config
    since = utcnow() - cfg["CRM_LOGIN_WINDOW"]
    by_email = db.session.scalar(select(func.count()).where(
        LoginAttempt.email == email, LoginAttempt.at >= since, LoginAttempt.success.is_(False)))
    by_ip = db.session.scalar(select(func.count()).where(
        LoginAttempt.ip == ip, LoginAttempt.at >= since, LoginAttempt.success.is_(False)))
    if by_email >= cfg["CRM_LOGIN_MAX_FAILURES"] or by_ip >= cfg["CRM_LOGIN_MAX_FAILURES_PER_IP"]:
        minutes = int(cfg["CRM_LOGIN_WINDOW"].total_seconds() // 60)
        raise Throttled(str(_l("Too many failed sign-ins. Try again in %(m)d minutes.", m=minutes)))


def authenticate(email: str, password: str, *, ip: str) -> User:
    """Return the user whose credentials these are, or raise Invalid with one message for every failure.

    Failed tries are counted per e-mail and per address in the database, so every web worker shares the count.
    """
    email = (email or "").replace("\x00", "").strip().lower()[:254]  # PostgreSQL refuses NUL in text
    _check_throttle(email, ip)
    user = db.session.scalar(select(User).where(User.email == email))
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    ok = ok and user is not None and user.is_active_user
    db.session.add(LoginAttempt(email=email, ip=ip, success=ok))
    audit.record("login" if ok else "login_failed", actor=user if ok else None, object_type="user",
                 object_id=user.id if user else None, label=email)
    db.session.commit()
    if not ok:
        raise Invalid(str(_l("E-mail or password is wrong.")), {"password": [str(_l("E-mail or password is wrong."))]})
    return user


def start_session(user: User, *, kind: str = "web", remember: bool = False, ip: str | None = None,
                  user_agent: str | None = None) -> str:
    """Record a new session (or API token) for the user and return its secret token."""
    cfg = current_app.config
    token = secrets.token_urlsafe(32)
    if kind == "api":
        lifetime = cfg["CRM_API_TOKEN_LIFETIME"]
    elif kind == "feed":
        lifetime = cfg["CRM_FEED_TOKEN_LIFETIME"]
    else:
        lifetime = cfg["REMEMBER_COOKIE_DURATION"] if remember else cfg["CRM_SESSION_ABSOLUTE"]
    db.session.add(UserSession(token_hash=_token_hash(token), user_id=user.id, kind=kind, remember=remember,
                               expires_at=utcnow() + lifetime, ip=ip, user_agent=(user_agent or "")[:200]))
    db.session.commit()
    user.current_session_token = token
    return token


def signed_in_within(user: User, window: timedelta) -> bool:
    """Whether the user's current session began with a sign-in (the password given) less than `window` ago: what a
    sensitive action (a mass export) asks for before it runs (fresh login)."""
    row = getattr(user, "current_session", None)
    return row is not None and utcnow() - as_aware(row.created_at) <= window


def load_session(token: str, *, kind: str = "web") -> User | None:
    """The user a session token belongs to, if the session is live; touches last_seen at most once a minute."""
    if not token:
        return None
    row = db.session.scalar(select(UserSession).options(joinedload(UserSession.user).joinedload(User.team)).where(
        UserSession.token_hash == _token_hash(token), UserSession.kind == kind))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    last_seen = as_aware(row.last_seen_at)
    idle = current_app.config["CRM_SESSION_IDLE"]
    expired = as_aware(row.expires_at) <= now
    idle_out = kind == "web" and not row.remember and now - last_seen > idle
    if expired or idle_out or not row.user.is_active_user:
        return None
    if now - last_seen > timedelta(seconds=60):
        _touch(row.id, now)
    user = row.user
    user.current_session = row
    user.current_session_token = token
    return user


def _touch(session_id: int, now: datetime) -> None:
    # Its own short write transaction, so a GET never upgrades its read transaction to a write (SQLite).
    with db.engine.connect().execution_options(sqlite_immediate=True) as conn:
        with conn.begin():
            conn.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now))


def end_session(token: str, *, actor: User | None = None, kind: str = "web") -> None:
    """Revoke one session or token (logout, DELETE /auth/token)."""
    if not token:
        return
    db.session.execute(update(UserSession).where(
        UserSession.token_hash == _token_hash(token), UserSession.kind == kind,
        UserSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    if actor is not None:
        audit.record("logout" if kind == "web" else "token_revoked", actor=actor, obj=actor, object_type="user")
    db.session.commit()


def revoke_sessions(user_id: int, *, keep_token: str | None = None) -> int:
    """End every session and token of a user, except optionally the caller's own (not committed here)."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep_token:
        stmt = stmt.where(UserSession.token_hash != _token_hash(keep_token))
    return db.session.execute(stmt.values(revoked_at=utcnow())).rowcount


# --- users and teams ---------------------------------------------------------------------------------------------

@dataclass
class UserInput:
    email: str
    name: str
    role: str
    team_id: int | None = None
    department: str | None = None
    locale: str = "zh_Hans_CN"
    active: bool = True


def _validate_user(data: UserInput, *, user_id: int | None = None) -> dict:
    errors: dict[str, list[str]] = {}
    email = (data.email or "").strip().lower()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        errors["email"] = [str(_l("Enter a valid e-mail address."))]
    elif db.session.scalar(select(User.id).where(User.email == email, User.id != (user_id or 0))):
        errors["email"] = [str(_l("Another user has this e-mail."))]
    name = clean_text(data.name, 100)
    if not name:
        errors["name"] = [str(_l("Enter a name."))]
    elif len(name) > 100:
        errors["name"] = [str(_l("At most %(n)d characters.", n=100))]
    if data.role not in {r.value for r in Role}:
        errors["role"] = [str(_l("Choose a role."))]
    if data.team_id is not None and db.session.get(Team, data.team_id) is None:
        errors["team_id"] = [str(_l("Choose a team."))]
    if data.locale not in current_app.config["CRM_LANGUAGES"]:
        errors["locale"] = [str(_l("Choose a language."))]
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return {"email": email, "name": name}


def create_user(data: UserInput, password: str, *, actor: User | None) -> User:
    """Create a user (admin screen, CLI). `actor` None means the command line."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    clean = _validate_user(data)
    problems = password_problems(password, email=clean["email"], name=clean["name"])
    if problems:
        raise Invalid(problems[0], {"password": problems})
    user = User(email=clean["email"], name=clean["name"], role=data.role, team_id=data.team_id,
                department=data.department or None, locale=data.locale, is_active_user=data.active,
                password_hash=hash_password(password))
    db.session.add(user)
    db.session.commit()
    return user


def update_user(user_id: int, data: UserInput, *, actor: User, version: int) -> User:
    """Change a user's details, role, team or active flag; deactivation ends all their sessions."""
    require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(str(_l("No such user.")))
    if user.version != version:
        raise Conflict(str(_l("This user was changed by someone else; reload and try again.")))
    clean = _validate_user(data, user_id=user.id)
    if user.id == actor.id and (data.role != user.role or not data.active):
        raise Invalid(str(_l("You cannot change your own role or deactivate yourself.")),
                      {"role": [str(_l("You cannot change your own role or deactivate yourself."))]})
    was_active = user.is_active_user
    user.email, user.name, user.role = clean["email"], clean["name"], data.role
    user.team_id, user.department, user.locale = data.team_id, data.department or None, data.locale
    user.is_active_user = data.active
    if was_active and not data.active:
        revoke_sessions(user.id)
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str, *, keep_token: str | None) -> None:
    """The user's own change: needs the current password; ends every other session and token."""
    audit.set_actor(user)
    if not check_password_hash(user.password_hash, current or ""):
        message = str(_l("The current password is wrong."))
        raise Invalid(message, {"current": [message]})
    problems = password_problems(new, email=user.email, name=user.name)
    if problems:
        raise Invalid(problems[0], {"new": problems})
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    revoke_sessions(user.id, keep_token=keep_token)
    audit.record("password_changed", actor=user, obj=user, object_type="user")
    db.session.commit()


def reset_password(user_id: int, new: str, *, actor: User) -> None:
    """An admin sets a user's password; all of that user's sessions end."""
    require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(str(_l("No such user.")))
    problems = password_problems(new, email=user.email, name=user.name)
    if problems:
        raise Invalid(problems[0], {"password": problems})
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    revoke_sessions(user.id)
    audit.record("password_reset", actor=actor, obj=user, object_type="user")
    db.session.commit()


def terminate_sessions(user_id: int, *, actor: User) -> int:
    require_role(actor, Role.ADMIN)
    count = revoke_sessions(user_id)
    audit.record("sessions_terminated", actor=actor, object_type="user", object_id=user_id,
                 changes={"sessions": [count, 0]})
    db.session.commit()
    return count


def set_locale(user: User, locale: str) -> None:
    if locale not in current_app.config["CRM_LANGUAGES"]:
        raise Invalid("Unknown language.", {"locale": ["Unknown language."]})
    audit.set_actor(user)
    user.locale = locale
    db.session.commit()


def save_team(name: str, *, actor: User, team_id: int | None = None, version: int | None = None) -> Team:
    require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    name = clean_text(name, 100)
    if not name or len(name) > 100:
        raise Invalid(str(_l("Enter a team name of at most 100 characters.")),
                      {"name": [str(_l("Enter a team name of at most 100 characters."))]})
    if db.session.scalar(select(Team.id).where(Team.name == name, Team.id != (team_id or 0))):
        raise Invalid(str(_l("A team with this name exists.")), {"name": [str(_l("A team with this name exists."))]})
    if team_id is None:
        team = Team(name=name)
        db.session.add(team)
    else:
        team = db.session.get(Team, team_id)
        if team is None:
            raise NotFound(str(_l("No such team.")))
        if version is not None and team.version != version:
            raise Conflict(str(_l("This team was changed by someone else; reload and try again.")))
        team.name = name
    db.session.commit()
    return team


def purge_expired_sessions(older_than: timedelta = timedelta(days=30)) -> int:
    """Delete sessions that ended long ago and old sign-in attempts (a daily housekeeping job)."""
    cutoff = utcnow() - older_than
    n = db.session.execute(UserSession.__table__.delete().where(UserSession.expires_at < cutoff)).rowcount
    db.session.execute(LoginAttempt.__table__.delete().where(LoginAttempt.at < cutoff))
    db.session.commit()
    return n
