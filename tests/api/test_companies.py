"""/api/v1/companies: the list with its filters and search, create with duplicates and validation, detail with
masked contact details, PATCH with versions, delete, and the public pool (claim / release)."""
import pytest

from crm.companies.models import Company, Contact
from crm.extensions import db

from ..factories import VALID_USCC, make_company, make_reference, make_team, make_user
from .conftest import assert_error, assert_iso_with_offset, assert_record

#: a third valid code (tests.factories.VALID_USCC[2] fails the GB 32100 check character)
OTHER_USCC = "91310000MA1FL1234Q"
LIST_KEYS = {"items", "total", "page", "per_page"}


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def names(response) -> set[str]:
    assert response.status_code == 200, response.get_json()
    return {c["name"] for c in response.get_json()["items"]}


# --- list ------------------------------------------------------------------------------------------------------------

def test_list_shape_paging_and_per_page_clamp(api_as):
    officer = make_user()
    for i in range(5):
        make_company(f"分页企业{i}有限公司")
    api = api_as(officer)

    body = api.get("/api/v1/companies").get_json()
    assert set(body) == LIST_KEYS
    assert (body["total"], body["page"], body["per_page"], len(body["items"])) == (5, 1, 50, 5)
    for record in body["items"]:
        assert_record(record)

    pages = [api.get(f"/api/v1/companies?per_page=2&page={n}").get_json() for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 and p["per_page"] == 2 for p in pages)
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    seen = [c["id"] for p in pages for c in p["items"]]
    assert len(seen) == len(set(seen)) == 5

    assert api.get("/api/v1/companies?per_page=500").get_json()["per_page"] == 200
    assert api.get("/api/v1/companies?per_page=200").get_json()["per_page"] == 200
    # nonsense paging falls back to the defaults instead of failing
    for query in ("page=abc&per_page=-3", "page=0&per_page=0", "page=99999999999999&per_page=1e9"):
        response = api.get(f"/api/v1/companies?{query}")
        assert response.status_code == 200
        assert response.get_json()["per_page"] <= 200 and response.get_json()["page"] >= 1


def test_list_filters(api_as):
    make_reference()
    team = make_team()
    officer = make_user(team=team)
    mate = make_user(team=team)
    make_company("电子深圳甲有限公司", cluster="electronic_info", origin_city="shenzhen", owner=officer)
    make_company("电子东莞乙有限公司", cluster="electronic_info", origin_city="dongguan", owner=mate)
    make_company("食品深圳丙有限公司", cluster="green_food", origin_city="shenzhen", status="resident")
    make_company("公海丁有限公司", status="inactive")
    api = api_as(officer)

    assert names(api.get("/api/v1/companies?cluster=electronic_info")) == {"电子深圳甲有限公司", "电子东莞乙有限公司"}
    assert names(api.get("/api/v1/companies?origin_city=shenzhen")) == {"电子深圳甲有限公司", "食品深圳丙有限公司"}
    assert names(api.get("/api/v1/companies?status=resident")) == {"食品深圳丙有限公司"}
    assert names(api.get("/api/v1/companies?status=inactive")) == {"公海丁有限公司"}
    assert names(api.get(f"/api/v1/companies?owner_id={mate.id}")) == {"电子东莞乙有限公司"}
    assert names(api.get("/api/v1/companies?pool=public")) == {"食品深圳丙有限公司", "公海丁有限公司"}
    assert names(api.get("/api/v1/companies?pool=mine")) == {"电子深圳甲有限公司"}
    assert names(api.get("/api/v1/companies?cluster=electronic_info&origin_city=shenzhen")) == {"电子深圳甲有限公司"}
    combined = api.get("/api/v1/companies?cluster=electronic_info&pool=public")
    assert combined.get_json()["total"] == 0 and combined.get_json()["items"] == []
    # unknown filter values give an empty list, not an error
    assert names(api.get("/api/v1/companies?cluster=nope")) == set()
    assert api.get("/api/v1/companies?owner_id=abc").status_code == 200


