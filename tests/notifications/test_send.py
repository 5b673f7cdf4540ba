"""Sending: a real SMTP server (aiosmtpd) receives exactly one e-mail per row, plain text and HTML in the recipient's
language, with links from the configured base URL; nothing when the reminder stopped being due; retries with the
attempts counted on the row; the outbox when no server is configured."""
import smtplib
import socket
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup

from crm.core.database import writing
from crm.extensions import db
from crm.meetings import services as meetings
from crm.notifications import mail, services
from crm.notifications.models import FAILED, PENDING, SENT, SKIPPED, Notification

from ..factories import make_company, make_project, make_team, make_user
from .helpers import day, html_of, make_meeting, make_task, rows, text_of

MORNING = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)  # 08:30 Beijing
START = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)  # 14:00 Beijing


@pytest.fixture
def tasks_module():
    from worker import tasks

    return tasks


def sweep(at: datetime) -> list[int]:
    with writing():
        return services.sweep(at)


def send(notification_id: int, at: datetime | None = None) -> str:
    with writing():
        return services.send(notification_id, at=at)


def send_all(ids) -> list[str]:
    return [send(i) for i in ids]


# --- content ---------------------------------------------------------------------------------------------------------

def test_each_row_is_one_email_in_its_readers_language_with_text_and_html(app, smtp):
    zh = make_user(name="王芳", email="wang@test.zone", locale="zh_Hans_CN")
    en = make_user(name="Li Lei", email="li@test.zone", locale="en")
    company = make_company("深圳市立讯精密有限公司", owner=zh)
    make_task(zh, day("2025-03-07"), title="寄送园区介绍", company=company)
    make_task(zh, day("2025-03-10"), title="电话回访")
    make_task(en, day("2025-03-10"), title="Send the land offer")
    make_task(en, day("2025-03-11"), title="Not yet due")
    with time_machine.travel(MORNING, tick=False):
        ids = sweep(MORNING)
        assert send_all(ids) == ["sent", "sent"]
    assert len(smtp.messages) == 2
    (to_zh,), (to_en,) = smtp.to("wang@test.zone"), smtp.to("li@test.zone")
    assert to_zh["Content-Language"] == "zh-Hans-CN" and to_en["Content-Language"] == "en"
    assert to_en["Subject"] == "Daily digest for Monday, March 10, 2025"
    assert "2025年3月10日" in to_zh["Subject"]
    assert to_zh.get_content_type() == "multipart/alternative"
    zh_text, en_text = text_of(to_zh), text_of(to_en)
    assert "寄送园区介绍" in zh_text and "电话回访" in zh_text and "深圳市立讯精密有限公司" in zh_text
    assert "2025年3月7日" in zh_text  # the overdue task's day, in Chinese
    assert "Overdue tasks (1)" not in en_text and "Due today (1)" in en_text and "Send the land offer" in en_text
    assert "Not yet due" not in en_text
    soup = BeautifulSoup(html_of(to_zh), "html.parser")
    assert soup.html["lang"] == "zh-Hans-CN"
    links = {a.get_text(strip=True): a["href"] for a in soup.find_all("a")}
    assert links["深圳市立讯精密有限公司"] == f"https://crm.example.gov.cn/companies/{company.id}"
    assert all(href.startswith("https://crm.example.gov.cn/") for href in links.values())
    for row in rows():
        assert row.status == SENT and row.attempts == 1 and row.sent_at is not None
        assert row.subject and row.body_text and row.body_html
        assert row.message_id == mail.message_id_for(row.key)
    assert {m["Message-ID"] for m in smtp.messages} == {r.message_id for r in rows()}
    assert smtp.messages[0]["From"] == "CRM <crm@example.gov.cn>"
    assert smtp.messages[0]["Auto-Submitted"] == "auto-generated"


