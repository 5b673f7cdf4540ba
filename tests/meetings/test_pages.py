"""The meeting and task pages: the quick-log form (with follow-ups, preselected from a company's or a project's page,
bad input by its field with nothing saved), a meeting's page, edit, delete and .ics; "my tasks" grouped around
midnight in Asia/Shanghai, done / reopen / snooze, whose tasks a viewer may open; the home page's card."""
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from icalendar import Calendar
from sqlalchemy import func, select

from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.meetings import queries
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task

from ..factories import login, make_company, make_contact, make_project, make_reference, make_team, make_user

#: Sunday 2025-03-09 16:30 UTC is Monday 2025-03-10 00:30 in Beijing: just past midnight
JUST_PAST_MIDNIGHT = datetime(2025, 3, 9, 16, 30, tzinfo=UTC)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def field_errors(response) -> dict[str, list[str]]:
    """Messages shown by each form field: the input's name → its messages (by data-error-for, or the input in the
    message's box)."""
    out: dict[str, list[str]] = {}
    for feedback in soup(response).select(".invalid-feedback"):
        name = feedback.get("data-error-for")
        if not name:
            control = feedback.parent.find(["input", "select", "textarea"], attrs={"name": True})
            name = control["name"] if control is not None else "?"
        out.setdefault(name, []).append(feedback.get_text(strip=True))
    return out


def group_ids(response, group: str) -> list[int]:
    return [int(row["data-task-id"]) for row in soup(response).select(f'[data-group="{group}"] [data-task-id]')]


def reload(record):
    db.session.expire_all()
    return db.session.get(type(record), record.id)


@pytest.fixture
def zone():
    """Team A (officers a1, a2), team B (officer b1), a manager; a1's company with two contacts and a project,
    b1's company with a contact."""
    make_reference()
    team_a, team_b = make_team("招商一组"), make_team("招商二组")

    class Zone:
        a1 = make_user(team=team_a, name="王伟", locale="en")
        a2 = make_user(team=team_a, name="李娜", locale="en")
        b1 = make_user(team=team_b, name="张强", locale="en")
        manager = make_user("manager", name="陈局", locale="en")
    Zone.company = make_company("江西华联电子科技有限公司", owner=Zone.a1)
    Zone.boss = make_contact(Zone.company, name="刘总", title="总经理")
    Zone.cfo = make_contact(Zone.company, name="周会计", title="财务")
    Zone.project = make_project(Zone.company, owner=Zone.a1, name="华联智能终端")
    Zone.other_company = make_company("二组深圳华信电子有限公司", owner=Zone.b1)
    Zone.stranger = make_contact(Zone.other_company, name="外人")
    return Zone


def quick_log(zone, **overrides) -> dict:
    data = {"type": "visit", "start_at": "2025-03-10T14:30", "end_at": "2025-03-10T16:00", "city": "深圳",
            "place": "南山科技园", "company_id": str(zone.company.id), "company_q": zone.company.name,
            "project_id": str(zone.project.id), "participant_user_ids": [str(zone.a2.id)],
            "participant_contact_ids": [str(zone.boss.id), str(zone.cfo.id)],
            "summary": "介绍园区政策", "outcome": "有意向", "next_step": "安排来访考察",
            "follow_ups-0-title": "发送土地价格表", "follow_ups-0-due_date": "2025-03-12",
            "follow_ups-0-due_time": "", "follow_ups-0-owner_id": str(zone.a1.id),
            "follow_ups-1-title": "约财务总监", "follow_ups-1-due_date": "2025-03-14",
            "follow_ups-1-due_time": "09:30", "follow_ups-1-owner_id": str(zone.a2.id),
            "follow_ups-2-title": "", "follow_ups-2-due_date": "", "follow_ups-2-due_time": "",
            "follow_ups-2-owner_id": str(zone.a1.id)}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- the quick-log form ----------------------------------------------------------------------------------------------

