"""Reminder preferences: opt out per kind, choose the digest time; one's own, or anyone's for an admin."""
from datetime import time

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.core.database import writing
from crm.errors import Forbidden, Invalid
from crm.extensions import db
from crm.notifications import services

from ..factories import make_user


def save(user_id, actor, **values):
    with writing():
        return services.set_preferences(user_id, actor=actor, **values)


def test_defaults_then_own_choices_then_back(app):
    officer = make_user()
    assert services.preferences(officer.id) == services.Preferences(time(8, 30), False, frozenset())
    chosen = save(officer.id, officer, opted_out=["meeting"], digest_time=time(7, 45, 30))
    assert chosen == services.Preferences(time(7, 45), True, frozenset({"meeting"}))
    back = save(officer.id, officer, opted_out=["digest"], digest_time=None)
    assert back == services.Preferences(time(8, 30), False, frozenset({"digest"}))
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "user")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.actor_id == officer.id and event.changes["reminder_opt_outs"] == [["meeting"], ["digest"]]


def test_the_default_time_is_a_setting(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_DIGEST_TIME", "09:05")
    assert services.preferences(make_user().id).digest_time == time(9, 5)


def test_only_oneself_or_an_admin_and_only_known_kinds(app):
    officer, colleague, admin = make_user(), make_user(), make_user("admin")
    with pytest.raises(Forbidden):
        save(officer.id, colleague, opted_out=["digest"], digest_time=None)
    with pytest.raises(Invalid):
        save(officer.id, officer, opted_out=["fax"], digest_time=None)
    db.session.rollback()
    assert save(officer.id, admin, opted_out=["digest"], digest_time=None).opted_out == {"digest"}
    with force_locale("en"):
        assert dict(services.kind_choices()) == {
            "digest": "Daily digest", "meeting": "Meeting reminders",
            "escalation": "Overdue follow-ups of my team (managers)", "stale": "Leads with no activity",
            "pool": "Companies returned to the public pool", "weekly": "Weekly pipeline summary (managers)",
            "weekly_report": "Weekly project report (managers)"}