def test_search_by_name_uscc_contact_phone_and_pinyin_initials(api_as):
    officer = make_user()
    make_company("立讯智造（江西）有限公司", uscc=VALID_USCC[0],
                 contacts=[{"name": "王建国", "mobile": "13800138000"}])
    make_company("深圳市华信精密电子有限公司", contacts=[{"name": "李芳", "mobile": "13912345678"}])
    api = api_as(officer)
    target = {"立讯智造（江西）有限公司"}

    assert names(api.get("/api/v1/companies", query_string={"q": "立讯"})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": "lxzz"})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": "LXZZ"})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": VALID_USCC[0]})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": VALID_USCC[0].lower()})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": "王建国"})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": "13800138000"})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": "138-0013-8000"})) == target
    assert names(api.get("/api/v1/companies", query_string={"q": "李芳"})) == {"深圳市华信精密电子有限公司"}
    both = target | {"深圳市华信精密电子有限公司"}
    assert names(api.get("/api/v1/companies", query_string={"q": "有限公司"})) == both
    # LIKE wildcards match themselves
    assert names(api.get("/api/v1/companies", query_string={"q": "%"})) == set()
    assert names(api.get("/api/v1/companies", query_string={"q": "_"})) == set()
    assert api.get("/api/v1/companies", query_string={"q": "x" * 5000}).status_code == 200


# --- create ----------------------------------------------------------------------------------------------------------

