"""Read paths of the company book: the filtered list, search, detail with contacts and timeline."""
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, func, literal, select, tuple_
from sqlalchemy.orm import joinedload, load_only

from crm.auth import access
from crm.auth.models import User
from crm.core.text import escape_like, fold_width
from crm.core.timeutil import as_aware
from crm.extensions import db

from . import search_index
from .models import Company, Contact

#: sort keys a user may ask for → ORDER BY; anything else falls back to the default (IV-3)
SORTS = {
    "updated": (Company.updated_at.desc(), Company.id.desc()),
    "name": (Company.name_norm.asc(), Company.id.asc()),
    "created": (Company.created_at.desc(), Company.id.desc()),
    "claimed_until": (Company.claimed_until.asc(), Company.id.asc()),
}
DEFAULT_SORT = "updated"
#: sorts that can continue after a row (keyset "next" links): key column, and whether the order is descending
CURSOR_SORTS = {"updated": (Company.updated_at, True), "created": (Company.created_at, True),
                "name": (Company.name_norm, False)}


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
    #: continue after this row ("<key>~<id>", see `cursor_after`): deep pages without OFFSET
    after: str = ""

    @classmethod
    def from_args(cls, args) -> "CompanyFilters":
        owner = args.get("owner_id", "")

        def arg(name: str) -> str:  # a NUL byte cannot go to PostgreSQL (it would be a 500)
            return (args.get(name) or "").replace("\x00", "")

        return cls(q=arg("q").strip()[:100], cluster=arg("cluster")[:50],
                   origin_city=arg("origin_city")[:50], status=arg("status")[:20],
                   owner_id=_user_id(owner), pool=arg("pool")[:10],
                   sort=args.get("sort", DEFAULT_SORT) if args.get("sort") in SORTS else DEFAULT_SORT,
                   after=arg("after")[:250])


#: the web list counts matches up to here and then says "more than 500": an exact count of a broad search costs a
#: full scan, and nobody pages through more than ten pages (past them, "continue" links follow a cursor)
COUNT_CAP = 500


def search_condition(q: str) -> list:
    """Free-text search over names, pinyin, initials, USCC, contact names and phones: every term must match.

    Terms of 3+ characters are answered by the trigram index (see search_index); shorter ones scan the column.
    """
    needle = fold_width(q).lower().strip()
    conds = []
    for term in [t for t in needle.split() if t][:5]:
        if term.replace("-", "").replace("+", "").isdigit():
            term = term.replace("-", "").replace("+", "")  # phones are indexed as digits only
        if len(term) >= 3 and search_index.uses_fts(db.engine):
            # a quoted FTS5 phrase is a substring match on the trigram index (a LIKE with ESCAPE would scan)
            phrase = '"' + term.replace('"', '""') + '"'
            conds.append(Company.id.in_(select(search_index.fts.c.rowid).where(
                search_index.fts.c.search_text.match(phrase))))
        else:
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
    for cond in search_condition(f.q):
        stmt = stmt.where(cond)
    return stmt


def count(stmt, *, cap: int | None = None) -> int:
    """How many rows a filtered SELECT returns; with `cap`, counting stops at cap + 1."""
    inner = stmt.with_only_columns(literal(1)).order_by(None)
    if cap is not None:
        inner = inner.limit(cap + 1)
    return db.session.scalar(select(func.count()).select_from(inner.subquery()))


#: what a list row shows (loading the whole row, search text and notes included, costs more than the query)
LIST_COLUMNS = (Company.id, Company.name, Company.short_name, Company.cluster, Company.origin_city, Company.status,
                Company.owner_id, Company.updated_at, Company.claimed_until, Company.version)


def cursor_after(company: Company, sort: str) -> str | None:
    """The cursor that continues a list after `company` in this sort, or None if the sort has none."""
    if sort not in CURSOR_SORTS:
        return None
    value = getattr(company, CURSOR_SORTS[sort][0].key)
    if value is None:
        return None
    key = as_aware(value).isoformat() if isinstance(value, datetime) else str(value)
    return f"{key}~{company.id}"


def _after_condition(f: CompanyFilters):
    """WHERE clause for rows after the cursor, or None when there is none or it is malformed (then: first page)."""
    if not f.after or f.sort not in CURSOR_SORTS or "~" not in f.after:
        return None
    key, _, raw_id = f.after.rpartition("~")
    if not (raw_id.isascii() and raw_id.isdigit()) or int(raw_id) > 2**31 - 1:
        return None
    column, descending = CURSOR_SORTS[f.sort]
    if isinstance(column.type, DateTime):
        try:
            key = datetime.fromisoformat(key)
        except ValueError:
            return None
        if db.engine.dialect.name == "sqlite":
            key = as_aware(key).astimezone(UTC).replace(tzinfo=None)  # SQLite stores naive UTC text
    pair, bound = tuple_(column, Company.id), tuple_(literal(key, column.type), literal(int(raw_id)))
    return pair < bound if descending else pair > bound


def company_page(user: User, f: CompanyFilters, *, page: int = 1, per_page: int = 50,
                 count_cap: int | None = None, columns: tuple | None = None) -> tuple[list[Company], int]:
    """One page of the list and its total, owners eager-loaded, in three statements.

    The page's ids come first from the sort index alone (so a deep page skips index entries, not rows), then the
    50 rows themselves (only `columns`, when given: the web list's LIST_COLUMNS).
    """
    stmt = filtered(user, f)
    page_stmt = stmt.with_only_columns(Company.id).order_by(*SORTS[f.sort]).limit(per_page)
    after = _after_condition(f)
    page_stmt = page_stmt.where(after) if after is not None else page_stmt.offset((page - 1) * per_page)
    ids = list(db.session.scalars(page_stmt))
    load = [joinedload(Company.owner).load_only(User.name)] + ([load_only(*columns)] if columns else [])
    rows = db.session.scalars(select(Company).options(*load).where(Company.id.in_(ids))).all()
    position = {company_id: i for i, company_id in enumerate(ids)}
    return sorted(rows, key=lambda c: position[c.id]), count(stmt, cap=count_cap)


def contacts_of(company_id: int) -> list[Contact]:
    return list(db.session.scalars(select(Contact).where(
        Contact.company_id == company_id, Contact.deleted_at.is_(None)).order_by(Contact.id)))


def officers(user: User, *, team_only: bool = False) -> list[User]:
    """People a list can be filtered by, or a company assigned to; with `team_only` the user's teammates (the user
    alone without a team)."""
    stmt = select(User).where(User.is_active_user.is_(True), User.role.in_(("officer", "manager")),
                              access.user_scope(user))
    if team_only:
        stmt = stmt.where(User.team_id == user.team_id if user.team_id is not None else User.id == user.id)
    return list(db.session.scalars(stmt.order_by(User.name)))
