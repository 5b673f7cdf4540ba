"""The calendar: week and month views of meetings and due tasks (me, my team, an officer), the private calendar
feed's settings, and the feed itself (opened by calendar apps with the secret token, no sign-in)."""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from types import SimpleNamespace

from babel.dates import format_interval, format_skeleton
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale, get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from crm.auth import access
from crm.auth.models import Team, User
from crm.core.forms import posted_int
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.errors import NotFound
from crm.extensions import csrf, db
from crm.projects.queries import shown_company_name, visible_company_ids
from crm.web import id_url, signed_in_user

from . import ical, queries, services

bp = Blueprint("calendar", __name__)

#: endpoints a calendar app opens without signing in (the secret token in the URL is the credential)
PUBLIC_ENDPOINTS = {"calendar.feed"}
VIEWS = ("week", "month")
#: a month cell lists this many items, then "+N more"
MONTH_SHOWN = 3
#: dates outside these years are not a calendar anyone browses (and would overflow date arithmetic)
YEARS = (1900, 2200)


@bp.before_request
def _staff_only():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role not in access.STAFF_ROLES:
        abort(403)
    return None



# --- whose calendar ---------------------------------------------------------------------------------------------------

@dataclass
class Scope:
    """Whose meetings and tasks the page shows: `who` is "me", "team" or a user id (as text)."""
    who: str
    user_ids: list[int]
    label: str
    team: Team | None = None
    #: the args that keep this choice in the page's links
    args: dict = field(default_factory=dict)

    @property
    def several(self) -> bool:
        return len(self.user_ids) > 1


def _active_staff():
    return select(User).where(User.is_active_user.is_(True), User.role.in_(("officer", "manager")))


def _team_scope(me: User, raw_team_id) -> Scope:
    team_id = posted_int(raw_team_id)
    if team_id is not None and (access.is_manager(me) or team_id == me.team_id):
        team = db.session.get(Team, team_id)
        if team is None:
            raise NotFound(str(_l("No such team.")))
    elif team_id is not None:
        raise NotFound(str(_l("No such team.")))  # an officer sees their own team only
    else:
        team = db.session.get(Team, me.team_id) if me.team_id else None
    if team is not None:
        ids = set(db.session.scalars(_active_staff().with_only_columns(User.id).where(User.team_id == team.id)))
        if team.id == me.team_id:
            ids.add(me.id)
        args = {"who": "team", "team_id": team.id} if team_id is not None else {"who": "team"}
        return Scope("team", sorted(ids), _("Team %(name)s", name=team.name), team, args)
    if access.is_manager(me):  # a bureau leader in no team: everyone
        ids = set(db.session.scalars(_active_staff().with_only_columns(User.id))) | {me.id}
        return Scope("team", sorted(ids), _("Everyone"), None, {"who": "team"})
    return Scope("me", [me.id], _("Me"), None, {})


def resolve_scope(me: User, args) -> Scope:
    """`who=me|team|<user id>` (and a manager's `team_id=`) → whose calendar; another team's officer is a 404 for an
    officer, anything unreadable means "me"."""
    who = str(args.get("who") or "").strip()
    if who == "team":
        return _team_scope(me, args.get("team_id"))
    user_id = posted_int(who)
    if user_id is not None and user_id != me.id:
        person = db.session.get(User, user_id)
        if person is None or person.role not in access.STAFF_ROLES or not access.can_see_tasks_of(me, person):
            raise NotFound(str(_l("No such officer.")))
        return Scope(str(person.id), [person.id], person.name, None, {"who": person.id})
    return Scope("me", [me.id], _("Me"), None, {})


@dataclass
class Choice:
    label: str
    args: dict
    active: bool
    hint: str = ""


