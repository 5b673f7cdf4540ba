"""POST /auth/token gives a bearer token for e-mail and password; DELETE revokes it."""
from flask import g, request

from crm.auth import services as auth_services

from . import bearer_token, bp, json_body, token_required


def user_json(user) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "team_id": user.team_id,
            "locale": user.locale}


@bp.post("/auth/token")
def create_token():
    data = json_body()
    user = auth_services.authenticate(str(data.get("email") or ""), str(data.get("password") or ""),
                                      ip=request.remote_addr or "")
    token = auth_services.start_session(user, kind="api", ip=request.remote_addr,
                                        user_agent=request.user_agent.string)
    return {"token": token, "user": user_json(user)}, 201


@bp.delete("/auth/token")
@token_required
def revoke_token():
    auth_services.end_session(bearer_token(), actor=g.api_user, kind="api")
    return "", 204
