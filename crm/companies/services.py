"""The company book's rules: create, edit, delete and restore, duplicates, the public pool, contacts."""
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import Role, User
from crm.core import fields as rules
from crm.core.text import UsccError, normalise_name, normalise_uscc, phone_digits, pinyin_full, pinyin_initials
from crm.core.timeutil import as_aware, utcnow
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.reference import services as reference

from .models import Company, CompanyStatus, Contact, ListingStatus

COMPANY_FIELDS: dict[str, rules.Field] = {
    "name": rules.Text(required=True, max_length=200),
    "short_name": rules.Text(max_length=100),
    "uscc": rules.Uscc(),
    "origin_city": rules.Ref(kind="city"),
    "address": rules.Text(max_length=300),
    "cluster": rules.Ref(kind="cluster"),
    "chain_tags": rules.Tags(),
    "employees": rules.Integer(maximum=10_000_000),
    "revenue": rules.Money(),
    "listing_status": rules.Choice(values=tuple(s.value for s in ListingStatus), default=ListingStatus.NONE.value),
    "hmt_funded": rules.Boolean(),
    "source": rules.Ref(kind="source"),
    "status": rules.Choice(values=tuple(s.value for s in CompanyStatus), default=CompanyStatus.PROSPECT.value),
    "notes": rules.Text(max_length=5000, multiline=True),
}

CONTACT_FIELDS: dict[str, rules.Field] = {
    "name": rules.Text(required=True, max_length=100),
    "title": rules.Text(max_length=100),
    "mobile": rules.Phone(),
    "email": rules.Email(),
    "wechat": rules.Text(max_length=100),
    "notes": rules.Text(max_length=2000, multiline=True),
}

_REF_FIELDS = {"origin_city": "city", "cluster": "cluster", "source": "source"}


@dataclass
class Duplicate:
    """An existing company that looks like the one being entered."""

    company_id: int
    name: str
    owner_name: str | None
    #: uscc, name or phone
    reason: str
    #: may the user open it (else only its name and holder are shown)
    visible: bool

    def as_dict(self) -> dict:
        return {"company_id": self.company_id if self.visible else None, "name": self.name,
                "owner": self.owner_name, "reason": self.reason}


def _invalid(errors: dict) -> Invalid:
    return Invalid(str(_l("Please correct the marked fields.")), errors)


def _check_refs(values: dict, errors: dict, current: Company | None = None) -> None:
    for field, kind in _REF_FIELDS.items():
        if field in values:
            reference.check_key(errors, field, kind, values[field], current=getattr(current, field, None))


def protection_period() -> timedelta:
    return timedelta(days=int(reference.get_setting("protection_days")))


def note_activity(company_id: int, at, *, actor: User | None = None) -> None:
    """A meeting, completed follow-up or stage move touched the company at `at` (not in the future).

    The company's last activity date moves forward (it feeds "stale" and the public pool), and when the holder did
    the work their protection period (客户保护期) runs on from that day. Written as one UPDATE that keeps the
    company's version: logging a visit must not make a colleague's open edit form stale.
    """
    with db.session.no_autoflush:  # the caller's pending changes flush once, with its own commit
        _note_activity(company_id, min(as_aware(at), utcnow()), actor)


def _note_activity(company_id: int, at, actor: User | None) -> None:
    from sqlalchemy import and_, case, or_, update

    values = {"last_activity_at": case((or_(Company.last_activity_at.is_(None), Company.last_activity_at < at), at),
                                       else_=Company.last_activity_at),
              "updated_at": Company.updated_at}
    if actor is not None:
        until = at + protection_period()
        values["claimed_until"] = case(
            (and_(Company.owner_id == actor.id, Company.claimed_until.is_not(None), Company.claimed_until < until),
             until), else_=Company.claimed_until)
    db.session.execute(update(Company).where(Company.id == company_id).values(**values)
                       .execution_options(synchronize_session=False))


def refresh_search_text(company: Company, contacts: list[Contact] | None = None) -> None:
    """Rebuild the lower-case text that search matches: names, pinyin, USCC, contacts and their phones."""
    if contacts is None:
        # no autoflush: the caller's pending changes and the new search text go out in one UPDATE (version +1)
        with db.session.no_autoflush:
            contacts = list(db.session.scalars(select(Contact).where(
                Contact.company_id == company.id, Contact.deleted_at.is_(None))))
    parts = [company.name, company.short_name, pinyin_initials(company.name), pinyin_full(company.name),
             pinyin_initials(company.short_name), company.uscc or ""]
    for contact in contacts:
        parts += [contact.name, pinyin_initials(contact.name), phone_digits(contact.mobile)]
    company.search_text = " ".join(p.lower() for p in parts if p)


