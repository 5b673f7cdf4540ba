"""The rules of meetings and follow-up tasks (crm/meetings/services.py) and the "my tasks" groups around midnight in
the zone's time zone (RELIABILITY.md RM-12). Runs on SQLite and on PostgreSQL."""
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from crm.auth import access
from crm.companies.models import Company
from crm.core.timeutil import as_aware, utcnow
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.meetings import queries, services
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task
from crm.projects.models import Project

from ..factories import make_company, make_contact, make_project, make_team, make_user


@pytest.fixture
def zone_people():
    team1, team2 = make_team(), make_team()
    w = type("W", (), {})()
    w.a, w.a2 = make_user(team=team1, name="王一"), make_user(team=team1, name="王二")
    w.b = make_user(team=team2, name="李三")
    w.manager, w.admin = make_user("manager"), make_user("admin")
    w.liaison = make_user("liaison", department="natural_resources")
    w.company = make_company("深圳华信电子有限公司", owner=w.a)
    w.contact = make_contact(w.company, name="张经理")
    w.other = make_company("东莞宏达电子有限公司", owner=w.a)
    w.other_contact = make_contact(w.other, name="陈总")
    w.project = make_project(w.company, owner=w.a, name="华信智能终端项目")
    return w


def meeting_data(w, **extra):
    return {"type": "visit", "start_at": "2026-11-20 10:00", "end_at": "2026-11-20 11:30", "city": "深圳",
            "company_id": w.company.id, "project_id": w.project.id, "participant_user_ids": [w.a2.id],
            "participant_contact_ids": [w.contact.id], "summary": "考察厂房", "outcome": "有意向",
            "next_step": "发送用地方案", **extra}


def counts():
    db.session.rollback()
    return (db.session.scalar(select(func.count()).select_from(Meeting)),
            db.session.scalar(select(func.count()).select_from(Task)),
            db.session.scalar(select(func.count()).select_from(MeetingContact)),
            db.session.scalar(select(func.count()).select_from(MeetingUser)))


# --- logging a meeting -----------------------------------------------------------------------------------------------

def test_a_meeting_with_two_follow_ups_is_logged_in_one_unit_of_work(zone_people):
    w = zone_people
    meeting = services.create_meeting(meeting_data(w), actor=w.a, follow_ups=[
        {"title": "发送用地方案", "due": "2026-11-25"},
        {"title": "约谈董事长", "due": "2026-11-26T15:00", "owner_id": w.a2.id}])
    assert meeting.owner_id == w.a.id
    assert as_aware(meeting.start_at) == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    assert [u.id for u in meeting.participant_users] == [w.a2.id]
    assert [c.id for c in meeting.participant_contacts] == [w.contact.id]
    tasks = list(db.session.scalars(select(Task).where(Task.meeting_id == meeting.id).order_by(Task.id)))
    assert [(t.title, t.owner_id, t.company_id, t.project_id) for t in tasks] == [
        ("发送用地方案", w.a.id, w.company.id, w.project.id), ("约谈董事长", w.a2.id, w.company.id, w.project.id)]
    assert tasks[0].due_on == date(2026, 11, 25) and tasks[0].due_at is None
    assert tasks[1].due_on == date(2026, 11, 26) and as_aware(tasks[1].due_at) == datetime(2026, 11, 26, 7, tzinfo=UTC)


@pytest.mark.parametrize("change, field", [
    ({"company_id": None}, "company_id"),
    ({"end_at": "2026-11-20 09:00"}, "end_at"),
    ({"type": "dinner"}, "type"),
    ({"start_at": "2025-13-45 10:00"}, "start_at"),
    ({"start_at": "2026-11-20"}, "start_at"),
])
def test_bad_meetings_are_refused_whole(zone_people, change, field):
    w = zone_people
    data = {k: v for k, v in meeting_data(w, **change).items() if v is not None}
    with pytest.raises(Invalid) as err:
        services.create_meeting(data, actor=w.a, follow_ups=[{"title": "x", "due": "2026-11-25"}])
    assert field in err.value.fields
    assert counts() == (0, 0, 0, 0)


