"""Project pages: the list (filters, saved views, export, bulk actions), a project's page, create, edit, stage moves,
funds in place. The kanban board's routes are in board.py on the same blueprint."""
from flask import Blueprint, abort
from flask_login import current_user, login_required

from crm.auth import access

bp = Blueprint("projects", __name__)


@bp.before_request
@login_required
def _staff_only():
    if current_user.role not in access.STAFF_ROLES:
        abort(403)


def _me():
    return current_user._get_current_object()


@bp.route("/projects")
def index():
    return "projects list: to be built"  # placeholder, replaced by the list page


from . import board  # noqa: E402,F401  (the board's routes register on bp)
