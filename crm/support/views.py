"""The support board's pages (项目帮扶): a milestone's edit form, enterprise requests (list, new, detail with its
handling, status moves, edit) and the milestones a department answers for. Staff reach them from the project page;
a department liaison signs in to these pages only, and sees what is routed to their department (crm.support.access).
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from crm.auth import access
from crm.auth.models import Role, User
from crm.core.forms import apply_errors, posted_int
from crm.core.timeutil import today_in_zone
from crm.errors import Conflict, Forbidden, Invalid
from crm.extensions import db
from crm.projects import queries as project_queries
from crm.reference import services as reference
from crm.web import signed_in_user

from . import access as support_access
from . import queries, services
from .forms import MilestoneForm, RequestForm, StatusForm
from .models import CATEGORY_BY_KEY, MILESTONE_BY_KEY, REQUEST_CATEGORIES, EnterpriseRequest, status_label

bp = Blueprint("support", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Staff and department liaisons alike: what each may see is decided per record (crm.support.access)."""


# --- shared bits -----------------------------------------------------------------------------------------------------

def _responsible_choices(department: str | None, current: int | None = None) -> list[tuple[str, str]]:
    """The picker of services.may_answer_for (and the current person, kept even if they may no longer)."""
    people = services.responsible_people(department)
    choices = [("", "—")] + [(str(uid), f"{name}" + (f" ({_('liaison')})" if role == Role.LIAISON.value else ""))
                             for uid, name, role in people]
    if current is not None and str(current) not in {c for c, _n in choices}:
        person = db.session.get(User, current)
        choices.append((str(current), person.name if person else f"#{current}"))
    return choices


def _names(me: User, project) -> dict:
    """How a page names the project and its company for this viewer (code names where the company is hidden)."""
    company_ids = project_queries.visible_company_ids(me, [project])
    return {"shown_name": project_queries.shown_name(project, company_ids),
            "project_label": queries.project_label(project, company_ids)}


def _flash_errors(form, exc: Invalid) -> None:
    flash(exc.message, "danger")
    for message in apply_errors(form, exc.fields):
        flash(message, "danger")


def _labels() -> dict:
    from crm.projects import stages

    return {"request_status_label": status_label, "stage_label": lambda key: stages.BY_KEY[key].label,
            "category_by_key": CATEGORY_BY_KEY, "milestone_by_key": MILESTONE_BY_KEY,
            "department_names": reference.names("department"), "support_today": today_in_zone()}


# --- milestones -------------------------------------------------------------------------------------------------------

@bp.route("/milestones")
def milestones():
    """The milestones the user may see that are not done, soonest planned first: a liaison's are their
    department's; staff may narrow to red or yellow ones."""
    me = signed_in_user()
    wanted = request.args.get("status") if request.args.get("status") in services.STATUSES else None
    rows = queries.open_milestones(me, status=wanted)
    return render_template("support/milestones.html", rows=rows, wanted=wanted,
                           names=queries.project_names(me, [r.milestone.project for r in rows]), **_labels())


@bp.route("/milestones/<int:milestone_id>/edit", methods=["GET", "POST"])
def edit_milestone(milestone_id: int):
    me = signed_in_user()
    milestone = support_access.visible_milestone(milestone_id, me)
    project = milestone.project
    support_access.require_edit_milestone(me, milestone, project)
    liaison = support_access.is_liaison(me)
    form = MilestoneForm(obj=milestone if request.method == "GET" else None)
    form.department.choices = reference.choices("department", blank="—")
    form.owner_id.choices = _responsible_choices(milestone.department, milestone.owner_id)
    if request.method == "GET":
        form.version.data = str(milestone.version)
        form.owner_id.data = str(milestone.owner_id or "")
        form.planned_date.data = milestone.planned_date.isoformat() if milestone.planned_date else ""
        form.actual_date.data = milestone.actual_date.isoformat() if milestone.actual_date else ""
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        fields = support_access.LIAISON_MILESTONE_FIELDS if liaison else (
            "planned_date", "actual_date", "department", "owner_id", "note")
        data = {name: (getattr(form, name).data or None) if name != "note" else (form.note.data or "")
                for name in fields}
        if "owner_id" in data and data["owner_id"] is not None:
            data["owner_id"] = posted_int(data["owner_id"]) or data["owner_id"]
        try:
            change = services.update_milestone(milestone.id, data, actor=me, version=posted_int(form.version.data))
        except Invalid as exc:
            db.session.rollback()
            _flash_errors(form, exc)
            status = 422
        except Conflict as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            status = 409
        else:
            flash(_("Saved."), "success")
            for message in change.warnings.get("planned_date", []):
                flash(message, "warning")
            if change.offer is not None:
                return render_template("support/offer.html", offer=change.offer, milestone=change.milestone,
                                       project=project, **_names(me, project), **_labels())
            return redirect(_back_to(me, project.id))
    elif request.method == "POST":
        status = 422
    return render_template("support/milestone_form.html", form=form, milestone=milestone, project=project,
                           liaison=liaison, **_names(me, project),
                           current=services.milestone_status(milestone), **_labels()), status


def _back_to(me: User, project_id: int) -> str:
    """After a change: the project's page for staff; a liaison's lists for a liaison (who may not open it)."""
    if me.role in access.STAFF_ROLES:
        return url_for("projects.show", project_id=project_id, _anchor="support")
    return url_for("support.milestones")


# --- enterprise requests ---------------------------------------------------------------------------------------------