def scope_choices(me: User, scope: Scope) -> list[list[Choice]]:
    """The "whose calendar" menu in groups: me and the teams, then the people."""
    teams, people = [Choice(_("Me"), {}, scope.who == "me")], []
    if access.is_manager(me):
        if me.team_id is None:
            teams.append(Choice(_("Everyone"), {"who": "team"}, scope.who == "team" and scope.team is None))
        for team in db.session.scalars(select(Team).order_by(Team.name)):
            teams.append(Choice(_("Team %(name)s", name=team.name), {"who": "team", "team_id": team.id},
                                scope.team is not None and scope.team.id == team.id))
        members = list(db.session.scalars(_active_staff().where(User.id != me.id).order_by(User.name)))
    else:
        if me.team_id is not None:
            teams.append(Choice(_("My team"), {"who": "team"}, scope.who == "team"))
            members = list(db.session.scalars(_active_staff().where(User.team_id == me.team_id, User.id != me.id)
                                              .order_by(User.name)))
        else:
            members = []
    team_names = dict(db.session.execute(select(Team.id, Team.name)).all()) if access.is_manager(me) else {}
    for person in members:
        people.append(Choice(person.name, {"who": person.id}, scope.who == str(person.id),
                             team_names.get(person.team_id, "")))
    return [group for group in (teams, people) if group]


# --- the days and what is on them -------------------------------------------------------------------------------------

@dataclass(slots=True)
class Entry:
    """One line on the calendar: a meeting or a due task, worked out once so the template only writes strings."""
    kind: str  # meeting or task
    id: int
    #: "09:30", "09:30–11:00" or "" for a task due on a day
    time: str
    #: the start time alone (a month cell has no room for the end)
    start: str
    title: str
    #: the company's name (or a confidential project's code name)
    subject: str
    url: str
    owner: str
    #: the hover text: the time, the title, the subject (and on a calendar of several people whose it is)
    hint: str
    #: a meeting's type (its colour)
    type: str = ""
    done: bool = False
    overdue: bool = False
    sort_key: tuple = ()


@dataclass(slots=True)
class Day:
    day: date
    label: str
    weekday: str
    entries: list[Entry]
    is_today: bool
    in_month: bool = True
    is_chosen: bool = False
    #: the day as `YYYY-MM-DD`, and its links: its week, and the month view chosen on it (a phone's day list)
    iso: str = ""
    week_url: str = ""
    chosen_url: str = ""
    #: the month cell's fixed words for the day: the day number's title, "+N more" and the phone link's label
    open_title: str = ""
    more_label: str = ""
    phone_label: str = ""
    #: the month cell lists the first MONTH_SHOWN entries, then "+N more"; the phone shows counts
    shown: list[Entry] = field(default_factory=list)
    more: int = 0
    meetings: int = 0
    tasks: int = 0
    overdue: bool = False


def parse_day(raw) -> date | None:
    """`YYYY-MM-DD` → a date, or None for anything else (garbage, far-off years)."""
    text = str(raw or "").strip()[:10]
    if len(text) != 10:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if YEARS[0] <= day.year <= YEARS[1] else None


@lru_cache(maxsize=4096)
def _skeleton(skeleton: str, day: date, locale: str) -> str:
    """A day in a Babel skeleton ("MMMd", "EEE", "yMMMM") in the locale's own pattern. Babel matches the skeleton to
    a pattern on every call (a quarter of the month view's time for its 84 labels); a day's label in a language
    never changes, so it is kept (by day and language: nothing of a user's)."""
    return format_skeleton(skeleton, day, locale=locale)


@lru_cache(maxsize=1024)
def _interval(start: date, end: date, locale: str) -> str:
    """A week's title ("Mar 10 – 16, 2025"), kept as `_skeleton` keeps a day's label."""
    return format_interval(start, end, "yMMMd", locale=locale)


class Words:
    """The page's translated words, looked up once (a month has 42 days, each with its own labels); the template
    escapes them as it escapes its own `_()`."""

    def __init__(self):
        self._t = get_translations()
        self.nothing = self._t.ugettext("Nothing planned")
        self.overdue = self._t.ugettext("overdue")
        self.done = self._t.ugettext("done")
        self._open = self._t.ugettext("Open the week of %(day)s")
        self._more = self._t.ugettext("+%(n)s more")
        self._items: dict[int, str] = {}

    def open_week(self, label: str) -> str:
        return self._open % {"day": label}

    def more(self, n: int) -> str:
        return self._more % {"n": n}

    def items(self, n: int) -> str:
        if n not in self._items:
            self._items[n] = self._t.ungettext("%(num)s item", "%(num)s items", n) % {"num": n}
        return self._items[n]


_MIDNIGHT = datetime.min.time()
_sort_key = attrgetter("sort_key")


