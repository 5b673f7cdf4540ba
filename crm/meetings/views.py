"""Meeting and task pages: the quick-log form (phone-first), a meeting's page, edit, delete and .ics; "my tasks"
grouped overdue / today / this week / later, with one-click done and snooze."""

from datetime import datetime, timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select

from crm.auth import access
from crm.auth.models import Role, User
from crm.companies import queries as company_queries
from crm.companies.models import Company
from crm.core import fields as rules
from crm.core.forms import apply_errors, posted_int
from crm.core.timeutil import as_aware, to_zone, utcnow, zone
from crm.errors import Conflict, Invalid, NotFound
from crm.extensions import db
from crm.projects import queries as project_queries
from crm.projects.models import Project
from crm.reference import services as reference
from crm.web import safe_next, signed_in_user, staff_only

from . import ical, queries, services
from .forms import MEETING_FORM_FIELDS, MeetingForm, QuickLogForm, TaskForm, due_text
from .models import MEETING_TYPES, Meeting, Task
from .rows import Links, TaskRows

bp = Blueprint("meetings", __name__)

#: a follow-up's field in the service's errors → the row's input that shows the message
FOLLOW_UP_INPUTS = {"title": "title", "due": "due_date", "owner_id": "owner_id", "notes": "title"}


bp.before_request(login_required(staff_only))



def _next_url() -> str | None:
    return safe_next(request.form.get("next") or request.args.get("next"))


# --- shared pieces ---------------------------------------------------------------------------------------------------

