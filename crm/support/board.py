"""The support board's wall chart (挂图作战): signed projects as rows, the standard milestones as columns, each cell
a milestone's derived status with its planned and actual dates, and per row the open enterprise requests and the
worst status (the default order: what needs the zone's attention first).

The page, the .xlsx export and `GET /api/v1/board` all read `board()`. It runs a fixed number of statements whatever
the number of rows: the page's project ids in board order with the total (one GROUP BY over the projects' milestones,
so the order by worst status is decided in SQL before the page is cut), those projects with their company and
officer, their milestones, and their open requests (one GROUP BY).
"""
from dataclasses import dataclass, field, fields
from datetime import date

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company
from crm.extensions import db
from crm.projects import stages
from crm.projects.models import Project
from crm.projects.queries import shown_company_name

from . import services
from .models import MILESTONE_KEYS, MILESTONE_KINDS, OPEN_STATUSES, EnterpriseRequest, Milestone

#: the orders the board offers: worst status first (the wall's default), by name, by planned production start
SORTS = ("worst", "name", "production")
DEFAULT_SORT = "worst"
#: rows on one page of the wall chart: a zone's key projects (dozens) fit on one; "all signed projects" (2,000 in
#: the bench) is paged, since a 2,000-row table is neither readable on a wall nor cheap to render
PAGE_SIZE = 500
#: the export writes every matching row up to here (a workbook of 5,000 × 9 coloured cells is about 1 MB)
EXPORT_CAP = 5000
#: a project without milestones (all deleted) sorts after every status
_NO_STATUS = len(services.STATUSES)
_FALSE = ("0", "false", "no", "off", "n")
_TRUE = ("1", "true", "yes", "on", "y")


