"""GET /notifications: the reminders sent or due for the signed-in user (managers and admins: everyone's), the same
list and scope as the Reminders page. A read-only log: its rows change only by the sweep, the send and a resend."""
from flask import g, request

from crm.auth import access
from crm.core.pagination import page_args
from crm.errors import Forbidden, Invalid
from crm.notifications import queries
from crm.notifications.kinds import KINDS
from crm.notifications.models import STATUSES, Notification

from . import bp, iso, token_required
from .meetings import _id_arg, _Unmatched


def _staff() -> None:
    # reminders go to staff only (never to liaisons): the pages are staff pages, and so is this
    if g.api_user.role not in access.STAFF_ROLES:
        raise Forbidden("Reminders are for staff.")


def notification_json(row: Notification, *, content: bool = False) -> dict:
    out = {"id": row.id, "kind": row.kind, "recipient_id": row.recipient_id, "object_type": row.object_type,
           "object_id": row.object_id, "period": row.period, "status": row.status, "attempts": row.attempts,
           "subject": row.subject, "message_id": row.message_id, "skip_reason": row.skip_reason,
           "last_error": row.last_error, "possible_duplicate": row.possible_duplicate,
           "created_at": iso(row.created_at), "updated_at": iso(row.updated_at), "sent_at": iso(row.sent_at)}
    if content:
        out.update(body_text=row.body_text, body_html=row.body_html)
    return out


@bp.get("/notifications")
@token_required
def list_notifications():
    _staff()
    page, per_page = page_args(request.args)
    status, kind = request.args.get("status") or None, request.args.get("kind") or None
    if status is not None and status not in STATUSES:
        raise Invalid("Unknown status.", {"status": [f"Send one of: {', '.join(STATUSES)}."]})
    if kind is not None and kind not in KINDS:
        raise Invalid("Unknown kind.", {"kind": [f"Send one of: {', '.join(KINDS)}."]})
    try:
        user_id = _id_arg("user_id")
    except _Unmatched:
        return {"items": [], "total": 0, "page": page, "per_page": per_page}
    rows, total = queries.notifications(g.api_user, recipient_id=user_id, status=status, kind=kind, page=page,
                                        per_page=per_page)
    return {"items": [notification_json(r) for r in rows], "total": total, "page": page, "per_page": per_page}


@bp.get("/notifications/<int:notification_id>")
@token_required
def get_notification(notification_id: int):
    _staff()
    return notification_json(queries.visible_notification(notification_id, g.api_user), content=True)
