"""Contacts over the API: list and add under a company, PATCH and DELETE by id with versions, 404 when invisible."""
from crm.companies.models import Contact
from crm.extensions import db

from ..factories import make_company, make_contact, make_team, make_user
from .conftest import assert_error, assert_record


def live_contacts(company_id: int) -> list[Contact]:
    return list(db.session.scalars(db.select(Contact).where(
        Contact.company_id == company_id, Contact.deleted_at.is_(None)).order_by(Contact.id)))


def test_list_and_add_contacts(api_as):
    officer = make_user()
    company = make_company("联系人测试有限公司", owner=officer, contacts=[{"name": "王经理", "mobile": "13800138000"}])
    api = api_as(officer)

    body = api.get(f"/api/v1/companies/{company.id}/contacts").get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert body["total"] == 1 and body["items"][0]["name"] == "王经理"
    assert_record(body["items"][0])

    response = api.post(f"/api/v1/companies/{company.id}/contacts",
                        json={"name": "李芳", "title": "采购总监", "mobile": "139 1234 5678", "wechat": "lifang_cg",
                              "email": "li@example.com", "notes": "周三下午方便"})
    assert response.status_code == 201, response.get_json()
    contact = response.get_json()
    assert_record(contact)
    assert (contact["company_id"], contact["mobile"], contact["wechat"], contact["masked"]) == \
        (company.id, "13912345678", "lifang_cg", False)
    assert [c["name"] for c in api.get(f"/api/v1/companies/{company.id}/contacts").get_json()["items"]] == \
        ["王经理", "李芳"]
    # the company is found by the new contact's name and phone
    found = api.get("/api/v1/companies", query_string={"q": "13912345678"}).get_json()["items"]
    assert [c["id"] for c in found] == [company.id]
    assert api.get("/api/v1/companies", query_string={"q": "lf"}).get_json()["total"] == 1


def test_add_contact_validation_and_errors(api_as):
    team = make_team()
    officer = make_user(team=team)
    company = make_company("联系人测试有限公司", owner=officer)
    api = api_as(officer)
    url = f"/api/v1/companies/{company.id}/contacts"
    for body, field in (({"mobile": "13800138000"}, "name"), ({"name": "王", "mobile": "12345"}, "mobile"),
                        ({"name": "王", "email": "nope"}, "email"), ({"name": "王" * 500}, "name")):
        error = assert_error(api.post(url, json=body), 422, "validation_error")
        assert field in error["fields"]
    assert_error(api.post(url, data="{nope", content_type="application/json"), 400)
    assert_error(api.post("/api/v1/companies/424242/contacts", json={"name": "王"}), 404, "not_found")
    # a team mate sees the company but may not change it
    assert_error(api_as(make_user(team=team)).post(url, json={"name": "王"}), 403, "forbidden")
    assert live_contacts(company.id) == []


def test_patch_contact_with_versions(api_as):
    officer = make_user()
    company = make_company("联系人测试有限公司", owner=officer)
    contact = make_contact(company, name="王经理", mobile="13800138000")
    read = contact.version
    api = api_as(officer)
    url = f"/api/v1/contacts/{contact.id}"

    error = assert_error(api.patch(url, json={"title": "董事长"}), 422, "validation_error")
    assert "version" in error["fields"]
    assert_error(api.patch(url, json={"version": read, "mobile": "123"}), 422)

    response = api.patch(url, json={"version": read, "title": "董事长", "mobile": "13700137000"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert_record(body)
    assert (body["version"], body["title"], body["mobile"], body["name"]) == \
        (read + 1, "董事长", "13700137000", "王经理")

    stale = api.patch(url, json={"version": read, "title": "司机", "name": "改名"})
    assert_error(stale, 409, "conflict")
    [row] = live_contacts(company.id)
    assert (row.version, row.title, row.name) == (read + 1, "董事长", "王经理")
    # search follows the new phone
    assert api.get("/api/v1/companies", query_string={"q": "13700137000"}).get_json()["total"] == 1
    assert api.get("/api/v1/companies", query_string={"q": "13800138000"}).get_json()["total"] == 0


def test_delete_contact(api_as):
    officer = make_user()
    company = make_company("联系人测试有限公司", owner=officer)
    keep = make_contact(company, name="李芳")
    gone = make_contact(company, name="王经理", mobile="13800138000")
    api = api_as(officer)
    assert_error(api.delete(f"/api/v1/contacts/{gone.id}?version={gone.version + 3}"), 409, "conflict")
    response = api.delete(f"/api/v1/contacts/{gone.id}?version={gone.version}")
    assert response.status_code == 204
    assert [c["id"] for c in api.get(f"/api/v1/companies/{company.id}/contacts").get_json()["items"]] == [keep.id]
    assert_error(api.patch(f"/api/v1/contacts/{gone.id}", json={"version": 99, "name": "x"}), 404, "not_found")
    assert_error(api.delete(f"/api/v1/contacts/{gone.id}"), 404, "not_found")
    assert api.get("/api/v1/companies", query_string={"q": "13800138000"}).get_json()["total"] == 0
    assert db.session.get(Contact, gone.id).deleted_at is not None  # soft delete
    assert api.delete(f"/api/v1/contacts/{keep.id}").status_code == 204  # version is optional on DELETE


def test_contacts_of_an_invisible_company_are_404(api_as):
    holder = make_user(team=make_team())
    company = make_company("保密企业有限公司", owner=holder)
    contact = make_contact(company, name="王经理", mobile="13800138000")
    outsider = api_as(make_user(team=make_team()))
    assert_error(outsider.get(f"/api/v1/companies/{company.id}/contacts"), 404, "not_found")
    assert_error(outsider.post(f"/api/v1/companies/{company.id}/contacts", json={"name": "间谍"}), 404)
    assert_error(outsider.patch(f"/api/v1/contacts/{contact.id}", json={"version": contact.version, "name": "x"}),
                 404, "not_found")
    assert_error(outsider.delete(f"/api/v1/contacts/{contact.id}"), 404, "not_found")
    assert_error(outsider.patch("/api/v1/contacts/424242", json={"version": 1, "name": "x"}), 404)
    [row] = live_contacts(company.id)
    assert row.name == "王经理"
    assert len(live_contacts(company.id)) == 1


def test_team_mate_cannot_change_contacts(api_as):
    team = make_team()
    holder = make_user(team=team)
    company = make_company("团队企业有限公司", owner=holder)
    contact = make_contact(company, name="王经理")
    mate = api_as(make_user(team=team))
    assert_error(mate.patch(f"/api/v1/contacts/{contact.id}", json={"version": contact.version, "name": "改"}), 403)
    assert_error(mate.delete(f"/api/v1/contacts/{contact.id}"), 403, "forbidden")
    assert [c.name for c in live_contacts(company.id)] == ["王经理"]