def _local_input(value) -> str:
    """A stored time as a datetime-local input's value, in the zone's time zone."""
    return to_zone(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def _now_input() -> str:
    """Now in the zone's time zone, rounded down to 5 minutes, as a datetime-local value."""
    now = utcnow().astimezone(zone())
    return now.replace(minute=now.minute - now.minute % 5).strftime("%Y-%m-%dT%H:%M")


def _visible_company(me: User, company_id) -> Company | None:
    company_id = posted_int(company_id)
    if not company_id:
        return None
    return db.session.scalar(select(Company).where(Company.id == company_id, access.company_scope(me)))


def _visible_project(me: User, project_id) -> Project | None:
    project_id = posted_int(project_id)
    if not project_id:
        return None
    return db.session.scalar(select(Project).where(Project.id == project_id, access.project_scope(me)))


def _staff_choices(me: User, *, keep: User | None = None) -> list[tuple[str, str]]:
    """Active officers and managers, me first as "Me" (a task owner, a follow-up's owner)."""
    people = company_queries.officers(me)
    choices = [(str(u.id), u.name) for u in people if u.id != me.id]
    if keep is not None and keep.id != me.id and str(keep.id) not in dict(choices):
        choices.append((str(keep.id), keep.name))
    if me.role == Role.ADMIN.value:
        return [("", _("Choose the officer"))] + choices
    return [(str(me.id), _("Me"))] + choices


def _colleague_choices(me: User, owner_id: int, keep=()) -> dict[str, list[tuple[str, str]]]:
    """Colleagues who may take part: my team first (optgroups), the meeting's owner left out; `keep` (who took
    part already) stays offered even if no longer active."""
    team, others = [], []
    people = company_queries.officers(me)
    listed = {u.id for u in people}
    for u in [*people, *(u for u in keep if u.id not in listed)]:
        if u.id == owner_id:
            continue
        (team if me.team_id and u.team_id == me.team_id else others).append((str(u.id), u.name))
    if not team:
        return {_("Colleagues"): others}
    return {_("My team"): team, _("Others"): others}


def _parts(me: User, company: Company | None, *, project_id="", contact_ids=(), project_errors=(),
           contact_errors=(), with_contacts: bool = True) -> dict:
    """What the company-dependent part of a form shows: the company's projects and (for a meeting) contacts."""
    return {
        "parts_company": company,
        "parts_projects": queries.company_projects(me, company.id) if company else [],
        "parts_project_id": str(project_id or ""),
        "parts_contacts": queries.company_contacts(company.id) if company and with_contacts else [],
        "parts_contact_ids": {str(i) for i in contact_ids or ()},
        "parts_project_errors": list(project_errors or ()),
        "parts_contact_errors": list(contact_errors or ()),
        "parts_with_contacts": with_contacts,
    }


@bp.route("/meetings/company-parts")
def company_parts():
    """The project select and the contacts of the chosen company (htmx fragment of the quick-log and task forms);
    a company the user may not see gives the empty fragment."""
    me = signed_in_user()
    company = _visible_company(me, request.args.get("company_id"))
    html = render_template("meetings/_company_parts.html",
                           **_parts(me, company, with_contacts=request.args.get("contacts") != "0"))
    return Response(html, mimetype="text/html")


# --- meetings: the quick-log form ------------------------------------------------------------------------------------

def _fill_meeting_choices(form, me: User, meeting: Meeting | None = None) -> None:
    form.type.choices = [(k, ical.meeting_type_label(k)) for k in MEETING_TYPES]
    form.participant_user_ids.choices = _colleague_choices(
        me, meeting.owner_id if meeting else me.id, meeting.participant_users if meeting else ())
    if access.is_manager(me):
        others = [(str(u.id), u.name) for u in company_queries.officers(me) if u.id != me.id]
        form.owner_id.choices = ([("", _("Choose the officer"))] if me.role == Role.ADMIN.value
                                 else [("self", _("Me"))]) + others
    follow_ups = getattr(form, "follow_ups", None)
    if follow_ups is not None:
        choices = _staff_choices(me)
        for entry in follow_ups.entries:
            entry.form.owner_id.choices = choices


def _meeting_values(form) -> dict:
    values = {name: getattr(form, name).data for name in MEETING_FORM_FIELDS}
    values["participant_user_ids"] = values["participant_user_ids"] or []
    values["participant_contact_ids"] = values["participant_contact_ids"] or []
    return values


def _changed_participants(values: dict, meeting: Meeting) -> dict:
    """An edit sends the participants only when they changed: one who has since left (or a deleted contact) then
    stays on the record instead of failing the check or quietly dropping off."""
    if set(values["participant_user_ids"]) == {str(u.id) for u in meeting.participant_users}:
        del values["participant_user_ids"]
    live = {str(c.id) for c in meeting.participant_contacts if c.deleted_at is None}
    if str(values.get("company_id")) == str(meeting.company_id) and set(values["participant_contact_ids"]) == live:
        del values["participant_contact_ids"]
    return values


def _follow_ups(form) -> tuple[list[dict], list[int]]:
    """The filled follow-up rows (empty ones are ignored) and the form row each came from."""
    rows, indexes = [], []
    for index, entry in enumerate(form.follow_ups.entries):
        row = entry.form
        if row.is_empty():
            continue
        rows.append({"title": row.title.data or "", "due": due_text(row.due_date.data, row.due_time.data),
                     "owner_id": row.owner_id.data or None})
        indexes.append(index)
    return rows, indexes


def _show_errors(form, exc: Invalid, indexes=()) -> None:
    """Put the service's messages by their fields (a follow-up's by that row's input); flash the rest."""
    plain = {}
    for name, messages in exc.fields.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "follow_ups" and parts[1].isdigit() and int(parts[1]) < len(indexes):
            row = form.follow_ups.entries[indexes[int(parts[1])]].form
            target = getattr(row, FOLLOW_UP_INPUTS.get(parts[2], "title"))
            target.errors = [*target.errors, *messages]
        else:
            plain[name] = messages
    flash(exc.message, "danger")
    for message in apply_errors(form, plain, prefix_map={"company_id": "company_q", "follow_ups": "-",
                                                          "meeting_id": "-", "snooze": "-"}):
        flash(message, "danger")


def _render_meeting_form(form, me: User, meeting: Meeting | None = None, status: int = 200):
    company = _visible_company(me, form.company_id.data)
    if company is not None:
        form.company_q.data = company.name
    parts = _parts(me, company, project_id=form.project_id.data, contact_ids=form.participant_contact_ids.data,
                   project_errors=form.project_id.errors, contact_errors=form.participant_contact_ids.errors)
    cancel_url = safe_next(form.next.data) or (url_for("meetings.show", meeting_id=meeting.id) if meeting
                                                else url_for("home.index"))
    return render_template("meetings/form.html", form=form, meeting=meeting, city_names=reference.names("city"),
                           can_pick_owner=meeting is None and access.is_manager(me), cancel_url=cancel_url,
                           **parts), status


@bp.route("/meetings/new", methods=["GET", "POST"])
def new():
    """Log a meeting with its follow-ups (?company_id=&project_id= preselect them)."""
    me = signed_in_user()
    form = QuickLogForm()
    _fill_meeting_choices(form, me)
    if request.method == "GET":
        form.type.data = "visit"
        form.start_at.data = _now_input()
        form.next.data = _next_url() or ""
        project = _visible_project(me, request.args.get("project_id"))
        company = _visible_company(me, request.args.get("company_id") or (project.company_id if project else None))
        if company is not None:
            form.company_id.data = str(company.id)
            if project is not None and project.company_id == company.id:
                form.project_id.data = str(project.id)
        form.owner_id.data = "self" if me.role != Role.ADMIN.value else ""
        for entry in form.follow_ups.entries:
            entry.form.owner_id.data = str(me.id) if me.role != Role.ADMIN.value else ""
        return _render_meeting_form(form, me)
    if not form.validate_on_submit():
        return _render_meeting_form(form, me, status=422)
    follow_ups, indexes = _follow_ups(form)
    try:
        meeting = services.create_meeting(_meeting_values(form), actor=me, follow_ups=follow_ups,
                                          owner_id=(form.owner_id.data or None) if access.is_manager(me) else None)
    except Invalid as exc:
        db.session.rollback()
        _show_errors(form, exc, indexes)
        return _render_meeting_form(form, me, status=422)
    if follow_ups:
        flash(_("Meeting logged with %(n)d follow-up(s).", n=len(follow_ups)), "success")
    else:
        flash(_("Meeting logged."), "success")
    return redirect(safe_next(form.next.data) or url_for("meetings.show", meeting_id=meeting.id))


# --- a meeting's page, edit, delete, .ics ----------------------------------------------------------------------------

def _render_show(meeting: Meeting, *, status: int = 200):
    me = signed_in_user()
    tasks = queries.meeting_tasks(me, meeting.id)
    links = Links.of(me, [meeting, *tasks])
    task_rows = TaskRows(me, url_for("meetings.show", meeting_id=meeting.id), links)
    return render_template(
        "meetings/show.html", meeting=meeting, links=links, rows=task_rows.rows(tasks), task_rows=task_rows,
        can_edit=access.can_edit_meeting(me, meeting),
        type_label=ical.meeting_type_label(meeting.type), scheduled=as_aware(meeting.start_at) > utcnow(),
        same_day=meeting.end_at is not None and to_zone(meeting.end_at).date() == to_zone(meeting.start_at).date()), \
        status


@bp.route("/meetings/<int:meeting_id>")
def show(meeting_id: int):
    return _render_show(access.visible_meeting(meeting_id, signed_in_user()))


def _edit_form(meeting: Meeting, me: User) -> MeetingForm:
    form = MeetingForm(formdata=None)
    _fill_meeting_choices(form, me, meeting)
    form.version.data = str(meeting.version)
    form.type.data = meeting.type
    form.start_at.data, form.end_at.data = _local_input(meeting.start_at), _local_input(meeting.end_at)
    for name in ("city", "place", "summary", "outcome", "next_step"):
        getattr(form, name).data = getattr(meeting, name)
    form.company_id.data = str(meeting.company_id)
    form.project_id.data = str(meeting.project_id or "")
    form.participant_user_ids.data = [str(u.id) for u in meeting.participant_users]
    form.participant_contact_ids.data = [str(c.id) for c in meeting.participant_contacts]
    form.next.data = _next_url() or ""
    return form


@bp.route("/meetings/<int:meeting_id>/edit", methods=["GET", "POST"])
def edit(meeting_id: int):
    me = signed_in_user()
    meeting = access.visible_meeting(meeting_id, me)
    access.require_edit_meeting(me, meeting)
    if request.method == "GET":
        return _render_meeting_form(_edit_form(meeting, me), me, meeting)
    form = MeetingForm()
    _fill_meeting_choices(form, me, meeting)
    if not form.validate_on_submit():
        return _render_meeting_form(form, me, meeting, status=422)
    try:
        services.update_meeting(meeting.id, _changed_participants(_meeting_values(form), meeting), actor=me,
                                version=posted_int(form.version.data))
    except Invalid as exc:
        db.session.rollback()
        _show_errors(form, exc)
        return _render_meeting_form(form, me, meeting, status=422)
    except Conflict as exc:
        # someone saved in between: show what is there now, with its version; the input is not kept
        db.session.rollback()
        flash(exc.message, "danger")
        meeting = access.visible_meeting(meeting_id, me)
        return _render_meeting_form(_edit_form(meeting, me), me, meeting, status=409)
    flash(_("Saved."), "success")
    return redirect(safe_next(form.next.data) or url_for("meetings.show", meeting_id=meeting.id))


@bp.route("/meetings/<int:meeting_id>/delete", methods=["POST"])
def delete(meeting_id: int):
    me = signed_in_user()
    meeting = access.visible_meeting(meeting_id, me)
    company_id = meeting.company_id
    try:
        services.delete_meeting(meeting_id, actor=me, version=posted_int(request.form.get("version")))
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render_show(access.visible_meeting(meeting_id, me), status=409)
    flash(_("Meeting deleted. Its follow-up tasks stay."), "success")
    if _visible_company(me, company_id) is not None:
        return redirect(url_for("companies.show", company_id=company_id))
    return redirect(url_for("meetings.tasks"))


@bp.route("/meetings/<int:meeting_id>.ics")
def ics(meeting_id: int):
    """The meeting as an .ics file, to add to a calendar by hand."""
    me = signed_in_user()
    meeting = access.visible_meeting(meeting_id, me)
    return Response(ical.meeting_ics(me, meeting), content_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="meeting-{meeting.id}.ics"'})


# --- my tasks --------------------------------------------------------------------------------------------------------

def _tasks_owner(me: User) -> User:
    raw = request.args.get("owner_id")
    if raw in (None, ""):
        return me
    owner_id = posted_int(raw)
    owner = db.session.get(User, owner_id) if owner_id else None
    if owner is None or not access.can_see_tasks_of(me, owner):
        raise NotFound(str(_l("No such officer.")))
    return owner


def _picker(me: User, owner: User) -> list[User]:
    """Whose tasks the viewer may switch to: a manager every officer, an officer the teammates (me and the
    shown officer always among them)."""
    people = company_queries.officers(me, team_only=not access.is_manager(me))
    ids = {u.id for u in people}
    return [*(u for u in {me.id: me, owner.id: owner}.values() if u.id not in ids), *people]


#: meetings per page of the list
LIST_PAGE = 50


def _moment_arg(name: str, problems: dict) -> datetime | None:
    """A list filter's moment: a day (YYYY-MM-DD: its midnight in the zone) or an ISO date-time (the API's form of
    `start_from` / `start_before`); an unreadable one is left out with a message."""
    raw = (request.args.get(name) or "").strip()[:40]
    if not raw:
        return None
    try:
        return queries.day_start(rules.Date().parse(raw)) if len(raw) <= 10 else rules.DateTime().parse(raw)
    except rules.FieldError:
        problems[name] = _("Enter a date as YYYY-MM-DD.")
        return None


@bp.route("/meetings")
def index():
    """The meetings the viewer may see, newest first, those that started in [start_from, start_before) when given:
    the dashboard's meetings figure opens this with its period (crm.dashboard.kpis.Drill), so the list holds the
    meetings the figure counted."""
    me = signed_in_user()
    problems: dict[str, str] = {}
    filters = queries.MeetingFilters(start_from=_moment_arg("start_from", problems),
                                     start_before=_moment_arg("start_before", problems))
    page = max(1, min(posted_int(request.args.get("page")) or 1, 10_000))
    rows, total = queries.meeting_list(me, filters, page=page, per_page=LIST_PAGE)
    company_ids = set(db.session.scalars(select(Company.id).where(
        Company.id.in_({m.company_id for m in rows}), access.company_scope(me)))) if rows else set()
    names = {m.id: project_queries.shown_company_name(
        m.company.name if m.company else None, project_id=m.project_id,
        confidential=m.project.confidential if m.project else None,
        code_name=m.project.code_name if m.project else None, company_visible=m.company_id in company_ids)
        for m in rows}
    last = filters.start_before - timedelta(microseconds=1) if filters.start_before else None
    args = {k: request.args[k] for k in ("start_from", "start_before") if k in request.args and k not in problems}
    return render_template("meetings/list.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // LIST_PAGE)), names=names, company_ids=company_ids,
                           first=filters.start_from, last=last, problems=problems, args=args,
                           types=ical.meeting_type_labels()), 400 if problems else 200


@bp.route("/tasks")
def tasks():
    """My tasks (or, for a manager or a teammate, an officer's) by overdue / today / this week / later."""
    me = signed_in_user()
    owner = _tasks_owner(me)
    expand = request.args.get("expand")
    expand = expand if expand in services.BUCKETS else None  # one group shown whole ("show all")
    groups = queries.task_groups(me, owner, expand=expand)
    owner_param = owner.id if owner.id != me.id else None
    task_rows = TaskRows(me, url_for("meetings.tasks", owner_id=owner_param, expand=expand),
                         Links(groups.company_ids, groups.project_ids))
    rows = {name: task_rows.rows(getattr(groups, name), groups.refs)
            for name in ("overdue", "today", "week", "later", "done_today")}
    picker = _picker(me, owner)
    return render_template("meetings/tasks.html", owner=owner, groups=groups, rows=rows, task_rows=task_rows,
                           back=task_rows.back, owner_param=owner_param, picker=picker if len(picker) > 1 else [],
                           is_me=owner.id == me.id)


def _back_to_tasks():
    return redirect(_next_url() or url_for("meetings.tasks"))


@bp.route("/tasks/<int:task_id>/done", methods=["POST"])
def task_done(task_id: int):
    task = services.complete_task(task_id, actor=signed_in_user())
    flash(_("Done: %(title)s", title=task.title), "success")
    return _back_to_tasks()


@bp.route("/tasks/<int:task_id>/reopen", methods=["POST"])
def task_reopen(task_id: int):
    task = services.reopen_task(task_id, actor=signed_in_user())
    flash(_("Reopened: %(title)s", title=task.title), "info")
    return _back_to_tasks()


@bp.route("/tasks/<int:task_id>/snooze", methods=["POST"])
def task_snooze(task_id: int):
    me = signed_in_user()
    access.visible_task(task_id, me)  # another team's task is 404 whatever `how` says
    try:
        task = services.snooze_task(task_id, request.form.get("how") or "", actor=me,
                                    version=posted_int(request.form.get("version")))
    except Invalid as exc:
        db.session.rollback()
        flash(" ".join(m for ms in exc.fields.values() for m in ms) or exc.message, "danger")
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "warning")
    else:
        flash(_("Moved to %(day)s: %(title)s", day=task.due_on.isoformat(), title=task.title), "success")
    return _back_to_tasks()


@bp.route("/tasks/<int:task_id>/delete", methods=["POST"])
def task_delete(task_id: int):
    me = signed_in_user()
    try:
        services.delete_task(task_id, actor=me, version=posted_int(request.form.get("version")))
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("meetings.edit_task", task_id=task_id))
    flash(_("Task deleted."), "success")
    return _back_to_tasks()


