"""Cross-cutting web concerns: security headers, error pages and JSON errors, safe redirects, template helpers."""
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, jsonify, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from crm.errors import DomainError

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


#: the largest id an INTEGER key holds; a larger id in a URL names nothing (404, not a database overflow)
MAX_ID = 2**31 - 1


def ids_in_range(_endpoint, values):
    """URL preprocessor for every route: an id outside the key range is a 404 before any query runs."""
    if values and any(isinstance(v, int) and not 0 < v <= MAX_ID for v in values.values()):
        from crm.errors import NotFound

        raise NotFound(str(_l("No such record.")))


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config.get("CRM_HSTS"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.endpoint and request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def signed_in_user():
    """The signed-in user as the model object (not Flask-Login's proxy), for services and queries."""
    return current_user._get_current_object()


def staff_only() -> None:
    """`before_request` of the staff pages (companies, projects, meetings, the calendar): a department liaison gets
    403 for a list or a form, and 404 for a record's page (a company, a project, a meeting...), as for any record
    outside one's scope, so a liaison cannot probe which ids exist. Sign-in itself is required by each blueprint's
    `login_required`."""
    from crm.auth import access

    if current_user.role not in access.STAFF_ROLES:
        abort(404 if any(key.endswith("_id") for key in (request.view_args or {})) else 403)


#: the id `id_url` builds a URL with, then replaces
_ID_MARK = 999_999_999


def id_url(endpoint: str, key: str, **values) -> str:
    """The URL of `endpoint` with "{id}" where the record's id (the `key` argument) goes: a list fills in each row's
    id with `str.replace` instead of a `url_for` call per row."""
    return url_for(endpoint, **{key: _ID_MARK}, **values).replace(str(_ID_MARK), "{id}")


class RowUrls:
    """A page's row links, one `url_for` per endpoint: `RowUrls(meeting=("meetings.show", "meeting_id"))`, then
    `urls("meeting", 5)` in Python or a template."""

    def __init__(self, **endpoints: tuple[str, str]):
        self._patterns = {name: id_url(endpoint, key) for name, (endpoint, key) in endpoints.items()}

    def add(self, name: str, endpoint: str, key: str, **values) -> None:
        self._patterns[name] = id_url(endpoint, key, **values)

    def __call__(self, name: str, record_id) -> str:
        return self._patterns[name].replace("{id}", str(record_id))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (SA-6: //evil, /\\evil, https:evil, javascript:...)."""
    if not target or not isinstance(target, str):
        return None
    if any(ord(c) < 32 for c in target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, fields: dict | None = None, **extra):
    body = {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}
    return jsonify(body), status


def register_errors(app: Flask) -> None:
    titles = {
        400: _l("Bad request"), 403: _l("Not allowed"), 404: _l("Not found"), 405: _l("Method not allowed"),
        409: _l("Changed by someone else"), 413: _l("File too large"), 422: _l("Invalid input"),
        429: _l("Too many requests"), 500: _l("Something went wrong"), 503: _l("Temporarily unavailable"),
    }
    texts = {
        403: _l("Your role does not allow this page or action. Ask a manager or an administrator if you need it."),
        404: _l("There is nothing here: the address is wrong, or the record was deleted or is not visible to you."),
        500: _l("The error has been logged. Please try again; if it happens again, tell an administrator."),
        503: _l("The database cannot be reached right now. Please try again in a minute."),
    }

    def page(status: int, message: str | None = None):
        return render_template("errors/error.html", status=status, title=titles.get(status, _l("Error")),
                               message=message or texts.get(status, "")), status

    def log_denied(status: int) -> None:
        from flask import g
        from flask_login import current_user

        from crm.audit.services import record_denied

        user = getattr(g, "api_user", None) or (current_user if current_user.is_authenticated else None)
        if user is not None and status in (403, 404):
            record_denied(user.id, status=status, path=request.path)

    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        if err.status in (403, 404):
            log_denied(err.status)
        if wants_json():
            extra = {}
            if getattr(err, "duplicates", None):
                extra["duplicates"] = [d.as_dict() for d in err.duplicates]
            return json_error(err.status, err.code, err.message or str(titles.get(err.status, "")), err.fields,
                              **extra)
        return page(err.status, err.message)

    @app.errorhandler(CSRFError)
    def _csrf(err):
        if wants_json():
            return json_error(400, "csrf", "CSRF token missing or invalid.")
        return page(400, str(_l("The form expired or was sent from elsewhere. Go back, reload the page and "
                                "submit again.")))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if err.code == 403:
            log_denied(403)
        if wants_json():
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                    413: "too_large", 429: "too_many_requests"}.get(err.code, "error")
            return json_error(err.code, code, err.description or "")
        return page(err.code)

    @app.errorhandler(StaleDataError)
    def _stale(err):
        from crm.extensions import db

        db.session.rollback()
        message = str(_l("This record was changed by someone else since you opened it. Reload to see the changes; "
                         "your input was not saved."))
        if wants_json():
            return json_error(409, "conflict", message)
        return page(409, message)

    @app.errorhandler(OperationalError)
    def _db_down(err):
        app.logger.exception("database error")
        if wants_json():
            return json_error(503, "unavailable", "The database is unavailable.")
        return page(503)

    @app.errorhandler(Exception)
    def _unexpected(err):
        if isinstance(err, HTTPException):
            return _http(err)
        app.logger.exception("unhandled error")
        if wants_json():
            return json_error(500, "server_error", "Internal error.")
        return page(500)


ROLE_LABELS = {"officer": _l("Officer"), "manager": _l("Manager"), "liaison": _l("Department liaison"),
               "admin": _l("Administrator")}
ACTION_LABELS = {
    "create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"), "restore": _l("Restored"),
    "purge": _l("Purged"), "claim": _l("Claimed from the public pool"), "release": _l("Released to the public pool"),
    "login": _l("Signed in"), "login_failed": _l("Failed sign-in"), "logout": _l("Signed out"),
    "export": _l("Exported"), "password_changed": _l("Password changed"), "password_reset": _l("Password reset"),
    "sessions_terminated": _l("Sessions ended"), "token_revoked": _l("API token revoked"),
    "authz_denied": _l("Access denied"), "uscc_override": _l("Legacy credit code accepted"),
    "funds_removed": _l("Funds entry removed"), "feed_created": _l("Calendar feed URL created"),
    "feed_revoked": _l("Calendar feed URL revoked"),
    "merge": _l("Duplicate merged into this company"), "merged_into": _l("Merged into another company"),
    "not_duplicate": _l("Marked as not a duplicate"), "mail_test": _l("Test e-mail sent"),
}
FIELD_LABELS = {
    "name": _l("Name"), "short_name": _l("Short name"), "uscc": _l("Unified social credit code"),
    "result": _l("Result"), "origin_city": _l("Origin city"), "address": _l("Address"),
    "cluster": _l("Industry cluster"),
    "chain_tags": _l("Chain segments"), "employees": _l("Employees"), "revenue": _l("Revenue (10,000 yuan)"),
    "listing_status": _l("Listing"), "hmt_funded": _l("Hong Kong, Macao or Taiwan funded"), "source": _l("Source"),
    "status": _l("Status"), "owner_id": _l("Held by"), "claimed_at": _l("Claimed"),
    "claimed_until": _l("Protected until"), "notes": _l("Notes"), "title": _l("Title"), "mobile": _l("Mobile"),
    "email": _l("E-mail"), "wechat": _l("WeChat"), "company_id": _l("Company"), "deleted_at": _l("Deleted"),
    "deleted_by_id": _l("Deleted by"), "role": _l("Role"), "team_id": _l("Team"), "is_active_user": _l("Active"),
    "locale": _l("Language"), "department": _l("Department"), "password_changed_at": _l("Password changed"),
    # projects
    "park": _l("Park"), "planned_investment": _l("Planned investment (10,000 yuan)"),
    "fixed_asset_investment": _l("Fixed-asset investment (10,000 yuan)"),
    "expected_output": _l("Expected annual output (10,000 yuan)"),
    "expected_tax": _l("Expected annual tax (10,000 yuan)"), "jobs": _l("Jobs"), "land_mu": _l("Land (mu)"),
    "description": _l("Project content"), "first_contact_id": _l("First contact"), "key_project": _l("Key project"),
    "confidential": _l("Confidential"), "code_name": _l("Code name"), "planned_start": _l("Planned construction start"),
    "planned_production": _l("Planned production start"), "stage": _l("Stage"), "lost_reason": _l("Reason lost"),
    "funds_in_place": _l("Funds in place (10,000 yuan)"), "event_id": _l("Event"),
    "no_update_reason": _l("Reason for no update"),
    "received_on": _l("Received on"), "amount": _l("Amount (10,000 yuan)"), "note": _l("Note"),
    "project_id": _l("Project"),
    # meetings and tasks
    "type": _l("Type"), "start_at": _l("Start"), "end_at": _l("End"), "city": _l("City"), "place": _l("Place"),
    "summary": _l("Summary"), "outcome": _l("Outcome"), "next_step": _l("Next step"), "due_on": _l("Due"),
    "due_at": _l("Due time"), "done_at": _l("Done"), "done_by_id": _l("Done by"), "meeting_id": _l("Meeting"),
    # the support board
    "kind": _l("Milestone"), "planned_date": _l("Planned date"), "actual_date": _l("Actual date"),
    "category": _l("Category"), "deadline": _l("Deadline"), "resolution": _l("Resolution"),
    "satisfaction": _l("Company's satisfaction"), "resolved_at": _l("Resolved"), "closed_at": _l("Closed"),
    # a merge of duplicate companies (crm.companies.merge): what moved, by kind of record, and the fields filled in
    "merged_into_id": _l("Merged into"), "merged_from": _l("Merged duplicate"), "other_id": _l("Other company"),
    "contacts": _l("Contacts"), "projects": _l("Projects"), "meetings": _l("Meetings"), "tasks": _l("Tasks"),
    "requests": _l("Enterprise requests"), "aliases": _l("Earlier merged ids"), "filled": _l("Fields filled in"),
}