def _entries(viewer: User, items: queries.CalendarItems, now: datetime, several: bool) -> dict[date, list[Entry]]:
    """The meetings and tasks (rows of queries.CALENDAR_MEETING and CALENDAR_TASK) by the zone's calendar day, each
    day's in order: tasks due on the day first (as a calendar's all-day row), then everything with a time. The
    subject is the company's name, or a confidential project's code name where the viewer may not see the company
    (as in the feed). The rows are unpacked in their columns' order: a row's attribute lookup by name cost more
    than the rest of this loop."""
    tz = zone()
    secret = [SimpleNamespace(company_id=r.project_company_id)
              for r in (*items.meetings, *items.tasks) if r.project_confidential]
    company_ids = visible_company_ids(viewer, secret) if secret else set()

    def subject(company_name, project_id, confidential, code_name, project_company_id) -> str:
        return shown_company_name(company_name, project_id=project_id, confidential=confidential,
                                  code_name=code_name, company_visible=project_company_id in company_ids)

    def hint(time: str, title: str, shown: str, owner: str) -> str:
        return (f"{time} " if time else "") + title + (f" · {shown}" if shown else "") + \
            (f" · {owner}" if several else "")

    labels = ical.meeting_type_labels()
    meeting_url = id_url("meetings.show", "meeting_id")
    task_urls: dict[int, str] = {}
    days: dict[date, list[Entry]] = {}
    for (meeting_id, kind, start_at, end_at, _owner_id, _company_id, project_id, company_name, confidential,
         code_name, project_company_id, owner_name) in items.meetings:
        start = as_aware(start_at).astimezone(tz)
        begins = time = start.strftime("%H:%M")
        if end_at:
            end = as_aware(end_at).astimezone(tz)
            if end.date() == start.date():
                time += end.strftime("–%H:%M")
        title = labels.get(kind, kind)
        shown = subject(company_name, project_id, confidential, code_name, project_company_id)
        days.setdefault(start.date(), []).append(Entry(
            "meeting", meeting_id, time, begins, title, shown, meeting_url.replace("{id}", str(meeting_id)),
            owner_name, hint(time, title, shown, owner_name), kind, sort_key=(1, start.time(), 0, meeting_id)))
    for task in items.tasks:
        (task_id, title, due_on, due_at, done_at, owner_id, _company_id, project_id, company_name, confidential,
         code_name, project_company_id, owner_name) = task
        if owner_id not in task_urls:  # the owner's "my tasks" page
            task_urls[owner_id] = url_for("meetings.tasks", owner_id=owner_id if owner_id != viewer.id else None)
        if due_at is not None:
            at = as_aware(due_at).astimezone(tz)
            time, sort_key = at.strftime("%H:%M"), (1, at.time(), 1, task_id)
        else:
            time, sort_key = "", (0, _MIDNIGHT, 0, task_id)
        done = done_at is not None
        shown = subject(company_name, project_id, confidential, code_name, project_company_id)
        days.setdefault(due_on, []).append(Entry(
            "task", task_id, time, time, title, shown, task_urls[owner_id], owner_name,
            hint(time, title, shown, owner_name), "", done, not done and services.is_overdue(task, now=now),
            sort_key))
    for entries in days.values():
        entries.sort(key=_sort_key)
    return days


#: the date `_day_url` builds a URL with, then replaces (no date, so no other argument holds it)
_DATE_MARK = "9999-99-99"


def _day_url(view: str, args: dict, anchor: str | None = None) -> str:
    """The calendar's URL with "{date}" where the day goes (42 days, three links each: one `url_for`)."""
    return url_for("calendar.index", view=view, date=_DATE_MARK, _anchor=anchor, **args).replace(_DATE_MARK, "{date}")


@dataclass
class CalendarPage:
    view: str
    day: date
    start: date
    end: date
    title: str
    days: list[Day]
    weekdays: list[str]
    prev_day: date
    next_day: date
    #: the month view's chosen day (its list shows below the grid on a phone)
    chosen: Day | None
    capped: bool
    words: Words | None = None