def test_around_midnight_utc_the_digest_covers_the_beijing_day(app, smtp, tasks_module):
    """The scheduled task on the clock (time-machine): at 23:59 UTC on the 9th it is 07:59 on the 10th in Beijing,
    too early; at 00:30 UTC on the 10th it is 08:30 there, and the digest is the 10th's: the 9th's task overdue,
    the 10th's due today, the 11th's not yet (a UTC "today" would pick the 9th or skip the 0:30 run)."""
    officer = make_user(locale="en")
    make_task(officer, day("2025-03-09"), title="From the ninth")
    make_task(officer, day("2025-03-10"), title="For the tenth")
    make_task(officer, day("2025-03-11"), title="For the eleventh")
    make_task(officer, datetime(2025, 3, 10, 15, 30, tzinfo=UTC), title="Timed, 23:30 Beijing")
    with time_machine.travel(datetime(2025, 3, 9, 23, 59, tzinfo=UTC), tick=False):
        assert tasks_module.sweep_notifications.delay().get() == 0
    with time_machine.travel(MORNING, tick=False):
        assert tasks_module.sweep_notifications.delay().get() == 1
    (message,) = smtp.messages
    assert message["Subject"] == "Daily digest for Monday, March 10, 2025"
    text = text_of(message)
    overdue, today = text.split("Due today")
    assert "From the ninth" in overdue and "For the tenth" not in overdue
    assert "For the tenth" in today and "Timed, 23:30 Beijing (23:30)" in today
    assert "For the eleventh" not in text


def test_a_meeting_reminder_names_the_time_place_company_and_colleagues(app, smtp):
    owner = make_user(name="王芳", locale="en")
    colleague = make_user(name="陈刚", locale="zh_Hans_CN")
    company = make_company("东莞伊戈尔电气有限公司", owner=owner)
    meeting = make_meeting(owner, START, company=company, colleagues=[colleague], type="negotiation",
                           city="东莞", place="松山湖")
    at = START - timedelta(minutes=60)
    with time_machine.travel(at, tick=False):
        ids = [i for i in sweep(at) if db.session.get(Notification, i).kind == "meeting"]
        assert send_all(ids) == ["sent", "sent"]
    (to_owner,) = smtp.to(owner.email)
    assert to_owner["Subject"] == "Negotiation with 东莞伊戈尔电气有限公司 at 14:00"
    text = text_of(to_owner)
    assert "Monday, March 10, 2025 14:00" in text and "东莞 松山湖" in text and "王芳, 陈刚" in text
    assert f"https://crm.example.gov.cn/meetings/{meeting.id}" in text
    (to_colleague,) = smtp.to(colleague.email)
    assert "14:00" in to_colleague["Subject"] and "东莞伊戈尔电气有限公司" in to_colleague["Subject"]


def test_record_text_is_escaped_in_html_and_cannot_add_headers_or_recipients(app, smtp):
    """IV-1 and IV-4: a name with markup is inert in the HTML part; a CR/LF in it starts no header, adds no
    recipient."""
    owner = make_user(locale="en")
    company = make_company("Evil <script>alert(1)</script>\r\nBcc: attacker@x.test", owner=owner)
    make_meeting(owner, START, company=company)
    make_task(owner, day("2025-03-10"), title='"><img src=x onerror=alert(1)>', company=company)
    at = START - timedelta(minutes=30)
    with time_machine.travel(at, tick=False):
        assert set(send_all(sweep(at))) == {"sent"}
    assert [rcpt for rcpt, _raw in smtp.accepted] == [[owner.email], [owner.email]]
    for message in smtp.messages:
        assert message["Bcc"] is None and "attacker" not in str(message["To"])
        soup = BeautifulSoup(html_of(message), "html.parser")
        assert soup.find("script") is None and soup.find("img") is None
        assert not any(attr.startswith("on") for tag in soup.find_all(True) for attr in tag.attrs)
    meeting_mail = next(m for m in smtp.messages if "with" in m["Subject"])
    assert "\n" not in meeting_mail["Subject"] and "Bcc: attacker@x.test" in meeting_mail["Subject"]
    digest_mail = next(m for m in smtp.messages if "digest" in m["Subject"])
    assert '"><img src=x onerror=alert(1)>' in text_of(digest_mail)  # plain text shows the text as typed