def test_quick_log_with_two_follow_ups_creates_the_meeting_and_two_tasks(client, zone):
    login(client, zone.a1)
    response = client.post("/meetings/new", data=quick_log(zone))
    assert response.status_code == 302, field_errors(response)
    meeting = db.session.scalar(select(Meeting))
    assert response.headers["Location"] == f"/meetings/{meeting.id}"
    assert (meeting.type, meeting.city, meeting.place, meeting.company_id, meeting.project_id, meeting.owner_id) == \
        ("visit", "深圳", "南山科技园", zone.company.id, zone.project.id, zone.a1.id)
    # typed in Beijing time, stored in UTC
    assert meeting.start_at.replace(tzinfo=UTC) == datetime(2025, 3, 10, 6, 30, tzinfo=UTC)
    assert {u.user_id for u in db.session.scalars(select(MeetingUser))} == {zone.a2.id}
    assert {c.contact_id for c in db.session.scalars(select(MeetingContact))} == {zone.boss.id, zone.cfo.id}
    tasks = list(db.session.scalars(select(Task).order_by(Task.id)))
    assert [(t.title, t.due_on, t.owner_id, t.meeting_id, t.company_id, t.project_id) for t in tasks] == [
        ("发送土地价格表", date(2025, 3, 12), zone.a1.id, meeting.id, zone.company.id, zone.project.id),
        ("约财务总监", date(2025, 3, 14), zone.a2.id, meeting.id, zone.company.id, zone.project.id)]
    assert tasks[0].due_at is None
    assert tasks[1].due_at.replace(tzinfo=UTC) == datetime(2025, 3, 14, 1, 30, tzinfo=UTC)  # 09:30 Beijing

    page = client.get(f"/meetings/{meeting.id}")
    assert page.status_code == 200
    html = soup(page)
    assert [int(r["data-task-id"]) for r in html.select("[data-test=meeting-tasks] [data-task-id]")] == \
        [t.id for t in tasks]
    assert "南山科技园" in page.get_data(as_text=True)
    assert html.select_one("[data-test=when]").get_text(strip=True) == "2025-03-10 14:30 – 16:00"
    assert {b.get_text(strip=True) for b in html.select("[data-test=contacts] .badge")} == \
        {"刘总 · 总经理", "周会计 · 财务"}


def test_quick_log_form_has_two_empty_follow_up_rows_and_a_start_rounded_to_five_minutes(client, zone):
    with time_machine.travel(datetime(2025, 3, 10, 6, 38, 41, tzinfo=UTC), tick=False):
        login(client, zone.a1)
        response = client.get("/meetings/new")
    assert response.status_code == 200
    html = soup(response)
    assert html.select_one("input[name=start_at]")["value"] == "2025-03-10T14:35"
    assert html.select_one("input[name=start_at]")["type"] == "datetime-local"
    assert html.select_one("input[name=type][value=visit]").has_attr("checked")
    rows = html.select("[data-follow-ups] [data-follow-up-row]")
    assert len(rows) == 2
    assert [r.select_one("input[name$=-title]")["name"] for r in rows] == ["follow_ups-0-title",
                                                                          "follow_ups-1-title"]
    owner = rows[0].select_one("select[name=follow_ups-0-owner_id] option[selected]")
    assert owner["value"] == str(zone.a1.id)
    assert html.select_one("template[data-follow-up-template]") is not None


def test_empty_follow_up_rows_are_ignored(client, zone):
    login(client, zone.a1)
    data = quick_log(zone, **{"follow_ups-0-title": "", "follow_ups-0-due_date": "", "follow_ups-1-title": "",
                              "follow_ups-1-due_date": "", "follow_ups-1-due_time": ""})
    response = client.post("/meetings/new", data=data)
    assert response.status_code == 302
    assert count(Meeting) == 1 and count(Task) == 0


def test_quick_log_is_preselected_from_the_company_and_project_pages(client, zone):
    login(client, zone.a1)
    response = client.get(f"/meetings/new?company_id={zone.company.id}&project_id={zone.project.id}")
    html = soup(response)
    assert html.select_one("input[name=company_id]")["value"] == str(zone.company.id)
    assert html.select_one("input[name=company_q]")["value"] == zone.company.name
    assert html.select_one("select[name=project_id] option[selected]")["value"] == str(zone.project.id)
    assert {int(i["value"]) for i in html.select("input[name=participant_contact_ids]")} == \
        {zone.boss.id, zone.cfo.id}
    # the project alone brings its company; another team's company is not preselected (nor named)
    response = client.get(f"/meetings/new?project_id={zone.project.id}")
    assert soup(response).select_one("input[name=company_id]")["value"] == str(zone.company.id)
    response = client.get(f"/meetings/new?company_id={zone.other_company.id}")
    assert soup(response).select_one("input[name=company_id]").get("value", "") == ""
    assert zone.other_company.name not in response.get_data(as_text=True)
    # junk ids do no harm
    assert client.get("/meetings/new?company_id=abc&project_id=99999999999").status_code == 200


