"""The owner's reason for no update: given on the project's page by whoever may edit the project, audited, neither
activity nor an edit (the project stays stale, its version stays), spent by the project's next activity."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.core.timeutil import utcnow
from crm.errors import Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.projects import services
from crm.projects.models import Project

from ..factories import csrf_token, login, make_company, make_project, make_team, make_user


@pytest.fixture
def stale(app):
    """Officer a's project, quiet for 40 days; a teammate, an officer of another team, a manager, a liaison."""
    team1, team2 = make_team(), make_team()
    a, mate, other = make_user(team=team1), make_user(team=team1), make_user(team=team2)
    manager, liaison = make_user("manager"), make_user("liaison", department="natural_resources")
    p = make_project(make_company(owner=a), owner=a, name="沉默项目", stage="negotiating")
    p.last_activity_at = utcnow() - timedelta(days=40)
    db.session.commit()
    return p, a, mate, other, manager, liaison


def fresh(project_id: int) -> Project:
    db.session.rollback()
    return db.session.get(Project, project_id, populate_existing=True)


def test_the_owner_gives_a_reason_that_is_neither_activity_nor_an_edit(stale):
    p, a, *_ = stale
    version, last, updated = p.version, p.last_activity_at, p.updated_at
    services.set_no_update_reason(p.id, "  企业等待\n董事会审议  ", actor=a)
    p = fresh(p.id)
    assert services.no_update_reason(p) == "企业等待 董事会审议"  # one line: it fills one cell
    assert p.no_update_reason_at is not None
    assert (p.version, p.last_activity_at, p.updated_at) == (version, last, updated)
    assert services.is_stale(p)  # still on the no-update list, now with its reason
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "project",
                                                       AuditEvent.object_id == p.id).order_by(AuditEvent.id.desc()))
    assert (event.action, event.actor_id) == ("update", a.id)
    assert event.changes == {"no_update_reason": [None, "企业等待 董事会审议"]}


def test_an_empty_reason_withdraws_it(stale):
    p, a, *_ = stale
    services.set_no_update_reason(p.id, "等待审批", actor=a)
    services.set_no_update_reason(p.id, "   ", actor=a)
    p = fresh(p.id)
    assert services.no_update_reason(p) == "" and p.no_update_reason_at is None


@pytest.mark.parametrize("activity", ["edit", "stage", "meeting"])
def test_the_next_activity_spends_the_reason(stale, activity):
    p, a, *_ = stale
    services.set_no_update_reason(p.id, "等待审批", actor=a)
    p = fresh(p.id)
    if activity == "edit":
        services.update_project(p.id, {"notes": "新情况"}, actor=a, version=p.version)
    elif activity == "stage":
        services.move_stage(p.id, "site_visit", actor=a, version=p.version)
    else:  # a meeting logged late: dated before the reason was given
        services.note_activity(p.id, utcnow() - timedelta(days=3))
        db.session.commit()
    p = fresh(p.id)
    assert services.no_update_reason(p) == ""
    assert p.no_update_reason == "等待审批"  # the text stays on the row (and in the audit log) until replaced


def test_who_may_give_it(stale):
    p, a, mate, other, manager, liaison = stale
    services.set_no_update_reason(p.id, "队友填写", actor=mate)
    services.set_no_update_reason(p.id, "领导填写", actor=manager)
    assert services.no_update_reason(fresh(p.id)) == "领导填写"
    with pytest.raises(Forbidden):
        services.set_no_update_reason(p.id, "别组", actor=other)
    with pytest.raises(NotFound):
        services.set_no_update_reason(p.id, "联络员", actor=liaison)
    with pytest.raises(Invalid):
        services.set_no_update_reason(p.id, "长" * 501, actor=a)
    assert services.no_update_reason(fresh(p.id)) == "领导填写"


def test_the_project_page_shows_the_form_while_stale_and_saves_the_reason(app, stale):
    p, a, mate, other, *_ = stale
    client = app.test_client()
    login(client, a)
    page = client.get(f"/projects/{p.id}").get_data(as_text=True)
    assert 'data-test="no-update-form"' in page and 'data-test="no-update-missing"' in page
    response = client.post(f"/projects/{p.id}/no-update-reason",
                           data={"reason": "<b>企业</b>春节停工", "csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/projects/{p.id}#no-update")
    page = client.get(f"/projects/{p.id}").get_data(as_text=True)
    assert "&lt;b&gt;企业&lt;/b&gt;春节停工" in page and "<b>企业" not in page
    # another team's officer reads the project and its reason, without the form
    other_client = app.test_client()
    login(other_client, other)
    page = other_client.get(f"/projects/{p.id}").get_data(as_text=True)
    assert 'data-test="no-update-reason"' in page and 'data-test="no-update-form"' not in page
    assert other_client.post(f"/projects/{p.id}/no-update-reason", data={"reason": "x"}).status_code == 403
    assert services.no_update_reason(fresh(p.id)) == "<b>企业</b>春节停工"


def test_a_project_with_news_shows_no_reason_card(app, stale):
    p, a, *_ = stale
    p.last_activity_at = utcnow()
    db.session.commit()
    client = app.test_client()
    login(client, a)
    assert 'data-test="no-update"' not in client.get(f"/projects/{p.id}").get_data(as_text=True)


def test_a_too_long_reason_is_refused_on_the_page(app, stale):
    p, a, *_ = stale
    client = app.test_client()
    login(client, a)
    response = client.post(f"/projects/{p.id}/no-update-reason", data={"reason": "长" * 501})
    assert response.status_code == 422
    assert services.no_update_reason(fresh(p.id)) == ""
