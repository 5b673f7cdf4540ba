"""/api/v1/meetings: log a meeting with its follow-ups (all or nothing), read, PATCH with versions, delete, the list
with its filters and paging, visibility per role (other teams' confidential work is 404, code names), bad input."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task
from crm.meetings.services import MEETING_FIELDS

from ..factories import make_company, make_contact, make_project, make_reference, make_team, make_user
from ..sweeps import sweep
from .conftest import assert_error, assert_iso_with_offset, assert_record

LIST_KEYS = {"items", "total", "page", "per_page"}
MEETING_KEYS = {"id", "version", "created_at", "updated_at", "type", "start_at", "end_at", "city", "place",
                "company_id", "company_name", "project_id", "owner_id", "participant_user_ids",
                "participant_contact_ids", "summary", "outcome", "next_step"}
TASK_KEYS = {"id", "version", "created_at", "updated_at", "title", "notes", "due", "due_on", "owner_id", "company_id",
             "project_id", "meeting_id", "done", "done_at", "done_by_id", "created_by_id", "overdue"}
HUGE_ID = 10**20
ODD_VALUES = [None, True, False, 0, -1, 1.5, 10**30, 1e308, "", " ", "\x00\x1f", "x" * 20_001, [], [1], [[]], {},
              {"a": 1}, "NaN", "-0", "１２３", "2025-02-30T10:00", "2025-03-01", "10:00", ["x"], [0], [HUGE_ID]]


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def fresh(meeting_id: int) -> Meeting:
    db.session.expire_all()
    return db.session.get(Meeting, meeting_id)


@pytest.fixture
def world():
    """Team 1 (officer, mate), team 2 (outsider), a manager, an admin and a liaison; team 1's company with two
    contacts and a project, team 2's company with a contact, and a company in the public pool."""
    make_reference()

    class W:
        team1, team2 = make_team("一组"), make_team("二组")
        officer = make_user(team=team1, name="张伟")
        mate = make_user(team=team1, name="王芳")
        outsider = make_user(team=team2, name="刘洋")
        manager = make_user("manager", name="陈局")
        admin = make_user("admin", name="管理员")
        liaison = make_user("liaison", department="natural_resources")
        company = make_company("立讯智造（江西）有限公司", owner=officer)
        contact = make_contact(company, name="王经理")
        contact2 = make_contact(company, name="李总")
        project = make_project(company, owner=officer, name="连接器基地")
        theirs = make_company("二组企业有限公司", owner=outsider)
        their_contact = make_contact(theirs, name="赵主任")
        pool = make_company("公海企业有限公司")

    return W


def meeting_body(w, **values) -> dict:
    return {"type": "visit", "start_at": "2025-03-03T10:00:00+08:00", "company_id": w.company.id, **values}


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- create, read, change, delete ------------------------------------------------------------------------------------