def test_a_participant_from_another_company_is_refused(zone_people):
    w = zone_people
    with pytest.raises(Invalid) as err:
        services.create_meeting(meeting_data(w, participant_contact_ids=[w.contact.id, w.other_contact.id]),
                                actor=w.a)
    assert "participant_contact_ids" in err.value.fields
    assert counts() == (0, 0, 0, 0)


def test_a_bad_follow_up_keeps_the_meeting_from_being_saved(zone_people):
    w = zone_people
    with pytest.raises(Invalid) as err:
        services.create_meeting(meeting_data(w), actor=w.a, follow_ups=[
            {"title": "fine", "due": "2026-11-25"}, {"title": "", "due": "next tuesday"}])
    assert set(err.value.fields) == {"follow_ups.1.title", "follow_ups.1.due"}
    assert counts() == (0, 0, 0, 0)


def test_the_project_must_be_the_companys_and_visible(zone_people):
    w = zone_people
    elsewhere = make_project(w.other, owner=w.a)
    with pytest.raises(Invalid) as err:
        services.create_meeting(meeting_data(w, project_id=elsewhere.id), actor=w.a)
    assert "project_id" in err.value.fields
    secret = make_project(make_company(owner=w.b), owner=w.b, confidential=True, code_name="白鹭")
    with pytest.raises(Invalid) as err:
        services.create_meeting(meeting_data(w, company_id=secret.company_id, project_id=secret.id), actor=w.a)
    assert "company_id" in err.value.fields and "project_id" in err.value.fields


def test_long_text_with_html_and_emoji_is_stored_whole(zone_people):
    w = zone_people
    text = ('<script>alert(1)</script>"><img src=x onerror=alert(1)> 投资😀' * 250)[:10000]
    assert len(text) == 10000
    meeting = services.create_meeting(meeting_data(w, summary=text, outcome=text, next_step=text), actor=w.a)
    db.session.expire_all()
    stored = db.session.get(Meeting, meeting.id)
    assert stored.summary == text and stored.outcome == text and stored.next_step == text


def test_an_admin_must_name_the_officer_and_a_liaison_cannot_log(zone_people):
    w = zone_people
    with pytest.raises(Invalid) as err:
        services.create_meeting(meeting_data(w), actor=w.admin)
    assert "owner_id" in err.value.fields
    meeting = services.create_meeting(meeting_data(w), actor=w.admin, owner_id=w.a.id)
    assert meeting.owner_id == w.a.id
    with pytest.raises(Forbidden):
        services.create_meeting(meeting_data(w), actor=w.liaison)
    with pytest.raises(Forbidden):  # an officer cannot log in another's name
        services.create_meeting(meeting_data(w), actor=w.a2, owner_id=w.a.id)


# --- activity --------------------------------------------------------------------------------------------------------

def test_a_past_meeting_is_activity_and_extends_the_holders_protection(zone_people):
    w = zone_people
    company = db.session.get(Company, w.company.id)
    old_until = utcnow() + timedelta(days=3)
    company.claimed_until, company.last_activity_at = old_until, utcnow() - timedelta(days=40)
    project = db.session.get(Project, w.project.id)
    project.last_activity_at = utcnow() - timedelta(days=40)
    db.session.commit()
    versions = (company.version, project.version)
    yesterday = (utcnow() - timedelta(days=1)).isoformat()
    services.create_meeting(meeting_data(w, start_at=yesterday, end_at=None), actor=w.a)
    db.session.expire_all()
    company, project = db.session.get(Company, w.company.id), db.session.get(Project, w.project.id)
    assert as_aware(company.last_activity_at) > utcnow() - timedelta(days=2)
    assert as_aware(project.last_activity_at) > utcnow() - timedelta(days=2)
    assert as_aware(company.claimed_until) > old_until + timedelta(days=20)  # protection runs on from the visit
    assert (company.version, project.version) == versions  # an open edit form elsewhere stays current