def find_duplicates(viewer: User, *, name: str = "", uscc: str | None = None, phones: list[str] = (),
                    exclude_id: int | None = None) -> list[Duplicate]:
    """Live companies with the same USCC, the same normalised name, or a contact with the same phone."""
    found: dict[int, Duplicate] = {}
    checks = []
    if uscc:
        checks.append(("uscc", select(Company).where(Company.uscc == uscc)))
    norm = normalise_name(name)
    if norm:
        checks.append(("name", select(Company).where(Company.name_norm == norm)))
    phones = [p for p in phones if p]
    if phones:
        checks.append(("phone", select(Company).where(exists().where(
            Contact.company_id == Company.id, Contact.deleted_at.is_(None), Contact.mobile.in_(phones)))))
    for reason, stmt in checks:
        stmt = stmt.where(Company.deleted_at.is_(None))
        if exclude_id:
            stmt = stmt.where(Company.id != exclude_id)
        for company in db.session.scalars(stmt.limit(5)):
            if company.id in found:
                continue
            found[company.id] = Duplicate(company.id, company.name, company.owner.name if company.owner else None,
                                          reason, False)
    if found:
        visible = set(db.session.scalars(select(Company.id).where(
            Company.id.in_(found), access.company_scope(viewer))))
        for dup in found.values():
            dup.visible = dup.company_id in visible
    return list(found.values())


