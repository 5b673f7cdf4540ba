"""The calendar: week and month pages for me / my team / an officer, and the private iCalendar feed (created,
read by a calendar app without signing in, revoked, replaced)."""
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from bs4 import BeautifulSoup
from icalendar import Calendar
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.meetings import queries
from crm.meetings.models import Meeting, MeetingUser, Task

from ..factories import login, make_company, make_project, make_team, make_user
from ..security.helpers import client_for

#: Wednesday 2025-03-12, noon in Beijing: the week shown by default is Monday 03-10 to Sunday 03-16
NOW = datetime(2025, 3, 12, 4, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _meeting(owner, company, at, *, project=None, type="visit", end=None, took_part=(), **extra) -> Meeting:
    meeting = Meeting(type=type, start_at=at, end_at=end, company_id=company.id,
                      project_id=project.id if project else None, owner_id=owner.id, **extra)
    db.session.add(meeting)
    db.session.flush()
    for user in took_part:
        db.session.add(MeetingUser(meeting_id=meeting.id, user_id=user.id))
    db.session.commit()
    return meeting


def _task(owner, title, due_on, *, due_at=None, company=None, project=None, done=False) -> Task:
    task = Task(title=title, due_on=due_on, due_at=due_at, owner_id=owner.id,
                company_id=company.id if company else None, project_id=project.id if project else None,
                done_at=NOW - timedelta(hours=1) if done else None)
    db.session.add(task)
    db.session.commit()
    return task


def _world() -> SimpleNamespace:
    """Team 1: officers a and a2; team 2: officer b; a manager in no team. b's confidential project 白鹭."""
    w = SimpleNamespace()
    w.team1, w.team2 = make_team("一组"), make_team("二组")
    w.a = make_user("officer", team=w.team1, name="王一", locale="en")
    w.a2 = make_user("officer", team=w.team1, name="王二", locale="en")
    w.b = make_user("officer", team=w.team2, name="李三", locale="en")
    w.manager = make_user("manager", name="赵局", locale="en")
    w.liaison = make_user("liaison", name="联络员", department="natural_resources", locale="en")
    w.company_a = make_company("一组东莞宏达电子有限公司", owner=w.a)
    w.company_b = make_company("二组深圳华信电子有限公司", owner=w.b)
    w.secret = make_project(w.company_b, owner=w.b, name="二组机密项目", confidential=True, code_name="白鹭")
    # 16:30 UTC on Sunday 03-09 is 00:30 on Monday 03-10 in Beijing
    w.midnight = _meeting(w.a, w.company_a, datetime(2025, 3, 9, 16, 30, tzinfo=UTC), place="宏达总部",
                          summary="拜访 <b>总经理</b>")
    w.a2_meeting = _meeting(w.a2, w.company_a, datetime(2025, 3, 12, 2, 0, tzinfo=UTC), type="negotiation",
                            end=datetime(2025, 3, 12, 3, 30, tzinfo=UTC))
    # b's meeting that a took part in (an ordinary one): on a's own calendar
    w.joined = _meeting(w.b, w.company_b, datetime(2025, 3, 13, 6, 0, tzinfo=UTC), type="inbound_visit",
                        took_part=[w.a])
    # b's confidential meeting that a2 took part in: a2 sees it (under the code name), the rest of team 1 does not
    w.secret_meeting = _meeting(w.b, w.company_b, datetime(2025, 3, 11, 3, 0, tzinfo=UTC), project=w.secret,
                                type="negotiation", took_part=[w.a2], summary="机密谈判")
    w.last_week = _meeting(w.a, w.company_a, datetime(2025, 3, 7, 2, 0, tzinfo=UTC))
    w.overdue = _task(w.a, "寄送投资协议", date(2025, 3, 11), company=w.company_a)
    w.done = _task(w.a, "已完成的回访", date(2025, 3, 11), company=w.company_a, done=True)
    w.timed = _task(w.a, "电话确认用地", date(2025, 3, 12), due_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC))
    w.a2_task = _task(w.a2, "王二的待办", date(2025, 3, 14), company=w.company_a)
    w.b_task = _task(w.b, "二组机密待办", date(2025, 3, 12), company=w.company_b, project=w.secret)
    return w


def _soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _ids(soup, kind: str, day: str | None = None) -> set[int]:
    scope = soup.select_one(f'[data-date="{day}"]') if day else soup
    return {int(li["data-id"]) for li in scope.select(f'li[data-test="{kind}"]')}


def _entry(soup, kind: str, record_id: int):
    return soup.select_one(f'li[data-test="{kind}"][data-id="{record_id}"]')