# --- a task on its own: create and edit ------------------------------------------------------------------------------

def _fill_task_choices(form: TaskForm, me: User, task: Task | None = None) -> None:
    form.owner_id.choices = _staff_choices(me, keep=task.owner if task is not None else None)


def _task_values(form: TaskForm, *, with_company: bool) -> dict:
    values = {"title": form.title.data or "", "due": due_text(form.due_date.data, form.due_time.data),
              "owner_id": form.owner_id.data or None, "notes": form.notes.data or ""}
    if with_company:
        values.update(company_id=form.company_id.data or None, project_id=form.project_id.data or None)
    return values


def _render_task_form(form: TaskForm, me: User, *, task: Task | None = None, meeting: Meeting | None = None,
                      status: int = 200):
    company = None if meeting is not None else _visible_company(me, form.company_id.data)
    if company is not None:
        form.company_q.data = company.name
    parts = _parts(me, company, project_id=form.project_id.data, project_errors=form.project_id.errors,
                   with_contacts=False)
    meeting_label = ""
    if meeting is not None:
        links = Links.of(me, [meeting])
        meeting_label = f"{ical.meeting_type_label(meeting.type)} · {links.company_name(meeting)} · " \
                        f"{to_zone(meeting.start_at):%Y-%m-%d}"
    cancel_url = safe_next(form.next.data) or (url_for("meetings.show", meeting_id=meeting.id) if meeting
                                                else url_for("meetings.tasks"))
    return render_template("meetings/task_form.html", form=form, task=task, meeting=meeting,
                           meeting_label=meeting_label, cancel_url=cancel_url, **parts), status


