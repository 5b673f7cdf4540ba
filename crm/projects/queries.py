"""Read paths of the pipeline: the filtered list, the board's columns and totals, a project's history."""
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, union_all
from sqlalchemy.orm import joinedload, load_only

from crm.audit.models import AuditEvent
from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company
from crm.companies.queries import count, search_condition
from crm.core.text import escape_like
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db

from . import stages
from .models import FundsEntry, Project, StageMove

SORTS = {
    "updated": (Project.updated_at.desc(), Project.id.desc()),
    "created": (Project.created_at.desc(), Project.id.desc()),
    "name": (Project.name.asc(), Project.id.asc()),
    "investment": (Project.planned_investment.desc(), Project.id.desc()),
    "stage": (Project.stage.asc(), Project.id.desc()),
    "stage_changed": (Project.stage_changed_at.asc(), Project.id.asc()),
}
DEFAULT_SORT = "updated"
#: the board shows this many cards per column; "show more" fetches the next ones
CARDS_PER_COLUMN = 12
#: the list counts up to here, then says "more than 500" (see the company list)
COUNT_CAP = 500


#: a filter value meaning "not set" (no cluster, park undecided, no team, no source...)
NONE = "none"
#: stage filters that name several stages (the dashboard's drill-downs open the list with them)
STAGE_GROUPS = {
    "open": stages.OPEN,
    #: every stage but lost: the dashboard's breakdowns
    "pipeline": tuple(k for k in stages.KEYS if k != "lost"),
    "signed_or_later": stages.SIGNED_OR_LATER,
    #: construction started (开工)
    "started": ("under_construction", "in_production", "full_capacity"),
    #: production started (投产)
    "producing": ("in_production", "full_capacity"),
}
#: the filters on a day range, each (from, to) both included, zone days
DAY_RANGES = ("created", "signed", "moved", "milestone")
#: the dashboard's drill-down filters that the list's form shows as chips rather than fields
DRILL_FIELDS = ("origin_city", "source", "event_id",
                *(f"{name}_{end}" for name in DAY_RANGES for end in ("from", "to")))


