"""Company book pages: list, detail, create, edit, delete, claim and release, contacts, export."""
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.auth import access
from crm.core.forms import apply_errors, posted_int, submit
from crm.core.pagination import Page, page_args
from crm.errors import Conflict, Invalid, NotFound
from crm.extensions import db
from crm.meetings import queries as meeting_queries
from crm.meetings.queries import OneScope
from crm.meetings.rows import timeline_context
from crm.meetings.services import is_overdue
from crm.projects import queries as project_queries
from crm.reference import services as reference
from crm.web import signed_in_user, staff_only

from . import merge, queries, services
from .forms import COMPANY_FORM_FIELDS, CONTACT_FORM_FIELDS, AssignForm, CompanyForm, ContactForm, NewCompanyForm

bp = Blueprint("companies", __name__)


bp.before_request(login_required(staff_only))



def _fill_choices(form) -> None:
    blank = "—"
    form.cluster.choices = reference.choices("cluster", blank=blank)
    form.origin_city.choices = reference.choices("city", blank=blank)
    form.source.choices = reference.choices("source", blank=blank)
    if hasattr(form, "owner_id"):
        form.owner_id.choices = [("self", _("Me"))] + [(str(u.id), u.name) for u in queries.officers(signed_in_user())
                                                        if u.id != current_user.id]


def _company_values(form) -> dict:
    data = {name: getattr(form, name).data for name in COMPANY_FORM_FIELDS}
    data["chain_tags"] = form.chain_tags.data or ""
    return data


@bp.route("/companies")
def index():
    filters = queries.CompanyFilters.from_args(request.args)
    page, per_page = page_args(request.args)
    me = signed_in_user()
    rows, total = queries.company_page(me, filters, page=page, per_page=per_page, count_cap=queries.COUNT_CAP,
                                       columns=queries.LIST_COLUMNS)
    # past the numbered pages (or once following cursors), "next" continues after the last row instead of OFFSET
    page_info = Page(page, per_page, total, cap=queries.COUNT_CAP)
    next_after = None
    if rows and len(rows) == per_page and (filters.after or (page_info.capped and page >= page_info.pages)):
        next_after = queries.cursor_after(rows[-1], filters.sort)
    return render_template(
        "companies/index.html", rows=rows, page=page_info, filters=filters, next_after=next_after,
        clusters=reference.choices("cluster"), cities=reference.choices("city"),
        officers=queries.officers(me), cluster_names=reference.names("cluster"), city_names=reference.names("city"))


@bp.route("/companies/export.xlsx")
def export():
    """The filtered list as .xlsx with the import's columns (a round trip changes nothing): the same scope and filters
    as the page, every row, formula-safe, audited."""
    from crm.imports import exports

    return exports.export("companies", signed_in_user(), request.args,
                          query_string=request.query_string.decode(errors="replace"))


@bp.route("/companies/new", methods=["GET", "POST"])
def create():
    form = NewCompanyForm()
    _fill_choices(form)
    duplicates, status = [], 200
    if form.validate_on_submit():
        first_contact = {"name": form.contact_name.data, "title": form.contact_title.data,
                         "mobile": form.contact_mobile.data, "email": form.contact_email.data}
        # the first contact is optional, but once any of it is typed the service checks it whole (a name included)
        contacts = [first_contact] if any(first_contact.values()) else []
        try:
            company = services.create_company(
                _company_values(form), actor=signed_in_user(), contacts=contacts,
                allow_duplicate=form.allow_duplicate.data, owner_id=form.owner_id.data,
                public_pool=form.public_pool.data, legacy_uscc=form.legacy_uscc.data)
        except Conflict as exc:
            duplicates = getattr(exc, "duplicates", [])
            if not duplicates:
                raise
            status = 409
            flash(exc.message, "warning")
        except Invalid as exc:
            leftover = apply_errors(form, exc.fields, prefix_map={
                "contacts.0.name": "contact_name", "contacts.0.mobile": "contact_mobile",
                "contacts.0.email": "contact_email", "contacts.0.title": "contact_title"})
            for msg in leftover:
                flash(msg, "danger")
            status = 422
        else:
            flash(_("Company created."), "success")
            return redirect(url_for("companies.show", company_id=company.id))
    elif request.method == "POST":
        status = 422
    return render_template("companies/form.html", form=form, company=None, duplicates=duplicates), status