def test_company_parts_lists_the_projects_and_contacts_of_a_company_the_user_may_see(client, zone):
    login(client, zone.a1)
    response = client.get(f"/meetings/company-parts?company_id={zone.company.id}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = soup(response)
    assert [o["value"] for o in html.select("select[name=project_id] option")] == ["", str(zone.project.id)]
    assert {int(i["value"]) for i in html.select("input[name=participant_contact_ids]")} == \
        {zone.boss.id, zone.cfo.id}
    # the task form asks without contacts
    response = client.get(f"/meetings/company-parts?company_id={zone.company.id}&contacts=0")
    assert soup(response).select("input[name=participant_contact_ids]") == []
    # another team's company: the empty fragment, nothing of it named
    response = client.get(f"/meetings/company-parts?company_id={zone.other_company.id}")
    assert response.status_code == 200
    assert "外人" not in response.get_data(as_text=True)
    assert soup(response).select("input[name=participant_contact_ids]") == []
    assert client.get("/meetings/company-parts?company_id=x").status_code == 200


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"company_id": "", "company_q": ""}, "company_q", "required"),
    ({"end_at": "2025-03-10T13:00"}, "end_at", "end cannot be before the start"),
    ("stranger", "participant_contact_ids", "not a contact of this company"),
    ({"follow_ups-1-due_date": "next friday"}, "follow_ups-1-due_date", "Enter a date"),
    ({"follow_ups-0-title": "", "follow_ups-0-due_date": "2025-03-12"}, "follow_ups-0-title", "required"),
    ({"start_at": "yesterday"}, "start_at", "Enter a date and time"),
    ({"type": "lunch"}, "type", "Choose one of"),
], ids=["no company", "end before start", "contact of another company", "due not a date", "follow-up no title",
        "start not a time", "unknown type"])
def test_bad_input_is_named_by_its_field_and_nothing_is_saved(client, zone, overrides, field, message):
    login(client, zone.a1)
    if overrides == "stranger":
        overrides = {"participant_contact_ids": [str(zone.boss.id), str(zone.stranger.id)]}
    response = client.post("/meetings/new", data=quick_log(zone, **overrides))
    assert response.status_code == 422
    errors = field_errors(response)
    assert field in errors, errors
    assert any(message in m for m in errors[field]), errors
    assert count(Meeting) == 0 and count(Task) == 0 and count(MeetingContact) == 0
    # the input is kept: the rows and their values are still there
    html = soup(response)
    assert html.select_one("input[name=follow_ups-1-title]")["value"] == "约财务总监"
    assert html.select_one("textarea[name=summary]").get_text() == "介绍园区政策"


def test_a_follow_up_error_is_shown_by_the_row_it_came_from(client, zone):
    """Rows left empty are skipped: the service's follow_ups.0 is then the form's third row."""
    login(client, zone.a1)
    data = quick_log(zone, **{"follow_ups-0-title": "", "follow_ups-0-due_date": "", "follow_ups-1-title": "",
                              "follow_ups-1-due_date": "", "follow_ups-1-due_time": "",
                              "follow_ups-2-title": "回访", "follow_ups-2-due_date": "2025-02-30"})
    response = client.post("/meetings/new", data=data)
    assert response.status_code == 422
    assert "follow_ups-2-due_date" in field_errors(response)
    assert count(Meeting) == 0


def test_html_emoji_and_ten_thousand_characters_are_stored_whole_and_shown_escaped(client, zone):
    login(client, zone.a1)
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)> 工厂🏭😀 & \"quotes\"\n第二行"
    summary = hostile + "长" * (10000 - len(hostile))
    assert len(summary) == 10000
    response = client.post("/meetings/new", data=quick_log(zone, summary=summary, outcome=hostile,
                                                           **{"follow_ups-0-title": "<b>粗体</b>🚀"}))
    assert response.status_code == 302
    meeting = db.session.scalar(select(Meeting))
    assert meeting.summary == summary and meeting.outcome == hostile
    assert db.session.scalar(select(Task.title).where(Task.title.like("%粗体%"))) == "<b>粗体</b>🚀"
    for url in (f"/meetings/{meeting.id}", f"/meetings/{meeting.id}/edit", "/tasks", "/"):
        page = client.get(url)
        assert page.status_code == 200
        html = soup(page)
        assert all(s.get("src") for s in html.find_all("script")), f"an inline <script> on {url}"
        assert html.find("img", attrs={"onerror": True}) is None
        assert html.find("b", string="粗体") is None
    shown = soup(client.get(f"/meetings/{meeting.id}")).select_one("[data-test=summary]")
    assert shown.get_text() == summary and "notes" in shown["class"]  # white-space: pre-wrap keeps the lines


