"""Checking the mail settings: an admin sends a test e-mail from the scheduler page (or an operator from the CLI)
and reads what the SMTP server answered, without a reminder being involved."""
import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.core.database import writing
from crm.extensions import db
from crm.notifications import services
from crm.notifications.models import Notification

from ..factories import login, make_user
from .helpers import html_of, text_of


def _flash(response) -> str:
    page = response.get_data(as_text=True)
    found = re.search(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S)
    return " ".join(found.group(1).split()) if found else ""


def test_the_admin_gets_the_test_e_mail_and_the_page_says_the_server_took_it(client, smtp):
    admin = make_user("admin", locale="en", name="Ada Admin")
    login(client, admin)
    response = client.post("/admin/mail-test", follow_redirects=True)
    assert response.status_code == 200
    assert f"The mail server accepted the test e-mail to {admin.email}" in _flash(response)
    [message] = smtp.to(admin.email)
    assert message["Subject"] == "Test e-mail from the CRM"
    assert message["Content-Language"] == "en"
    assert "Hello Ada Admin," in text_of(message)
    assert f"Server: {smtp_host(client)}" in text_of(message)
    assert "The CRM's mail settings work" in html_of(message)
    # no reminder was recorded for it, and the admin's request is in the audit log
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail_test"))
    assert (event.actor_id, event.label, event.changes) == (admin.id, admin.email, {"result": [None, "ok"]})
    log = client.get("/admin/audit?action=mail_test").get_data(as_text=True)
    assert "Test e-mail sent" in log and "Accepted by the mail server" in log


def smtp_host(client) -> str:
    config = client.application.config
    return f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"


def test_a_refusal_is_shown_word_for_word_and_nothing_breaks(client, smtp):
    admin = make_user("admin", locale="en")
    smtp.reject.add(admin.email)
    login(client, admin)
    response = client.post("/admin/mail-test", follow_redirects=True)
    assert response.status_code == 200
    flash = _flash(response)
    assert f"The test e-mail to {admin.email} did not go out" in flash
    assert "550 5.1.1 No such mailbox" in flash
    assert smtp.messages == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail_test"))
    assert "550" in event.changes["result"][1]
    # the next reminder opens a connection of its own: the test's was closed
    assert services.mail._held.smtp is None


def test_a_server_that_is_down_is_reported(client, app, monkeypatch, smtp):
    from .conftest import free_port

    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nothing listens there
    admin = make_user("admin", locale="en")
    login(client, admin)
    response = client.post("/admin/mail-test", follow_redirects=True)
    assert response.status_code == 200
    assert "did not go out: ConnectionRefusedError" in _flash(response)


def test_a_server_that_never_answers_is_given_up_after_the_test_time_out(client, app, monkeypatch, smtp):
    monkeypatch.setattr(services, "TEST_MAIL_TIMEOUT", 1)
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 60)  # the workers' time-out is not the page's
    smtp.hang, smtp.hang_seconds = 1, 30
    admin = make_user("admin", locale="en")
    login(client, admin)
    started = time.monotonic()
    response = client.post("/admin/mail-test", follow_redirects=True)
    assert time.monotonic() - started < 15
    assert "did not go out: " in _flash(response) and "timed out" in _flash(response).lower()


def test_with_no_server_the_test_e_mail_goes_to_the_outbox(client, app):
    assert not app.config["MAIL_SERVER"]
    admin = make_user("admin", locale="en")
    login(client, admin)
    response = client.post("/admin/mail-test", follow_redirects=True)
    flash = _flash(response)
    assert "No mail server is configured: the test e-mail was written to" in flash
    path = Path(re.search(r"written to (\S+\.eml)", flash).group(1))
    assert path.parent == Path(app.instance_path) / "outbox"
    assert f"To: {admin.name} <{admin.email}>" in path.read_text()


@pytest.mark.parametrize("role", ["officer", "manager", "liaison"])
def test_only_admins_may_send_a_test_e_mail(client, smtp, role):
    user = make_user(role)
    login(client, user)
    assert client.post("/admin/mail-test").status_code == 403
    assert smtp.messages == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "mail_test")) == 0


