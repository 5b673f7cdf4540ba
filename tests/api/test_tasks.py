"""/api/v1/tasks: create, read, PATCH with versions (done completes, false reopens, snooze), delete; overdue derived
from the due and the zone's midnight (the clock is fixed); the list with its filters; visibility per role; bad input."""
from datetime import UTC, date, datetime

import pytest
import time_machine

from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.meetings.models import Meeting, Task
from crm.meetings.services import TASK_FIELDS

from ..factories import make_company, make_project, make_reference, make_team, make_user
from ..sweeps import sweep
from .conftest import assert_error, assert_iso_with_offset, assert_record

LIST_KEYS = {"items", "total", "page", "per_page"}
TASK_KEYS = {"id", "version", "created_at", "updated_at", "title", "notes", "due", "due_on", "owner_id", "company_id",
             "project_id", "meeting_id", "done", "done_at", "done_by_id", "created_by_id", "overdue"}
HUGE_ID = 10**20
#: 00:30 on 10 March 2025 in Asia/Shanghai
JUST_AFTER_MIDNIGHT = datetime(2025, 3, 9, 16, 30, tzinfo=UTC)
#: 23:59 on 10 March 2025 in Asia/Shanghai
JUST_BEFORE_MIDNIGHT = datetime(2025, 3, 10, 15, 59, tzinfo=UTC)
ODD_VALUES = [None, True, False, 0, -1, 1.5, 10**30, 1e308, "", " ", "\x00\x1f", "x" * 20_001, [], [1], {},
              {"a": 1}, "NaN", "-0", "１２３", "2025-02-30", "2025-03-01", "2025-03-01T25:00", "next tuesday", [0]]


def count(model=Task) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def fresh(task_id: int) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task_id)


@pytest.fixture
def world():
    """Team 1 (officer, mate), team 2 (outsider), a manager, an admin, a liaison; team 1's company and project."""
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
        project = make_project(company, owner=officer, name="连接器基地")
        pool = make_company("公海企业有限公司")

    return W


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == LIST_KEYS
    return [t["title"] for t in body["items"]]


# --- create, read, change, delete ------------------------------------------------------------------------------------

def test_create_read_patch_complete_reopen_delete(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/tasks", json={"title": "发送政策清单", "due": "2030-03-05", "notes": "含税收",
                                                    "project_id": world.project.id}))
    assert_record(body)
    assert set(body) == TASK_KEYS
    assert (body["version"], body["title"], body["notes"], body["due"], body["due_on"]) == \
        (1, "发送政策清单", "含税收", "2030-03-05", "2030-03-05")
    # the project implies its company; the owner defaults to the caller
    assert (body["owner_id"], body["company_id"], body["project_id"], body["meeting_id"]) == \
        (world.officer.id, world.company.id, world.project.id, None)
    assert (body["done"], body["done_at"], body["done_by_id"], body["overdue"]) == (False, None, None, False)
    assert body["created_by_id"] == world.officer.id
    url = f"/api/v1/tasks/{body['id']}"
    got = api.get(url)
    assert got.status_code == 200 and got.get_json() == body

    patched = api.patch(url, json={"version": 1, "title": "发送政策清单（更新）", "due": "2030-03-06T09:30:00+08:00",
                                   "owner_id": world.mate.id, "overdue": True, "done_at": "2020-01-01T00:00:00Z"})
    assert patched.status_code == 200, patched.get_json()
    after = patched.get_json()
    assert (after["version"], after["title"], after["due_on"], after["owner_id"]) == \
        (2, "发送政策清单（更新）", "2030-03-06", world.mate.id)
    assert assert_iso_with_offset(after["due"]) == datetime(2030, 3, 6, 1, 30, tzinfo=UTC)
    assert (after["done"], after["done_at"], after["overdue"]) == (False, None, False)  # derived fields are not input

    # a stale version is a 409 and changes nothing
    error = assert_error(api.patch(url, json={"version": 1, "done": True, "title": "旧版本"}), 409, "conflict")
    assert error["message"]
    row = fresh(body["id"])
    assert (row.version, row.title, row.done_at) == (2, "发送政策清单（更新）", None)

    done = api.patch(url, json={"done": True, "version": 2})
    assert done.status_code == 200, done.get_json()
    done = done.get_json()
    assert (done["version"], done["done"], done["done_by_id"], done["overdue"]) == (3, True, world.officer.id, False)
    assert_iso_with_offset(done["done_at"])
    reopened = api.patch(url, json={"done": False, "version": 3}).get_json()
    assert (reopened["version"], reopened["done"], reopened["done_at"], reopened["done_by_id"]) == (4, False, None,
                                                                                                     None)

    assert_error(api.delete(f"{url}?version=3"), 409)
    assert fresh(body["id"]).deleted_at is None
    assert api.delete(f"{url}?version=4").status_code == 204
    assert_error(api.get(url), 404)
    assert_error(api.patch(url, json={"version": 4, "done": True}), 404)
    assert api.get("/api/v1/tasks").get_json()["total"] == 0
    assert fresh(body["id"]).deleted_at is not None


