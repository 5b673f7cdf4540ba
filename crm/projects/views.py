"""Project pages: the list (filters, saved views, export, bulk actions), a project's page, create, edit, stage moves,
funds in place. The kanban board's routes are in board.py on the same blueprint."""
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import load_only
from werkzeug.datastructures import MultiDict

from crm.auth import access
from crm.auth.models import Team, User
from crm.companies import queries as company_queries
from crm.companies.models import Company
from crm.core.forms import apply_errors, posted_int
from crm.core.pagination import Page, page_args
from crm.core.timeutil import today_in_zone, utcnow
from crm.errors import Conflict, Invalid, NotFound
from crm.extensions import db
from crm.meetings import queries as meeting_queries
from crm.meetings.rows import timeline_context
from crm.meetings.services import is_overdue
from crm.reference import services as reference
from crm.web import signed_in_user, staff_only

from . import queries, services, stages
from .forms import (
    PROJECT_FORM_FIELDS,
    FundsForm,
    NewProjectForm,
    ProjectForm,
    ReassignForm,
    SaveViewForm,
    StageForm,
)
from .models import FundsEntry, Project

bp = Blueprint("projects", __name__)


bp.before_request(login_required(staff_only))



@bp.app_template_filter("wan")
def format_amount(value) -> str:
    """An amount in 万元 (or 亩) as officers write it: thousands separated, decimals only when there are any."""
    if value is None or value == "":
        return "—"
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


# --- the list --------------------------------------------------------------------------------------------------------

@dataclass
class ListRow:
    project: Project
    #: the company's name, or the code name when the viewer may not see the company of a confidential project
    shown_name: str
    company_visible: bool
    days_in_stage: int
    stale: bool
    editable: bool
    #: "12 days", translated (once per distinct number on the page)
    days_label: str = ""
    #: the planned investment and the funds in place, formatted
    planned: str = ""
    funds: str = ""


def _list_rows(me: User, projects: list[Project]) -> list[ListRow]:
    """The list's rows with everything a row shows worked out here, once: the template's loop stays plain."""
    company_ids = queries.visible_company_ids(me, projects)
    now, today, days = utcnow(), today_in_zone(), services.stale_days()
    labels: dict[int, str] = {}
    rows = []
    for p in projects:
        in_stage = services.days_in_stage(p, today=today)
        if in_stage not in labels:
            labels[in_stage] = ngettext("%(num)s day", "%(num)s days", in_stage)
        rows.append(ListRow(p, queries.shown_name(p, company_ids), p.company_id in company_ids, in_stage,
                            services.is_stale(p, now=now, days=days), access.can_edit_project(me, p),
                            labels[in_stage], format_amount(p.planned_investment),
                            format_amount(p.funds_in_place) if p.funds_in_place else "—"))
    return rows


def _filters_from_query(query: str) -> queries.ProjectFilters:
    return queries.ProjectFilters.from_args(MultiDict(parse_qsl(query or "", keep_blank_values=False)))


def _list_url(query: str = "", page=None) -> str:
    """The list with the filters of a query string (only known filters pass: a redirect target stays on the list)."""
    args = _filters_from_query(query).args()
    page = posted_int(page)
    if page and page > 1:
        args["page"] = page
    return url_for("projects.index", **args)


def _officer_choices(me: User) -> list[tuple[str, str]]:
    return [(str(u.id), u.name) for u in company_queries.officers(me)]