def test_a_manager_logs_a_meeting_for_an_officer(client, zone):
    login(client, zone.manager)
    response = client.post("/meetings/new", data=quick_log(zone, owner_id=str(zone.a1.id),
                                                           participant_user_ids=[]))
    assert response.status_code == 302, field_errors(response)
    meeting = db.session.scalar(select(Meeting))
    assert meeting.owner_id == zone.a1.id


def test_next_returns_only_to_a_local_page(client, zone):
    login(client, zone.a1)
    response = client.post("/meetings/new", data=quick_log(zone, next=f"/companies/{zone.company.id}"))
    assert response.headers["Location"] == f"/companies/{zone.company.id}"
    response = client.post("/meetings/new", data=quick_log(zone, next="//evil.example/x"))
    assert response.headers["Location"].startswith("/meetings/")
    page = soup(client.get("/meetings/new?next=javascript:alert(1)"))
    assert page.select_one("form.meeting-form input[name=next]").get("value", "") == ""
    assert not [a for a in page.select("a[href]") if a["href"].startswith("javascript")]


# --- a meeting's page, edit, delete, .ics ----------------------------------------------------------------------------

def logged(client, zone, **overrides) -> Meeting:
    response = client.post("/meetings/new", data=quick_log(zone, **overrides))
    assert response.status_code == 302, field_errors(response)
    return db.session.scalar(select(Meeting).order_by(Meeting.id.desc()))


def test_edit_saves_and_a_stale_version_is_a_conflict(client, zone):
    login(client, zone.a1)
    meeting = logged(client, zone)
    page = soup(client.get(f"/meetings/{meeting.id}/edit"))
    assert page.select_one("input[name=start_at]")["value"] == "2025-03-10T14:30"
    assert page.select_one("input[name=version]")["value"] == str(meeting.version)
    assert page.select("[data-follow-ups]") == []  # follow-ups are added as tasks once the meeting exists
    data = {"version": str(meeting.version), "type": "negotiation", "start_at": "2025-03-10T15:00", "end_at": "",
            "city": "吉安", "place": "管委会", "company_id": str(zone.company.id), "project_id": "",
            "participant_user_ids": [], "participant_contact_ids": [str(zone.boss.id)],
            "summary": "改过", "outcome": "", "next_step": ""}
    response = client.post(f"/meetings/{meeting.id}/edit", data=data)
    assert response.status_code == 302, field_errors(response)
    meeting = reload(meeting)
    assert (meeting.type, meeting.city, meeting.project_id, meeting.summary) == ("negotiation", "吉安", None, "改过")
    assert [c.id for c in meeting.participant_contacts] == [zone.boss.id]
    assert meeting.participant_users == []
    # the same (old) version again: 409, the message flashed, nothing changed
    response = client.post(f"/meetings/{meeting.id}/edit", data={**data, "summary": "又改"})
    assert response.status_code == 409
    assert "changed by someone else" in " ".join(a.get_text() for a in soup(response).select(".alert"))
    assert reload(meeting).summary == "改过"
    # bad input on edit: by its field
    response = client.post(f"/meetings/{meeting.id}/edit", data={**data, "version": str(reload(meeting).version),
                                                                 "end_at": "2025-03-09T10:00"})
    assert response.status_code == 422 and "end_at" in field_errors(response)


def test_delete_keeps_the_follow_ups(client, zone):
    login(client, zone.a1)
    meeting = logged(client, zone)
    response = client.post(f"/meetings/{meeting.id}/delete", data={"version": str(meeting.version)})
    assert response.status_code == 302 and response.headers["Location"] == f"/companies/{zone.company.id}"
    assert reload(meeting).deleted_at is not None
    assert count(Task) == 2 and all(t.deleted_at is None for t in db.session.scalars(select(Task)))
    assert client.get(f"/meetings/{meeting.id}").status_code == 404