@bp.route("/requests")
def requests():
    """The requests the user may see: open ones by deadline (or all); a liaison's are those routed to their
    department."""
    me = signed_in_user()
    show_all = request.args.get("all") == "1"
    overdue = request.args.get("overdue") == "1"
    department = request.args.get("department") or None
    rows = queries.request_list(me, open_only=not show_all, overdue=overdue, department=department)
    return render_template("support/requests.html", rows=rows, show_all=show_all, overdue=overdue,
                           department=department, departments=reference.choices("department", blank=_("All")),
                           names=queries.project_names(me, [r.project for r in rows]), **_labels())


def _request_form(me: User, found: EnterpriseRequest | None = None) -> RequestForm:
    form = RequestForm()
    form.category.choices = [("", "—")] + [(c.key, str(c.label)) for c in REQUEST_CATEGORIES]
    form.department.choices = reference.choices("department", blank="—")
    department = form.department.data or (found.department if found else None)
    form.owner_id.choices = _responsible_choices(department, found.owner_id if found else None)
    return form


def _request_values(form: RequestForm) -> dict:
    days = (form.working_days.data or "").strip()
    return {"category": form.category.data or None, "description": form.description.data or "",
            "department": form.department.data or None,
            "owner_id": posted_int(form.owner_id.data) if form.owner_id.data else None,
            "deadline": days or (form.deadline.data or "").strip() or None}


def _deadline_errors(form: RequestForm, exc: Invalid) -> Invalid:
    """The deadline's message goes by whichever of the two inputs was used."""
    fields = dict(exc.fields)
    if "deadline" in fields and (form.working_days.data or "").strip():
        fields["working_days"] = fields.pop("deadline")
    return Invalid(exc.message, fields)


@bp.route("/projects/<int:project_id>/requests/new", methods=["GET", "POST"])
def new_request(project_id: int):
    me = signed_in_user()
    project = access.visible_project(project_id, me)
    access.require_edit_project(me, project)
    form = _request_form(me)
    status = 200
    if request.method == "GET":
        form.owner_id.data = str(project.owner_id)
    elif form.validate_on_submit():
        try:
            found = services.create_request(project.id, _request_values(form), actor=me, note=form.note.data or "")
        except Invalid as exc:
            db.session.rollback()
            _flash_errors(form, _deadline_errors(form, exc))
            status = 422
        except Conflict as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            status = 409
        else:
            flash(_("Request recorded and routed to %(department)s.",
                    department=reference.names("department").get(found.department, found.department)), "success")
            return redirect(url_for("support.show_request", request_id=found.id))
    else:
        status = 422
    return render_template("support/request_form.html", form=form, project=project, found=None,
                           **_names(me, project), **_labels()), status


@bp.route("/requests/<int:request_id>")
def show_request(request_id: int, *, status: int = 200, status_form: StatusForm | None = None):
    me = signed_in_user()
    found = support_access.visible_request(request_id, me)
    project = found.project
    can_edit = support_access.can_edit_request(me, found, project)
    form = status_form or StatusForm(formdata=None)
    form.satisfaction.choices = [("", "—")] + [(str(n), str(n)) for n in range(1, 6)]
    return render_template(
        "support/request.html", found=found, project=project, **_names(me, project),
        events=queries.request_events(found.id), contacts=queries.request_contacts(me, found),
        can_edit=can_edit, moves=services.TRANSITIONS[found.status],
        can_change_fields=can_edit and not support_access.is_liaison(me) and found.status != "closed",
        staff=me.role in access.STAFF_ROLES, form=form, **_labels()), status


@bp.route("/requests/<int:request_id>/status", methods=["POST"])
def request_status(request_id: int):
    """Move a request on (a button per allowed move; closing asks for the resolution and the satisfaction)."""
    me = signed_in_user()
    form = StatusForm()
    form.satisfaction.choices = [("", "—")] + [(str(n), str(n)) for n in range(1, 6)]
    if not form.validate_on_submit():
        return show_request(request_id, status=422, status_form=form)
    data = {"status": form.status.data or "", "note": form.note.data or ""}
    if form.resolution.data:
        data["resolution"] = form.resolution.data
    if form.satisfaction.data:
        data["satisfaction"] = form.satisfaction.data
    try:
        services.update_request(request_id, data, actor=me, version=posted_int(form.version.data))
    except Invalid as exc:
        db.session.rollback()
        _flash_errors(form, exc)
        return show_request(request_id, status=422, status_form=form)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return show_request(request_id, status=409, status_form=form)
    flash(_("The request is now: %(status)s.", status=status_label(form.status.data)), "success")
    return redirect(url_for("support.show_request", request_id=request_id))


@bp.route("/requests/<int:request_id>/edit", methods=["GET", "POST"])
def edit_request(request_id: int):
    me = signed_in_user()
    found = support_access.visible_request(request_id, me)
    project = found.project
    support_access.require_edit_request(me, found, project)
    if support_access.is_liaison(me):
        raise Forbidden(_("The project's officers change this."))
    form = _request_form(me, found)
    status = 200
    if request.method == "GET":
        form.category.data, form.description.data = found.category, found.description
        form.department.data, form.owner_id.data = found.department, str(found.owner_id or "")
        form.deadline.data, form.version.data = found.deadline.isoformat(), str(found.version)
    elif form.validate_on_submit():
        values = _request_values(form)
        values["note"] = form.note.data or ""
        try:
            services.update_request(found.id, values, actor=me, version=posted_int(form.version.data))
        except Invalid as exc:
            db.session.rollback()
            _flash_errors(form, _deadline_errors(form, exc))
            status = 422
        except Conflict as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            status = 409
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("support.show_request", request_id=found.id))
    else:
        status = 422
    return render_template("support/request_form.html", form=form, project=project, found=found,
                           **_names(me, project), **_labels()), status