@bp.route("/projects")
def index():
    me = signed_in_user()
    filters = queries.ProjectFilters.from_args(request.args)
    page, per_page = page_args(request.args)
    projects, total = queries.project_page(me, filters, page=page, per_page=per_page, count_cap=queries.COUNT_CAP)
    rows = _list_rows(me, projects)
    query = urlencode(filters.args())
    views = services.saved_views(me)
    # a saved view is "on" when it holds the same filters, whatever their order in its query string
    current = sorted(parse_qsl(services.clean_query(query)))
    active_views = {v.id for v in views if sorted(parse_qsl(v.query)) == current}
    return render_template(
        "projects/index.html", rows=rows, page=Page(page, per_page, total, cap=queries.COUNT_CAP), filters=filters,
        query=query, views=views, active_views=active_views, save_form=SaveViewForm(formdata=None, query=query),
        stages=stages.STAGES, stage_by_key=stages.BY_KEY, clusters=reference.choices("cluster"),
        parks=reference.choices("park"), officers=company_queries.officers(me),
        teams=list(db.session.scalars(select(Team).order_by(Team.name))),
        cluster_names=reference.names("cluster"), park_names=reference.names("park"),
        is_manager=access.is_manager(me), selectable=any(r.editable for r in rows), stale_days=services.stale_days(),
        stage_labels={s.key: str(s.label) for s in stages.STAGES})


@bp.route("/projects/export.xlsx")
def export():
    """The filtered list as .xlsx with the import's columns (a round trip changes nothing): the same scope and filters
    as the page, every row, formula-safe, audited."""
    from crm.imports import exports

    return exports.export("projects", signed_in_user(), request.args,
                          query_string=request.query_string.decode(errors="replace"))


# --- saved views -----------------------------------------------------------------------------------------------------

@bp.route("/projects/views", methods=["POST"])
def save_view():
    form = SaveViewForm()
    query = form.query.data or ""
    if form.validate_on_submit():
        try:
            view = services.save_view(form.name.data or "", query, actor=signed_in_user())
        except Invalid as exc:
            db.session.rollback()
            for messages in exc.fields.values():
                for message in messages:
                    flash(message, "danger")
        else:
            flash(_("View “%(name)s” saved.", name=view.name), "success")
            return redirect(_list_url(view.query))
    else:
        for messages in form.errors.values():
            for message in messages:
                flash(message, "danger")
    return redirect(_list_url(query))


@bp.route("/projects/views/<int:view_id>/delete", methods=["POST"])
def delete_view(view_id: int):
    services.delete_view(view_id, actor=signed_in_user())  # another user's view: 404
    flash(_("Saved view deleted."), "success")
    return redirect(_list_url(request.form.get("back", "")))


# --- bulk actions ----------------------------------------------------------------------------------------------------

def _bulk_items(values: list[str]) -> list[tuple[int, int]]:
    """The ticked rows, each "id:version" as the list showed it (anything else is ignored)."""
    items, seen = [], set()
    for value in values[:1000]:
        project_id, _sep, version = str(value).partition(":")
        project_id, version = posted_int(project_id), posted_int(version)
        if project_id and version and project_id not in seen:
            seen.add(project_id)
            items.append((project_id, version))
    return items


def _flash_bulk(result: services.BulkResult, done: str) -> None:
    names = queries.project_names(signed_in_user(), [*result.conflicts, *result.skipped])

    def name(project_id):
        return names.get(project_id, f"#{project_id}")

    flash(done, "success" if result.moved else "info")
    if result.conflicts:
        flash(_("Changed by someone else since the list was shown, so left as they are: %(names)s. "
                "Reload the list and try again.", names=", ".join(name(i) for i in result.conflicts)), "warning")
    if result.skipped:
        flash(_("Skipped: %(list)s.", list="; ".join(f"{name(i)} ({why})" for i, why in result.skipped.items())),
              "info")


@bp.route("/projects/bulk", methods=["POST"])
def bulk():
    me = signed_in_user()
    back = _list_url(request.form.get("back", ""), request.form.get("page"))
    items = _bulk_items(request.form.getlist("ids"))
    action = request.form.get("action")
    try:
        if action == "move":
            to_stage = request.form.get("stage") or ""
            result = services.bulk_move(items, to_stage, actor=me, note=request.form.get("note") or "",
                                        reason=request.form.get("reason") or "")
            label = stages.BY_KEY[to_stage].label
            done = ngettext("Moved %(num)d project to %(stage)s.", "Moved %(num)d projects to %(stage)s.",
                            len(result.moved), stage=label)
        elif action == "reassign":
            result = services.bulk_reassign(items, request.form.get("owner_id") or "", actor=me)
            owner_id = posted_int(request.form.get("owner_id"))
            owner = db.session.get(User, owner_id) if owner_id else None
            done = ngettext("Reassigned %(num)d project to %(name)s.", "Reassigned %(num)d projects to %(name)s.",
                            len(result.moved), name=owner.name if owner else "")
        else:
            abort(400)
    except Invalid as exc:
        db.session.rollback()
        for messages in exc.fields.values():
            for message in messages:
                flash(message, "danger")
        return redirect(back)
    _flash_bulk(result, done)
    return redirect(back)


