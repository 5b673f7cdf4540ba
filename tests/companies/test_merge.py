"""Duplicate companies (issue 8, point 5; RELIABILITY.md DI-6): the likely pairs by reason, "not a duplicate", and
the merge of two companies, which moves every related record to the survivor, keeps the loser's id as an alias that
redirects, is audited, checks versions and refuses what it must. Runs on SQLite and PostgreSQL (TEST_DATABASE_URL).
"""
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from crm import create_app
from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.companies import merge, services
from crm.companies.models import Company, CompanyAlias, CompanyNotDuplicate, Contact
from crm.core.database import writing
from crm.core.timeutil import today_in_zone, utcnow
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task
from crm.meetings.queries import timeline
from crm.notifications.models import Notification
from crm.projects.models import FundsEntry, Project, StageMove
from crm.support.models import EnterpriseRequest, Milestone, RequestEvent

from ..factories import (
    VALID_USCC,
    api_token,
    bearer,
    login,
    make_company,
    make_contact,
    make_project,
    make_reference,
    make_team,
    make_user,
)

#: every table whose rows point at a company
CHILDREN = {"contacts": Contact, "projects": Project, "meetings": Meeting, "tasks": Task,
            "requests": EnterpriseRequest}
#: tables that hang off the moved records and must keep every row
KEPT = (Contact, Project, Meeting, MeetingContact, MeetingUser, Task, EnterpriseRequest, FundsEntry, StageMove,
        Milestone, RequestEvent, Notification)


class World:
    """Team 1 (officer, mate), team 2 (other), a manager, a liaison."""

    def __init__(self):
        make_reference()
        self.team1, self.team2 = make_team("一组"), make_team("二组")
        self.officer = make_user(team=self.team1, name="王一")
        self.mate = make_user(team=self.team1, name="王二")
        self.other = make_user(team=self.team2, name="李三")
        self.manager = make_user("manager", name="赵局")
        self.liaison = make_user("liaison", name="联络员", department="natural_resources")


@pytest.fixture
def w():
    return World()


def fresh(model, ident):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, ident)


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def table_counts() -> dict[str, int]:
    return {m.__tablename__: count(m) for m in KEPT}


def do_merge(survivor, loser, actor):
    survivor, loser = fresh(Company, survivor.id), fresh(Company, loser.id)
    return merge.merge_companies(survivor.id, loser.id, actor=actor, survivor_version=survivor.version,
                                 loser_version=loser.version)


def loaded_loser(w):
    """A loser with one record of every kind that points at a company, and records hanging off those."""
    survivor = make_company("赣州华信精密电子有限公司", owner=w.officer, cluster="electronic_info", address="",
                            notes="幸存方备注", chain_tags=["PCB"])
    loser = make_company("华信精密电子(赣州)有限公司", owner=w.officer, uscc=VALID_USCC[0], origin_city="shenzhen",
                         address="赣州市章贡区", chain_tags=["连接器", "PCB"], notes="被合并方备注", status="resident",
                         employees=120)
    services.update_company(loser.id, {"short_name": "华信"}, actor=w.officer, version=loser.version)  # history
    c_live = make_contact(loser, name="周经理", mobile="13800138000")
    c_gone = make_contact(loser, name="离职联系人", mobile="13900139000", deleted_at=utcnow())
    p_lead = make_project(loser, owner=w.officer, name="华信扩产项目", stage="signed")
    p_secret = make_project(loser, owner=w.other, name="二组机密项目", confidential=True, code_name="白鹭")
    p_deleted = make_project(loser, owner=w.officer, name="已删项目", deleted=True)
    today = today_in_zone()
    db.session.add(FundsEntry(project_id=p_lead.id, received_on=today, amount=Decimal("300"), actor_id=w.officer.id))
    db.session.add(Milestone(project_id=p_lead.id, kind="land_acquired", sort=10, owner_id=w.officer.id, note=""))
    meeting = Meeting(type="visit", start_at=utcnow() - timedelta(days=2), company_id=loser.id, project_id=p_lead.id,
                      owner_id=w.officer.id, summary="合并前拜访")
    db.session.add(meeting)
    db.session.flush()
    db.session.add_all([MeetingContact(meeting_id=meeting.id, contact_id=c_live.id),
                        MeetingUser(meeting_id=meeting.id, user_id=w.mate.id)])
    task = Task(title="回访周经理", due_on=today, owner_id=w.officer.id, company_id=loser.id, meeting_id=meeting.id)
    done = Task(title="已办", due_on=today, owner_id=w.officer.id, company_id=loser.id, done_at=utcnow())
    request = EnterpriseRequest(project_id=p_lead.id, company_id=loser.id, category="land", description="用地诉求",
                                department="natural_resources", owner_id=w.officer.id, deadline=today, status="open",
                                resolution="", created_by_id=w.officer.id)
    db.session.add_all([task, done, request])
    db.session.flush()
    db.session.add(RequestEvent(request_id=request.id, project_id=p_lead.id, at=utcnow(), actor_id=w.officer.id,
                                action="created", from_status=None, to_status="open", note=""))
    db.session.add(Notification(kind="task_due", recipient_id=w.officer.id, object_type="task", object_id=task.id,
                                period=today.isoformat(), key=f"task_due/{w.officer.id}/task:{task.id}/{today}"))
    db.session.commit()
    ids = {"contacts": [c_live.id, c_gone.id], "projects": [p_lead.id, p_secret.id, p_deleted.id],
           "meetings": [meeting.id], "tasks": [task.id, done.id], "requests": [request.id]}
    return survivor, loser, ids