def test_plain_text_shows_every_character_as_typed(app, smtp):
    """The plain-text template is autoescaped like every template and unescaped once: values come back exactly."""
    owner = make_user(locale="en")
    title = "R&D &amp; <b>bold</b> \"quoted\" 'single' &copy 100% {{7*7}}"
    make_task(owner, day("2025-03-10"), title=title)
    with time_machine.travel(MORNING, tick=False):
        send_all(sweep(MORNING))
    (message,) = smtp.messages
    assert f"- {title}" in text_of(message)
    assert title in BeautifulSoup(html_of(message), "html.parser").get_text()


def test_links_use_the_configured_address_never_a_request_host(app, smtp, monkeypatch, client):
    """IV-7: a request with a forged Host does not change the links the next e-mail carries."""
    monkeypatch.setitem(app.config, "CRM_BASE_URL", "https://crm.zone.gov.cn/app/")
    owner = make_user(locale="en")
    make_task(owner, day("2025-03-10"))
    client.get("/login", headers={"Host": "evil.test"})
    with time_machine.travel(MORNING, tick=False):
        send_all(sweep(MORNING))
    hrefs = [a["href"] for a in BeautifulSoup(html_of(smtp.messages[0]), "html.parser").find_all("a")]
    assert hrefs and all(h.startswith("https://crm.zone.gov.cn/app/") for h in hrefs)
    assert "https://crm.zone.gov.cn/app/tasks" in hrefs
    assert smtp.messages[0]["Message-ID"].endswith("@crm.zone.gov.cn>")


def test_an_officer_sees_only_what_they_may_open(app, smtp):
    """AC-5: the digest runs without a request user but names and links records as the recipient may see them: a
    confidential project of another team shows its code name, not the company."""
    team_a, team_b = make_team(), make_team()
    officer = make_user(team=team_a, locale="en")
    rival = make_user(team=team_b)
    secret_company = make_company("秘密科技有限公司", owner=rival)
    project = make_project(secret_company, owner=rival, confidential=True, code_name="Project Falcon")
    task = make_task(officer, day("2025-03-10"), title="Prepare the visit")
    task.company_id, task.project_id = secret_company.id, project.id
    db.session.commit()
    with time_machine.travel(MORNING, tick=False):
        send_all(sweep(MORNING))
    (message,) = smtp.messages
    assert "秘密科技有限公司" not in text_of(message) and "秘密科技有限公司" not in html_of(message)
    assert "Project Falcon" in text_of(message)
    assert f"/companies/{secret_company.id}" not in html_of(message)


# --- still due? -------------------------------------------------------------------------------------------------------

def test_a_task_done_between_sweep_and_send_means_no_email(app, smtp):
    officer = make_user()
    task = make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        with writing():
            meetings.complete_task(task.id, actor=officer)
        assert send(row_id) == "skipped"
    assert smtp.messages == []
    row = db.session.get(Notification, row_id)
    assert (row.status, row.skip_reason, row.message_id) == (SKIPPED, "nothing_due", None)


def test_a_digest_sent_late_lists_what_is_still_open(app, smtp):
    officer = make_user(locale="en")
    done, still = make_task(officer, day("2025-03-10"), title="Done meanwhile"), make_task(
        officer, day("2025-03-10"), title="Still open")
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        with writing():
            meetings.complete_task(done.id, actor=officer)
        send(row_id)
    assert "Still open" in text_of(smtp.messages[0]) and "Done meanwhile" not in text_of(smtp.messages[0])
    assert still


