"""The pipeline's reminders: escalation of overdue follow-ups to managers, stale-lead nudges once per staleness
episode (RM-14), notes of the day's returns to the public pool, the managers' weekly summary, and the scheduler's
misses in the admins' digest. Each found by the sweep once, sent through a real SMTP server."""
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.companies import services as companies
from crm.companies.models import Company
from crm.core.database import writing
from crm.extensions import db
from crm.jobs import misses, record_run
from crm.notifications import services
from crm.notifications.models import SENT, SKIPPED, Notification
from crm.projects.models import Project, StageMove
from crm.reference import services as reference

from ..factories import make_company, make_project, make_team, make_user
from .helpers import day, make_task, rows, text_of

# 2025-03-10 is a Monday; Beijing is UTC+8 all year
MORNING = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)  # Monday 08:30 Beijing
WEEKLY = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)  # Monday 09:00 Beijing


def sweep(at: datetime) -> list[int]:
    with writing():
        return services.sweep(at)


def send_all(ids, at: datetime) -> list[str]:
    with time_machine.travel(at, tick=False), writing():
        return [services.send(i, at=at) for i in ids]


def sweep_and_send(at: datetime) -> list[str]:
    return send_all(sweep(at), at)


def of_kind(kind: str, ids) -> list[Notification]:
    return [r for r in rows(kind) if r.id in set(ids)]


# --- escalation ------------------------------------------------------------------------------------------------------

def test_overdue_follow_ups_escalate_to_the_team_manager_once_a_day(app, smtp):
    north, south = make_team("North"), make_team("South")
    boss_north = make_user("manager", team=north, locale="en", email="boss-north@test.zone")
    boss_all = make_user("manager", locale="en", email="boss-all@test.zone")
    officer_n = make_user(team=north, name="Zhang San")
    officer_s = make_user(team=south, name="Li Si")
    make_task(officer_n, day("2025-03-07"), title="Send the land offer")  # 3 days overdue on the 10th: escalated
    make_task(officer_n, day("2025-03-08"), title="Only two days late")  # not yet
    make_task(officer_s, day("2025-03-01"), title="Southern visit report")
    make_task(officer_n, day("2025-03-01"), title="Already done", done=True)
    ids = sweep(MORNING)
    escalations = of_kind("escalation", ids)
    assert sorted(r.recipient_id for r in escalations) == sorted([boss_north.id, boss_all.id])
    assert all(r.period == "2025-03-10" for r in escalations)
    assert of_kind("escalation", sweep(MORNING + timedelta(minutes=30))) == []  # once a day
    send_all([r.id for r in escalations], MORNING)
    (north_mail,) = smtp.to("boss-north@test.zone")
    (all_mail,) = smtp.to("boss-all@test.zone")
    assert north_mail["Subject"] == "Overdue by 3 days or more: 1 follow-ups, 0 milestones and requests"
    text = text_of(north_mail)
    assert "[New] Send the land offer · Zhang San" in text and "3 days overdue" in text
    assert "Only two days late" not in text and "Southern visit report" not in text and "Already done" not in text
    assert f"https://crm.example.gov.cn/tasks?owner_id={officer_n.id}" in text
    everyone = text_of(all_mail)
    assert "Send the land offer" in everyone and "Southern visit report" in everyone and "9 days overdue" in everyone
    assert not any(r.recipient_id in (officer_n.id, officer_s.id) for r in rows("escalation"))  # officers never


def test_the_escalation_threshold_is_a_setting_and_work_done_before_the_send_is_not_escalated(app, smtp):
    admin = make_user("admin")
    boss = make_user("manager", locale="en", email="boss@test.zone")
    officer = make_user()
    reference.set_settings({"escalation_days": "5"}, actor=admin)
    task = make_task(officer, day("2025-03-06"), title="Four days late")
    assert of_kind("escalation", sweep(MORNING)) == []
    reference.set_settings({"escalation_days": "4"}, actor=admin)
    (row,) = of_kind("escalation", sweep(MORNING + timedelta(minutes=1)))
    assert row.recipient_id == boss.id
    task.done_at = MORNING
    db.session.commit()
    assert send_all([row.id], MORNING) == ["skipped"]
    assert db.session.get(Notification, row.id).skip_reason == "nothing_due" and smtp.accepted == []


# --- stale leads (RM-14) ---------------------------------------------------------------------------------------------

def _age(project: Project, at: datetime) -> None:
    project.last_activity_at = at
    db.session.commit()


