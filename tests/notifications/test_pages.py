"""The reminders pages: one's own notifications (everyone's for managers), their content escaped, reminder settings
and a manager's resend of a failed one."""
import re
from datetime import time, timedelta

from bs4 import BeautifulSoup
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.notifications import services
from crm.notifications.models import FAILED, PENDING, SENT, Notification, NotificationOptOut, NotificationPreference

from ..factories import csrf_token, make_user
from ..security.helpers import client_for, executable_content, page_text, side_app

_n = iter(range(1, 10**6))


def make_notification(recipient, *, status=SENT, subject="Daily digest", body_text="Nothing due.", **values):
    n = next(_n)
    row = Notification(kind="digest", recipient_id=recipient.id, object_type="user", object_id=recipient.id,
                       period=f"2025-03-{n:06d}", key=f"digest/{recipient.id}/user:{recipient.id}/{n}",
                       status=status, attempts=values.pop("attempts", 1), subject=subject, body_text=body_text,
                       sent_at=utcnow() if status == SENT else None, **values)
    db.session.add(row)
    db.session.commit()
    return row


def listed_ids(html: str) -> set[int]:
    soup = BeautifulSoup(html, "html.parser")
    return {int(m.group(1)) for a in soup.select("table a[href]")
            if (m := re.fullmatch(r"/notifications/(\d+)", a["href"]))}


def fresh(row_id: int) -> Notification:
    db.session.rollback()
    return db.session.get(Notification, row_id, populate_existing=True)


def test_an_officer_sees_their_own_a_manager_everyones_and_can_filter(app):
    officer, colleague, manager = make_user(), make_user(), make_user("manager")
    mine, theirs = make_notification(officer), make_notification(colleague, status=FAILED, last_error="boom")
    page = client_for(app, officer).get("/notifications/")
    assert page.status_code == 200
    assert listed_ids(page.get_data(as_text=True)) == {mine.id}
    # the filter is a manager's: an officer asking for another's list still gets their own
    assert listed_ids(client_for(app, officer).get(f"/notifications/?user={colleague.id}").get_data(as_text=True)) \
        == {mine.id}
    boss = client_for(app, manager)
    assert listed_ids(boss.get("/notifications/").get_data(as_text=True)) == {mine.id, theirs.id}
    filtered = boss.get(f"/notifications/?user={colleague.id}").get_data(as_text=True)
    assert listed_ids(filtered) == {theirs.id} and "boom" in page_text(filtered)


def test_the_list_is_newest_first_and_paged_by_50(app):
    officer = make_user()
    rows = [make_notification(officer) for _ in range(51)]
    for i, row in enumerate(rows):
        row.created_at = utcnow() - timedelta(minutes=100 - i)
    db.session.commit()
    client = client_for(app, officer)
    first = client.get("/notifications/").get_data(as_text=True)
    assert len(listed_ids(first)) == 50 and rows[-1].id in listed_ids(first) and rows[0].id not in listed_ids(first)
    assert listed_ids(client.get("/notifications/?page=2").get_data(as_text=True)) == {rows[0].id}


def test_another_officers_notification_is_not_found(app):
    officer, colleague, manager = make_user(), make_user(), make_user("manager")
    theirs = make_notification(colleague)
    assert client_for(app, officer).get(f"/notifications/{theirs.id}").status_code == 404
    assert client_for(app, colleague).get(f"/notifications/{theirs.id}").status_code == 200
    assert client_for(app, manager).get(f"/notifications/{theirs.id}").status_code == 200
    liaison = make_user("liaison", department="natural_resources")
    assert client_for(app, liaison).get("/notifications/").status_code == 403


def test_the_content_is_shown_as_text_never_as_markup(app):
    officer = make_user()
    row = make_notification(officer, subject="<script>alert(1)</script> due", body_text="<b>bold</b>\nline 2",
                            body_html="<img src=x onerror=alert(2)>")
    for url in ("/notifications/", f"/notifications/{row.id}"):
        html = client_for(app, officer).get(url).get_data(as_text=True)
        assert executable_content(html) == [], url
        assert "<script>alert(1)</script> due" in page_text(html)
        assert "onerror" not in html
    detail = BeautifulSoup(client_for(app, officer).get(f"/notifications/{row.id}").get_data(as_text=True),
                           "html.parser")
    assert [p.get_text() for p in detail.select("pre") if "bold" in p.get_text()] == ["<b>bold</b>\nline 2"]
    assert detail.find("b") is None


def test_settings_are_saved(app):
    officer = make_user()
    client = client_for(app, officer)
    assert client.get("/notifications/settings").status_code == 200
    response = client.post("/notifications/settings", data={"opted_out": ["meeting"], "digest_time": "07:45"})
    assert response.status_code == 302
    assert services.preferences(officer.id) == services.Preferences(time(7, 45), True, frozenset({"meeting"}))
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert 'value="07:45"' in page and re.search(r'value="meeting"[^>]*checked|checked[^>]*value="meeting"', page)