# --- the merge moves every kind of related record ---------------------------------------------------------------------

def test_merge_moves_every_related_record_to_the_survivor(w):
    survivor, loser, ids = loaded_loser(w)
    before = table_counts()
    versions = {kind: {r.id: r.version for r in db.session.scalars(select(m).where(m.id.in_(ids[kind])))}
                for kind, m in CHILDREN.items()}
    loser_version = fresh(Company, loser.id).version

    result = do_merge(survivor, loser, w.manager)

    assert {k: sorted(v) for k, v in result.moved.items() if k in CHILDREN} == {k: sorted(v) for k, v in ids.items()}
    # every row of every kind, deleted ones included, is the survivor's now; none points at the loser
    for kind, model in CHILDREN.items():
        assert count(model, model.company_id == loser.id) == 0, kind
        rows = db.session.scalars(select(model).where(model.id.in_(ids[kind]))).all()
        assert {r.company_id for r in rows} == {survivor.id}, kind
        # their versions went up: a form opened on one of them before the merge is stale now
        assert all(r.version == versions[kind][r.id] + 1 for r in rows), kind
    # nothing was created or lost anywhere; what hangs off the moved records stayed with them
    assert table_counts() == before
    funds = db.session.scalar(select(FundsEntry))
    assert funds.project_id == ids["projects"][0]
    assert db.session.get(Project, ids["projects"][0]).funds_in_place == Decimal("0")  # untouched by the merge
    assert db.session.scalar(select(Milestone)).project_id == ids["projects"][0]
    assert {(p.meeting_id, p.contact_id) for p in db.session.scalars(select(MeetingContact))} == \
        {(ids["meetings"][0], ids["contacts"][0])}
    assert [(p.meeting_id, p.user_id) for p in db.session.scalars(select(MeetingUser))] == \
        [(ids["meetings"][0], w.mate.id)]
    assert db.session.scalar(select(Task).where(Task.id == ids["tasks"][0])).meeting_id == ids["meetings"][0]
    assert db.session.scalar(select(Notification)).object_id == ids["tasks"][0]
    # no orphans: no live row anywhere refers to a deleted company
    dead = select(Company.id).where(Company.deleted_at.is_not(None))
    for model in CHILDREN.values():
        assert count(model, model.company_id.in_(dead)) == 0

    gone = fresh(Company, loser.id)
    assert gone.deleted_at is not None and gone.deleted_by_id == w.manager.id
    assert gone.merged_into_id == survivor.id and gone.version == loser_version + 1
    assert db.session.get(CompanyAlias, loser.id).company_id == survivor.id


def test_merge_fills_only_the_survivors_empty_fields(w):
    survivor, loser, _ = loaded_loser(w)
    before = fresh(Company, survivor.id)
    version = before.version
    result = do_merge(survivor, loser, w.manager)
    kept = fresh(Company, survivor.id)
    assert kept.name == "赣州华信精密电子有限公司"  # the survivor's own values stay
    assert kept.cluster == "electronic_info"
    assert kept.uscc == VALID_USCC[0]  # taken over: the loser left the live USCC index first
    assert (kept.origin_city, kept.address, kept.short_name) == ("shenzhen", "赣州市章贡区", "华信")
    assert kept.employees == 120
    assert kept.chain_tags == ["PCB", "连接器"]
    assert kept.status == "resident"  # resident wins over prospect
    assert kept.notes.startswith("幸存方备注") and "被合并方备注" in kept.notes
    assert kept.owner_id == w.officer.id and kept.version == version + 1
    assert set(result.filled) >= {"uscc", "origin_city", "address", "short_name", "employees", "chain_tags", "status",
                                  "notes"}
    assert "cluster" not in result.filled
    # the loser's contacts are found under the survivor in search
    assert "13800138000" in kept.search_text and "周经理" in kept.search_text


def test_a_survivor_in_the_public_pool_takes_the_losers_holder(w):
    pool = make_company("公海里的企业有限公司")
    held = make_company("公海里的企业 有限公司", owner=w.officer)
    held.claimed_until = utcnow() + timedelta(days=30)
    db.session.commit()
    do_merge(pool, held, w.officer)
    kept = fresh(Company, pool.id)
    assert kept.owner_id == w.officer.id and kept.claimed_until is not None


