"""iCalendar (RFC 5545) out: one meeting as an .ics file, and each user's private calendar feed (a secret URL that
Outlook, Apple Calendar and phone calendars subscribe to; revocable). Times carry the zone's time zone, with its
VTIMEZONE.

The `icalendar` library builds the VTIMEZONE (once per process); the calendar and its events are written here as
content lines, byte for byte as the library writes them (its property order, TEXT escaping and line folding; the
tests compare the two). Through the library's objects an event costs about 0.35 ms, and a feed carries a year of
meetings and tasks: hundreds of events on every poll."""
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from typing import NamedTuple
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from flask import current_app, request, url_for
from icalendar import Timezone, vDDDTypes
from sqlalchemy import select, update

from crm.audit import services as audit
from crm.auth import services as auth
from crm.auth.models import User, UserSession
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db
from crm.i18n import gettext as _
from crm.projects.queries import shown_name, visible_company_ids
from crm.web import id_url

from .models import Meeting, Task

FEED_KIND = "feed"
#: a meeting with no end shows as this long
DEFAULT_LENGTH = timedelta(hours=1)
#: a task with a due time shows as this long
TASK_LENGTH = timedelta(minutes=30)
ONE_DAY = timedelta(days=1)
PRODID = "-//Investment CRM//zh-Hans//"
#: how often a subscribed calendar should fetch the feed again (RFC 7986 and Outlook's own property)
REFRESH = "PT1H"


def meeting_type_labels() -> dict[str, str]:
    """The meeting types' names in the current language: a list or the feed translates them once, not per row."""
    return {"visit": _("Visit"), "negotiation": _("Negotiation"), "inbound_visit": _("Inbound site visit"),
            "call": _("Call"), "event": _("Event meeting")}


def meeting_type_label(key: str) -> str:
    return meeting_type_labels().get(key, key)


def _base() -> str:
    return current_app.config.get("PUBLIC_BASE_URL") or (request.host_url if request else "")


def absolute(endpoint: str, **values) -> str:
    """A link to this site that works outside it (in a calendar app): PUBLIC_BASE_URL when set, else the
    request's own host (which the host check has already accepted)."""
    return urljoin(_base(), url_for(endpoint, **values))


def _host() -> str:
    base = _base() or "crm.local"
    return base.split("//")[-1].strip("/").split("/")[0] or "crm.local"


# --- writing content lines -------------------------------------------------------------------------------------------

