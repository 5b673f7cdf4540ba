"""GET /api/v1/meta, and the web app's access rules over the API (other teams: 404; liaisons: no companies)."""
from crm.companies.models import Company
from crm.extensions import db

from ..factories import VALID_USCC, make_company, make_contact, make_reference, make_team, make_user
from .conftest import assert_error

META_KEYS = {"stages", "clusters", "parks", "cities", "departments", "milestone_kinds", "request_categories",
             "meeting_types", "sources"}
STAGES = ["lead", "negotiating", "site_visit", "signed", "under_construction", "in_production", "full_capacity",
          "on_hold", "lost"]


def test_meta_lists_reference_data(api_as):
    make_reference()
    response = api_as(make_user()).get("/api/v1/meta")
    assert response.status_code == 200
    body = response.get_json()
    assert META_KEYS <= set(body)
    for name, items in body.items():
        assert isinstance(items, list), name
        for item in items:
            assert set(item) == {"key", "name", "name_en"}, (name, item)
            assert all(isinstance(item[k], str) and item[k] for k in ("key", "name")), (name, item)
    for name in META_KEYS:
        assert body[name], f"{name} is empty"
    assert [s["key"] for s in body["stages"]] == STAGES
    assert {"visit", "negotiation", "inbound_visit", "call", "event"} == {m["key"] for m in body["meeting_types"]}
    assert {c["key"] for c in body["clusters"]} == {"electronic_info", "green_food"}
    assert {c["key"]: c["name"] for c in body["cities"]}["jian"] == "吉安"
    assert {p["key"]: p["name_en"] for p in body["parks"]}["dunhou"] == "Dunhou Park"
    assert [d["key"] for d in body["departments"]] == ["natural_resources"]
    assert {s["key"] for s in body["sources"]} == {"event", "referral"}


def test_meta_needs_a_token(client):
    assert_error(client.get("/api/v1/meta"), 401, "unauthorized")


def test_officer_of_another_team_gets_404_on_a_team_1_company(api_as):
    team1, team2 = make_team("一组"), make_team("二组")
    holder = make_user(team=team1, name="李芳")
    company = make_company("一组的企业有限公司", owner=holder, uscc=VALID_USCC[0])
    contact = make_contact(company, name="王经理", mobile="13800138000")
    version = company.version
    outsider = api_as(make_user(team=team2))

    assert_error(outsider.get(f"/api/v1/companies/{company.id}"), 404, "not_found")
    assert_error(outsider.patch(f"/api/v1/companies/{company.id}", json={"version": version, "notes": "x"}), 404)
    assert_error(outsider.delete(f"/api/v1/companies/{company.id}"), 404)
    assert_error(outsider.post(f"/api/v1/companies/{company.id}/claim"), 404)
    assert_error(outsider.post(f"/api/v1/companies/{company.id}/release"), 404)
    assert_error(outsider.get(f"/api/v1/companies/{company.id}/contacts"), 404)
    assert_error(outsider.patch(f"/api/v1/contacts/{contact.id}", json={"version": 1, "name": "x"}), 404)
    # the 404 is the same as for an id that does not exist, so ids cannot be probed
    missing = outsider.get("/api/v1/companies/424242")
    assert outsider.get(f"/api/v1/companies/{company.id}").get_json() == missing.get_json()
    for query in ({}, {"q": "一组"}, {"q": "13800138000"}, {"q": VALID_USCC[0]}, {"owner_id": holder.id}):
        assert outsider.get("/api/v1/companies", query_string=query).get_json()["total"] == 0
    # a duplicate warning names the holder, but not the id of a company the user may not open
    error = assert_error(outsider.post("/api/v1/companies", json={"name": "另一家", "uscc": VALID_USCC[0]}), 409)
    assert error["duplicates"] == [{"company_id": None, "name": "一组的企业有限公司", "owner": "李芳",
                                    "reason": "uscc"}]
    db.session.expire_all()
    row = db.session.get(Company, company.id)
    assert (row.owner_id, row.version, row.deleted_at) == (holder.id, version, None)
    # the holder's team mates and managers do see it
    assert api_as(make_user(team=team1)).get(f"/api/v1/companies/{company.id}").status_code == 200
    assert api_as(make_user("manager")).get(f"/api/v1/companies/{company.id}").status_code == 200


def test_public_pool_is_visible_to_every_officer(api_as):
    company = make_company("公海企业有限公司")
    outsider = api_as(make_user(team=make_team()))
    assert outsider.get(f"/api/v1/companies/{company.id}").status_code == 200
    assert outsider.get("/api/v1/companies?pool=public").get_json()["total"] == 1


def test_liaison_cannot_create_companies_and_lists_none(api_as):
    make_reference()
    make_company("公海企业有限公司")
    make_company("已认领企业有限公司", owner=make_user())
    liaison = api_as(make_user("liaison", department="natural_resources"))
    error = assert_error(liaison.post("/api/v1/companies", json={"name": "联络员建的有限公司"}), 403, "forbidden")
    assert error["message"]
    body = liaison.get("/api/v1/companies").get_json()
    assert (body["items"], body["total"]) == ([], 0)
    assert liaison.get("/api/v1/companies?pool=public").get_json()["total"] == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 2
    company_id = db.session.scalar(db.select(Company.id).where(Company.owner_id.is_(None)))
    assert_error(liaison.get(f"/api/v1/companies/{company_id}"), 404)
    assert_error(liaison.post(f"/api/v1/companies/{company_id}/claim"), 403)
    # the meta lists are open to every signed-in role
    assert liaison.get("/api/v1/meta").status_code == 200
