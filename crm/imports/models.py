"""An import of a spreadsheet (导入批次), the rows its preview flagged, and the records its commit wrote."""
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.models import TimestampMixin
from crm.extensions import db

#: an import's life: uploaded → (previewing →) previewed → (committing →) committed → rolled_back; failed when the
#: file cannot be read at all (not a spreadsheet, password-protected, too large...)
STATUSES = ("uploaded", "previewing", "previewed", "committing", "committed", "rolled_back", "failed")
#: what the preview says will happen to a row
ACTIONS = ("create", "update", "unchanged", "skip", "duplicate", "error")


class ImportRun(TimestampMixin, db.Model):
    """One uploaded file and what became of it. Who, when, the file (kept under instance/imports/ by its hash), the
    header mapping, the counts of the last preview or of the commit, and the progress a page polls."""

    __tablename__ = "import_run"
    __table_args__ = (Index("ix_import_run_actor", "actor_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    #: companies, contacts or projects
    kind: Mapped[str] = mapped_column(String(20))
    #: the name the file had on the user's computer (shown, never used as a path)
    filename: Mapped[str] = mapped_column(String(255))
    #: the stored copy's name inside instance/imports/
    stored_name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of the file: a preview holds for this content only
    file_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    #: the sheet read (a workbook's first non-empty worksheet) and its header row (1-based)
    sheet: Mapped[str] = mapped_column(String(100), default="")
    header_row: Mapped[int] = mapped_column(Integer, default=1)
    #: the header cells as read, in column order
    header: Mapped[list | None] = mapped_column(JSON)
    #: column index (as text) → column key of the kind; unmapped columns are ignored
    mapping: Mapped[dict | None] = mapped_column(JSON)
    #: {"pool": true} puts new companies in the public pool instead of the importer's hands
    options: Mapped[dict | None] = mapped_column(JSON)
    #: {action: rows} of the last preview (or the commit, once committed)
    counts: Mapped[dict | None] = mapped_column(JSON)
    #: the rows of the file (known after the first full read)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    #: a hash of every row's outcome in the preview: a commit that finds another outcome writes nothing
    digest: Mapped[str | None] = mapped_column(String(64))
    #: why the file could not be read, or what the last commit attempt found
    message: Mapped[str] = mapped_column(Text, default="")
    previewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rolled_back_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    actor = relationship("User", foreign_keys=[actor_id])

    @property
    def name(self) -> str:  # the audit log's label
        return self.filename


class ImportRow(db.Model):
    """A row of the file that the preview flagged: a problem, a duplicate, a match with an existing record. Rows
    that simply create or leave a record unchanged are only counted (a 100,000-row file stays small here)."""

    __tablename__ = "import_row"
    __table_args__ = (Index("ix_import_row_import", "import_id", "row", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"))
    #: the spreadsheet's row number (as Excel shows it)
    row: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    #: the row's name column, for the preview table
    label: Mapped[str] = mapped_column(String(200), default="")
    #: [[column header, message], ...]
    problems: Mapped[list | None] = mapped_column(JSON)
    #: the existing record it matches: {id, name, owner, reason, editable, visible} (id only when visible)
    match: Mapped[dict | None] = mapped_column(JSON)
    #: the actions the user may choose for it, and the chosen one (skip, update, create)
    options: Mapped[list | None] = mapped_column(JSON)
    choice: Mapped[str | None] = mapped_column(String(10))


class ImportRecord(db.Model):
    """A record a commit created or changed: what a rollback deletes or restores, and the version it left, so a
    rollback refuses once anyone has changed the record since."""

    __tablename__ = "import_record"
    __table_args__ = (Index("ix_import_record_import", "import_id", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"))
    #: company, contact or project
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(Integer)
    #: create or update
    action: Mapped[str] = mapped_column(String(10))
    #: the record's version right after the commit
    version: Mapped[int] = mapped_column(Integer)
    #: an update's previous values of the fields it changed (JSON-safe: decimals and dates as text)
    before: Mapped[dict | None] = mapped_column(JSON)


class ExportLog(db.Model):
    """One export of a list, by whom and when: what the per-user rate limit of exports counts (IE-6; shared by every
    web worker). The audit trail keeps the export itself (filter, rows); this log is pruned after a day."""

    __tablename__ = "export_log"
    __table_args__ = (Index("ix_export_log_user_at", "user_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: companies, contacts, projects or tasks
    kind: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer)
