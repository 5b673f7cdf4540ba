"""Reference data that makes the zone configurable (parks, clusters, cities, departments) and settings."""
from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.audit.services import audited
from crm.core.models import VersionedMixin
from crm.extensions import db

#: the kinds of reference list an admin edits; records hold an item's `key`
REFERENCE_KINDS = ("cluster", "park", "city", "department", "chain_tag", "source")


@audited("ref_item")
class RefItem(VersionedMixin, db.Model):
    __tablename__ = "ref_item"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_ref_item_kind_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    key: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    sort: Mapped[int] = mapped_column(Integer, default=0)
    #: inactive items stay valid on old records but are not offered for new ones
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: e.g. a city's region ("gba" for the Greater Bay Area)
    extra: Mapped[dict | None] = mapped_column(JSON)


@audited("setting")
class Setting(VersionedMixin, db.Model):
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[dict | list | int | str | None] = mapped_column(JSON)
