"""GET /api/v1/dashboard/pipeline: the page's figures as JSON, in the caller's scope, each with its drill-down."""
from ..factories import api_token, bearer
from .conftest import EI, GF


def get(app, user, **args):
    token = api_token(app.test_client(), user)
    return app.test_client().get("/api/v1/dashboard/pipeline", query_string=args, headers=bearer(token))


def test_the_shape_and_the_figures_for_a_manager(zone, app):
    response = get(app, zone.manager, period="month", day="2026-03-10")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"period", "scope", "computed_at", "funnel", "breakdowns", "changes", "backward_moves",
                         "rates", "targets", "officers"}
    assert body["scope"] == "all"
    assert body["period"] == {
        "kind": "month", "start": "2026-03-01", "end": "2026-03-31", "starts_at": "2026-03-01T00:00:00+08:00",
        "ends_before": "2026-04-01T00:00:00+08:00",
        "previous": {"kind": "month", "start": "2026-02-01", "end": "2026-02-28",
                     "starts_at": "2026-02-01T00:00:00+08:00", "ends_before": "2026-03-01T00:00:00+08:00"}}
    funnel = {r["stage"]: (r["count"], r["planned_investment"]) for r in body["funnel"]}
    assert funnel["under_construction"] == (2, 3900.0) and funnel["lost"] == (1, 700.0)
    assert body["funnel"][0]["drill"] == {"list": "projects", "params": {"stage": "lead"},
                                          "url": "/projects?stage=lead"}
    assert set(body["breakdowns"]) == {"cluster", "park", "origin_city", "officer", "team", "source", "event"}
    cluster = {r["key"]: r for r in body["breakdowns"]["cluster"]}
    assert (cluster[EI]["count"], cluster[EI]["planned_investment"], cluster[EI]["signed"],
            cluster[EI]["signed_investment"]) == (6, 16500.0, 2, 10000.0)
    assert cluster[None]["drill"]["params"] == {"cluster": "none", "stage": "pipeline"}
    assert {k: (v["current"], v["previous"]) for k, v in body["changes"].items()} == {
        "new_leads": (5, 2), "meetings": (3, 1), "stage_moves": (9, 2), "signed": (3, 0)}
    assert body["changes"]["signed"]["percent"] is None and body["changes"]["new_leads"]["percent"] == 150.0
    assert body["changes"]["meetings"]["drill"]["list"] == "meetings"
    assert body["changes"]["meetings"]["drill"]["params"] == {"start_from": "2026-02-28T16:00:00+00:00",
                                                              "start_before": "2026-03-31T16:00:00+00:00"}
    assert body["backward_moves"] == 1
    conversion = body["rates"]["conversion"]
    assert (conversion["numerator"], conversion["denominator"], conversion["value"], conversion["percent"]) == \
        (2, 5, 0.4, 40.0)
    assert body["rates"]["funds"]["numerator"] == 4000.0 and body["rates"]["funds"]["denominator"] == 13000.0
    assert body["targets"]["year"] == 2026
    assert [(t["key"], t["target"], t["signed_investment"], t["completion"]["percent"])
            for t in body["targets"]["clusters"]] == [(EI, 20000.0, 10000.0, 50.0), (GF, 5000.0, 4000.0, 80.0)]
    assert {t["key"] for t in body["targets"]["teams"]} == {zone.team_a.id, zone.team_b.id}
    officers = {o["user_id"]: o for o in body["officers"]}
    assert (officers[zone.b1.id]["stale"], officers[zone.b1.id]["overdue_tasks"]) == (1, 1)
    assert officers[zone.b1.id]["overdue_tasks_drill"]["list"] == "tasks"


def test_the_meetings_drill_reproduces_the_count_through_the_meetings_api(zone, app):
    body = get(app, zone.a1, period="month", day="2026-03-10").get_json()
    drill = body["changes"]["meetings"]["drill"]
    token = api_token(app.test_client(), zone.a1)
    listed = app.test_client().get("/api/v1/meetings", query_string=drill["params"], headers=bearer(token))
    assert listed.get_json()["total"] == body["changes"]["meetings"]["current"] == 2


def test_an_officer_gets_the_visible_scope(zone, app):
    body = get(app, zone.a1, period="month", day="2026-03-10").get_json()
    assert body["scope"] == "visible"
    assert body["changes"]["signed"]["current"] == 2                       # P8 left out
    officers = {o["user_id"]: o for o in body["officers"]}
    assert officers[zone.b1.id]["overdue_tasks"] is None and officers[zone.b1.id]["overdue_tasks_drill"] is None


def test_an_empty_period_has_null_rates(zone, app):
    body = get(app, zone.manager, period="custom", start="2031-01-01", end="2031-01-31").get_json()
    assert all(r["value"] is None and r["percent"] is None for r in body["rates"].values())
    assert body["period"]["previous"]["start"] == "2030-12-01"


def test_refusals(zone, app):
    assert get(app, zone.liaison).status_code == 403
    assert app.test_client().get("/api/v1/dashboard/pipeline").status_code == 401
    bad = get(app, zone.manager, period="decade")
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"period"}
    bad = get(app, zone.manager, period="custom", start="2026-03-01", end="soon")
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"end"}
    # the browser's session is not accepted
    from ..security.helpers import client_for

    assert client_for(app, zone.manager).get("/api/v1/dashboard/pipeline").status_code == 401


def test_the_openapi_document_describes_it(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/dashboard/pipeline"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"period", "day", "start", "end", "fresh"}
    assert set(doc["components"]["schemas"]["DashboardPipeline"]["properties"]) == {
        "period", "scope", "computed_at", "funnel", "breakdowns", "changes", "backward_moves", "rates", "targets",
        "officers"}
    params = {p["name"] for p in doc["paths"]["/api/v1/projects"]["get"]["parameters"]}
    assert {"signed_from", "created_to", "origin_city", "event_id", "milestone_from"} <= params
