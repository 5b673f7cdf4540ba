"""What the sweep finds due, and that it records each (kind, recipient, object, period) once: the daily digest on the
zone's calendar day, meeting reminders before the start, repeats and concurrent sweeps absorbed by the unique key."""
import threading
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from crm.core.database import writing
from crm.extensions import db
from crm.notifications import services
from crm.notifications.models import PENDING, SENDING, Notification

from ..factories import make_user
from .helpers import day, make_meeting, make_task, rows

# 2025-03-10 is a Monday; Beijing is UTC+8 all year
MORNING = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)  # 08:30 in Beijing, just after midnight UTC


def sweep(at: datetime) -> list[int]:
    with writing():
        return services.sweep(at)


def digest_periods(user=None) -> list[str]:
    return [r.period for r in rows("digest") if user is None or r.recipient_id == user.id]


# --- the daily digest -------------------------------------------------------------------------------------------------

def test_the_digest_goes_at_0830_beijing_which_is_0030_utc(app):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    assert sweep(datetime(2025, 3, 10, 0, 29, tzinfo=UTC)) == []  # 08:29 Beijing
    assert sweep(datetime(2025, 3, 9, 16, 30, tzinfo=UTC)) == []   # 00:30 Beijing on the 10th: the day began, not 08:30
    new = sweep(MORNING)
    assert len(new) == 1
    row = db.session.get(Notification, new[0])
    assert (row.kind, row.recipient_id, row.object_type, row.object_id, row.period, row.status) == \
        ("digest", officer.id, "user", officer.id, "2025-03-10", PENDING)
    assert row.key == f"digest/{officer.id}/user:{officer.id}/2025-03-10"


def test_one_digest_per_user_per_zone_day_however_often_the_sweep_runs(app):
    officer = make_user()
    make_task(officer, day("2025-03-01"), title="long overdue")
    moments = [MORNING + timedelta(minutes=m) for m in range(0, 24 * 60 * 2, 7)]  # two days, every 7 minutes
    for moment in moments:
        sweep(moment)
    # 03-10 from 08:30 and 03-11 from 08:30 (00:30Z on the 11th is inside the window); nothing on the 12th yet
    assert digest_periods() == ["2025-03-10", "2025-03-11"]


def test_just_before_midnight_beijing_a_missed_digest_still_goes_for_that_day(app):
    """The scheduler was down all morning: the first sweep after it is back sends today's digest, once."""
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    sweep(datetime(2025, 3, 10, 15, 59, tzinfo=UTC))  # 23:59 Beijing
    sweep(datetime(2025, 3, 10, 16, 1, tzinfo=UTC))   # 00:01 Beijing on the 11th: before that day's 08:30
    assert digest_periods() == ["2025-03-10"]


def test_no_digest_when_nothing_is_due_or_everything_is_done_or_only_later(app):
    idle, done, later, inactive = make_user(), make_user(), make_user(), make_user(active=False)
    make_task(done, day("2025-03-10"), done=True)
    make_task(later, day("2025-03-11"))
    make_task(inactive, day("2025-03-10"))
    liaison = make_user("liaison", department="natural_resources")
    make_task(liaison, day("2025-03-10"))
    assert sweep(MORNING) == []
    assert idle and rows() == []


def test_a_meeting_today_alone_brings_a_digest_to_owner_and_colleague(app):
    owner, colleague, other = make_user(), make_user(), make_user()
    make_meeting(owner, datetime(2025, 3, 10, 7, 0, tzinfo=UTC), colleagues=[colleague])  # 15:00 Beijing
    make_meeting(other, datetime(2025, 3, 9, 15, 30, tzinfo=UTC))  # 23:30 Beijing the day before
    sweep(MORNING)
    assert sorted(r.recipient_id for r in rows("digest")) == sorted([owner.id, colleague.id])


