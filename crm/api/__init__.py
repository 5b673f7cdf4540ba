"""The JSON API, version 1 (see API.md): bearer tokens, the shared services, errors with `fields`."""
from functools import wraps

from flask import Blueprint, g, request

from crm.auth import services as auth_services
from crm.errors import DomainError, Invalid
from crm.web import json_error

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Unauthorized(DomainError):
    code, status = "unauthorized", 401


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def token_required(view):
    """Authenticate by `Authorization: Bearer`; the browser's session cookie is never accepted here."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        user = auth_services.load_session(bearer_token() or "", kind="api")
        if user is None:
            response, status = json_error(401, "unauthorized", "Missing, expired or revoked token.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return response, status
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def json_body() -> dict:
    """The request's JSON object, or a 400 for anything that is not one."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise DomainError("The body must be a JSON object.")
    return data


def version_of(data: dict) -> int:
    """The `version` a PATCH read; it is required and must be a whole number."""
    value = data.get("version")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("Send the version you read.", {"version": ["Send the integer version you read."]})
    return value


def iso(value):
    from crm.core.timeutil import as_aware

    return as_aware(value).isoformat() if value else None


from . import (  # noqa: E402,F401  (routes register on bp)
    auth,
    board,
    companies,
    dashboard,
    meetings,
    meta,
    notifications,
    openapi,
    projects,
    support,
)
