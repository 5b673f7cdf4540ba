"""Meeting and task pages: the quick-log form (phone-first), a meeting's page, edit, delete and .ics; "my tasks"
grouped overdue / today / this week / later, with one-click done and snooze."""
from flask import Blueprint, abort
from flask_login import current_user, login_required

from crm.auth import access

bp = Blueprint("meetings", __name__)


@bp.before_request
@login_required
def _staff_only():
    if current_user.role not in access.STAFF_ROLES:
        abort(403)


def _me():
    return current_user._get_current_object()