def test_a_user_chosen_digest_time_and_an_opt_out(app):
    early, late, quiet = make_user(), make_user(), make_user()
    for user in (early, late, quiet):
        make_task(user, day("2025-03-10"))
    with writing():
        services.set_preferences(early.id, actor=early, opted_out=[], digest_time=time(7, 0))
        services.set_preferences(late.id, actor=late, opted_out=[], digest_time=time(18, 0))
        services.set_preferences(quiet.id, actor=quiet, opted_out=["digest"], digest_time=None)
    sweep(datetime(2025, 3, 9, 23, 0, tzinfo=UTC))  # 07:00 Beijing
    assert [r.recipient_id for r in rows("digest")] == [early.id]
    sweep(MORNING)
    assert [r.recipient_id for r in rows("digest")] == [early.id]  # late waits for 18:00, quiet opted out
    sweep(datetime(2025, 3, 10, 10, 0, tzinfo=UTC))  # 18:00 Beijing
    assert [r.recipient_id for r in rows("digest")] == [early.id, late.id]
    assert services.preferences(quiet.id).opted_out == {"digest"}
    assert services.preferences(late.id).digest_time == time(18, 0)
    assert services.preferences(quiet.id).digest_time == time(8, 30) and not services.preferences(quiet.id).own_time


def test_the_days_follow_the_configured_zone_across_dst_changes(app, monkeypatch):
    """China has no DST; Berlin does. Code that adds 24 hours instead of counting calendar days would send two or
    none on the day the clocks change (2025-03-30 and 2025-10-26)."""
    monkeypatch.setitem(app.config, "CRM_TIMEZONE", "Europe/Berlin")
    officer = make_user()
    make_task(officer, day("2025-01-01"), title="always overdue")
    for start in (datetime(2025, 3, 28, 12, 0, tzinfo=UTC), datetime(2025, 10, 24, 12, 0, tzinfo=UTC)):
        moment = start
        while moment < start + timedelta(days=4):
            sweep(moment)
            moment += timedelta(minutes=20)
    assert digest_periods() == ["2025-03-28", "2025-03-29", "2025-03-30", "2025-03-31", "2025-04-01",
                                "2025-10-24", "2025-10-25", "2025-10-26", "2025-10-27", "2025-10-28"]


# --- meeting reminders ------------------------------------------------------------------------------------------------

START = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)  # 14:00 Beijing


def meeting_rows():
    return [(r.recipient_id, r.object_id, r.period) for r in rows("meeting")]


def test_a_meeting_is_reminded_60_minutes_before_to_owner_and_colleagues(app):
    owner, colleague, gone = make_user(), make_user(), make_user(active=False)
    meeting = make_meeting(owner, START, colleagues=[colleague, gone])
    sweep(START - timedelta(minutes=61))
    assert meeting_rows() == []
    sweep(START - timedelta(minutes=60))
    period = "2025-03-10T06:00Z"
    assert sorted(meeting_rows()) == sorted([(owner.id, meeting.id, period), (colleague.id, meeting.id, period)])
    assert rows("meeting")[0].context == {"start_at": period}
    for minutes in (45, 30, 1):
        assert [r for r in sweep(START - timedelta(minutes=minutes)) if db.session.get(Notification, r).kind ==
                "meeting"] == []
    assert len(meeting_rows()) == 2


def test_a_late_sweep_still_reminds_but_not_once_the_meeting_began(app):
    owner = make_user()
    make_meeting(owner, START)
    later = make_meeting(owner, START + timedelta(hours=3))
    sweep(START)  # the scheduler was down until the start: the meeting itself is not reminded any more
    assert meeting_rows() == []
    sweep(START + timedelta(hours=2, minutes=50))
    assert [m for _u, m, _p in meeting_rows()] == [later.id]