# --- the week and the month ------------------------------------------------------------------------------------------

def test_week_shows_my_meetings_and_tasks_in_beijing_days(app, clock):
    w = _world()
    soup = _soup(client_for(app, w.a).get("/calendar"))
    days = [s["data-date"] for s in soup.select(".cal-week .cal-day")]
    assert days == [f"2025-03-{d}" for d in range(10, 17)]  # Monday to Sunday
    assert soup.select_one(".cal-day.is-today")["data-date"] == "2025-03-12"
    # the 16:30 UTC meeting of Sunday is on Monday, at 00:30
    assert _ids(soup, "meeting", "2025-03-10") == {w.midnight.id}
    monday = _entry(soup, "meeting", w.midnight.id)
    assert monday.select_one(".cal-time").get_text() == "00:30"
    assert monday.a["href"] == f"/meetings/{w.midnight.id}"
    assert w.company_a.name in monday.get_text()
    # mine and the ones I took part in; not my teammate's, not last week's
    assert _ids(soup, "meeting") == {w.midnight.id, w.joined.id}
    assert _ids(soup, "meeting", "2025-03-13") == {w.joined.id}
    assert _ids(soup, "task") == {w.overdue.id, w.done.id, w.timed.id}
    assert "is-overdue" in _entry(soup, "task", w.overdue.id)["class"]
    assert "is-done" in _entry(soup, "task", w.done.id)["class"]
    assert "is-overdue" not in _entry(soup, "task", w.done.id)["class"]
    timed = _entry(soup, "task", w.timed.id)
    assert timed.select_one(".cal-time").get_text() == "17:00" and "is-overdue" not in timed["class"]
    assert timed.a["href"] == "/tasks"
    assert soup.select_one('[data-test="feed-link"]')["href"] == "/calendar/feed"
    # the day's all-day tasks come before its meetings and timed tasks
    wednesday = soup.select_one('[data-date="2025-03-12"]')
    assert [li["data-test"] for li in wednesday.select("li.cal-entry")] == ["task"]


def test_team_week_shows_teammates_but_not_another_teams_confidential_work(app, clock):
    w = _world()
    client = client_for(app, w.a)
    soup = _soup(client.get("/calendar?who=team"))
    assert _ids(soup, "meeting") == {w.midnight.id, w.a2_meeting.id, w.joined.id}
    assert w.secret_meeting.id not in _ids(soup, "meeting")  # a2 took part, but it is team 2's secret
    assert _ids(soup, "task") == {w.overdue.id, w.done.id, w.timed.id, w.a2_task.id}
    html = str(soup)
    assert "白鹭" not in html and "机密" not in html
    negotiation = _entry(soup, "meeting", w.a2_meeting.id)
    assert negotiation.select_one(".cal-time").get_text() == "10:00–11:30"
    assert negotiation.select_one(".cal-owner").get_text() == "王二"
    assert _entry(soup, "task", w.a2_task.id).a["href"] == f"/tasks?owner_id={w.a2.id}"
    # a teammate's own calendar: theirs only, and their secret meeting under its code name
    soup = _soup(client.get(f"/calendar?who={w.a2.id}"))
    assert _ids(soup, "meeting") == {w.a2_meeting.id}
    soup = _soup(client_for(app, w.a2).get("/calendar"))
    assert _ids(soup, "meeting") == {w.a2_meeting.id, w.secret_meeting.id}
    secret = _entry(soup, "meeting", w.secret_meeting.id).get_text()
    assert "白鹭" in secret and w.company_b.name not in secret