def test_merge_is_audited_on_both_sides_and_history_shows_on_the_survivors_timeline(w):
    survivor, loser, ids = loaded_loser(w)
    result = do_merge(survivor, loser, w.manager)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "merge"))
    assert (event.object_type, event.object_id, event.actor_id) == ("company", survivor.id, w.manager.id)
    assert event.label == "华信精密电子(赣州)有限公司"
    assert event.changes["merged_from"] == [None, loser.id]
    for kind in CHILDREN:
        assert sorted(event.changes[kind][1]) == sorted(ids[kind]), kind
    assert event.changes["filled"][1] == result.filled
    other_side = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "merged_into"))
    assert (other_side.object_id, other_side.changes) == (loser.id, {"merged_into_id": [None, survivor.id]})

    # the loser's own history (created, the short name changed) is on the survivor's timeline, with the merge
    items = timeline(w.manager, company_id=survivor.id, kinds=("change",)).items
    seen = {(i.record.action, i.record.object_type, i.record.label) for i in items}
    assert ("update", "company", "华信精密电子(赣州)有限公司") in seen
    assert ("create", "company", "华信精密电子(赣州)有限公司") in seen
    assert ("merge", "company", "华信精密电子(赣州)有限公司") in seen
    assert ("create", "contact", "周经理") in seen  # the moved contact's own history came along
    assert not any(i.record.action == "merged_into" for i in items)
    # the meetings and tasks are on it too
    kinds = {(i.kind, i.id) for i in timeline(w.manager, company_id=survivor.id, kinds=("meeting", "task")).items}
    assert ("meeting", ids["meetings"][0]) in kinds and ("task", ids["tasks"][0]) in kinds


def test_the_survivors_page_shows_what_moved(client, w):
    survivor, loser, _ = loaded_loser(w)
    do_merge(survivor, loser, w.manager)
    login(client, w.officer)
    html = client.get(f"/companies/{survivor.id}").get_data(as_text=True)
    for text in ("周经理", "华信扩产项目", "合并前拜访", "回访周经理"):
        assert text in html
    merged = db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "merge"))
    item = BeautifulSoup(html, "html.parser").select_one(f'[data-id="change-{merged}"]')
    assert item is not None and "华信精密电子(赣州)有限公司" in item.get_text()  # the entry names the duplicate


# --- the loser's id is an alias ---------------------------------------------------------------------------------------

def test_the_losers_page_and_api_url_redirect_to_the_survivor(app, client, w):
    survivor = make_company("吉安绿源食品有限公司", owner=w.officer)
    loser = make_company("绿源食品(吉安)有限公司", owner=w.officer)
    do_merge(survivor, loser, w.officer)
    login(client, w.officer)
    page = client.get(f"/companies/{loser.id}")
    assert page.status_code == 301
    assert page.headers["Location"].endswith(f"/companies/{survivor.id}")
    assert "吉安绿源食品有限公司" in client.get(f"/companies/{loser.id}", follow_redirects=True).get_data(as_text=True)
    headers = bearer(api_token(app.test_client(), w.officer))
    api = app.test_client()
    moved = api.get(f"/api/v1/companies/{loser.id}", headers=headers)
    assert moved.status_code == 301
    assert moved.get_json() == {"id": loser.id, "merged_into": survivor.id}
    assert moved.headers["Location"].endswith(f"/api/v1/companies/{survivor.id}")
    assert api.get(moved.headers["Location"], headers=headers).get_json()["name"] == "吉安绿源食品有限公司"
    # writes to the merged id are refused, not redirected
    assert api.patch(f"/api/v1/companies/{loser.id}", headers=headers,
                     json={"version": 9, "notes": "x"}).status_code == 404


def test_an_alias_is_one_hop_after_a_second_merge(client, w):
    first = make_company("一号企业有限公司", owner=w.officer)
    second = make_company("一号企业 有限公司", owner=w.officer)
    third = make_company("一号企业（吉安）有限公司", owner=w.officer)
    do_merge(second, first, w.officer)
    result = do_merge(third, second, w.officer)
    assert result.moved["aliases"] == [first.id]
    assert {a.old_id: a.company_id for a in db.session.scalars(select(CompanyAlias))} == \
        {first.id: third.id, second.id: third.id}
    login(client, w.officer)
    for old in (first, second):
        assert client.get(f"/companies/{old.id}").headers["Location"].endswith(f"/companies/{third.id}")
    # the first company's history reaches the last survivor's timeline
    labels = {i.record.label for i in timeline(w.officer, company_id=third.id, kinds=("change",)).items}
    assert {"一号企业有限公司", "一号企业 有限公司"} <= labels