def calendar_page(viewer: User, scope: Scope, view: str, day: date, *, now: datetime | None = None) -> CalendarPage:
    now = now or utcnow()
    today = now.astimezone(zone()).date()
    locale = str(get_locale())
    if view == "month":
        first = day.replace(day=1)
        start = first - timedelta(days=first.weekday())
        end = start + timedelta(days=42)
        prev_day = (first - timedelta(days=1)).replace(day=1)
        next_day = (first + timedelta(days=32)).replace(day=1)
        title = _skeleton("yMMMM", first, locale)
    else:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        prev_day, next_day = start - timedelta(days=7), start + timedelta(days=7)
        title = _interval(start, end - timedelta(days=1), locale)
    items = queries.calendar_items(viewer, scope.user_ids, start, end, columns=True)
    entries = _entries(viewer, items, now, scope.several)
    words = Words()
    month = day.month if view == "month" else None
    week_url, chosen_url = _day_url("week", scope.args), _day_url(view, scope.args, "chosen-day")
    days = []
    for n in range((end - start).days):
        d = start + timedelta(days=n)
        listed = entries.get(d, [])
        label, weekday, iso = _skeleton("MMMd", d, locale), _skeleton("EEE", d, locale), d.isoformat()
        tasks = sum(1 for e in listed if e.kind == "task")
        more = max(0, len(listed) - MONTH_SHOWN)
        days.append(Day(
            d, label, weekday, listed, d == today, month is None or d.month == month, view == "month" and d == day,
            iso, week_url.replace("{date}", iso), chosen_url.replace("{date}", iso), words.open_week(label),
            words.more(more) if more else "", f"{weekday} {label}: {words.items(len(listed))}",
            listed[:MONTH_SHOWN], more, len(listed) - tasks, tasks, any(e.overdue for e in listed)))
    weekdays = [d.weekday for d in days[:7]]
    chosen = next((d for d in days if d.is_chosen), None)
    capped = queries.CALENDAR_LIMIT in (len(items.meetings), len(items.tasks))
    return CalendarPage(view, day, start, end, title, days, weekdays, prev_day, next_day, chosen, capped, words)


@bp.route("/calendar")
def index():
    me = signed_in_user()
    scope = resolve_scope(me, request.args)
    view = request.args.get("view") if request.args.get("view") in VIEWS else "week"
    day = parse_day(request.args.get("date")) or today_in_zone()
    page = calendar_page(me, scope, view, day)
    return render_template("calendar/index.html", page=page, scope=scope, choices=scope_choices(me, scope))


# --- the private feed ------------------------------------------------------------------------------------------------

@bp.route("/calendar/feed", methods=["GET", "POST"])
def feed_settings():
    me = signed_in_user()
    url, status = None, 200
    if request.method == "POST":
        action = request.form.get("action")
        if action == "create":
            url = ical.absolute("calendar.feed", token=ical.new_feed_token(me))
        elif action == "revoke":
            if ical.revoke_feed(me):
                flash(_("The calendar feed URL is revoked: calendars subscribed to it get no more updates."),
                      "success")
            return redirect(url_for("calendar.feed_settings"))
        else:
            status = 400
    row = ical.feed_session(me)
    used = None
    if row is not None and as_aware(row.last_seen_at) - as_aware(row.created_at) > timedelta(seconds=1):
        used = row.last_seen_at
    # webcal:// opens the phone's or the Mac's calendar app straight on its "subscribe" screen
    webcal = "webcal://" + url.split("://", 1)[1] if url else None
    return render_template("calendar/feed.html", feed=row, used=used, url=url, webcal=webcal,
                           bad_action=status == 400), status


def _no_feed() -> Response:
    """The same bare 404 for an unknown, revoked or replaced token and a deactivated user: nothing to tell apart,
    and no error page (which would start a session)."""
    return Response("Not found\n", status=404, content_type="text/plain; charset=utf-8")


@bp.route("/calendar/feed/<token>.ics")
@csrf.exempt
def feed(token: str):
    user = ical.feed_user(token)
    if user is None:
        return _no_feed()
    items = queries.feed_items(user)
    languages = current_app.config["CRM_LANGUAGES"]
    with force_locale(user.locale if user.locale in languages else current_app.config["BABEL_DEFAULT_LOCALE"]):
        feed_ics = ical.feed_ics(user, items.meetings, items.tasks)
    response = Response(feed_ics.body, content_type="text/calendar; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
    # calendar apps poll every hour and mostly find nothing changed: one that sends the ETag back gets 304
    response.set_etag(feed_ics.etag, weak=True)
    return response.make_conditional(request)