def test_month_grid_starts_on_monday_and_shows_more(app, clock):
    w = _world()
    for n in range(5):
        _task(w.a, f"第{n}件事", date(2025, 3, 20), company=w.company_a)
    soup = _soup(client_for(app, w.a).get("/calendar?view=month&date=2025-03-05"))
    cells = soup.select(".cal-grid .cal-cell")
    dates = [date.fromisoformat(c["data-date"]) for c in cells]
    assert len(cells) == 42
    assert dates[0] == date(2025, 2, 24) and dates[0].weekday() == 0  # 03-01 is a Saturday
    assert dates[-1] == date(2025, 4, 6)
    assert dates == [date(2025, 2, 24) + timedelta(days=n) for n in range(42)]
    assert "is-other-month" in cells[0]["class"] and "is-other-month" not in cells[5]["class"]
    assert soup.select_one(".cal-cell.is-today")["data-date"] == "2025-03-12"
    assert soup.select_one('[data-test="range"]').get_text(strip=True) == "March 2025"
    assert _ids(soup, "meeting", "2025-03-10") == {w.midnight.id}
    assert _ids(soup, "meeting", "2025-03-07") == {w.last_week.id}
    crowded = soup.select_one('[data-date="2025-03-20"]')
    assert len(crowded.select("li.cal-entry")) == 3
    assert crowded.select_one('[data-test="more"]').get_text(strip=True) == "+2 more"
    assert crowded.select_one('[data-test="count"]').get_text(strip=True) == "5"
    # the chosen day's list (shown below the grid on a phone) holds all of it
    chosen = _soup(client_for(app, w.a).get("/calendar?view=month&date=2025-03-20"))
    assert len(chosen.select('[data-test="chosen-day"] li.cal-entry')) == 5
    # the navigation moves by a month and keeps whose calendar it is
    soup = _soup(client_for(app, w.a).get("/calendar?view=month&date=2025-03-05&who=team"))
    assert soup.select_one('[data-test="prev"]')["href"] == "/calendar?view=month&date=2025-02-01&who=team"
    assert soup.select_one('[data-test="next"]')["href"] == "/calendar?view=month&date=2025-04-01&who=team"
    assert soup.select_one('[data-test="today"]')["href"] == "/calendar?view=month&who=team"


def test_week_navigation(app, clock):
    w = _world()
    soup = _soup(client_for(app, w.a).get("/calendar?date=2025-03-07"))  # a Friday: its week
    assert [s["data-date"] for s in soup.select(".cal-day")][0] == "2025-03-03"
    assert _ids(soup, "meeting") == {w.last_week.id}
    assert soup.select_one('[data-test="prev"]')["href"] == "/calendar?view=week&date=2025-02-24"
    assert soup.select_one('[data-test="next"]')["href"] == "/calendar?view=week&date=2025-03-10"
    assert not soup.select(".cal-day.is-today")


def test_whose_calendar_is_scoped(app, clock):
    w = _world()
    officer = client_for(app, w.a)
    assert officer.get(f"/calendar?who={w.b.id}").status_code == 404  # another team's officer
    assert officer.get(f"/calendar?who={w.liaison.id}").status_code == 404
    assert officer.get("/calendar?who=987654").status_code == 404
    assert officer.get(f"/calendar?who=team&team_id={w.team2.id}").status_code == 404
    assert officer.get(f"/calendar?who=team&team_id={w.team1.id}").status_code == 200
    menu = _soup(officer.get("/calendar")).select(".cal-who-menu a")
    assert {a.get_text(" ", strip=True) for a in menu} == {"Me", "My team", "王二"}
    manager = client_for(app, w.manager)
    soup = _soup(manager.get(f"/calendar?who={w.b.id}"))
    assert _ids(soup, "meeting") == {w.joined.id, w.secret_meeting.id}
    assert w.company_b.name in _entry(soup, "meeting", w.secret_meeting.id).get_text()
    soup = _soup(manager.get(f"/calendar?who=team&team_id={w.team2.id}"))
    assert _ids(soup, "task") == {w.b_task.id}
    soup = _soup(manager.get("/calendar?who=team"))  # a manager in no team: everyone
    assert {w.midnight.id, w.a2_meeting.id, w.secret_meeting.id} <= _ids(soup, "meeting")
    assert manager.get("/calendar?who=team&team_id=987654").status_code == 404
    assert client_for(app, w.liaison).get("/calendar").status_code == 403
    assert client_for(app).get("/calendar").status_code == 302