def test_a_task_on_a_meeting_takes_its_company_and_project(api_as, world):
    api = api_as(world.officer)
    meeting = api.post("/api/v1/meetings", json={"type": "call", "start_at": "2025-03-03T10:00:00+08:00",
                                                 "company_id": world.company.id, "project_id": world.project.id})
    meeting_id = created(meeting)["id"]
    body = created(api.post("/api/v1/tasks", json={"title": "回电", "due": "2025-03-04", "meeting_id": meeting_id,
                                                    "owner_id": world.mate.id}))
    assert (body["meeting_id"], body["company_id"], body["project_id"], body["owner_id"]) == \
        (meeting_id, world.company.id, world.project.id, world.mate.id)
    assert [t["id"] for t in api.get(f"/api/v1/meetings/{meeting_id}").get_json()["follow_ups"]] == [body["id"]]
    alone = created(api.post("/api/v1/tasks", json={"title": "写周报", "due": "2025-03-07"}))
    assert (alone["company_id"], alone["project_id"], alone["meeting_id"]) == (None, None, None)


def test_owners(api_as, world):
    """The owner defaults to the caller; an officer may hand a task to a colleague; an admin must name one."""
    api = api_as(world.officer)
    assert created(api.post("/api/v1/tasks", json={"title": "甲", "due": "2025-03-05",
                                                    "owner_id": world.outsider.id}))["owner_id"] == world.outsider.id
    error = assert_error(api_as(world.admin).post("/api/v1/tasks", json={"title": "乙", "due": "2025-03-05"}), 422)
    assert set(error["fields"]) == {"owner_id"}
    assert created(api_as(world.admin).post("/api/v1/tasks", json={"title": "乙", "due": "2025-03-05",
                                                                    "owner_id": world.mate.id}))["owner_id"] == \
        world.mate.id
    for bad in (world.liaison.id, world.admin.id, 987654, HUGE_ID, "abc", 1.5, [world.mate.id]):
        error = assert_error(api.post("/api/v1/tasks", json={"title": "丙", "due": "2025-03-05", "owner_id": bad}),
                             422)
        assert set(error["fields"]) == {"owner_id"}, bad
    assert count() == 2


