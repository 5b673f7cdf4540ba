"""IE-6: exports are rate-limited per user (the 31st in a minute gets 429), a mass export needs a recent sign-in (a
stale session is sent to sign in again and comes back to the export), and each export is audited with its actor,
filter and row count. And the stored files of imports are deleted once finished, or after a week."""
import io
import os
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from openpyxl import load_workbook
from sqlalchemy import func, select, update

from crm.audit.models import AuditEvent
from crm.auth.models import UserSession
from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.imports import exports, services
from crm.imports.models import ExportLog

from ..factories import VALID_USCC, csrf_token, login, make_company, make_reference, make_user
from .helpers import COMPANY_HEADER, committed, previewed, xlsx


def _stale(user) -> None:
    """Make the user's sessions look signed in an hour ago."""
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(created_at=utcnow() - timedelta(hours=1)))
    db.session.commit()


def test_the_31st_export_in_a_minute_gets_429(app, client):
    make_reference()
    officer = make_user("officer", locale="en")
    make_company("吉安华宇电子有限公司", owner=officer)
    login(client, officer)
    for _ in range(exports.EXPORTS_PER_MINUTE):
        assert client.get("/companies/export.xlsx?q=华宇").status_code == 200
    response = client.get("/imports/export/contacts.xlsx?q=华宇")
    assert response.status_code == 429
    assert "Too many exports" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ExportLog)) == exports.EXPORTS_PER_MINUTE
    # another user is not held by the first one's exports; and a minute later the first may export again
    other = make_user("officer", locale="en")
    as_other = app.test_client()
    login(as_other, other)
    assert as_other.get("/companies/export.xlsx?q=华宇").status_code == 200
    db.session.execute(update(ExportLog).values(at=utcnow() - timedelta(minutes=2)))
    db.session.commit()
    assert client.get("/companies/export.xlsx?q=华宇").status_code == 200
    assert exports.prune_log(older_than=timedelta(minutes=1)) == exports.EXPORTS_PER_MINUTE + 1


def test_a_stale_session_signs_in_again_for_a_mass_export_and_comes_back(app, client):
    make_reference()
    officer = make_user("officer", locale="en")
    make_company("吉安华宇电子有限公司", owner=officer)
    login(client, officer)
    assert client.get("/companies/export.xlsx").status_code == 200  # signed in just now: fresh
    _stale(officer)
    # a filtered export of a few rows needs no fresh sign-in
    assert client.get("/companies/export.xlsx?q=华宇").status_code == 200
    # the whole list does: to the sign-in page, with the way back (a path on this site)
    response = client.get("/companies/export.xlsx")
    assert response.status_code == 302
    target = urlsplit(response.location)
    assert target.path == "/login"
    back = parse_qs(target.query)["next"][0]
    assert back.startswith("/companies/export.xlsx")
    page = client.get(response.location)
    assert page.status_code == 200  # the sign-in form, although the session is still signed in
    exported = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export"))
    signed = client.post("/login", data={"email": officer.email, "password": "correct horse battery staple",
                                         "next": back, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert signed.status_code == 302 and signed.location.startswith("/companies/export.xlsx")
    again = client.get(signed.location)
    assert again.status_code == 200
    sheet = load_workbook(io.BytesIO(again.data), read_only=True).active
    assert [r[0] for r in list(sheet.iter_rows(values_only=True))[1:]] == ["吉安华宇电子有限公司"]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "export")) == exported + 1


def test_many_rows_need_a_fresh_sign_in_even_when_filtered(app, client):
    app.config["CRM_EXPORT_MASS_ROWS"] = 2
    make_reference()
    officer = make_user("officer", locale="en")
    for i in range(3):
        make_company(f"吉安华宇电子{i}有限公司", owner=officer)
    login(client, officer)
    _stale(officer)
    assert client.get("/companies/export.xlsx?q=华宇").status_code == 302
    assert client.get("/companies/export.xlsx?q=华宇电子1").status_code == 200


def test_an_export_is_audited_with_actor_filter_and_row_count(app, client):
    make_reference()
    officer = make_user("officer", locale="en")
    make_company("吉安华宇电子有限公司", owner=officer)
    make_company("吉安绿源食品有限公司", owner=officer)
    login(client, officer)
    assert client.get("/companies/export.xlsx?q=华宇&cluster=").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id.desc()))
    assert event.actor_id == officer.id and event.object_type == "company"
    assert "q=" in event.label and event.changes["rows"] == [None, 1]


def test_stored_files_go_when_the_import_is_finished_or_abandoned(app):
    make_reference()
    officer = make_user("officer", locale="en")
    run = previewed(xlsx([["吉安华宇电子有限公司", VALID_USCC[0]]], header=COMPANY_HEADER[:2]), officer)
    stored, parsed = services.stored_path(run), services.parsed_path(run)
    assert stored.exists() and parsed.exists()
    run = committed(run, officer)
    assert run.status == "committed"
    assert not stored.exists() and not parsed.exists()
    services.rollback(run.id, actor=officer)
    assert not services.progress_path(run).exists()
    # an upload left unfinished: kept a week, then the periodic clean deletes its files
    left = previewed(xlsx([["吉安绿源食品有限公司", ""]], header=COMPANY_HEADER[:2]), officer)
    files = [services.stored_path(left), services.parsed_path(left)]
    assert all(f.exists() for f in files)
    assert services.clean_files() == 0
    week_ago = time.time() - 8 * 24 * 3600
    for f in services.import_dir().iterdir():
        os.utime(f, (week_ago, week_ago))
    assert services.clean_files() >= 2
    assert not any(f.exists() for f in files)


def test_clean_command(app):
    result = app.test_cli_runner().invoke(args=["imports", "clean"])
    assert result.exit_code == 0, result.output
    assert "stored files deleted" in result.output
