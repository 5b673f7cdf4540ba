"""The settings page: every setting is checked before any is saved."""
from crm.reference import services as reference

from ..factories import login, make_user


def test_settings_page_saves_every_setting(client):
    admin = make_user("admin", locale="en")
    login(client, admin)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="protection_days"' in page and 'name="stale_days"' in page
    response = client.post("/admin/settings", data={"protection_days": "60", "stale_days": "14"})
    assert response.status_code == 302
    assert reference.get_setting("protection_days") == 60
    assert reference.get_setting("stale_days") == 14


def test_one_bad_setting_saves_none(client):
    admin = make_user("admin", locale="en")
    login(client, admin)
    response = client.post("/admin/settings", data={"protection_days": "45", "stale_days": "0"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Enter a number from 3 to 365" in body
    assert reference.get_setting("protection_days") == 90  # the good value was not saved either
    assert reference.get_setting("stale_days") == 30
    response = client.post("/admin/settings", data={"protection_days": "45", "stale_days": "ten"})
    assert response.status_code == 422
    assert "Enter a whole number" in response.get_data(as_text=True)
    assert reference.get_setting("protection_days") == 90


def test_officers_cannot_change_settings(client):
    officer = make_user("officer")
    login(client, officer)
    assert client.post("/admin/settings", data={"stale_days": "5"}).status_code == 403
    assert reference.get_setting("stale_days") == 30