def _timeline(me, company_id: int, projects: list, scope: OneScope) -> dict:
    return timeline_context(me, request.args, company_id=company_id, projects=projects, scope=scope)


def _scope(me, projects: list) -> OneScope:
    """The access rule for the records of a company the user may see (the caller checked) with `projects`, all
    its projects the user may see."""
    return OneScope(me, company_visible=True, project_ids=tuple(p.id for p in projects))


@bp.route("/companies/<int:company_id>")
def show(company_id: int):
    me = signed_in_user()
    try:
        company = access.visible_company(company_id, me)
    except NotFound:
        # a company merged into another keeps its id as an alias: bookmarks and old links lead to the survivor
        target = merge.alias_target(company_id, me)
        if target is None:
            raise
        return redirect(url_for("companies.show", company_id=target), 301)
    # the company's investment projects (the "Projects" card), the ones the user may see
    projects = project_queries.company_projects(me, company.id)
    return render_template(
        "companies/show.html", company=company, contacts=queries.contacts_of(company.id),
        **_timeline(me, company.id, projects, scope := _scope(me, projects)),
        open_tasks=meeting_queries.open_tasks(me, company_id=company.id, scope=scope),
        task_overdue=is_overdue, can_edit=access.can_edit_company(me, company),
        full_contacts=access.can_see_contact_details(me, company), is_manager=access.is_manager(me),
        cluster_names=reference.names("cluster"), city_names=reference.names("city"),
        source_names=reference.names("source"), assign_form=_assign_form(company) if access.is_manager(me) else None,
        projects=projects)


@bp.route("/companies/<int:company_id>/timeline")
def timeline(company_id: int):
    """The timeline as an htmx fragment: the whole card (a filter chip), or with `before` the next items and the
    "show older" button again."""
    me = signed_in_user()
    company = access.visible_company(company_id, me)
    fragment = "items" if "before" in request.args else "card"
    projects = project_queries.company_project_names(me, company.id)
    return Response(render_template("meetings/_timeline.html", timeline_fragment=fragment,
                                    **_timeline(me, company.id, projects, _scope(me, projects))),
                    mimetype="text/html")


def _assign_form(company):
    form = AssignForm(version=company.version, owner_id=str(company.owner_id or ""))
    form.owner_id.choices = [(str(u.id), u.name) for u in queries.officers(signed_in_user())]
    return form


@bp.route("/companies/<int:company_id>/edit", methods=["GET", "POST"])
def edit(company_id: int):
    me = signed_in_user()
    company = access.visible_company(company_id, me)
    access.require_edit_company(me, company)
    form = CompanyForm(obj=company)
    _fill_choices(form)
    if request.method == "GET":
        form.chain_tags.data = ", ".join(company.chain_tags or [])
        form.version.data = company.version
    status = submit(form, lambda: services.update_company(company.id, _company_values(form), actor=me,
                                                          version=posted_int(form.version.data),
                                                          legacy_uscc=form.legacy_uscc.data))
    if status is None:
        flash(_("Saved."), "success")
        return redirect(url_for("companies.show", company_id=company.id))
    return render_template("companies/form.html", form=form, company=company, duplicates=[]), status


def _post_action(call, company_id: int, message: str, *, to_list: bool = False):
    """Run a button's service call; a refusal the user can act on is flashed on the company page."""
    try:
        call()
    except (Conflict, Invalid) as exc:
        db.session.rollback()
        flash(exc.message, "warning")
    else:
        flash(message, "success")
        if to_list:
            return redirect(url_for("companies.index"))
    return redirect(url_for("companies.show", company_id=company_id))


