"""Never a 500 for bad input: odd JSON types in every field, huge numbers and ids, odd query strings."""
import pytest

from crm.companies.services import COMPANY_FIELDS, CONTACT_FIELDS

from ..factories import make_company, make_contact, make_reference, make_user
from ..sweeps import sweep
from .conftest import assert_error

ODD_VALUES = [None, True, False, 0, -1, 1.5, 10**30, -(10**30), 1e308, "", " ", "\x00\x1f", "x" * 20_000, [], [1],
              [[]], {}, {"a": 1}, "NaN", "Infinity", "-0", "１２３"]
HUGE_ID = 10**20


#: a field of each rule, and each field with its own handling, for the PostgreSQL pass (tests/sweeps.py)
COMPANY_SAMPLE = ["name", "address", "uscc", "cluster", "chain_tags", "employees", "revenue", "status", "hmt_funded",
                  "notes"]
CONTACT_SAMPLE = ["name", "mobile", "email", "notes"]


@pytest.mark.parametrize("field", sweep(sorted(COMPANY_FIELDS), COMPANY_SAMPLE))
def test_odd_values_in_company_fields_are_never_a_500(api_as, field):
    make_reference()
    officer = make_user()
    company = make_company("字段测试有限公司", owner=officer)
    api = api_as(officer)
    for value in ODD_VALUES:
        data = {"name": "新字段测试有限公司", field: value}
        created = api.post("/api/v1/companies", json={**data, "allow_duplicate": True})
        assert created.status_code in (201, 409, 422), (field, value, created.get_json())
        if created.status_code == 201:
            api.delete(f"/api/v1/companies/{created.get_json()['id']}")
        else:
            assert_error(created, created.status_code)
        version = api.get(f"/api/v1/companies/{company.id}").get_json()["version"]
        patched = api.patch(f"/api/v1/companies/{company.id}", json={"version": version, field: value})
        assert patched.status_code in (200, 409, 422), (field, value, patched.get_json())


@pytest.mark.parametrize("field", sweep(sorted(CONTACT_FIELDS), CONTACT_SAMPLE))
def test_odd_values_in_contact_fields_are_never_a_500(api_as, field):
    officer = make_user()
    company = make_company("字段测试有限公司", owner=officer)
    contact = make_contact(company, name="王经理")
    api = api_as(officer)
    for value in ODD_VALUES:
        created = api.post(f"/api/v1/companies/{company.id}/contacts", json={"name": "李芳", field: value})
        assert created.status_code in (201, 422), (field, value, created.get_json())
        nested = api.post("/api/v1/companies", json={"name": "嵌套联系人有限公司", "allow_duplicate": True,
                                                     "contacts": [{"name": "李芳", field: value}]})
        assert nested.status_code in (201, 409, 422), (field, value, nested.get_json())
        if nested.status_code == 422:
            assert any(k.startswith("contacts.0") for k in nested.get_json()["error"]["fields"])
        version = api.get(f"/api/v1/companies/{company.id}/contacts").get_json()["items"][0]["version"]
        patched = api.patch(f"/api/v1/contacts/{contact.id}", json={"version": version, field: value})
        assert patched.status_code in (200, 422), (field, value, patched.get_json())


def test_odd_versions_owner_ids_and_flags(api_as):
    officer = make_user()
    manager = make_user("manager")
    company = make_company("字段测试有限公司", owner=officer)
    api, boss = api_as(officer), api_as(manager)
    for version in (None, "1", 1.0, True, [], {}, -1, 10**30):
        assert_error(api.patch(f"/api/v1/companies/{company.id}", json={"version": version, "notes": "x"}),
                     409 if isinstance(version, int) and not isinstance(version, bool) else 422)
    for owner_id in ("x", 1.5, [], HUGE_ID, -5, 0):
        response = boss.post("/api/v1/companies", json={"name": "指派测试有限公司", "owner_id": owner_id})
        assert response.status_code in (403, 422), (owner_id, response.get_json())
        response = api.post("/api/v1/companies", json={"name": "指派测试有限公司", "owner_id": owner_id})
        assert response.status_code in (403, 422), (owner_id, response.get_json())
    for flag in ("allow_duplicate", "public_pool"):
        assert_error(api.post("/api/v1/companies", json={"name": "标志测试有限公司", flag: "yes"}), 422)
    assert_error(boss.patch(f"/api/v1/companies/{company.id}", json={"version": company.version,
                                                                      "owner_id": HUGE_ID}), 403)


def test_huge_ids_and_odd_query_strings(api_as):
    api = api_as(make_user())
    for url in (f"/api/v1/companies/{HUGE_ID}", f"/api/v1/companies/{HUGE_ID}/contacts"):
        assert_error(api.get(url), 404)
    assert_error(api.patch(f"/api/v1/companies/{HUGE_ID}", json={"version": 1}), 404)
    assert_error(api.delete(f"/api/v1/companies/{HUGE_ID}"), 404)
    assert_error(api.post(f"/api/v1/companies/{HUGE_ID}/claim"), 404)
    assert_error(api.post(f"/api/v1/companies/{HUGE_ID}/release"), 404)
    assert_error(api.patch(f"/api/v1/contacts/{HUGE_ID}", json={"version": 1}), 404)
    assert_error(api.delete(f"/api/v1/contacts/{HUGE_ID}"), 404)
    assert_error(api.get("/api/v1/companies/-1"), 404)
    assert_error(api.get("/api/v1/companies/abc"), 404)
    assert_error(api.delete("/api/v1/companies/1?version=abc"), 404)
    for query in ({"owner_id": str(HUGE_ID)}, {"owner_id": "-1"}, {"page": str(10**6)}, {"q": "\x00"},
                  {"q": "' OR 1=1 --"}, {"q": "%_\\"}, {"status": "x" * 1000}, {"pool": "everything"},
                  {"sort": "id; DROP TABLE company"}, {"cluster": "\ud7ff"},
                  {"owner_id": "²"}, {"page": "²"}, {"per_page": "١٢"}, {"owner_id": "１２"},
                  {"cluster": "a\x00", "origin_city": "\x00", "status": "\x00", "pool": "\x00", "sort": "\x00"}):
        response = api.get("/api/v1/companies", query_string=query)
        assert response.status_code == 200, (query, response.get_data(as_text=True)[:300])
        assert set(response.get_json()) == {"items", "total", "page", "per_page"}
