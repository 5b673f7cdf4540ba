"""The admin screens: users, teams, reference lists, settings, the audit log and the scheduler's health."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, fresh_login_required, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from crm.audit.models import AuditEvent
from crm.auth import services as auth_services
from crm.auth.forms import RefItemForm, ResetPasswordForm, TeamForm, UserForm
from crm.auth.models import Role, Team, User, UserSession
from crm.core.forms import posted_int, submit
from crm.core.pagination import Page, page_args
from crm.core.timeutil import utcnow
from crm.errors import Conflict, Invalid, NotFound
from crm.extensions import db
from crm.jobs import services as scheduler_jobs
from crm.reference import services as reference
from crm.reference.models import REFERENCE_KINDS, RefItem
from crm.web import signed_in_user

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {"officer": "Officer", "manager": "Manager", "liaison": "Department liaison", "admin": "Administrator"}


@bp.before_request
@login_required
def _admins_only():
    if current_user.role != Role.ADMIN.value:
        abort(403)



@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


# --- users -----------------------------------------------------------------------------------------------------------

def _user_form(**kwargs) -> UserForm:
    form = UserForm(**kwargs)
    form.role.choices = [(r.value, _(ROLE_LABELS[r.value])) for r in Role]
    form.team_id.choices = [("", "—")] + [(str(t.id), t.name) for t in db.session.scalars(
        select(Team).order_by(Team.name))]
    form.department.choices = reference.choices("department", blank="—")
    form.locale.choices = list(current_app.config["CRM_LANGUAGES"].items())
    return form


def _user_input(form) -> auth_services.UserInput:
    return auth_services.UserInput(
        email=form.email.data, name=form.name.data, role=form.role.data,
        team_id=int(form.team_id.data) if form.team_id.data else None,
        department=form.department.data or None, locale=form.locale.data, active=form.active.data)


@bp.route("/users")
def users():
    rows = db.session.scalars(select(User).options(joinedload(User.team)).order_by(User.is_active_user.desc(),
                                                                                  User.name)).all()
    live = dict(db.session.execute(select(UserSession.user_id, func.count()).where(
        UserSession.revoked_at.is_(None), UserSession.expires_at > utcnow()).group_by(UserSession.user_id)).all())
    return render_template("admin/users.html", rows=rows, live=live, role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@fresh_login_required
def new_user():
    form = _user_form()
    status = submit(form, lambda: auth_services.create_user(_user_input(form), form.password.data or "",
                                                            actor=signed_in_user()))
    if status is None:
        flash(_("User created."), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@fresh_login_required
def edit_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = _user_form(obj=user)
    if request.method == "GET":
        form.team_id.data = str(user.team_id or "")
        form.active.data = user.is_active_user
        form.version.data = user.version
    status = submit(form, lambda: auth_services.update_user(user.id, _user_input(form), actor=signed_in_user(),
                                                            version=posted_int(form.version.data) or 0))
    if status is None:
        flash(_("Saved."), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user, reset_form=ResetPasswordForm()), status


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@fresh_login_required
def reset_password(user_id: int):
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        flash(_("Enter a new password."), "danger")
    else:
        try:
            auth_services.reset_password(user_id, form.password.data, actor=signed_in_user())
        except Invalid as exc:
            flash(exc.message, "danger")
        else:
            flash(_("Password set; the user's sessions were signed out."), "success")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.route("/users/<int:user_id>/sessions/terminate", methods=["POST"])
@fresh_login_required
def terminate_sessions(user_id: int):
    if db.session.get(User, user_id) is None:
        abort(404)
    count = auth_services.terminate_sessions(user_id, actor=signed_in_user())
    flash(_("%(n)d sessions ended.", n=count), "success")
    return redirect(url_for("admin.users"))


# --- teams -----------------------------------------------------------------------------------------------------------

@bp.route("/teams", methods=["GET", "POST"])
def teams():
    form = TeamForm()
    status = submit(form, lambda: auth_services.save_team(form.name.data, actor=signed_in_user()))
    if status is None:
        flash(_("Team created."), "success")
        return redirect(url_for("admin.teams"))
    rows = db.session.execute(select(Team, func.count(User.id)).outerjoin(User, User.team_id == Team.id)
                              .group_by(Team.id).order_by(Team.name)).all()
    return render_template("admin/teams.html", form=form, rows=rows), status


@bp.route("/teams/<int:team_id>", methods=["POST"])
def rename_team(team_id: int):
    form = TeamForm()
    if form.validate_on_submit():
        try:
            auth_services.save_team(form.name.data, actor=signed_in_user(), team_id=team_id,
                                    version=posted_int(form.version.data))
        except (Invalid, Conflict) as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        except NotFound:
            abort(404)
        else:
            flash(_("Saved."), "success")
    return redirect(url_for("admin.teams"))


# --- reference lists and settings ------------------------------------------------------------------------------------

KIND_LABELS = {"cluster": "Industry clusters", "park": "Parks", "city": "Origin cities and regions",
               "department": "Departments", "chain_tag": "Chain segments", "source": "Lead sources"}


@bp.route("/reference/<kind>", methods=["GET", "POST"])
def reference_list(kind: str):
    if kind not in REFERENCE_KINDS:
        abort(404)
    form = RefItemForm()
    status = submit(form, lambda: reference.save_item(kind, form.key.data, form.name.data, form.name_en.data or "",
                                                      actor=signed_in_user(), sort=form.sort.data or 0,
                                                      active=form.active.data))
    if status is None:
        flash(_("Saved."), "success")
        return redirect(url_for("admin.reference_list", kind=kind))
    return render_template("admin/reference.html", kind=kind, kinds=KIND_LABELS, form=form,
                           rows=reference.items(kind, include_inactive=True)), status


@bp.route("/reference/<kind>/<int:item_id>", methods=["GET", "POST"])
def reference_item(kind: str, item_id: int):
    item = db.session.get(RefItem, item_id)
    if item is None or item.kind != kind:
        abort(404)
    form = RefItemForm(obj=item)
    if request.method == "GET":
        form.version.data = item.version
    status = submit(form, lambda: reference.save_item(
        kind, item.key, form.name.data, form.name_en.data or "", actor=signed_in_user(), sort=form.sort.data or 0,
        active=form.active.data, item_id=item.id, version=posted_int(form.version.data)))
    if status is None:
        flash(_("Saved."), "success")
        return redirect(url_for("admin.reference_list", kind=kind))
    return render_template("admin/reference_item.html", kind=kind, kinds=KIND_LABELS, form=form, item=item), status


#: each setting's label and hint on the settings page
SETTING_LABELS = {
    "protection_days": (_l("Protection period (days)"),
                        _l("How long an officer holds a claimed prospect. Prospects with no activity for this long "
                           "return to the public pool.")),
    "stale_days": (_l("Stale after (days)"),
                   _l("A project with no change, stage move or meeting for this long is marked stale on the board "
                      "and in the list.")),
    "escalation_days": (_l("Escalate after (days)"),
                        _l("A follow-up overdue for this many days is reported to the managers in their daily "
                           "escalation e-mail.")),
    "milestone_warning_days": (_l("Milestone warning (days)"),
                               _l("A milestone planned within this many days shows yellow on the support board; "
                                  "past its planned date it shows red.")),
}


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    errors, status = {}, 200
    if request.method == "POST":
        try:
            reference.set_settings({key: request.form.get(key) for key in reference.SETTINGS
                                    if key in request.form}, actor=signed_in_user())
        except Invalid as exc:
            errors, status = exc.fields, 422
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.settings"))
    values = {key: request.form.get(key) or reference.get_setting(key) for key in reference.SETTINGS}
    return render_template("admin/settings.html", errors=errors, values=values, spec=reference.SETTINGS,
                           labels=SETTING_LABELS), status


# --- annual targets (the dashboard's target completion) --------------------------------------------------------------

@bp.route("/targets", methods=["GET", "POST"])
def targets():
    """The year's signed-investment targets (万元) per cluster and per team, in one form; a blank field removes
    the target."""
    from crm.core.timeutil import today_in_zone
    from crm.dashboard import targets as annual

    raw_year = request.values.get("year", "")
    year = int(raw_year) if raw_year.isascii() and raw_year.isdigit() and \
        annual.FIRST_YEAR <= int(raw_year) <= annual.LAST_YEAR else today_in_zone().year
    clusters = reference.items("cluster", include_inactive=True)
    team_rows = list(db.session.scalars(select(Team).order_by(Team.name)))
    errors, status = {}, 200
    if request.method == "POST":
        try:
            annual.set_targets(
                request.form.get("year", ""),
                {i.key: request.form.get(f"cluster-{i.key}", "") for i in clusters
                 if f"cluster-{i.key}" in request.form},
                {t.id: request.form.get(f"team-{t.id}", "") for t in team_rows if f"team-{t.id}" in request.form},
                actor=signed_in_user())
        except (Invalid, Conflict) as exc:
            db.session.rollback()
            errors, status = exc.fields, 422 if isinstance(exc, Invalid) else 409
            flash(exc.message, "danger")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.targets", year=year))
    cluster_targets, team_targets = annual.year_targets(year)
    if request.method == "POST":  # show what was typed, not what is stored
        values = {key: request.form.get(key, "") for key in request.form}
    else:
        def plain(v):  # as typed: 5000, not 5000.00
            return f"{v:.0f}" if v == v.to_integral_value() else f"{v:.2f}"

        values = {**{f"cluster-{k}": plain(v) for k, v in cluster_targets.items()},
                  **{f"team-{k}": plain(v) for k, v in team_targets.items()}}
    return render_template("admin/targets.html", year=year, clusters=clusters, teams=team_rows, values=values,
                           errors=errors, years=range(year - 2, year + 3), cluster_label=reference.label), status


# --- audit log -------------------------------------------------------------------------------------------------------

@bp.route("/audit")
def audit_log():
    page, per_page = page_args(request.args)
    stmt = select(AuditEvent)
    action = request.args.get("action", "")[:40]
    object_type = request.args.get("object_type", "")[:40]
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.options(joinedload(AuditEvent.actor)).order_by(AuditEvent.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return render_template("admin/audit.html", rows=rows, page=Page(page, per_page, total), action=action,
                           object_type=object_type)


# --- scheduler -------------------------------------------------------------------------------------------------------

@bp.route("/scheduler")
def scheduler():
    """When each periodic job last ran, how long it took and what it did; a job that missed its time is flagged
    (reminders that silently stopped because beat was not running)."""
    from crm.notifications import queries as notification_queries
    from crm.notifications import services as notifications

    return render_template("admin/scheduler.html", rows=scheduler_jobs.health(),
                           sweep_seconds=current_app.config["CRM_SWEEP_SECONDS"], mail=notifications.mail_setup(),
                           delivery=notification_queries.delivery())


@bp.route("/mail-test", methods=["POST"])
def mail_test():
    """Send a test e-mail to the signed-in admin through the configured server now, and say what the server said."""
    from crm.notifications import services as notifications

    me = signed_in_user()
    result = notifications.send_test_mail(to_email=me.email, to_name=me.name, language=me.locale, actor=me)
    if not result.ok:
        flash(_("The test e-mail to %(email)s did not go out: %(error)s", email=me.email, error=result.error),
              "danger")
    elif result.outbox_file:
        flash(_("No mail server is configured: the test e-mail was written to %(path)s.", path=result.outbox_file),
              "warning")
    else:
        flash(_("The mail server accepted the test e-mail to %(email)s. Check that it arrived.", email=me.email),
              "success")
    return redirect(url_for("admin.scheduler") + "#mail")