def test_an_alias_to_a_company_the_user_may_not_see_is_a_plain_404(app, client, w):
    survivor = make_company("二组企业有限公司", owner=w.other)
    loser = make_company("二组企业 有限公司", owner=w.other)
    do_merge(survivor, loser, w.other)
    deleted = make_company("只是删除的企业有限公司", owner=w.officer, deleted=True)
    login(client, w.officer)
    assert client.get(f"/companies/{loser.id}").status_code == 404
    assert client.get(f"/companies/{deleted.id}").status_code == 404
    headers = bearer(api_token(app.test_client(), w.officer))
    assert app.test_client().get(f"/api/v1/companies/{loser.id}", headers=headers).status_code == 404
    assert app.test_client().get(f"/api/v1/companies/{deleted.id}", headers=headers).status_code == 404


def test_a_merged_company_cannot_be_restored_from_the_trash(client, w):
    survivor = make_company("可合并企业有限公司", owner=w.officer)
    loser = make_company("可合并企业 有限公司", owner=w.officer)
    do_merge(survivor, loser, w.officer)
    with pytest.raises(Conflict):
        services.restore_company(loser.id, actor=w.manager)
    login(client, w.manager)
    html = client.get("/companies/trash").get_data(as_text=True)
    assert "可合并企业 有限公司" in html and f"/companies/{loser.id}/restore" not in html


# --- versions, bad input, who may merge -------------------------------------------------------------------------------

def _snapshot() -> tuple:
    db.session.rollback()
    return (tuple(db.session.execute(select(Company.id, Company.version, Company.deleted_at, Company.uscc)
                                     .order_by(Company.id))),
            tuple(db.session.execute(select(Contact.id, Contact.company_id, Contact.version).order_by(Contact.id))),
            count(CompanyAlias), count(AuditEvent, AuditEvent.action.in_(("merge", "merged_into"))))


@pytest.mark.parametrize("stale", ["survivor", "loser"])
def test_a_stale_version_is_409_and_changes_nothing(app, w, stale):
    survivor = make_company("版本企业有限公司", owner=w.officer)
    loser = make_company("版本企业 有限公司", owner=w.officer, uscc=VALID_USCC[1],
                         contacts=[{"name": "老联系人", "mobile": "13700137000"}])
    read = {c.id: c.version for c in (fresh(Company, survivor.id), fresh(Company, loser.id))}
    edited = survivor if stale == "survivor" else loser
    services.update_company(edited.id, {"notes": "另一位同事改过"}, actor=w.manager, version=read[edited.id])
    before = _snapshot()
    with pytest.raises(Conflict):
        merge.merge_companies(survivor.id, loser.id, actor=w.officer, survivor_version=read[survivor.id],
                              loser_version=read[loser.id])
    assert _snapshot() == before
    headers = bearer(api_token(app.test_client(), w.officer))
    response = app.test_client().post(f"/api/v1/companies/{survivor.id}/merge", headers=headers, json={
        "loser_id": loser.id, "version": read[survivor.id], "loser_version": read[loser.id]})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"
    assert _snapshot() == before


def test_an_edit_form_opened_before_the_merge_is_stale_after_it(w):
    survivor = make_company("表单企业有限公司", owner=w.officer)
    loser = make_company("表单企业 有限公司", owner=w.officer)
    contact = make_contact(loser, name="旧表单联系人")
    read = fresh(Contact, contact.id).version
    do_merge(survivor, loser, w.officer)
    with pytest.raises(Conflict):
        services.update_contact(contact.id, {"title": "总经理"}, actor=w.officer, version=read)
    with pytest.raises(NotFound):  # the loser itself is gone
        services.update_company(loser.id, {"notes": "x"}, actor=w.officer, version=1)
    assert fresh(Contact, contact.id).company_id == survivor.id


def test_bad_merges_are_refused(w):
    mine = make_company("王一的企业有限公司", owner=w.officer)
    mine2 = make_company("王一的另一家企业有限公司", owner=w.officer)
    pool = make_company("公海企业有限公司")
    mates = make_company("王二的企业有限公司", owner=w.mate)
    theirs = make_company("二组的企业有限公司", owner=w.other)
    deleted = make_company("删除的企业有限公司", owner=w.officer, deleted=True)

    def try_merge(survivor_id, loser_id, actor=w.officer, **kw):
        versions = {c.id: c.version for c in db.session.scalars(select(Company))}
        before = _snapshot()
        args = {"survivor_version": versions.get(survivor_id, 1), "loser_version": versions.get(loser_id, 1), **kw}
        with pytest.raises((Conflict, Forbidden, Invalid, NotFound)) as caught:
            merge.merge_companies(survivor_id, loser_id, actor=actor, **args)
        db.session.rollback()
        assert _snapshot() == before
        return caught.value.status

    assert try_merge(mine.id, mine.id) == 422  # into itself
    assert try_merge(mine.id, "7") == 422 and try_merge(mine.id, None) == 422 and try_merge(mine.id, True) == 422
    assert try_merge(mine.id, mine2.id, survivor_version="1") == 422
    assert try_merge(mine.id, deleted.id) == 404  # a deleted company
    assert try_merge(deleted.id, mine.id) == 404  # into a deleted one
    assert try_merge(mine.id, 987654) == 404
    assert try_merge(mine.id, theirs.id) == 404  # another team's company: not even its existence
    assert try_merge(theirs.id, mine.id) == 404
    assert try_merge(mine.id, mates.id) == 403  # a teammate's: visible, not the officer's to change
    assert try_merge(mates.id, mine.id) == 403
    assert try_merge(mine.id, pool.id, actor=w.liaison) == 403
    # an officer may merge two companies they may change; a manager any two
    do_merge(mine, pool, w.officer)
    do_merge(theirs, mates, w.manager)
    # a loser merged already, a survivor merged already: 409, naming where it went
    assert try_merge(mine2.id, pool.id) == 409
    assert try_merge(mates.id, mine2.id, actor=w.manager) == 409