@bp.route("/companies/<int:company_id>/delete", methods=["POST"])
def delete(company_id: int):
    version = posted_int(request.form.get("version"))
    return _post_action(lambda: services.delete_company(company_id, actor=signed_in_user(), version=version),
                        company_id, _("Company deleted. A manager can restore it."), to_list=True)


@bp.route("/companies/<int:company_id>/restore", methods=["POST"])
def restore(company_id: int):
    try:
        services.restore_company(company_id, actor=signed_in_user())
    except Conflict as exc:
        flash(exc.message, "warning")
        return redirect(url_for("companies.trash"))
    flash(_("Company restored."), "success")
    return redirect(url_for("companies.show", company_id=company_id))


@bp.route("/companies/trash")
def trash():
    return render_template("companies/trash.html", rows=services.deleted_companies(signed_in_user()))


@bp.route("/companies/<int:company_id>/claim", methods=["POST"])
def claim(company_id: int):
    return _post_action(lambda: services.claim_company(company_id, actor=signed_in_user()), company_id,
                        _("You now hold this company."))


@bp.route("/companies/<int:company_id>/release", methods=["POST"])
def release(company_id: int):
    return _post_action(lambda: services.release_company(company_id, actor=signed_in_user()), company_id,
                        _("The company is back in the public pool."))


@bp.route("/companies/<int:company_id>/assign", methods=["POST"])
def assign(company_id: int):
    owner_id, version = posted_int(request.form.get("owner_id")) or 0, posted_int(request.form.get("version")) or 0
    return _post_action(lambda: services.assign_company(company_id, owner_id, actor=signed_in_user(), version=version),
                        company_id, _("Company reassigned."))


# --- contacts --------------------------------------------------------------------------------------------------------

def _contact_values(form) -> dict:
    return {name: getattr(form, name).data for name in CONTACT_FORM_FIELDS}


@bp.route("/companies/<int:company_id>/contacts/new", methods=["GET", "POST"])
def new_contact(company_id: int):
    me = signed_in_user()
    company = access.visible_company(company_id, me)
    access.require_edit_company(me, company)
    form = ContactForm()
    status = submit(form, lambda: services.add_contact(company.id, _contact_values(form), actor=me))
    if status is None:
        others = services.contact_phone_duplicates(me, services.CONTACT_FIELDS["mobile"].parse(form.mobile.data),
                                                   company_id=company.id)
        for dup in others:
            flash(_("Note: %(name)s also has a contact with this phone.", name=dup.name), "warning")
        flash(_("Contact added."), "success")
        return redirect(url_for("companies.show", company_id=company.id))
    return render_template("companies/contact_form.html", form=form, company=company, contact=None,
                           duplicates=[]), status


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
def edit_contact(contact_id: int):
    me = signed_in_user()
    contact = services.visible_contact(contact_id, me)
    access.require_edit_company(me, contact.company)
    form = ContactForm(obj=contact)
    if request.method == "GET":
        form.version.data = contact.version
    status = submit(form, lambda: services.update_contact(contact.id, _contact_values(form), actor=me,
                                                          version=posted_int(form.version.data)))
    if status is None:
        flash(_("Saved."), "success")
        return redirect(url_for("companies.show", company_id=contact.company_id))
    return render_template("companies/contact_form.html", form=form, company=contact.company, contact=contact,
                           duplicates=[]), status


@bp.route("/contacts/<int:contact_id>/delete", methods=["POST"])
def delete_contact(contact_id: int):
    me = signed_in_user()
    contact = services.visible_contact(contact_id, me)
    company_id = contact.company_id
    try:
        services.delete_contact(contact_id, actor=me, version=posted_int(request.form.get("version")))
    except Conflict as exc:
        flash(exc.message, "warning")
    else:
        flash(_("Contact deleted."), "success")
    return redirect(url_for("companies.show", company_id=company_id))


