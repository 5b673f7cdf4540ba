"""The demo zone's meetings and follow-ups (seed-demo): every type, past and scheduled, each with its company's own
contacts; "my tasks" of the demo officers has overdue, due-today and done tasks; last activity follows the meetings;
loading twice adds nothing."""
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import demo
from crm.audit.models import AuditEvent
from crm.auth import services as auth_services
from crm.auth.models import User
from crm.companies.models import Company, Contact
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.extensions import db
from crm.meetings import queries
from crm.meetings.models import MEETING_TYPES, Meeting, MeetingContact, MeetingUser, Task
from crm.projects.models import Project

from .factories import TEST_PASSWORD_METHOD, login


@pytest.fixture
def seeded(monkeypatch):
    # the demo users' passwords hashed at the suite's small cost (tests/factories.py), not seven 0.1 s hashes a test
    monkeypatch.setattr(auth_services, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)
    return demo.seed_demo(companies=60)


def _officer(email: str = "officer@demo.zone") -> User:
    return db.session.scalar(select(User).where(User.email == email))


def test_meetings_of_every_type_past_and_scheduled(seeded):
    meetings = list(db.session.scalars(select(Meeting)))
    assert seeded["meetings"] == len(meetings) and seeded["tasks"] == db.session.scalar(
        select(func.count()).select_from(Task))
    assert {m.type for m in meetings} == set(MEETING_TYPES)
    now, today = utcnow(), today_in_zone()
    past = [m for m in meetings if as_aware(m.start_at) <= now]
    ahead = [m for m in meetings if as_aware(m.start_at) > now]
    assert ahead and all(not m.outcome for m in ahead) and all(m.summary and m.outcome and m.next_step for m in past)
    assert min(as_aware(m.start_at) for m in meetings).astimezone(zone()).date() >= today - timedelta(weeks=8)
    assert max(as_aware(m.start_at) for m in meetings).astimezone(zone()).date() <= today + timedelta(weeks=3)
    # 3–6 a week for each officer in the past, in office hours, logged after they happened
    per_officer = Counter(m.owner_id for m in past)
    assert len(per_officer) == 4 and all(3 * 7 <= n <= 6 * 9 for n in per_officer.values()), per_officer
    for m in meetings:
        local = as_aware(m.start_at).astimezone(zone())
        assert 9 <= local.hour <= 17 and local.weekday() < 6
        assert as_aware(m.end_at) > as_aware(m.start_at)
        assert as_aware(m.created_at) <= now
        if m in past:
            assert as_aware(m.created_at) >= as_aware(m.start_at)
    assert sum(1 for m in meetings if m.project_id) > len(meetings) / 3
    assert db.session.scalar(select(func.count()).select_from(MeetingUser)) > 0  # a colleague now and then


def test_participants_and_projects_belong_to_the_meetings_company(seeded):
    wrong = db.session.execute(
        select(Meeting.id).join(MeetingContact, MeetingContact.meeting_id == Meeting.id)
        .join(Contact, Contact.id == MeetingContact.contact_id).where(Contact.company_id != Meeting.company_id)).all()
    assert wrong == []
    assert db.session.scalar(select(func.count()).select_from(MeetingContact)) >= seeded["meetings"]
    wrong = db.session.execute(select(Meeting.id).join(Project, Project.id == Meeting.project_id)
                               .where(Project.company_id != Meeting.company_id)).all()
    assert wrong == []
    # an officer's meetings are on companies they may open
    from crm.auth import access
    for m in db.session.scalars(select(Meeting)):
        owner = db.session.get(User, m.owner_id)
        assert db.session.scalar(select(Company.id).where(Company.id == m.company_id, access.company_scope(owner)))