def test_api_merge_answers_with_the_survivor_and_what_moved(app, w):
    survivor = make_company("接口合并企业有限公司", owner=w.officer)
    loser = make_company("接口合并企业 有限公司", owner=w.officer, address="吉安市井冈山经开区",
                         contacts=[{"name": "接口联系人", "mobile": "13600136000"}])
    contact_id = db.session.scalar(select(Contact.id))
    headers = bearer(api_token(app.test_client(), w.officer))
    api = app.test_client()
    assert api.post(f"/api/v1/companies/{survivor.id}/merge", headers=headers,
                    json={"loser_id": loser.id}).status_code == 422
    assert api.post(f"/api/v1/companies/{survivor.id}/merge", headers=headers, data="{",
                    content_type="application/json").status_code == 400
    response = api.post(f"/api/v1/companies/{survivor.id}/merge", headers=headers, json={
        "loser_id": loser.id, "version": survivor.version, "loser_version": loser.version})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == survivor.id and body["address"] == "吉安市井冈山经开区"
    assert body["merged"]["loser_id"] == loser.id
    assert body["merged"]["moved"]["contacts"] == [contact_id] and body["merged"]["filled"] == ["address"]
    liaison = bearer(api_token(app.test_client(), w.liaison))
    assert api.post(f"/api/v1/companies/{survivor.id}/merge", headers=liaison,
                    json={"loser_id": 1, "version": 1, "loser_version": 1}).status_code == 403


# --- two merges of one loser at the same moment -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(app):
    """The app on the suite's database as a request sees it: a fresh app context (session) per thread."""
    other = create_app("test", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def at_lock(monkeypatch, dialect):
    """On PostgreSQL, hold each merge just before it locks its two companies until the other one gets there too:
    both have read and checked the same versions, and the row locks decide. On SQLite the writers serialize on
    BEGIN IMMEDIATE from their first statement, so the threads are only released together at the start."""
    holder = {"barrier": None}
    if dialect == "postgresql":
        original = merge._lock_pair

        def lock_pair(*args, **kwargs):
            if holder["barrier"] is not None:
                holder["barrier"].wait(30)
            return original(*args, **kwargs)

        monkeypatch.setattr(merge, "_lock_pair", lock_pair)
    return holder


def _run_pair(web, works) -> list:
    """Run each work() in its own thread, as two requests would (own app context, a writer's transaction)."""
    results: list = [None] * len(works)

    def run(k):
        try:
            with web.app_context(), writing():
                results[k] = works[k]()
        except Exception as exc:  # noqa: BLE001  (asserted by the caller)
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def test_two_merges_of_the_same_loser_at_once_exactly_one_wins(web, w, at_lock, dialect):
    """DI-6: each merge locks both companies (in id order) and reads them afresh before it checks anything, so the
    second one sees the loser merged and gets 409."""
    for i in range(5):
        loser = make_company(f"竞争企业{i}有限公司", owner=w.officer, contacts=[{"name": f"竞争联系人{i}"}])
        targets = [make_company(f"竞争企业{i} 有限公司", owner=w.officer),
                   make_company(f"竞争企业{i}（吉安）有限公司", owner=w.officer)]
        make_project(loser, owner=w.officer, name=f"竞争项目{i}")
        read = {c.id: c.version for c in (loser, *targets)}
        loser_id, target_ids, loser_name, actor_id = loser.id, [t.id for t in targets], loser.name, w.officer.id
        db.session.rollback()
        start = threading.Barrier(2)
        at_lock["barrier"] = threading.Barrier(2) if dialect == "postgresql" else None

        def merge_into(target_id, loser_id=loser_id, actor_id=actor_id, read=read, start=start):
            def work():
                start.wait(30)
                actor = db.session.get(User, actor_id)
                return merge.merge_companies(target_id, loser_id, actor=actor, survivor_version=read[target_id],
                                             loser_version=read[loser_id]).survivor.id
            return work

        results = _run_pair(web, [merge_into(t) for t in target_ids])
        winners = [r for r in results if isinstance(r, int)]
        losers = [r for r in results if not isinstance(r, int)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], Conflict) and losers[0].status == 409, repr(losers[0])
        winner = winners[0]
        assert fresh(Company, loser_id).merged_into_id == winner
        assert count(Contact, Contact.company_id == winner) == 1 and count(Project, Project.company_id == winner) == 1
        assert count(CompanyAlias, CompanyAlias.old_id == loser_id) == 1
        assert count(AuditEvent, AuditEvent.action == "merge", AuditEvent.label == loser_name) == 1
        other = next(t for t in target_ids if t != winner)
        assert fresh(Company, other).version == read[other]  # the refused merge changed nothing