def test_month_cells_link_to_their_week_and_chosen_day_keeping_whose_calendar(app, clock):
    w = _world()
    for n in range(5):
        _task(w.a, f"第{n}件事", date(2025, 3, 20), company=w.company_a)
    client = client_for(app, w.a)
    soup = _soup(client.get("/calendar?view=month&date=2025-03-05&who=team"))
    crowded = soup.select_one('[data-date="2025-03-20"]')
    assert crowded.select_one(".cal-cell-head .cal-daynum")["href"] == "/calendar?view=week&date=2025-03-20&who=team"
    assert crowded.select_one(".cal-cell-head .cal-daynum")["title"] == "Open the week of Mar 20"
    assert crowded.select_one('[data-test="more"]')["href"] == "/calendar?view=week&date=2025-03-20&who=team"
    phone = crowded.select_one(".cal-cell-phone")
    assert phone["href"] == "/calendar?view=month&date=2025-03-20&who=team#chosen-day"
    assert phone["aria-label"] == "Thu Mar 20: 5 items"
    assert soup.select_one('[data-date="2025-03-13"] .cal-cell-phone')["aria-label"] == "Thu Mar 13: 1 item"
    # the phone's counts: meetings and tasks, the tasks' dot marked when one is overdue
    tuesday = soup.select_one('[data-date="2025-03-11"]')
    tasks = tuesday.select_one(".dot-task")
    assert tasks.get_text() == "2" and "is-overdue" in tasks["class"]
    assert not tuesday.select(".dot-meeting")
    wednesday = soup.select_one('[data-date="2025-03-12"]')
    assert wednesday.select_one(".dot-meeting").get_text() == "1"
    assert "is-overdue" not in wednesday.select_one(".dot-task")["class"]
    # a cell's one line: the start time, the type for a screen reader and the company; the hover names whose it is
    negotiation = _entry(soup, "meeting", w.a2_meeting.id)
    assert negotiation["class"] == ["cal-entry", "type-negotiation"]
    assert negotiation.select_one(".cal-time").get_text() == "10:00"
    assert negotiation.select_one(".visually-hidden").get_text() == "Negotiation "
    assert negotiation.select_one(".cal-what").get_text() == w.company_a.name
    assert negotiation.a["title"] == f"10:00–11:30 Negotiation · {w.company_a.name} · 王二"
    assert _entry(soup, "task", w.overdue.id).select_one(".visually-hidden").get_text() == " (overdue)"
    assert _entry(soup, "task", w.done.id).select_one(".cal-check").get_text() == "✓"
    # on one's own calendar the hover has no owner; the chosen day lists it all, with the same links kept
    soup = _soup(client.get("/calendar?view=month&date=2025-03-12"))
    assert _entry(soup, "meeting", w.joined.id).a["title"] == f"14:00 Inbound site visit · {w.company_b.name}"
    chosen = soup.select_one('[data-test="chosen-day"]')
    assert chosen.select_one(".card-title").get_text(strip=True) == "Wed Mar 12 · Today"
    assert "is-chosen" in soup.select_one('[data-date="2025-03-12"]')["class"]
    assert _ids(chosen, "task") == {w.timed.id}
    assert soup.select_one('[data-date="2025-03-20"] .cal-cell-phone')["href"] == \
        "/calendar?view=month&date=2025-03-20#chosen-day"
    manager = _soup(client_for(app, w.manager).get(
        f"/calendar?view=month&date=2025-03-05&who=team&team_id={w.team2.id}"))
    assert manager.select_one('[data-date="2025-03-12"] .cal-daynum')["href"] == \
        f"/calendar?view=week&date=2025-03-12&who=team&team_id={w.team2.id}"
    # a confidential project's meeting in a month cell: the code name, for the one who took part
    soup = _soup(client_for(app, w.a2).get("/calendar?view=month&date=2025-03-05"))
    secret = _entry(soup, "meeting", w.secret_meeting.id)
    assert secret.select_one(".cal-what").get_text() == "白鹭" and w.company_b.name not in str(secret)


def test_day_labels_follow_each_viewers_language(app, clock):
    """The days' labels are kept per day and language: one viewer's language never shows on another's page."""
    w = _world()
    chinese = make_user("officer", team=w.team1, name="王三", locale="zh_Hans_CN")
    for user, weekday, label, title in ((w.a, "Mon", "Open the week of Mar 10", "March 2025"),
                                        (chinese, "周一", "打开 3月10日 所在的周", "2025年3月"),
                                        (w.a, "Mon", "Open the week of Mar 10", "March 2025")):
        soup = _soup(client_for(app, user).get("/calendar?view=month&date=2025-03-05"))
        assert soup.select_one(".cal-month-head div").get_text() == weekday
        assert soup.select_one('[data-date="2025-03-10"] .cal-daynum')["title"] == label
        assert soup.select_one('[data-test="range"]').get_text(strip=True) == title
    soup = _soup(client_for(app, chinese).get("/calendar?date=2025-03-05"))
    assert soup.select_one('[data-test="range"]').get_text(strip=True) == "2025年3月3日至9日"
    assert soup.select_one(".cal-day .cal-weekday").get_text() == "周一"


