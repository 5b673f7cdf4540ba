"""iCalendar (RFC 5545) out: one meeting as an .ics file, and each user's private calendar feed (a secret URL that
Outlook, Apple Calendar and phone calendars subscribe to; revocable). Built with the `icalendar` library; times
carry the zone's time zone (with its VTIMEZONE)."""
from datetime import datetime, timedelta
from urllib.parse import urljoin

from flask import current_app, request, url_for
from flask_babel import gettext as _
from icalendar import Calendar, Event
from sqlalchemy import select, update

from crm.audit import services as audit
from crm.auth import services as auth
from crm.auth.models import User, UserSession
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db
from crm.projects.queries import shown_name, visible_company_ids

from .models import Meeting, Task

FEED_KIND = "feed"
#: a meeting with no end shows as this long
DEFAULT_LENGTH = timedelta(hours=1)


def meeting_type_label(key: str) -> str:
    return {"visit": _("Visit"), "negotiation": _("Negotiation"), "inbound_visit": _("Inbound site visit"),
            "call": _("Call"), "event": _("Event meeting")}.get(key, key)


def absolute(endpoint: str, **values) -> str:
    """A link to this site that works outside it (in a calendar app): PUBLIC_BASE_URL when set, else the
    request's own host (which the host check has already accepted)."""
    path = url_for(endpoint, **values)
    base = current_app.config.get("PUBLIC_BASE_URL") or (request.host_url if request else "")
    return urljoin(base, path)


def _host() -> str:
    base = current_app.config.get("PUBLIC_BASE_URL") or (request.host_url if request else "") or "crm.local"
    return base.split("//")[-1].strip("/").split("/")[0] or "crm.local"


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Investment CRM//zh-Hans//")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", str(zone()))
    return cal


def _meeting_event(meeting: Meeting, company_name: str, stamp: datetime) -> Event:
    start = as_aware(meeting.start_at).astimezone(zone())
    end = as_aware(meeting.end_at).astimezone(zone()) if meeting.end_at else start + DEFAULT_LENGTH
    event = Event()
    event.add("uid", f"meeting-{meeting.id}@{_host()}")
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"{meeting_type_label(meeting.type)} · {company_name}")
    location = " ".join(part for part in (meeting.city, meeting.place) if part)
    if location:
        event.add("location", location)
    lines = [text for text in (meeting.summary, meeting.next_step and f"{_('Next step')}: {meeting.next_step}")
             if text]
    if lines:
        event.add("description", "\n\n".join(lines))
    event.add("url", absolute("meetings.show", meeting_id=meeting.id))
    event.add("sequence", meeting.version)
    event.add("last-modified", as_aware(meeting.updated_at))
    return event


def _task_event(task: Task, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"task-{task.id}@{_host()}")
    event.add("dtstamp", stamp)
    if task.due_at is not None:
        due = as_aware(task.due_at).astimezone(zone())
        event.add("dtstart", due)
        event.add("dtend", due + timedelta(minutes=30))
    else:  # an all-day event on its day
        event.add("dtstart", task.due_on)
        event.add("dtend", task.due_on + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    event.add("summary", f"{_('To do')}: {task.title}")
    if task.notes:
        event.add("description", task.notes)
    event.add("url", absolute("meetings.tasks", owner_id=task.owner_id))
    event.add("sequence", task.version)
    return event


def _company_names(viewer: User, meetings: list[Meeting]) -> dict[int, str]:
    """Meeting id → the company's name, or a confidential project's code name where the viewer may not see it."""
    projects = [m.project for m in meetings if m.project is not None]
    company_ids = visible_company_ids(viewer, projects) | {m.company_id for m in meetings if m.project is None}
    return {m.id: (shown_name(m.project, company_ids) if m.project is not None else m.company.name)
            for m in meetings}


def meeting_ics(viewer: User, meeting: Meeting) -> bytes:
    """One meeting as an .ics file (to add to a calendar by hand)."""
    cal = _calendar(_("Meeting"))
    cal.add_component(_meeting_event(meeting, _company_names(viewer, [meeting])[meeting.id], utcnow()))
    cal.add_missing_timezones()
    return cal.to_ical()


def feed_ics(user: User, meetings: list[Meeting], tasks: list[Task]) -> bytes:
    """A user's feed: their meetings and open tasks."""
    stamp = utcnow()
    cal = _calendar(_("%(name)s · investment CRM", name=user.name))
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    names = _company_names(user, meetings)
    for meeting in meetings:
        cal.add_component(_meeting_event(meeting, names[meeting.id], stamp))
    for task in tasks:
        cal.add_component(_task_event(task, stamp))
    cal.add_missing_timezones()
    return cal.to_ical()


# --- the feed's secret token -----------------------------------------------------------------------------------------

def feed_session(user: User) -> UserSession | None:
    """The user's live feed token row (only its hash is stored), if any."""
    return db.session.scalar(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.kind == FEED_KIND, UserSession.revoked_at.is_(None),
        UserSession.expires_at > utcnow()).order_by(UserSession.id.desc()).limit(1))


def revoke_feed(user: User) -> int:
    """End the user's feed URL: a calendar subscribed to it gets 404 from now on."""
    revoked = db.session.execute(update(UserSession).where(
        UserSession.user_id == user.id, UserSession.kind == FEED_KIND, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount
    if revoked:
        audit.record("feed_revoked", actor=user, obj=user, object_type="user")
    db.session.commit()
    return revoked


def new_feed_token(user: User) -> str:
    """A new secret feed token for the user (the old URL stops working); shown once, stored as a hash."""
    revoke_feed(user)
    signed_in_with = user.current_session_token  # start_session sets it; the browser's session must stay its own
    audit.record("feed_created", actor=user, obj=user, object_type="user")
    token = auth.start_session(user, kind=FEED_KIND)  # commits the audit event with the token
    user.current_session_token = signed_in_with
    return token


def feed_user(token: str) -> User | None:
    """Whose feed a token opens, or None (unknown, revoked, expired or a deactivated user)."""
    if not token or len(token) > 100:
        return None
    return auth.load_session(token, kind=FEED_KIND)