# --- create and edit -------------------------------------------------------------------------------------------------

def _fill_choices(form, me: User, project: Project | None = None) -> None:
    blank = "—"
    form.cluster.choices = reference.choices("cluster", blank=blank)
    form.park.choices = [("", _("Undecided"))] + reference.choices("park")
    form.source.choices = reference.choices("source", blank=blank)
    officers = _officer_choices(me)
    if project is not None:  # edit: a manager may correct who made first contact
        if project.first_contact_id and str(project.first_contact_id) not in dict(officers):
            officers.append((str(project.first_contact_id), project.first_contact.name if project.first_contact
                             else f"#{project.first_contact_id}"))
        form.first_contact_id.choices = [("", blank)] + officers
        return
    others = [(k, v) for k, v in officers if k != str(me.id)]
    if me.role == "admin":
        form.first_contact_id.choices = [("", _("Same as the owner"))] + officers
        form.owner_id.choices = [("", _("Choose the owner"))] + officers
    else:
        form.first_contact_id.choices = [("self", _("Me"))] + others
        form.owner_id.choices = [("self", _("Me"))] + others
    form.stage.choices = [(s.key, s.label) for s in stages.STAGES]


def _company_label(me: User, company_id) -> str:
    """The picker's text for a company id: its name if the user may see it."""
    company_id = posted_int(company_id)
    if not company_id:
        return ""
    company = db.session.scalar(select(Company).options(load_only(Company.name))
                                .where(Company.id == company_id, access.company_scope(me)))
    return company.name if company else ""


def _project_values(form) -> dict:
    return {name: getattr(form, name).data for name in PROJECT_FORM_FIELDS}


@bp.route("/projects/company-options")
def company_options():
    """The company picker's suggestions (htmx fragment): up to 20 companies the user may see matching `q`; with no
    `q`, the user's own companies, latest first."""
    me = signed_in_user()
    q = (request.args.get("q") or request.args.get("company_q") or "").replace("\x00", "").strip()[:100]
    f = company_queries.CompanyFilters(q=q) if q else company_queries.CompanyFilters(pool="mine")
    rows, _total = company_queries.company_page(me, f, per_page=20, count_cap=20,
                                                columns=company_queries.LIST_COLUMNS)
    return Response(render_template("projects/_company_options.html", rows=rows, q=q,
                                    cluster_names=reference.names("cluster")), mimetype="text/html")


@bp.route("/projects/new", methods=["GET", "POST"])
def create():
    me = signed_in_user()
    form = NewProjectForm()
    _fill_choices(form, me)
    status, duplicates = 200, []
    if request.method == "GET":
        preset = posted_int(request.args.get("company_id"))
        name = _company_label(me, preset)
        if name:
            form.company_id.data, form.company_q.data = str(preset), name
    else:
        result = _create(form, me)
        if isinstance(result, Project):
            flash(_("Project created."), "success")
            return redirect(url_for("projects.show", project_id=result.id))
        status, duplicates = result
        if not form.new_company.data:
            form.company_q.data = _company_label(me, form.company_id.data) or form.company_q.data
    return render_template("projects/form.html", form=form, project=None, duplicates=duplicates), status


