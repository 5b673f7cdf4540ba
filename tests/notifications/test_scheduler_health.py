"""The scheduler's health (DESIGN.md Reminders, RM-11): every periodic job's run is recorded, a job that missed its
time is flagged on the admin page, and /healthz/scheduler answers 503 when the reminder sweep stopped."""
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from crm.extensions import db
from crm.jobs import SWEEP, health, purge_runs, record_run
from crm.notifications.models import JOB_ERROR, JOB_OK, JobRun

from ..factories import login, make_user

NOON = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai, well after the 03:15 and 03:45 jobs


def runs(name: str = SWEEP) -> list[JobRun]:
    db.session.rollback()
    return list(db.session.scalars(select(JobRun).where(JobRun.name == name).order_by(JobRun.id)))


def by_name(now=None):
    return {h.job.name: h for h in health(now)}


def run_everything_at(moment: datetime) -> None:
    """A run of every job at `moment` (as beat would have done shortly before)."""
    with time_machine.travel(moment, tick=False):
        for name in ("auth.purge_expired_sessions", "maintenance.refresh_statistics", SWEEP):
            with record_run(name):
                pass


def test_record_run_writes_start_end_outcome_and_summary(app):
    with time_machine.travel(NOON, tick=False) as traveller:
        with record_run(SWEEP) as run:
            assert [r.outcome for r in runs()] == ["running"]  # committed at the start: a hung run shows
            traveller.shift(timedelta(seconds=2.5))
            run.summary = "3 due; 3 sent"
    [row] = runs()
    assert row.outcome == JOB_OK and row.summary == "3 due; 3 sent"
    assert row.started_at.replace(tzinfo=UTC) == NOON
    assert row.duration == timedelta(seconds=2.5)


def test_record_run_records_an_error_and_re_raises(app):
    with pytest.raises(RuntimeError, match="SMTP down"):
        with record_run(SWEEP) as run:
            run.summary = "never written"
            db.session.add(JobRun(name="half-done work that the failure rolls back"))
            db.session.flush()
            raise RuntimeError("SMTP down\nsecond line")
    [row] = runs()
    assert row.outcome == JOB_ERROR and row.finished_at is not None
    assert row.summary == "RuntimeError: SMTP down"
    assert runs("half-done work that the failure rolls back") == []


def test_a_sweep_not_run_for_ten_minutes_is_missed_and_a_fresh_one_is_fine(app):
    run_everything_at(NOON - timedelta(minutes=10))
    state = by_name(NOON)
    assert state[SWEEP].missed and not state[SWEEP].ok
    assert not state["auth.purge_expired_sessions"].missed  # its 03:15 came before the scheduler was first seen
    run_everything_at(NOON - timedelta(minutes=1))
    state = by_name(NOON)
    assert not state[SWEEP].missed and state[SWEEP].ok
    assert state[SWEEP].last.started_at.replace(tzinfo=UTC) == NOON - timedelta(minutes=1)
    # RM-11: the sweep runs every minute; three intervals without one flag it
    assert not by_name(NOON + timedelta(minutes=2))[SWEEP].missed
    assert by_name(NOON + timedelta(minutes=4))[SWEEP].missed


def test_daily_jobs_are_due_at_their_zone_time_with_two_hours_grace(app):
    run_everything_at(datetime(2025, 3, 8, 19, 20, tzinfo=UTC))  # 03:20 on 03-09 in Shanghai
    # 03-10 05:00 Shanghai: 03:15 of today was under 2 h ago: not missed yet; 05:16: missed
    assert not by_name(datetime(2025, 3, 9, 21, 0, tzinfo=UTC))["auth.purge_expired_sessions"].missed
    late = by_name(datetime(2025, 3, 9, 21, 16, tzinfo=UTC))["auth.purge_expired_sessions"]
    assert late.missed and late.expected == datetime(2025, 3, 9, 19, 15, tzinfo=UTC)


def test_nothing_ever_ran_means_every_job_is_missed(app):
    assert all(h.missed for h in health(NOON))