def test_the_lead_time_is_a_setting(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_MEETING_REMINDER_MINUTES", 15)
    owner = make_user()
    make_meeting(owner, START)
    sweep(START - timedelta(minutes=16))
    assert meeting_rows() == []
    sweep(START - timedelta(minutes=15))
    assert len(meeting_rows()) == 1


def test_a_moved_meeting_is_reminded_for_its_new_time_and_a_deleted_one_not_at_all(app):
    owner = make_user()
    moved = make_meeting(owner, START)
    deleted = make_meeting(owner, START)
    deleted.deleted_at = START - timedelta(days=1)
    db.session.commit()
    sweep(START - timedelta(minutes=30))
    moved.start_at = START + timedelta(minutes=30)
    db.session.commit()
    sweep(START - timedelta(minutes=10))
    assert [(m, p) for _u, m, p in meeting_rows()] == [(moved.id, "2025-03-10T06:00Z"), (moved.id, "2025-03-10T06:30Z")]


def test_opted_out_of_meeting_reminders(app):
    owner, colleague = make_user(), make_user()
    make_meeting(owner, START, colleagues=[colleague])
    with writing():
        services.set_preferences(colleague.id, actor=colleague, opted_out=["meeting"], digest_time=None)
    sweep(START - timedelta(minutes=30))
    assert [u for u, _m, _p in meeting_rows()] == [owner.id]


# --- once, whatever happens -----------------------------------------------------------------------------------------

def test_a_second_sweep_records_nothing_new(app):
    officers = [make_user() for _ in range(5)]
    for officer in officers:
        make_task(officer, day("2025-03-10"))
        make_meeting(officer, START)
    at = START - timedelta(minutes=40)
    first = sweep(at)
    assert len(first) == 10  # a digest and a meeting reminder each
    assert sweep(at) == [] and sweep(at + timedelta(minutes=1)) == []
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 10


def test_a_key_recorded_by_someone_else_meanwhile_is_not_inserted_twice(app):
    """The look-up of known keys and the insert are not one step: another process may record the key in between.
    The insert itself (ON CONFLICT DO NOTHING) absorbs it, and returns only what it inserted."""
    officer, other = make_user(), make_user()
    make_task(officer, day("2025-03-10"))
    (recorded,) = sweep(MORNING)
    known = db.session.get(Notification, recorded)
    stamp = MORNING

    def row(user, key):
        return {"kind": "digest", "recipient_id": user.id, "object_type": "user", "object_id": user.id,
                "period": "2025-03-10", "key": key, "context": None, "status": PENDING, "attempts": 0,
                "possible_duplicate": False, "next_attempt_at": stamp, "created_at": stamp, "updated_at": stamp}

    with writing():
        new = services._insert_new([row(officer, known.key), row(other, f"digest/{other.id}/user:{other.id}/x")])
        db.session.commit()
    assert len(new) == 1 and new[0] != recorded
    assert len(rows("digest")) == 2


def test_two_sweeps_at_the_same_moment_record_each_key_once(app, dialect):
    """Two schedulers (or the CLI and the scheduler) sweeping at once, each in its own connection and thread."""
    officers = [make_user() for _ in range(40)]
    for officer in officers:
        make_task(officer, day("2025-03-10"))
        make_meeting(officer, START)
    db.session.commit()
    at = START - timedelta(minutes=40)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            with app.app_context(), writing():
                barrier.wait(timeout=10)
                results.append(services.sweep(at))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 2
    assert not set(results[0]) & set(results[1])
    assert len(results[0]) + len(results[1]) == 80
    assert len(rows()) == 80
    assert len({r.key for r in rows()}) == 80


# --- recovery ---------------------------------------------------------------------------------------------------------

def test_rows_whose_send_was_lost_are_offered_again_not_every_minute(app):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        new = sweep(MORNING)
        assert services.recoverable(MORNING) == []
    # the send task never came (Redis lost it): five minutes later the sweep queues the row again, then waits
    assert services.recoverable(MORNING + timedelta(minutes=4)) == []
    assert services.recoverable(MORNING + timedelta(minutes=6)) == new
    assert services.recoverable(MORNING + timedelta(minutes=7)) == []
    assert services.recoverable(MORNING + timedelta(minutes=12)) == new


def test_a_claim_whose_worker_died_is_offered_again_after_its_lease(app):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
    row = db.session.get(Notification, row_id)
    row.status, row.claimed_at, row.attempts = SENDING, MORNING, 1
    row.next_attempt_at = MORNING + services.CLAIM_LEASE
    db.session.commit()
    assert services.recoverable(MORNING + services.CLAIM_LEASE) == []
    assert services.recoverable(MORNING + services.CLAIM_LEASE + services.REQUEUE_AFTER) == [row_id]


@pytest.mark.parametrize("minutes", [0, 30])
def test_due_now_is_the_new_rows_and_the_lost_ones(app, minutes):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        first = services.due_now(MORNING)
    again = services.due_now(MORNING + timedelta(minutes=minutes))
    assert len(first) == 1
    assert again == ([] if minutes == 0 else first)
