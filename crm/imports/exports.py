"""Export any filtered list (companies, contacts, projects, tasks) to .xlsx with the columns the import reads, so an
exported file imports again with no change (IE-3). Every list is read through its page's own filters and the one
visibility rule (R3); phones and WeChat ids are masked for those who may not see them in full (IE-6); text that a
spreadsheet would run as a formula is defused (IE-4); identifiers are text cells. Each export is audited with its
filter and row count; exports are rate-limited per user, and a mass export (unfiltered, or of many rows) needs a
recent sign-in (IE-6)."""
from datetime import timedelta

from flask import current_app, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company, Contact
from crm.core.spreadsheet import xlsx_response
from crm.core.text import mask_digit_runs, mask_phone, mask_text
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.errors import NotFound, Throttled
from crm.extensions import db
from crm.reference import services as reference

from . import columns as cols
from .models import ExportLog

_OBJECT_TYPES = {"companies": "company", "contacts": "contact", "projects": "project", "tasks": "task"}


def english() -> bool:
    return str(get_locale() or "zh").startswith("en")


def _ref_labels(kind: str, en: bool) -> dict[str, str]:
    return {i.key: (i.name_en or i.name) if en else i.name for i in reference.items(kind, include_inactive=True)}


def _people() -> dict[int, str]:
    return dict(db.session.execute(select(User.id, User.name)).all())


def _yes(value: bool, en: bool) -> str:
    return cols.YES_NO[bool(value)][1 if en else 0]


def _day(value) -> str:
    return as_aware(value).astimezone(zone()).strftime("%Y-%m-%d") if value else ""


def company_rows(actor: User, stmt, en: bool):
    refs = {kind: _ref_labels(kind, en) for kind in ("cluster", "city", "source")}
    people = _people()
    by = cols.by_key("companies")
    for c in db.session.scalars(stmt.execution_options(yield_per=1000)):
        yield {
            "name": c.name, "short_name": c.short_name, "uscc": c.uscc or "",
            "cluster": refs["cluster"].get(c.cluster, c.cluster or ""),
            "origin_city": refs["city"].get(c.origin_city, c.origin_city or ""),
            "status": cols.choice_label(by["status"], c.status, en), "owner": people.get(c.owner_id, ""),
            "chain_tags": ", ".join(c.chain_tags or []), "employees": c.employees, "revenue": cols.money(c.revenue),
            "address": c.address, "listing_status": cols.choice_label(by["listing_status"], c.listing_status, en),
            "hmt_funded": _yes(c.hmt_funded, en), "source": refs["source"].get(c.source, c.source or ""),
            "notes": c.notes, "updated": _day(c.updated_at),
        }


def contact_rows(actor: User, company_stmt, en: bool):
    """The contacts of the filtered companies; phone and WeChat in full only for the company's holder and managers."""
    ids = company_stmt.with_only_columns(Company.id).order_by(None).subquery()
    stmt = (select(Contact, Company.name, Company.uscc, Company.owner_id)
            .join(Company, Contact.company_id == Company.id)
            .where(Contact.company_id.in_(select(ids.c.id)), Contact.deleted_at.is_(None))
            .order_by(Company.name_norm, Company.id, Contact.id))
    for contact, name, uscc, owner_id in db.session.execute(stmt.execution_options(yield_per=1000)):
        # access.can_see_contact_details, from the columns read
        full = access.is_manager(actor) or (owner_id is not None and owner_id == actor.id)
        yield {
            "company": name, "company_uscc": uscc or "", "name": contact.name, "title": contact.title,
            "mobile": contact.mobile if full else mask_phone(contact.mobile),
            "email": contact.email, "wechat": contact.wechat if full else mask_text(contact.wechat),
            "notes": contact.notes,
        }


