"""The calendar: week and month views of meetings and due tasks (me, my team, an officer), the private calendar
feed's settings, and the feed itself (opened by calendar apps with the secret token, no sign-in)."""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from babel.dates import format_interval, format_skeleton
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from crm.auth import access
from crm.auth.models import Team, User
from crm.core.forms import posted_int
from crm.core.timeutil import as_aware, to_zone, today_in_zone, utcnow, zone
from crm.errors import NotFound
from crm.extensions import csrf, db
from crm.projects.queries import visible_company_ids
from crm.web import signed_in_user

from . import ical, queries, services
from .models import Meeting

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

@dataclass
class Entry:
    """One line on the calendar: a meeting or a due task."""
    kind: str  # meeting or task
    #: "09:30", "09:30–11:00" or "" for a task due on a day
    time: str
    title: str
    #: the company's name (or a confidential project's code name)
    subject: str
    url: str
    classes: str
    owner: str
    record: object
    sort_key: tuple = ()

    @property
    def start(self) -> str:
        """The start time alone (a month cell has no room for the end)."""
        return self.time.split("–")[0]


@dataclass
class Day:
    day: date
    label: str
    weekday: str
    entries: list[Entry]
    is_today: bool
    in_month: bool = True

    @property
    def shown(self) -> list[Entry]:
        return self.entries[:MONTH_SHOWN]

    @property
    def more(self) -> int:
        return max(0, len(self.entries) - MONTH_SHOWN)

    @property
    def meetings(self) -> int:
        return sum(1 for e in self.entries if e.kind == "meeting")

    @property
    def tasks(self) -> int:
        return sum(1 for e in self.entries if e.kind == "task")

    @property
    def overdue(self) -> bool:
        return any("is-overdue" in e.classes for e in self.entries)


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


def _shown_names(viewer: User, records) -> dict[tuple[str, int], str]:
    """(kind, id) → the company's name, or a confidential project's code name where the viewer may not see the
    company (as in the feed)."""
    secret = [r.project for r in records if r.project is not None and r.project.confidential]
    company_ids = visible_company_ids(viewer, secret) if secret else set()
    names = {}
    for record in records:
        kind = "meeting" if isinstance(record, Meeting) else "task"
        project = record.project
        if project is not None and project.confidential and project.company_id not in company_ids:
            names[(kind, record.id)] = project.code_name or f"#{project.id}"
        else:
            names[(kind, record.id)] = record.company.name if record.company is not None else ""
    return names


def _hm(value: datetime) -> str:
    return to_zone(value).strftime("%H:%M")


def _entries(viewer: User, items: queries.CalendarItems, now: datetime) -> dict[date, list[Entry]]:
    """The meetings and tasks by the zone's calendar day, each day's in order: tasks due on the day first (as a
    calendar's all-day row), then everything with a time."""
    names = _shown_names(viewer, [*items.meetings, *items.tasks])
    labels: dict[str, str] = {}
    task_urls: dict[int, str] = {}
    days: dict[date, list[Entry]] = {}
    for m in items.meetings:
        start = to_zone(m.start_at)
        time = _hm(m.start_at) + (f"–{_hm(m.end_at)}" if m.end_at and to_zone(m.end_at).date() == start.date()
                                  else "")
        if m.type not in labels:
            labels[m.type] = ical.meeting_type_label(m.type)
        days.setdefault(start.date(), []).append(Entry(
            "meeting", time, labels[m.type], names[("meeting", m.id)],
            url_for("meetings.show", meeting_id=m.id), f"cal-entry type-{m.type}", m.owner.name, m,
            (1, start.time(), 0, m.id)))
    for t in items.tasks:
        classes = ["cal-entry", "cal-task"]
        if t.done_at is not None:
            classes.append("is-done")
        elif services.is_overdue(t, now=now):
            classes.append("is-overdue")
        at = to_zone(t.due_at).time() if t.due_at is not None else None
        if t.owner_id not in task_urls:  # the owner's "my tasks" page
            task_urls[t.owner_id] = url_for("meetings.tasks", owner_id=t.owner_id if t.owner_id != viewer.id else None)
        tasks_url = task_urls[t.owner_id]
        days.setdefault(t.due_on, []).append(Entry(
            "task", _hm(t.due_at) if t.due_at is not None else "", t.title, names[("task", t.id)], tasks_url,
            " ".join(classes), t.owner.name, t, (0, datetime.min.time(), 0, t.id) if at is None else (1, at, 1, t.id)))
    for entries in days.values():
        entries.sort(key=lambda e: e.sort_key)
    return days


def _day(day: date, entries: dict, today: date, locale, month: int | None = None) -> Day:
    return Day(day, format_skeleton("MMMd", day, locale=locale), format_skeleton("EEE", day, locale=locale),
               entries.get(day, []), day == today, month is None or day.month == month)


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


def calendar_page(viewer: User, scope: Scope, view: str, day: date, *, now: datetime | None = None) -> CalendarPage:
    now = now or utcnow()
    today = now.astimezone(zone()).date()
    locale = get_locale()
    if view == "month":
        first = day.replace(day=1)
        start = first - timedelta(days=first.weekday())
        end = start + timedelta(days=42)
        prev_day = (first - timedelta(days=1)).replace(day=1)
        next_day = (first + timedelta(days=32)).replace(day=1)
        title = format_skeleton("yMMMM", first, locale=locale)
    else:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        prev_day, next_day = start - timedelta(days=7), start + timedelta(days=7)
        title = format_interval(start, end - timedelta(days=1), "yMMMd", locale=locale)
    items = queries.calendar_items(viewer, scope.user_ids, start, end)
    entries = _entries(viewer, items, now)
    month = day.month if view == "month" else None
    days = [_day(start + timedelta(days=n), entries, today, locale, month) for n in range((end - start).days)]
    weekdays = [d.weekday for d in days[:7]]
    chosen = next((d for d in days if d.day == day), None) if view == "month" else None
    capped = queries.CALENDAR_LIMIT in (len(items.meetings), len(items.tasks))
    return CalendarPage(view, day, start, end, title, days, weekdays, prev_day, next_day, chosen, capped)


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
        body = ical.feed_ics(user, items.meetings, items.tasks)
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
    return response