def _create(form, me: User):
    """Run the new-project form: the Project, or (status, look-alike companies) to show the form again with."""
    data = _project_values(form)
    is_manager = access.is_manager(me)
    kwargs = {"owner_id": (form.owner_id.data or None) if is_manager else None,
              "first_contact_id": form.first_contact_id.data or None, "stage": form.stage.data or "lead",
              "lost_reason": form.lost_reason.data or ""}
    new_company = None
    if form.new_company.data:
        data.pop("company_id")
        new_company = {"name": form.new_company_name.data or "", "uscc": form.new_company_uscc.data or "",
                       "cluster": data.get("cluster") or "", "source": data.get("source") or ""}
    if not form.validate_on_submit():
        return 422, []
    try:
        return services.create_project(data, actor=me, new_company=new_company, **kwargs)
    except Invalid as exc:
        db.session.rollback()
        for message in apply_errors(form, exc.fields, prefix_map={
                "company_id": "company_q", "company.name": "new_company_name", "company.uscc": "new_company_uscc"}):
            flash(message, "danger")
        return 422, []
    except Conflict as exc:  # the new company looks like one already in the book
        db.session.rollback()
        duplicates = getattr(exc, "duplicates", [])
        flash(exc.message, "warning")
        form.new_company_name.errors = [_("This company is already in the CRM: search for it above instead.")]
        return 409, duplicates


def _edit_form(project: Project, me: User, formdata=None) -> ProjectForm:
    form = ProjectForm(formdata=formdata, obj=project)
    _fill_choices(form, me, project)
    form.version.data = str(project.version)
    form.company_id.data = str(project.company_id)
    form.company_q.data = queries.shown_name(project, queries.visible_company_ids(me, [project]))
    for name in ("cluster", "park", "source"):
        getattr(form, name).data = getattr(project, name) or ""
    form.first_contact_id.data = str(project.first_contact_id or "")
    return form


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
def edit(project_id: int):
    me = signed_in_user()
    project = access.visible_project(project_id, me)
    access.require_edit_project(me, project)
    if request.method == "GET":
        return render_template("projects/form.html", form=_edit_form(project, me), project=project, duplicates=[])
    form = ProjectForm()
    _fill_choices(form, me, project)
    status = 422
    if form.validate_on_submit():
        data = _project_values(form)
        first_contact = posted_int(form.first_contact_id.data)
        if access.is_manager(me) and first_contact and first_contact != project.first_contact_id:
            data["first_contact_id"] = first_contact
        try:
            services.update_project(project.id, data, actor=me, version=posted_int(form.version.data))
        except Invalid as exc:
            db.session.rollback()
            for message in apply_errors(form, exc.fields, prefix_map={"company_id": "company_q"}):
                flash(message, "danger")
        except Conflict as exc:
            # someone saved in between: show what is there now, with its version, and keep nothing of the input
            db.session.rollback()
            flash(exc.message, "danger")
            project = access.visible_project(project_id, me)
            return render_template("projects/form.html", form=_edit_form(project, me), project=project,
                                   duplicates=[]), 409
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("projects.show", project_id=project.id))
    form.company_q.data = _company_label(me, form.company_id.data) or form.company_q.data
    return render_template("projects/form.html", form=form, project=project, duplicates=[]), status


@bp.route("/projects/<int:project_id>/delete", methods=["POST"])
def delete(project_id: int):
    me = signed_in_user()
    try:
        services.delete_project(project_id, actor=me, version=posted_int(request.form.get("version")))
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render_show(access.visible_project(project_id, me), status=409)
    flash(_("Project deleted."), "success")
    return redirect(url_for("projects.index"))


@bp.route("/projects/<int:project_id>/reassign", methods=["POST"])
def reassign(project_id: int):
    me = signed_in_user()
    try:
        project = services.reassign_project(project_id, posted_int(request.form.get("owner_id")) or 0, actor=me,
                                            version=posted_int(request.form.get("version")))
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render_show(access.visible_project(project_id, me), status=409)
    except Invalid as exc:
        db.session.rollback()
        flash(" ".join(m for ms in exc.fields.values() for m in ms) or exc.message, "danger")
        return _render_show(access.visible_project(project_id, me), status=422)
    flash(_("The project is now %(name)s's.", name=project.owner.name), "success")
    return redirect(url_for("projects.show", project_id=project_id))