#: where a field means something else on another kind of record (a company is held, a project is owned)
OBJECT_FIELD_LABELS = {("project", "owner_id"): _l("Owner"), ("project", "name"): _l("Project name"),
                       ("milestone", "owner_id"): _l("Responsible person"),
                       ("milestone", "department"): _l("Responsible department"),
                       ("request", "owner_id"): _l("Owner"), ("request", "department"): _l("Routed to department"),
                       ("request", "description"): _l("What the company needs")}

STATUS_LABELS = {"prospect": _l("Prospect"), "resident": _l("Resident"), "inactive": _l("Inactive"),
                 "none": _l("Not listed"), "preparing": _l("Preparing to list"), "listed": _l("Listed")}
#: fields whose stored value is a reference key, and the list it comes from
REF_FIELDS = {"cluster": "cluster", "origin_city": "city", "source": "source", "park": "park",
              "department": "department"}
#: fields not worth showing in a timeline
HIDDEN_CHANGES = {"company_id", "deleted_by_id", "claimed_at", "project_id", "actor_id", "stage_changed_at",
                  "created_by_id", "meeting_id", "done_by_id",
                  *(f"reached_{k}" for k in ("lead", "negotiating", "site_visit", "signed", "under_construction",
                                             "in_production", "full_capacity", "on_hold", "lost"))}