def test_snooze(api_as, world):
    api = api_as(world.officer)
    with time_machine.travel(datetime(2025, 3, 5, 2, tzinfo=UTC), tick=False):  # Wednesday 10:00 in Shanghai
        day = created(api.post("/api/v1/tasks", json={"title": "日", "due": "2025-03-04"}))
        timed = created(api.post("/api/v1/tasks", json={"title": "时", "due": "2025-03-05T15:00:00+08:00"}))
        later = created(api.post("/api/v1/tasks", json={"title": "远", "due": "2025-03-20"}))
        moved = api.patch(f"/api/v1/tasks/{day['id']}", json={"snooze": "tomorrow", "version": 1}).get_json()
        assert (moved["due"], moved["version"], moved["overdue"]) == ("2025-03-06", 2, False)
        moved = api.patch(f"/api/v1/tasks/{timed['id']}", json={"snooze": "next_week", "version": 1}).get_json()
        assert assert_iso_with_offset(moved["due"]) == datetime(2025, 3, 10, 7, tzinfo=UTC)  # Monday 15:00
        moved = api.patch(f"/api/v1/tasks/{later['id']}", json={"snooze": "tomorrow", "version": 1}).get_json()
        assert moved["due"] == "2025-03-21"  # never brought forward
        url = f"/api/v1/tasks/{day['id']}"
        for bad in ("someday", None, 3, ["tomorrow"]):
            error = assert_error(api.patch(url, json={"snooze": bad, "version": 2}), 422)
            assert set(error["fields"]) == {"snooze"}
        error = assert_error(api.patch(url, json={"snooze": "tomorrow", "title": "改", "version": 2}), 422)
        assert set(error["fields"]) == {"snooze"}
        assert_error(api.patch(url, json={"snooze": "tomorrow", "version": 1}), 409)
        assert api.patch(url, json={"done": True, "version": 2}).status_code == 200
        assert_error(api.patch(url, json={"snooze": "tomorrow", "version": 3}), 409)  # already done
    row = fresh(day["id"])
    assert (row.due_on, row.version, row.title) == (date(2025, 3, 6), 3, "日")


# --- overdue, around midnight in Asia/Shanghai ------------------------------------------------------------------------

def test_overdue_is_derived_from_the_zones_midnight(api_as, world):
    api = api_as(world.officer)
    with time_machine.travel(datetime(2025, 3, 8, 4, tzinfo=UTC), tick=False):
        ids = {title: created(api.post("/api/v1/tasks", json={"title": title, "due": due}))["id"] for title, due in (
            ("九日", "2025-03-09"), ("十日", "2025-03-10"), ("十日零点一刻", "2025-03-10T00:15:00+08:00"),
            ("十日晚", "2025-03-10T23:00:00+08:00"), ("九日已办", "2025-03-09"))}
        done_id = ids["九日已办"]
        assert api.patch(f"/api/v1/tasks/{done_id}", json={"done": True, "version": 1}).status_code == 200

    def overdue() -> dict:
        items = api.get("/api/v1/tasks?per_page=200").get_json()["items"]
        by_title = {t["title"]: t["overdue"] for t in items}
        listed = set(_titles(api.get("/api/v1/tasks?overdue=true")))
        assert listed == {t for t, late in by_title.items() if late}  # the filter agrees with the field
        assert set(_titles(api.get("/api/v1/tasks?overdue=false"))) == set(by_title) - listed
        for title, task_id in ids.items():
            assert api.get(f"/api/v1/tasks/{task_id}").get_json()["overdue"] is by_title[title]
        return by_title

    with time_machine.travel(JUST_AFTER_MIDNIGHT, tick=False):
        assert overdue() == {"九日": True, "十日": False, "十日零点一刻": True, "十日晚": False, "九日已办": False}
    with time_machine.travel(JUST_BEFORE_MIDNIGHT, tick=False):
        assert overdue() == {"九日": True, "十日": False, "十日零点一刻": True, "十日晚": True, "九日已办": False}
    with time_machine.travel(datetime(2025, 3, 10, 16, 0, tzinfo=UTC), tick=False):  # 00:00 on the 11th
        assert overdue()["十日"] is True
    # reopening a done task that is past due makes it overdue again
    with time_machine.travel(JUST_AFTER_MIDNIGHT, tick=False):
        reopened = api.patch(f"/api/v1/tasks/{done_id}", json={"done": False, "version": 2}).get_json()
        assert (reopened["done"], reopened["overdue"]) == (False, True)


# --- the list --------------------------------------------------------------------------------------------------------

