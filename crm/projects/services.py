"""The pipeline's rules: create and edit projects, move them between stages (one at a time or in bulk), funds in
place, reassignment, saved list views. Pages, the API, the CLI and the worker all come through here."""
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import Role, User
from crm.companies import services as companies
from crm.companies.models import Company
from crm.core import fields as rules
from crm.core.text import clean_text
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.reference import services as reference
from crm.support import services as support

from . import stages
from .models import REACHED, FundsEntry, Project, SavedView, StageMove

PROJECT_FIELDS: dict[str, rules.Field] = {
    "company_id": rules.Integer(required=True, minimum=1, maximum=2**31 - 1),
    "name": rules.Text(required=True, max_length=200),
    "cluster": rules.Ref(kind="cluster"),
    "park": rules.Ref(kind="park"),
    "planned_investment": rules.Money(),
    "fixed_asset_investment": rules.Money(),
    "expected_output": rules.Money(),
    "expected_tax": rules.Money(),
    "jobs": rules.Integer(maximum=1_000_000),
    "land_mu": rules.Money(unit="mu", maximum=Decimal("1000000")),
    "description": rules.Text(max_length=5000, multiline=True),
    "source": rules.Ref(kind="source"),
    "key_project": rules.Boolean(),
    "confidential": rules.Boolean(),
    "code_name": rules.Text(max_length=100),
    "planned_start": rules.Date(),
    "planned_production": rules.Date(),
    "notes": rules.Text(max_length=5000, multiline=True),
}
#: fields a PATCH may not send (they change through their own actions)
MANAGED_FIELDS = ("stage", "lost_reason", "stage_dates", "funds_in_place", "owner_id", "first_contact_id")
FUNDS_FIELDS: dict[str, rules.Field] = {
    "received_on": rules.Date(required=True),
    "amount": rules.Money(required=True, signed=True),
    "note": rules.Text(max_length=300),
}
_REF_FIELDS = {"cluster": "cluster", "park": "park", "source": "source"}
#: the settings this feature reads (see crm.reference.services.SETTINGS)
STALE_SETTING = "stale_days"


def _invalid(errors: dict) -> Invalid:
    return Invalid(str(_l("Please correct the marked fields.")), errors)


def _stale() -> Conflict:
    return Conflict(str(_l("This project was changed by someone else since you opened it. "
                           "Reload to see the changes; your input was not saved.")))


def stale_days() -> int:
    return int(reference.get_setting(STALE_SETTING))


def is_stale(project: Project, *, now: datetime | None = None, days: int | None = None) -> bool:
    """No activity for `stale_days` (a setting); finished and lost projects are never stale."""
    if project.stage in ("full_capacity", "lost"):
        return False
    now = now or utcnow()
    return as_aware(project.last_activity_at) < now - timedelta(days=days if days is not None else stale_days())


def days_in_stage(project: Project, *, today: date | None = None) -> int:
    today = today or today_in_zone()
    return max(0, (today - as_aware(project.stage_changed_at).astimezone(zone()).date()).days)


def note_activity(project_id: int, at) -> None:
    """A meeting or a completed follow-up touched the project at `at`: its last activity moves forward (a project
    idle for `stale_days` is flagged). One UPDATE that keeps the version, so an open edit form stays current."""
    from sqlalchemy import case, update

    at = min(as_aware(at), utcnow())
    with db.session.no_autoflush:  # pending changes of the caller flush once, with their own commit
        db.session.execute(update(Project).where(Project.id == project_id).values(
            last_activity_at=case((Project.last_activity_at < at, at), else_=Project.last_activity_at),
            # activity recorded after the owner's reason for no update ends the spell it explained, even when the
            # activity is dated before it (a meeting logged late); see no_update_reason
            no_update_reason_at=None,
            updated_at=Project.updated_at).execution_options(synchronize_session=False))


# --- the owner's reason for no update (the weekly report's no-update list) ------------------------------------------

#: the longest reason kept: a sentence or two, shown in one cell of the weekly report
REASON_MAX_LENGTH = 500