def test_create_with_follow_ups_read_patch_delete(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/meetings", json=meeting_body(
        world, type="negotiation", end_at="2025-03-03T11:30:00+08:00", city="深圳", place="南山区科技园",
        project_id=world.project.id, participant_user_ids=[world.mate.id, world.officer.id],
        participant_contact_ids=[world.contact2.id, world.contact.id], summary="谈了用地", outcome="有意向",
        next_step="报送方案",
        follow_ups=[{"title": "发送政策清单", "due": "2025-03-05"},
                    {"title": "约看地块", "due": "2025-03-07T15:00:00+08:00", "owner_id": world.mate.id,
                     "notes": "带上规划图"}])))
    assert_record(body)
    assert set(body) == MEETING_KEYS | {"follow_ups"}
    assert body["version"] == 1
    assert (body["type"], body["city"], body["place"]) == ("negotiation", "深圳", "南山区科技园")
    assert assert_iso_with_offset(body["start_at"]) == datetime(2025, 3, 3, 2, tzinfo=UTC)
    assert assert_iso_with_offset(body["end_at"]) == datetime(2025, 3, 3, 3, 30, tzinfo=UTC)
    assert (body["company_id"], body["company_name"], body["project_id"], body["owner_id"]) == \
        (world.company.id, "立讯智造（江西）有限公司", world.project.id, world.officer.id)
    assert body["participant_user_ids"] == [world.mate.id]  # the owner is not a participant of their own meeting
    assert body["participant_contact_ids"] == sorted([world.contact.id, world.contact2.id])
    assert (body["summary"], body["outcome"], body["next_step"]) == ("谈了用地", "有意向", "报送方案")

    first, second = body["follow_ups"]
    for task in (first, second):
        assert_record(task)
        assert set(task) == TASK_KEYS
        assert (task["company_id"], task["project_id"], task["meeting_id"]) == \
            (world.company.id, world.project.id, body["id"])
        assert (task["done"], task["done_at"], task["created_by_id"]) == (False, None, world.officer.id)
    assert (first["title"], first["due"], first["due_on"], first["owner_id"], first["notes"]) == \
        ("发送政策清单", "2025-03-05", "2025-03-05", world.officer.id, "")
    assert (second["title"], second["due_on"], second["owner_id"], second["notes"]) == \
        ("约看地块", "2025-03-07", world.mate.id, "带上规划图")
    assert assert_iso_with_offset(second["due"]) == datetime(2025, 3, 7, 7, tzinfo=UTC)
    assert first["overdue"] is True  # the clock is real: 2025 is past
    assert count(Task) == 2 and count(MeetingUser) == 1 and count(MeetingContact) == 2
    meeting_id, url = body["id"], f"/api/v1/meetings/{body['id']}"

    got = api.get(url)
    assert got.status_code == 200 and got.get_json() == body

    patched = api.patch(url, json={"version": 1, "summary": "谈了用地和税收", "end_at": None,
                                   "participant_contact_ids": [world.contact.id], "company_name": "ignored"})
    assert patched.status_code == 200, patched.get_json()
    after = patched.get_json()
    assert (after["version"], after["summary"], after["end_at"]) == (2, "谈了用地和税收", None)
    assert after["participant_contact_ids"] == [world.contact.id]
    assert after["participant_user_ids"] == [world.mate.id]  # not sent: kept
    assert after["company_name"] == "立讯智造（江西）有限公司" and len(after["follow_ups"]) == 2

    # a stale version is a 409 and changes nothing
    error = assert_error(api.patch(url, json={"version": 1, "summary": "旧版本覆盖", "participant_contact_ids": []}),
                         409, "conflict")
    assert error["message"]
    row = fresh(meeting_id)
    assert (row.version, row.summary) == (2, "谈了用地和税收")
    assert [c.id for c in row.participant_contacts] == [world.contact.id]

    assert_error(api.delete(f"{url}?version=1"), 409)
    assert fresh(meeting_id).deleted_at is None
    assert api.delete(f"{url}?version=2").status_code == 204
    assert_error(api.get(url), 404)
    assert_error(api.patch(url, json={"version": 2, "summary": "x"}), 404)
    assert api.get("/api/v1/meetings").get_json()["total"] == 0
    assert fresh(meeting_id).deleted_at is not None
    # its follow-ups are work still owed: they stay
    assert api.get(f"/api/v1/tasks?meeting_id={meeting_id}").get_json()["total"] == 2


