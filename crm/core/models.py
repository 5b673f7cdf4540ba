"""Column mixins shared by the domain models: timestamps, optimistic locking, soft delete."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from crm.core.timeutil import utcnow


class TimestampMixin:
    #: stored in UTC, timezone-aware
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class VersionedMixin(TimestampMixin):
    """Optimistic locking: every UPDATE carries `WHERE version = :read_version` and bumps it."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls):  # noqa: N805
        return {"version_id_col": cls.version}


class SoftDeleteMixin:
    """Deleted rows stay (for undo and audit) but every read path leaves them out."""

    #: indexed only where set (see `deleted_index`): an index over mostly-NULL values misleads SQLite's planner
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @declared_attr
    def deleted_by_id(cls) -> Mapped[int | None]:  # noqa: N805
        return mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def deleted_index(table_name: str) -> Index:
    """A partial index of a soft-deleting table's deleted rows, for the trash and purge jobs."""
    where = text("deleted_at IS NOT NULL")
    return Index(f"ix_{table_name}_deleted", "deleted_at", sqlite_where=where, postgresql_where=where)