def no_update_reason(project: Project) -> str:
    """The owner's reason for the project's current idle spell, or "" when none was given for it.

    A reason belongs to the idle spell it was given in: it counts while no activity came after it. Every activity
    path ends it without having to know about it: the edits, stage moves, funds entries and reassignments set
    `last_activity_at` to now (after the reason), and `note_activity` (meetings, follow-ups, the support board, whose
    activity may be dated in the past) clears `no_update_reason_at`. The text itself stays on the row (the audit log
    has it too) until the next reason replaces it: a project that goes quiet again needs a new reason, not the one
    given for last month's silence.
    """
    if not project.no_update_reason or project.no_update_reason_at is None:
        return ""
    if as_aware(project.no_update_reason_at) < as_aware(project.last_activity_at):
        return ""
    return project.no_update_reason


def no_update_reason_counts():
    """`no_update_reason` as SQL: the project carries a reason for its current idle spell."""
    from sqlalchemy import and_

    return and_(Project.no_update_reason != "", Project.no_update_reason_at.is_not(None),
                Project.no_update_reason_at >= Project.last_activity_at)


def set_no_update_reason(project_id: int, reason, *, actor: User) -> Project:
    """Record the owner's reason why the project has had no update (an empty text withdraws it); whoever may edit
    the project gives it.

    Giving a reason is neither activity nor an edit of the project: `last_activity_at` stays (the project stays on
    the no-update list, now with its reason), and so do the version (an open edit form is still current) and
    `updated_at`, as in `note_activity`. The change is audited.
    """
    from sqlalchemy import update

    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    text = " ".join(clean_text(reason, REASON_MAX_LENGTH).split())  # one line: it fills one cell of the report
    if len(text) > REASON_MAX_LENGTH:
        raise _invalid({"reason": [str(_l("At most %(n)d characters.", n=REASON_MAX_LENGTH))]})
    before = no_update_reason(project)
    db.session.execute(update(Project).where(Project.id == project.id).values(
        no_update_reason=text, no_update_reason_at=utcnow() if text else None, updated_at=Project.updated_at)
        .execution_options(synchronize_session=False))
    audit.record("update", actor=actor, obj=project, changes={"no_update_reason": [before or None, text or None]})
    db.session.commit()
    db.session.refresh(project)
    return project


# --- validation ------------------------------------------------------------------------------------------------------

def _cross_checks(values: dict, errors: dict, current: Project | None = None) -> None:
    """Rules across fields: fixed-asset ≤ planned, planned dates in order, a code name for a confidential project."""
    def now_value(key):
        return values[key] if key in values else getattr(current, key, None)

    planned, fixed = now_value("planned_investment"), now_value("fixed_asset_investment")
    if planned is not None and fixed is not None and fixed > planned and "fixed_asset_investment" not in errors:
        errors["fixed_asset_investment"] = [str(_l("The fixed-asset investment cannot exceed the planned "
                                                   "investment."))]
    start, production = now_value("planned_start"), now_value("planned_production")
    if start and production and production < start and "planned_production" not in errors:
        errors["planned_production"] = [str(_l("Production cannot start before construction."))]
    if now_value("confidential") and not now_value("code_name") and "code_name" not in errors:
        errors["code_name"] = [str(_l("A confidential project needs a code name."))]


def _check_refs(values: dict, errors: dict, current: Project | None = None) -> None:
    for name, kind in _REF_FIELDS.items():
        if name in values:
            reference.check_key(errors, name, kind, values[name], current=getattr(current, name, None))


def staff_user(user_id, field: str, errors: dict) -> User | None:
    """An active officer or manager by id (an int, or its text from a form), or None with a message on `field`:
    who may own projects, meetings and tasks."""
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        try:
            user_id = int(str(user_id))
        except ValueError:
            errors[field] = [str(_l("Choose an active officer."))]
            return None
    user = db.session.get(User, user_id) if 0 < user_id <= 2**31 - 1 else None
    if user is None or not user.is_active_user or user.role not in (Role.OFFICER.value, Role.MANAGER.value):
        errors[field] = [str(_l("Choose an active officer."))]
        return None
    return user


def company_for(company_id, actor: User, errors: dict) -> Company | None:
    if "company_id" in errors or company_id is None:
        return None
    company = db.session.scalar(select(Company).where(Company.id == company_id, access.company_scope(actor)))
    if company is None:
        errors["company_id"] = [str(_l("Choose a company from the book."))]
    return company