@pytest.mark.parametrize("who", ["a", "a2", "team"])
def test_calendar_rows_are_the_objects_the_feed_reads(app, clock, who):
    """The page's rows (`columns`) and the feed's objects: the same meetings and tasks in the same order, the
    meetings taken part in only those of the range."""
    w = _world()
    # a2 took part in a meeting long ago: not in March
    _meeting(w.b, w.company_b, datetime(2024, 3, 12, 2, 0, tzinfo=UTC), took_part=[w.a2])
    viewer = w.a2 if who == "a2" else w.a
    ids = [w.a.id, w.a2.id] if who == "team" else [viewer.id]
    for start, end in ((date(2025, 3, 10), date(2025, 3, 17)), (date(2025, 2, 24), date(2025, 4, 7)),
                       (date(2024, 1, 1), date(2026, 1, 1))):
        rows = queries.calendar_items(viewer, ids, start, end, columns=True)
        objects = queries.calendar_items(viewer, ids, start, end)
        assert [r.id for r in rows.meetings] == [m.id for m in objects.meetings]
        assert [r.id for r in rows.tasks] == [t.id for t in objects.tasks]
        for row, meeting in zip(rows.meetings, objects.meetings, strict=True):
            assert (row.company_name, row.owner_name, row.project_confidential) == \
                (meeting.company.name, meeting.owner.name, meeting.project.confidential if meeting.project else None)
    march = queries.calendar_items(viewer, ids, date(2025, 3, 1), date(2025, 4, 1), columns=True)
    mine = {w.midnight.id, w.joined.id, w.last_week.id}
    expected = {"a": mine, "a2": {w.a2_meeting.id, w.secret_meeting.id}, "team": mine | {w.a2_meeting.id}}[who]
    assert {r.id for r in march.meetings} == expected


@pytest.mark.parametrize("query", [
    "date=garbage", "view=year", "who=abc", "date=2025-02-30", "date=0001-01-01", "date=9999-12-31",
    "view=month&date=9999-12-31", "date=20250312", "who=team&team_id=abc", "who=-1", "who=99999999999999",
    "who=team&team_id=99999999999999", "date=2025-03-12T00:00", "view=&date=&who=", "date=%00", "who=%E7%8E%8B",
])
def test_bad_input_falls_back_to_the_defaults(app, clock, query):
    w = _world()
    response = client_for(app, w.a).get(f"/calendar?{query}")
    assert response.status_code == 200
    soup = _soup(response)
    assert soup.select_one("[data-test=week], [data-test=month]") is not None


# --- the feed --------------------------------------------------------------------------------------------------------

def _new_feed(client) -> str:
    response = client.post("/calendar/feed", data={"action": "create"})
    soup = _soup(response)
    return soup.select_one('[data-test="feed-url"]')["value"]


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_feed_is_read_without_signing_in_and_parses_back(app, clock):
    w = _world()
    url = _new_feed(client_for(app, w.a))
    assert re.fullmatch(r"http://localhost/calendar/feed/[A-Za-z0-9_-]{40,}\.ics", url)
    response = client_for(app).get(_path(url))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert "filename=" in response.headers["Content-Disposition"]
    assert "Set-Cookie" not in response.headers
    raw = response.get_data()
    cal = Calendar.from_ical(raw)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"meeting-{m.id}@localhost" for m in (w.midnight, w.joined, w.last_week)} | \
        {f"task-{t.id}@localhost" for t in (w.overdue, w.timed)}  # open tasks only
    monday = events[f"meeting-{w.midnight.id}@localhost"]
    assert monday["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert monday["DTSTART"].dt.replace(tzinfo=None) == datetime(2025, 3, 10, 0, 30)
    assert monday["DTSTART"].dt.astimezone(UTC) == datetime(2025, 3, 9, 16, 30, tzinfo=UTC)
    assert w.company_a.name in str(monday["SUMMARY"]) and str(monday["SUMMARY"]).startswith("Visit")
    assert str(monday["URL"]) == f"http://localhost/meetings/{w.midnight.id}"
    task = events[f"task-{w.overdue.id}@localhost"]
    assert task["DTSTART"].dt == date(2025, 3, 11) and not isinstance(task["DTSTART"].dt, datetime)
    assert b"DTSTART;VALUE=DATE:20250311" in raw
    assert "寄送投资协议" in str(task["SUMMARY"])
    timed = events[f"task-{w.timed.id}@localhost"]
    assert timed["DTSTART"].dt.replace(tzinfo=None) == datetime(2025, 3, 12, 17, 0)


def test_feed_settings_page_shows_the_url_once(app, clock):
    w = _world()
    client = client_for(app, w.a)
    soup = _soup(client.get("/calendar/feed"))
    assert soup.select_one('[data-test="feed-url"]') is None
    assert "no calendar feed address" in soup.select_one('[data-test="feed-status"]').get_text()
    url = _new_feed(client)
    page = client.get("/calendar/feed").get_data(as_text=True)
    assert url not in page and _path(url) not in page
    assert "Created 2025-03-12 12:00" in _soup(client.get("/calendar/feed")).select_one(
        '[data-test="feed-status"]').get_text(" ", strip=True)
    assert client.post("/calendar/feed", data={"action": "nonsense"}).status_code == 400
    assert client_for(app, w.liaison).get("/calendar/feed").status_code == 403
    assert client_for(app).get("/calendar/feed").status_code == 302


def test_feed_url_uses_the_public_base_url(app, clock, monkeypatch):
    w = _world()
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://crm.example.gov.cn/")
    url = _new_feed(client_for(app, w.a))
    assert url.startswith("https://crm.example.gov.cn/calendar/feed/")
    cal = Calendar.from_ical(client_for(app).get(_path(url)).get_data())
    urls = {str(e["URL"]) for e in cal.walk("VEVENT")}
    assert f"https://crm.example.gov.cn/meetings/{w.midnight.id}" in urls


def test_revoked_replaced_and_unknown_tokens_are_the_same_bare_404(app, clock):
    w = _world()
    client, anonymous = client_for(app, w.a), client_for(app)
    first = _path(_new_feed(client))
    assert anonymous.get(first).status_code == 200
    second = _path(_new_feed(client))
    assert anonymous.get(first).status_code == 404  # replaced
    assert anonymous.get(second).status_code == 200
    assert client.post("/calendar/feed", data={"action": "revoke"}).status_code == 302
    revoked = anonymous.get(second)
    unknown = anonymous.get("/calendar/feed/not-a-real-token.ics")
    long = anonymous.get("/calendar/feed/" + "x" * 500 + ".ics")
    for response in (revoked, unknown, long):
        assert response.status_code == 404
        assert "Set-Cookie" not in response.headers
        body = response.get_data(as_text=True)
        assert body == revoked.get_data(as_text=True)
        for leak in (w.a.name, w.a.email, "revoked", "expired"):
            assert leak not in body
    assert "no calendar feed address" in _soup(client.get("/calendar/feed")).select_one(
        '[data-test="feed-status"]').get_text()
    db.session.rollback()
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_id == w.a.id, AuditEvent.action.like("feed_%")).order_by(AuditEvent.id)))
    assert actions == ["feed_created", "feed_revoked", "feed_created", "feed_revoked"]  # each address, audited


