"""/api/v1/notifications: the reminders sent or due for the caller (managers and admins: everyone's), the same scope
as the Reminders page; filters by status, kind and recipient; bad filters are 422 with `fields`; liaisons 403."""
from ..factories import make_user
from ..notifications.test_pages import make_notification
from .conftest import assert_error

LIST_KEYS = {"items", "total", "page", "per_page"}


def test_an_officer_lists_only_their_own_and_a_manager_everyones(app, api_as):
    officer, colleague, manager = make_user(), make_user(), make_user("manager")
    mine = make_notification(officer, subject="我的摘要")
    theirs = make_notification(colleague)
    failed = make_notification(colleague, status="failed", last_error="550 No such mailbox")
    body = api_as(officer).get("/api/v1/notifications").get_json()
    assert set(body) == LIST_KEYS and [n["id"] for n in body["items"]] == [mine.id]
    item = body["items"][0]
    assert (item["kind"], item["status"], item["subject"], item["recipient_id"]) == ("digest", "sent", "我的摘要",
                                                                                   officer.id)
    assert "body_text" not in item and item["created_at"].endswith("+00:00")
    boss = api_as(manager)
    assert {n["id"] for n in boss.get("/api/v1/notifications").get_json()["items"]} == {mine.id, theirs.id, failed.id}
    only = boss.get(f"/api/v1/notifications?user_id={colleague.id}&status=failed").get_json()
    assert [n["id"] for n in only["items"]] == [failed.id] and only["items"][0]["last_error"].startswith("550")
    assert boss.get("/api/v1/notifications?kind=meeting").get_json()["total"] == 0
    # an officer's user_id filter cannot widen the list to a colleague's
    assert api_as(officer).get(f"/api/v1/notifications?user_id={colleague.id}").get_json()["items"][0]["id"] == mine.id


def test_one_reminder_with_its_content_and_nobody_elses(app, api_as):
    officer, colleague = make_user(), make_user()
    mine, theirs = make_notification(officer, body_text="今日待办 3 项"), make_notification(colleague)
    api = api_as(officer)
    body = api.get(f"/api/v1/notifications/{mine.id}").get_json()
    assert body["body_text"] == "今日待办 3 项" and body["id"] == mine.id
    assert_error(api.get(f"/api/v1/notifications/{theirs.id}"), 404)
    assert_error(api.get("/api/v1/notifications/987654"), 404)


def test_bad_filters_are_422_with_fields_and_liaisons_are_refused(app, api_as):
    officer, liaison = make_user(), make_user("liaison", department="natural_resources")
    api = api_as(officer)
    for query, field in (("status=sent%27--", "status"), ("kind=fax", "kind")):
        response = api.get(f"/api/v1/notifications?{query}")
        assert_error(response, 422)
        assert field in response.get_json()["error"]["fields"]
    assert api.get("/api/v1/notifications?user_id=abc").get_json()["items"] == []  # names nobody: empty
    assert api.get("/api/v1/notifications?page=0&per_page=9999").get_json()["page"] == 1  # nonsense: the defaults
    assert_error(api_as(liaison).get("/api/v1/notifications"), 403)