def _field_errors(html: str, name: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    field = soup.find(attrs={"name": name})
    block = field.find_parent(class_="mb-3")
    return [e.get_text(strip=True) for e in block.select(".invalid-feedback")]


def test_bad_settings_get_a_message_by_the_field_and_save_nothing(app):
    officer = make_user(locale="en")
    client = client_for(app, officer)
    response = client.post("/notifications/settings", data={"opted_out": ["digest"], "digest_time": "25:99"})
    assert response.status_code == 422
    assert _field_errors(response.get_data(as_text=True), "digest_time") == \
        ["Enter a time of day as HH:MM, e.g. 08:30."]
    response = client.post("/notifications/settings", data={"opted_out": ["fax"], "digest_time": "08:00"})
    assert response.status_code == 422
    assert _field_errors(response.get_data(as_text=True), "opted_out") == ["Unknown kind of reminder."]
    db.session.rollback()
    assert db.session.scalars(select(NotificationPreference)).all() == []
    assert db.session.scalars(select(NotificationOptOut)).all() == []


def test_settings_need_the_csrf_token(app):
    officer = make_user()
    with side_app(app, WTF_CSRF_ENABLED=True) as live:
        client = client_for(live, officer)
        with live.app_context():
            page = client.get("/notifications/settings").get_data(as_text=True)
            data = {"opted_out": ["digest"], "digest_time": "09:00"}
            assert client.post("/notifications/settings", data=data).status_code == 400
            response = client.post("/notifications/settings", data={**data, "csrf_token": csrf_token(page)})
        assert response.status_code == 302
    assert services.preferences(officer.id).opted_out == {"digest"}


def test_a_manager_resends_a_failed_one(app, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "queue_send", queued.append)
    officer, manager = make_user(), make_user("manager")
    row = make_notification(officer, status=FAILED, attempts=5, last_error="SMTPDataError: 554")
    detail = client_for(app, manager).get(f"/notifications/{row.id}").get_data(as_text=True)
    assert f'action="/notifications/{row.id}/resend"' in detail
    assert f'action="/notifications/{row.id}/resend"' not in \
        client_for(app, officer).get(f"/notifications/{row.id}").get_data(as_text=True)
    response = client_for(app, manager).post(f"/notifications/{row.id}/resend")
    assert response.status_code == 302
    again = fresh(row.id)
    assert (again.status, again.attempts) == (PENDING, 0)
    assert queued == [row.id]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "notification")).one()
    assert event.actor_id == manager.id and event.changes["status"] == [FAILED, PENDING]


def test_an_officer_may_not_resend(app, monkeypatch):
    monkeypatch.setattr(services, "queue_send", lambda _id: None)
    officer = make_user()
    row = make_notification(officer, status=FAILED, attempts=5)
    assert client_for(app, officer).post(f"/notifications/{row.id}/resend").status_code == 403
    assert fresh(row.id).status == FAILED


def test_only_a_failed_one_is_resent(app, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "queue_send", queued.append)
    officer, manager = make_user(), make_user("manager", locale="en")
    row = make_notification(officer, status=SENT)
    response = client_for(app, manager).post(f"/notifications/{row.id}/resend")
    assert response.status_code == 409
    assert "Only a failed reminder can be sent again." in page_text(response.get_data(as_text=True))
    assert fresh(row.id).status == SENT and queued == []
    assert client_for(app, manager).post("/notifications/987654/resend").status_code == 404


def test_a_resend_whose_queuing_fails_stays_pending_for_the_sweep(app, monkeypatch):
    """Redis down: the page answers at once, the row stays pending, and the sweep's recovery pass queues it."""
    celery_app = app.extensions["celery"]

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(celery_app, "send_task", broker_down)
    threads = []
    real_queue_send = services.queue_send
    monkeypatch.setattr(services, "queue_send", lambda row_id: threads.append(real_queue_send(row_id)))
    officer, manager = make_user(), make_user("manager")
    row = make_notification(officer, status=FAILED, attempts=5)
    assert client_for(app, manager).post(f"/notifications/{row.id}/resend").status_code == 302
    for thread in threads:
        thread.join(5)
    assert len(threads) == 1 and fresh(row.id).status == PENDING
    assert row.id in services.recoverable(utcnow() + services.REQUEUE_AFTER)


def test_admins_see_a_banner_while_mail_is_not_getting_through_and_can_list_what_waits(app):
    """AV-4: a send that failed and waits for its retry shows on every page for admins, with the count and since
    when; officers are not bothered with it; the list filters by status."""
    admin, officer = make_user("admin", locale="en"), make_user()
    sent = make_notification(officer)
    waiting = [make_notification(officer, status=PENDING, attempts=2, last_error="SMTPConnectError") for _ in range(2)]
    make_notification(officer, status=PENDING, attempts=0)  # not tried yet: not a sign of trouble
    admin_client, officer_client = client_for(app, admin), client_for(app, officer)
    page = admin_client.get("/").get_data(as_text=True)
    banner = BeautifulSoup(page, "html.parser").select_one(".mail-degraded")
    assert banner is not None and "2 reminders are waiting to be sent again" in banner.get_text()
    assert BeautifulSoup(officer_client.get("/").get_data(as_text=True), "html.parser").select_one(
        ".mail-degraded") is None
    listed = listed_ids(admin_client.get("/notifications/?status=pending").get_data(as_text=True))
    assert {w.id for w in waiting} <= listed and sent.id not in listed
    assert admin_client.get("/notifications/?status=bogus").status_code == 200  # an unknown status: no filter
    for row in waiting:
        row.status = SENT
    db.session.commit()
    assert BeautifulSoup(admin_client.get("/").get_data(as_text=True), "html.parser").select_one(
        ".mail-degraded") is None
