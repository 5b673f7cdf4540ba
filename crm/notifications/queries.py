"""What the reminders pages show: a user's notifications (everyone's for managers), one notification, the people
a manager can filter by."""
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, true
from sqlalchemy.orm import joinedload

from crm.auth import access
from crm.auth.models import User
from crm.core.timeutil import as_aware
from crm.errors import NotFound
from crm.extensions import db

from .models import Notification


def notification_scope(user: User):
    """Managers and admins see every notification; anyone else their own."""
    return true() if access.is_manager(user) else Notification.recipient_id == user.id


def notifications(user: User, *, recipient_id: int | None, page: int, per_page: int,
                  status: str | None = None, kind: str | None = None) -> tuple[list[Notification], int]:
    """One page of the notifications `user` may see, newest first, and how many there are; `recipient_id` narrows
    a manager's list to one person (an officer's list is always their own)."""
    stmt = select(Notification).where(notification_scope(user))
    if recipient_id is not None and access.is_manager(user):
        stmt = stmt.where(Notification.recipient_id == recipient_id)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.options(joinedload(Notification.recipient))
                              .order_by(Notification.created_at.desc(), Notification.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), total


def visible_notification(notification_id: int, user: User) -> Notification:
    """One notification the user may see, or NotFound (another's is not found, so ids cannot be probed)."""
    row = db.session.scalar(select(Notification).options(joinedload(Notification.recipient))
                            .where(Notification.id == notification_id, notification_scope(user)))
    if row is None:
        raise NotFound(str(_l("No such reminder.")))
    return row


def recipients() -> list[User]:
    """Staff a manager's list can be filtered by: everyone reminders go to."""
    return list(db.session.scalars(select(User).where(User.role.in_(tuple(access.STAFF_ROLES)))
                                   .order_by(User.is_active_user.desc(), User.name)))


@dataclass(frozen=True)
class Delivery:
    """Whether mail is getting through (AV-4): reminders whose send failed at least once and still wait for a retry,
    and since when the oldest of them has waited."""
    waiting: int
    since: datetime | None

    @property
    def degraded(self) -> bool:
        return self.waiting > 0


def delivery() -> Delivery:
    from .models import PENDING

    waiting, since = db.session.execute(
        select(func.count(), func.min(Notification.created_at))
        .where(Notification.status == PENDING, Notification.attempts > 0)).one()
    return Delivery(waiting, as_aware(since) if since else None)