def test_delete_without_a_version(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/meetings", json=meeting_body(world)))
    assert api.delete(f"/api/v1/meetings/{body['id']}").status_code == 204
    assert fresh(body["id"]).deleted_at is not None


def test_a_manager_logs_for_an_officer_and_an_officer_may_not(api_as, world):
    boss = api_as(world.manager)
    body = created(boss.post("/api/v1/meetings", json=meeting_body(
        world, owner_id=world.officer.id, follow_ups=[{"title": "回访", "due": "2025-03-10"}])))
    assert body["owner_id"] == world.officer.id
    # a follow-up's owner defaults to the caller (the manager), not the meeting's owner
    assert body["follow_ups"][0]["owner_id"] == world.manager.id
    error = assert_error(api_as(world.officer).post("/api/v1/meetings", json=meeting_body(
        world, owner_id=world.mate.id)), 403, "forbidden")
    assert error["message"]
    # naming oneself is fine
    assert created(api_as(world.officer).post("/api/v1/meetings", json=meeting_body(
        world, owner_id=world.officer.id)))["owner_id"] == world.officer.id
    # an admin logs only for someone (an admin holds no meetings)
    error = assert_error(api_as(world.admin).post("/api/v1/meetings", json=meeting_body(world)), 422)
    assert set(error["fields"]) == {"owner_id"}
    assert created(api_as(world.admin).post("/api/v1/meetings", json=meeting_body(
        world, owner_id=world.mate.id)))["owner_id"] == world.mate.id
    for bad in (world.liaison.id, 987654, "5", 1.5, HUGE_ID, [world.mate.id]):
        response = boss.post("/api/v1/meetings", json=meeting_body(world, owner_id=bad))
        assert_error(response, 422)
        assert "owner_id" in response.get_json()["error"]["fields"]
    assert count(Meeting) == 3


def test_patch_refuses_the_owner_and_follow_ups(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/meetings", json=meeting_body(world)))
    url = f"/api/v1/meetings/{body['id']}"
    for field, value in (("owner_id", world.mate.id), ("follow_ups", [{"title": "x", "due": "2025-03-04"}])):
        error = assert_error(api.patch(url, json={"version": 1, field: value}), 422)
        assert set(error["fields"]) == {field}
    # sending back what was read is fine
    response = api.patch(url, json={k: v for k, v in body.items() if k != "follow_ups"})
    assert response.status_code == 200, response.get_json()
    assert_error(api.patch(url, json={"summary": "无版本"}), 422)
    assert_error(api.patch(url, json={"version": "2", "summary": "字符串版本"}), 422)
    assert count(Task) == 0 and fresh(body["id"]).owner_id == world.officer.id


def test_patch_checks_the_meeting_as_a_whole(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/meetings", json=meeting_body(
        world, end_at="2025-03-03T12:00:00+08:00", participant_contact_ids=[world.contact.id])))
    url = f"/api/v1/meetings/{body['id']}"
    # a start after the stored end
    error = assert_error(api.patch(url, json={"version": 1, "start_at": "2025-03-03T13:00:00+08:00"}), 422)
    assert set(error["fields"]) == {"end_at"}
    # another company's contact
    error = assert_error(api.patch(url, json={"version": 1, "participant_contact_ids": [world.their_contact.id]}),
                         422)
    assert set(error["fields"]) == {"participant_contact_ids"}
    # a company the officer may not see
    error = assert_error(api.patch(url, json={"version": 1, "company_id": world.theirs.id}), 422)
    assert set(error["fields"]) == {"company_id"}
    assert fresh(body["id"]).version == 1
    # moving to another company drops the old company's contacts
    moved = api.patch(url, json={"version": 1, "company_id": world.pool.id})
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["company_id"], moved.get_json()["participant_contact_ids"]) == (world.pool.id, [])