def _text(value: str) -> str:
    """A TEXT value escaped (RFC 5545 3.3.11) as the library escapes it: a literal "\\N" and every line break (CRLF,
    LF or a lone CR, which would otherwise start a line of its own) become "\\n"; backslash, ";" and "," get a
    backslash."""
    return (value.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


#: the most octets on one line of a folded content line (the library folds before the 75th)
_FOLD_AT = 74


def _fold(line: str) -> str:
    """A content line folded as the library folds it (RFC 5545 3.1): pieces of at most 74 octets, a character never
    split, and a piece that would end in a backslash or caret leaves it to the next one (clients misread an escape
    cut by a fold)."""
    if len(line) <= _FOLD_AT and line.isascii():
        return line
    data = line.encode()
    if len(data) <= _FOLD_AT:
        return line
    pieces, start = [], 0
    while len(data) - start > _FOLD_AT:
        cut = start + _FOLD_AT
        while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the character starts before the cut
            cut -= 1
        if data[cut - 1] in b"\\^" and cut - 1 > start:
            cut -= 1
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return b"\r\n ".join(pieces).decode()


def _lines(lines: list[str]) -> str:
    return "".join(_fold(line) + "\r\n" for line in lines)


def _event(lines: list[str]) -> str:
    """A VEVENT of content lines already folded."""
    return "BEGIN:VEVENT\r\n" + "\r\n".join(lines) + "\r\nEND:VEVENT\r\n"


def _digits(value: date) -> str:
    return f"{value.year:04}{value.month:02}{value.day:02}"


def _utc(value: datetime) -> str:
    """A UTC DATE-TIME (as DTSTAMP and LAST-MODIFIED must be)."""
    value = as_aware(value).astimezone(UTC)
    return f"{_digits(value)}T{value.hour:02}{value.minute:02}{value.second:02}Z"


@cache
def _zone_parts(key: str) -> tuple[str, str, str]:
    """How a time in this zone is written, as the library writes it: (what goes between the property's name and the
    time, what follows the time, the zone's VTIMEZONE): ";TZID=Asia/Shanghai:", "" and the VTIMEZONE; for UTC ":",
    "Z" and none. Once per process: the library takes 30 ms to build a VTIMEZONE from the time zone database (it
    covers 1970 to 2038 whatever the events)."""
    tzid = vDDDTypes(datetime(2000, 1, 1, tzinfo=ZoneInfo(key))).params.get("TZID")
    if not tzid:
        return ":", "Z", ""
    try:
        vtimezone = Timezone.from_tzid(tzid).to_ical().decode()
    except ValueError:  # a zone the library cannot describe goes without (as `add_missing_timezones` leaves it)
        vtimezone = ""
    return f";TZID={tzid}:", "", vtimezone


class _Shared(NamedTuple):
    """What the events of one calendar are written with besides their own records: the zone, the DTSTAMP line, the
    host in the UIDs, the translated words and the meeting links (from one url_for: the part before the id and the
    part after it)."""
    zone: ZoneInfo
    before: str
    after: str
    stamp_line: str
    host: str
    next_step: str
    to_do: str
    meeting_url: tuple[str, str]


def _at(shared: _Shared, value: datetime) -> str:
    """A time in the zone, after the property's name."""
    return f"{shared.before}{_digits(value)}T{value.hour:02}{value.minute:02}{value.second:02}{shared.after}"


# An event's text is a function of its arguments alone (hashable values: the record's columns as read, the words and
# names it shows, `_Shared`), so the feed keeps it per process under all of them: a feed polled again writes only the
# events whose record, shown name or wording changed, and a kept text can never be out of date or another calendar's
# (any changed value is another key). The feed's DTSTAMP line is a stand-in, filled in on the whole body, so the time
# is no part of the key. Only the lines with text or a link in them can reach 75 octets and are folded; the rest are
# short by their format (a TZID is at most about 30 characters).

#: how many events each process keeps (about 1.5 KB each with their keys: 15 to 20 MB at most); the least recently
#: used go first
MEETINGS_KEPT, TASKS_KEPT = 10_000, 2_500


@lru_cache(maxsize=MEETINGS_KEPT)
def _meeting_event(shared: _Shared, meeting_id: int, version: int, label: str, company_name: str,
                   start_at: datetime, end_at: datetime | None, summary: str, next_step: str, city: str, place: str,
                   updated_at: datetime) -> str:
    start = as_aware(start_at).astimezone(shared.zone)
    end = as_aware(end_at).astimezone(shared.zone) if end_at else start + DEFAULT_LENGTH
    lines = [_fold(f"SUMMARY:{_text(f'{label} · {company_name}')}"), f"DTSTART{_at(shared, start)}",
             f"DTEND{_at(shared, end)}", shared.stamp_line, _fold(f"UID:meeting-{meeting_id}@{shared.host}"),
             f"SEQUENCE:{int(version)}"]
    if next_step:
        description = f"{summary}\n\n{shared.next_step}: {next_step}" if summary else \
            f"{shared.next_step}: {next_step}"
    else:
        description = summary
    if description:
        lines.append(_fold(f"DESCRIPTION:{_text(description)}"))
    lines.append(f"LAST-MODIFIED:{_utc(updated_at)}")
    location = f"{city} {place}" if city and place else city or place
    if location:
        lines.append(_fold(f"LOCATION:{_text(location)}"))
    head, tail = shared.meeting_url
    lines.append(_fold(f"URL:{head}{meeting_id}{tail}"))
    return _event(lines)


@lru_cache(maxsize=TASKS_KEPT)
def _task_event(shared: _Shared, task_id: int, version: int, title: str, notes: str, due_on: date,
                due_at: datetime | None, url: str) -> str:
    lines = [_fold(f"SUMMARY:{_text(f'{shared.to_do}: {title}')}")]
    if due_at is not None:
        due = as_aware(due_at).astimezone(shared.zone)
        lines += [f"DTSTART{_at(shared, due)}", f"DTEND{_at(shared, due + TASK_LENGTH)}"]
    else:  # an all-day event on its day
        lines += [f"DTSTART;VALUE=DATE:{_digits(due_on)}", f"DTEND;VALUE=DATE:{_digits(due_on + ONE_DAY)}"]
    lines += [shared.stamp_line, _fold(f"UID:task-{task_id}@{shared.host}"), f"SEQUENCE:{int(version)}"]
    if notes:
        lines.append(_fold(f"DESCRIPTION:{_text(notes)}"))
    if due_at is None:
        lines.append("TRANSP:TRANSPARENT")
    lines.append(_fold(f"URL:{url}"))
    return _event(lines)


class _Writer:
    """One calendar's events, written with what they share (worked out once)."""

    def __init__(self, stamp_line: str, *, keep: bool = True):
        tz = zone()
        before, after, self.vtimezone = _zone_parts(tz.key)
        self.shared = _Shared(tz, before, after, stamp_line, _text(_host()), _("Next step"), _("To do"),
                              urljoin(_base(), id_url("meetings.show", "meeting_id")).rpartition("{id}")[::2])
        self.types = meeting_type_labels()
        self.task_urls: dict[int, str] = {}
        #: whether an event has a time in the zone (the calendar then carries the zone's VTIMEZONE)
        self.zoned = False
        # with a DTSTAMP of now (a single meeting's file) every key would be new: not worth keeping
        self.meeting_event = _meeting_event if keep else _meeting_event.__wrapped__
        self.task_event = _task_event if keep else _task_event.__wrapped__

    def meeting(self, meeting: Meeting, company_name: str) -> str:
        self.zoned = True
        kind = meeting.type
        return self.meeting_event(self.shared, meeting.id, meeting.version, self.types.get(kind, kind), company_name,
                                  meeting.start_at, meeting.end_at, meeting.summary, meeting.next_step, meeting.city,
                                  meeting.place, meeting.updated_at)

    def task(self, task: Task) -> str:
        due_at, owner_id = task.due_at, task.owner_id
        if due_at is not None:
            self.zoned = True
        url = self.task_urls.get(owner_id)
        if url is None:
            url = self.task_urls[owner_id] = absolute("meetings.tasks", owner_id=owner_id)
        return self.task_event(self.shared, task.id, task.version, task.title, task.notes, task.due_on, due_at, url)

    def calendar(self, name: str, events: list[str], *, feed: bool = False) -> str:
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{_text(PRODID)}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
                 f"X-WR-CALNAME:{_text(name)}"]
        if feed:
            lines += [f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}", f"X-PUBLISHED-TTL:{REFRESH}"]
        lines.append(f"X-WR-TIMEZONE:{_text(self.shared.zone.key)}")
        return f"{_lines(lines)}{self.vtimezone if self.zoned else ''}{''.join(events)}END:VCALENDAR\r\n"