def test_create_company_with_contacts(api_as):
    make_reference()
    officer = make_user()
    api = api_as(officer)
    response = api.post("/api/v1/companies", json={
        "name": "立讯智造（江西）有限公司", "short_name": "立讯智造", "uscc": VALID_USCC[0].lower(),
        "origin_city": "shenzhen", "cluster": "electronic_info", "chain_tags": ["连接器", "消费电子"],
        "employees": 1200, "revenue": 35000.5, "listing_status": "listed", "hmt_funded": True, "source": "event",
        "status": "prospect", "notes": "第一次接触",
        "contacts": [{"name": "王经理", "title": "总经理", "mobile": "+86 138-0013-8000", "wechat": "wangjl88",
                      "email": "wang@example.com"}]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert_record(body)
    assert body["uscc"] == VALID_USCC[0]
    assert body["chain_tags"] == ["连接器", "消费电子"]
    assert body["employees"] == 1200 and body["revenue"] == 35000.5 and body["hmt_funded"] is True
    assert body["owner_id"] == officer.id
    assert_iso_with_offset(body["claimed_until"])

    detail = api.get(f"/api/v1/companies/{body['id']}").get_json()
    assert detail["version"] == body["version"]
    assert detail["name"] == "立讯智造（江西）有限公司"
    [contact] = detail["contacts"]
    assert_record(contact)
    assert contact["company_id"] == body["id"]
    assert (contact["name"], contact["mobile"], contact["wechat"]) == ("王经理", "13800138000", "wangjl88")
    assert contact["masked"] is False
    assert count(Company) == 1 and count(Contact) == 1


def test_duplicate_uscc_is_409_naming_the_holder(api_as):
    holder = make_user(name="李芳")
    make_company("深圳市华信精密电子有限公司", owner=holder, uscc=VALID_USCC[1])
    api = api_as(make_user())
    for extra in ({}, {"allow_duplicate": True}):
        response = api.post("/api/v1/companies", json={"name": "华信精密二厂", "uscc": VALID_USCC[1], **extra})
        error = assert_error(response, 409)
        assert "uscc" in error["fields"]
        [dup] = error["duplicates"]
        assert dup["owner"] == "李芳" and dup["name"] == "深圳市华信精密电子有限公司" and dup["reason"] == "uscc"
        assert "李芳" in error["message"]
    assert count(Company) == 1


def test_duplicate_uscc_in_the_public_pool_is_409_too(api_as):
    make_company("东莞市宏达电子科技有限公司", uscc=OTHER_USCC)
    api = api_as(make_user())
    error = assert_error(api.post("/api/v1/companies", json={"name": "宏达", "uscc": OTHER_USCC}), 409)
    assert error["duplicates"][0]["owner"] is None
    assert count(Company) == 1


def test_same_normalised_name_needs_allow_duplicate(api_as):
    holder = make_user(name="陈静")
    make_company("深圳市华信精密电子有限公司", owner=holder)
    api = api_as(make_user())
    data = {"name": "深圳市华信精密电子 有限责任公司"}
    error = assert_error(api.post("/api/v1/companies", json=data), 409)
    assert error["duplicates"][0]["owner"] == "陈静" and error["duplicates"][0]["reason"] == "name"
    assert count(Company) == 1
    assert_error(api.post("/api/v1/companies", json={**data, "allow_duplicate": False}), 409)
    response = api.post("/api/v1/companies", json={**data, "allow_duplicate": True})
    assert response.status_code == 201, response.get_json()
    assert count(Company) == 2


@pytest.mark.parametrize(("values", "field"), [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "企" * 10_000}, "name"),
    ({"name": ["a list"]}, "name"),
    ({"uscc": "91350200776049653B"}, "uscc"),  # wrong check character
    ({"uscc": "123"}, "uscc"),
    ({"uscc": 913502007760496530}, "uscc"),
    ({"employees": -1}, "employees"),
    ({"employees": "many"}, "employees"),
    ({"employees": True}, "employees"),
    ({"revenue": "abc"}, "revenue"),
    ({"revenue": -5}, "revenue"),
    ({"revenue": "NaN"}, "revenue"),
    ({"cluster": "no_such_cluster"}, "cluster"),
    ({"origin_city": "atlantis"}, "origin_city"),
    ({"source": {"a": 1}}, "source"),
    ({"chain_tags": 5}, "chain_tags"),
    ({"chain_tags": {"a": "b"}}, "chain_tags"),
    ({"chain_tags": [1, 2]}, "chain_tags"),
    ({"status": "dead"}, "status"),
    ({"listing_status": "maybe"}, "listing_status"),
    ({"hmt_funded": "perhaps"}, "hmt_funded"),
    ({"notes": "x" * 6000}, "notes"),
    ({"contacts": [{"name": "王经理", "mobile": "12345"}]}, "contacts.0.mobile"),
    ({"contacts": [{"name": "王经理"}, {"name": "李芳", "mobile": "phone"}]}, "contacts.1.mobile"),
    ({"contacts": [{"mobile": "13800138000"}]}, "contacts.0.name"),
    ({"contacts": [{"name": "王经理", "email": "not-an-email"}]}, "contacts.0.email"),
    ({"contacts": ["王经理"]}, "contacts.0"),
    ({"contacts": "王经理"}, "contacts"),
    ({"allow_duplicate": "yes"}, "allow_duplicate"),
    ({"owner_id": "me"}, "owner_id"),
])
def test_bad_values_are_422_with_fields(api_as, values, field):
    make_reference()
    api = api_as(make_user())
    data = {"name": "合规测试企业有限公司", **values}
    if not values:
        data = {}
    response = api.post("/api/v1/companies", json=data)
    error = assert_error(response, 422, "validation_error")
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert count(Company) == 0 and count(Contact) == 0


def test_several_bad_fields_are_reported_together(api_as):
    make_reference()
    api = api_as(make_user())
    response = api.post("/api/v1/companies", json={
        "name": "", "employees": -3, "revenue": "abc", "cluster": "nope",
        "contacts": [{"name": "王经理", "mobile": "12"}]})
    error = assert_error(response, 422, "validation_error")
    assert {"name", "employees", "revenue", "cluster", "contacts.0.mobile"} <= set(error["fields"])


# --- detail and masking ----------------------------------------------------------------------------------------------

