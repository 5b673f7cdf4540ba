"""Annual targets (年度目标) of signed investment per industry cluster and per team, set by admins; snapshots of the
dashboard's figures."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.services import audited
from crm.core.models import VersionedMixin
from crm.extensions import db

_CLUSTER_SET, _TEAM_SET = text("cluster IS NOT NULL"), text("team_id IS NOT NULL")


@audited("target")
class AnnualTarget(VersionedMixin, db.Model):
    """The signed investment (万元) a cluster or a team is to reach in a calendar year; the dashboard sets the
    year's signings against it. One target per year and cluster, one per year and team."""

    __tablename__ = "annual_target"
    __table_args__ = (
        # a target is for a cluster or for a team, never both or neither
        CheckConstraint("(cluster IS NULL) <> (team_id IS NULL)", name="one_subject"),
        Index("uq_annual_target_year_cluster", "year", "cluster", unique=True, sqlite_where=_CLUSTER_SET,
              postgresql_where=_CLUSTER_SET),
        Index("uq_annual_target_year_team", "year", "team_id", unique=True, sqlite_where=_TEAM_SET,
              postgresql_where=_TEAM_SET),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    #: a `cluster` reference key
    cluster: Mapped[str | None] = mapped_column(String(50))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    #: 万元
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))

    team = relationship("Team", foreign_keys=[team_id])

    @property
    def name(self) -> str:  # the audit log's label
        return f"{self.year} {self.cluster or f'team {self.team_id}'}"


class DashboardSnapshot(db.Model):
    """The dashboard's figures for one viewer scope and period, as computed at `computed_at`: the page and the API
    read a recent one instead of aggregating millions of meetings and tasks on every view (issue 7, Speed); the worker
    refreshes the managers' current periods, a view computes and stores what is missing or too old. Derived data: it
    may be deleted at any time."""

    __tablename__ = "dashboard_snapshot"
    __table_args__ = (UniqueConstraint("scope", "period_kind", "period_start", "period_end",
                                       name="uq_dashboard_snapshot_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    #: whose figures: "all" (managers and admins see every project), or "user:<id>" (an officer's own scope)
    scope: Mapped[str] = mapped_column(String(40))
    period_kind: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: crm.dashboard.snapshots.dump of the figures (numbers, keys and drill-down arguments; no labels)
    payload: Mapped[dict] = mapped_column(JSON)
