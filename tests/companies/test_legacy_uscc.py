"""IV-5's decision: a legacy code that fails only its check character is accepted through a manager's audited
override; officers cannot, and a malformed code stays refused either way."""
from crm.audit.models import AuditEvent
from crm.companies.models import Company
from crm.extensions import db

from ..factories import api_token, bearer, login, make_reference, make_user

LEGACY = "91350200776049653B"  # well-formed, wrong check character (the right one is A)


def test_manager_accepts_a_legacy_code_through_the_form_and_it_is_audited(client):
    make_reference()
    manager = make_user("manager")
    login(client, manager)
    data = {"name": "吉安老字号电子有限公司", "uscc": LEGACY, "status": "prospect", "listing_status": "none"}
    refused = client.post("/companies/new", data=data)
    assert refused.status_code == 422 and 'id="uscc"' in refused.get_data(as_text=True)
    assert "invalid-feedback" in refused.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 0
    accepted = client.post("/companies/new", data={**data, "legacy_uscc": "y"})
    assert accepted.status_code == 302
    company = db.session.scalar(db.select(Company))
    assert company.uscc == LEGACY
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "uscc_override"))
    assert event.actor_id == manager.id and event.object_id == company.id and event.changes == {"uscc": [None, LEGACY]}


def test_officer_cannot_override_and_malformed_codes_stay_refused(client):
    make_reference()
    officer, manager = make_user(), make_user("manager")
    officer_api, manager_api = bearer(api_token(client, officer)), bearer(api_token(client, manager))
    body = {"name": "吉安老字号电子有限公司", "uscc": LEGACY, "legacy_uscc": True, "public_pool": True}
    assert client.post("/api/v1/companies", json=body, headers=officer_api).status_code == 403
    bad = client.post("/api/v1/companies", json={**body, "uscc": "9135020077604965OB"}, headers=manager_api)
    assert bad.status_code == 422 and "uscc" in bad.get_json()["error"]["fields"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 0
    ok = client.post("/api/v1/companies", json=body, headers=manager_api)
    assert ok.status_code == 201 and ok.get_json()["uscc"] == LEGACY
    patched = client.patch(f"/api/v1/companies/{ok.get_json()['id']}", headers=officer_api,
                           json={"version": ok.get_json()["version"], "uscc": "91350200776049653C",
                                 "legacy_uscc": True})
    assert patched.status_code == 403  # the officer may edit a pool company, but not override its code
    assert db.session.scalar(db.select(Company.uscc)) == LEGACY