# --- bad input -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "field"), [
    ({"company_id": None}, "company_id"),
    ({"company_id": 987654}, "company_id"),
    ({"company_id": HUGE_ID}, "company_id"),
    ({"company_id": "abc"}, "company_id"),
    ({"type": "dinner"}, "type"),
    ({"type": None}, "type"),
    ({"type": ["visit"]}, "type"),
    ({"start_at": "2025-13-45"}, "start_at"),
    ({"start_at": "2025-13-45T10:00:00"}, "start_at"),
    ({"start_at": "2025-03-03"}, "start_at"),  # a date alone is not a time
    ({"start_at": None}, "start_at"),
    ({"start_at": 1741000000}, "start_at"),
    ({"start_at": "1800-01-01T10:00:00"}, "start_at"),
    ({"end_at": "2025-03-03T09:00:00+08:00"}, "end_at"),  # before the start
    ({"end_at": "2025-04-03T09:00:00+08:00"}, "end_at"),  # a month long
    ({"participant_user_ids": "everyone"}, "participant_user_ids"),
    ({"participant_user_ids": [987654]}, "participant_user_ids"),
    ({"participant_contact_ids": {"a": 1}}, "participant_contact_ids"),
    ({"city": "x" * 51}, "city"),
    ({"summary": "x" * 20_001}, "summary"),
    ({"follow_ups": "call them back"}, "follow_ups"),
    ({"follow_ups": {"title": "回访", "due": "2025-03-05"}}, "follow_ups"),
    ({"follow_ups": ["回访"]}, "follow_ups"),
    ({"follow_ups": [{"title": "回访", "due": "2025-03-05"}] * 21}, "follow_ups"),
    ({"follow_ups": [{"title": "回访", "due": "next tuesday"}]}, "follow_ups.0.due"),
    ({"follow_ups": [{"title": "回访", "due": "2025-03-05"}, {"title": "", "due": "2025-03-05"}]},
     "follow_ups.1.title"),
    ({"follow_ups": [{"title": "回访"}]}, "follow_ups.0.due"),
    ({"follow_ups": [{"title": "回访", "due": "2025-02-30"}]}, "follow_ups.0.due"),
    ({"follow_ups": [{"title": "回访", "due": "2025-03-05", "owner_id": 987654}]}, "follow_ups.0.owner_id"),
])
def test_create_refuses_bad_values_with_422(api_as, world, values, field):
    response = api_as(world.officer).post("/api/v1/meetings", json=meeting_body(world, **values))
    error = assert_error(response, 422, "validation_error")
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for messages in error["fields"].values() for m in messages)
    assert count(Meeting) == 0 and count(Task) == 0 and count(MeetingUser) == 0


def test_a_meeting_with_no_company_is_refused(api_as, world):
    body = meeting_body(world)
    del body["company_id"]
    error = assert_error(api_as(world.officer).post("/api/v1/meetings", json=body), 422)
    assert set(error["fields"]) == {"company_id"}


def test_reference_errors_name_the_field(api_as, world):
    """The end before the start, another company's contact, a deleted project, another company's project, a
    follow-up owner who is not an officer: each is a 422 naming the field, and nothing is written."""
    api = api_as(world.mate)
    gone = make_project(world.company, owner=world.officer, name="已删项目", deleted=True)
    other = make_project(world.pool, owner=world.officer, name="公海项目")
    cases = [
        ({"end_at": "2025-03-03T09:59:00+08:00"}, "end_at", "before the start"),
        ({"participant_contact_ids": [world.contact.id, world.their_contact.id]}, "participant_contact_ids",
         "not a contact of this company"),
        ({"project_id": gone.id}, "project_id", "deleted"),
        ({"project_id": other.id}, "project_id", "another company"),
        ({"follow_ups": [{"title": "回访", "due": "2025-03-05", "owner_id": world.liaison.id}]},
         "follow_ups.0.owner_id", "officer"),
        ({"company_id": world.theirs.id}, "company_id", "company"),
    ]
    api.client.set_cookie("lang", "en")  # the API speaks the default language unless asked
    for values, field, words in cases:
        error = assert_error(api.post("/api/v1/meetings", json=meeting_body(world, **values)), 422)
        assert set(error["fields"]) == {field}, (values, error)
        assert words in error["fields"][field][0], (values, error)
    assert count(Meeting) == 0 and count(Task) == 0