def test_the_test_is_a_post_only(client, smtp):
    login(client, make_user("admin"))
    assert client.get("/admin/mail-test").status_code == 405
    assert smtp.messages == []


def test_the_page_shows_the_settings_but_never_the_password(client, app, monkeypatch, smtp):
    monkeypatch.setitem(app.config, "MAIL_USERNAME", "crm-relay")
    monkeypatch.setitem(app.config, "MAIL_PASSWORD", "s3cret-relay-pass")
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", True)
    login(client, make_user("admin", locale="en"))
    page = client.get("/admin/scheduler").get_data(as_text=True)
    assert f"<code>{smtp_host(client)}</code>" in page
    assert "STARTTLS" in page and "crm-relay" in page and "crm@example.gov.cn" in page
    assert "s3cret-relay-pass" not in page
    assert "No reminder is waiting for a retry." in page


def test_the_page_says_when_reminders_wait_for_a_retry(client, smtp):
    officer = make_user("officer")
    with writing():
        db.session.add(Notification(kind="digest", recipient_id=officer.id, object_type="user", object_id=officer.id,
                                    period="2026-11-29", key="digest/x", status="pending", attempts=2,
                                    possible_duplicate=False))
        db.session.commit()
    login(client, make_user("admin", locale="en"))
    page = client.get("/admin/scheduler").get_data(as_text=True)
    assert "1 reminder is waiting for a retry after a failed send" in page


@pytest.mark.sqlite
def test_a_web_test_does_not_hold_the_sqlite_write_lock_while_it_waits_for_the_server(client, app, monkeypatch, smtp):
    """The page's transaction ends before the SMTP conversation: another writer is not kept waiting on a slow
    server (a request that will write begins IMMEDIATE on SQLite)."""
    monkeypatch.setattr(services, "TEST_MAIL_TIMEOUT", 3)
    smtp.hang, smtp.hang_seconds = 1, 30
    admin = make_user("admin", locale="en")
    login(client, admin)
    answers = []

    def post():
        with app.app_context():  # the client's own bookkeeping needs one in this thread
            answers.append(client.post("/admin/mail-test").status_code)

    worker = threading.Thread(target=post)
    worker.start()
    time.sleep(0.8)  # the request is waiting for the server's answer to DATA
    started = time.monotonic()
    with db.engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        waited = time.monotonic() - started
    worker.join(10)
    assert answers == [302]
    assert waited < 1.0, f"another writer waited {waited:.1f} s for the test e-mail's request"


def test_the_cli_checks_the_address_and_reports_the_server(app, smtp):
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["crm", "reminders", "test-mail", "--to", "a@b.c\r\nRCPT TO:<x@y.z>"])
    assert bad.exit_code == 2 and "--to" in bad.output
    for address in ("not an address", " "):
        bad = runner.invoke(args=["crm", "reminders", "test-mail", "--to", address])
        assert bad.exit_code == 2, address
    assert smtp.messages == []
    ok = runner.invoke(args=["crm", "reminders", "test-mail", "--to", "ops@example.gov.cn", "--lang", "en"])
    assert ok.exit_code == 0, ok.output
    assert "accepted the test e-mail to ops@example.gov.cn" in ok.output
    [message] = smtp.to("ops@example.gov.cn")
    assert message["Subject"] == "Test e-mail from the CRM"
    smtp.reject.add("nobody@example.gov.cn")
    refused = runner.invoke(args=["crm", "reminders", "test-mail", "--to", "nobody@example.gov.cn"])
    assert refused.exit_code == 1 and "550" in refused.output


def test_the_cli_default_language_is_chinese(app, smtp):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["crm", "reminders", "test-mail", "--to", "ops@example.gov.cn"]).exit_code == 0
    [message] = smtp.to("ops@example.gov.cn")
    assert message["Subject"] == "招商管理系统测试邮件"
    assert "系统的邮件设置可用" in text_of(message)
