"""Meetings with companies, who took part, and the follow-up tasks (待办) officers owe."""
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.services import audited
from crm.core.models import SoftDeleteMixin, VersionedMixin, deleted_index
from crm.extensions import db

#: meeting types, in the order the quick-log form offers them
MEETING_TYPES = ("visit", "negotiation", "inbound_visit", "call", "event")


@audited("meeting")
class Meeting(VersionedMixin, SoftDeleteMixin, db.Model):
    """A visit, negotiation, inbound site visit, call or event meeting with a company, past or scheduled."""

    __table_args__ = (
        # the company's and the project's timeline, newest first
        Index("ix_meeting_company_start", "company_id", "start_at", "id"),
        Index("ix_meeting_project_start", "project_id", "start_at", "id"),
        # an officer's calendar and the day's meetings
        Index("ix_meeting_owner_start", "owner_id", "start_at", "id"),
        # the dashboard's count of a period's meetings reads who may see each (crm.dashboard.kpis) from the index
        Index("ix_meeting_start", "start_at", "id", "deleted_at", "owner_id", "company_id", "project_id"),
        deleted_index("meeting"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: optional; never before the start
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: where it took place: the city, then the place (an address, a venue, "phone")
    city: Mapped[str] = mapped_column(String(50), default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="RESTRICT"))
    #: the officer who logged it and answers for it
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    next_step: Mapped[str] = mapped_column(Text, default="")

    company = relationship("Company", foreign_keys=[company_id])
    project = relationship("Project", foreign_keys=[project_id])
    owner = relationship("User", foreign_keys=[owner_id])
    participant_users = relationship("User", secondary="meeting_user", order_by="User.name", viewonly=True)
    participant_contacts = relationship("Contact", secondary="meeting_contact", order_by="Contact.id",
                                        viewonly=True)

    @property
    def name(self) -> str:  # the audit log's label
        return f"{self.type} {self.start_at:%Y-%m-%d}" if self.start_at else self.type

    def __repr__(self) -> str:
        return f"<Meeting {self.id} {self.type} {self.start_at}>"


class MeetingUser(db.Model):
    """A colleague who took part in a meeting (besides its owner)."""

    __tablename__ = "meeting_user"
    __table_args__ = (Index("ix_meeting_user_user", "user_id", "meeting_id"),)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)


class MeetingContact(db.Model):
    """One of the company's contacts who took part."""

    __tablename__ = "meeting_contact"
    __table_args__ = (Index("ix_meeting_contact_contact", "contact_id"),)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="RESTRICT"), primary_key=True)


@audited("task")
class Task(VersionedMixin, SoftDeleteMixin, db.Model):
    """A follow-up: due on a day (in the zone's time zone) or at a time; overdue is derived, never stored."""

    __table_args__ = (
        # "my tasks": an officer's open tasks by due day, read in order from the index; with deleted_at it answers
        # the daily digest's counts alone (no visit to the table per task)
        Index("ix_task_owner_open", "owner_id", "done_at", "due_on", "due_at", "id", "deleted_at"),
        # the calendar's due tasks in a range
        Index("ix_task_due", "due_on", "owner_id"),
        Index("ix_task_company", "company_id", "created_at", "id"),
        Index("ix_task_project", "project_id", "created_at", "id"),
        # a company's or a project's open follow-ups, soonest due first (their pages' "open tasks" card)
        Index("ix_task_company_open", "company_id", "done_at", "due_on", "due_at", "id"),
        Index("ix_task_project_open", "project_id", "done_at", "due_on", "due_at", "id"),
        Index("ix_task_meeting", "meeting_id"),
        deleted_index("task"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    #: the day it is due, in the zone's time zone (also set for a timed task: the day of `due_at`)
    due_on: Mapped[date] = mapped_column(Date)
    #: the time it is due, when it has one
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="RESTRICT"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    owner = relationship("User", foreign_keys=[owner_id])
    company = relationship("Company", foreign_keys=[company_id])
    project = relationship("Project", foreign_keys=[project_id])
    meeting = relationship("Meeting", foreign_keys=[meeting_id])

    @property
    def name(self) -> str:  # the audit log's label
        return self.title

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.title!r} due {self.due_at or self.due_on}>"