def test_contact_details_masked_for_a_team_member_full_for_holder_and_manager(api_as):
    team = make_team()
    holder = make_user(team=team)
    mate = make_user(team=team)
    manager = make_user("manager")
    company = make_company("华信精密有限公司", owner=holder,
                           contacts=[{"name": "王经理", "mobile": "13812348123", "wechat": "wangjl88"}])

    masked = api_as(mate).get(f"/api/v1/companies/{company.id}")
    assert masked.status_code == 200
    [contact] = masked.get_json()["contacts"]
    assert contact["mobile"] == "138****8123" and contact["wechat"] == "w***8" and contact["masked"] is True
    assert "13812348123" not in masked.get_data(as_text=True) and "wangjl88" not in masked.get_data(as_text=True)
    listed = api_as(mate).get(f"/api/v1/companies/{company.id}/contacts").get_json()["items"]
    assert listed[0]["mobile"] == "138****8123"

    for viewer in (holder, manager):
        [contact] = api_as(viewer).get(f"/api/v1/companies/{company.id}").get_json()["contacts"]
        assert (contact["mobile"], contact["wechat"], contact["masked"]) == ("13812348123", "wangjl88", False)


def test_unknown_company_is_404(api_as):
    api = api_as(make_user())
    assert_error(api.get("/api/v1/companies/999999"), 404, "not_found")
    assert_error(api.patch("/api/v1/companies/999999", json={"version": 1, "name": "x"}), 404, "not_found")
    assert_error(api.delete("/api/v1/companies/999999"), 404, "not_found")
    assert_error(api.post("/api/v1/companies/999999/claim"), 404, "not_found")


# --- PATCH ------------------------------------------------------------------------------------------------------------

def test_patch_requires_version(api_as):
    officer = make_user()
    company = make_company("版本测试有限公司", owner=officer)
    api = api_as(officer)
    for body in ({"name": "新名字有限公司"}, {"name": "新名字有限公司", "version": "1"},
                 {"name": "新名字有限公司", "version": None}, {"name": "新名字有限公司", "version": True}):
        error = assert_error(api.patch(f"/api/v1/companies/{company.id}", json=body), 422, "validation_error")
        assert "version" in error["fields"]
    db.session.expire_all()
    assert db.session.get(Company, company.id).name == "版本测试有限公司"


def test_patch_with_stale_version_is_409_and_changes_nothing(api_as):
    make_reference()
    officer = make_user()
    company = make_company("版本测试有限公司", owner=officer, employees=10)
    api = api_as(officer)
    read = company.version
    first = api.patch(f"/api/v1/companies/{company.id}", json={"version": read, "employees": 20})
    assert first.status_code == 200 and first.get_json()["version"] == read + 1
    stale = api.patch(f"/api/v1/companies/{company.id}",
                      json={"version": read, "employees": 99, "name": "改名有限公司", "cluster": "green_food"})
    assert_error(stale, 409, "conflict")
    ahead = api.patch(f"/api/v1/companies/{company.id}", json={"version": read + 7, "employees": 99})
    assert_error(ahead, 409, "conflict")
    body = api.get(f"/api/v1/companies/{company.id}").get_json()
    assert (body["version"], body["employees"], body["name"], body["cluster"]) == \
        (read + 1, 20, "版本测试有限公司", None)


def test_patch_success_bumps_version_and_changes_only_the_fields_sent(api_as):
    make_reference()
    officer = make_user()
    company = make_company("版本测试有限公司", owner=officer, employees=10, notes="旧备注")
    api = api_as(officer)
    before = api.get(f"/api/v1/companies/{company.id}").get_json()
    response = api.patch(f"/api/v1/companies/{company.id}",
                         json={"version": before["version"], "cluster": "green_food", "chain_tags": ["食品"],
                               "revenue": "1,234.5"})
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert_record(after)
    assert after["version"] == before["version"] + 1
    assert (after["cluster"], after["chain_tags"], after["revenue"]) == ("green_food", ["食品"], 1234.5)
    assert (after["employees"], after["notes"], after["name"]) == (10, "旧备注", "版本测试有限公司")
    assert assert_iso_with_offset(after["updated_at"]) >= assert_iso_with_offset(before["updated_at"])
    again = api.patch(f"/api/v1/companies/{company.id}", json={"version": after["version"], "name": "改名有限公司"})
    assert again.status_code == 200 and again.get_json()["version"] == after["version"] + 1
    assert names(api.get("/api/v1/companies", query_string={"q": "gmyxgs"})) == {"改名有限公司"}


