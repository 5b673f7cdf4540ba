"""Duplicate companies in the book: the likely pairs, "not a duplicate" marks, and the merge of two companies into one
(RELIABILITY.md DI-6). The pages, the API and any later caller come through here.

A merge keeps the **survivor** (the company the user chose) and folds the **loser** into it:

- Every contact, project, meeting, task and enterprise request of the loser moves to the survivor, deleted ones
  included, so that no row refers to the loser any more. Each moved row's version goes up: a form opened on one of
  them before the merge gets 409 rather than writing its old company back. What hangs off those records stays with
  them (a project's funds entries, stage moves and milestones; a meeting's participants; a request's events).
- Empty survivor fields are filled from the loser, and nothing else of the survivor changes: short name, USCC, origin
  city, address, cluster, employees, revenue and source when the survivor has none; the listing status when the
  survivor's is "not listed". Chain segments are united; HK/Macao/Taiwan funding holds if either company has it; a
  resident status wins over prospect and prospect over inactive; the loser's notes are added below the survivor's
  under a line naming it. A survivor in the public pool takes the loser's holder and protection period, so a merge
  never hands an officer's prospect to the pool.
- The loser is soft-deleted with `merged_into_id`, and its id becomes an alias: its page and its API URL lead to the
  survivor. Aliases of companies merged into the loser earlier are re-pointed, so an alias is always one hop.
- History is not rewritten: the audit log is append-only, and the survivor's timeline reads the loser's history
  through its aliases (crm.meetings.queries.timeline). Reminders name meetings, tasks and projects, whose ids do not
  change, and are rendered from those records when sent, so they follow the move without being touched.
- One transaction. Both companies are locked (SELECT ... FOR UPDATE in id order, so two merges cannot deadlock; on
  SQLite the write transaction itself serializes them) and the versions the user read are checked: a stale version,
  or a loser that another merge took a moment ago, gives 409 and changes nothing.
- Audited: "merge" on the survivor (every moved id by kind, the fields filled in) and "merged_into" on the loser.

Who may merge: managers and admins any two live companies; an officer two companies they may edit (each held by them
or in the public pool), the rule of crm.auth.access.can_edit_company. A company the user may not see answers 404, one
they see but may not change 403. "Not a duplicate" is decided by the same people.

Likely pairs are found by grouping: the keys (normalised name, USCC, contact phone) that two or more live rows share,
then the pairs of companies the viewer may see within each key, in id order with a cursor. A key shared by more than
`MAX_GROUP` rows (a switchboard number, an agent's phone) says nothing about any two of them and is left out.
"""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import User
from crm.core.timeutil import as_aware, utcnow
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.meetings.models import Meeting, Task
from crm.projects.models import Project
from crm.support.models import EnterpriseRequest

from .models import Company, CompanyAlias, CompanyNotDuplicate, CompanyStatus, Contact, ListingStatus
from .services import refresh_search_text, sync_project_cities

#: why two companies look like one, strongest first
REASONS = ("uscc", "name", "phone")
#: pairs per page of the duplicates list
PAGE_SIZE = 50
#: a key shared by more rows than this (companies; contacts for a phone) is no sign that two of them are one company
MAX_GROUP = 10
#: the records that move from the loser to the survivor, by the name the audit entry gives them
MOVED = {"contacts": Contact, "projects": Project, "meetings": Meeting, "tasks": Task, "requests": EnterpriseRequest}
#: survivor fields filled from the loser when empty
FILLED = ("short_name", "uscc", "origin_city", "address", "cluster", "employees", "revenue", "source")
#: which status a merged company keeps: the higher rank
_STATUS_RANK = {CompanyStatus.INACTIVE.value: 0, CompanyStatus.PROSPECT.value: 1, CompanyStatus.RESIDENT.value: 2}
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Pair:
    """Two live companies that look like one, lower id first."""

    low: Company
    high: Company
    #: of REASONS, strongest first
    reasons: tuple[str, ...]


@dataclass
class PairPage:
    pairs: list[Pair]
    #: the cursor of the next page ("low-high"), or None on the last one
    next_after: str | None
    #: per company id: its live contacts, projects, meetings, tasks and requests (those the viewer may see)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)


