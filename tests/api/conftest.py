"""Helpers for the JSON API tests: a signed-in API client per user, and checks of the shared record and error shapes."""
from datetime import datetime

import pytest

from ..factories import api_token, bearer


class Api:
    """A test client with one user's bearer token on every request."""

    def __init__(self, app, token: str):
        self.app, self.client, self.token = app, app.test_client(), token

    def _call(self, method: str, url: str, **kwargs):
        headers = {**bearer(self.token), **kwargs.pop("headers", {})}
        return getattr(self.client, method)(url, headers=headers, **kwargs)

    def get(self, url, **kw):
        return self._call("get", url, **kw)

    def post(self, url, **kw):
        return self._call("post", url, **kw)

    def patch(self, url, **kw):
        return self._call("patch", url, **kw)

    def delete(self, url, **kw):
        return self._call("delete", url, **kw)


@pytest.fixture
def api_as(app):
    """`api_as(user)` → an Api client with a fresh token of that user (its own test client, no cookies shared)."""

    def make(user):
        return Api(app, api_token(app.test_client(), user))

    return make


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the API's error format with this status; returns the `error` object."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.is_json, response.get_data(as_text=True)[:200]
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    return error


def assert_iso_with_offset(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


def assert_record(record: dict) -> None:
    """Every record carries id, version (an integer), and created_at / updated_at with an offset."""
    assert isinstance(record["id"], int)
    assert isinstance(record["version"], int) and not isinstance(record["version"], bool)
    assert record["version"] >= 1
    assert_iso_with_offset(record["created_at"])
    assert_iso_with_offset(record["updated_at"])