# --- a project's page ------------------------------------------------------------------------------------------------

def _stage_form(project: Project, formdata=None) -> StageForm:
    form = StageForm(formdata=formdata)
    form.stage.choices = [("", _("Choose a stage"))] + [(s.key, s.label) for s in stages.STAGES
                                                         if s.key != project.stage]
    if formdata is None:
        form.version.data = str(project.version)
        main = [s.key for s in stages.STAGES if s.main]
        # the usual next step is preselected; from the end of the path (or a side state) the officer chooses
        form.stage.data = main[main.index(project.stage) + 1] if project.stage in main[:-1] else ""
        wanted = request.args.get("stage")  # the board's stage menu without JavaScript names the stage
        if wanted in stages.BY_KEY and wanted != project.stage:
            form.stage.data = wanted
    return form


def _render_show(project: Project, *, status: int = 200, stage_form=None, funds_form=None):
    me = signed_in_user()
    company_ids = queries.visible_company_ids(me, [project])
    is_manager = access.is_manager(me)
    reassign_form = None
    if is_manager:
        reassign_form = ReassignForm(formdata=None, version=str(project.version), owner_id=str(project.owner_id))
        reassign_form.owner_id.choices = _officer_choices(me)
    moves = queries.moves(project.id)
    funds = queries.funds(project.id)
    actor_ids = {e.actor_id for e in funds if e.actor_id}
    people = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(actor_ids))).all()) \
        if actor_ids else {}
    reached = project.stage_dates
    return render_template(
        "projects/show.html", project=project, shown_name=queries.shown_name(project, company_ids),
        company_visible=project.company_id in company_ids, can_edit=access.can_edit_project(me, project),
        is_manager=is_manager, moves=moves, backwards={m.id for m in moves if stages.is_backwards(m.from_stage,
                                                                                                 m.to_stage)},
        funds=funds, reached=reached, stages=stages.STAGES, **_timeline(me, project.id),
        open_tasks=meeting_queries.open_tasks(me, project_id=project.id), task_overdue=is_overdue,
        days_in_stage=services.days_in_stage(project),
        stale=services.is_stale(project), stale_days=services.stale_days(),
        no_update_reason=services.no_update_reason(project), reason_max=services.REASON_MAX_LENGTH,
        stage_form=stage_form or _stage_form(project),
        funds_form=funds_form or FundsForm(formdata=None, received_on=today_in_zone().isoformat()),
        reassign_form=reassign_form, people=people, today=today_in_zone().isoformat(),
        cluster_names=reference.names("cluster"), park_names=reference.names("park"),
        source_names=reference.names("source"), **_support(me, project)), status


def _support(me: User, project: Project) -> dict:
    """The support card (milestones and requests, from signing on) and the names its rows use."""
    from crm.support import queries as support_queries
    from crm.support.models import CATEGORY_BY_KEY, MILESTONE_BY_KEY, status_label

    if not support_queries.services.was_signed(project):
        return {"support_signed": False}
    return {**support_queries.project_card(me, project), "milestone_by_key": MILESTONE_BY_KEY,
            "category_by_key": CATEGORY_BY_KEY, "request_status_label": status_label,
            "department_names": reference.names("department"), "support_today": today_in_zone()}


@bp.route("/projects/<int:project_id>")
def show(project_id: int):
    return _render_show(access.visible_project(project_id, signed_in_user()))


def _timeline(me: User, project_id: int) -> dict:
    return timeline_context(me, request.args, project_id=project_id)


@bp.route("/projects/<int:project_id>/timeline")
def timeline(project_id: int):
    """The timeline as an htmx fragment: the whole card (a filter chip), or with `before` the next items and the
    "show older" button again."""
    me = signed_in_user()
    project = access.visible_project(project_id, me)
    fragment = "items" if "before" in request.args else "card"
    return Response(render_template("meetings/_timeline.html", timeline_fragment=fragment,
                                    **_timeline(me, project.id)), mimetype="text/html")