# --- the likely pairs -------------------------------------------------------------------------------------------------

def _reasons(viewer, **kw) -> dict[tuple[int, int], tuple[str, ...]]:
    return {(p.low.id, p.high.id): p.reasons for p in merge.likely_pairs(viewer, **kw).pairs}


def test_likely_pairs_by_name_and_by_phone(w):
    a = make_company("深圳市华信精密电子有限公司", owner=w.officer)
    b = make_company("深圳市华信精密电子 有限公司", owner=w.officer)
    c = make_company("赣州宏达科技有限公司", owner=w.officer, contacts=[{"name": "甲", "mobile": "13800138000"}])
    d = make_company("吉安远航物流有限公司", contacts=[{"name": "乙", "mobile": "13800138000"}])
    e = make_company("深圳市华信精密电子股份有限公司", owner=w.officer,
                     contacts=[{"name": "丙", "mobile": "13800138000"}])  # same name as a, b and same phone as c, d
    make_company("无关企业有限公司", owner=w.officer, contacts=[{"name": "丁", "mobile": "13900139000"}])
    make_company("深圳市华信精密电子（深圳）有限公司", deleted=True)  # deleted companies are never offered
    found = _reasons(w.manager)
    assert found == {(a.id, b.id): ("name",), (a.id, e.id): ("name",), (b.id, e.id): ("name",),
                     (c.id, d.id): ("phone",), (c.id, e.id): ("phone",), (d.id, e.id): ("phone",)}
    assert set(_reasons(w.manager, reason="phone")) == {(c.id, d.id), (c.id, e.id), (d.id, e.id)}
    assert set(_reasons(w.manager, reason="name")) == {(a.id, b.id), (a.id, e.id), (b.id, e.id)}
    # a pair with two reasons shows both
    make_contact(b, name="戊", mobile="13800138000")
    assert _reasons(w.manager)[(b.id, e.id)] == ("name", "phone")


def test_likely_pairs_by_credit_code_for_rows_that_got_around_the_unique_index(w):
    """Two live companies cannot share a USCC while uq_company_uscc_live holds; the check is the safety net for
    rows loaded around it (an old dump, direct SQL). Dropped here for one test, then rebuilt."""
    index = next(i for i in Company.__table__.indexes if i.name == "uq_company_uscc_live")
    first = make_company("信用代码一号有限公司", owner=w.officer, uscc=VALID_USCC[2])
    db.session.rollback()
    with db.engine.begin() as conn:
        index.drop(conn)
    try:
        second = make_company("完全不同的名字有限公司", owner=w.officer, uscc=VALID_USCC[2])
        assert _reasons(w.manager) == {(first.id, second.id): ("uscc",)}
        assert _reasons(w.manager, reason="name") == {}
        before = count(Contact)
        do_merge(first, second, w.manager)  # and such a pair merges like any other
        assert count(Contact) == before and fresh(Company, first.id).uscc == VALID_USCC[2]
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(delete(AuditEvent))
            conn.execute(delete(CompanyAlias))
            conn.execute(Company.__table__.update().values(merged_into_id=None))
            conn.execute(delete(Company).where(Company.name == "完全不同的名字有限公司"))
            index.create(conn)


def test_likely_pairs_are_those_the_viewer_may_see(w):
    mine = make_company("可见企业有限公司", owner=w.officer)
    pool = make_company("可见企业 有限公司")
    mates = make_company("可见企业（吉安）有限公司", owner=w.mate)
    theirs = make_company("可见企业（深圳）有限公司", owner=w.other)
    officer_pairs = set(_reasons(w.officer))
    assert officer_pairs == {(mine.id, pool.id), (mine.id, mates.id), (pool.id, mates.id)}
    assert len(_reasons(w.manager)) == 6 and (mine.id, theirs.id) in _reasons(w.manager)
    assert _reasons(w.other) == {(pool.id, theirs.id): ("name",)}
    assert _reasons(w.liaison) == {}


def test_a_phone_shared_by_many_companies_is_not_a_duplicate_sign(w):
    for i in range(merge.MAX_GROUP + 1):
        make_company(f"代理公司{i}号有限公司", contacts=[{"name": f"代理{i}", "mobile": "4008001234"}])
    assert _reasons(w.manager) == {}