def test_deactivated_users_feed_is_404(app, clock):
    w = _world()
    path = _path(_new_feed(client_for(app, w.a)))
    user = db.session.get(User, w.a.id)
    user.is_active_user = False
    db.session.commit()
    response = client_for(app).get(path)
    assert response.status_code == 404 and w.a.name not in response.get_data(as_text=True)


def test_feed_shows_a_confidential_projects_code_name(app, clock):
    """a2 took part in team 2's confidential negotiation: their feed names it by its code name only."""
    w = _world()
    path = _path(_new_feed(client_for(app, w.a2)))
    cal = Calendar.from_ical(client_for(app).get(path).get_data())
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    secret = events[f"meeting-{w.secret_meeting.id}@localhost"]
    assert "白鹭" in str(secret["SUMMARY"]) and w.company_b.name not in str(secret["SUMMARY"])
    assert w.company_b.name not in client_for(app).get(path).get_data(as_text=True)


def test_feed_opened_in_a_signed_in_browser_sets_no_cookie(app, clock):
    w = _world()
    client = client_for(app, w.a)
    path = _path(_new_feed(client))
    response = client.get(path)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert client.get("/calendar").status_code == 200  # the browser's own session is untouched
    response = client.get("/calendar/feed/not-a-real-token.ics")
    assert response.status_code == 404 and "Set-Cookie" not in response.headers


def test_feed_speaks_the_users_language_not_the_callers(app, clock):
    w = _world()
    path = _path(_new_feed(client_for(app, w.a)))  # a's language is English
    anonymous = client_for(app)
    anonymous.set_cookie("lang", "zh_Hans_CN")
    cal = Calendar.from_ical(anonymous.get(path).get_data())
    meeting = {str(e["UID"]): e for e in cal.walk("VEVENT")}[f"meeting-{w.midnight.id}@localhost"]
    assert str(meeting["SUMMARY"]).startswith("Visit · ")


# --- the feed's text, its ETag and the events kept per process -------------------------------------------------------

_TYPES = {"visit": "Visit", "negotiation": "Negotiation", "inbound_visit": "Inbound site visit", "call": "Call"}