def change_value(key: str, value):
    """A stored value as a person reads it in a timeline: names for keys and ids, yes/no, dates."""
    from flask import g

    from crm.reference import services as reference

    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _l("yes") if value else _l("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if key in REF_FIELDS:
        cache = g.setdefault("_ref_names", {})
        if key not in cache:
            cache[key] = reference.names(REF_FIELDS[key])
        return cache[key].get(value, value)
    if key == "result" and value == "ok":  # a test e-mail the server accepted
        return _l("Accepted by the mail server")
    if key in ("status", "listing_status"):
        if value in STATUS_LABELS:
            return STATUS_LABELS[value]
        from crm.support.models import REQUEST_STATUSES, status_label

        return status_label(value) if value in REQUEST_STATUSES else value
    if key in ("kind", "category"):
        from crm.support.models import CATEGORY_BY_KEY, MILESTONE_BY_KEY

        found = MILESTONE_BY_KEY.get(value) or CATEGORY_BY_KEY.get(value)
        return found.label if found is not None else value
    if key == "role":
        return ROLE_LABELS.get(value, value)
    if key == "stage":
        from crm.projects.stages import BY_KEY

        return BY_KEY[value].label if value in BY_KEY else value
    if key in ("owner_id", "actor_id", "first_contact_id") and isinstance(value, int):
        from crm.auth.models import User
        from crm.extensions import db

        user = db.session.get(User, value)
        return user.name if user else value
    if key == "type":
        from crm.meetings.ical import meeting_type_label

        return meeting_type_label(value)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in "T ":
        return _zone_time(value)
    return value


def _zone_time(value: str) -> str:
    """A stored time (UTC, ISO text) as the zone's wall time, to the minute."""
    from datetime import datetime

    from crm.core.timeutil import zone

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value[:16].replace("T", " ")
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone())
    return moment.strftime("%Y-%m-%d %H:%M")


