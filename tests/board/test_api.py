"""GET /api/v1/board: the wall chart as JSON, with the page's rows, statuses, filters and access rules."""
from datetime import timedelta

from crm.support.models import MILESTONE_KEYS

from ..factories import api_token, bearer
from ..security.helpers import client_for


def get(app, user, query: str = ""):
    client = client_for(app)
    return client.get(f"/api/v1/board{query}", headers=bearer(api_token(client, user)))


def test_board_shape(app, w):
    response = get(app, w.a)
    assert response.status_code == 200
    body = response.get_json()
    assert body["milestone_kinds"] == list(MILESTONE_KEYS)
    assert body["total"] == 8 and body["page"] == 1 and body["per_page"] == 500
    assert body["on"] == w.today.isoformat() and body["warning_days"] == 7
    first = body["items"][0]
    assert set(first) >= {"project_id", "name", "company", "stage", "owner_id", "worst_status", "open_requests",
                          "milestones"}
    assert [i["project_id"] for i in body["items"]] == [w.red2.id, w.red.id, w.yellow.id, w.green.id, w.secret.id,
                                                        w.b_open.id, w.done.id, w.bare.id]
    red = next(i for i in body["items"] if i["project_id"] == w.red.id)
    assert red["name"] == "甲 逾期项目" and red["company"] == "吉安宏达电子有限公司"
    assert red["stage"] == "under_construction" and red["owner_id"] == w.a.id
    assert red["worst_status"] == "red" and red["open_requests"] == 3 and red["late_requests"] == 1
    assert set(red["milestones"]) == set(MILESTONE_KEYS)  # in board order: `milestone_kinds`
    permit = red["milestones"]["planning_permit"]
    assert set(permit) == {"id", "status", "planned_date", "actual_date", "department"}
    assert permit["status"] == "red" and permit["actual_date"] is None and permit["department"] == "natural_resources"
    assert permit["planned_date"] == (w.today - timedelta(days=1)).isoformat()
    assert red["milestones"]["land_acquired"]["status"] == "done"
    assert [red["milestones"][k]["status"] for k in MILESTONE_KEYS] == ["done", "red", "yellow"] + ["green"] * 6
    bare = next(i for i in body["items"] if i["project_id"] == w.bare.id)
    assert bare["milestones"] == dict.fromkeys(MILESTONE_KEYS) and bare["worst_status"] is None
    secret = next(i for i in body["items"] if i["project_id"] == w.secret.id)
    assert secret["company"] == "白鹭"  # the code name: the officer may not see the company


def test_board_filters_as_query_parameters(app, w):
    def ids(query, user=None):
        body = get(app, user or w.a, query).get_json()
        return {i["project_id"] for i in body["items"]}

    assert w.plain.id not in ids("") and w.plain.id in ids("?key=false") and w.plain.id in ids("?all=true")
    assert ids("?park=fenghuang") == {w.yellow.id}
    assert ids("?park=none&key=0") == {w.plain.id}
    assert ids("?cluster=green_food") == {w.green.id}
    assert ids(f"?owner_id={w.b.id}") == {w.b_open.id}
    assert ids("?owner_id=abc") == set()  # not an id: nothing, rather than every project
    names = [i["name"] for i in get(app, w.a, "?sort=name").get_json()["items"]]
    assert names == sorted(names)
    paged = get(app, w.a, "?per_page=3&page=2").get_json()
    assert paged["per_page"] == 3 and paged["page"] == 2 and paged["total"] == 8 and len(paged["items"]) == 3
    assert get(app, w.a, "?per_page=100000").get_json()["per_page"] == 500
    assert w.hidden.id in ids("", w.manager) and w.hidden.id not in ids("")
    manager = get(app, w.manager).get_json()["items"]
    assert next(i for i in manager if i["project_id"] == w.secret.id)["company"] == "深圳华信电子有限公司"


def test_board_is_for_staff_with_a_token(app, w):
    response = get(app, w.liaison)
    assert response.status_code == 403 and response.get_json()["error"]["code"]
    assert client_for(app).get("/api/v1/board").status_code == 401
    # the browser's session is not accepted by the API
    assert client_for(app, w.a).get("/api/v1/board").status_code == 401


def test_board_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/board"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"park", "cluster", "owner_id", "key", "sort", "page"}
    assert set(operation["responses"]) >= {"200", "401", "403"}
    row = spec["components"]["schemas"]["BoardRow"]["properties"]
    assert set(row) >= {"project_id", "name", "company", "stage", "owner_id", "worst_status", "open_requests",
                        "milestones"}
    assert set(row["milestones"]["properties"]) == set(MILESTONE_KEYS)