# --- create, edit, delete --------------------------------------------------------------------------------------------

def _record_move(project: Project, from_stage: str | None, to_stage: str, *, actor: User, at: datetime,
                 note: str = "", reason: str = "") -> StageMove:
    move = StageMove(project_id=project.id, from_stage=from_stage, to_stage=to_stage, at=at, recorded_at=utcnow(),
                     actor_id=actor.id, note=note, reason=reason)
    day = as_aware(at).astimezone(zone()).date()
    column = REACHED[to_stage]
    if getattr(project, column) is None:
        setattr(project, column, day)
    project.stage, project.stage_changed_at = to_stage, at
    project.lost_reason = reason if to_stage == "lost" else ""
    db.session.add(move)
    support.add_standard_milestones(project)  # from signed on, the support board tracks it (once in its life)
    return move


def create_project(data: dict, *, actor: User, owner_id=None, first_contact_id=None, stage: str = "lead",
                   lost_reason: str = "", new_company: dict | None = None, commit: bool = True) -> Project:
    """Create a project at `stage` (lead unless said), owned by the actor unless a manager names another officer.

    With `new_company` (the fields of a company, as companies.create_company takes them) the company is created in
    the same unit of work, so a project that fails its checks leaves no company behind.
    """
    if actor.role not in (Role.OFFICER.value, Role.MANAGER.value, Role.ADMIN.value):
        raise Forbidden(str(_l("Your role cannot create projects.")))
    audit.set_actor(actor)
    spec = dict(PROJECT_FIELDS)
    if new_company is not None:
        spec["company_id"] = rules.Integer(minimum=1, maximum=2**31 - 1)
    result = rules.clean(spec, data)
    errors, values = dict(result.errors), result.values
    _check_refs(values, errors)
    _cross_checks(values, errors)
    problems = stages.move_problems(None, stage, lost_reason)
    errors.update({("lost_reason" if k == "reason" else k): v for k, v in problems.items()})
    company = None if new_company is not None else company_for(values.get("company_id"), actor, errors)
    if new_company is not None:
        # the new company's own checks, reported with the project's and named company.<field>
        if not isinstance(new_company, dict):
            errors["company"] = [str(_l("Send the new company's fields as an object."))]
        else:
            if values.get("company_id") is not None:
                errors["company_id"] = [str(_l("Choose a company or enter a new one, not both."))]
            checked = rules.clean(companies.COMPANY_FIELDS, new_company)
            errors.update({f"company.{name}": messages for name, messages in checked.errors.items()})
    owner = actor
    # a form sends the id as text: the officer's own id, however sent, is "self"
    if owner_id not in (None, "", "self") and str(owner_id).strip() != str(actor.id):
        if not access.is_manager(actor):
            raise Forbidden(str(_l("Only a manager can give a project to another officer.")))
        owner = staff_user(owner_id, "owner_id", errors)
    elif actor.role == Role.ADMIN.value:
        errors["owner_id"] = [str(_l("Choose the officer responsible for the project."))]
    first_contact = actor if actor.role != Role.ADMIN.value else owner
    if first_contact_id not in (None, "", "self"):
        first_contact = staff_user(first_contact_id, "first_contact_id", errors)
    if errors:
        raise _invalid(errors)
    if new_company is not None:
        try:
            company = companies.create_company(new_company, actor=actor, commit=False)
        except Invalid as exc:  # e.g. an unknown reference key: still the new company's field
            raise _invalid({f"company.{name}": messages for name, messages in exc.fields.items()}) from None
    values["company_id"] = company.id
    now = utcnow()
    reason = clean_text(lost_reason, 2000) if stage == "lost" else ""
    project = Project(**values, owner_id=owner.id, first_contact_id=first_contact.id if first_contact else None,
                      stage=stage, stage_changed_at=now, last_activity_at=now, funds_in_place=Decimal("0"),
                      lost_reason=reason, **{REACHED[stage]: now.astimezone(zone()).date()})
    db.session.add(project)
    db.session.flush()  # written once: version 1
    db.session.add(StageMove(project_id=project.id, from_stage=None, to_stage=stage, at=now, recorded_at=now,
                             actor_id=actor.id, reason=reason))
    support.add_standard_milestones(project)  # created signed or later: the support board tracks it
    company.last_activity_at = now
    if commit:  # commit=False: the caller's unit of work (an import writes all its rows or none)
        db.session.commit()
    else:
        db.session.flush()
    return project