def test_a_scheduled_meeting_is_not_activity_yet(zone_people):
    w = zone_people
    before = db.session.get(Company, w.company.id).last_activity_at
    services.create_meeting(meeting_data(w, start_at=(utcnow() + timedelta(days=3)).isoformat(), end_at=None),
                            actor=w.a)
    db.session.expire_all()
    assert db.session.get(Company, w.company.id).last_activity_at == before


# --- editing and deleting --------------------------------------------------------------------------------------------

def test_edit_is_version_checked_and_a_new_company_drops_the_old_contacts(zone_people):
    w = zone_people
    meeting = services.create_meeting(meeting_data(w), actor=w.a)
    with pytest.raises(Conflict):
        services.update_meeting(meeting.id, {"summary": "late"}, actor=w.a, version=meeting.version + 5)
    updated = services.update_meeting(meeting.id, {"company_id": w.other.id, "project_id": None},
                                      actor=w.a, version=meeting.version)
    assert updated.company_id == w.other.id and updated.project_id is None
    assert updated.participant_contacts == []
    with pytest.raises(Invalid) as err:
        services.update_meeting(meeting.id, {"end_at": "2026-11-19 08:00"}, actor=w.a, version=updated.version)
    assert "end_at" in err.value.fields


def test_only_the_team_or_a_manager_edits_and_other_teams_get_not_found(zone_people):
    w = zone_people
    meeting = services.create_meeting(meeting_data(w), actor=w.a)
    services.update_meeting(meeting.id, {"outcome": "改期"}, actor=w.a2, version=meeting.version)
    with pytest.raises(NotFound):  # b's team may not see a's company
        services.update_meeting(meeting.id, {"outcome": "x"}, actor=w.b, version=meeting.version)
    pool_meeting = services.create_meeting(meeting_data(w, company_id=make_company().id, project_id=None,
                                                        participant_contact_ids=[]), actor=w.a)
    assert access.visible_meeting(pool_meeting.id, w.b)  # a public-pool company's meeting is visible ...
    with pytest.raises(Forbidden):  # ... but not b's to change
        services.update_meeting(pool_meeting.id, {"outcome": "x"}, actor=w.b, version=pool_meeting.version)
    services.delete_meeting(meeting.id, actor=w.manager)
    with pytest.raises(NotFound):
        access.visible_meeting(meeting.id, w.a)


def test_a_participant_sees_the_meeting_of_another_team(zone_people):
    w = zone_people
    meeting = services.create_meeting(meeting_data(w, participant_user_ids=[w.b.id]), actor=w.a)
    assert access.visible_meeting(meeting.id, w.b).id == meeting.id


def test_meetings_on_another_teams_confidential_project_stay_hidden(zone_people):
    w = zone_people
    pool = make_company()
    secret = make_project(pool, owner=w.b, confidential=True, code_name="白鹭")
    meeting = services.create_meeting({"type": "call", "start_at": "2026-11-20 09:00", "company_id": pool.id,
                                       "project_id": secret.id}, actor=w.b,
                                      follow_ups=[{"title": "回电", "due": "2026-11-21"}])
    with pytest.raises(NotFound):
        access.visible_meeting(meeting.id, w.a)
    task = db.session.scalar(select(Task).where(Task.meeting_id == meeting.id))
    with pytest.raises(NotFound):
        access.visible_task(task.id, w.a)
    assert access.visible_task(task.id, w.manager).id == task.id


# --- tasks -----------------------------------------------------------------------------------------------------------

def test_a_task_on_its_own_and_one_for_a_deleted_project(zone_people):
    w = zone_people
    task = services.create_task({"title": "准备政策汇编", "due": "2026-12-01"}, actor=w.a)
    assert task.owner_id == w.a.id and task.company_id is None
    task = services.create_task({"title": "跟进", "due": "2026-12-01", "project_id": w.project.id}, actor=w.a)
    assert task.company_id == w.company.id  # the project's company
    gone = make_project(w.company, owner=w.a, deleted=True)
    with pytest.raises(Invalid) as err:
        services.create_task({"title": "跟进", "due": "2026-12-01", "project_id": gone.id}, actor=w.a)
    assert "deleted" in err.value.fields["project_id"][0].lower() or "删除" in err.value.fields["project_id"][0]


