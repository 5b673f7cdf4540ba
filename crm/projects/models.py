"""Investment projects (招商项目), their stage moves, funds in place (到位资金) and users' saved list views."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.services import audited
from crm.core.models import SoftDeleteMixin, TimestampMixin, VersionedMixin, deleted_index
from crm.core.timeutil import utcnow
from crm.extensions import db

from .stages import KEYS

#: the column holding the date each stage was first reached (in the zone's time zone), e.g. reached_signed
REACHED = {key: f"reached_{key}" for key in KEYS}


@audited("project")
class Project(VersionedMixin, SoftDeleteMixin, db.Model):
    __table_args__ = (
        # the board: one column is one stage, cards in the column's order (key projects first, then the latest
        # arrivals), read backwards from the index and stopped at the cap. What every board query filters on
        # (visibility: deleted_at, confidential, owner_id; the board's cluster and park) and the summed amount ride
        # along, so the column totals and a column's next cards are read from the index alone
        Index("ix_project_board", "stage", "key_project", "stage_changed_at", "id", "deleted_at", "confidential",
              "owner_id", "cluster", "park", "planned_investment"),
        # the list's default order, and each of its filters in that order; visibility rides along so a deep page
        # skips index entries, not table rows
        Index("ix_project_list_updated", "updated_at", "id", "deleted_at", "confidential", "owner_id"),
        Index("ix_project_owner", "owner_id", "updated_at", "id"),
        Index("ix_project_cluster", "cluster", "updated_at", "id"),
        Index("ix_project_park", "park", "updated_at", "id"),
        Index("ix_project_company", "company_id"),
        Index("ix_project_first_contact", "first_contact_id"),
        Index("ix_project_reached_signed", "reached_signed"),
        # the dashboard (crm.dashboard.kpis): the projects signed in a period, by their signing day (the expression
        # is crm.projects.queries.signed_on(), written the same way so both databases match it), with what its
        # figures sum; the projects created in a period; the confidential ones (few: what an officer may not see
        # is among them and the deleted ones)
        Index("ix_project_signed_on", text("coalesce(reached_signed, reached_under_construction, "
                                           "reached_in_production, reached_full_capacity)")),
        Index("ix_project_created", "created_at", "stage", "deleted_at", "confidential", "owner_id"),
        # (every column the scope reads of them is in it, so both databases list them from the index alone)
        Index("ix_project_confidential", "owner_id", "deleted_at", "confidential", "id",
              sqlite_where=text("confidential = 1"), postgresql_where=text("confidential")),
        deleted_index("project"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    #: a copy of the company's origin city (a reference key), for the dashboard's breakdown by city without a join;
    #: kept by crm.projects.services (a project created or moved to another company) and crm.companies (the
    #: company's city changed, a merge)
    origin_city: Mapped[str | None] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    cluster: Mapped[str | None] = mapped_column(String(50))
    #: None: the park is not decided yet
    park: Mapped[str | None] = mapped_column(String(50))
    #: 计划投资, 万元
    planned_investment: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    #: 固定资产投资, 万元 (never more than the planned investment)
    fixed_asset_investment: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    #: 预计年产值 and 预计年税收, 万元
    expected_output: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    expected_tax: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    jobs: Mapped[int | None] = mapped_column(Integer)
    #: 用地, 亩
    land_mu: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    #: what the company will make or do here (项目内容)
    description: Mapped[str] = mapped_column(Text, default="")
    #: the officer responsible (责任人); officers edit what they or their team own
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    #: the officer who made first contact (首谈人): keeps the credit when the owner changes
    first_contact_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    source: Mapped[str | None] = mapped_column(String(50))
    #: the promotion event it came from (events are reference data of a later feature; not enforced yet)
    event_id: Mapped[int | None] = mapped_column(Integer)
    #: 重点项目
    key_project: Mapped[bool] = mapped_column(Boolean, default=False)
    #: visible only to the owner, the owner's team and managers; others see the code name where it must show
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    code_name: Mapped[str] = mapped_column(String(100), default="")
    #: planned dates (the board's milestones come later); in order when both are given
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_production: Mapped[date | None] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(30), default="lead")
    #: when the project entered its current stage (for "days in stage")
    stage_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lost_reason: Mapped[str] = mapped_column(Text, default="")
    #: 到位资金, 万元: the sum of the funds entries, kept in the same transaction as each entry
    funds_in_place: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    #: the last change, stage move or (later) meeting: a project idle for `stale_days` is flagged
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the owner's reason for no update in `stale_days` (the weekly report lists it), and when it was given: it
    #: belongs to the idle spell it was given in, and counts only while no activity came after it (see
    #: services.no_update_reason); a later spell needs a new one
    no_update_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    no_update_reason_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str] = mapped_column(Text, default="")

    reached_lead: Mapped[date | None] = mapped_column(Date)
    reached_negotiating: Mapped[date | None] = mapped_column(Date)
    reached_site_visit: Mapped[date | None] = mapped_column(Date)
    reached_signed: Mapped[date | None] = mapped_column(Date)
    reached_under_construction: Mapped[date | None] = mapped_column(Date)
    reached_in_production: Mapped[date | None] = mapped_column(Date)
    reached_full_capacity: Mapped[date | None] = mapped_column(Date)
    reached_on_hold: Mapped[date | None] = mapped_column(Date)
    reached_lost: Mapped[date | None] = mapped_column(Date)

    company = relationship("Company", foreign_keys=[company_id])
    owner = relationship("User", foreign_keys=[owner_id])
    first_contact = relationship("User", foreign_keys=[first_contact_id])

    @property
    def stage_dates(self) -> dict[str, date]:
        """Stage key → the date it was first reached, for the stages reached so far."""
        return {key: getattr(self, col) for key, col in REACHED.items() if getattr(self, col) is not None}

    def __repr__(self) -> str:
        return f"<Project {self.id} {self.name} {self.stage}>"


def _company_city(connection, company_id: int) -> str | None:
    from crm.companies.models import Company

    return connection.scalar(select(Company.origin_city).where(Company.id == company_id))


@event.listens_for(Project, "before_insert")
def _city_of_new_project(_mapper, connection, project: Project) -> None:
    """`Project.origin_city` follows the project's company: read from it when a project is written without it (every
    path that writes projects through the ORM: the services, the demo, tests) or moves to another company (below).
    A company's own city change is copied to its projects by crm.companies.services.sync_project_cities."""
    if project.origin_city is None and project.company_id is not None:
        project.origin_city = _company_city(connection, project.company_id)


