"""Read paths of the company book: the filtered list, search, detail with contacts and timeline."""
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from crm.audit.models import AuditEvent
from crm.auth import access
from crm.auth.models import User
from crm.core.text import escape_like, fold_width
from crm.extensions import db

from .models import Company, Contact

#: sort keys a user may ask for → ORDER BY; anything else falls back to the default (IV-3)
SORTS = {
    "updated": (Company.updated_at.desc(), Company.id.desc()),
    "name": (Company.name_norm.asc(), Company.id.asc()),
    "created": (Company.created_at.desc(), Company.id.desc()),
    "claimed_until": (Company.claimed_until.asc(), Company.id.asc()),
}
DEFAULT_SORT = "updated"


def _user_id(value) -> int | None:
    """An id from a query string: ASCII digits within the INTEGER range, else no filter (never an overflow)."""
    value = str(value or "")
    return int(value) if value.isascii() and value.isdigit() and int(value) <= 2**31 - 1 else None


@dataclass
class CompanyFilters:
    q: str = ""
    cluster: str = ""
    origin_city: str = ""
    status: str = ""
    owner_id: int | None = None
    #: "public" (no holder) or "mine"
    pool: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def from_args(cls, args) -> "CompanyFilters":
        owner = args.get("owner_id", "")

        def arg(name: str) -> str:  # a NUL byte cannot go to PostgreSQL (it would be a 500)
            return (args.get(name) or "").replace("\x00", "")

        return cls(q=arg("q").strip()[:100], cluster=arg("cluster")[:50],
                   origin_city=arg("origin_city")[:50], status=arg("status")[:20],
                   owner_id=_user_id(owner), pool=arg("pool")[:10],
                   sort=args.get("sort", DEFAULT_SORT) if args.get("sort") in SORTS else DEFAULT_SORT)


def search_condition(q: str):
    """Free-text search over names, pinyin, initials, USCC, contact names and phones (one indexed column)."""
    needle = fold_width(q).lower().strip()
    if not needle:
        return None
    terms = [t for t in needle.split() if t][:5]
    conds = []
    for term in terms:
        if term.replace("-", "").replace("+", "").isdigit():
            term = term.replace("-", "").replace("+", "")
        conds.append(Company.search_text.like(f"%{escape_like(term)}%", escape="\\"))
    return conds


def filtered(user: User, f: CompanyFilters):
    """The SELECT of companies the user may see that match the filters (no ordering or paging)."""
    stmt = select(Company).where(access.company_scope(user))
    if f.cluster:
        stmt = stmt.where(Company.cluster == f.cluster)
    if f.origin_city:
        stmt = stmt.where(Company.origin_city == f.origin_city)
    if f.status:
        stmt = stmt.where(Company.status == f.status)
    if f.owner_id:
        stmt = stmt.where(Company.owner_id == f.owner_id)
    if f.pool == "public":
        stmt = stmt.where(Company.owner_id.is_(None))
    elif f.pool == "mine":
        stmt = stmt.where(Company.owner_id == user.id)
    for cond in search_condition(f.q) or ():
        stmt = stmt.where(cond)
    return stmt


def company_page(user: User, f: CompanyFilters, *, page: int = 1, per_page: int = 50) -> tuple[list[Company], int]:
    """One page of the list and the total count, in two statements, owners eager-loaded."""
    stmt = filtered(user, f)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.options(joinedload(Company.owner)).order_by(*SORTS[f.sort])
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), total


def contacts_of(company_id: int) -> list[Contact]:
    return list(db.session.scalars(select(Contact).where(
        Contact.company_id == company_id, Contact.deleted_at.is_(None)).order_by(Contact.id)))


def timeline(company_id: int, *, limit: int = 100) -> list[AuditEvent]:
    """Changes to the company and its contacts, newest first."""
    contact_ids = select(Contact.id).where(Contact.company_id == company_id).scalar_subquery()
    stmt = (select(AuditEvent).options(joinedload(AuditEvent.actor))
            .where(or_((AuditEvent.object_type == "company") & (AuditEvent.object_id == company_id),
                       (AuditEvent.object_type == "contact") & AuditEvent.object_id.in_(contact_ids)))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit))
    return list(db.session.scalars(stmt))


def officers(user: User) -> list[User]:
    """People a list can be filtered by, or a company assigned to."""
    return list(db.session.scalars(select(User).where(
        User.is_active_user.is_(True), User.role.in_(("officer", "manager")), access.user_scope(user))
        .order_by(User.name)))