@pytest.mark.parametrize("due", ["next tuesday", "2026-02-30", "2026/12/01", "", 20261201, "2026-12-01T25:00"])
def test_a_due_that_is_not_a_date_is_refused(zone_people, due):
    with pytest.raises(Invalid) as err:
        services.create_task({"title": "x", "due": due}, actor=zone_people.a)
    assert "due" in err.value.fields


def test_done_reopen_and_stale_versions(zone_people):
    w = zone_people
    task = services.create_task({"title": "回访", "due": "2026-12-01", "company_id": w.company.id}, actor=w.a)
    version = task.version
    services.complete_task(task.id, actor=w.a2)  # a teammate may tick it off
    assert task.done_at is not None and task.done_by_id == w.a2.id
    with pytest.raises(Conflict):
        services.update_task(task.id, {"title": "late edit"}, actor=w.a, version=version)
    services.reopen_task(task.id, actor=w.a)
    assert task.done_at is None
    updated = services.update_task(task.id, {"done": True}, actor=w.a, version=task.version)
    assert updated.done
    with pytest.raises(NotFound):
        services.complete_task(task.id, actor=w.b)


def test_snooze_moves_a_task_later_and_keeps_its_time(zone_people):
    w = zone_people
    with time_machine.travel(datetime(2025, 3, 12, 4, 0, tzinfo=UTC), tick=False):  # Wednesday noon, Beijing
        timed = services.create_task({"title": "电话", "due": "2025-03-11T09:30"}, actor=w.a)
        services.snooze_task(timed.id, "tomorrow", actor=w.a)
        assert timed.due_on == date(2025, 3, 13)
        assert as_aware(timed.due_at) == datetime(2025, 3, 13, 1, 30, tzinfo=UTC)  # still 09:30 Beijing
        later = services.create_task({"title": "方案", "due": "2025-03-20"}, actor=w.a)
        services.snooze_task(later.id, "tomorrow", actor=w.a)
        assert later.due_on == date(2025, 3, 21)  # never brought forward
        services.snooze_task(later.id, "next_week", actor=w.a)
        assert later.due_on == date(2025, 3, 24)  # the Monday after
        with pytest.raises(Invalid):
            services.snooze_task(later.id, "forever", actor=w.a)
        services.complete_task(later.id, actor=w.a)
        with pytest.raises(Conflict):
            services.snooze_task(later.id, "tomorrow", actor=w.a)


# --- "my tasks" around midnight in Asia/Shanghai (RM-12) ------------------------------------------------------------

def _groups(user, at):
    with time_machine.travel(at, tick=False):
        groups = queries.task_groups(user, user)
    return {name: [t.title for t in getattr(groups, name)] for name in services.BUCKETS}, groups.counts


def _seed_tasks(owner):
    for title, due in [("due 03-09", "2025-03-09"), ("due 03-10", "2025-03-10"), ("due 03-10 23:00",
                       "2025-03-10T23:00"), ("due 03-11", "2025-03-11"), ("due 03-16", "2025-03-16"),
                       ("due 03-17", "2025-03-17")]:
        services.create_task({"title": title, "due": due}, actor=owner)


def test_just_after_midnight_beijing_the_new_day_is_today(zone_people):
    w = zone_people
    _seed_tasks(w.a)
    groups, numbers = _groups(w.a, datetime(2025, 3, 9, 16, 30, tzinfo=UTC))  # 2025-03-10 00:30 Beijing (Monday)
    assert groups == {"overdue": ["due 03-09"], "today": ["due 03-10 23:00", "due 03-10"],
                      "week": ["due 03-11", "due 03-16"], "later": ["due 03-17"]}
    assert numbers == {"overdue": 1, "today": 2, "week": 2, "later": 1}