def test_malformed_json_is_400(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/meetings", json=meeting_body(world)))
    for method, url in (("post", "/api/v1/meetings"), ("patch", f"/api/v1/meetings/{body['id']}")):
        for raw in ("{broken", "[1, 2]", '"text"', "null", ""):
            assert_error(getattr(api, method)(url, data=raw, content_type="application/json"), 400)
    assert count(Meeting) == 1 and fresh(body["id"]).version == 1


#: a field of each rule, and each field with its own handling, for the PostgreSQL pass (tests/sweeps.py)
MEETING_SAMPLE = ["type", "start_at", "end_at", "city", "company_id", "participant_user_ids", "summary"]


@pytest.mark.parametrize("field", sweep(sorted(MEETING_FIELDS), MEETING_SAMPLE))
def test_odd_values_in_meeting_fields_are_never_a_500(api_as, world, field):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/meetings", json=meeting_body(world)))
    url = f"/api/v1/meetings/{body['id']}"
    for value in ODD_VALUES:
        response = api.post("/api/v1/meetings", json=meeting_body(world, **{field: value}))
        assert response.status_code in (201, 422), (field, value, response.get_json())
        version = api.get(url).get_json()["version"]
        response = api.patch(url, json={"version": version, field: value})
        assert response.status_code in (200, 422), (field, value, response.get_json())
        follow_up = api.post("/api/v1/meetings", json=meeting_body(world, follow_ups=[
            {"title": "回访", "due": "2025-03-05", field: value}]))
        assert follow_up.status_code == 201, (field, value, follow_up.get_json())


def test_long_text_with_html_and_emoji_is_stored_whole(api_as, world):
    api = api_as(world.officer)
    text = ("<script>alert(1)</script><b>洽谈</b> & \"引号\" 🚀😀👍🏽\n第二行\t制表" * 200)[:9_990] + "结尾🎉"
    assert len(text) >= 9_990
    body = created(api.post("/api/v1/meetings", json=meeting_body(
        world, summary=text, outcome=text, next_step=text, place="<i>会议室</i> 🏢",
        follow_ups=[{"title": "<b>回访</b> 📞", "due": "2025-03-05", "notes": text}])))
    assert (body["summary"], body["outcome"], body["next_step"], body["place"]) == (text, text, text,
                                                                                     "<i>会议室</i> 🏢")
    assert (body["follow_ups"][0]["title"], body["follow_ups"][0]["notes"]) == ("<b>回访</b> 📞", text)
    row = fresh(body["id"])
    assert row.summary == text and row.next_step == text
    assert api.get(f"/api/v1/meetings/{body['id']}").get_json()["summary"] == text
    assert api.get("/api/v1/meetings").get_json()["items"][0]["outcome"] == text
    patched = api.patch(f"/api/v1/meetings/{body['id']}", json={"version": 1, "summary": text[::-1].strip()})
    assert patched.get_json()["summary"] == text[::-1].strip()


# --- the list --------------------------------------------------------------------------------------------------------

def _ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == LIST_KEYS
    assert body["total"] >= len(body["items"])
    return [m["id"] for m in body["items"]]


def test_list_filters(api_as, world):
    api = api_as(world.officer)
    boss = api_as(world.manager)
    visit = created(api.post("/api/v1/meetings", json=meeting_body(
        world, start_at="2025-03-03T10:00:00+08:00", project_id=world.project.id)))["id"]
    call = created(api.post("/api/v1/meetings", json=meeting_body(
        world, type="call", start_at="2025-03-04T00:30:00+08:00")))["id"]
    pool = created(boss.post("/api/v1/meetings", json=meeting_body(
        world, company_id=world.pool.id, start_at="2025-03-05T09:00:00+08:00", owner_id=world.mate.id)))["id"]

    assert _ids(api.get("/api/v1/meetings")) == [pool, call, visit]  # newest first
    assert _ids(api.get(f"/api/v1/meetings?company_id={world.company.id}")) == [call, visit]
    assert _ids(api.get(f"/api/v1/meetings?project_id={world.project.id}")) == [visit]
    assert _ids(api.get(f"/api/v1/meetings?owner_id={world.mate.id}")) == [pool]
    assert _ids(api.get("/api/v1/meetings?type=call")) == [call]
    # a date is its midnight in Asia/Shanghai: the call at 00:30 on the 4th is on the 4th
    assert _ids(api.get("/api/v1/meetings?start_from=2025-03-04")) == [pool, call]
    assert _ids(api.get("/api/v1/meetings?start_before=2025-03-04")) == [visit]
    assert _ids(api.get("/api/v1/meetings?start_from=2025-03-04&start_before=2025-03-05")) == [call]
    assert _ids(api.get("/api/v1/meetings", query_string={"start_from": "2025-03-03T16:30:00Z"})) == [pool, call]
    assert _ids(api.get("/api/v1/meetings", query_string={"start_from": "2025-03-03T16:31:00Z"})) == [pool]
    assert _ids(api.get("/api/v1/meetings", query_string={"start_before": "2025-03-04T00:30:00+08:00"})) == [visit]
    assert _ids(api.get("/api/v1/meetings?start_from=2025-03-04T00:30")) == [pool, call]  # zone time
    assert _ids(api.get(f"/api/v1/meetings?company_id={world.company.id}&type=visit")) == [visit]
    # a filter value that names nothing matches nothing (it is not dropped)
    for query in ("company_id=abc", f"owner_id={HUGE_ID}", "project_id=-1", "owner_id=1.5", "type=dinner",
                  "type=VISIT", "company_id=１２", "owner_id=0"):
        body = api.get(f"/api/v1/meetings?{query}").get_json()
        assert (body["items"], body["total"]) == ([], 0), query
    # a time that cannot be read is a 422 naming the parameter
    for name in ("start_from", "start_before"):
        for value in ("yesterday", "2025-13-45", "2025-03-04T25:00", "1800-01-01", "x" * 500):
            error = assert_error(api.get("/api/v1/meetings", query_string={name: value}), 422)
            assert set(error["fields"]) == {name}, (name, value)
    for record in api.get("/api/v1/meetings").get_json()["items"]:
        assert_record(record)
        assert set(record) == MEETING_KEYS


def test_list_paging_and_per_page_cap(api_as, world):
    api = api_as(world.officer)
    start = datetime(2025, 3, 1, 2, tzinfo=UTC)
    for i in range(7):
        at = (start + timedelta(hours=i)).isoformat()
        created(api.post("/api/v1/meetings", json=meeting_body(world, start_at=at)))
    pages = [api.get(f"/api/v1/meetings?per_page=3&page={n}").get_json() for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    assert all(p["total"] == 7 and p["per_page"] == 3 for p in pages)
    assert len({m["id"] for p in pages for m in p["items"]}) == 7
    capped = api.get("/api/v1/meetings?per_page=10000").get_json()
    assert (capped["per_page"], capped["total"], len(capped["items"])) == (200, 7, 7)
    for query in ("page=abc&per_page=-3", "page=0&per_page=0", f"page={HUGE_ID}", "per_page=1e9"):
        response = api.get(f"/api/v1/meetings?{query}")
        assert response.status_code == 200 and set(response.get_json()) == LIST_KEYS


def test_list_statements_do_not_grow_with_the_page(api_as, world):
    api = api_as(world.officer)

    def statements(per_page: int) -> int:
        seen = []

        def count_it(*_args):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count_it)
        try:
            response = api.get(f"/api/v1/meetings?per_page={per_page}")
        finally:
            event.remove(db.engine, "before_cursor_execute", count_it)
        assert len(response.get_json()["items"]) == per_page
        return len(seen)

    at = utcnow() - timedelta(days=30)
    for i in range(30):
        company = make_company(owner=world.officer if i % 2 else None)
        project = make_project(company, owner=world.officer, confidential=i % 3 == 0, code_name=f"代号{i}")
        contact = make_contact(company)
        meeting = Meeting(type="visit", start_at=at + timedelta(hours=i), company_id=company.id,
                          project_id=project.id, owner_id=world.officer.id)
        db.session.add(meeting)
        db.session.flush()
        db.session.add_all([MeetingUser(meeting_id=meeting.id, user_id=world.mate.id),
                            MeetingContact(meeting_id=meeting.id, contact_id=contact.id)])
    db.session.commit()
    assert statements(30) == statements(2)


# --- who sees what ---------------------------------------------------------------------------------------------------

def test_another_teams_confidential_project_meeting_is_404(api_as, world):
    secret = make_project(world.pool, owner=world.officer, name="保密项目", confidential=True, code_name="星河")
    api, outsider = api_as(world.officer), api_as(world.outsider)
    body = created(api.post("/api/v1/meetings", json=meeting_body(
        world, company_id=world.pool.id, project_id=secret.id, follow_ups=[{"title": "回访", "due": "2025-03-05"}])))
    url = f"/api/v1/meetings/{body['id']}"
    missing = outsider.get("/api/v1/meetings/987654")
    assert_error(missing, 404, "not_found")
    assert outsider.get(url).get_json() == missing.get_json()  # the same answer: ids cannot be probed
    assert_error(outsider.patch(url, json={"version": 1, "summary": "改"}), 404)
    assert_error(outsider.delete(f"{url}?version=1"), 404)
    assert _ids(outsider.get("/api/v1/meetings")) == []
    assert _ids(outsider.get(f"/api/v1/meetings?company_id={world.pool.id}")) == []
    # a task of theirs cannot be hung on it either
    error = assert_error(outsider.post("/api/v1/tasks", json={"title": "偷挂", "due": "2025-03-05",
                                                               "meeting_id": body["id"]}), 422)
    assert set(error["fields"]) == {"meeting_id"}
    row = fresh(body["id"])
    assert (row.version, row.summary, row.deleted_at) == (1, "", None)
    # the owner's team and managers see it
    assert api_as(world.mate).get(url).status_code == 200
    assert api_as(world.manager).get(url).get_json()["company_name"] == "公海企业有限公司"


def test_another_teams_ordinary_meeting_is_visible_but_not_editable(api_as, world):
    api, outsider = api_as(world.officer), api_as(world.outsider)
    body = created(api.post("/api/v1/meetings", json=meeting_body(world, company_id=world.pool.id)))
    url = f"/api/v1/meetings/{body['id']}"
    assert outsider.get(url).status_code == 200
    assert_error(outsider.patch(url, json={"version": 1, "summary": "改"}), 403, "forbidden")
    assert_error(outsider.patch(url, data="{broken", content_type="application/json"), 400)
    assert_error(outsider.delete(f"{url}?version=1"), 403)
    # a team mate and a manager may change it
    assert api_as(world.mate).patch(url, json={"version": 1, "summary": "组内修改"}).status_code == 200
    assert api_as(world.manager).patch(url, json={"version": 2, "outcome": "领导批注"}).status_code == 200
    assert (fresh(body["id"]).version, fresh(body["id"]).deleted_at) == (3, None)


def test_confidential_project_shows_its_code_name_where_the_company_is_hidden(api_as, world):
    """Team 1's confidential project on a company team 2 holds: team 1 sees the code name, a manager the name."""
    secret = make_project(world.theirs, owner=world.officer, name="电池项目", confidential=True, code_name="北极星")
    meeting = Meeting(type="visit", start_at=utcnow(), company_id=world.theirs.id, project_id=secret.id,
                      owner_id=world.officer.id)
    db.session.add(meeting)
    db.session.commit()
    [row] = api_as(world.mate).get("/api/v1/meetings").get_json()["items"]
    assert row["company_name"] == "北极星"
    assert api_as(world.mate).get(f"/api/v1/meetings/{meeting.id}").get_json()["company_name"] == "北极星"
    [row] = api_as(world.manager).get("/api/v1/meetings").get_json()["items"]
    assert row["company_name"] == "二组企业有限公司"
    # team 2 holds the company, but the project is team 1's secret: the meeting does not exist for them
    assert _ids(api_as(world.outsider).get("/api/v1/meetings")) == []
    assert_error(api_as(world.outsider).get(f"/api/v1/meetings/{meeting.id}"), 404)


def test_a_participant_sees_the_meeting(api_as, world):
    """A colleague of another team who took part sees the meeting (but may not change it)."""
    body = created(api_as(world.officer).post("/api/v1/meetings", json=meeting_body(
        world, participant_user_ids=[world.outsider.id])))
    outsider = api_as(world.outsider)
    assert _ids(outsider.get("/api/v1/meetings")) == [body["id"]]
    assert_error(outsider.patch(f"/api/v1/meetings/{body['id']}", json={"version": 1, "summary": "x"}), 403)


def test_liaison_gets_nothing(api_as, world):
    body = created(api_as(world.officer).post("/api/v1/meetings", json=meeting_body(world)))
    liaison = api_as(world.liaison)
    listed = liaison.get("/api/v1/meetings").get_json()
    assert (listed["items"], listed["total"]) == ([], 0)
    url = f"/api/v1/meetings/{body['id']}"
    assert_error(liaison.get(url), 404)
    assert_error(liaison.patch(url, json={"version": 1, "summary": "x"}), 404)
    assert_error(liaison.delete(url), 404)
    error = assert_error(liaison.post("/api/v1/meetings", json=meeting_body(world)), 403, "forbidden")
    assert error["message"]
    assert count(Meeting) == 1 and fresh(body["id"]).version == 1


def test_every_route_needs_a_token(client, world):
    meeting = Meeting(type="call", start_at=utcnow(), company_id=world.company.id, owner_id=world.officer.id)
    db.session.add(meeting)
    db.session.commit()
    url = f"/api/v1/meetings/{meeting.id}"
    for response in (client.get("/api/v1/meetings"), client.post("/api/v1/meetings", json={}),
                     client.get(url), client.patch(url, json={"version": 1}), client.delete(url),
                     client.get(url, headers={"Authorization": "Bearer not-a-token"})):
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert fresh(meeting.id).deleted_at is None


def test_huge_and_odd_ids_are_404(api_as, world):
    api = api_as(world.officer)
    for url in (f"/api/v1/meetings/{HUGE_ID}", "/api/v1/meetings/-1", "/api/v1/meetings/abc",
                "/api/v1/meetings/987654", "/api/v1/meetings/0"):
        assert_error(api.get(url), 404)
        assert_error(api.patch(url, json={"version": 1}), 404)
        assert_error(api.delete(url), 404)


def test_documented_statuses_of_meeting_writes_are_the_ones_the_api_gives(app, api_as, world):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    api, outsider, liaison = api_as(world.officer), api_as(world.outsider), api_as(world.liaison)
    anonymous = app.test_client()
    post = {
        api.post("/api/v1/meetings", json=meeting_body(world)).status_code,
        api.post("/api/v1/meetings", data="{", content_type="application/json").status_code,
        anonymous.post("/api/v1/meetings", json=meeting_body(world)).status_code,
        liaison.post("/api/v1/meetings", json=meeting_body(world)).status_code,
        api.post("/api/v1/meetings", json=meeting_body(world, type="dinner")).status_code,
    }
    own = created(api.post("/api/v1/meetings", json=meeting_body(world, company_id=world.pool.id)))
    hidden = created(api.post("/api/v1/meetings", json=meeting_body(world)))
    url = f"/api/v1/meetings/{own['id']}"
    patch = {
        api.patch(url, json={"version": 1, "summary": "改"}).status_code,
        api.patch(url, data="[1,", content_type="application/json").status_code,
        anonymous.patch(url, json={"version": 2}).status_code,
        outsider.patch(url, json={"version": 2, "summary": "x"}).status_code,
        outsider.patch(f"/api/v1/meetings/{hidden['id']}", json={"version": 1, "summary": "x"}).status_code,
        api.patch(url, json={"version": 1, "summary": "旧"}).status_code,
        api.patch(url, json={"version": 2, "type": "dinner"}).status_code,
    }
    assert post == {201, 400, 401, 403, 422}
    assert patch == {200, 400, 401, 403, 404, 409, 422}
    for path, method, observed in (("/api/v1/meetings", "post", post),
                                   ("/api/v1/meetings/{meeting_id}", "patch", patch)):
        assert {int(s) for s in spec["paths"][path][method]["responses"]} == observed, (path, method)