@event.listens_for(Project, "before_update")
def _city_of_moved_project(_mapper, connection, project: Project) -> None:
    if inspect(project).attrs.company_id.history.deleted and project.company_id is not None:
        project.origin_city = _company_city(connection, project.company_id)


class StageMove(db.Model):
    """One move of a project between stages (the first row, from None, is its creation). Append-only."""

    __tablename__ = "stage_move"
    __table_args__ = (Index("ix_stage_move_project", "project_id", "at"),
                      # the moves of a period; the dashboard counts them (which project, from where) from the index
                      Index("ix_stage_move_at", "at", "to_stage", "from_stage", "project_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    #: when it happened (an officer may log a signing a few days later: then the day given, at noon zone time)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: when it was recorded
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    #: why it was lost (moves to "lost" only)
    reason: Mapped[str] = mapped_column(Text, default="")

    actor = relationship("User", foreign_keys=[actor_id])


@audited("funds")
class FundsEntry(TimestampMixin, db.Model):
    """到位资金: money that arrived, on a day; a negative entry corrects an earlier one (the total never drops
    below zero)."""

    __tablename__ = "funds_entry"
    __table_args__ = (Index("ix_funds_entry_project", "project_id", "received_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    received_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    note: Mapped[str] = mapped_column(String(300), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    @property
    def name(self) -> str:  # the audit log's label
        return f"{self.received_on} {self.amount}"


class SavedView(TimestampMixin, db.Model):
    """A user's named filter of a list (e.g. "my key projects in Dunhou"), stored as its query string."""

    __tablename__ = "saved_view"
    __table_args__ = (Index("ix_saved_view_user", "user_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    #: which list: "projects" (companies later)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))
    query: Mapped[str] = mapped_column(String(1000), default="")
