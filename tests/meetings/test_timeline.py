"""The one timeline on the company and project pages: meetings, tasks, stage moves and changes newest first, the
filter chips, "show older" with no gaps or repeats, what another team may not see, escaping, and the fragments."""
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from flask import url_for
from sqlalchemy import select, update

from crm.audit.models import AuditEvent
from crm.companies import services as company_services
from crm.companies.models import Company
from crm.core.timeutil import as_aware, today_in_zone, utcnow
from crm.extensions import db
from crm.meetings import queries, services
from crm.meetings.models import Meeting, Task
from crm.projects import services as project_services
from crm.projects.models import StageMove

from ..factories import login, make_company, make_contact, make_project, make_reference, make_team, make_user


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def shown(response) -> list[str]:
    """The timeline's items in order, as "kind-id"."""
    return [li["data-id"] for li in soup(response).select("[data-test=timeline-item]")]


def more_url(response) -> str | None:
    button = soup(response).select_one("[data-test=timeline-more]")
    return button["hx-get"] if button else None


@pytest.fixture
def zone():
    """Team A (a1, a2) and team B (b1), a manager; a1 reads English."""
    make_reference()
    team_a, team_b = make_team("招商一组"), make_team("招商二组")

    class Zone:
        a1 = make_user(team=team_a, name="王伟", locale="en")
        a2 = make_user(team=team_a, name="李娜")
        b1 = make_user(team=team_b, name="张强", locale="en")
        manager = make_user("manager", name="陈局")
    return Zone


def _meeting(actor, company, *, days_ago: float, project=None, type_="visit", summary="", **extra) -> Meeting:
    start = utcnow() - timedelta(days=days_ago)
    follow_ups = extra.pop("follow_ups", None)
    data = {"type": type_, "start_at": start.isoformat(), "company_id": company.id,
            "project_id": project.id if project else None, "summary": summary, **extra}
    return services.create_meeting(data, actor=actor, follow_ups=follow_ups)


def _task(actor, company, *, title, due, project=None, meeting=None) -> Task:
    data = {"title": title, "due": due.isoformat(), "company_id": company.id}
    if project is not None:
        data["project_id"] = project.id
    if meeting is not None:
        data["meeting_id"] = meeting.id
    return services.create_task(data, actor=actor)


def _set(model, row_id: int, column: str, value) -> None:
    db.session.execute(update(model).where(model.id == row_id).values({column: value}))
    db.session.commit()


def _record(zone):
    """A company with a contact, a project moved twice, meetings (one scheduled), tasks and an edit, each at a time of
    its own; returns the company, the project and the ids the company's timeline shows, newest first."""
    now = utcnow()
    company = make_company("深圳市华信精密电子有限公司", owner=zone.a1, origin_city="shenzhen")
    contact = make_contact(company, name="张总")
    project = make_project(company, owner=zone.a1, name="精密连接器项目")
    created_move = db.session.scalar(select(StageMove.id).where(StageMove.project_id == project.id))
    # the factories' own records, a month back and a minute apart
    old = list(db.session.scalars(select(AuditEvent).where(AuditEvent.object_type.in_(("company", "contact")))
                                  .order_by(AuditEvent.id)))
    for n, event in enumerate(old):
        _set(AuditEvent, event.id, "at", now - timedelta(days=30, minutes=-n))
    _set(StageMove, created_move, "at", now - timedelta(days=20))

    m1 = _meeting(zone.a1, company, days_ago=10, project=project, summary="第一次拜访",
                  participant_contact_ids=[contact.id])
    t1 = _task(zone.a1, company, title="发送园区资料", due=today_in_zone() - timedelta(days=2), meeting=m1)
    _set(Task, t1.id, "created_at", now - timedelta(days=9, hours=23))
    p = project_services.move_stage(project.id, "negotiating", actor=zone.a1, version=project.version,
                                    note="开始洽谈")
    s1 = db.session.scalar(select(StageMove.id).where(StageMove.project_id == project.id,
                                                      StageMove.to_stage == "negotiating"))
    _set(StageMove, s1, "at", now - timedelta(days=7))
    company = db.session.get(Company, company.id)
    company_services.update_company(company.id, {"employees": 800}, actor=zone.a1, version=company.version)
    e1 = db.session.scalar(select(AuditEvent.id).where(AuditEvent.object_type == "company",
                                                       AuditEvent.action == "update").order_by(AuditEvent.id.desc())
                           .limit(1))
    _set(AuditEvent, e1, "at", now - timedelta(days=5))
    m2 = _meeting(zone.a1, company, days_ago=3, type_="negotiation", summary="洽谈用地")
    t2 = _task(zone.a1, company, title="准备投资协议草稿", due=today_in_zone() + timedelta(days=3))
    _set(Task, t2.id, "created_at", now - timedelta(days=2))
    project_services.move_stage(project.id, "site_visit", actor=zone.a1, version=p.version)
    s2 = db.session.scalar(select(StageMove.id).where(StageMove.project_id == project.id,
                                                      StageMove.to_stage == "site_visit"))
    _set(StageMove, s2, "at", now - timedelta(days=1))
    m3 = _meeting(zone.a1, company, days_ago=-2, type_="inbound_visit", summary="来园区考察厂房")
    # stage moves write project updates to the log: the project's page shows them, the company's does not
    expected = [f"meeting-{m3.id}", f"stage-{s2}", f"task-{t2.id}", f"meeting-{m2.id}", f"change-{e1}",
                f"stage-{s1}", f"task-{t1.id}", f"meeting-{m1.id}", f"stage-{created_move}"]
    expected += [f"change-{e.id}" for e in reversed(old)]
    return company, project, expected


