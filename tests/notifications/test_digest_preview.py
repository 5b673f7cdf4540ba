"""An officer previews today's daily digest: what the morning e-mail holds, without anything sent or recorded."""
from datetime import timedelta

from sqlalchemy import func, select

from crm.core.timeutil import to_zone, utcnow
from crm.extensions import db
from crm.notifications import services
from crm.notifications.models import Notification

from ..factories import login, make_user
from .helpers import make_task


def _today():
    return to_zone(utcnow()).date()


def test_the_preview_shows_todays_digest_and_sends_nothing(client, smtp):
    officer = make_user(locale="en")
    make_task(officer, _today() - timedelta(days=2), title="Call <Huawei> back")
    make_task(officer, _today(), title="Send the land survey")
    make_task(make_user(), _today(), title="Someone else's task")
    login(client, officer)
    response = client.get("/notifications/digest-preview")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Daily digest for" in page
    assert "Call &lt;Huawei&gt; back" in page and "<Huawei>" not in page  # the record's text is escaped
    assert "Send the land survey" in page and "Someone else" not in page
    assert "It goes out at 08:30 zone time" in page
    assert smtp.messages == []
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_with_nothing_due_the_preview_says_no_digest_would_go_out(client, smtp):
    officer = make_user(locale="en")
    make_task(officer, _today() + timedelta(days=3), title="Later")
    make_task(officer, _today(), title="Done already", done=True)
    login(client, officer)
    page = client.get("/notifications/digest-preview").get_data(as_text=True)
    assert "Nothing is due today: no digest would go out." in page
    assert "Done already" not in page


def test_the_preview_is_in_the_users_language_and_says_when_they_opted_out(client, smtp):
    officer = make_user(locale="zh_Hans_CN")
    make_task(officer, _today(), title="提交投资意向书")
    services.set_preferences(officer.id, actor=officer, opted_out=["digest"], digest_time=None)
    login(client, officer)
    page = client.get("/notifications/digest-preview").get_data(as_text=True)
    assert "每日提醒 · " in page and "提交投资意向书" in page
    assert "你已退订每日提醒" in page


def test_the_settings_page_links_to_the_preview(client):
    login(client, make_user())
    assert 'href="/notifications/digest-preview"' in client.get("/notifications/settings").get_data(as_text=True)


def test_a_liaison_has_no_digest_to_preview(client):
    login(client, make_user("liaison"))
    assert client.get("/notifications/digest-preview").status_code == 403


def test_an_empty_reminders_list_says_when_reminders_come_and_links_to_the_preview(client):
    login(client, make_user(locale="en"))
    page = client.get("/notifications/").get_data(as_text=True)
    assert "No reminders yet." in page and "the daily digest each morning" in page
    assert 'href="/notifications/digest-preview"' in page
    filtered = client.get("/notifications/?status=failed").get_data(as_text=True)
    assert "No reminders yet." in filtered and "the daily digest each morning" not in filtered