def _int_arg(value) -> int | None:
    value = str(value or "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) <= 2**31 - 1 else None


def _key_only(args) -> bool:
    """Key projects only unless told otherwise: `key=0` (or false), or `all=1`. The page's form sends a hidden
    `key=0` before its checkbox's `key=1`, so an unticked box still says "all"; any true value among them wins."""
    if str(args.get("all") or "").lower() in _TRUE:
        return False
    values = [str(v).lower() for v in (args.getlist("key") if hasattr(args, "getlist") else [args.get("key")])
              if v is not None]
    if not values:
        return True
    return any(v in _TRUE for v in values) or not any(v in _FALSE for v in values)


@dataclass
class BoardFilters:
    """What the board shows: park ("none" = not decided), cluster, officer (the project's owner), key projects only
    (the default) or every signed project, the order, and the page."""

    park: str = ""
    cluster: str = ""
    owner_id: int | None = None
    key_only: bool = True
    sort: str = DEFAULT_SORT
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "BoardFilters":
        def arg(name: str, n: int = 50) -> str:
            return (args.get(name) or "").replace("\x00", "")[:n].strip()

        sort = arg("sort", 20)
        return cls(park=arg("park"), cluster=arg("cluster"), owner_id=_int_arg(args.get("owner_id")),
                   key_only=_key_only(args), sort=sort if sort in SORTS else DEFAULT_SORT,
                   page=min(_int_arg(args.get("page")) or 1, 10_000))

    @staticmethod
    def unmatched(args) -> bool:
        """An officer id was given but is not one (owner_id=abc): it matches nothing. The API answers with an empty
        board; the page drops the filter."""
        return bool((args.get("owner_id") or "").strip()) and _int_arg(args.get("owner_id")) is None

    def args(self, **override) -> dict:
        """The filters as query arguments for links (the defaults left out; "all signed" as key=0)."""
        out = {}
        for f in fields(self):
            value = override.get(f.name, getattr(self, f.name))
            if f.name == "key_only":
                if not value:
                    out["key"] = "0"
            elif f.name == "sort":
                if value != DEFAULT_SORT:
                    out["sort"] = value
            elif f.name == "page":
                if value and value > 1:
                    out["page"] = value
            elif value not in (None, ""):
                out[f.name] = value
        return out

    @property
    def active(self) -> bool:
        """Any filter beyond the default view (key projects, every park, cluster and officer)."""
        return bool(self.park or self.cluster or self.owner_id or not self.key_only)


@dataclass(slots=True)
class Cell:
    """One milestone on the board: its status (derived from the dates, today and the warning setting)."""

    id: int
    kind: str
    status: str
    planned_date: date | None
    actual_date: date | None
    department: str | None


@dataclass
class Row:
    project_id: int
    name: str
    #: the company's name, or the code name of a confidential project whose company the viewer may not see
    company: str
    company_visible: bool
    stage: str
    owner_id: int
    owner_name: str
    park: str | None
    cluster: str | None
    key_project: bool
    confidential: bool
    #: the production_start milestone's planned date (what "sort by planned production" orders by)
    planned_production: date | None
    #: requests still waiting for the zone (open or in progress), and how many of them are past their deadline
    open_requests: int = 0
    late_requests: int = 0
    #: milestone kind → Cell, or None where the project has no milestone of that kind
    cells: dict[str, Cell | None] = field(default_factory=dict)
    worst_status: str | None = None

    def statuses(self) -> list[str]:
        return [c.status for c in self.cells.values() if c is not None]


@dataclass
class Board:
    rows: list[Row]
    #: every matching project (the rows are one page of them)
    total: int
    page: int
    per_page: int
    #: the day the statuses were worked out for (the zone's today) and the yellow window in days
    on: date
    warning_days: int
    kinds: tuple = MILESTONE_KINDS

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def counts(self) -> dict[str, int]:
        """How many cells of the shown rows are in each status (the legend's figures)."""
        out = dict.fromkeys(services.STATUSES, 0)
        for row in self.rows:
            for status in row.statuses():
                out[status] += 1
        return out


def _filtered(user: User, f: BoardFilters):
    """The conditions on projects: visible to the user, signed or later, and the filters."""
    conditions = [access.project_scope(user), Project.stage.in_(stages.SIGNED_OR_LATER)]
    if f.key_only:
        conditions.append(Project.key_project.is_(True))
    if f.park == "none":
        conditions.append(Project.park.is_(None))
    elif f.park:
        conditions.append(Project.park == f.park)
    if f.cluster:
        conditions.append(Project.cluster == f.cluster)
    if f.owner_id:
        conditions.append(Project.owner_id == f.owner_id)
    return conditions


def _order(f: BoardFilters, worst, next_due, production):
    if f.sort == "name":
        return (Project.name.asc(), Project.id.asc())
    if f.sort == "production":
        return (production.asc().nulls_last(), Project.name.asc(), Project.id.asc())
    # worst first; among equals the longest overdue (or soonest due) open milestone first
    return (worst.asc(), next_due.asc().nulls_last(), Project.name.asc(), Project.id.asc())


def page_ids(user: User, f: BoardFilters, *, on: date, days: int, limit: int, offset: int) -> tuple[list[int], int]:
    """The ids of one page of projects in board order, and how many match (one statement: a GROUP BY of the
    projects' live milestones gives each its worst status rank, its first open planned date and its planned
    production start, and a window count gives the total)."""
    rank = case(services.STATUS_RANK, value=services.status_expression(on, days))
    # the outer join's empty row of a project without milestones would read as "green" (no planned date)
    worst = func.min(case((Milestone.id.is_(None), _NO_STATUS), else_=rank))
    next_due = func.min(case((Milestone.actual_date.is_(None), Milestone.planned_date)))
    production = func.max(case((Milestone.kind == "production_start", Milestone.planned_date)))
    live = and_(Milestone.project_id == Project.id, Milestone.deleted_at.is_(None))
    stmt = (select(Project.id, func.count().over().label("total"))
            .select_from(Project).outerjoin(Milestone, live)
            .where(*_filtered(user, f))
            .group_by(Project.id, Project.name)
            .order_by(*_order(f, worst, next_due, production))
            .limit(limit).offset(offset))
    rows = db.session.connection().execute(stmt).all()
    if not rows and offset:
        # past the last page: the total still says how many there are
        total = db.session.scalar(select(func.count()).select_from(Project).where(*_filtered(user, f)))
        return [], total or 0
    return [r.id for r in rows], (rows[0].total if rows else 0)


def _projects(user: User, ids: list[int]) -> dict[int, Row]:
    """The page's projects with their company's name and holder (whether the viewer may see the company decides
    between its name and the code name) and their officer's name."""
    if not ids:
        return {}
    holder = aliased(User)
    owner = aliased(User)
    stmt = (select(Project.id, Project.name, Project.stage, Project.owner_id, Project.park, Project.cluster,
                   Project.key_project, Project.confidential, Project.code_name, Company.name, Company.owner_id,
                   Company.deleted_at, holder.team_id, owner.name)
            .join(Company, Company.id == Project.company_id)
            .outerjoin(holder, holder.id == Company.owner_id)
            .outerjoin(owner, owner.id == Project.owner_id)
            .where(Project.id.in_(ids)))
    out = {}
    # Core rows (a page reads up to 500 projects and 4,500 milestones: the ORM's row handling costs more than the
    # statements)
    for (pid, name, stage, owner_id, park, cluster, key, confidential, code_name, company_name, holder_id,
         company_deleted, holder_team, owner_name) in db.session.connection().execute(stmt):
        visible = access.sees_company(user, deleted=company_deleted is not None, owner_id=holder_id,
                                      owner_team_id=holder_team)
        out[pid] = Row(project_id=pid, name=name, company=shown_company_name(
            company_name, project_id=pid, confidential=confidential, code_name=code_name, company_visible=visible),
            company_visible=visible, stage=stage, owner_id=owner_id, owner_name=owner_name or "", park=park,
            cluster=cluster, key_project=key, confidential=confidential, planned_production=None,
            cells=dict.fromkeys(MILESTONE_KEYS))
    return out


def _fill_cells(rows: dict[int, Row], ids: list[int], *, on: date, days: int) -> None:
    """Every live milestone of the page's projects into its row's cell, with its status (worked out by the
    database with the service's rule in SQL, `services.status_expression`)."""
    stmt = (select(Milestone.id, Milestone.project_id, Milestone.kind, Milestone.planned_date, Milestone.actual_date,
                   Milestone.department, services.status_expression(on, days))
            .where(Milestone.project_id.in_(ids), Milestone.deleted_at.is_(None)))
    for mid, project_id, kind, planned, actual, department, status in db.session.connection().execute(stmt):
        row = rows.get(project_id)
        if row is None or kind not in row.cells:
            continue  # a kind that is not (any more) one of the standard columns
        row.cells[kind] = Cell(mid, kind, status, planned, actual, department)
        if kind == "production_start":
            row.planned_production = planned


def _count_requests(rows: dict[int, Row], ids: list[int], *, on: date) -> None:
    """Open requests (open or in progress) per project, and how many of them are past their deadline."""
    stmt = (select(EnterpriseRequest.project_id, func.count(),
                   func.sum(case((EnterpriseRequest.deadline < on, 1), else_=0)))
            .where(EnterpriseRequest.project_id.in_(ids), EnterpriseRequest.status.in_(OPEN_STATUSES),
                   EnterpriseRequest.deleted_at.is_(None))
            .group_by(EnterpriseRequest.project_id))
    for project_id, n, late in db.session.connection().execute(stmt):
        rows[project_id].open_requests, rows[project_id].late_requests = n, int(late or 0)


def board(user: User, f: BoardFilters, *, on: date | None = None, days: int | None = None,
          per_page: int | None = None) -> Board:
    """One page of the board for `user` (staff: the projects they may see; anyone else sees nothing), PAGE_SIZE
    rows unless `per_page` says otherwise."""
    per_page = per_page or PAGE_SIZE
    on = on or services.today()
    days = services.warning_days() if days is None else days
    if user.role not in access.STAFF_ROLES:
        return Board([], 0, f.page, per_page, on, days)
    ids, total = page_ids(user, f, on=on, days=days, limit=per_page, offset=(f.page - 1) * per_page)
    if not ids:
        return Board([], total, f.page, per_page, on, days)
    rows = _projects(user, ids)
    _fill_cells(rows, ids, on=on, days=days)
    _count_requests(rows, ids, on=on)
    ordered = [rows[i] for i in ids if i in rows]
    for row in ordered:
        row.worst_status = services.worst_status(row.statuses())
    return Board(ordered, total, f.page, per_page, on, days)


def officers(user: User) -> list:
    """The officers who own signed projects the user may see (the officer filter's choices), by name."""
    owners = select(Project.owner_id).where(access.project_scope(user), Project.stage.in_(stages.SIGNED_OR_LATER))
    return list(db.session.execute(select(User.id, User.name).where(User.id.in_(owners)).order_by(User.name)))
