"""Record every change to audited models automatically, plus explicit events (sign-in, denial, export)."""
from flask import has_request_context, request
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from crm.core.text import mask_phone
from crm.core.timeutil import utcnow
from crm.extensions import db

from .models import AuditEvent

#: model classes whose inserts, updates and deletes are logged, registered by `audited`
_AUDITED: dict[type, str] = {}
#: never written to the log
_SKIPPED = {"password_hash", "search_text", "name_norm", "version", "updated_at", "created_at", "last_activity_at"}
#: written masked
_MASKED = {"mobile"}


def audited(object_type: str):
    """Class decorator: log this model's changes under `object_type`."""

    def register(cls):
        _AUDITED[cls] = object_type
        return cls

    return register


def set_actor(actor) -> None:
    """Name the user whose changes the current unit of work records."""
    db.session.info["actor_id"] = getattr(actor, "id", None)


def _ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def _label(obj) -> str:
    text = str(getattr(obj, "name", None) or getattr(obj, "email", None) or getattr(obj, "key", "") or "")
    return text.replace("\r", " ").replace("\n", " ")[:200]


def _value(key: str, value):
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return mask_phone(value) if key in _MASKED and isinstance(value, str) else value
    return str(value)


def record(action: str, *, actor=None, obj=None, object_type: str | None = None, object_id: int | None = None,
           changes: dict | None = None, label: str | None = None) -> None:
    """Add an explicit audit event to the session (committed with the caller's unit of work)."""
    actor_id = getattr(actor, "id", None) if actor is not None else db.session.info.get("actor_id")
    db.session.add(AuditEvent(
        action=action, actor_id=actor_id, ip=_ip(), changes=changes,
        object_type=object_type or (_AUDITED.get(type(obj)) if obj is not None else None),
        object_id=object_id if object_id is not None else getattr(obj, "id", None),
        label=(label.replace("\r", " ").replace("\n", " ")[:200] if label is not None
               else (_label(obj) if obj is not None else None)),
    ))


def _changes(obj) -> dict:
    state = inspect(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in _SKIPPED:
            continue
        hist = state.attrs[key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old != new:
                out[key] = [_value(key, old), _value(key, new)]
    return out


@event.listens_for(Session, "after_flush")
def _log_changes(session: Session, _ctx) -> None:
    rows = []
    actor_id = session.info.get("actor_id")
    for obj in session.new:
        if type(obj) in _AUDITED:
            rows.append(("create", obj, {k: [None, v[1]] for k, v in _changes(obj).items() if v[1] not in (None, "")}))
    for obj in session.dirty:
        if type(obj) in _AUDITED and session.is_modified(obj, include_collections=False):
            changes = _changes(obj)
            if not changes:
                continue
            action = "update"
            if "deleted_at" in changes:
                action = "delete" if changes["deleted_at"][1] else "restore"
            rows.append((action, obj, changes))
    for obj in session.deleted:
        if type(obj) in _AUDITED:
            rows.append(("purge", obj, {}))
    if not rows:
        return
    ip = _ip()
    session.execute(AuditEvent.__table__.insert(), [
        {"action": action, "actor_id": actor_id, "ip": ip, "object_type": _AUDITED[type(obj)],
         "object_id": getattr(obj, "id", None), "changes": changes or None, "label": _label(obj),
         "at": utcnow()}
        for action, obj, changes in rows
    ])


def record_denied(actor_id: int | None, *, status: int, path: str) -> None:
    """Log a refused or hidden record access (403/404) in its own short transaction, so a GET stays read-only."""
    # The refused request writes nothing: end its unit of work first, or on SQLite a POST's own BEGIN IMMEDIATE
    # would hold the write lock that this second connection waits for (and the log row would time out).
    db.session.rollback()
    with db.engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        conn.execute(AuditEvent.__table__.insert().values(
            action="authz_denied", actor_id=actor_id, ip=_ip(), at=utcnow(), changes={"status": [None, status]},
            label=path.replace("\r", " ").replace("\n", " ")[:200]))