def test_a_stale_lead_is_nudged_once_per_episode_on_the_weekly_round(app, smtp):
    officer = make_user(locale="en", email="officer@test.zone")
    lead = make_project(owner=officer, name="Battery cell line", stage="negotiating")
    signed = make_project(owner=officer, name="Signed plant", stage="signed")
    fresh = make_project(owner=officer, name="Fresh lead")
    _age(lead, WEEKLY - timedelta(days=40))
    _age(signed, WEEKLY - timedelta(days=40))  # the support board follows signed projects, not this nudge
    _age(fresh, WEEKLY - timedelta(days=10))
    assert of_kind("stale", sweep(WEEKLY - timedelta(days=1))) == []  # Sunday: not the weekly round
    assert of_kind("stale", sweep(WEEKLY - timedelta(minutes=1))) == []  # Monday 08:59
    # the sweep every 5 s for 2 minutes (RM-14), then every 10 minutes for the rest of the day and the next Monday
    moments = [WEEKLY + timedelta(seconds=s) for s in range(0, 120, 5)]
    moments += [WEEKLY + timedelta(minutes=m) for m in range(2, 15 * 60, 10)] + [WEEKLY + timedelta(days=7)]
    found = [r for m in moments for r in of_kind("stale", sweep(m))]
    assert [(r.object_id, r.recipient_id) for r in found] == [(lead.id, officer.id)]
    assert send_all([found[0].id], WEEKLY) == ["sent"]
    (message,) = smtp.to("officer@test.zone")
    assert message["Subject"] == "No activity for 40 days: Battery cell line"
    assert f"https://crm.example.gov.cn/projects/{lead.id}" in text_of(message)
    # worked on, then idle again for 40 days: a new episode, a new nudge on the Monday after
    _age(lead, WEEKLY + timedelta(days=3))
    later = WEEKLY + timedelta(days=7 * 7)  # the seventh Monday after: 46 days after that activity
    (again,) = [r for r in of_kind("stale", sweep(later)) if r.object_id == lead.id]
    assert again.period != found[0].period and again.period == "2025-03-13T01:00:00Z"


def test_a_lead_touched_between_sweep_and_send_is_not_nudged(app, smtp):
    officer = make_user()
    lead = make_project(owner=officer)
    _age(lead, WEEKLY - timedelta(days=31))
    (row,) = of_kind("stale", sweep(WEEKLY))
    _age(lead, WEEKLY - timedelta(hours=1))
    assert send_all([row.id], WEEKLY) == ["skipped"]
    assert db.session.get(Notification, row.id).skip_reason == "touched" and smtp.accepted == []


# --- the public pool -------------------------------------------------------------------------------------------------

def _hold(company: Company, until: datetime) -> None:
    company.claimed_until = until
    db.session.commit()


def test_expired_claims_return_to_the_pool_and_the_former_holder_is_told_once(app, smtp):
    officer = make_user(locale="en", email="officer@test.zone")
    other = make_user()
    expired = [make_company(f"Expired {i} Ltd", owner=officer) for i in range(2)]
    kept = make_company("Still protected Ltd", owner=officer)
    resident = make_company("Resident Ltd", owner=officer)
    make_project(resident, owner=officer, stage="under_construction")
    theirs = make_company("Colleague's Ltd", owner=other)
    night = datetime(2025, 3, 9, 18, 30, tzinfo=UTC)  # 02:30 on 03-10 Beijing, the job's time
    for company in (*expired, resident, theirs):
        _hold(company, night - timedelta(days=1))
    _hold(kept, night + timedelta(days=5))
    with time_machine.travel(night, tick=False):
        result = app.test_cli_runner().invoke(args=["crm", "release-expired-claims"])
    assert result.exit_code == 0 and "3 companies returned to the public pool" in result.output
    db.session.expire_all()
    assert [c.owner_id for c in expired] == [None, None] and theirs.owner_id is None
    assert kept.owner_id == officer.id and resident.owner_id == officer.id  # a resident stays with its officer
    assert all(c.claimed_until is None for c in expired)
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "release")).all()
    assert len(audit) == 3 and all(e.actor_id is None for e in audit)
    with time_machine.travel(night, tick=False), writing():
        assert companies.release_expired_claims() == []  # nothing twice
    ids = sweep(MORNING)
    notes = of_kind("pool", ids)
    assert sorted((r.recipient_id, r.period) for r in notes) == sorted(
        [(officer.id, "2025-03-10"), (other.id, "2025-03-10")])
    assert of_kind("pool", sweep(MORNING + timedelta(hours=5))) == []
    # the officer takes one back before the note goes: it is left out of the note
    with writing():
        companies.claim_company(expired[1].id, actor=officer)
    assert send_all([n.id for n in notes], MORNING) == ["sent", "sent"]
    (message,) = smtp.to("officer@test.zone")
    assert message["Subject"] == "Companies returned to the public pool: 1"
    text = text_of(message)
    assert "Expired 0 Ltd" in text and "Expired 1 Ltd" not in text and "90 days" in text
    assert f"https://crm.example.gov.cn/companies/{expired[0].id}" in text


