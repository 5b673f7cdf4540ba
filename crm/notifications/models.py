"""The notification log (one row per reminder that is due or was sent) and each user's reminder preferences."""
from datetime import datetime, time, timedelta

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.models import TimestampMixin
from crm.core.timeutil import as_aware, utcnow
from crm.extensions import db

#: waiting for a send task (new, or failed and waiting for its retry)
PENDING = "pending"
#: claimed by a send task: the e-mail is being rendered or handed to the SMTP server
SENDING = "sending"
SENT = "sent"
#: gave up: the last try failed, or the server refused the message for good; shown to admins, never silently dropped
FAILED = "failed"
#: not sent on purpose: no longer due (task done, meeting deleted), the user opted out or was deactivated
SKIPPED = "skipped"
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED)


class Notification(TimestampMixin, db.Model):
    """One reminder to one user about one thing for one period. The unique `key` is the exactly-once gate (R2): the
    sweep inserts rows by it, so a second sweep, a second scheduler or a re-run records nothing twice; a send task
    claims the row before it talks to the SMTP server and marks it sent after."""

    __table_args__ = (
        # a user's notifications, newest first (their page; the admin view filters by user)
        Index("ix_notification_recipient", "recipient_id", "created_at", "id"),
        # the sweep's recovery pass: pending rows whose send task never came, claims whose worker died
        Index("ix_notification_status", "status", "next_attempt_at"),
        # who already has today's digest
        Index("ix_notification_kind_period", "kind", "period", "recipient_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: the kind's name in `kinds.KINDS` ("digest", "meeting", ...)
    kind: Mapped[str] = mapped_column(String(30))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    #: what it is about ("meeting" 12, or the recipient's own "user" row for a digest)
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int] = mapped_column(Integer)
    #: which occurrence: the zone day of a digest ("2026-12-01"), a meeting's start in UTC (re-dated, it reminds anew)
    period: Mapped[str] = mapped_column(String(40))
    #: kind/recipient/object/period in one string; unique, and the Message-ID is derived from it
    key: Mapped[str] = mapped_column(String(200), unique=True)
    #: what the kind found at sweep time (small; the e-mail itself is rendered from the records at send time)
    context: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    #: sends tried (each claim counts one), capped at `services.MAX_ATTEMPTS`
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: why a skipped row was not sent ("done", "opted_out", ...)
    skip_reason: Mapped[str | None] = mapped_column(String(30))
    #: an earlier try stopped between the hand-over to the SMTP server and marking the row: the recipient may have
    #: this e-mail twice (both copies carry the same Message-ID)
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str | None] = mapped_column(String(500))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    #: fixed before the first hand-over to the SMTP server, so a resend carries the same one
    message_id: Mapped[str | None] = mapped_column(String(250))
    #: when a send task is expected to try next (a retry's countdown ends); the sweep requeues rows left well past it
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: when the current claim was taken; a claim older than the lease belongs to a worker that died
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    recipient = relationship("User", foreign_keys=[recipient_id])

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.key} {self.status}>"


class NotificationPreference(db.Model):
    """A user's own digest time (none: the zone's default, CRM_DIGEST_TIME)."""

    __tablename__ = "notification_preference"
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    #: zone time of day
    digest_time: Mapped[time | None] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class NotificationOptOut(db.Model):
    """A kind of reminder a user asked not to receive."""

    __tablename__ = "notification_opt_out"
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: a periodic job's run: started and not finished (still going, or its worker died mid-run)
RUNNING = "running"
JOB_OK = "ok"
JOB_ERROR = "error"


class JobRun(db.Model):
    """One run of a periodic job (the reminder sweep, the nightly housekeeping): the scheduler's heartbeat (RM-11).
    A beat that stopped dispatching leaves no new rows, so the admin page and /healthz/scheduler can say so instead
    of reminders silently stopping. Written by `crm.jobs.record_run`; rows older than two weeks are purged nightly."""

    __tablename__ = "job_run"
    __table_args__ = (
        # each job's latest run (the health check), and the nightly purge by age
        Index("ix_job_run_name_started", "name", "started_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: the Celery task's name ("notifications.sweep"); the CLI's sweep records under the task's name too
    name: Mapped[str] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(10), default=RUNNING)
    #: what the run did, in a few words ("3 due; 3 sent"), or the error's first line
    summary: Mapped[str | None] = mapped_column(String(200))

    @property
    def duration(self) -> timedelta | None:
        if self.finished_at is None:
            return None
        return as_aware(self.finished_at) - as_aware(self.started_at)

    def __repr__(self) -> str:
        return f"<JobRun {self.id} {self.name} {self.outcome}>"