def test_likely_pairs_page_with_a_cursor(w):
    companies = [make_company("翻页企业有限公司" + " " * i) for i in range(4)]  # one key: 6 pairs
    first = merge.likely_pairs(w.manager, limit=4)
    assert len(first.pairs) == 4 and first.next_after
    second = merge.likely_pairs(w.manager, limit=4, after=first.next_after)
    assert second.next_after is None
    seen = [(p.low.id, p.high.id) for p in first.pairs + second.pairs]
    ids = [c.id for c in companies]
    assert seen == [(ids[i], ids[j]) for i in range(4) for j in range(i + 1, 4)]
    assert merge.likely_pairs(w.manager, after="garbage").pairs[0].low.id == ids[0]  # a bad cursor: first page


# --- "not a duplicate" ------------------------------------------------------------------------------------------------

def test_not_a_duplicate_hides_the_pair(client, w):
    a = make_company("两家不同企业有限公司", owner=w.officer)
    b = make_company("两家不同企业 有限公司")
    c = make_company("两家不同企业（吉安）有限公司", owner=w.officer)
    login(client, w.officer)
    listed = client.get("/companies/duplicates").get_data(as_text=True)
    assert f'data-pair="{a.id}-{b.id}"' in listed
    response = client.post("/companies/duplicates/not-duplicate", data={"a": str(b.id), "b": str(a.id)})
    assert response.status_code == 302
    assert db.session.get(CompanyNotDuplicate, (a.id, b.id)).created_by_id == w.officer.id
    listed = client.get("/companies/duplicates").get_data(as_text=True)
    assert f'data-pair="{a.id}-{b.id}"' not in listed and f'data-pair="{a.id}-{c.id}"' in listed
    assert set(_reasons(w.manager)) == {(a.id, c.id), (b.id, c.id)}  # hidden for everyone
    # audited on both companies; marking again is harmless
    assert {(e.object_id, e.changes["other_id"][1]) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "not_duplicate"))} == {(a.id, b.id), (b.id, a.id)}
    assert client.post("/companies/duplicates/not-duplicate", data={"a": str(a.id), "b": str(b.id)}).status_code == 302
    assert count(CompanyNotDuplicate) == 1


def test_not_a_duplicate_is_decided_by_who_may_merge(w):
    mine = make_company("判断企业有限公司", owner=w.officer)
    mates = make_company("判断企业 有限公司", owner=w.mate)
    theirs = make_company("判断企业（深圳）有限公司", owner=w.other)
    with pytest.raises(Forbidden):
        merge.mark_not_duplicate(mine.id, mates.id, actor=w.officer)
    with pytest.raises(NotFound):
        merge.mark_not_duplicate(mine.id, theirs.id, actor=w.officer)
    with pytest.raises(Invalid):
        merge.mark_not_duplicate(mine.id, mine.id, actor=w.officer)
    merge.mark_not_duplicate(mine.id, theirs.id, actor=w.manager)
    assert count(CompanyNotDuplicate) == 1


# --- the pages --------------------------------------------------------------------------------------------------------

def test_duplicates_page_compare_and_merge_through_the_pages(client, w):
    survivor = make_company("页面合并企业有限公司", owner=w.officer, contacts=[{"name": "甲", "mobile": "13800138000"}])
    loser = make_company("页面合并企业 有限公司", owner=w.officer, uscc=VALID_USCC[0],
                         contacts=[{"name": "乙", "mobile": "13800138000"}, {"name": "丙"}])
    login(client, w.officer)
    listed = client.get("/companies/duplicates")
    assert listed.status_code == 200
    html = listed.get_data(as_text=True)
    assert 'data-reason="name"' in html and 'data-reason="phone"' in html
    assert f"/companies/duplicates/compare?a={survivor.id}&amp;b={loser.id}" in html
    assert "页面合并企业有限公司" in client.get("/companies").get_data(as_text=True)  # the list links to the page
    compare = client.get(f"/companies/duplicates/compare?a={loser.id}&b={survivor.id}")
    assert compare.status_code == 200
    page = compare.get_data(as_text=True)
    assert VALID_USCC[0] in page and 'name="survivor"' in page
    # the suggested survivor is the one with more records: the loser here has two contacts
    assert f'value="{loser.id}" checked' in page
    stale = client.post("/companies/duplicates/merge", data={
        "a": str(survivor.id), "b": str(loser.id), "a_version": str(survivor.version + 5),
        "b_version": str(loser.version), "survivor": str(survivor.id)})
    assert stale.status_code == 409 and 'name="survivor"' in stale.get_data(as_text=True)
    assert fresh(Company, loser.id).deleted_at is None
    done = client.post("/companies/duplicates/merge", data={
        "a": str(survivor.id), "b": str(loser.id), "a_version": str(survivor.version),
        "b_version": str(loser.version), "survivor": str(survivor.id)})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/companies/{survivor.id}")
    assert count(Contact, Contact.company_id == survivor.id) == 3
    assert fresh(Company, survivor.id).uscc == VALID_USCC[0]
    assert 'data-test="no-pairs"' in client.get("/companies/duplicates").get_data(as_text=True)
    # merging again from a stale compare page: the loser is gone, back to the list with the reason
    again = client.post("/companies/duplicates/merge", data={
        "a": str(survivor.id), "b": str(loser.id), "a_version": str(fresh(Company, survivor.id).version),
        "b_version": str(loser.version + 1), "survivor": str(survivor.id)})
    assert again.status_code == 409