def test_the_holders_activity_keeps_the_company_out_of_the_pool(app):
    officer = make_user()
    company = make_company(owner=officer)
    _hold(company, datetime(2025, 3, 1, tzinfo=UTC))
    # the holder logs a visit before the job runs: the protection period runs on from that day
    with writing():
        companies.note_activity(company.id, datetime(2025, 3, 9, tzinfo=UTC), actor=officer)
        db.session.commit()
    with time_machine.travel(datetime(2025, 3, 10, tzinfo=UTC), tick=False), writing():
        assert companies.release_expired_claims() == []
    db.session.expire_all()
    assert company.owner_id == officer.id


# --- the weekly summary ----------------------------------------------------------------------------------------------

def test_managers_get_the_weekly_summary_on_monday_morning_once(app, smtp):
    boss = make_user("manager", locale="en", email="boss@test.zone")
    officer = make_user(name="Zhang San")
    last_week = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)  # Wednesday of the week before
    with time_machine.travel(last_week, tick=False):
        signed = make_project(owner=officer, name="Display module plant", planned_investment=50000)
        make_project(owner=officer, name="Another lead")
        db.session.add(StageMove(project_id=signed.id, from_stage="lead", to_stage="signed", at=last_week,
                                 actor_id=officer.id))
        db.session.commit()
    with time_machine.travel(WEEKLY - timedelta(days=10), tick=False):
        make_project(owner=officer, name="Older lead")  # the week before that: not new
    make_task(officer, day("2025-03-03"), title="late")
    make_task(officer, day("2025-03-04"), title="later")
    assert of_kind("weekly", sweep(WEEKLY - timedelta(minutes=1))) == []
    (row,) = of_kind("weekly", sweep(WEEKLY))
    assert (row.recipient_id, row.period) == (boss.id, "2025-W11")
    assert of_kind("weekly", sweep(WEEKLY + timedelta(hours=8))) == []
    assert of_kind("weekly", sweep(WEEKLY + timedelta(days=1))) == []  # Tuesday: the round is over
    assert send_all([row.id], WEEKLY) == ["sent"]
    (message,) = smtp.to("boss@test.zone")
    assert message["Subject"] == "Pipeline summary, week of Mar 3, 2025"
    text = text_of(message)
    assert "New projects: 2" in text
    assert "Stage moves: 1 (Signed 1)" in text
    assert "Display module plant" in text and "50000 10k yuan" in text
    assert "Overdue follow-ups now: 2" in text and "Zhang San: 2" in text
    assert {r.kind for r in rows() if r.recipient_id == officer.id} <= {"digest"}  # officers get no summary


# --- the scheduler's misses in the admins' digest --------------------------------------------------------------------

def _sweep_ran(at: datetime) -> None:
    with time_machine.travel(at, tick=False), record_run("notifications.sweep"):
        pass


def test_misses_lists_daily_jobs_not_run_and_gaps_in_the_sweep(app):
    start = datetime(2025, 3, 9, 0, 0, tzinfo=UTC)
    for minute in range(0, 60):
        _sweep_ran(start + timedelta(minutes=minute))
    for minute in range(20 * 60, 24 * 60 + 31):  # the sweep stopped from 01:00 to 20:00 UTC
        _sweep_ran(start + timedelta(minutes=minute))
    for minute in range(20 * 60, 24 * 60 + 31, 10):  # the dashboard's refresh (every 10 minutes) ran from 20:00 only
        with time_machine.travel(start + timedelta(minutes=minute), tick=False), record_run("dashboard.refresh"):
            pass
    found = misses(start, start + timedelta(hours=24, minutes=31))
    # twenty minutes without the dashboard's refresh count as a miss: from the first run seen to 20:00
    assert [(m.since, m.until) for m in found if m.job.name == "dashboard.refresh"] == [
        (start, start + timedelta(hours=20))]
    sweep_gaps = [(m.since, m.until) for m in found if m.job.name == "notifications.sweep"]
    assert sweep_gaps == [(start + timedelta(minutes=59), start + timedelta(hours=20))]
    daily = {m.job.name: m.since for m in found if m.job.at is not None}
    # 02:30 Beijing on 03-10 is 18:30Z on 03-09: the pool job never ran
    assert daily["companies.release_expired_claims"] == datetime(2025, 3, 9, 18, 30, tzinfo=UTC)
    # an hour of sweeps every minute: nothing missed
    assert misses(start + timedelta(hours=21), start + timedelta(hours=22)) == []