def test_tasks_overdue_today_and_done_for_each_officer(seeded):
    now = utcnow()
    for email in ("officer@demo.zone", "chen@demo.zone", "li@demo.zone", "zhou@demo.zone"):
        officer = _officer(email)
        groups = queries.task_groups(officer, officer)
        least = 4 if email == "officer@demo.zone" else 3
        assert least <= groups.counts["overdue"] <= 15, (email, groups.counts)
        assert groups.counts["today"] >= least and groups.done_today, (email, groups.counts)
        assert any(t.due_at for t in groups.today), email  # one at a time of day
        assert groups.counts["later"] or groups.counts["week"]
    tasks = list(db.session.scalars(select(Task)))
    done = [t for t in tasks if t.done_at is not None]
    assert len(done) > len(tasks) / 2
    for t in tasks:
        assert t.meeting_id and t.company_id
        assert as_aware(t.created_at) <= now
        if t.done_at is not None:
            assert as_aware(t.created_at) <= as_aware(t.done_at) <= now and t.done_by_id == t.owner_id
        if t.due_at is not None:
            assert as_aware(t.due_at).astimezone(zone()).date() == t.due_on
    # the log dates a meeting to when it was logged
    m = db.session.scalar(select(Meeting).order_by(Meeting.id))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "meeting",
                                                       AuditEvent.object_id == m.id))
    assert as_aware(event.at) == as_aware(m.created_at) and event.actor_id == m.owner_id


def test_last_activity_follows_the_latest_past_meeting(seeded):
    now = utcnow()
    latest = dict(db.session.execute(select(Meeting.company_id, func.max(Meeting.start_at))
                                     .where(Meeting.start_at <= now).group_by(Meeting.company_id)).all())
    for company_id, at in latest.items():
        company = db.session.get(Company, company_id)
        assert as_aware(at) <= as_aware(company.last_activity_at) <= now
    by_project = dict(db.session.execute(select(Meeting.project_id, func.max(Meeting.start_at))
                                         .where(Meeting.start_at <= now, Meeting.project_id.is_not(None))
                                         .group_by(Meeting.project_id)).all())
    assert by_project
    for project_id, at in by_project.items():
        assert as_aware(at) <= as_aware(db.session.get(Project, project_id).last_activity_at) <= now


def test_companies_entered_the_book_before_anything_happened_with_them(seeded):
    first_meeting = dict(db.session.execute(select(Meeting.company_id, func.min(Meeting.start_at))
                                            .group_by(Meeting.company_id)).all())
    first_project = dict(db.session.execute(select(Project.company_id, func.min(Project.created_at))
                                            .group_by(Project.company_id)).all())
    for company in db.session.scalars(select(Company)):
        created = as_aware(company.created_at)
        for at in (first_meeting.get(company.id), first_project.get(company.id), company.claimed_at):
            assert at is None or created < as_aware(at), company.name
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "company",
                                                           AuditEvent.object_id == company.id,
                                                           AuditEvent.action == "create"))
        assert as_aware(event.at) == created


def test_the_demo_officer_sees_their_tasks_and_a_lively_timeline(client, seeded):
    officer = _officer()
    login(client, officer, seeded["users"]["officer@demo.zone"])
    page = client.get("/tasks")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    overdue = db.session.scalar(select(Task.title).where(Task.owner_id == officer.id, Task.done_at.is_(None),
                                                         Task.due_on < today_in_zone()))
    assert overdue in html
    busiest = db.session.scalar(select(Meeting.company_id).where(Meeting.owner_id == officer.id)
                                .group_by(Meeting.company_id).order_by(func.count().desc(), Meeting.company_id))
    company_page = client.get(f"/companies/{busiest}")
    assert company_page.status_code == 200
    assert company_page.get_data(as_text=True).count('data-kind="meeting"') >= 3


def test_loading_again_adds_no_meetings(seeded):
    def counts():
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (Meeting, Task, MeetingContact, MeetingUser, AuditEvent))

    before = counts()
    again = demo.seed_demo(companies=60)
    assert again["meetings"] == 0 and again["tasks"] == 0
    assert counts() == before