def test_patch_bad_values_are_422_and_change_nothing(api_as):
    make_reference()
    officer = make_user()
    company = make_company("校验有限公司", owner=officer)
    read = company.version
    api = api_as(officer)
    for body, field in (({"name": ""}, "name"), ({"employees": -1}, "employees"), ({"revenue": "abc"}, "revenue"),
                        ({"cluster": "nope"}, "cluster"), ({"uscc": "91350200776049653B"}, "uscc"),
                        ({"chain_tags": 3}, "chain_tags")):
        error = assert_error(api.patch(f"/api/v1/companies/{company.id}", json={"version": read, **body}), 422)
        assert field in error["fields"]
    assert api.get(f"/api/v1/companies/{company.id}").get_json()["version"] == read


def test_patch_uscc_taken_by_another_company_is_409(api_as):
    officer = make_user()
    make_company("甲有限公司", uscc=VALID_USCC[0])
    company = make_company("乙有限公司", owner=officer)
    api = api_as(officer)
    error = assert_error(api.patch(f"/api/v1/companies/{company.id}", json={"version": company.version,
                                                                              "uscc": VALID_USCC[0]}),
                         409)
    assert error["duplicates"][0]["name"] == "甲有限公司"
    assert api.get(f"/api/v1/companies/{company.id}").get_json()["uscc"] is None


def test_officer_cannot_patch_owner_id(api_as):
    team = make_team()
    officer = make_user(team=team)
    other = make_user(team=team)
    company = make_company("归属测试有限公司", owner=officer)
    read = company.version
    api = api_as(officer)
    assert_error(api.patch(f"/api/v1/companies/{company.id}", json={"version": read, "owner_id": other.id}), 403,
                 "forbidden")
    assert_error(api.patch(f"/api/v1/companies/{company.id}", json={"version": read, "owner_id": None}), 403)
    body = api.get(f"/api/v1/companies/{company.id}").get_json()
    assert (body["owner_id"], body["version"]) == (officer.id, read)
    # sending the current owner unchanged is harmless
    same = api.patch(f"/api/v1/companies/{company.id}",
                     json={"version": read, "owner_id": officer.id, "notes": "好"})
    assert same.status_code == 200 and same.get_json()["owner_id"] == officer.id


def test_team_member_who_does_not_hold_it_cannot_patch(api_as):
    team = make_team()
    holder = make_user(team=team)
    mate = make_user(team=team)
    company = make_company("团队企业有限公司", owner=holder)
    response = api_as(mate).patch(f"/api/v1/companies/{company.id}", json={"version": company.version,
                                                                                    "notes": "我改的"})
    assert_error(response, 403, "forbidden")
    db.session.expire_all()
    assert db.session.get(Company, company.id).notes == ""


def test_manager_can_patch_any_company(api_as):
    holder = make_user()
    company = make_company("管理测试有限公司", owner=holder)
    response = api_as(make_user("manager")).patch(f"/api/v1/companies/{company.id}",
                                                   json={"version": company.version, "employees": 50})
    assert response.status_code == 200 and response.get_json()["employees"] == 50


# --- DELETE ----------------------------------------------------------------------------------------------------------