def update_project(project_id: int, data: dict, *, actor: User, version) -> Project:
    """Change the given fields (a PATCH). Stage, owner and funds change through their own actions."""
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    sent_managed = [k for k in MANAGED_FIELDS if k in data and k != "first_contact_id"]
    if sent_managed:
        raise _invalid({k: [str(_l("Change this through its own action (stage move, reassign, funds)."))]
                        for k in sent_managed})
    _check_version(project, version)
    result = rules.clean(PROJECT_FIELDS, data, partial=True)
    errors, values = dict(result.errors), result.values
    _check_refs(values, errors, project)
    _cross_checks(values, errors, project)
    if "company_id" in values and values["company_id"] != project.company_id:
        company_for(values["company_id"], actor, errors)
    if "first_contact_id" in data and data["first_contact_id"] != project.first_contact_id:
        if not access.is_manager(actor):
            raise Forbidden(str(_l("Only a manager can change who made first contact.")))
        user = staff_user(data["first_contact_id"], "first_contact_id", errors)
        if user is not None:
            values["first_contact_id"] = user.id
    if errors:
        raise _invalid(errors)
    for key, value in values.items():
        setattr(project, key, value)
    project.last_activity_at = utcnow()
    _commit_versioned()
    return project


def _check_version(record, version) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version != record.version:
        raise _stale()