def test_list_filters_and_order(api_as, world):
    api = api_as(world.officer)
    other = make_company("第二家企业有限公司", owner=world.officer)
    meeting = created(api.post("/api/v1/meetings", json={"type": "visit", "start_at": "2025-03-03T10:00:00+08:00",
                                                         "company_id": world.company.id,
                                                         "follow_ups": [{"title": "会后", "due": "2025-03-06"}]}))
    for title, values in (("项目", {"due": "2025-03-04", "project_id": world.project.id}),
                          ("企业", {"due": "2025-03-05T08:00:00+08:00", "company_id": other.id}),
                          ("同事", {"due": "2025-03-02", "owner_id": world.mate.id}),
                          ("已办", {"due": "2025-03-01"}), ("远期", {"due": "2099-01-01"})):
        created(api.post("/api/v1/tasks", json={"title": title, **values}))
    done_id = db.session.scalar(db.select(Task.id).where(Task.title == "已办"))
    assert api.patch(f"/api/v1/tasks/{done_id}", json={"done": True, "version": 1}).status_code == 200

    assert _titles(api.get("/api/v1/tasks")) == ["已办", "同事", "项目", "企业", "会后", "远期"]  # by due
    assert _titles(api.get(f"/api/v1/tasks?owner_id={world.mate.id}")) == ["同事"]
    assert _titles(api.get(f"/api/v1/tasks?company_id={world.company.id}")) == ["项目", "会后"]
    assert _titles(api.get(f"/api/v1/tasks?project_id={world.project.id}")) == ["项目"]
    assert _titles(api.get(f"/api/v1/tasks?meeting_id={meeting['id']}")) == ["会后"]
    assert _titles(api.get("/api/v1/tasks?due_before=2025-03-05")) == ["已办", "同事", "项目"]
    assert _titles(api.get("/api/v1/tasks?due_before=2025-03-06")) == ["已办", "同事", "项目", "企业"]
    assert _titles(api.get("/api/v1/tasks?done=true")) == ["已办"]
    assert _titles(api.get("/api/v1/tasks?done=false&overdue=true")) == ["同事", "项目", "企业", "会后"]
    assert _titles(api.get("/api/v1/tasks?overdue=false")) == ["已办", "远期"]
    assert _titles(api.get("/api/v1/tasks?done=0&due_before=2025-03-05")) == ["同事", "项目"]
    assert _titles(api.get(f"/api/v1/tasks?owner_id={world.officer.id}&done=FALSE&overdue=False")) == ["远期"]
    # an id that names nothing matches nothing
    for query in ("owner_id=abc", f"company_id={HUGE_ID}", "project_id=-1", "meeting_id=1.5", "owner_id=0",
                  "meeting_id=１"):
        body = api.get(f"/api/v1/tasks?{query}").get_json()
        assert (body["items"], body["total"]) == ([], 0), query
    # a flag or a date that cannot be read is a 422 naming the parameter
    for name, value in (("overdue", "maybe"), ("done", "2"), ("overdue", "yes please"), ("done", "\x00"),
                        ("due_before", "next tuesday"), ("due_before", "2025-13-45"),
                        ("due_before", "2025-03-05T10:00:00"), ("due_before", "x" * 500)):
        error = assert_error(api.get("/api/v1/tasks", query_string={name: value}), 422, "validation_error")
        assert set(error["fields"]) == {name}, (name, value)
    for record in api.get("/api/v1/tasks").get_json()["items"]:
        assert_record(record)
        assert set(record) == TASK_KEYS


def test_list_paging_and_per_page_cap(api_as, world):
    api = api_as(world.officer)
    for i in range(7):
        created(api.post("/api/v1/tasks", json={"title": f"分页{i}", "due": f"2025-03-{i + 1:02d}"}))
    pages = [api.get(f"/api/v1/tasks?per_page=3&page={n}").get_json() for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    assert all(p["total"] == 7 and p["per_page"] == 3 for p in pages)
    assert [t["title"] for p in pages for t in p["items"]] == [f"分页{i}" for i in range(7)]
    capped = api.get("/api/v1/tasks?per_page=10000").get_json()
    assert (capped["per_page"], capped["total"], len(capped["items"])) == (200, 7, 7)
    for query in ("page=abc&per_page=-3", "page=0&per_page=0", f"page={HUGE_ID}", "per_page=1e9", "per_page=²"):
        response = api.get(f"/api/v1/tasks?{query}")
        assert response.status_code == 200 and set(response.get_json()) == LIST_KEYS


# --- bad input -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "field"), [
    ({"title": ""}, "title"),
    ({"title": None}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": ["回访"]}, "title"),
    ({"due": "next tuesday"}, "due"),
    ({"due": "2025-13-45"}, "due"),
    ({"due": "2025-02-30"}, "due"),
    ({"due": "2025-03-05T25:00"}, "due"),
    ({"due": None}, "due"),
    ({"due": 20250305}, "due"),
    ({"due": "1800-01-01"}, "due"),
    ({"company_id": 987654}, "company_id"),
    ({"company_id": "abc"}, "company_id"),
    ({"project_id": HUGE_ID}, "project_id"),
    ({"meeting_id": 987654}, "meeting_id"),
    ({"notes": "x" * 20_001}, "notes"),
])
def test_create_refuses_bad_values_with_422(api_as, world, values, field):
    response = api_as(world.officer).post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05", **values})
    error = assert_error(response, 422, "validation_error")
    assert field in error["fields"], error
    assert count() == 0