def test_delete_then_get_is_404(api_as):
    officer = make_user()
    company = make_company("删除测试有限公司", owner=officer, uscc=VALID_USCC[0])
    api = api_as(officer)
    response = api.delete(f"/api/v1/companies/{company.id}")
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(api.get(f"/api/v1/companies/{company.id}"), 404, "not_found")
    assert_error(api.patch(f"/api/v1/companies/{company.id}", json={"version": 1, "notes": "x"}), 404)
    assert_error(api.delete(f"/api/v1/companies/{company.id}"), 404)
    assert api.get("/api/v1/companies").get_json()["total"] == 0
    db.session.expire_all()
    assert db.session.get(Company, company.id).deleted_at is not None  # soft delete
    # the USCC of a deleted company can be used again
    assert api.post("/api/v1/companies", json={"name": "新公司", "uscc": VALID_USCC[0]}).status_code == 201


def test_delete_with_stale_version_is_409(api_as):
    officer = make_user()
    company = make_company("删除测试有限公司", owner=officer)
    api = api_as(officer)
    read = company.version
    assert_error(api.delete(f"/api/v1/companies/{company.id}?version={read + 5}"), 409, "conflict")
    assert api.get(f"/api/v1/companies/{company.id}").status_code == 200
    assert api.delete(f"/api/v1/companies/{company.id}?version={read}").status_code == 204


def test_delete_by_non_holder_is_403(api_as):
    team = make_team()
    holder = make_user(team=team)
    company = make_company("删除测试有限公司", owner=holder)
    assert_error(api_as(make_user(team=team)).delete(f"/api/v1/companies/{company.id}"), 403)
    assert api_as(holder).get(f"/api/v1/companies/{company.id}").status_code == 200


# --- the public pool -------------------------------------------------------------------------------------------------

def test_claim_and_release(api_as):
    officer = make_user()
    company = make_company("公海企业有限公司")
    read = company.version
    api = api_as(officer)
    response = api.post(f"/api/v1/companies/{company.id}/claim")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["owner_id"] == officer.id and body["version"] == read + 1
    assert_iso_with_offset(body["claimed_until"])
    assert names(api.get("/api/v1/companies?pool=mine")) == {"公海企业有限公司"}

    released = api.post(f"/api/v1/companies/{company.id}/release")
    assert released.status_code == 200
    assert released.get_json()["owner_id"] is None and released.get_json()["claimed_until"] is None
    assert released.get_json()["version"] == read + 2
    assert names(api.get("/api/v1/companies?pool=public")) == {"公海企业有限公司"}
    # releasing what is already in the pool is a conflict
    assert_error(api.post(f"/api/v1/companies/{company.id}/release"), 409)


def test_claim_of_a_company_someone_else_holds_is_409(api_as):
    team = make_team()
    holder = make_user(team=team, name="李芳")
    company = make_company("已认领企业有限公司", owner=holder)
    error = assert_error(api_as(make_user(team=team)).post(f"/api/v1/companies/{company.id}/claim"), 409, "conflict")
    assert "李芳" in error["message"]
    db.session.expire_all()
    assert db.session.get(Company, company.id).owner_id == holder.id


def test_release_by_a_non_holder_officer_is_403(api_as):
    team = make_team()
    holder = make_user(team=team)
    company = make_company("已认领企业有限公司", owner=holder)
    assert_error(api_as(make_user(team=team)).post(f"/api/v1/companies/{company.id}/release"), 403, "forbidden")
    db.session.expire_all()
    assert db.session.get(Company, company.id).owner_id == holder.id
    # a manager may release it
    assert api_as(make_user("manager")).post(f"/api/v1/companies/{company.id}/release").status_code == 200


def test_claim_and_release_of_unknown_or_deleted_company_is_404(api_as):
    officer = make_user()
    gone = make_company("已删除企业有限公司", deleted=True)
    api = api_as(officer)
    assert_error(api.post(f"/api/v1/companies/{gone.id}/claim"), 404)
    assert_error(api.post(f"/api/v1/companies/{gone.id}/release"), 404)
    assert_error(api.post("/api/v1/companies/424242/release"), 404)