def _task_meeting(me: User, meeting_id) -> Meeting | None:
    meeting_id = posted_int(meeting_id)
    if not meeting_id:
        return None
    return db.session.scalar(select(Meeting).where(Meeting.id == meeting_id, access.meeting_scope(me)))


@bp.route("/tasks/new", methods=["GET", "POST"])
def new_task():
    """A task on its own (?company_id=&project_id=&meeting_id= preselect what it is about)."""
    me = signed_in_user()
    form = TaskForm()
    _fill_task_choices(form, me)
    if request.method == "GET":
        meeting = _task_meeting(me, request.args.get("meeting_id"))
        if meeting is not None:
            form.meeting_id.data = str(meeting.id)
        else:
            project = _visible_project(me, request.args.get("project_id"))
            company = _visible_company(me, request.args.get("company_id") or
                                       (project.company_id if project else None))
            if company is not None:
                form.company_id.data = str(company.id)
                if project is not None and project.company_id == company.id:
                    form.project_id.data = str(project.id)
        form.owner_id.data = str(me.id) if me.role != Role.ADMIN.value else ""
        form.due_date.data = utcnow().astimezone(zone()).date().isoformat()
        form.next.data = _next_url() or ""
        return _render_task_form(form, me, meeting=meeting)
    meeting = _task_meeting(me, form.meeting_id.data)
    if not form.validate_on_submit():
        return _render_task_form(form, me, meeting=meeting, status=422)
    values = _task_values(form, with_company=meeting is None)
    values["meeting_id"] = form.meeting_id.data or None
    try:
        task = services.create_task(values, actor=me)
    except Invalid as exc:
        db.session.rollback()
        _show_task_errors(form, exc)
        return _render_task_form(form, me, meeting=meeting, status=422)
    flash(_("Task added: %(title)s", title=task.title), "success")
    if safe_next(form.next.data):
        return redirect(safe_next(form.next.data))
    if task.meeting_id:
        return redirect(url_for("meetings.show", meeting_id=task.meeting_id))
    return redirect(url_for("meetings.tasks"))


