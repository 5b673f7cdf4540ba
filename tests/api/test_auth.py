"""POST/DELETE /api/v1/auth/token and what the API accepts as credentials (bearer tokens only)."""
from crm.auth.models import UserSession
from crm.companies.models import Company
from crm.extensions import db

from ..factories import PASSWORD, api_token, bearer, login, make_user
from .conftest import assert_error


def test_token_is_created_for_email_and_password(client):
    officer = make_user(email="wang@test.zone", name="王伟")
    response = client.post("/api/v1/auth/token", json={"email": "Wang@Test.Zone ", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["token"], str) and len(body["token"]) >= 32
    assert body["user"] == {"id": officer.id, "email": "wang@test.zone", "name": "王伟", "role": "officer",
                            "team_id": None, "locale": "zh_Hans_CN"}
    me = client.get("/api/v1/companies", headers=bearer(body["token"]))
    assert me.status_code == 200
    # only a hash of the token is stored
    stored = db.session.scalars(db.select(UserSession.token_hash)).all()
    assert stored and body["token"] not in stored


def test_wrong_password_and_unknown_email_get_the_same_422(client):
    officer = make_user()
    wrong = client.post("/api/v1/auth/token", json={"email": officer.email, "password": "not the password"})
    unknown = client.post("/api/v1/auth/token", json={"email": "nobody@test.zone", "password": "not the password"})
    error = assert_error(wrong, 422, "validation_error")
    assert error["fields"]  # names the field(s) at fault
    assert all(isinstance(m, list) and m for m in error["fields"].values())
    assert_error(unknown, 422, "validation_error")
    assert wrong.get_json() == unknown.get_json()
    assert "token" not in wrong.get_json()


def test_inactive_user_gets_no_token(client):
    user = make_user(active=False)
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert_error(response, 422, "validation_error")


def test_missing_token_is_401_in_the_error_format(client):
    response = client.get("/api/v1/companies")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def test_garbage_tokens_are_401(client):
    make_user()
    for header in ("Bearer not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer \u00e9\u00e9"):
        response = client.get("/api/v1/companies", headers={"Authorization": header})
        assert_error(response, 401, "unauthorized")


def test_delete_token_revokes_it(client):
    officer = make_user()
    token = api_token(client, officer)
    other = api_token(client, officer)
    assert client.get("/api/v1/meta", headers=bearer(token)).status_code == 200
    response = client.delete("/api/v1/auth/token", headers=bearer(token))
    assert response.status_code == 204
    assert_error(client.get("/api/v1/meta", headers=bearer(token)), 401, "unauthorized")
    assert_error(client.delete("/api/v1/auth/token", headers=bearer(token)), 401, "unauthorized")
    # only the token used is revoked
    assert client.get("/api/v1/meta", headers=bearer(other)).status_code == 200


def test_browser_session_cookie_alone_is_not_accepted(client):
    officer = make_user()
    assert login(client, officer).status_code == 302
    assert client.get("/companies").status_code == 200  # the browser session works for pages
    assert_error(client.get("/api/v1/companies"), 401, "unauthorized")
    assert_error(client.post("/api/v1/companies", json={"name": "测试企业有限公司"}), 401, "unauthorized")
    assert db.session.scalar(db.select(db.func.count()).select_from(Company)) == 0


def test_web_session_token_is_not_an_api_token(client):
    from crm.auth import services

    officer = make_user()
    web_token = services.start_session(officer, kind="web")
    assert_error(client.get("/api/v1/companies", headers=bearer(web_token)), 401, "unauthorized")


def test_malformed_json_is_400(client):
    officer = make_user()
    for body in ("{not json", '{"email": "a@b.c",', "[1, 2]", '"just a string"', ""):
        response = client.post("/api/v1/auth/token", data=body, content_type="application/json")
        assert_error(response, 400)
    token = api_token(client, officer)
    response = client.post("/api/v1/companies", data="{oops", content_type="application/json",
                           headers=bearer(token))
    assert_error(response, 400)


def test_odd_credentials_are_422_not_500(client):
    make_user()
    for body in ({"email": "a\x00b@test.zone", "password": "x"}, {"email": "x@test.zone", "password": "a\x00b"},
                 {"email": ["a"], "password": {"b": 1}}, {"email": None, "password": None}, {},
                 {"email": "x" * 10_000, "password": "y" * 100_000}):
        assert_error(client.post("/api/v1/auth/token", json=body), 422, "validation_error")