def test_compare_page_refuses_what_the_user_may_not_see_or_merge(client, w):
    mine = make_company("比较企业有限公司", owner=w.officer)
    mates = make_company("比较企业 有限公司", owner=w.mate)
    theirs = make_company("比较企业（深圳）有限公司", owner=w.other)
    login(client, w.officer)
    assert client.get(f"/companies/duplicates/compare?a={mine.id}&b={theirs.id}").status_code == 404
    assert client.get(f"/companies/duplicates/compare?a={mine.id}").status_code == 404
    assert client.get(f"/companies/duplicates/compare?a={mine.id}&b={mine.id}").status_code == 422
    visible = client.get(f"/companies/duplicates/compare?a={mine.id}&b={mates.id}")
    assert visible.status_code == 200
    assert 'data-test="cannot-merge"' in visible.get_data(as_text=True)
    assert 'name="survivor"' not in visible.get_data(as_text=True)
    forbidden = client.post("/companies/duplicates/merge", data={
        "a": str(mine.id), "b": str(mates.id), "a_version": "1", "b_version": "1", "survivor": str(mine.id)})
    assert forbidden.status_code == 403
    no_choice = client.post("/companies/duplicates/merge", data={
        "a": str(mine.id), "b": str(mates.id), "a_version": "1", "b_version": "1", "survivor": "5"})
    assert no_choice.status_code == 422
    assert count(Company, Company.deleted_at.is_not(None)) == 0
    liaison = client.application.test_client()
    login(liaison, w.liaison)
    assert liaison.get("/companies/duplicates").status_code == 403
    assert count(AuditEvent, or_(AuditEvent.action == "merge", AuditEvent.action == "not_duplicate")) == 0


def _merge_work(ids, read, actor_id, start):
    def work():
        start.wait(30)
        actor = db.session.get(User, actor_id)
        return merge.merge_companies(ids[0], ids[1], actor=actor, survivor_version=read[ids[0]],
                                     loser_version=read[ids[1]]).survivor.id
    return work


def _edit_work(ids, read, actor_id, start, notes):
    def work():
        start.wait(30)
        actor = db.session.get(User, actor_id)
        return services.update_company(ids[1], {"notes": notes}, actor=actor, version=read[ids[1]]).notes
    return work


def test_an_edit_of_the_loser_during_the_merge_either_comes_first_or_gets_409(web, w):
    """DI-6: an officer saves the loser while the merge runs. Either the edit commits first (and the merge, holding
    the version read before it, is refused with 409) or the merge does (and the edit is refused): never both, and
    nothing is lost. Released together, in both orders of starting."""
    for i in range(6):
        survivor = make_company(f"编辑竞争企业{i}有限公司", owner=w.officer)
        loser = make_company(f"编辑竞争企业{i} 有限公司", owner=w.officer)
        read = {c.id: c.version for c in (survivor, loser)}
        ids, notes = (survivor.id, loser.id), f"同时编辑{i}"
        db.session.rollback()
        start = threading.Barrier(2)
        works = [_merge_work(ids, read, w.manager.id, start), _edit_work(ids, read, w.officer.id, start, notes)]
        merged, edited = _run_pair(web, works if i % 2 else works[::-1])[::1 if i % 2 else -1]
        loser_now = fresh(Company, ids[1])
        if isinstance(merged, int):
            assert isinstance(edited, (Conflict, NotFound, StaleDataError)), repr(edited)
            assert loser_now.merged_into_id == ids[0] and loser_now.notes == ""
        else:
            assert isinstance(merged, Conflict) and edited == notes, (repr(merged), edited)
            assert loser_now.deleted_at is None and loser_now.notes == notes
            assert db.session.get(CompanyAlias, ids[1]) is None


def test_names_and_notes_are_inert_on_the_duplicates_pages(client, w):
    from ..security.helpers import executable_content

    payload = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
    a = make_company(f"{payload}有限公司", owner=w.officer, notes=payload,
                     contacts=[{"name": payload, "title": payload, "mobile": "13800138000"}])
    b = make_company(f"{payload} 有限公司", owner=w.officer, address=payload)
    login(client, w.officer)
    for url in ("/companies/duplicates", f"/companies/duplicates/compare?a={a.id}&b={b.id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert executable_content(html) == [], url
        assert payload in BeautifulSoup(html, "html.parser").get_text(), url  # shown as text
    do_merge(a, b, w.officer)
    merged = client.get(f"/companies/{a.id}").get_data(as_text=True)
    assert executable_content(merged) == []