def _library_ics(name: str, meetings: list, tasks: list, names: dict, host: str, base: str, *, feed: bool) -> bytes:
    """The calendar as the `icalendar` library writes it (the way `crm.meetings.ical` wrote it before it wrote the
    lines itself): the reference the feed's text must equal byte for byte."""
    from urllib.parse import urljoin

    from icalendar import Event

    from crm.core.timeutil import as_aware, utcnow, zone
    stamp = utcnow()
    cal = Calendar()
    for key, value in (("prodid", "-//Investment CRM//zh-Hans//"), ("version", "2.0"), ("calscale", "GREGORIAN"),
                       ("method", "PUBLISH"), ("x-wr-calname", name), ("x-wr-timezone", str(zone()))):
        cal.add(key, value)
    if feed:
        cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", "PT1H")
    for m in meetings:
        start = as_aware(m.start_at).astimezone(zone())
        event = Event()
        event.add("uid", f"meeting-{m.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", as_aware(m.end_at).astimezone(zone()) if m.end_at else start + timedelta(hours=1))
        event.add("summary", f"{_TYPES[m.type]} · {names[m.id]}")
        location = " ".join(part for part in (m.city, m.place) if part)
        if location:
            event.add("location", location)
        lines = [t for t in (m.summary, m.next_step and f"Next step: {m.next_step}") if t]
        if lines:
            event.add("description", "\n\n".join(lines))
        event.add("url", urljoin(base, f"/meetings/{m.id}"))
        event.add("sequence", m.version)
        event.add("last-modified", as_aware(m.updated_at))
        cal.add_component(event)
    for t in tasks:
        event = Event()
        event.add("uid", f"task-{t.id}@{host}")
        event.add("dtstamp", stamp)
        if t.due_at is not None:
            due = as_aware(t.due_at).astimezone(zone())
            event.add("dtstart", due)
            event.add("dtend", due + timedelta(minutes=30))
        else:
            event.add("dtstart", t.due_on)
            event.add("dtend", t.due_on + timedelta(days=1))
            event.add("transp", "TRANSPARENT")
        event.add("summary", f"To do: {t.title}")
        if t.notes:
            event.add("description", t.notes)
        event.add("url", urljoin(base, f"/tasks?owner_id={t.owner_id}"))
        event.add("sequence", t.version)
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


#: text that tests the escaping and the folding: the characters TEXT escapes, every kind of line break, a literal
#: "\N", and one- to four-octet characters and escapes at every place around the 75-octet fold
_AWKWARD = ["拜访, 洽谈; 签约\\总部\r\n第二行\n第三行\r第四行 \\N 第五行 ^caret^",
            *("x" * n + "\\;,^é中😀" * 3 for n in range(55, 80)),
            "长" * 100, "é" * 80 + "😀" * 30, ""]


def test_feed_text_is_what_the_icalendar_library_writes(app, clock, monkeypatch):
    w = _world()
    me = db.session.get(User, w.a.id)
    meetings = []
    for i, text in enumerate(_AWKWARD):
        meetings.append(_meeting(me, w.company_a, datetime(2025, 3, 1, 1, i, 7, tzinfo=UTC), type="call",
                                 end=datetime(2025, 3, 1, 3, 0, tzinfo=UTC) if i % 2 else None, summary=text,
                                 next_step=text[::-1] if i % 3 else "", city="东莞" if i % 4 else "",
                                 place=text[:20] if i % 5 else ""))
    tasks = [_task(me, text[:200] or "空", date(2025, 3, 20), due_at=datetime(2025, 3, 20, i % 24, tzinfo=UTC)
                   if i % 2 else None) for i, text in enumerate(_AWKWARD)]
    for task, text in zip(tasks, _AWKWARD, strict=True):
        task.notes = text[::-1]
    db.session.commit()
    path = _path(_new_feed(client_for(app, w.a)))
    names = {m.id: w.company_a.name for m in meetings} | {w.midnight.id: w.company_a.name,
                                                          w.joined.id: w.company_b.name,
                                                          w.last_week.id: w.company_a.name}
    items = queries.feed_items(db.session.get(User, w.a.id))  # the feed's own choice and order
    me = db.session.get(User, w.a.id)
    for base, host in (("http://localhost/", "localhost"), ("https://crm.example.gov.cn/", "crm.example.gov.cn")):
        monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", base if "example" in base else "")
        for _round in range(2):  # written, then from the events kept
            body = client_for(app).get(path).get_data()
            expected = _library_ics(f"{me.name} · investment CRM", items.meetings, items.tasks, names, host, base,
                                     feed=True)
            assert body == expected
    cal = Calendar.from_ical(body)
    assert len(cal.walk("VEVENT")) == len(items.meetings) + len(items.tasks) == 3 + 2 * len(_AWKWARD) + 2
    # a meeting's own .ics: the same event, in a calendar of its own
    client = client_for(app, w.a)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "")
    for meeting in items.meetings[:3]:
        expected = _library_ics("Meeting", [meeting], [], names, "localhost", "http://localhost/", feed=False)
        assert client.get(f"/meetings/{meeting.id}.ics").get_data() == expected