def _int_arg(value) -> int | None:
    value = str(value or "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) <= 2**31 - 1 else None


def _id_or_none(value) -> int | str | None:
    """An id, or NONE for "not set"."""
    return NONE if str(value or "").strip() == NONE else _int_arg(value)


def _flag(value) -> bool:
    return str(value or "").lower() in ("1", "true", "yes", "on", "y")


def _day_arg(value) -> date | None:
    raw = str(value or "").strip()
    if len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def zone_midnight(day: date) -> datetime:
    """00:00 of a zone day, in UTC (a day filter on a timestamp column compares with this)."""
    return datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


def signed_on() -> ColumnElement:
    """The day a project was signed: the day it first reached signed, or, when it skipped signed (created at or moved
    straight to a later stage), the first later stage it reached. One expression for the list's signed_from/to
    filters and the dashboard's counts, so a figure and its drill-down agree."""
    return func.coalesce(Project.reached_signed, Project.reached_under_construction, Project.reached_in_production,
                         Project.reached_full_capacity)


def _key_filter(column, value: str) -> ColumnElement[bool]:
    return column.is_(None) if value == NONE else column == value


@dataclass
class ProjectFilters:
    q: str = ""
    #: one stage key, or "open" (the stages a deal is still worked in)
    stage: str = ""
    cluster: str = ""
    park: str = ""
    owner_id: int | None = None
    team_id: int | None = None
    key: bool = False
    stale: bool = False
    company_id: int | None = None
    # the dashboard's drill-downs (crm.dashboard.kpis): each figure opens the list with the filters that give its
    # records. "none" (NONE) in origin_city, source, event_id, team_id or cluster means "not set"
    #: the company's origin city (a reference key)
    origin_city: str = ""
    source: str = ""
    event_id: int | str | None = None
    #: created on these zone days (both included)
    created_from: date | None = None
    created_to: date | None = None
    #: signed on these days (`signed_on`)
    signed_from: date | None = None
    signed_to: date | None = None
    #: had a recorded stage move (not its creation) on these days
    moved_from: date | None = None
    moved_to: date | None = None
    #: has a support-board milestone planned on these days
    milestone_from: date | None = None
    milestone_to: date | None = None
    sort: str = DEFAULT_SORT

    @classmethod
    def from_args(cls, args) -> "ProjectFilters":
        def arg(name: str, n: int = 50) -> str:
            return (args.get(name) or "").replace("\x00", "")[:n]

        stage = arg("stage", 30)
        days = {f"{name}_{end}": _day_arg(args.get(f"{name}_{end}")) for name in DAY_RANGES for end in ("from", "to")}
        return cls(q=arg("q", 100).strip(), stage=stage if stage in stages.BY_KEY or stage in STAGE_GROUPS else "",
                   cluster=arg("cluster"), park=arg("park"), owner_id=_int_arg(args.get("owner_id")),
                   team_id=_id_or_none(args.get("team_id")), key=_flag(args.get("key")),
                   stale=_flag(args.get("stale")), company_id=_int_arg(args.get("company_id")),
                   origin_city=arg("origin_city"), source=arg("source"), event_id=_id_or_none(args.get("event_id")),
                   **days, sort=args.get("sort") if args.get("sort") in SORTS else DEFAULT_SORT)

    @staticmethod
    def unmatched(args) -> bool:
        """A stage, id or day filter was given but not understood (e.g. stage=signd): it matches nothing. The API
        answers with an empty list; a page drops the filter."""
        parsed = ProjectFilters.from_args(args)
        names = ("stage", "owner_id", "team_id", "company_id", "event_id",
                 *(f"{name}_{end}" for name in DAY_RANGES for end in ("from", "to")))
        return any((args.get(name) or "").strip() and not getattr(parsed, name) for name in names)

    def args(self, **override) -> dict:
        """The filters as query arguments (for links that keep them), leaving out the empty ones."""
        out = {}
        for f in fields(self):
            value = override.get(f.name, getattr(self, f.name))
            if value in (None, "", False) or (f.name == "sort" and value == DEFAULT_SORT):
                continue
            out[f.name] = "1" if value is True else value.isoformat() if isinstance(value, date) else value
        return out

    @property
    def active(self) -> bool:
        return any(v for k, v in self.args().items() if k != "sort")

    def drill_args(self) -> dict:
        """The drill-down filters the list's form has no field for (kept as hidden fields when it is sent)."""
        return {k: v for k, v in self.args().items() if k in DRILL_FIELDS}

    def drill_chips(self) -> list[tuple[str, dict]]:
        """The drill-down filters in words, each with the list's arguments without it (a chip that removes it)."""
        from flask_babel import gettext as _

        from crm.reference import services as reference

        chips = []
        ranges = {"created": _("Created"), "signed": _("Signed"), "moved": _("Stage moved"),
                  "milestone": _("Milestone planned")}
        for name, word in ranges.items():
            start, end = getattr(self, f"{name}_from"), getattr(self, f"{name}_to")
            if start or end:
                span = f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"
                chips.append((f"{word} {span}", self.args(**{f"{name}_from": None, f"{name}_to": None})))
        if self.origin_city:
            city = _("not set") if self.origin_city == NONE else \
                reference.names("city").get(self.origin_city, self.origin_city)
            chips.append((_("Origin city: %(city)s", city=city), self.args(origin_city="")))
        if self.source:
            source = _("not set") if self.source == NONE else \
                reference.names("source").get(self.source, self.source)
            chips.append((_("Source: %(source)s", source=source), self.args(source="")))
        if self.event_id:
            chips.append((_("No event") if self.event_id == NONE else _("Event #%(id)s", id=self.event_id),
                          self.args(event_id=None)))
        return chips


def filtered(user: User, f: ProjectFilters, *, with_stage: bool = True) -> Select:
    """The SELECT of projects the user may see that match the filters (no ordering or paging)."""
    stmt = select(Project).where(access.project_scope(user))
    if with_stage and f.stage in STAGE_GROUPS:
        stmt = stmt.where(Project.stage.in_(STAGE_GROUPS[f.stage]))
    elif with_stage and f.stage:
        stmt = stmt.where(Project.stage == f.stage)
    if f.cluster:
        stmt = stmt.where(_key_filter(Project.cluster, f.cluster))
    if f.park == "none":  # the park is not decided yet
        stmt = stmt.where(Project.park.is_(None))
    elif f.park:
        stmt = stmt.where(Project.park == f.park)
    if f.owner_id:
        stmt = stmt.where(Project.owner_id == f.owner_id)
    if f.team_id == NONE:
        stmt = stmt.where(Project.owner_id.in_(select(User.id).where(User.team_id.is_(None))))
    elif f.team_id:
        stmt = stmt.where(Project.owner_id.in_(select(User.id).where(User.team_id == f.team_id)))
    if f.key:
        stmt = stmt.where(Project.key_project.is_(True))
    if f.company_id:
        stmt = stmt.where(Project.company_id == f.company_id)
    stmt = _drill_filters(stmt, f)
    if f.stale:
        from .services import stale_days

        stmt = stmt.where(Project.last_activity_at < utcnow() - timedelta(days=stale_days()),
                          Project.stage.not_in(("full_capacity", "lost")))
    if f.q:
        # the project's own name, or its company's (names, pinyin, USCC, contacts: the company search)
        by_company = select(Company.id).where(*search_condition(f.q))
        like = f"%{escape_like(f.q)}%"
        stmt = stmt.where(or_(Project.company_id.in_(by_company), Project.name.like(like, escape="\\"),
                              Project.code_name.like(like, escape="\\")))
    return stmt


def _drill_filters(stmt: Select, f: ProjectFilters) -> Select:
    """The dashboard's drill-down filters (origin city, source, event, day ranges)."""
    if f.origin_city:
        stmt = stmt.where(Project.company_id.in_(select(Company.id).where(_key_filter(Company.origin_city,
                                                                                      f.origin_city))))
    if f.source:
        stmt = stmt.where(_key_filter(Project.source, f.source))
    if f.event_id:
        stmt = stmt.where(Project.event_id.is_(None) if f.event_id == NONE else Project.event_id == f.event_id)
    if f.created_from:
        stmt = stmt.where(Project.created_at >= zone_midnight(f.created_from))
    if f.created_to:
        stmt = stmt.where(Project.created_at < zone_midnight(f.created_to + timedelta(days=1)))
    if f.signed_from:
        stmt = stmt.where(signed_on() >= f.signed_from)
    if f.signed_to:
        stmt = stmt.where(signed_on() <= f.signed_to)
    if f.moved_from or f.moved_to:
        moved = [StageMove.from_stage.is_not(None)]  # the first row is the creation, not a move
        if f.moved_from:
            moved.append(StageMove.at >= zone_midnight(f.moved_from))
        if f.moved_to:
            moved.append(StageMove.at < zone_midnight(f.moved_to + timedelta(days=1)))
        stmt = stmt.where(Project.id.in_(select(StageMove.project_id).where(*moved)))
    if f.milestone_from or f.milestone_to:
        from crm.support.models import Milestone

        planned = [Milestone.deleted_at.is_(None)]
        if f.milestone_from:
            planned.append(Milestone.planned_date >= f.milestone_from)
        if f.milestone_to:
            planned.append(Milestone.planned_date <= f.milestone_to)
        stmt = stmt.where(Project.id.in_(select(Milestone.project_id).where(and_(*planned))))
    return stmt


#: what a list row or a card shows
ROW_COLUMNS = (Project.id, Project.name, Project.company_id, Project.cluster, Project.park, Project.stage,
               Project.planned_investment, Project.fixed_asset_investment, Project.funds_in_place, Project.owner_id,
               Project.first_contact_id, Project.key_project, Project.confidential, Project.code_name,
               Project.stage_changed_at, Project.last_activity_at, Project.updated_at, Project.version)


def _load(ids: list[int], columns=ROW_COLUMNS) -> list[Project]:
    """The rows for a page of ids, in that order, with owner and company names (three statements in all)."""
    if not ids:
        return []
    rows = db.session.scalars(select(Project).options(
        *([load_only(*columns)] if columns else []),
        joinedload(Project.owner).load_only(User.name, User.team_id),
        joinedload(Project.company).load_only(Company.name, Company.owner_id),
    ).where(Project.id.in_(ids))).all()
    position = {project_id: i for i, project_id in enumerate(ids)}
    return sorted(rows, key=lambda p: position[p.id])


def project_page(user: User, f: ProjectFilters, *, page: int = 1, per_page: int = 50,
                 count_cap: int | None = None, columns: tuple | None = ROW_COLUMNS) -> tuple[list[Project], int]:
    """One page and its total; the rows carry `columns` only (the list's), or every column with `columns=None`."""
    stmt = filtered(user, f)
    ids = list(db.session.scalars(stmt.with_only_columns(Project.id).order_by(*SORTS[f.sort])
                                  .limit(per_page).offset((page - 1) * per_page)))
    return _load(ids, columns), count(stmt, cap=count_cap)


# --- the board -------------------------------------------------------------------------------------------------------

BOARD_ORDER = (Project.key_project.desc(), Project.stage_changed_at.desc(), Project.id.desc())


@dataclass
class Column:
    stage: stages.Stage
    count: int
    #: planned investment in the column, 万元
    total: object
    cards: list


def board_stages(f: ProjectFilters) -> list[stages.Stage]:
    if f.stage in STAGE_GROUPS:
        return [stages.BY_KEY[k] for k in STAGE_GROUPS[f.stage]]
    if f.stage:
        return [stages.BY_KEY[f.stage]]
    return list(stages.STAGES)


def column_cards(user: User, f: ProjectFilters, stage: str, *, offset: int = 0,
                 limit: int = CARDS_PER_COLUMN) -> list[Project]:
    """One column's cards in board order: key projects first, then the latest arrivals."""
    stmt = filtered(user, f, with_stage=False).where(Project.stage == stage)
    ids = list(db.session.scalars(stmt.with_only_columns(Project.id).order_by(*BOARD_ORDER)
                                  .limit(limit).offset(offset)))
    return _load(ids)


def board(user: User, f: ProjectFilters) -> list[Column]:
    """Every column with its count and planned-investment total (one GROUP BY) and its first cards."""
    shown = board_stages(f)
    stmt = filtered(user, f, with_stage=False).where(Project.stage.in_([s.key for s in shown]))
    totals = {stage: (n, total) for stage, n, total in db.session.execute(
        stmt.with_only_columns(Project.stage, func.count(), func.coalesce(func.sum(Project.planned_investment), 0))
        .group_by(Project.stage))}
    # every column's first cards in one statement (one limited SELECT per column, UNION ALL), then one load
    filled = [s.key for s in shown if totals.get(s.key, (0, 0))[0]]
    ids: list[int] = []
    if filled:
        base = filtered(user, f, with_stage=False).with_only_columns(Project.id)
        parts = [base.where(Project.stage == key).order_by(*BOARD_ORDER).limit(CARDS_PER_COLUMN).subquery()
                 for key in filled]
        ids = list(db.session.scalars(union_all(*(select(part.c.id) for part in parts))))
    by_stage: dict[str, list[Project]] = {}
    for project in _load(ids):  # in the order of `ids`: column by column, each in board order
        by_stage.setdefault(project.stage, []).append(project)
    columns = []
    for stage in shown:
        n, total = totals.get(stage.key, (0, 0))
        columns.append(Column(stage, n, total, by_stage.get(stage.key, [])))
    return columns


def column_total(user: User, f: ProjectFilters, stage: str) -> tuple[int, object]:
    stmt = filtered(user, f, with_stage=False).where(Project.stage == stage)
    row = db.session.execute(stmt.with_only_columns(
        func.count(), func.coalesce(func.sum(Project.planned_investment), 0))).one()
    return row[0], row[1]


# added for the board's routes (crm/projects/board.py): one card re-read after a move, and the team filter's choices

def board_card(user: User, project_id: int) -> Project | None:
    """One project as a board card shows it (owner and company names loaded), if the user may see it."""
    found = db.session.scalar(select(Project.id).where(Project.id == project_id, access.project_scope(user)))
    return _load([found])[0] if found else None


def teams() -> list:
    """The teams a list or the board can be filtered by, by name."""
    from crm.auth.models import Team

    return list(db.session.scalars(select(Team).order_by(Team.name)))


# --- who may see the company behind a project ------------------------------------------------------------------------

def visible_company_ids(user: User, projects: list[Project]) -> set[int]:
    """Of these projects' companies, the ones the user may open (a confidential project shows its code name to
    everyone else)."""
    ids = {p.company_id for p in projects}
    if not ids:
        return set()
    return set(db.session.scalars(select(Company.id).where(Company.id.in_(ids), access.company_scope(user))))


def shown_name(project: Project, company_ids: set[int]) -> str:
    """The company's name, or the code name for a confidential project whose company the viewer may not see."""
    return shown_company_name(project.company.name if project.company else None, project_id=project.id,
                              confidential=project.confidential, code_name=project.code_name,
                              company_visible=project.company_id in company_ids)


def shown_company_name(company_name: str | None, *, project_id: int | None, confidential: bool | None,
                       code_name: str | None, company_visible: bool) -> str:
    """`shown_name` from columns already read (a list that joins the names in rather than loading the projects):
    a record on a confidential project names the project's code name to a viewer who may not see its company."""
    if confidential and not company_visible:
        return code_name or f"#{project_id}"
    return company_name or ""


# --- a project's page ------------------------------------------------------------------------------------------------

def moves(project_id: int) -> list[StageMove]:
    """The stage path, oldest first."""
    return list(db.session.scalars(select(StageMove).options(joinedload(StageMove.actor))
                                   .where(StageMove.project_id == project_id)
                                   .order_by(StageMove.at, StageMove.id)))


def funds(project_id: int) -> list[FundsEntry]:
    return list(db.session.scalars(select(FundsEntry).where(FundsEntry.project_id == project_id)
                                   .order_by(FundsEntry.received_on.desc(), FundsEntry.id.desc())))


#: audited fields that the stage path already shows
STAGE_FIELDS = {"stage", "stage_changed_at", "lost_reason", "funds_in_place", *(f"reached_{k}" for k in stages.KEYS)}


def changes(project_id: int, *, limit: int = 200) -> list[AuditEvent]:
    """Audited changes of the project and its funds entries, newest first."""
    entry_ids = list(db.session.scalars(select(FundsEntry.id).where(FundsEntry.project_id == project_id)))
    about = (AuditEvent.object_type == "project") & (AuditEvent.object_id == project_id)
    if entry_ids:
        about = or_(about, (AuditEvent.object_type == "funds") & AuditEvent.object_id.in_(entry_ids))
    return list(db.session.scalars(select(AuditEvent).options(joinedload(AuditEvent.actor)).where(about)
                                   .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def history(project_id: int) -> list[dict]:
    """Stage moves and audited changes in one list, newest first (the API's /history and the project page)."""
    items = []
    for m in moves(project_id):
        items.append({"kind": "stage", "at": m.at, "actor": m.actor, "from_stage": m.from_stage,
                      "to_stage": m.to_stage, "note": m.note, "reason": m.reason, "id": m.id})
    for e in changes(project_id):
        shown = {k: v for k, v in (e.changes or {}).items() if k not in STAGE_FIELDS}
        if e.action == "update" and not shown:
            continue  # a stage move's own update: the move above says it
        items.append({"kind": "change", "at": e.at, "actor": e.actor, "action": e.action,
                      "object_type": e.object_type, "changes": shown, "label": e.label, "id": e.id})
    items.sort(key=lambda i: (as_aware(i["at"]), i["kind"] == "stage", i["id"]), reverse=True)
    return items


def company_projects(user: User, company_id: int) -> list[Project]:
    return list(db.session.scalars(select(Project).options(joinedload(Project.owner))
                                   .where(Project.company_id == company_id, access.project_scope(user))
                                   .order_by(Project.updated_at.desc())))


def company_project_names(user: User, company_id: int) -> list:
    """The ids and names of the company's projects the user may see (rows with .id and .name: what a timeline
    needs of them, without loading the projects)."""
    return db.session.execute(select(Project.id, Project.name).where(
        Project.company_id == company_id, access.project_scope(user))).all()


def my_pipeline(user: User) -> dict:
    """The home page's figures: the user's own projects per stage, and how many of them are stale."""
    from .services import stale_days

    mine = select(Project).where(access.project_scope(user), Project.owner_id == user.id)
    per_stage = dict(db.session.execute(mine.with_only_columns(Project.stage, func.count()).group_by(Project.stage))
                     .all())
    stale = count(mine.where(Project.last_activity_at < utcnow() - timedelta(days=stale_days()),
                             Project.stage.not_in(("full_capacity", "lost"))))
    return {"per_stage": per_stage, "stale": stale}


# --- helper for the list page's bulk actions (added with the project pages) -------------------------------------------

def project_names(user: User, ids) -> dict[int, str]:
    """id → name of the given projects the user may see (a bulk action's summary names the rows it left alone)."""
    ids = [i for i in set(ids) if isinstance(i, int)]
    if not ids:
        return {}
    return dict(db.session.execute(select(Project.id, Project.name)
                                   .where(Project.id.in_(ids), access.project_scope(user))).all())
