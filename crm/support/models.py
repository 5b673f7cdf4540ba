"""The support board (项目帮扶 / 挂图作战): milestones of signed projects, enterprise requests (企业诉求) and the
history of each request's handling."""
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as pgettext  # named so `pybabel extract` finds the context by default
from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.services import audited
from crm.core.models import SoftDeleteMixin, VersionedMixin, deleted_index
from crm.core.timeutil import utcnow
from crm.extensions import db


@dataclass(frozen=True)
class Choice:
    """An item of a fixed list (milestone kinds, request categories): its key is what records hold."""

    key: str
    name: str  # Chinese, the officers' word
    name_en: str

    @property
    def label(self):
        """The name in the UI language (through Flask-Babel, so zh shows the officers' word)."""
        return _LABELS[self.key]


#: the standard milestones, in the order a project meets them; a project's milestones are made from this template
MILESTONE_KINDS: tuple[Choice, ...] = (
    Choice("land_acquired", "土地摘牌", "Land acquired"),
    Choice("planning_permit", "规划许可", "Planning permit"),
    Choice("construction_permit", "施工许可", "Construction permit"),
    Choice("construction_start", "开工", "Construction start"),
    Choice("topping_out", "封顶", "Topping out"),
    Choice("equipment_in", "设备进场", "Equipment in"),
    Choice("trial_production", "试产", "Trial production"),
    Choice("production_start", "投产", "Production start"),
    Choice("full_capacity", "达产", "Full capacity"),
)
#: what an enterprise request is about (DESIGN.md's list, and "other" for the rest)
REQUEST_CATEGORIES: tuple[Choice, ...] = (
    Choice("land", "用地", "Land"),
    Choice("utilities", "水电气", "Utilities"),
    Choice("permits", "审批办证", "Permits"),
    Choice("financing", "融资", "Financing"),
    Choice("hiring", "用工招聘", "Hiring"),
    Choice("logistics", "物流", "Logistics"),
    Choice("policy", "政策兑现", "Policy"),
    Choice("other", "其他", "Other"),
)
_LABELS = {
    "land_acquired": _l("Land acquired"), "planning_permit": _l("Planning permit"),
    "construction_permit": _l("Construction permit"), "construction_start": _l("Construction start"),
    "topping_out": _l("Topping out"), "equipment_in": _l("Equipment in"),
    "trial_production": _l("Trial production"), "production_start": _l("Production start"),
    "full_capacity": _l("Full capacity"),
    "land": _l("Land"), "utilities": _l("Utilities"), "permits": _l("Permits"), "financing": _l("Financing"),
    "hiring": _l("Hiring"), "logistics": _l("Logistics"), "policy": _l("Policy"), "other": _l("Other"),
}
MILESTONE_BY_KEY = {k.key: k for k in MILESTONE_KINDS}
MILESTONE_KEYS = tuple(k.key for k in MILESTONE_KINDS)
CATEGORY_BY_KEY = {c.key: c for c in REQUEST_CATEGORIES}
CATEGORY_KEYS = tuple(c.key for c in REQUEST_CATEGORIES)

#: a request's states, in order; "open" and "in_progress" are the ones still waiting for the zone
REQUEST_STATUSES = ("open", "in_progress", "resolved", "closed")
OPEN_STATUSES = ("open", "in_progress")
#: with a context: "Open" alone is already a task's state (未完成), not a request's (待办理)
_STATUS_LABELS = {"open": pgettext("request status", "Open"), "in_progress": pgettext("request status", "In progress"),
                  "resolved": pgettext("request status", "Resolved"), "closed": pgettext("request status", "Closed")}


def status_label(status: str):
    """A request status in the UI language."""
    return _STATUS_LABELS[status]


