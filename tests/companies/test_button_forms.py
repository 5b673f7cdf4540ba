"""Garbage in the hidden fields of button and edit forms is refused cleanly, never a 500, and changes nothing."""
import pytest

from crm.companies.models import Company
from crm.extensions import db

from ..factories import login, make_company, make_contact, make_reference, make_user


@pytest.mark.parametrize("junk", ["abc", "-1", "1e9", "９", "99999999999999999999", ""])
def test_junk_versions_and_ids_are_refused_without_change(client, junk):
    make_reference()
    manager = make_user("manager")
    officer = make_user()
    company = make_company("吉安按钮测试有限公司", owner=officer)
    contact = make_contact(company, name="王经理")
    login(client, manager)
    before = (company.owner_id, company.version, company.name)
    responses = [
        client.post(f"/companies/{company.id}/assign", data={"owner_id": junk, "version": junk}),
        client.post(f"/companies/{company.id}/edit", data={"name": "改名", "version": junk, "status": "prospect",
                                                           "listing_status": "none"}),
        client.post(f"/contacts/{contact.id}/edit", data={"name": "改名", "version": junk}),
    ]
    assert all(r.status_code in (302, 409, 422) for r in responses), [r.status_code for r in responses]
    db.session.expire_all()
    after = db.session.get(Company, company.id)
    assert (after.owner_id, after.version, after.name) == before


def test_first_contact_with_only_a_phone_asks_for_the_name(client):
    make_reference()
    login(client, make_user())
    response = client.post("/companies/new", data={"name": "吉安只填电话有限公司", "contact_mobile": "13800138000",
                                                   "status": "prospect", "listing_status": "none"})
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 0
    page = response.get_data(as_text=True)
    assert page.index('id="contact_name"') < page.index("invalid-feedback")