def test_the_company_page_shows_every_kind_newest_first(client, zone):
    company, project, expected = _record(zone)
    login(client, zone.a1)
    page = client.get(f"/companies/{company.id}")
    assert page.status_code == 200
    assert shown(page) == expected
    html = soup(page)
    items = {li["data-id"]: li for li in html.select("[data-test=timeline-item]")}
    meeting = items[expected[3]]
    assert "Negotiation" in meeting.get_text() and "洽谈用地" in meeting.get_text()
    assert meeting.select_one("[data-test=meeting-link]")["href"].endswith(f"/{expected[3].split('-')[1]}")
    assert "Scheduled" in items[expected[0]].get_text()
    late = items[expected[6]]
    assert late.select_one("[data-test=task-state]").get_text(strip=True) == "Overdue"
    assert items[expected[2]].select_one("[data-test=task-state]").get_text(strip=True) == "Open"
    assert "Employees" in items[expected[4]].get_text() and "800" in items[expected[4]].get_text()
    assert [b["data-stage"] for b in items[expected[1]].select("[data-stage]")] == ["negotiating", "site_visit"]
    assert "精密连接器项目" in items[expected[1]].get_text()  # which project moved
    # the open follow-ups, the overdue one marked; the last activity; the buttons to log a meeting and add a task
    tasks = html.select("[data-test=open-task]")
    assert [t.select_one(".fw-medium").get_text() for t in tasks] == ["发送园区资料", "准备投资协议草稿"]
    assert tasks[0].get("data-overdue") == "true" and tasks[1].get("data-overdue") is None
    assert today_in_zone().isoformat() in html.select_one("[data-test=last-activity]").text  # the stage moves
    with client.application.test_request_context():
        assert html.select_one("[data-test=log-meeting]")["href"] == url_for("meetings.new", company_id=company.id)
        assert html.select_one("[data-test=new-task]")["href"] == url_for("meetings.new_task", company_id=company.id)


def test_the_project_page_shows_its_own_timeline(client, zone):
    company, project, _expected = _record(zone)
    other = make_project(company, owner=zone.a1, name="另一个项目")
    _meeting(zone.a1, company, days_ago=1, project=other, summary="另一个项目的会")
    login(client, zone.a1)
    page = client.get(f"/projects/{project.id}")
    assert page.status_code == 200
    kinds = [i.split("-")[0] for i in shown(page)]
    assert {"meeting", "task", "stage", "change"} <= set(kinds)
    text = soup(page).select_one("[data-test=timeline]").get_text(" ")
    assert "另一个项目的会" not in text and "洽谈用地" not in text  # m2 has no project
    assert "第一次拜访" in text and "发送园区资料" in text and "开始洽谈" in text
    times = [as_aware(item.at) for item in queries.timeline(zone.a1, project_id=project.id).items]
    assert times == sorted(times, reverse=True)
    assert soup(page).select("[data-test=moves] li")  # the stage path's moves stay
    with client.application.test_request_context():
        assert soup(page).select_one("[data-test=log-meeting]")["href"] == url_for(
            "meetings.new", company_id=company.id, project_id=project.id)