def _stamp_line(stamp: datetime) -> str:
    """DTSTAMP: with METHOD:PUBLISH, when this copy of the calendar was made (RFC 5545 3.8.7.2), so now."""
    return f"DTSTAMP:{_utc(stamp)}"


def _company_names(viewer: User, meetings: list[Meeting]) -> dict[int, str]:
    """Meeting id → the company's name, or a confidential project's code name where the viewer may not see it."""
    projects = [m.project for m in meetings if m.project is not None]
    company_ids = visible_company_ids(viewer, projects) | {m.company_id for m in meetings if m.project is None}
    return {m.id: (shown_name(m.project, company_ids) if m.project is not None else m.company.name)
            for m in meetings}


def meeting_ics(viewer: User, meeting: Meeting) -> bytes:
    """One meeting as an .ics file (to add to a calendar by hand)."""
    writer = _Writer(_stamp_line(utcnow()), keep=False)
    event = writer.meeting(meeting, _company_names(viewer, [meeting])[meeting.id])
    return writer.calendar(_("Meeting"), [event]).encode()


@dataclass
class FeedIcs:
    body: bytes
    #: a weak ETag: the same for two bodies that differ only in their DTSTAMP (the time each copy was made), so a
    #: calendar app that asks again with If-None-Match gets 304 while nothing in the feed changed
    etag: str


#: the DTSTAMP line while the ETag is worked out (a whole line: escaped TEXT cannot contain a line break, and a fold
#: continues with a space)
_NO_STAMP = "\r\nDTSTAMP:-\r\n"


def feed_ics(user: User, meetings: list[Meeting], tasks: list[Task]) -> FeedIcs:
    """A user's feed: their meetings and open tasks."""
    writer = _Writer(_NO_STAMP.strip())
    names = _company_names(user, meetings)
    events = [writer.meeting(meeting, names[meeting.id]) for meeting in meetings]
    events += [writer.task(task) for task in tasks]
    text = writer.calendar(_("%(name)s · investment CRM", name=user.name), events, feed=True)
    etag = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    body = text.replace(_NO_STAMP, f"\r\n{_stamp_line(utcnow())}\r\n")
    return FeedIcs(body.encode(), etag)


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