@audited("milestone")
class Milestone(VersionedMixin, SoftDeleteMixin, db.Model):
    """One step of a signed project's build-out (节点); its status (done, red, yellow, green) is derived, never
    stored, since it changes with the calendar."""

    __table_args__ = (
        # one milestone of each kind per project, deleted ones included: the template can never be applied twice,
        # and the board reads a project's row from this index
        UniqueConstraint("project_id", "kind", name="uq_milestone_project_kind"),
        # a liaison's list and the digests: their department's milestones not done yet, soonest planned first
        Index("ix_milestone_department", "department", "actual_date", "planned_date"),
        Index("ix_milestone_owner", "owner_id", "actual_date", "planned_date"),
        # the dashboard's 履约率: the milestones planned in a period, counted from the index
        Index("ix_milestone_planned", "planned_date", "project_id", "actual_date", "deleted_at"),
        deleted_index("milestone"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    #: a key of MILESTONE_KINDS
    kind: Mapped[str] = mapped_column(String(30))
    #: the column order on the board (the template's order unless changed)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    planned_date: Mapped[date | None] = mapped_column(Date)
    #: the day it happened (in the zone's time zone); never in the future. Set means done
    actual_date: Mapped[date | None] = mapped_column(Date)
    #: the department responsible (a `department` reference key); its liaisons see and update the milestone
    department: Mapped[str | None] = mapped_column(String(50))
    #: the officer responsible (责任人)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    note: Mapped[str] = mapped_column(Text, default="")

    project = relationship("Project", foreign_keys=[project_id])
    owner = relationship("User", foreign_keys=[owner_id])

    @property
    def name(self) -> str:  # the audit log's label
        kind = MILESTONE_BY_KEY.get(self.kind)
        return kind.name if kind else self.kind

    @property
    def done(self) -> bool:
        return self.actual_date is not None

    def __repr__(self) -> str:
        return f"<Milestone {self.id} {self.kind} of project {self.project_id}>"


@audited("request")
class EnterpriseRequest(VersionedMixin, SoftDeleteMixin, db.Model):
    """企业诉求: an obstacle a signed project's company reported, routed to a department, with a deadline."""

    __tablename__ = "enterprise_request"
    __table_args__ = (
        # a project's requests (its page, the board's open count per row)
        Index("ix_enterprise_request_project", "project_id", "status", "deadline", "id"),
        # a department's queue for its liaisons, open ones by deadline
        Index("ix_enterprise_request_department", "department", "status", "deadline", "id"),
        # an owner's open requests by deadline (digests, "past deadline")
        Index("ix_enterprise_request_owner", "owner_id", "status", "deadline"),
        Index("ix_enterprise_request_company", "company_id"),
        deleted_index("enterprise_request"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="RESTRICT"))
    #: the project's company, kept with the request (its contacts are the ones a liaison may see)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    #: a key of REQUEST_CATEGORIES
    category: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)
    #: the department it is routed to (a `department` reference key)
    department: Mapped[str] = mapped_column(String(50))
    #: who answers for it: an officer, or a liaison of its department
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    #: the day it must be settled by (given as a date, or worked out from a number of Chinese working days)
    deadline: Mapped[date] = mapped_column(Date)
    #: one of REQUEST_STATUSES
    status: Mapped[str] = mapped_column(String(20), default="open")
    resolution: Mapped[str] = mapped_column(Text, default="")
    #: the company's satisfaction, 1 (poor) to 5 (very satisfied), given when the request is closed
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    project = relationship("Project", foreign_keys=[project_id])
    company = relationship("Company", foreign_keys=[company_id])
    owner = relationship("User", foreign_keys=[owner_id])

    @property
    def name(self) -> str:  # the audit log's label
        category = CATEGORY_BY_KEY.get(self.category)
        return f"{category.name if category else self.category}: {self.description[:80]}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:
        return f"<EnterpriseRequest {self.id} {self.category} {self.status}>"


class RequestEvent(db.Model):
    """One step in a request's handling: created, a field changed, a status moved (who, when, from, to, note).
    Append-only; the project's timeline reads these."""

    __tablename__ = "request_event"
    __table_args__ = (Index("ix_request_event_request", "request_id", "at", "id"),
                      Index("ix_request_event_project", "project_id", "at", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("enterprise_request.id", ondelete="CASCADE"))
    #: the request's project, kept here so a project's timeline reads its events from one index
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    #: created, updated, status, deleted
    action: Mapped[str] = mapped_column(String(20))
    #: the status before and after (the same for an edit that left the status alone; None before creation)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    #: the fields an edit changed, {field: [old, new]}
    changes: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")

    actor = relationship("User", foreign_keys=[actor_id])