def project_rows(actor: User, stmt, en: bool):
    from crm.projects import queries as project_queries
    from crm.projects import services as project_services
    from crm.projects.models import Project

    refs = {kind: _ref_labels(kind, en) for kind in ("cluster", "park", "source")}
    people = _people()
    by = cols.by_key("projects")
    now, today, days = utcnow(), today_in_zone(), project_services.stale_days()
    stmt = stmt.options(joinedload(Project.company).load_only(Company.name, Company.owner_id, Company.uscc))
    result = db.session.scalars(stmt.execution_options(yield_per=1000))
    for chunk in result.partitions():
        company_ids = project_queries.visible_company_ids(actor, chunk)
        for p in chunk:
            yield {
                "company": project_queries.shown_name(p, company_ids), "name": p.name,
                "stage": cols.choice_label(by["stage"], p.stage, en),
                "cluster": refs["cluster"].get(p.cluster, p.cluster or ""),
                "park": refs["park"].get(p.park, p.park or ""),
                "planned_investment": cols.money(p.planned_investment),
                "fixed_asset_investment": cols.money(p.fixed_asset_investment),
                "expected_output": cols.money(p.expected_output), "expected_tax": cols.money(p.expected_tax),
                "jobs": p.jobs, "land_mu": cols.money(p.land_mu), "funds_in_place": cols.money(p.funds_in_place),
                "owner": people.get(p.owner_id, ""), "first_contact": people.get(p.first_contact_id, ""),
                "source": refs["source"].get(p.source, p.source or ""), "key_project": _yes(p.key_project, en),
                "confidential": _yes(p.confidential, en), "code_name": p.code_name,
                "planned_start": p.planned_start, "planned_production": p.planned_production,
                "description": p.description, "notes": p.notes,
                "company_uscc": (p.company.uscc or "") if p.company_id in company_ids and p.company else "",
                "days_in_stage": project_services.days_in_stage(p, today=today),
                "stale": _yes(True, en) if project_services.is_stale(p, now=now, days=days) else "",
                "signed_on": p.reached_signed, "updated": _day(p.updated_at),
            }


def task_rows(actor: User, stmt, en: bool):
    from crm.meetings.models import Task
    from crm.projects.models import Project
    from crm.projects.queries import shown_company_name

    people = _people()
    stmt = stmt.options(joinedload(Task.company).load_only(Company.name, Company.owner_id),
                        joinedload(Task.project).load_only(Project.name, Project.confidential, Project.code_name,
                                                           Project.owner_id))
    result = db.session.scalars(stmt.execution_options(yield_per=1000))
    for chunk in result.partitions():
        company_ids = {c for c in {t.company_id for t in chunk} if c}
        visible = set(db.session.scalars(select(Company.id).where(
            Company.id.in_(company_ids), access.company_scope(actor)))) if company_ids else set()
        for t in chunk:
            company = ""
            if t.company is not None:
                project = t.project
                company = shown_company_name(t.company.name, project_id=t.project_id,
                                             confidential=bool(project and project.confidential),
                                             code_name=project.code_name if project else "",
                                             company_visible=t.company_id in visible)
            due = as_aware(t.due_at).astimezone(zone()).strftime("%Y-%m-%d %H:%M") if t.due_at else \
                t.due_on.isoformat()
            yield {"title": t.title, "due": due, "owner": people.get(t.owner_id, ""), "company": company,
                   "project": (t.project.name if t.project is not None else ""),
                   "done": as_aware(t.done_at).astimezone(zone()).strftime("%Y-%m-%d %H:%M") if t.done_at else "",
                   "notes": t.notes}


def _task_stmt(actor: User, args):
    from crm.meetings.models import Task
    from crm.meetings.queries import TASK_ORDER

    stmt = select(Task).where(access.task_scope(actor))
    for name in ("owner_id", "company_id", "project_id"):
        raw = str(args.get(name) or "")
        if raw.isascii() and raw.isdigit() and 0 < int(raw) <= 2**31 - 1:
            stmt = stmt.where(getattr(Task, name) == int(raw))
    done = args.get("done")
    if done in ("0", "false", "no"):
        stmt = stmt.where(Task.done_at.is_(None))
    elif done in ("1", "true", "yes"):
        stmt = stmt.where(Task.done_at.is_not(None))
    return stmt.order_by(*TASK_ORDER)


def statement(kind: str, actor: User, args):
    """The filtered, ordered SELECT of a list, with its page's filters read from the query string."""
    if kind in ("companies", "contacts"):
        from crm.companies import queries as company_queries

        filters = company_queries.CompanyFilters.from_args(args)
        return company_queries.filtered(actor, filters).order_by(*company_queries.SORTS[filters.sort])
    if kind == "projects":
        from crm.projects import queries as project_queries

        filters = project_queries.ProjectFilters.from_args(args)
        return project_queries.filtered(actor, filters).order_by(*project_queries.SORTS[filters.sort])
    if kind == "tasks":
        return _task_stmt(actor, args)
    raise NotFound("no such list")


