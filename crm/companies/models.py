"""Companies (企业) and their contacts (联系人)."""
import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.audit.services import audited
from crm.core.models import SoftDeleteMixin, VersionedMixin, deleted_index
from crm.core.text import normalise_name
from crm.core.timeutil import utcnow
from crm.extensions import db

from . import search_index


class CompanyStatus(str, enum.Enum):
    PROSPECT = "prospect"  # 意向企业
    RESIDENT = "resident"  # 落户企业
    INACTIVE = "inactive"  # 无效


class ListingStatus(str, enum.Enum):
    NONE = "none"
    PREPARING = "preparing"  # 拟上市
    LISTED = "listed"


@audited("company")
class Company(VersionedMixin, SoftDeleteMixin, db.Model):
    __table_args__ = (
        # one live company per USCC; a deleted one does not block re-creating it (DI-5)
        Index("uq_company_uscc_live", "uscc", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
        Index("ix_company_owner_status", "owner_id", "status"),
        # the default list order; owner and deleted_at ride along so a page of ids is read from the index alone
        Index("ix_company_list_updated", "updated_at", "id", "owner_id", "deleted_at"),
        # each list filter, in list order: a filtered page is read in order and stops at its 50th row
        Index("ix_company_cluster", "cluster", "updated_at", "id"),
        Index("ix_company_origin_city", "origin_city", "updated_at", "id"),
        Index("ix_company_status", "status", "updated_at", "id"),
        Index("ix_company_owner", "owner_id", "updated_at", "id"),
        Index("ix_company_list_created", "created_at", "id"),
        deleted_index("company"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(100), default="")
    #: 统一社会信用代码, upper-case; None when unknown
    uscc: Mapped[str | None] = mapped_column(String(18))
    #: name without legal form, bracketed city, spaces or width: the duplicate key
    name_norm: Mapped[str] = mapped_column(String(200), index=True)
    #: lower-case haystack for search: names, pinyin, initials, USCC, contacts' names and phone digits
    search_text: Mapped[str] = mapped_column(Text, default="")
    origin_city: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str] = mapped_column(String(300), default="")
    cluster: Mapped[str | None] = mapped_column(String(50))
    chain_tags: Mapped[list] = mapped_column(JSON, default=list)
    employees: Mapped[int | None] = mapped_column(Integer)
    #: 营业收入, 万元
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    listing_status: Mapped[str] = mapped_column(String(20), default=ListingStatus.NONE.value)
    #: 港澳台资
    hmt_funded: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default=CompanyStatus.PROSPECT.value)
    #: the officer who holds the company; None means it is in the public pool (公海)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: end of the protection period (客户保护期); the reminders sweep releases expired claims
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str] = mapped_column(Text, default="")
    #: set, with the soft delete, when this company was merged into another as a duplicate (see crm.companies.merge);
    #: its id then leads to the survivor through CompanyAlias. No ON DELETE rule: checked at the statement's end, so
    #: one DELETE of both rows (a test's cleanup) passes.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))

    owner = relationship("User", foreign_keys=[owner_id])
    #: live contacts only
    contacts: Mapped[list["Contact"]] = relationship(
        primaryjoin="and_(Contact.company_id == Company.id, Contact.deleted_at.is_(None))",
        order_by="Contact.id", viewonly=True)

    @validates("name")
    def _keep_name_norm(self, _key, value):
        # the duplicate key follows the name wherever the name is set
        self.name_norm = normalise_name(value)
        return value

    def __repr__(self) -> str:
        return f"<Company {self.id} {self.name}>"


@audited("contact")
class Contact(VersionedMixin, SoftDeleteMixin, db.Model):
    __table_args__ = (deleted_index("contact"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")
    #: normalised (see crm.core.text.normalise_phone)
    mobile: Mapped[str] = mapped_column(String(30), default="", index=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    wechat: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")

    company: Mapped[Company] = relationship(foreign_keys=[company_id])


class CompanyAlias(db.Model):
    """The id of a company merged into another: links, bookmarks and API calls with it lead to the survivor.

    One hop always: when a survivor is itself merged later, its aliases are re-pointed to the new survivor.
    """

    __tablename__ = "company_alias"
    __table_args__ = (Index("ix_company_alias_company", "company_id"),)
    #: the merged (soft-deleted) company's id
    old_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"), primary_key=True,
                                        autoincrement=False)
    #: the live company it leads to
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class CompanyNotDuplicate(db.Model):
    """Two companies a user looked at and judged distinct: the duplicates page stops offering the pair."""

    __tablename__ = "company_not_duplicate"
    __table_args__ = (CheckConstraint("low_id < high_id", name="ordered"),)
    #: the pair, lower id first, so each pair has one row
    low_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"), primary_key=True,
                                        autoincrement=False)
    high_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


search_index.attach(Company.__table__)