def test_just_before_midnight_beijing_the_day_is_still_today(zone_people):
    w = zone_people
    _seed_tasks(w.a)
    groups, _ = _groups(w.a, datetime(2025, 3, 10, 15, 59, tzinfo=UTC))  # 2025-03-10 23:59 Beijing
    assert groups["overdue"] == ["due 03-10 23:00", "due 03-09"]  # the timed one passed at 23:00
    assert groups["today"] == ["due 03-10"]
    groups, _ = _groups(w.a, datetime(2025, 3, 10, 16, 0, tzinfo=UTC))  # 03-11 00:00 Beijing
    # overdue is newest first: yesterday's (the all-day one ended last, at midnight) before the day before's
    assert groups["overdue"] == ["due 03-10", "due 03-10 23:00", "due 03-09"]
    assert groups["today"] == ["due 03-11"]


def test_overdue_is_derived_from_the_zones_day(zone_people):
    w = zone_people
    _seed_tasks(w.a)
    task = db.session.scalar(select(Task).where(Task.title == "due 03-10"))
    assert not services.is_overdue(task, now=datetime(2025, 3, 10, 15, 59, tzinfo=UTC))
    assert services.is_overdue(task, now=datetime(2025, 3, 10, 16, 0, tzinfo=UTC))
    with time_machine.travel(datetime(2025, 3, 10, 16, 0, tzinfo=UTC), tick=False):
        rows, total = queries.task_list(w.a, queries.TaskFilters(owner_id=w.a.id, overdue=True))
    assert total == 3 and {t.title for t in rows} == {"due 03-09", "due 03-10", "due 03-10 23:00"}


def test_the_days_follow_the_configured_zone_across_a_dst_change(app, zone_people, monkeypatch):
    """Guard (RM-12): in Europe/Berlin, 2025-03-30 has 23 hours; "today" is still exactly that calendar day."""
    monkeypatch.setitem(app.config, "CRM_TIMEZONE", "Europe/Berlin")
    w = zone_people
    services.create_task({"title": "Sunday", "due": "2025-03-30"}, actor=w.a)
    services.create_task({"title": "Monday", "due": "2025-03-31"}, actor=w.a)
    early, _ = _groups(w.a, datetime(2025, 3, 29, 23, 30, tzinfo=UTC))  # 00:30 CET on the 30th
    late, _ = _groups(w.a, datetime(2025, 3, 30, 21, 59, tzinfo=UTC))  # 23:59 CEST on the 30th
    after, _ = _groups(w.a, datetime(2025, 3, 30, 22, 0, tzinfo=UTC))  # 00:00 CEST on the 31st
    assert early["today"] == ["Sunday"] and late["today"] == ["Sunday"]
    assert after["overdue"] == ["Sunday"] and after["today"] == ["Monday"]


def test_a_manager_sees_any_officers_tasks_and_an_officer_only_their_teams(zone_people):
    w = zone_people
    services.create_task({"title": "a's", "due": "2026-12-01"}, actor=w.a)
    assert access.can_see_tasks_of(w.manager, w.a) and access.can_see_tasks_of(w.a2, w.a)
    assert not access.can_see_tasks_of(w.b, w.a)
    assert queries.task_groups(w.manager, w.a).open_total == 1


# --- the timeline's order --------------------------------------------------------------------------------------------

def test_the_timeline_merges_kinds_newest_first_and_pages_without_gaps(zone_people):
    w = zone_people
    base = utcnow() - timedelta(days=30)
    for n in range(12):
        services.create_meeting(meeting_data(w, start_at=(base + timedelta(days=n)).isoformat(), end_at=None,
                                             summary=f"m{n}"), actor=w.a,
                                follow_ups=[{"title": f"t{n}", "due": "2026-12-01"}])
    seen, before = [], None
    while True:
        page = queries.timeline(w.a, company_id=w.company.id, before=before, limit=7)
        seen += [(i.kind, i.id) for i in page.items]
        assert [i.at for i in page.items] == sorted((i.at for i in page.items), reverse=True)
        if page.next_before is None:
            break
        before = queries.parse_before(page.next_before)
    kinds = [k for k, _ in seen]
    assert kinds.count("meeting") == 12 and kinds.count("task") == 12 and "stage" in kinds and "change" in kinds
    assert len(seen) == len(set(seen))
    only = queries.timeline(w.a, company_id=w.company.id, kinds=queries.parse_kinds("meeting"), limit=50)
    assert {i.kind for i in only.items} == {"meeting"} and len(only.items) == 12