def test_old_runs_are_purged_after_two_weeks(app):
    run_everything_at(NOON - timedelta(days=15))
    run_everything_at(NOON - timedelta(days=13))
    with time_machine.travel(NOON, tick=False):
        assert purge_runs() == 3
    assert len(runs()) == 1


def test_the_scheduled_tasks_record_their_runs(app, monkeypatch):
    from worker import tasks

    monkeypatch.setattr(tasks.send_notification, "delay", lambda notification_id: None)
    assert tasks.sweep_notifications() == 0
    tasks.purge_expired_sessions()
    [sweep] = runs()
    [purge] = runs("auth.purge_expired_sessions")
    assert (sweep.outcome, sweep.summary) == (JOB_OK, "0 queued")
    assert purge.outcome == JOB_OK and "job runs" in purge.summary and "import files" in purge.summary


def test_the_cli_sweep_is_recorded(app):
    result = app.test_cli_runner().invoke(args=["crm", "reminders", "run", "--now", "2025-03-10T08:30+08:00"])
    assert result.exit_code == 0, result.output
    [row] = runs()
    assert (row.outcome, row.summary) == (JOB_OK, "0 due; nothing sent")


def test_healthz_scheduler_is_503_when_the_sweep_is_overdue_then_200(app, client):
    run_everything_at(NOON - timedelta(minutes=10))
    with time_machine.travel(NOON, tick=False):
        stale = client.get("/healthz/scheduler")
    assert stale.status_code == 503 and stale.json["ok"] is False
    sweep = next(j for j in stale.json["jobs"] if j["name"] == SWEEP)
    assert sweep["missed"] is True and sweep["last_run"].startswith("2025-03-10T03:50")
    # names, times and flags only: nothing a run did
    assert all(set(j) == {"name", "last_run", "ok", "missed", "too_often"} for j in stale.json["jobs"])
    run_everything_at(NOON - timedelta(seconds=30))
    with time_machine.travel(NOON, tick=False):
        fresh = client.get("/healthz/scheduler")
    assert fresh.status_code == 200 and fresh.json["ok"] is True


def test_admin_page_flags_a_missed_job_and_is_for_admins_only(app, client):
    run_everything_at(NOON - timedelta(minutes=10))
    admin, officer = make_user("admin", locale="en"), make_user("officer")
    with time_machine.travel(NOON):
        login(client, admin)
        page = client.get("/admin/scheduler")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert html.count("scheduler-missed") == 1 and "Missed" in html
        assert "Reminder sweep" in html and "Every minute" in html and "Daily at 03:15" in html
        assert 'href="/admin/scheduler"' in html  # in the admin tabs
        other = app.test_client()
        login(other, officer)
        assert other.get("/admin/scheduler").status_code == 403


def test_the_dashboard_refresh_is_a_job_every_ten_minutes_missed_after_twenty(app, monkeypatch):
    """Issue 7: the worker's dashboard refresh is on the scheduler's page like the others; beat's schedule comes from
    its entry, and its run is recorded."""
    from crm.jobs import BY_NAME
    from worker import tasks

    job = BY_NAME["dashboard.refresh"]
    assert job.at is None and job.every == timedelta(minutes=10)
    from worker import celery_app

    tasks.register_schedule(celery_app)
    entry = celery_app.conf.beat_schedule["dashboard-refresh"]
    assert entry["task"] == "dashboard.refresh" and entry["schedule"] == timedelta(minutes=10)
    assert entry["options"]["expires"] < 600  # a refresh that waited past the next one is dropped
    with time_machine.travel(NOON - timedelta(minutes=12), tick=False):
        with record_run("dashboard.refresh"):
            pass
    assert not by_name(NOON)["dashboard.refresh"].missed
    assert by_name(NOON + timedelta(minutes=9))["dashboard.refresh"].missed  # 21 minutes without a run
    monkeypatch.setattr("crm.dashboard.snapshots.refresh", lambda: 4)
    assert tasks.refresh_dashboard() == 4
    last = runs("dashboard.refresh")[-1]
    assert (last.outcome, last.summary) == (JOB_OK, "4 snapshots refreshed")