_ROWS = {"companies": company_rows, "contacts": contact_rows, "projects": project_rows, "tasks": task_rows}


#: exports a user may make in a minute (setting CRM_EXPORT_PER_MINUTE); the next one gets 429
EXPORTS_PER_MINUTE = 30
#: an export of more rows than this, or of a whole list (no filter), needs a sign-in within FRESH_LOGIN
MASS_ROWS = 500
FRESH_LOGIN = timedelta(minutes=15)
#: query parameters that order or page a list without narrowing it
_NOT_FILTERS = frozenset({"sort", "order", "dir", "page", "per_page", "after", "view"})


def check_rate(actor: User) -> None:
    """Throttled when the user has made EXPORTS_PER_MINUTE exports in the last minute (counted in export_log, which
    every web worker shares)."""
    limit = current_app.config.get("CRM_EXPORT_PER_MINUTE", EXPORTS_PER_MINUTE)
    recent = db.session.scalar(select(func.count()).select_from(ExportLog).where(
        ExportLog.user_id == actor.id, ExportLog.at > utcnow() - timedelta(minutes=1)))
    if recent >= limit:
        raise Throttled(str(_l("Too many exports: at most %(n)d a minute. Wait a minute and try again.", n=limit)))


def is_filtered(args) -> bool:
    return any(value.strip() for key, value in args.items(multi=True) if key not in _NOT_FILTERS) \
        if hasattr(args, "items") else False


def is_mass(args, rows: int) -> bool:
    """A whole list, or more rows than MASS_ROWS (setting CRM_EXPORT_MASS_ROWS)."""
    return not is_filtered(args) or rows > current_app.config.get("CRM_EXPORT_MASS_ROWS", MASS_ROWS)


def signed_in_recently(actor: User) -> bool:
    """Whether the user's session began with a sign-in (password) within FRESH_LOGIN (setting
    CRM_EXPORT_FRESH_LOGIN)."""
    from crm.auth.services import signed_in_within

    return signed_in_within(actor, current_app.config.get("CRM_EXPORT_FRESH_LOGIN", FRESH_LOGIN))


def prune_log(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete export_log rows older than a day (the rate limit looks back a minute); returns how many."""
    return db.session.execute(delete(ExportLog).where(ExportLog.at < utcnow() - older_than)).rowcount or 0


def export(kind: str, actor: User, args, *, query_string: str = ""):
    """The list as an .xlsx response; the export is audited (actor, filter, rows) and committed. Returns the
    response: 429 past the rate limit, and a redirect to sign in again (back here after) for a mass export by a
    session that signed in more than FRESH_LOGIN ago."""
    if kind not in cols.EXPORT_KINDS:
        raise NotFound("no such list")
    check_rate(actor)
    fresh = signed_in_recently(actor)
    if not fresh and not is_filtered(args):
        return _sign_in_again()
    en = english()
    columns = cols.exported(kind)
    header = [c.header(en) for c in columns]
    text_columns = {i for i, c in enumerate(columns) if c.text_cell}
    keys = [c.key for c in columns]
    rows = ([row.get(k) for k in keys] for row in _ROWS[kind](actor, statement(kind, actor, args), en))
    response, count = xlsx_response(f"{kind}.xlsx", header, rows, text_columns=text_columns)
    if not fresh and is_mass(args, count):
        return _sign_in_again()
    db.session.add(ExportLog(user_id=actor.id, at=utcnow(), kind=kind, rows=count))
    audit.record("export", actor=actor, object_type=_OBJECT_TYPES[kind], changes={"rows": [None, count]},
                 label=mask_digit_runs(query_string)[:200])
    db.session.commit()
    return response


def _sign_in_again():
    """To the sign-in page, back to this export after it (a path on this site only: the login view's safe_next)."""
    flash(str(_l("This export needs a recent sign-in: sign in again to continue.")), "info")
    return redirect(url_for("auth.login", next=request.full_path, reauth=1))


def template(kind: str):
    """An empty sheet with the import's headers for a kind (in the user's language), to fill in."""
    if kind not in cols.KINDS:
        raise NotFound("no such template")
    en = english()
    columns = cols.importable(kind)
    response, _count = xlsx_response(f"{kind}-template.xlsx", [c.header(en) for c in columns], [],
                                     text_columns=set())
    return response