@dataclass
class MergeResult:
    survivor: Company
    loser_id: int
    loser_name: str
    #: ids of the moved records by kind (MOVED's keys), and the aliases re-pointed
    moved: dict[str, list[int]]
    #: survivor fields that took the loser's value
    filled: list[str]


# --- who may do what --------------------------------------------------------------------------------------------------

def can_merge(user: User, company: Company) -> bool:
    """Whether `user` may merge `company` (as either side) or mark it distinct: the company edit rule."""
    return user.role in access.STAFF_ROLES and access.can_edit_company(user, company)


def _require_staff(user: User) -> None:
    if user.role not in access.STAFF_ROLES:
        raise Forbidden(str(_l("Your role cannot merge companies.")))


def _whole_id(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise Invalid(str(_l("Please correct the marked fields.")), {name: [str(_l("Send a company id."))]})
    return value


def _version(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(str(_l("Please correct the marked fields.")),
                      {name: [str(_l("Send the integer version you read."))]})
    return value


def _sees(user: User, company: Company) -> bool:
    """company_scope for a company already read, whether deleted or not."""
    return access.sees_company(user, deleted=False, owner_id=company.owner_id,
                               owner_team_id=company.owner.team_id if company.owner else None)


# --- aliases ----------------------------------------------------------------------------------------------------------

def alias_target(company_id: int, viewer: User) -> int | None:
    """The live company a merged company's id now leads to, if `viewer` may see it (else None: a plain 404)."""
    target = db.session.scalar(select(CompanyAlias.company_id).where(CompanyAlias.old_id == company_id))
    if target is None:
        return None
    return db.session.scalar(select(Company.id).where(Company.id == target, access.company_scope(viewer)))


# --- likely pairs -----------------------------------------------------------------------------------------------------

def _keyed(viewer: User, reason: str):
    """(company id, key) of the live companies the viewer may see that have a key of this kind."""
    if reason == "phone":
        return (select(Contact.company_id.label("id"), Contact.mobile.label("key"))
                .join(Company, Company.id == Contact.company_id)
                .where(Contact.deleted_at.is_(None), Contact.mobile != "", access.company_scope(viewer))
                .subquery(f"{reason}_keyed"))
    column = Company.uscc if reason == "uscc" else Company.name_norm
    return (select(Company.id.label("id"), column.label("key"))
            .where(access.company_scope(viewer), column.is_not(None), column != "")
            .subquery(f"{reason}_keyed"))


def _shared_keys(reason: str):
    """The keys of this kind that 2 to MAX_GROUP live rows share: one GROUP BY over the key's own table, whoever
    asks (the viewer's scope applies to the pairs), so it needs no join and its size is the key's alone."""
    if reason == "phone":
        column, live = Contact.mobile, Contact.deleted_at.is_(None)
    else:
        column, live = (Company.uscc if reason == "uscc" else Company.name_norm), Company.deleted_at.is_(None)
    rows = func.count()
    return (select(column.label("key")).where(live, column.is_not(None), column != "").group_by(column)
            .having(and_(rows > 1, rows <= MAX_GROUP)).subquery(f"{reason}_keys"))


def _pairs_statement(viewer: User, reason: str, after: tuple[int, int] | None, limit: int):
    """The next `limit` pairs (low id, high id) that share a key of this kind, not marked distinct, in id order.

    The shared keys come from one GROUP BY (`_shared_keys`), so the pairs are built, within the viewer's scope, only
    in the few groups that have more than one member."""
    keys = _shared_keys(reason)
    keyed = _keyed(viewer, reason)
    low, high = keyed.alias(f"{reason}_low"), keyed.alias(f"{reason}_high")
    stmt = (select(low.c.id, high.c.id).distinct()
            .select_from(keys)
            .join(low, low.c.key == keys.c.key)
            .join(high, and_(high.c.key == keys.c.key, high.c.id > low.c.id))
            .where(~exists().where(CompanyNotDuplicate.low_id == low.c.id, CompanyNotDuplicate.high_id == high.c.id)))
    if after is not None:
        stmt = stmt.where(tuple_(low.c.id, high.c.id) > tuple_(literal(after[0]), literal(after[1])))
    return stmt.order_by(low.c.id, high.c.id).limit(limit)


def _cursor(after: str | None) -> tuple[int, int] | None:
    low, _, high = (after or "").partition("-")
    if not (low.isascii() and low.isdigit() and high.isascii() and high.isdigit()):
        return None
    if int(low) > _MAX_ID or int(high) > _MAX_ID:
        return None
    return int(low), int(high)


def likely_pairs(viewer: User, *, reason: str | None = None, after: str | None = None,
                 limit: int = PAGE_SIZE) -> PairPage:
    """A page of the pairs of live companies the viewer may see that share a USCC, a normalised name or a contact
    phone, in id order after the cursor `after`, each with every reason it has (or only `reason`'s pairs).

    Each reason's next `limit` + 1 pairs are read in order; their union's first `limit` are the page's, and each of
    those is within every window it belongs to, so its reasons are complete."""
    if viewer.role not in access.STAFF_ROLES:
        return PairPage([], None)
    cursor = _cursor(after)
    found: dict[tuple[int, int], list[str]] = {}
    for kind in ([reason] if reason in REASONS else REASONS):
        for low_id, high_id in db.session.execute(_pairs_statement(viewer, kind, cursor, limit + 1)):
            found.setdefault((low_id, high_id), []).append(kind)
    keys = sorted(found)
    page, more = keys[:limit], len(keys) > limit
    ids = {i for pair in page for i in pair}
    companies = {c.id: c for c in db.session.scalars(
        select(Company).options(joinedload(Company.owner)).where(Company.id.in_(ids)))} if ids else {}
    pairs = [Pair(companies[lo], companies[hi], tuple(found[(lo, hi)])) for lo, hi in page
             if lo in companies and hi in companies]
    next_after = f"{page[-1][0]}-{page[-1][1]}" if more and page else None
    return PairPage(pairs, next_after, related_counts(viewer, ids))


def related_counts(viewer: User, company_ids) -> dict[int, dict[str, int]]:
    """Per company: its live contacts, and the projects, meetings and tasks on it the viewer may see (what the
    user weighs when choosing which company to keep); five grouped statements, whatever the number of companies."""
    ids = list(company_ids)
    out = {i: {kind: 0 for kind in MOVED} for i in ids}
    if not ids:
        return out
    from crm.support.access import request_scope

    scopes = {"contacts": Contact.deleted_at.is_(None), "projects": access.project_scope(viewer),
              "meetings": access.meeting_scope(viewer), "tasks": access.task_scope(viewer),
              "requests": request_scope(viewer)}
    for kind, model in MOVED.items():
        rows = db.session.execute(select(model.company_id, func.count()).where(
            model.company_id.in_(ids), scopes[kind]).group_by(model.company_id))
        for company_id, n in rows:
            out[company_id][kind] = n
    return out


def shared_keys(low: Company, high: Company) -> tuple[str, ...]:
    """Which of REASONS two given companies share (the compare page's "why")."""
    reasons = []
    if low.uscc and low.uscc == high.uscc:
        reasons.append("uscc")
    if low.name_norm and low.name_norm == high.name_norm:
        reasons.append("name")
    phones = select(Contact.mobile).where(Contact.company_id == low.id, Contact.deleted_at.is_(None),
                                          Contact.mobile != "")
    if db.session.scalar(select(Contact.id).where(Contact.company_id == high.id, Contact.deleted_at.is_(None),
                                                  Contact.mobile.in_(phones)).limit(1)) is not None:
        reasons.append("phone")
    return tuple(reasons)


def suggested_survivor(a: Company, b: Company, counts: dict[int, dict[str, int]]) -> Company:
    """The company to keep unless the user picks the other: the one with more records on it, then the older."""
    def weight(c: Company) -> tuple:
        return (sum(counts.get(c.id, {}).values()), -c.id)

    return max((a, b), key=weight)


def compare(a_id: int, b_id: int, viewer: User) -> tuple[Company, Company]:
    """Two different companies the viewer may see, lower id first, for the side-by-side page."""
    _require_staff(viewer)
    if a_id == b_id:
        raise Invalid(str(_l("Choose two different companies.")), {})
    first, second = access.visible_company(a_id, viewer), access.visible_company(b_id, viewer)
    return (first, second) if first.id < second.id else (second, first)


# --- not a duplicate --------------------------------------------------------------------------------------------------

def mark_not_duplicate(a_id, b_id, *, actor: User) -> None:
    """Record that two companies are distinct, so the duplicates page stops offering the pair (idempotent)."""
    _require_staff(actor)
    a_id, b_id = _whole_id(a_id, "a"), _whole_id(b_id, "b")
    if a_id == b_id:
        raise Invalid(str(_l("Choose two different companies.")), {})
    first, second = access.visible_company(a_id, actor), access.visible_company(b_id, actor)
    if not (can_merge(actor, first) and can_merge(actor, second)):
        raise Forbidden(str(_l("Only a manager, or an officer who may change both companies, decides about them.")))
    low, high = sorted((first, second), key=lambda c: c.id)
    if db.session.get(CompanyNotDuplicate, (low.id, high.id)) is not None:
        return
    audit.set_actor(actor)
    db.session.add(CompanyNotDuplicate(low_id=low.id, high_id=high.id, created_by_id=actor.id))
    for one, other in ((low, high), (high, low)):
        audit.record("not_duplicate", actor=actor, obj=one, object_type="company",
                     changes={"other_id": [None, other.id]})
    try:
        db.session.commit()
    except IntegrityError:  # marked by someone else a moment ago: the same outcome
        db.session.rollback()


# --- merge ------------------------------------------------------------------------------------------------------------

def merge_companies(survivor_id: int, loser_id, *, actor: User, survivor_version, loser_version) -> MergeResult:
    """Merge company `loser_id` into `survivor_id` (see the module's docstring for every rule); one unit of work."""
    _require_staff(actor)
    try:
        access.visible_company(survivor_id, actor)  # 404 before anything about the request's body
    except NotFound:
        target = alias_target(survivor_id, actor)
        if target is None:
            raise
        raise Conflict(str(_l("This company was merged into another one; merge into that one instead."))) from None
    loser_id = _whole_id(loser_id, "loser_id")
    survivor_version, loser_version = _version(survivor_version, "version"), _version(loser_version, "loser_version")
    if loser_id == survivor_id:
        raise Invalid(str(_l("A company cannot be merged into itself.")), {"loser_id": [str(_l(
            "Choose another company."))]})
    audit.set_actor(actor)
    survivor, loser = _lock_pair(survivor_id, loser_id, actor)
    if not (can_merge(actor, survivor) and can_merge(actor, loser)):
        _refuse(Forbidden(str(_l("Only a manager, or an officer who may change both companies, can merge them."))))
    for company, version in ((survivor, survivor_version), (loser, loser_version)):
        if company.version != version:
            _refuse(Conflict(str(_l("%(name)s was changed by someone else since you opened it. Reload to see the "
                                    "changes; nothing was merged.", name=company.name))))
    now = utcnow()
    moved = {kind: _move(model, loser.id, survivor.id, now) for kind, model in MOVED.items()}
    moved["aliases"] = list(db.session.scalars(
        update(CompanyAlias).where(CompanyAlias.company_id == loser.id).values(company_id=survivor.id)
        .returning(CompanyAlias.old_id).execution_options(synchronize_session=False)))
    old = {c.key: getattr(loser, c.key) for c in Company.__table__.columns}
    done = db.session.execute(
        update(Company.__table__)
        .where(Company.id == loser.id, Company.version == loser_version, Company.deleted_at.is_(None))
        .values(deleted_at=now, deleted_by_id=actor.id, merged_into_id=survivor.id, version=Company.version + 1,
                updated_at=now)).rowcount
    if done != 1:  # cannot happen under the lock; kept so a failure can never half-merge
        db.session.rollback()
        raise Conflict(str(_l("The company was changed or merged a moment ago; nothing was merged.")))
    db.session.expire(loser)
    db.session.add(CompanyAlias(old_id=loser.id, company_id=survivor.id, merged_at=now, merged_by_id=actor.id))
    # the loser is out of the live USCC index now, so the survivor may take its code
    filled = _fill(survivor, old)
    sync_project_cities(survivor)  # the moved projects (and the survivor's, if its city was filled) take its city
    survivor.updated_at = now  # the survivor's version goes up too: a form opened on it before the merge is stale
    refresh_search_text(survivor)
    audit.record("merge", actor=actor, obj=survivor, object_type="company", label=old["name"],
                 changes={"merged_from": [None, loser.id], **{k: [None, v] for k, v in moved.items()},
                          "filled": [None, filled]})
    audit.record("merged_into", actor=actor, object_type="company", object_id=loser.id, label=old["name"],
                 changes={"merged_into_id": [None, survivor.id]})
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError):
        db.session.rollback()
        raise Conflict(str(_l("The companies were changed a moment ago; nothing was merged. Reload and try "
                              "again."))) from None
    return MergeResult(survivor, loser_id, old["name"], moved, filled)


def _lock_pair(survivor_id: int, loser_id: int, actor: User) -> tuple[Company, Company]:
    """Both companies, locked in id order and read afresh, checked: visible, live, and the loser not merged yet."""
    rows = {c.id: c for c in db.session.scalars(
        select(Company).options(joinedload(Company.owner)).where(Company.id.in_((survivor_id, loser_id)))
        .order_by(Company.id).with_for_update(of=Company).execution_options(populate_existing=True))}
    survivor, loser = rows.get(survivor_id), rows.get(loser_id)
    for company in (survivor, loser):
        if company is None or not _sees(actor, company):
            _refuse(NotFound(str(_l("No such company."))))
    for company in (survivor, loser):
        if company.merged_into_id is not None:
            into = db.session.get(Company, company.merged_into_id)
            _refuse(Conflict(str(_l("%(name)s was merged into %(into)s a moment ago; nothing was merged.",
                                    name=company.name, into=into.name if into else "-"))))
        if company.deleted_at is not None:
            _refuse(NotFound(str(_l("No such company."))))
    return survivor, loser


def _refuse(error: Exception):
    """End the transaction (and so release the row locks) before raising a refusal."""
    db.session.rollback()
    raise error


def _move(model, loser_id: int, survivor_id: int, now) -> list[int]:
    """Re-point every row of `model` from the loser to the survivor in one UPDATE; their versions go up (DI-2)."""
    table = model.__table__
    stmt = (update(table).where(table.c.company_id == loser_id)
            .values(company_id=survivor_id, version=table.c.version + 1, updated_at=now).returning(table.c.id))
    return sorted(db.session.execute(stmt).scalars())


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def _fill(survivor: Company, old: dict) -> list[str]:
    """Fill the survivor's empty fields from the loser's values `old` (the module's rule); the names filled."""
    filled = []
    for name in FILLED:
        if _empty(getattr(survivor, name)) and not _empty(old[name]):
            setattr(survivor, name, old[name])
            filled.append(name)
    if survivor.listing_status == ListingStatus.NONE.value and old["listing_status"] != ListingStatus.NONE.value:
        survivor.listing_status = old["listing_status"]
        filled.append("listing_status")
    tags = list(survivor.chain_tags or [])
    extra = [t for t in old["chain_tags"] or [] if t not in tags]
    if extra:
        survivor.chain_tags = tags + extra
        filled.append("chain_tags")
    if old["hmt_funded"] and not survivor.hmt_funded:
        survivor.hmt_funded = True
        filled.append("hmt_funded")
    if _STATUS_RANK.get(old["status"], 0) > _STATUS_RANK.get(survivor.status, 0):
        survivor.status = old["status"]
        filled.append("status")
    notes = (old["notes"] or "").strip()
    if notes and notes not in (survivor.notes or ""):
        heading = str(_l("From %(name)s (merged):", name=old["name"]))
        survivor.notes = f"{survivor.notes.rstrip()}\n\n{heading}\n{notes}" if survivor.notes else notes
        filled.append("notes")
    if survivor.owner_id is None and old["owner_id"] is not None:
        survivor.owner_id, survivor.claimed_at, survivor.claimed_until = (
            old["owner_id"], old["claimed_at"], old["claimed_until"])
        filled.append("owner_id")
    if old["last_activity_at"] and (survivor.last_activity_at is None
                                    or as_aware(old["last_activity_at"]) > as_aware(survivor.last_activity_at)):
        survivor.last_activity_at = old["last_activity_at"]
    return filled