def status_label(value):
    """A company or listing status in the UI language (translated once per request; lists call it per row).

    A Jinja global, so imported macros can use it too."""
    from flask import g

    labels = g.get("_status_labels")
    if labels is None:
        labels = g._status_labels = {k: str(v) for k, v in STATUS_LABELS.items()}
    return labels.get(value, value)


#: Babel patterns that are plain numbers in every language, done with strftime instead
FAST_DATE_FORMATS = {"yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M", "yyyy-MM-dd": "%Y-%m-%d",
                     "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S"}


def excerpt(text: str | None, length: int = 200) -> str:
    """A long text on one line (runs of spaces and line breaks as one space), cut to `length` characters with "…"
    (the timeline's summaries: a function, not a macro of three filters, as a timeline calls it per item)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= length else flat[:length - 1] + "…"


def template_helpers():

    from crm.core.text import mask_phone, mask_text
    from crm.core.timeutil import as_aware, to_zone
    from crm.reference import services as reference

    def dt(value, fmt="yyyy-MM-dd HH:mm"):
        """A stored UTC time in the zone's time zone; the numeric formats skip Babel (lists call this per row)."""
        if not value:
            return ""
        if fmt in FAST_DATE_FORMATS:
            return to_zone(value).strftime(FAST_DATE_FORMATS[fmt])
        return format_datetime(as_aware(value), fmt)


    def ref_names(kind):
        return reference.names(kind)

    def mail_delivery():
        """For the admins' banner (AV-4): reminders waiting for a retry after a failed send (one COUNT)."""
        from crm.notifications.queries import delivery

        return delivery()

    return {"dt": dt, "excerpt": excerpt, "ref_names": ref_names, "mail_delivery": mail_delivery,
            "languages": current_app.config["CRM_LANGUAGES"],
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "action_label": lambda action: ACTION_LABELS.get(action, action),
            "field_label": lambda key, object_type=None: (
                OBJECT_FIELD_LABELS.get((object_type, key)) or FIELD_LABELS.get(key, key)),
            "change_value": change_value, "hidden_changes": HIDDEN_CHANGES,
            "mask_phone": mask_phone, "mask_text": mask_text, "get_locale": get_locale}