def test_kind_filters(client, zone):
    company, project, expected = _record(zone)
    login(client, zone.a1)
    for kind in queries.TIMELINE_KINDS:
        response = client.get(f"/companies/{company.id}/timeline?kind={kind}")
        assert response.status_code == 200
        assert shown(response) == [i for i in expected if i.startswith(kind + "-")], kind
        chips = {a["data-kind"]: a["aria-pressed"] for a in soup(response).select("[data-test=timeline-filters] a")}
        assert chips == {"": "false", **{k: "true" if k == kind else "false" for k in queries.TIMELINE_KINDS}}
    both = client.get(f"/companies/{company.id}/timeline?kind=meeting,task")
    assert shown(both) == [i for i in expected if i.split("-")[0] in ("meeting", "task")]
    assert shown(client.get(f"/companies/{company.id}/timeline?kind=meeting&kind=stage")) == \
        [i for i in expected if i.split("-")[0] in ("meeting", "stage")]
    # the chips toggle: from "meeting", a click on "task" asks for both, on "meeting" for everything
    links = {a["data-kind"]: a["hx-get"] for a in soup(client.get(
        f"/companies/{company.id}/timeline?kind=meeting")).select("[data-test=timeline-filters] a")}
    assert links["task"].endswith("kind=meeting,task") and "kind" not in links["meeting"]
    # the page itself takes the same filter (the chips' links without JavaScript)
    page = client.get(f"/companies/{company.id}?kind=stage")
    assert shown(page) == [i for i in expected if i.startswith("stage-")]
    project_page = client.get(f"/projects/{project.id}/timeline?kind=change")
    assert shown(project_page) and all(i.startswith("change-") for i in shown(project_page))
    # bad input falls back to the defaults
    for query in ("kind=nonsense", "kind=", "kind=%00", "before=yesterday", "before=0001-01-01T00:00:00%2B14:00",
                  "before=9999-12-31T23:59:59-14:00", "kind=meeting&before=" + "9" * 500):
        response = client.get(f"/companies/{company.id}/timeline?{query}")
        assert response.status_code == 200, query
        assert client.get(f"/companies/{company.id}?{query}").status_code == 200, query
        assert client.get(f"/projects/{project.id}/timeline?{query}").status_code == 200, query
    assert shown(client.get(f"/companies/{company.id}/timeline?kind=nonsense")) == expected


def test_show_older_pages_without_gaps_or_repeats(client, zone):
    """45 items, ten of them at one instant where the first page would end: each page continues where the last
    stopped, the ten together."""
    company = make_company(owner=zone.a1)
    db.session.execute(update(AuditEvent).values(at=utcnow() - timedelta(days=400)))
    now = utcnow()
    newest = [_meeting(zone.a1, company, days_ago=n / 1440) for n in range(1, 26)]
    tied = [_task(zone.a1, company, title=f"待办{n}", due=today_in_zone()) for n in range(10)]
    db.session.execute(update(Task).values(created_at=now - timedelta(minutes=30)))
    older = [_meeting(zone.a1, company, days_ago=(40 + n) / 1440) for n in range(10)]
    db.session.commit()
    everything = [f"meeting-{m.id}" for m in newest] + sorted((f"task-{t.id}" for t in tied),
                                                              key=lambda s: -int(s.split("-")[1]))
    everything += [f"meeting-{m.id}" for m in older]
    everything += [f"change-{e}" for e in db.session.scalars(select(AuditEvent.id).where(
        AuditEvent.object_type == "company").order_by(AuditEvent.id.desc()))]
    assert len(everything) > 45

    login(client, zone.a1)
    first = client.get(f"/companies/{company.id}/timeline")
    seen, pages = shown(first), 1
    assert len(seen) == 25  # the page stops before the ten that share an instant
    url = more_url(first)
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert soup(response).select_one("#timeline") is None  # the items only, for the button to swap in
        seen += shown(response)
        url, pages = more_url(response), pages + 1
        assert pages < 10
    assert seen == everything and len(set(seen)) == len(seen)
    # without JavaScript the button is a link to the page itself, one page further back
    button = soup(first).select_one("[data-test=timeline-more]")
    assert button["href"].startswith(f"/companies/{company.id}?") and "#timeline" in button["href"]
    second = client.get(button["href"].split("#")[0])
    assert shown(second)[0] == everything[25] and "Back to the newest" in second.get_data(as_text=True)
    # and the query pages the same way
    got, before = [], None
    while True:
        page = queries.timeline(zone.a1, company_id=company.id, before=before)
        got += [f"{i.kind}-{i.id}" for i in page.items]
        if page.next_before is None:
            break
        before = queries.parse_before(page.next_before)
    assert got == everything