def test_opted_out_or_deactivated_between_sweep_and_send_means_no_email(app, smtp):
    quits, leaves = make_user(), make_user()
    for user in (quits, leaves):
        make_task(user, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        ids = sweep(MORNING)
        with writing():
            services.set_preferences(quits.id, actor=quits, opted_out=["digest"], digest_time=None)
        leaves.is_active_user = False
        db.session.commit()
        assert send_all(ids) == ["skipped", "skipped"]
    assert smtp.messages == []
    assert sorted(r.skip_reason for r in rows()) == ["inactive", "opted_out"]


def test_a_meeting_deleted_moved_or_begun_before_the_send_is_not_reminded(app, smtp):
    owner = make_user()
    deleted, moved, begun = make_meeting(owner, START), make_meeting(owner, START), make_meeting(owner, START)
    at = START - timedelta(minutes=30)
    ids = [i for i in sweep(at) if db.session.get(Notification, i).kind == "meeting"]
    with writing():
        meetings.delete_meeting(deleted.id, actor=owner)
    moved.start_at = START + timedelta(hours=1)
    db.session.commit()
    by_meeting = {db.session.get(Notification, i).object_id: i for i in ids}
    with time_machine.travel(at, tick=False):
        assert send(by_meeting[deleted.id]) == "skipped"
        assert send(by_meeting[moved.id]) == "skipped"
    assert send(by_meeting[begun.id], at=START + timedelta(minutes=1)) == "skipped"
    assert smtp.messages == []
    assert {db.session.get(Notification, i).skip_reason for i in ids} == {"deleted", "moved", "started"}


# --- exactly once -----------------------------------------------------------------------------------------------------

def test_a_redelivered_or_repeated_send_does_nothing(app, smtp, tasks_module):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        assert send(row_id) == "sent"
        assert send(row_id) == "none"
        tasks_module.send_notification.delay(row_id)
        assert send(row_id + 1000) == "none"
    assert len(smtp.messages) == 1
    assert db.session.get(Notification, row_id).attempts == 1


def test_one_smtp_connection_serves_one_send_after_another_and_a_dropped_one_is_opened_again(app, smtp):
    """A worker keeps its connection between messages (no connect, EHLO and QUIT per e-mail); a connection that
    broke while idle (the server closed it) is opened again and the message goes on the new one, once."""
    officers = [make_user(email=f"o{i}@test.zone") for i in range(4)]
    for officer in officers:
        make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        ids = sweep(MORNING)
        assert send_all(ids[:2]) == ["sent", "sent"]
        mail._held.smtp.sock.shutdown(socket.SHUT_RDWR)  # as if the server had dropped the idle client
        assert send_all(ids[2:]) == ["sent", "sent"]
    assert len(smtp.messages) == 4 and {r.status for r in rows()} == {SENT}
    assert all(r.attempts == 1 for r in rows())
    first, second, third, fourth = smtp.sessions
    assert first == second and third == fourth and second != third


def test_after_a_refusal_the_next_send_starts_on_a_fresh_connection(app, smtp):
    officers = [make_user(email=f"o{i}@test.zone") for i in range(2)]
    for officer in officers:
        make_task(officer, day("2025-03-10"))
    smtp.refuse = 1
    with time_machine.travel(MORNING, tick=False):
        first, second = sweep(MORNING)
        with pytest.raises(smtplib.SMTPDataError):
            send(first)
        assert mail._held.smtp is None  # dropped with the failure
        assert send(second) == "sent"
    assert db.session.get(Notification, first).status == PENDING
    assert len(smtp.messages) == 1


def test_a_claim_held_by_another_worker_is_left_alone_until_its_lease_ends(app, smtp):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    (row_id,) = sweep(MORNING)
    row = db.session.get(Notification, row_id)
    row.status, row.claimed_at, row.attempts = "sending", MORNING, 1
    db.session.commit()
    with time_machine.travel(MORNING + timedelta(minutes=1), tick=False):
        assert send(row_id) == "none"
    with time_machine.travel(MORNING + services.CLAIM_LEASE + timedelta(seconds=1), tick=False):
        assert send(row_id) == "sent"
    row = db.session.get(Notification, row_id)
    assert (row.status, row.attempts, row.possible_duplicate) == (SENT, 2, False)
    assert len(smtp.messages) == 1


def test_a_claim_retaken_after_the_content_was_fixed_is_flagged_and_keeps_its_message_id(app, smtp):
    """The first worker died after committing the content and Message-ID, perhaps after the server accepted the
    message (RM-5 b): the resend carries the same Message-ID and the row says a duplicate is possible."""
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    (row_id,) = sweep(MORNING)
    row = db.session.get(Notification, row_id)
    row.status, row.claimed_at, row.attempts, row.message_id = "sending", MORNING, 1, mail.message_id_for(row.key)
    db.session.commit()
    with time_machine.travel(MORNING + services.CLAIM_LEASE + timedelta(seconds=1), tick=False):
        assert send(row_id) == "sent"
    row = db.session.get(Notification, row_id)
    assert row.possible_duplicate and row.status == SENT
    assert smtp.messages[0]["Message-ID"] == row.message_id


def test_a_row_whose_sends_keep_dying_with_their_worker_ends_failed(app, smtp):
    """RM-6: the attempts are counted on the row, not by the broker: a poison reminder stops after the last try."""
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    (row_id,) = sweep(MORNING)
    row = db.session.get(Notification, row_id)
    row.status, row.claimed_at, row.attempts = "sending", MORNING, services.MAX_ATTEMPTS
    db.session.commit()
    with time_machine.travel(MORNING + services.CLAIM_LEASE + timedelta(seconds=1), tick=False):
        assert send(row_id) == "none"
    db.session.expire_all()
    row = db.session.get(Notification, row_id)
    assert row.status == FAILED and "Gave up after 5 tries (the worker stopped in the last one)." in row.last_error
    assert smtp.messages == []


def test_a_failure_before_the_hand_over_counts_as_a_try(app, smtp, monkeypatch):
    """A bug while rendering (or a worker dying there) still uses up a try: the claim was committed first, so the
    row cannot come back forever."""
    import dataclasses

    from crm.notifications import kinds

    def broken(*_args):
        raise RuntimeError("template bug")

    monkeypatch.setitem(kinds.KINDS, "digest", dataclasses.replace(kinds.KINDS["digest"], compose=broken))
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    (row_id,) = sweep(MORNING)
    for attempt in range(1, services.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            send(row_id)
        assert db.session.get(Notification, row_id, populate_existing=True).attempts == attempt
    assert send(row_id) == "failed"
    row = db.session.get(Notification, row_id, populate_existing=True)
    assert (row.status, row.attempts, row.last_error) == (FAILED, services.MAX_ATTEMPTS, "RuntimeError: template bug")
    assert smtp.messages == []


def test_the_scheduled_task_sweeps_and_sends_once(app, smtp, tasks_module):
    officers = [make_user() for _ in range(3)]
    for officer in officers:
        make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        assert tasks_module.sweep_notifications.delay().get() == 3
        assert tasks_module.sweep_notifications.delay().get() == 0
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.messages) == sorted(o.email for o in officers)
    assert {r.status for r in rows()} == {SENT}


# --- failures ---------------------------------------------------------------------------------------------------------

def test_smtp_refusing_twice_then_accepting_gives_one_email_after_three_attempts(app, smtp, tasks_module):
    """The send task retries (Celery's autoretry; eager in the suite, so without the countdowns) and the row counts
    every try."""
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    smtp.refuse = 2
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        tasks_module.send_notification.delay(row_id)
    assert len(smtp.messages) == 1
    row = db.session.get(Notification, row_id)
    assert (row.status, row.attempts) == (SENT, 3)
    assert "451" in row.last_error  # the last failure stays readable


def test_a_temporary_failure_is_recorded_with_its_retry_time_and_raised(app, smtp):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    smtp.refuse = 1
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        with pytest.raises(Exception, match="451"):
            send(row_id)
    row = db.session.get(Notification, row_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.next_attempt_at.replace(tzinfo=UTC) == MORNING + timedelta(seconds=services.RETRY_BACKOFF)
    assert row.message_id is not None
    with time_machine.travel(MORNING + timedelta(seconds=40), tick=False):
        assert send(row_id) == "sent"
    assert smtp.messages[0]["Message-ID"] == row.message_id


def test_after_the_last_try_the_row_is_failed_and_visible(app, smtp, tasks_module):
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    smtp.refuse = 100
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        tasks_module.send_notification.delay(row_id)
        assert services.recoverable(MORNING + timedelta(hours=2)) == []  # failed rows are not requeued by themselves
        assert send(row_id) == "none"
    row = db.session.get(Notification, row_id)
    assert (row.status, row.attempts) == (FAILED, services.MAX_ATTEMPTS)
    assert "451" in row.last_error
    assert smtp.messages == []


def test_a_permanent_refusal_fails_at_once(app, smtp, tasks_module):
    officer = make_user(email="nobody@test.zone")
    make_task(officer, day("2025-03-10"))
    smtp.reject.add("nobody@test.zone")
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        tasks_module.send_notification.delay(row_id)
    row = db.session.get(Notification, row_id)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "550" in row.last_error


def test_an_unreachable_server_is_retried(app, smtp, monkeypatch):
    from .conftest import free_port

    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nothing listens there
    officer = make_user()
    make_task(officer, day("2025-03-10"))
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        with pytest.raises(OSError):
            send(row_id)
    row = db.session.get(Notification, row_id)
    assert row.status == PENDING and "ConnectionRefusedError" in row.last_error


# --- no server: the outbox -------------------------------------------------------------------------------------------

def test_without_a_mail_server_emails_are_written_to_the_outbox(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    officer = make_user(locale="en")
    make_task(officer, day("2025-03-10"), title="Read me in the outbox")
    for old in mail.outbox_dir().glob("*.eml") if mail.outbox_dir().exists() else []:
        old.unlink()
    with time_machine.travel(MORNING, tick=False):
        (row_id,) = sweep(MORNING)
        assert send(row_id) == "sent"
        assert send(row_id) == "none"
    files = sorted(mail.outbox_dir().glob("*.eml"))
    assert len(files) == 1 and files[0].name.endswith(f"-{row_id}-digest.eml")
    from .helpers import parse

    message = parse(files[0].read_bytes())
    assert "Read me in the outbox" in text_of(message) and html_of(message)
    assert message["To"].addresses[0].addr_spec == officer.email
    assert db.session.get(Notification, row_id).status == SENT


# --- settings each guarantee rests on ---------------------------------------------------------------------------------

def test_reliability_settings(app, tasks_module):
    """Each setting the exactly-once design needs, so that removing one fails here."""
    import config

    send_task = tasks_module.send_notification
    assert send_task.acks_late is True and send_task.reject_on_worker_lost is True
    assert send_task.max_retries == services.MAX_ATTEMPTS - 1
    assert send_task.retry_backoff == services.RETRY_BACKOFF
    assert send_task.retry_backoff_max == services.RETRY_BACKOFF_MAX
    celery = app.config["CELERY"]
    # a waiting retry, a running task and a claim's lease all end before Redis would hand the message out again
    assert config.REDIS_VISIBILITY_TIMEOUT > services.RETRY_BACKOFF_MAX
    assert config.REDIS_VISIBILITY_TIMEOUT > celery["task_time_limit"]
    assert services.CLAIM_LEASE.total_seconds() > celery["task_time_limit"]
    assert celery["accept_content"] == ["json"]
    from worker import celery_app

    tasks_module.register_schedule(celery_app)
    entry = celery_app.conf.beat_schedule["notifications-sweep"]
    assert entry["task"] == "notifications.sweep"
    schedule = entry["schedule"]  # every minute of every hour: a digest at 08:30 goes at 08:30
    assert schedule.minute == set(range(60)) and schedule.hour == set(range(24))
    assert entry["options"]["expires"] < 60  # a sweep that waited past the next one is dropped, not run late


def test_no_reminder_waits_in_the_broker_with_an_eta_or_countdown():
    """R1 / RM-4: reminders are found by sweeping the database; a long ETA task is lost with Redis, or redelivered
    in a loop past the visibility timeout."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in [*root.joinpath("crm").rglob("*.py"), *root.joinpath("worker").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("apply_async", "send_task"):
                if any(k.arg in ("eta", "countdown") for k in node.keywords):
                    offenders.append(f"{path}:{node.lineno}")
    assert offenders == []