@bp.route("/projects/<int:project_id>/stage", methods=["GET", "POST"])
def stage(project_id: int):
    """Move the project to another stage (GET: the form alone, for a phone)."""
    me = signed_in_user()
    project = access.visible_project(project_id, me)
    access.require_edit_project(me, project)
    if request.method == "GET":
        return render_template("projects/stage.html", project=project, form=_stage_form(project),
                               stage_by_key=stages.BY_KEY, today=today_in_zone().isoformat(),
                               shown_name=queries.shown_name(project, queries.visible_company_ids(me, [project])))
    form = _stage_form(project, formdata=request.form)
    try:
        services.move_stage(project.id, form.stage.data, actor=me, version=posted_int(form.version.data),
                            note=form.note.data or "", reason=form.reason.data or "", on=form.date.data or None)
    except Invalid as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        for message in apply_errors(form, exc.fields):
            flash(message, "danger")
        project = access.visible_project(project_id, me)
        if form.standalone.data:
            return render_template("projects/stage.html", project=project, form=form, stage_by_key=stages.BY_KEY,
                                   today=today_in_zone().isoformat(), shown_name=queries.shown_name(project,
                                                                 queries.visible_company_ids(me, [project]))), 422
        return _render_show(project, status=422, stage_form=form)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render_show(access.visible_project(project_id, me), status=409)
    flash(_("Moved to %(stage)s.", stage=stages.BY_KEY[form.stage.data].label), "success")
    return redirect(url_for("projects.show", project_id=project_id))


@bp.route("/projects/<int:project_id>/funds", methods=["POST"])
def add_funds(project_id: int):
    me = signed_in_user()
    project = access.visible_project(project_id, me)
    access.require_edit_project(me, project)
    form = FundsForm()
    status = 422
    if form.validate_on_submit():
        try:
            services.add_funds(project.id, {"received_on": form.received_on.data, "amount": form.amount.data,
                                            "note": form.note.data or ""}, actor=me)
        except Invalid as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            for message in apply_errors(form, exc.fields):
                flash(message, "danger")
        except Conflict as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            status = 409
        else:
            flash(_("Funds in place recorded."), "success")
            return redirect(url_for("projects.show", project_id=project.id) + "#funds")
    return _render_show(access.visible_project(project_id, me), status=status, funds_form=form)


@bp.route("/projects/<int:project_id>/no-update-reason", methods=["POST"])
def no_update_reason(project_id: int):
    """The owner's reason why the project has had no update (the weekly report lists it); an empty text withdraws
    it. Whoever may edit the project gives it (the service checks)."""
    me = signed_in_user()
    try:
        project = services.set_no_update_reason(project_id, request.form.get("reason") or "", actor=me)
    except Invalid as exc:
        db.session.rollback()
        flash(" ".join(m for ms in exc.fields.values() for m in ms) or exc.message, "danger")
        return _render_show(access.visible_project(project_id, me), status=422)
    flash(_("Reason saved: it shows in the weekly report until the project has news again.")
          if services.no_update_reason(project) else _("Reason withdrawn."), "success")
    return redirect(url_for("projects.show", project_id=project_id) + "#no-update")


@bp.route("/funds/<int:entry_id>/delete", methods=["POST"])
def delete_funds(entry_id: int):
    me = signed_in_user()
    try:
        project = services.delete_funds(entry_id, actor=me)
    except Conflict as exc:
        db.session.rollback()
        entry = db.session.get(FundsEntry, entry_id)
        if entry is None:
            raise NotFound(str(_l("No such entry."))) from None
        flash(exc.message, "warning")
        return redirect(url_for("projects.show", project_id=entry.project_id) + "#funds")
    flash(_("Entry deleted."), "success")
    return redirect(url_for("projects.show", project_id=project.id) + "#funds")


from . import board  # noqa: E402,F401  (the board's routes register on bp)