def test_an_empty_feed_has_no_time_zone(app, clock):
    lone = make_user("officer", team=make_team("三组"), locale="en")
    cal = Calendar.from_ical(client_for(app).get(_path(_new_feed(client_for(app, lone)))).get_data())
    assert cal.walk("VEVENT") == [] and cal.walk("VTIMEZONE") == []


def test_feed_answers_304_while_nothing_changed(app, clock):
    w = _world()
    client = client_for(app, w.a)
    path = _path(_new_feed(client))
    calendar_app = client_for(app)
    first = calendar_app.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    with time_machine.travel(NOW + timedelta(minutes=70), tick=False):
        # an hour on, the copy is made again (a new DTSTAMP) but says the same: the same ETag
        again = calendar_app.get(path)
        assert again.headers["ETag"] == etag and again.get_data() != first.get_data()
        assert b"DTSTAMP:20250312T051000Z" in again.get_data() and b"DTSTAMP:20250312T040000Z" in first.get_data()
        unchanged = calendar_app.get(path, headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.get_data() == b""
        assert unchanged.headers["ETag"] == etag and unchanged.headers["Cache-Control"] == "private, max-age=300"
        assert "Set-Cookie" not in unchanged.headers
        assert calendar_app.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200
        # a change to a meeting in the feed is a new body and a new ETag
        meeting = db.session.get(Meeting, w.midnight.id)
        meeting.summary = "改期到下周"
        db.session.commit()
        changed = calendar_app.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
        events = {str(e["UID"]): e for e in Calendar.from_ical(changed.get_data()).walk("VEVENT")}
        assert str(events[f"meeting-{w.midnight.id}@localhost"]["DESCRIPTION"]) == "改期到下周"
    # the ETag is no way around a revoked address
    assert calendar_app.get(path, headers={"If-None-Match": changed.headers["ETag"]}).status_code == 304
    assert client.post("/calendar/feed", data={"action": "revoke"}).status_code == 302
    gone = calendar_app.get(path, headers={"If-None-Match": changed.headers["ETag"]})
    assert gone.status_code == 404 and "ETag" not in gone.headers


def _summary(app, path: str, uid: str) -> str:
    cal = Calendar.from_ical(client_for(app).get(path).get_data())
    return str({str(e["UID"]): e for e in cal.walk("VEVENT")}[uid]["SUMMARY"])


def test_kept_events_follow_every_change_and_each_calendar(app, clock):
    """The events kept between polls are never a stale or another calendar's text: each feed shows its own name
    for a shared meeting, and a change to the meeting, its company's name or the user's language shows at once."""
    w = _world()
    a2_feed, b_feed = _path(_new_feed(client_for(app, w.a2))), _path(_new_feed(client_for(app, w.b)))
    secret = f"meeting-{w.secret_meeting.id}@localhost"
    for _round in range(2):
        assert _summary(app, a2_feed, secret) == "Negotiation · 白鹭"  # a2 only took part: the code name
        assert _summary(app, b_feed, secret) == f"Negotiation · {w.company_b.name}"  # b owns it
    a_feed = _path(_new_feed(client_for(app, w.a)))
    monday = f"meeting-{w.midnight.id}@localhost"
    assert _summary(app, a_feed, monday) == f"Visit · {w.company_a.name}"
    company = db.session.get(type(w.company_a), w.company_a.id)
    company.name = "东莞宏达电子科技有限公司"
    db.session.commit()
    assert _summary(app, a_feed, monday) == "Visit · 东莞宏达电子科技有限公司"
    meeting = db.session.get(Meeting, w.midnight.id)
    meeting.type = "call"
    db.session.commit()
    assert _summary(app, a_feed, monday) == "Call · 东莞宏达电子科技有限公司"
    user = db.session.get(User, w.a.id)
    user.locale = "zh_Hans_CN"
    db.session.commit()
    assert _summary(app, a_feed, monday) != "Call · 东莞宏达电子科技有限公司"  # in Chinese now
    task = db.session.get(Task, w.overdue.id)
    task.title = "寄送修改后的投资协议"
    db.session.commit()
    assert "寄送修改后的投资协议" in _summary(app, a_feed, f"task-{w.overdue.id}@localhost")


def test_login_through_form_still_works_with_calendar_nav(app, clock):
    w = _world()
    client = client_for(app)
    assert login(client, w.a).status_code == 302
    soup = _soup(client.get("/"))
    assert soup.select_one('a.nav-link[href="/calendar"]') is not None
