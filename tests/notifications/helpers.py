"""Builders for the reminder tests: tasks and meetings written directly (no service), and reading captured mail."""
import email
import email.policy
from datetime import date, datetime

from crm.auth.models import User
from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingUser, Task
from crm.notifications.models import Notification

from ..factories import make_company


def make_task(owner: User, due, *, title: str = "Follow up", company=None, project=None, done: bool = False) -> Task:
    """A task due on a day (a date) or at a time (an aware datetime; its day is the zone's)."""
    from crm.meetings.services import split_due

    due_on, due_at = split_due(due) if isinstance(due, datetime) else (due, None)
    task = Task(title=title, due_on=due_on, due_at=due_at, owner_id=owner.id,
                company_id=company.id if company else None, project_id=project.id if project else None,
                created_by_id=owner.id)
    if done:
        task.done_at = utcnow()
    db.session.add(task)
    db.session.commit()
    return task


def make_meeting(owner: User, start_at: datetime, *, company=None, project=None, colleagues=(), type: str = "visit",
                 city: str = "深圳", place: str = "") -> Meeting:
    company = company or make_company(owner=owner)
    meeting = Meeting(type=type, start_at=start_at, owner_id=owner.id, company_id=company.id,
                      project_id=project.id if project else None, city=city, place=place)
    db.session.add(meeting)
    db.session.flush()
    db.session.add_all(MeetingUser(meeting_id=meeting.id, user_id=u.id) for u in colleagues)
    db.session.commit()
    return meeting


def rows(kind: str | None = None) -> list[Notification]:
    db.session.rollback()  # see what other sessions (threads, the CLI) committed
    query = db.select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def day(value: str) -> date:
    return date.fromisoformat(value)
