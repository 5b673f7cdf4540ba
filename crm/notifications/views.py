"""The reminders pages: the notifications one received (everyone's for managers) with each e-mail's content, one's
reminder settings, and a manager's resend of a failed one."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from crm.auth import access
from crm.core.forms import posted_int, submit
from crm.core.pagination import Page, page_args
from crm.errors import Conflict
from crm.web import signed_in_user, staff_only

from . import queries, services
from .forms import PreferencesForm, parse_clock
from .kinds import KINDS, default_digest_time
from .models import FAILED, PENDING, SENDING, SENT, SKIPPED

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

# reminders go to staff only (never to liaisons), so the pages are staff pages like the rest of the book
bp.before_request(login_required(staff_only))

STATUS_LABELS = {PENDING: _l("Pending"), SENDING: _l("Sending"), SENT: _l("Sent"), FAILED: _l("Failed"),
                 SKIPPED: _l("Skipped")}
SKIP_REASONS = {"opted_out": _l("Opted out"), "inactive": _l("Recipient not active"),
                "nothing_due": _l("Nothing due any more"), "deleted": _l("Deleted"), "moved": _l("Rescheduled"),
                "started": _l("Already started"), "not_taking_part": _l("No longer taking part"),
                "touched": _l("Worked on since"), "moved_on": _l("No longer a lead"),
                "owner_changed": _l("Now held by someone else"), "taken_back": _l("Taken back from the pool")}


def _labels() -> dict:
    return {"status_labels": STATUS_LABELS, "skip_reasons": SKIP_REASONS,
            "kind_label": lambda name: KINDS[name].label if name in KINDS else name}


@bp.get("/")
def index():
    me = signed_in_user()
    page, per_page = page_args(request.args)
    manager = access.is_manager(me)
    recipient_id = posted_int(request.args.get("user")) if manager else None
    status = request.args.get("status") if request.args.get("status") in STATUS_LABELS else None
    rows, total = queries.notifications(me, recipient_id=recipient_id, status=status, page=page, per_page=per_page)
    return render_template("notifications/index.html", rows=rows, page=Page(page, per_page, total),
                           manager=manager, people=queries.recipients() if manager else [],
                           recipient_id=recipient_id, status=status, **_labels())


@bp.get("/<int:notification_id>")
def show(notification_id: int):
    me = signed_in_user()
    row = queries.visible_notification(notification_id, me)
    return render_template("notifications/show.html", row=row, can_resend=access.is_manager(me), **_labels())


@bp.post("/<int:notification_id>/resend")
def resend(notification_id: int):
    me = signed_in_user()
    try:
        services.resend(notification_id, actor=me)
    except Conflict as exc:
        flash(exc.message, "danger")
        row = queries.visible_notification(notification_id, me)
        return render_template("notifications/show.html", row=row, can_resend=True, **_labels()), 409
    flash(_("The reminder is queued to be sent again."), "success")
    return redirect(url_for("notifications.show", notification_id=notification_id))


@bp.get("/digest-preview")
def digest_preview():
    """Today's daily digest as it would go out now: what the morning e-mail holds, without sending or recording it."""
    me = signed_in_user()
    return render_template("notifications/preview.html", preview=services.preview_digest(me),
                           preferences=services.preferences(me.id))


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    me = signed_in_user()
    form = PreferencesForm()
    form.opted_out.choices = services.kind_choices()
    if request.method == "GET":
        current = services.preferences(me.id)
        form.opted_out.data = sorted(current.opted_out)
        form.digest_time.data = current.digest_time.strftime("%H:%M") if current.own_time else ""
    status = submit(form, lambda: services.set_preferences(
        me.id, actor=me, opted_out=form.opted_out.data or [], digest_time=parse_clock(form.digest_time.data)))
    if status is None:
        flash(_("Reminder settings saved."), "success")
        return redirect(url_for("notifications.settings"))
    return render_template("notifications/settings.html", form=form,
                           default_time=default_digest_time().strftime("%H:%M")), status