@bp.route("/companies/check-duplicates")
def check_duplicates():
    """Live look-alike check while typing a new company's name or code (htmx fragment)."""
    name = (request.args.get("name") or "")[:200]
    uscc = (request.args.get("uscc") or "")[:30]
    try:
        uscc = services.COMPANY_FIELDS["uscc"].parse(uscc)
    except ValueError:
        uscc = None
    dups = services.find_duplicates(signed_in_user(), name=name, uscc=uscc) if (name or uscc) else []
    return Response(render_template("companies/_duplicates.html", duplicates=dups), mimetype="text/html")


# --- duplicates and merge (crm.companies.merge) ----------------------------------------------------------------------

@bp.route("/companies/duplicates")
def duplicates():
    """The likely duplicate pairs the user may see, a page at a time, optionally of one reason."""
    reason = request.args.get("reason", "")
    reason = reason if reason in merge.REASONS else ""
    after = (request.args.get("after") or "")[:40]
    me = signed_in_user()
    page = merge.likely_pairs(me, reason=reason or None, after=after or None)
    mergeable = {c.id for p in page.pairs for c in (p.low, p.high) if merge.can_merge(me, c)}
    return render_template("companies/duplicates.html", page=page, reason=reason, after=after,
                           mergeable=mergeable, city_names=reference.names("city"))


def _compare_page(me, a_id: int | None, b_id: int | None, status: int = 200):
    if a_id is None or b_id is None:
        raise NotFound(_("No such company."))
    low, high = merge.compare(a_id, b_id, me)
    counts = merge.related_counts(me, (low.id, high.id))
    return render_template(
        "companies/duplicates_compare.html", low=low, high=high, counts=counts,
        reasons=merge.shared_keys(low, high), suggested=merge.suggested_survivor(low, high, counts),
        can_merge=merge.can_merge(me, low) and merge.can_merge(me, high),
        contacts={c.id: queries.contacts_of(c.id) for c in (low, high)},
        full_contacts={c.id: access.can_see_contact_details(me, c) for c in (low, high)},
        cluster_names=reference.names("cluster"), city_names=reference.names("city"),
        source_names=reference.names("source")), status


@bp.route("/companies/duplicates/compare")
def compare_duplicates():
    """Two companies side by side, with the merge form (choose which one to keep) and "not a duplicate"."""
    return _compare_page(signed_in_user(), posted_int(request.args.get("a")), posted_int(request.args.get("b")))


@bp.route("/companies/duplicates/merge", methods=["POST"])
def merge_duplicates():
    """Merge the pair of the compare page into the company chosen to keep; a refusal re-renders the page."""
    me = signed_in_user()
    a, b = posted_int(request.form.get("a")), posted_int(request.form.get("b"))
    keep = posted_int(request.form.get("survivor"))
    versions = {a: posted_int(request.form.get("a_version")), b: posted_int(request.form.get("b_version"))}
    try:
        if a is None or b is None or keep not in (a, b):
            raise Invalid(_("Choose the company to keep."), {})
        loser = b if keep == a else a
        result = merge.merge_companies(keep, loser, actor=me, survivor_version=versions[keep],
                                       loser_version=versions[loser])
    except (Conflict, Invalid) as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        try:
            return _compare_page(me, a, b, exc.status)
        except NotFound:  # one of them is gone (merged a moment ago): back to the list
            return duplicates(), exc.status
    flash(_("Merged: %(loser)s is now part of %(survivor)s.", loser=result.loser_name,
            survivor=result.survivor.name), "success")
    return redirect(url_for("companies.show", company_id=result.survivor.id))


@bp.route("/companies/duplicates/not-duplicate", methods=["POST"])
def not_duplicate():
    """Mark a pair as two different companies; the list stops offering it."""
    me = signed_in_user()
    merge.mark_not_duplicate(posted_int(request.form.get("a")), posted_int(request.form.get("b")), actor=me)
    flash(_("Marked as two different companies."), "success")
    reason = request.form.get("reason", "")
    after = (request.form.get("after") or "")[:40]
    return redirect(url_for("companies.duplicates", reason=reason if reason in merge.REASONS else None,
                            after=after or None))