def test_the_admins_digest_flags_what_the_scheduler_missed(app, smtp):
    admin = make_user("admin", locale="en", email="admin@test.zone")
    make_user("officer", email="officer@test.zone")
    _sweep_ran(MORNING - timedelta(hours=30))
    _sweep_ran(MORNING - timedelta(hours=3))  # nothing ran between these
    for minute in range(-2, 1):
        _sweep_ran(MORNING + timedelta(minutes=minute))
    ids = sweep(MORNING)
    digests = of_kind("digest", ids)
    assert [r.recipient_id for r in digests] == [admin.id]  # the officer has nothing due; the admin has misses
    assert send_all([digests[0].id], MORNING) == ["sent"]
    (message,) = smtp.to("admin@test.zone")
    text = text_of(message)
    assert "The scheduler missed its time" in text
    assert "Reminder sweep: did not run from 03-09 08:30 to 03-10 05:30" in text
    assert "https://crm.example.gov.cn/admin/scheduler" in text
    assert not smtp.to("officer@test.zone")
    assert {r.status for r in rows()} <= {SENT, SKIPPED}


# --- the support board in the digest and the escalation ---------------------------------------------------------------

def _board_world():
    """An officer of a team and its manager; a signed project with milestones and requests written directly."""
    from crm.support.models import EnterpriseRequest, Milestone

    team = make_team("Board")
    boss = make_user("manager", team=team, locale="en", email="boss@test.zone")
    officer = make_user(team=team, locale="en", email="officer@test.zone")
    project = make_project(owner=officer, name="Display module plant", stage="signed")
    rows = {"late": ("land_acquired", day("2025-03-07"), None), "soon": ("planning_permit", day("2025-03-13"), None),
            "later": ("construction_permit", day("2025-03-20"), None),
            "done": ("construction_start", day("2025-03-01"), day("2025-03-02"))}
    for kind, planned, actual in rows.values():
        db.session.add(Milestone(project_id=project.id, kind=kind, planned_date=planned, actual_date=actual,
                                 owner_id=officer.id, department="natural_resources", note=""))
    for deadline, status, text in ((day("2025-03-06"), "open", "Second power line"),
                                   (day("2025-03-01"), "closed", "Settled long ago"),
                                   (day("2025-03-12"), "in_progress", "Not late yet")):
        db.session.add(EnterpriseRequest(project_id=project.id, company_id=project.company_id, category="utilities",
                                         description=text, department="natural_resources", owner_id=officer.id,
                                         deadline=deadline, status=status, resolution=""))
    db.session.commit()
    return boss, officer, project


def test_the_digest_lists_milestones_due_within_a_week_and_requests_past_their_deadline(app, smtp):
    _boss, officer, project = _board_world()
    (row,) = [r for r in of_kind("digest", sweep(MORNING)) if r.recipient_id == officer.id]
    assert send_all([row.id], MORNING) == ["sent"]
    text = text_of(smtp.to("officer@test.zone")[0])
    assert "Milestones due within a week or overdue" in text
    assert "Land acquired · Display module plant · planned Mar 7, 2025" in text
    assert "Planning permit · Display module plant · planned Mar 13, 2025" in text
    assert "Construction permit" not in text and "Construction start" not in text  # later, and done
    assert "Enterprise requests past their deadline" in text
    assert "Utilities: Second power line" in text and "Settled long ago" not in text and "Not late yet" not in text
    assert f"https://crm.example.gov.cn/projects/{project.id}#support" in text


def test_managers_are_told_of_milestones_and_requests_overdue_by_the_setting(app, smtp):
    boss, _officer, _project = _board_world()
    (row,) = of_kind("escalation", sweep(MORNING))
    assert row.recipient_id == boss.id
    assert send_all([row.id], MORNING) == ["sent"]
    message = smtp.to("boss@test.zone")[0]
    assert message["Subject"] == "Overdue by 3 days or more: 0 follow-ups, 2 milestones and requests"
    text = text_of(message)
    # the land milestone is 3 days late (new today), the request 4 days past its deadline
    assert "[New] Land acquired · Display module plant" in text and "3 days overdue" in text
    assert "Utilities · Display module plant" in text and "4 days overdue" in text
    assert "Planning permit" not in text