def test_another_teams_meeting_is_404_and_a_visible_one_not_editable_is_403(client, app, zone):
    login(client, zone.a1)
    mine = logged(client, zone)
    other = app.test_client()
    login(other, zone.b1)
    for url in (f"/meetings/{mine.id}", f"/meetings/{mine.id}/edit", f"/meetings/{mine.id}.ics"):
        assert other.get(url).status_code == 404, url
    assert other.post(f"/meetings/{mine.id}/delete", data={"version": "1"}).status_code == 404
    # a meeting of team A on a public-pool company: team B sees it (the company is theirs to see) but may not
    # change it
    pool = make_company("公海赣州绿源食品有限公司")
    pooled = logged(client, zone, company_id=str(pool.id), project_id="", participant_contact_ids=[])
    assert other.get(f"/meetings/{pooled.id}").status_code == 200
    assert "Edit" not in [a.get_text(strip=True) for a in soup(other.get(f"/meetings/{pooled.id}")).select("a.btn")]
    assert other.get(f"/meetings/{pooled.id}/edit").status_code == 403
    assert other.post(f"/meetings/{pooled.id}/delete", data={"version": "1"}).status_code == 403
    assert reload(pooled).deleted_at is None


def test_ics_download_parses_with_icalendar(client, zone):
    login(client, zone.a1)
    meeting = logged(client, zone)
    response = client.get(f"/meetings/{meeting.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert ".ics" in response.headers["Content-Disposition"]
    calendar = Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert zone.company.name in str(event["SUMMARY"])
    start = event.decoded("DTSTART")
    assert start.utcoffset() == timedelta(hours=8)
    assert start.astimezone(UTC) == datetime(2025, 3, 10, 6, 30, tzinfo=UTC)
    assert event.decoded("DTEND").astimezone(UTC) == datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    assert "南山科技园" in str(event["LOCATION"])
    assert str(event["URL"]).endswith(f"/meetings/{meeting.id}")
    # the page links to it
    assert soup(client.get(f"/meetings/{meeting.id}")).select_one("[data-test=ics]")["href"] == \
        f"/meetings/{meeting.id}.ics"


# --- my tasks --------------------------------------------------------------------------------------------------------

def task(owner, title, due_on, due_at=None, **extra) -> Task:
    row = Task(title=title, due_on=due_on, due_at=due_at, owner_id=owner.id, **extra)
    db.session.add(row)
    db.session.commit()
    return row


def test_tasks_are_grouped_by_the_zones_days_just_past_midnight(client, app, zone):
    a1 = zone.a1
    yesterday = task(a1, "昨天到期", date(2025, 3, 9), company_id=zone.company.id, project_id=zone.project.id)
    late_today = task(a1, "今天00:15到期", date(2025, 3, 10), datetime(2025, 3, 9, 16, 15, tzinfo=UTC))
    today = task(a1, "今天到期", date(2025, 3, 10))
    today_timed = task(a1, "今天下午", date(2025, 3, 10), datetime(2025, 3, 10, 7, 0, tzinfo=UTC))
    wednesday = task(a1, "周三", date(2025, 3, 12))
    sunday = task(a1, "周日", date(2025, 3, 16))
    monday = task(a1, "下周一", date(2025, 3, 17))
    done_now = task(a1, "刚完成", date(2025, 3, 10), done_at=datetime(2025, 3, 9, 16, 10, tzinfo=UTC))
    task(a1, "昨晚完成", date(2025, 3, 9), done_at=datetime(2025, 3, 9, 15, 50, tzinfo=UTC))
    task(zone.a2, "同事的", date(2025, 3, 10))
    with time_machine.travel(JUST_PAST_MIDNIGHT, tick=False):
        login(client, a1)
        response = client.get("/tasks")
    assert response.status_code == 200
    assert group_ids(response, "overdue") == [late_today.id, yesterday.id]
    assert group_ids(response, "today") == [today_timed.id, today.id]
    assert group_ids(response, "week") == [wednesday.id, sunday.id]
    assert group_ids(response, "later") == [monday.id]
    assert group_ids(response, "done_today") == [done_now.id]
    html = soup(response)
    counts = {a["data-count-for"]: int(a.select_one(".task-count-n").get_text()) for a in
              html.select("[data-count-for]")}
    assert counts == {"overdue": 2, "today": 2, "week": 2, "later": 1}
    overdue_row = html.select_one(f"#task-{yesterday.id}")
    assert "text-danger" in overdue_row.select_one("[data-test=due]")["class"]
    assert "text-danger" not in html.select_one(f"#task-{today.id} [data-test=due]")["class"]
    links = {a["href"] for a in overdue_row.select("a")}
    assert f"/companies/{zone.company.id}" in links and f"/projects/{zone.project.id}" in links
    assert html.select_one(f"#task-{today_timed.id} [data-test=due]").get_text(strip=True) == "Today 15:00"

    # one minute before midnight the day before, "today" is still Sunday the 9th
    with time_machine.travel(datetime(2025, 3, 9, 15, 59, tzinfo=UTC), tick=False):
        other = app.test_client()
        login(other, a1)
        response = other.get("/tasks")
    assert group_ids(response, "overdue") == []
    assert group_ids(response, "today") == [yesterday.id]
    assert set(group_ids(response, "later")) >= {today.id, wednesday.id}


def test_a_long_group_shows_its_newest_overdue_first_and_show_all_opens_the_whole_group(client, zone, monkeypatch):
    a1 = zone.a1
    monkeypatch.setitem(queries.SHOWN, "overdue", 3)
    monkeypatch.setitem(queries.SHOWN, "later", 1)
    overdue = [task(a1, f"逾期{n}", date(2025, 3, 1) + timedelta(days=n)) for n in range(5)]  # due 03-01 .. 03-05
    later = [task(a1, f"以后{n}", date(2025, 4, 1) + timedelta(days=n)) for n in range(2)]
    with time_machine.travel(JUST_PAST_MIDNIGHT, tick=False):
        login(client, a1)
        response = client.get("/tasks")
        assert group_ids(response, "overdue") == [t.id for t in overdue[::-1][:3]]  # 03-05, 03-04, 03-03
        assert group_ids(response, "later") == [later[0].id]
        html = soup(response)
        counts = {a["data-count-for"]: int(a.select_one(".task-count-n").get_text()) for a in
                  html.select("[data-count-for]")}
        assert counts == {"overdue": 5, "today": 0, "week": 0, "later": 2}  # whole counts, not the rows shown
        show_all = html.select_one('[data-group="overdue"] [data-test=show-all]')
        assert "5" in show_all.get_text() and "2" in show_all.get_text()
        response = client.get(show_all["href"])
        assert group_ids(response, "overdue") == [t.id for t in overdue[::-1]]
        assert group_ids(response, "later") == [later[0].id]
        # the rows' buttons come back to the whole group
        assert soup(response).select_one('[data-group="overdue"] input[name=next]')["value"] == "/tasks?expand=overdue"
        assert client.get("/tasks?expand=nonsense").status_code == 200


def test_done_reopen_and_snooze(client, zone):
    follow_up = task(zone.a1, "发送资料", date(2025, 3, 10), company_id=zone.company.id)
    with time_machine.travel(JUST_PAST_MIDNIGHT, tick=False):
        login(client, zone.a1)
        response = client.post(f"/tasks/{follow_up.id}/done", data={"next": "/tasks"})
        assert response.status_code == 302 and response.headers["Location"] == "/tasks"
        assert reload(follow_up).done_at is not None and reload(follow_up).done_by_id == zone.a1.id
        assert group_ids(client.get("/tasks"), "done_today") == [follow_up.id]
        response = client.post(f"/tasks/{follow_up.id}/reopen", data={"next": "/tasks"})
        assert response.status_code == 302 and reload(follow_up).done_at is None
        assert group_ids(client.get("/tasks"), "today") == [follow_up.id]

        version = reload(follow_up).version
        response = client.post(f"/tasks/{follow_up.id}/snooze", data={"how": "tomorrow", "version": version,
                                                                     "next": "/tasks"})
        assert response.status_code == 302
        assert reload(follow_up).due_on == date(2025, 3, 11)
        response = client.post(f"/tasks/{follow_up.id}/snooze", data={"how": "next_week",
                                                                     "version": reload(follow_up).version})
        assert reload(follow_up).due_on == date(2025, 3, 17)
        assert group_ids(client.get("/tasks"), "later") == [follow_up.id]
        # an unknown choice or a stale version: a message, nothing moved, no error page
        before = reload(follow_up).due_on
        response = client.post(f"/tasks/{follow_up.id}/snooze", data={"how": "forever", "next": "/tasks"},
                               follow_redirects=True)
        assert response.status_code == 200 and reload(follow_up).due_on == before
        assert "tomorrow or next week" in response.get_data(as_text=True)
        response = client.post(f"/tasks/{follow_up.id}/snooze", data={"how": "tomorrow", "version": version})
        assert response.status_code == 302 and reload(follow_up).due_on == before
        # next goes only to a local page
        response = client.post(f"/tasks/{follow_up.id}/done", data={"next": "https://evil.example/"})
        assert response.headers["Location"] == "/tasks"


def test_done_from_the_meeting_page_returns_there(client, zone):
    login(client, zone.a1)
    meeting = logged(client, zone)
    page = soup(client.get(f"/meetings/{meeting.id}"))
    first = page.select_one("[data-test=meeting-tasks] [data-task-id]")
    form = first.select_one("form")
    assert form["action"] == f"/tasks/{first['data-task-id']}/done"
    back = form.select_one("input[name=next]")["value"]
    response = client.post(form["action"], data={"next": back})
    assert response.headers["Location"] == f"/meetings/{meeting.id}"
    assert db.session.get(Task, int(first["data-task-id"])).done_at is not None


def test_a_manager_and_a_teammate_see_an_officers_tasks_another_team_gets_404(client, app, zone):
    mine = task(zone.a1, "王伟的待办", date.today(), company_id=zone.company.id)
    login(client, zone.manager)
    response = client.get(f"/tasks?owner_id={zone.a1.id}")
    assert response.status_code == 200
    assert mine.id in [int(r["data-task-id"]) for r in soup(response).select("[data-task-id]")]
    picker = soup(response).select_one("select[name=owner_id]")
    assert picker.select_one("option[selected]")["value"] == str(zone.a1.id)
    assert {zone.a1.id, zone.a2.id, zone.b1.id} <= {int(o["value"]) for o in picker.select("option")}
    # the manager may tick it off
    assert client.post(f"/tasks/{mine.id}/done", data={"next": f"/tasks?owner_id={zone.a1.id}"}).status_code == 302
    assert reload(mine).done_at is not None

    teammate = app.test_client()
    login(teammate, zone.a2)
    assert teammate.get(f"/tasks?owner_id={zone.a1.id}").status_code == 200
    stranger = app.test_client()
    login(stranger, zone.b1)
    assert stranger.get(f"/tasks?owner_id={zone.a1.id}").status_code == 404
    for bad in ("abc", "99999999999", "-1", "987654"):
        assert stranger.get(f"/tasks?owner_id={bad}").status_code == 404, bad
    assert stranger.post(f"/tasks/{mine.id}/reopen").status_code == 404
    assert stranger.post(f"/tasks/{mine.id}/snooze", data={"how": "tomorrow"}).status_code == 404
    assert stranger.post(f"/tasks/{mine.id}/delete").status_code == 404
    assert stranger.get(f"/tasks/{mine.id}/edit").status_code == 404
    assert reload(mine).done_at is not None and reload(mine).deleted_at is None


# --- a task on its own -----------------------------------------------------------------------------------------------

def test_new_task_preselected_from_a_company_and_from_a_meeting(client, zone):
    login(client, zone.a1)
    page = soup(client.get(f"/tasks/new?company_id={zone.company.id}&project_id={zone.project.id}"))
    assert page.select_one("input[name=company_id]")["value"] == str(zone.company.id)
    assert page.select_one("select[name=project_id] option[selected]")["value"] == str(zone.project.id)
    response = client.post("/tasks/new", data={"title": "准备合同", "due_date": "2025-04-01", "due_time": "10:00",
                                               "owner_id": str(zone.a2.id), "company_id": str(zone.company.id),
                                               "project_id": str(zone.project.id), "notes": "第一稿"})
    assert response.status_code == 302 and response.headers["Location"] == "/tasks"
    made = db.session.scalar(select(Task))
    assert (made.title, made.due_on, made.owner_id, made.company_id, made.project_id, made.notes) == \
        ("准备合同", date(2025, 4, 1), zone.a2.id, zone.company.id, zone.project.id, "第一稿")
    assert made.due_at.replace(tzinfo=UTC) == datetime(2025, 4, 1, 2, 0, tzinfo=UTC)

    meeting = logged(client, zone)
    page = client.get(f"/tasks/new?meeting_id={meeting.id}")
    assert soup(page).select_one("input[name=meeting_id]")["value"] == str(meeting.id)
    assert soup(page).select_one("[data-test=meeting]")["href"] == f"/meetings/{meeting.id}"
    response = client.post("/tasks/new", data={"title": "再跟进", "due_date": "2025-04-02",
                                               "owner_id": str(zone.a1.id), "meeting_id": str(meeting.id)})
    assert response.status_code == 302 and response.headers["Location"] == f"/meetings/{meeting.id}"
    follow_up = db.session.scalar(select(Task).where(Task.title == "再跟进"))
    assert (follow_up.meeting_id, follow_up.company_id, follow_up.project_id) == \
        (meeting.id, zone.company.id, zone.project.id)


def test_new_task_bad_input_by_its_field(client, zone):
    login(client, zone.a1)
    deleted = make_project(zone.company, owner=zone.a1, name="已删项目", deleted=True)
    cases = [({"title": "", "due_date": "2025-04-01"}, "title"),
             ({"title": "x", "due_date": "not a date"}, "due_date"),
             ({"title": "x", "due_date": ""}, "due_date"),
             ({"title": "x", "due_date": "2025-04-01", "company_id": str(zone.company.id),
               "project_id": str(deleted.id)}, "project_id"),
             ({"title": "x", "due_date": "2025-04-01", "company_id": str(zone.other_company.id)}, "company_q")]
    for data, field in cases:
        response = client.post("/tasks/new", data={"owner_id": str(zone.a1.id), **data})
        assert response.status_code == 422, data
        assert field in field_errors(response), (data, field_errors(response))
    assert "deleted" in " ".join(field_errors(client.post("/tasks/new", data=cases[3][0] | {
        "owner_id": str(zone.a1.id)}))["project_id"])
    assert count(Task) == 0


def test_edit_and_delete_a_task(client, zone):
    login(client, zone.a1)
    follow_up = task(zone.a1, "旧标题", date(2025, 4, 1), company_id=zone.company.id)
    page = soup(client.get(f"/tasks/{follow_up.id}/edit"))
    assert page.select_one("input[name=due_date]")["value"] == "2025-04-01"
    assert page.select_one("input[name=company_q]")["value"] == zone.company.name
    data = {"version": str(follow_up.version), "title": "新标题", "due_date": "2025-04-03", "due_time": "",
            "owner_id": str(zone.a1.id), "company_id": str(zone.company.id), "project_id": "", "notes": ""}
    response = client.post(f"/tasks/{follow_up.id}/edit", data=data)
    assert response.status_code == 302
    assert (reload(follow_up).title, reload(follow_up).due_on) == ("新标题", date(2025, 4, 3))
    response = client.post(f"/tasks/{follow_up.id}/edit", data={**data, "title": "过时"})
    assert response.status_code == 409 and reload(follow_up).title == "新标题"
    response = client.post(f"/tasks/{follow_up.id}/delete", data={"version": str(reload(follow_up).version)})
    assert response.status_code == 302 and reload(follow_up).deleted_at is not None


# --- the home page and the menu --------------------------------------------------------------------------------------

def test_home_shows_my_tasks_today_and_the_menu_links_to_tasks(client, zone):
    task(zone.a1, "逾期一", date(2025, 3, 8))
    task(zone.a1, "今日一", date(2025, 3, 10))
    task(zone.a1, "今日二", date(2025, 3, 10))
    task(zone.a1, "下周", date(2025, 3, 18))
    with time_machine.travel(JUST_PAST_MIDNIGHT, tick=False):
        login(client, zone.a1)
        html = soup(client.get("/"))
    card = html.select_one("[data-test=my-tasks-today]")
    assert card.select_one("[data-test=overdue-count]").get_text(strip=True) == "1 overdue"
    assert card.select_one("[data-test=today-count]").get_text(strip=True) == "2 today"
    assert [r.select_one("span").get_text(strip=True) for r in card.select("[data-test=home-task]")] == \
        ["逾期一", "今日一", "今日二"]
    assert html.select_one('nav, header').select_one('a[href="/tasks"]') is not None


def test_liaisons_get_no_task_pages(client, zone):
    liaison = make_user("liaison", department="natural_resources")
    login(client, liaison)
    for url in ("/tasks", "/meetings/new", "/tasks/new", f"/meetings/company-parts?company_id={zone.company.id}"):
        assert client.get(url).status_code == 403, url
    assert 'href="/tasks"' not in client.get("/").get_data(as_text=True)


def test_future_meeting_is_marked_scheduled(client, zone):
    login(client, zone.a1)
    start = (utcnow() + timedelta(days=3)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    meeting = logged(client, zone, start_at=start, end_at="")
    html = soup(client.get(f"/meetings/{meeting.id}"))
    assert "Scheduled" in html.get_text()