def _commit_versioned() -> None:
    """Commit; an UPDATE that found the row at another version (someone committed in between) is a 409."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise _stale() from None


def delete_project(project_id: int, *, actor: User, version=None) -> None:
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    if version is not None:
        _check_version(project, version)
    project.deleted_at, project.deleted_by_id = utcnow(), actor.id
    _commit_versioned()


def reassign_project(project_id: int, owner_id, *, actor: User, version) -> Project:
    """A manager hands a project to another officer; the first-contact credit stays where it was."""
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only a manager can reassign projects.")))
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    _check_version(project, version)
    errors: dict = {}
    owner = staff_user(owner_id, "owner_id", errors)
    if errors:
        raise _invalid(errors)
    project.owner_id = owner.id
    project.last_activity_at = utcnow()
    _commit_versioned()
    return project


# --- stage moves -----------------------------------------------------------------------------------------------------

def _move_time(on: date | None, project: Project) -> datetime:
    """When the move happened: now, or noon (zone time) of a past day given by the user, never before the last move
    and never in the future."""
    now = utcnow()
    if on is None:
        return now
    today = today_in_zone()
    if on > today:
        raise _invalid({"date": [str(_l("The date cannot be in the future."))]})
    last = as_aware(project.stage_changed_at).astimezone(zone()).date()
    if on < last:
        raise _invalid({"date": [str(_l("The date cannot be before the project's last move (%(d)s).",
                                        d=last.isoformat()))]})
    if on == today:
        return now
    # stored in UTC: SQLite keeps only the wall-clock time of an aware datetime, and reads it back as UTC
    return datetime.combine(on, time(12, 0), tzinfo=zone()).astimezone(UTC)


def move_stage(project_id: int, to_stage, *, actor: User, version, note: str = "", reason: str = "",
               on=None) -> Project:
    """Move a project to another stage and record the move (who, when, from, to, note).

    Any stage may follow any other; "lost" needs a reason; the version read must still be current, and the UPDATE
    itself carries `WHERE version = :read` (the ORM's version counter), so of two racing moves exactly one applies
    and the other gets 409 (DI-3).
    """
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    note, reason = clean_text(note, 2000), clean_text(reason, 2000)
    # the version first: a stale card dropped on the project's real column is a conflict, not "already there"
    _check_version(project, version)
    problems = stages.move_problems(project.stage, to_stage, reason)
    if problems:
        raise _invalid(problems)
    try:
        on = rules.Date().parse(on)
    except rules.FieldError as exc:
        raise _invalid({"date": [str(exc.args[0])]}) from None
    at = _move_time(on, project)
    _record_move(project, project.stage, to_stage, actor=actor, at=at, note=note, reason=reason)
    project.last_activity_at = utcnow()
    try:  # the versioned UPDATE first: of two racing moves the loser stops here, before touching the company
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise _stale() from None
    # a stage move is work on the company too (rows locked project first, then company, as everywhere)
    companies.note_activity(project.company_id, at, actor=actor)
    _commit_versioned()
    return project


@dataclass
class BulkResult:
    moved: list[int] = field(default_factory=list)
    #: changed by someone else since the list was read: left as they are
    conflicts: list[int] = field(default_factory=list)
    #: not visible, not editable, or the move is not allowed (e.g. already there)
    skipped: dict[int, str] = field(default_factory=dict)


def _each_project(items: list[tuple[int, int]], actor: User, change, *, check=None) -> BulkResult:
    """Apply `change(project)` to each (id, version read) in one transaction, row by row.

    Each row is updated only if it is still at that version (DI-2: a bulk path cannot rely on the ORM's counter for
    a multi-row UPDATE, so it goes row by row with the counter on, each in a savepoint); rows changed meanwhile are
    reported as conflicts and left alone, so an officer's concurrent edit is never silently overwritten. `check`
    may name a reason to skip a row.
    """
    if not items or len(items) > 500:
        raise _invalid({"ids": [str(_l("Choose from 1 to %(n)d projects.", n=500))]})
    result = BulkResult()
    for project_id, version in items:
        project = db.session.scalar(select(Project).where(Project.id == project_id, access.project_scope(actor)))
        if project is None:
            result.skipped[project_id] = str(_l("not found"))
            continue
        if not access.can_edit_project(actor, project):
            result.skipped[project_id] = str(_l("not yours to change"))
            continue
        if project.version != version:
            result.conflicts.append(project_id)
            continue
        reason = check(project) if check else None
        if reason:
            result.skipped[project_id] = reason
            continue
        savepoint = db.session.begin_nested()
        try:
            change(project)
            project.last_activity_at = utcnow()
            db.session.flush()
        except StaleDataError:
            savepoint.rollback()
            result.conflicts.append(project_id)
            continue
        savepoint.commit()
        result.moved.append(project_id)
    db.session.commit()
    return result


def bulk_move(items: list[tuple[int, int]], to_stage, *, actor: User, note: str = "", reason: str = "") -> BulkResult:
    """Move many projects (each given with the version the user saw) in one transaction; see `_each_project`."""
    audit.set_actor(actor)
    note, reason = clean_text(note, 2000), clean_text(reason, 2000)
    problems = stages.move_problems(None, to_stage, reason)
    if problems:
        raise _invalid(problems)
    now = utcnow()
    return _each_project(
        items, actor,
        lambda p: _record_move(p, p.stage, to_stage, actor=actor, at=now, note=note, reason=reason),
        check=lambda p: str(_l("already there")) if p.stage == to_stage else None)


def bulk_reassign(items: list[tuple[int, int]], owner_id, *, actor: User) -> BulkResult:
    """A manager hands many projects to one officer, with the same per-row version check as bulk_move."""
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only a manager can reassign projects.")))
    audit.set_actor(actor)
    errors: dict = {}
    owner = staff_user(owner_id, "owner_id", errors)
    if errors:
        raise _invalid(errors)
    return _each_project(items, actor, lambda p: setattr(p, "owner_id", owner.id))


# --- funds in place --------------------------------------------------------------------------------------------------

def add_funds(project_id: int, data: dict, *, actor: User) -> FundsEntry:
    """Record money that arrived; a negative entry corrects an earlier one, but the total never drops below zero."""
    audit.set_actor(actor)
    project = access.visible_project(project_id, actor)
    access.require_edit_project(actor, project)
    result = rules.clean(FUNDS_FIELDS, data)
    errors, values = dict(result.errors), result.values
    if values.get("received_on") and values["received_on"] > today_in_zone():
        errors["received_on"] = [str(_l("The date cannot be in the future."))]
    if values.get("amount") is not None and values["amount"] == 0:
        errors["amount"] = [str(_l("Enter an amount other than zero."))]
    if errors:
        raise _invalid(errors)
    # the total is re-read under the row's version counter: two entries at once cannot both pass the check
    total = db.session.scalar(select(func.coalesce(func.sum(FundsEntry.amount), 0))
                              .where(FundsEntry.project_id == project.id))
    new_total = Decimal(total) + values["amount"]
    if new_total < 0:
        raise _invalid({"amount": [str(_l("Funds in place cannot fall below zero (now %(total)s).",
                                          total=f"{Decimal(total):,.2f}"))]})
    if new_total > FUNDS_FIELDS["amount"].maximum:  # the column's limit: a clear error, not a database error
        raise _invalid({"amount": [str(_l("The funds in place would be too large."))]})
    entry = FundsEntry(project_id=project.id, actor_id=actor.id, **values)
    db.session.add(entry)
    project.funds_in_place = new_total
    project.last_activity_at = utcnow()
    _commit_versioned()
    return entry


def delete_funds(entry_id: int, *, actor: User) -> Project:
    audit.set_actor(actor)
    entry = db.session.get(FundsEntry, entry_id)
    if entry is None:
        raise NotFound(str(_l("No such entry.")))
    project = access.visible_project(entry.project_id, actor)
    access.require_edit_project(actor, project)
    total = db.session.scalar(select(func.coalesce(func.sum(FundsEntry.amount), 0))
                              .where(FundsEntry.project_id == project.id, FundsEntry.id != entry.id))
    if Decimal(total) < 0:
        raise Conflict(str(_l("Removing this entry would leave the funds in place below zero.")))
    if Decimal(total) > FUNDS_FIELDS["amount"].maximum:
        raise Conflict(str(_l("The funds in place would be too large.")))
    # the entry's own "purge" row names an id that will no longer exist: log the removal on the project too
    audit.record("funds_removed", actor=actor, obj=project, object_type="project",
                 changes={"received_on": [entry.received_on.isoformat(), None], "amount": [str(entry.amount), None]})
    db.session.delete(entry)
    project.funds_in_place = Decimal(total)
    project.last_activity_at = utcnow()
    _commit_versioned()
    return project


# --- saved views -----------------------------------------------------------------------------------------------------

#: the list filters a saved view may hold (anything else in the query string is dropped)
VIEW_KEYS = ("q", "stage", "cluster", "park", "owner_id", "team_id", "key", "confidential", "stale", "sort",
             # the dashboard's drill-down filters, so a drilled list can be saved as a view
             "origin_city", "source", "event_id", "created_from", "created_to", "signed_from", "signed_to",
             "moved_from", "moved_to", "milestone_from", "milestone_to")


def clean_query(query: str) -> str:
    pairs = [(k, v[:100]) for k, v in parse_qsl(query or "", keep_blank_values=False) if k in VIEW_KEYS]
    return urlencode(pairs[:20])


def saved_views(user: User, kind: str = "projects") -> list[SavedView]:
    return list(db.session.scalars(select(SavedView).where(SavedView.user_id == user.id, SavedView.kind == kind)
                                   .order_by(SavedView.name)))


def save_view(name: str, query: str, *, actor: User, kind: str = "projects") -> SavedView:
    name = clean_text(name, 60)
    if not name or len(name) > 60:
        raise _invalid({"name": [str(_l("Name the view (at most 60 characters)."))]})
    if len(saved_views(actor, kind)) >= 30:
        raise _invalid({"name": [str(_l("You have 30 saved views: delete one first."))]})
    view = db.session.scalar(select(SavedView).where(SavedView.user_id == actor.id, SavedView.kind == kind,
                                                     SavedView.name == name))
    if view is None:
        view = SavedView(user_id=actor.id, kind=kind, name=name)
        db.session.add(view)
    view.query = clean_query(query)
    db.session.commit()
    return view


def delete_view(view_id: int, *, actor: User) -> None:
    view = db.session.get(SavedView, view_id)
    if view is None or view.user_id != actor.id:
        raise NotFound(str(_l("No such view.")))
    db.session.delete(view)
    db.session.commit()
