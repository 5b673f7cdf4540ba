"""The company book through the pages: create with a contact, find by pinyin, duplicates, the public pool."""
from crm.companies.models import Company, Contact
from crm.extensions import db

from ..factories import VALID_USCC, login, make_company, make_reference, make_team, make_user


def test_officer_creates_company_with_contact_and_finds_it_by_pinyin_initials(client):
    make_reference()
    officer = make_user()
    login(client, officer)
    response = client.post("/companies/new", data={
        "name": "立讯智造（江西）有限公司", "uscc": VALID_USCC[0].lower(), "cluster": "electronic_info",
        "origin_city": "shenzhen", "status": "prospect", "listing_status": "none",
        "contact_name": "王经理", "contact_mobile": "+86 138-0013-8000"})
    assert response.status_code == 302
    company = db.session.scalar(db.select(Company))
    assert company.uscc == VALID_USCC[0]
    assert company.owner_id == officer.id and company.claimed_until is not None
    assert db.session.scalar(db.select(Contact)).mobile == "13800138000"
    page = client.get("/companies?q=lxzz").get_data(as_text=True)
    assert "立讯智造（江西）有限公司" in page
    assert "立讯智造" in client.get("/companies?q=13800138000").get_data(as_text=True)


def test_duplicate_uscc_is_refused_and_names_the_holder(client):
    make_reference()
    holder = make_user(name="李芳")
    make_company("深圳市华信精密电子有限公司", owner=holder, uscc=VALID_USCC[1])
    officer = make_user()
    login(client, officer)
    response = client.post("/companies/new", data={"name": "华信精密", "uscc": VALID_USCC[1], "status": "prospect",
                                                   "listing_status": "none"})
    assert response.status_code == 409
    assert "李芳" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 1


def test_same_normalised_name_warns_until_confirmed(client):
    make_reference()
    make_company("深圳市华信精密电子有限公司")
    officer = make_user()
    login(client, officer)
    data = {"name": "深圳市华信精密电子 有限公司", "status": "prospect", "listing_status": "none"}
    first = client.post("/companies/new", data=data)
    assert first.status_code == 409 and "公海" not in "" and "data-test=\"duplicates\"" in first.get_data(as_text=True)
    second = client.post("/companies/new", data={**data, "allow_duplicate": "y"})
    assert second.status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 2


def test_claim_and_release_through_the_pool(client):
    make_reference()
    team = make_team()
    officer = make_user(team=team)
    company = make_company("东莞市宏达电子科技有限公司")
    login(client, officer)
    assert client.post(f"/companies/{company.id}/claim").status_code == 302
    db.session.expire_all()
    assert db.session.get(Company, company.id).owner_id == officer.id
    assert client.post(f"/companies/{company.id}/release").status_code == 302
    db.session.expire_all()
    assert db.session.get(Company, company.id).owner_id is None


def test_the_company_timeline_names_what_changed(client):
    """The timeline shows old → new for an edit, with list names instead of stored keys."""
    from crm.companies import services

    make_reference()
    officer = make_user("officer", locale="en")
    company = make_company("旧名字有限公司", owner=officer)
    services.update_company(company.id, {"name": "新名字有限公司", "cluster": "green_food"}, actor=officer,
                            version=company.version)
    login(client, officer)
    page = client.get(f"/companies/{company.id}").get_data(as_text=True)
    assert "旧名字有限公司 → 新名字有限公司" in page
    assert "— → Green food" in page  # the cluster's name in the UI language, not its key