def test_another_team_does_not_see_a_confidential_projects_meeting(client, zone):
    """A company in the public pool; team A's confidential project on it: team B's officer sees the company's own
    meetings on its timeline, but nothing of the project (meetings, tasks, stage moves); its page is 404."""
    company = make_company("公共池企业有限公司")
    secret = make_project(company, owner=zone.a1, name="保密项目", confidential=True, code_name="猎鹰")
    hidden = _meeting(zone.a1, company, days_ago=1, project=secret, summary="保密洽谈内容",
                      follow_ups=[{"title": "保密待办", "due": today_in_zone().isoformat()}])
    public = _meeting(zone.a1, company, days_ago=2, summary="公开拜访")
    login(client, zone.b1)
    page = client.get(f"/companies/{company.id}")
    assert page.status_code == 200
    ids = shown(page)
    assert f"meeting-{public.id}" in ids and f"meeting-{hidden.id}" not in ids
    assert not [i for i in ids if i.startswith(("task-", "stage-"))]
    html = page.get_data(as_text=True)
    assert "保密洽谈内容" not in html and "保密待办" not in html and "保密项目" not in html and "猎鹰" not in html
    assert "保密" not in client.get(f"/companies/{company.id}/timeline").get_data(as_text=True)
    assert client.get(f"/projects/{secret.id}/timeline").status_code == 404
    assert client.get(f"/projects/{secret.id}/timeline?before=2030-01-01").status_code == 404
    # team A and the manager see it all
    for user in (zone.a2, zone.manager):
        client.post("/logout")
        login(client, user)
        assert f"meeting-{hidden.id}" in shown(client.get(f"/companies/{company.id}/timeline"))


def test_invisible_company_or_project_fragment_is_404(client, zone):
    held_by_a = make_company(owner=zone.a1)
    project = make_project(held_by_a, owner=zone.a1)
    gone = make_company(owner=zone.b1, deleted=True)
    login(client, zone.b1)
    assert client.get(f"/companies/{held_by_a.id}/timeline").status_code == 404
    assert client.get(f"/companies/{gone.id}/timeline").status_code == 404
    assert client.get("/companies/999999/timeline?kind=meeting").status_code == 404
    assert client.get(f"/projects/{project.id + 1000}/timeline").status_code == 404
    liaison = make_user("liaison", department="natural_resources")
    client.post("/logout")
    login(client, liaison)
    # a liaison is refused every record page of the staff with 404 (crm.web.staff_only)
    assert client.get(f"/companies/{held_by_a.id}/timeline").status_code == 404
    assert client.get(f"/projects/{project.id}/timeline").status_code == 404


def test_html_in_a_meeting_is_escaped_and_long_text_cut(client, zone):
    company = make_company(owner=zone.a1)
    project = make_project(company, owner=zone.a1)
    evil = "<script>alert(1)</script><b>粗体</b>"
    long_text = "很长的会议纪要。" * 2000
    _meeting(zone.a1, company, days_ago=1, project=project, summary=evil, next_step=evil, place=evil,
             follow_ups=[{"title": evil, "due": today_in_zone().isoformat()}])
    _meeting(zone.a1, company, days_ago=2, summary=long_text + "😀")
    login(client, zone.a1)
    for url in (f"/companies/{company.id}", f"/projects/{project.id}", f"/companies/{company.id}/timeline",
                f"/projects/{project.id}/timeline"):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert "<script>alert" not in html and "<b>粗体" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;粗体&lt;/b&gt;" in html, url
    summaries = [s.get_text() for s in soup(client.get(f"/companies/{company.id}")).select("[data-test=summary]")]
    cut = next(s for s in summaries if s.startswith("很长"))
    assert len(cut) <= 201 and cut.endswith("…")


def test_last_activity_follows_a_logged_meeting(client, zone):
    company = make_company(owner=zone.a1)
    login(client, zone.a1)
    assert "none yet" in soup(client.get(f"/companies/{company.id}")).select_one("[data-test=last-activity]").text
    _meeting(zone.a1, company, days_ago=2)
    _meeting(zone.a1, company, days_ago=-3)  # a scheduled meeting is not activity yet
    text = soup(client.get(f"/companies/{company.id}")).select_one("[data-test=last-activity]").text
    assert (today_in_zone() - timedelta(days=2)).isoformat() in text