def test_a_task_with_no_due_or_title_is_refused(api_as, world):
    error = assert_error(api_as(world.officer).post("/api/v1/tasks", json={}), 422)
    assert set(error["fields"]) == {"title", "due"}


def test_a_task_for_a_deleted_project_says_it_is_deleted(api_as, world):
    gone = make_project(world.company, owner=world.officer, name="已删项目", deleted=True)
    api = api_as(world.officer)
    api.client.set_cookie("lang", "en")  # the API speaks the default language unless asked
    error = assert_error(api.post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05",
                                                         "project_id": gone.id}), 422)
    assert set(error["fields"]) == {"project_id"}
    assert "deleted" in error["fields"]["project_id"][0]
    live = created(api.post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05"}))
    error = assert_error(api.patch(f"/api/v1/tasks/{live['id']}", json={"version": 1, "project_id": gone.id}), 422)
    assert "deleted" in error["fields"]["project_id"][0]
    # another team's confidential project is not named as such
    secret = make_project(owner=world.outsider, confidential=True, code_name="暗")
    error = assert_error(api.post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05",
                                                         "project_id": secret.id}), 422)
    assert "deleted" not in error["fields"]["project_id"][0]
    assert count() == 1 and fresh(live["id"]).version == 1


def test_patch_bad_values_change_nothing(api_as, world):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05"}))
    url = f"/api/v1/tasks/{body['id']}"
    for values, field in (({"due": "next tuesday"}, "due"), ({"done": "maybe"}, "done"), ({"title": ""}, "title"),
                          ({"done": [True]}, "done"), ({"owner_id": world.liaison.id}, "owner_id")):
        error = assert_error(api.patch(url, json={"version": 1, **values}), 422)
        assert set(error["fields"]) == {field}, values
    assert_error(api.patch(url, json={"done": True}), 422)  # no version
    assert_error(api.patch(url, json={"done": True, "version": "1"}), 422)
    for raw in ("{broken", "[1, 2]", '"text"', "null", ""):
        assert_error(api.patch(url, data=raw, content_type="application/json"), 400)
        assert_error(api.post("/api/v1/tasks", data=raw, content_type="application/json"), 400)
    row = fresh(body["id"])
    assert (row.version, row.title, row.due_on, row.done_at) == (1, "回访", date(2025, 3, 5), None)
    assert count() == 1


#: a field of each rule, and each field with its own handling, for the PostgreSQL pass (tests/sweeps.py)
TASK_SAMPLE = ["title", "due", "owner_id", "company_id", "notes", "done", "snooze"]