def _show_task_errors(form: TaskForm, exc: Invalid) -> None:
    flash(exc.message, "danger")
    for message in apply_errors(form, exc.fields, prefix_map={"due": "due_date", "company_id": "company_q",
                                                               "meeting_id": "-", "done": "-"}):
        flash(message, "danger")


def _task_edit_form(task: Task, me: User) -> TaskForm:
    form = TaskForm(formdata=None)
    _fill_task_choices(form, me, task)
    form.version.data = str(task.version)
    form.title.data, form.notes.data = task.title, task.notes
    form.due_date.data = task.due_on.isoformat()
    form.due_time.data = to_zone(task.due_at).strftime("%H:%M") if task.due_at is not None else ""
    form.owner_id.data = str(task.owner_id)
    form.company_id.data = str(task.company_id or "")
    form.project_id.data = str(task.project_id or "")
    form.next.data = _next_url() or ""
    return form


@bp.route("/tasks/<int:task_id>/edit", methods=["GET", "POST"])
def edit_task(task_id: int):
    me = signed_in_user()
    task = access.visible_task(task_id, me)
    access.require_edit_task(me, task)
    meeting = _task_meeting(me, task.meeting_id)
    if request.method == "GET":
        return _render_task_form(_task_edit_form(task, me), me, task=task, meeting=meeting)
    form = TaskForm()
    _fill_task_choices(form, me, task)
    if not form.validate_on_submit():
        return _render_task_form(form, me, task=task, meeting=meeting, status=422)
    try:
        services.update_task(task.id, _task_values(form, with_company=meeting is None), actor=me,
                             version=posted_int(form.version.data))
    except Invalid as exc:
        db.session.rollback()
        _show_task_errors(form, exc)
        return _render_task_form(form, me, task=task, meeting=meeting, status=422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        task = access.visible_task(task_id, me)
        return _render_task_form(_task_edit_form(task, me), me, task=task, meeting=meeting, status=409)
    flash(_("Saved."), "success")
    return redirect(safe_next(form.next.data) or url_for("meetings.tasks"))