def _clean_contacts(rows: list[dict]) -> tuple[list[dict], dict]:
    cleaned, errors = [], {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            errors[f"contacts.{i}"] = [str(_l("Each contact must be an object."))]
            continue
        result = rules.clean(CONTACT_FIELDS, row)
        for field, msgs in result.errors.items():
            errors[f"contacts.{i}.{field}"] = msgs
        cleaned.append(result.values)
    return cleaned, errors


def _legacy_uscc(raw, result, actor: User) -> str | None:
    """A manager's override for a legacy code that fails only its check character: accept it (audited by the
    caller); officers get 403, and a code that is wrong in length or characters stays refused."""
    if "uscc" not in result.errors:
        return None
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only a manager can accept a code whose check character is wrong.")))
    try:
        code = normalise_uscc(raw, accept_bad_check=True) if isinstance(raw, str) else None
    except UsccError:
        return None
    if code:
        result.values["uscc"] = code
        del result.errors["uscc"]
    return code


def _record_override(company: Company, code: str | None, actor: User) -> None:
    if code and code == company.uscc:
        audit.record("uscc_override", actor=actor, obj=company, object_type="company",
                     changes={"uscc": [None, code]})


def _new_owner(values: dict, actor: User) -> int | None:
    """Officers hold what they create (unless they leave it in the pool); managers may name any officer."""
    wanted = values.pop("owner_id", "self")
    to_pool = values.pop("public_pool", False)
    if to_pool:
        return None
    if wanted in ("self", None, ""):
        return actor.id if actor.role in (Role.OFFICER.value, Role.MANAGER.value) else None
    if not access.is_manager(actor):
        if int(wanted) == actor.id:
            return actor.id
        raise Forbidden(str(_l("Only a manager can assign a company to another officer.")))
    owner = db.session.get(User, int(wanted))
    if owner is None or not owner.is_active_user or owner.role not in (Role.OFFICER.value, Role.MANAGER.value):
        raise _invalid({"owner_id": [str(_l("Choose an active officer."))]})
    return owner.id


def create_company(data: dict, *, actor: User, contacts: list[dict] = (), allow_duplicate: bool = False,
                   owner_id=None, public_pool: bool = False, legacy_uscc: bool = False,
                   commit: bool = True) -> Company:
    """Create a company with its first contacts in one unit of work (with `commit=False`, the caller's: a project
    created with its company commits both or neither).

    A same-USCC company is always refused (409). A same-name or same-phone company is refused with the list of
    look-alikes unless the user confirmed (`allow_duplicate`), so the 撞单 warning always names who holds it.
    """
    if actor.role not in access.STAFF_ROLES:
        raise Forbidden(str(_l("Your role cannot create companies.")))
    audit.set_actor(actor)
    result = rules.clean(COMPANY_FIELDS, data)
    override = _legacy_uscc(data.get("uscc"), result, actor) if legacy_uscc else None
    errors = dict(result.errors)
    values = result.values
    _check_refs(values, errors)
    contact_values, contact_errors = _clean_contacts(list(contacts))
    errors.update(contact_errors)
    if errors:
        raise _invalid(errors)
    owner = _new_owner({"owner_id": owner_id, "public_pool": public_pool}, actor)
    dups = find_duplicates(actor, name=values["name"], uscc=values.get("uscc"),
                           phones=[c.get("mobile") for c in contact_values])
    _raise_for_duplicates(dups, allow_duplicate)
    now = utcnow()
    company = Company(**values, owner_id=owner, last_activity_at=now)
    if owner is not None:
        company.claimed_at, company.claimed_until = now, now + protection_period()
    new_contacts = [Contact(company=company, **c) for c in contact_values]
    refresh_search_text(company, new_contacts)  # before the INSERT, so the company is written once (version 1)
    db.session.add(company)
    db.session.add_all(new_contacts)
    try:
        db.session.flush()
        _record_override(company, override, actor)
        if commit:
            db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _raise_for_duplicates(find_duplicates(actor, uscc=values.get("uscc")), False)
        raise
    return company


def _raise_for_duplicates(dups: list[Duplicate], allow_duplicate: bool) -> None:
    hard = [d for d in dups if d.reason == "uscc"]
    if hard or (dups and not allow_duplicate):
        first = (hard or dups)[0]
        if first.owner_name:
            msg = _l("%(name)s already exists, held by %(owner)s.", name=first.name, owner=first.owner_name)
        else:
            msg = _l("%(name)s already exists, in the public pool.", name=first.name)
        err = Conflict(str(msg), {"uscc" if hard else "name": [str(msg)]})
        err.duplicates = dups
        err.code = "duplicate"
        raise err


def _check_version(record, version) -> None:
    """Optimistic locking: the version the user read must still be the record's (anything else is stale)."""
    if not isinstance(version, int) or isinstance(version, bool) or version != record.version:
        raise Conflict(str(_l("This record was changed by someone else since you opened it. "
                               "Reload to see the changes; your input was not saved.")))


def update_company(company_id: int, data: dict, *, actor: User, version: int, legacy_uscc: bool = False) -> Company:
    """Change the given fields of a company (a PATCH); the owner changes only through claim, release or assign."""
    audit.set_actor(actor)
    company = access.visible_company(company_id, actor)
    access.require_edit_company(actor, company)
    if "owner_id" in data and data["owner_id"] != company.owner_id:
        raise Forbidden(str(_l("Use claim, release or reassign to change who holds a company.")))
    _check_version(company, version)
    result = rules.clean(COMPANY_FIELDS, data, partial=True)
    override = _legacy_uscc(data.get("uscc"), result, actor) if legacy_uscc else None
    errors = dict(result.errors)
    _check_refs(result.values, errors, company)
    if errors:
        raise _invalid(errors)
    values = result.values
    if values.get("uscc") and values["uscc"] != company.uscc:
        _raise_for_duplicates([d for d in find_duplicates(actor, uscc=values["uscc"], exclude_id=company.id)], False)
    city_changed = "origin_city" in values and values["origin_city"] != company.origin_city
    for key, value in values.items():
        setattr(company, key, value)
    company.last_activity_at = utcnow()
    refresh_search_text(company)
    if city_changed:
        sync_project_cities(company)
    _record_override(company, override, actor)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _raise_for_duplicates(find_duplicates(actor, uscc=values.get("uscc"), exclude_id=company_id), False)
        raise
    return company


def sync_project_cities(company: Company) -> None:
    """Copy the company's origin city to its projects (`Project.origin_city`, the dashboard's breakdown by city):
    after its city changed, or projects moved to it (a merge). A project created or moved through the ORM reads it
    itself (crm.projects.models)."""
    with db.session.no_autoflush:  # the company's own changes go in with the caller's commit, once (one version)
        set_project_cities(company.id, company.origin_city)


def set_project_cities(company_id: int, city: str | None) -> None:
    """`sync_project_cities` from the values (bulk writers such as the import, which update companies in SQL)."""
    from crm.projects.models import Project

    table = Project.__table__
    db.session.execute(update(table).where(table.c.company_id == company_id,
                                           table.c.origin_city.is_distinct_from(city)).values(origin_city=city))


def delete_company(company_id: int, *, actor: User, version: int | None = None) -> None:
    """Soft delete: the company leaves every list and search but can be restored by a manager."""
    audit.set_actor(actor)
    company = access.visible_company(company_id, actor)
    access.require_edit_company(actor, company)
    if version is not None:
        _check_version(company, version)
    from crm.projects.models import Project

    if db.session.scalar(select(Project.id).where(Project.company_id == company.id, Project.deleted_at.is_(None))
                         .limit(1)):
        raise Conflict(str(_l("This company has projects: delete them or move them to another company first.")))
    company.deleted_at, company.deleted_by_id = utcnow(), actor.id
    db.session.commit()


def restore_company(company_id: int, *, actor: User) -> Company:
    """Bring back a deleted company, unless a live company took its USCC meanwhile (DI-5)."""
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only managers can restore deleted companies.")))
    audit.set_actor(actor)
    company = db.session.get(Company, company_id)
    if company is None or company.deleted_at is None:
        raise NotFound(str(_l("No such deleted company.")))
    if company.merged_into_id is not None:
        # its records live on the survivor now and its id leads there (crm.companies.merge)
        raise Conflict(str(_l("Cannot restore: this company was merged into another one.")))
    if company.uscc and db.session.scalar(select(Company.id).where(
            Company.uscc == company.uscc, Company.deleted_at.is_(None))):
        raise Conflict(str(_l("Cannot restore: another company now has the code %(uscc)s.", uscc=company.uscc)))
    company.deleted_at, company.deleted_by_id = None, None
    db.session.commit()
    return company


def deleted_companies(actor: User, *, limit: int = 200) -> list[Company]:
    """The trash, for managers."""
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only managers can see deleted companies.")))
    return list(db.session.scalars(select(Company).where(Company.deleted_at.is_not(None))
                                   .order_by(Company.deleted_at.desc()).limit(limit)))


# --- the public pool (公海) -----------------------------------------------------------------------------------------

def claim_company(company_id: int, *, actor: User) -> Company:
    """Take a prospect from the public pool for the protection period; 409 names whoever holds it."""
    if actor.role != Role.OFFICER.value and not access.is_manager(actor):
        raise Forbidden(str(_l("Your role cannot claim companies.")))
    audit.set_actor(actor)
    company = db.session.scalar(select(Company).where(Company.id == company_id, Company.deleted_at.is_(None)))
    if company is None:
        raise NotFound(str(_l("No such company.")))
    if company.owner_id == actor.id:
        return company
    if company.owner_id is not None:
        visible = db.session.scalar(select(Company.id).where(Company.id == company_id, access.company_scope(actor)))
        if visible is None:
            raise NotFound(str(_l("No such company.")))
        raise Conflict(str(_l("%(name)s is held by %(owner)s until %(date)s.", name=company.name,
                              owner=company.owner.name,
                              date=as_aware(company.claimed_until).date().isoformat()
                              if company.claimed_until else "-")))
    now = utcnow()
    # Compare-and-set on the owner, so two officers claiming at once cannot both win.
    updated = db.session.execute(
        Company.__table__.update()
        .where(Company.id == company.id, Company.owner_id.is_(None), Company.version == company.version)
        .values(owner_id=actor.id, claimed_at=now, claimed_until=now + protection_period(),
                last_activity_at=now, version=company.version + 1, updated_at=now)).rowcount
    if updated != 1:
        db.session.rollback()
        raise Conflict(str(_l("Someone claimed this company a moment ago.")))
    audit.record("claim", actor=actor, obj=company, object_type="company",
                 changes={"owner_id": [None, actor.id]})
    db.session.commit()
    db.session.refresh(company)
    return company


def release_company(company_id: int, *, actor: User) -> Company:
    """Give a company back to the public pool (its holder or a manager)."""
    audit.set_actor(actor)
    company = access.visible_company(company_id, actor)
    if company.owner_id is None:
        raise Conflict(str(_l("This company is already in the public pool.")))
    if company.owner_id != actor.id and not access.is_manager(actor):
        raise Forbidden(str(_l("Only the holder or a manager can release this company.")))
    company.owner_id, company.claimed_at, company.claimed_until = None, None, None
    audit.record("release", actor=actor, obj=company, object_type="company")
    db.session.commit()
    return company


#: who a release by the protection period's end is recorded as in the audit log's label (no actor: the system did it)
EXPIRED_RELEASE = "protection period ended"


@dataclass(frozen=True)
class Released:
    company_id: int
    former_owner_id: int


def release_expired_claims(now=None) -> list[Released]:
    """The daily return to the public pool (客户保护期): every prospect whose protection period ended before `now` —
    no meeting, follow-up or stage move by its holder for `protection_days` — goes back to the pool. Companies with
    a project from signed on are the zone's residents, not prospects, and stay with their officer. Each release is
    one guarded UPDATE (a holder's activity or a manager's reassignment in the meantime wins) and is audited with no
    actor and the former holder, which the "pool" reminder reads to tell them. Committed; returns what was released."""
    from crm.projects.models import Project
    from crm.projects.stages import SIGNED_OR_LATER

    now = as_aware(now or utcnow())
    resident = exists().where(Project.company_id == Company.id, Project.deleted_at.is_(None),
                              Project.stage.in_(SIGNED_OR_LATER))
    expired = db.session.execute(
        select(Company.id, Company.owner_id, Company.claimed_until, Company.name).where(
            Company.owner_id.is_not(None), Company.deleted_at.is_(None), Company.claimed_until.is_not(None),
            Company.claimed_until < now, Company.status == CompanyStatus.PROSPECT.value, ~resident)
        .order_by(Company.id)).all()
    released = []
    for company_id, owner_id, until, name in expired:
        done = db.session.execute(
            Company.__table__.update()
            .where(Company.id == company_id, Company.owner_id == owner_id, Company.claimed_until == until)
            .values(owner_id=None, claimed_at=None, claimed_until=None, version=Company.version + 1,
                    updated_at=now)).rowcount
        if done == 1:
            audit.record("release", actor=None, object_type="company", object_id=company_id, label=name,
                         changes={"owner_id": [owner_id, None], "reason": [None, EXPIRED_RELEASE]})
            released.append(Released(company_id, owner_id))
    db.session.commit()
    return released


def assign_company(company_id: int, owner_id: int, *, actor: User, version: int) -> Company:
    """A manager hands a company to an officer; the protection period starts again."""
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only a manager can reassign companies.")))
    audit.set_actor(actor)
    company = access.visible_company(company_id, actor)
    _check_version(company, version)
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.is_active_user or owner.role not in (Role.OFFICER.value, Role.MANAGER.value):
        raise _invalid({"owner_id": [str(_l("Choose an active officer."))]})
    now = utcnow()
    company.owner_id, company.claimed_at, company.claimed_until = owner.id, now, now + protection_period()
    db.session.commit()
    return company


# --- contacts --------------------------------------------------------------------------------------------------------

def visible_contact(contact_id: int, actor: User) -> Contact:
    contact = db.session.scalar(select(Contact).join(Company, Contact.company_id == Company.id).where(
        Contact.id == contact_id, Contact.deleted_at.is_(None), access.company_scope(actor)))
    if contact is None:
        raise NotFound(str(_l("No such contact.")))
    return contact


def contact_phone_duplicates(actor: User, mobile: str, *, company_id: int, exclude_id: int | None = None):
    """Other companies that have a contact with this phone (a warning, not a refusal)."""
    if not mobile:
        return []
    return [d for d in find_duplicates(actor, phones=[mobile]) if d.company_id != company_id]


def add_contact(company_id: int, data: dict, *, actor: User) -> Contact:
    audit.set_actor(actor)
    company = access.visible_company(company_id, actor)
    access.require_edit_company(actor, company)
    result = rules.clean(CONTACT_FIELDS, data)
    if result.errors:
        raise _invalid(result.errors)
    contact = Contact(company_id=company.id, **result.values)
    db.session.add(contact)
    db.session.flush()
    company.last_activity_at = utcnow()
    refresh_search_text(company)
    db.session.commit()
    return contact


def update_contact(contact_id: int, data: dict, *, actor: User, version: int) -> Contact:
    audit.set_actor(actor)
    contact = visible_contact(contact_id, actor)
    access.require_edit_company(actor, contact.company)
    _check_version(contact, version)
    result = rules.clean(CONTACT_FIELDS, data, partial=True)
    if result.errors:
        raise _invalid(result.errors)
    for key, value in result.values.items():
        setattr(contact, key, value)
    db.session.flush()
    refresh_search_text(contact.company)
    db.session.commit()
    return contact


def delete_contact(contact_id: int, *, actor: User, version: int | None = None) -> None:
    audit.set_actor(actor)
    contact = visible_contact(contact_id, actor)
    access.require_edit_company(actor, contact.company)
    if version is not None:
        _check_version(contact, version)
    contact.deleted_at, contact.deleted_by_id = utcnow(), actor.id
    db.session.flush()
    refresh_search_text(contact.company)
    db.session.commit()