@pytest.mark.parametrize("field", sweep(sorted(TASK_FIELDS) + ["done", "snooze"], TASK_SAMPLE))
def test_odd_values_in_task_fields_are_never_a_500(api_as, world, field):
    api = api_as(world.officer)
    body = created(api.post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05"}))
    url = f"/api/v1/tasks/{body['id']}"
    for value in ODD_VALUES:
        response = api.post("/api/v1/tasks", json={"title": "回访", "due": "2025-03-05", field: value})
        assert response.status_code in (201, 422), (field, value, response.get_json())
        version = api.get(url).get_json()["version"]
        response = api.patch(url, json={"version": version, field: value})
        assert response.status_code in (200, 409, 422), (field, value, response.get_json())


def test_long_text_with_html_and_emoji_is_stored_whole(api_as, world):
    api = api_as(world.officer)
    text = ("<img src=x onerror=alert(1)><b>回访</b> & 'quote' 🚀😀👍🏽\n第二行" * 300)[:9_995] + "结尾🎉"
    title = "<script>alert('标题')</script> 📞"
    body = created(api.post("/api/v1/tasks", json={"title": title, "due": "2025-03-05", "notes": text}))
    assert (body["title"], body["notes"]) == (title, text)
    assert api.get(f"/api/v1/tasks/{body['id']}").get_json()["notes"] == text
    assert api.get("/api/v1/tasks").get_json()["items"][0]["notes"] == text
    assert fresh(body["id"]).notes == text


# --- who sees what ---------------------------------------------------------------------------------------------------

def test_another_teams_tasks(api_as, world):
    api, outsider = api_as(world.officer), api_as(world.outsider)
    private = created(api.post("/api/v1/tasks", json={"title": "组内", "due": "2025-03-05"}))
    on_company = created(api.post("/api/v1/tasks", json={"title": "企业", "due": "2025-03-05",
                                                          "company_id": world.company.id}))
    secret = make_project(world.pool, owner=world.officer, confidential=True, code_name="星河")
    on_secret = created(api.post("/api/v1/tasks", json={"title": "保密", "due": "2025-03-05",
                                                         "project_id": secret.id}))
    on_pool = created(api.post("/api/v1/tasks", json={"title": "公海", "due": "2025-03-05",
                                                       "company_id": world.pool.id}))
    missing = outsider.get("/api/v1/tasks/987654")
    for hidden in (private, on_company, on_secret):
        url = f"/api/v1/tasks/{hidden['id']}"
        assert outsider.get(url).get_json() == missing.get_json()
        assert_error(outsider.patch(url, json={"version": 1, "done": True}), 404)
        assert_error(outsider.patch(url, json={"version": 1, "snooze": "tomorrow"}), 404)
        assert_error(outsider.delete(f"{url}?version=1"), 404)
    # a task on a company they may see: visible, not theirs to change
    url = f"/api/v1/tasks/{on_pool['id']}"
    assert outsider.get(url).status_code == 200
    assert_error(outsider.patch(url, json={"version": 1, "done": True}), 403, "forbidden")
    assert_error(outsider.patch(url, json={"version": 1, "snooze": "someday"}), 403)
    assert_error(outsider.delete(f"{url}?version=1"), 403)
    assert _titles(outsider.get("/api/v1/tasks")) == ["公海"]
    assert _titles(outsider.get(f"/api/v1/tasks?owner_id={world.officer.id}")) == ["公海"]
    # the team and managers see and change them all
    mate, boss = api_as(world.mate), api_as(world.manager)
    assert len(_titles(mate.get("/api/v1/tasks"))) == 4
    assert mate.patch(f"/api/v1/tasks/{private['id']}", json={"version": 1, "done": True}).status_code == 200
    assert boss.get("/api/v1/tasks").get_json()["total"] == 4
    assert boss.patch(f"/api/v1/tasks/{on_secret['id']}", json={"version": 1, "title": "改"}).status_code == 200
    # a task may not be hung on what the caller cannot see
    for values, field in (({"company_id": world.company.id}, "company_id"), ({"project_id": secret.id}, "project_id")):
        error = assert_error(outsider.post("/api/v1/tasks", json={"title": "越界", "due": "2025-03-05", **values}),
                             422)
        assert set(error["fields"]) == {field}
    assert count() == 4
    row = fresh(on_pool["id"])
    assert (row.version, row.done_at, row.deleted_at) == (1, None, None)


def test_liaison_gets_nothing(api_as, world):
    body = created(api_as(world.officer).post("/api/v1/tasks", json={"title": "企业", "due": "2025-03-05",
                                                                     "company_id": world.pool.id}))
    liaison = api_as(world.liaison)
    listed = liaison.get("/api/v1/tasks").get_json()
    assert (listed["items"], listed["total"]) == ([], 0)
    url = f"/api/v1/tasks/{body['id']}"
    assert_error(liaison.get(url), 404)
    assert_error(liaison.patch(url, json={"version": 1, "done": True}), 404)
    assert_error(liaison.delete(url), 404)
    error = assert_error(liaison.post("/api/v1/tasks", json={"title": "联络员", "due": "2025-03-05"}), 403,
                         "forbidden")
    assert error["message"]
    assert count() == 1 and fresh(body["id"]).version == 1


def test_every_route_needs_a_token(client, world):
    task = Task(title="回访", due_on=date(2025, 3, 5), owner_id=world.officer.id)
    db.session.add(task)
    db.session.commit()
    url = f"/api/v1/tasks/{task.id}"
    for response in (client.get("/api/v1/tasks"), client.post("/api/v1/tasks", json={}), client.get(url),
                     client.patch(url, json={"version": 1, "done": True}), client.delete(url),
                     client.get(url, headers={"Authorization": "Bearer nope"})):
        assert_error(response, 401, "unauthorized")
    assert fresh(task.id).done_at is None and fresh(task.id).deleted_at is None


def test_huge_and_odd_ids_are_404(api_as, world):
    api = api_as(world.officer)
    for url in (f"/api/v1/tasks/{HUGE_ID}", "/api/v1/tasks/-1", "/api/v1/tasks/abc", "/api/v1/tasks/987654"):
        assert_error(api.get(url), 404)
        assert_error(api.patch(url, json={"version": 1, "done": True}), 404)
        assert_error(api.delete(url), 404)


def test_a_deleted_meetings_tasks_stay_listed(api_as, world):
    meeting = Meeting(type="visit", start_at=utcnow(), company_id=world.company.id, owner_id=world.officer.id)
    db.session.add(meeting)
    db.session.flush()
    db.session.add(Task(title="会后", due_on=date(2025, 3, 5), owner_id=world.officer.id, company_id=world.company.id,
                        meeting_id=meeting.id))
    db.session.commit()
    api = api_as(world.officer)
    assert api.delete(f"/api/v1/meetings/{meeting.id}?version=1").status_code == 204
    assert _titles(api.get(f"/api/v1/tasks?meeting_id={meeting.id}")) == ["会后"]


def test_documented_statuses_of_task_writes_are_the_ones_the_api_gives(app, api_as, world):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    api, outsider, liaison = api_as(world.officer), api_as(world.outsider), api_as(world.liaison)
    anonymous = app.test_client()
    post = {
        api.post("/api/v1/tasks", json={"title": "甲", "due": "2025-03-05"}).status_code,
        api.post("/api/v1/tasks", data="{", content_type="application/json").status_code,
        anonymous.post("/api/v1/tasks", json={"title": "乙", "due": "2025-03-05"}).status_code,
        liaison.post("/api/v1/tasks", json={"title": "丙", "due": "2025-03-05"}).status_code,
        api.post("/api/v1/tasks", json={"title": "丁", "due": "next tuesday"}).status_code,
    }
    own = created(api.post("/api/v1/tasks", json={"title": "公海", "due": "2025-03-05", "company_id": world.pool.id}))
    hidden = created(api.post("/api/v1/tasks", json={"title": "组内", "due": "2025-03-05"}))
    url = f"/api/v1/tasks/{own['id']}"
    patch = {
        api.patch(url, json={"version": 1, "done": True}).status_code,
        api.patch(url, data="[1,", content_type="application/json").status_code,
        anonymous.patch(url, json={"version": 2}).status_code,
        outsider.patch(url, json={"version": 2, "done": False}).status_code,
        outsider.patch(f"/api/v1/tasks/{hidden['id']}", json={"version": 1, "done": True}).status_code,
        api.patch(url, json={"version": 1, "done": False}).status_code,
        api.patch(url, json={"version": 2, "due": "next tuesday"}).status_code,
    }
    assert post == {201, 400, 401, 403, 422}
    assert patch == {200, 400, 401, 403, 404, 409, 422}
    for path, method, observed in (("/api/v1/tasks", "post", post), ("/api/v1/tasks/{task_id}", "patch", patch)):
        assert {int(s) for s in spec["paths"][path][method]["responses"]} == observed, (path, method)
