"""Projects, their stage moves, history and funds in place over JSON; the same services and scope as the pages."""
from flask import g, request

from crm.auth import access
from crm.core.pagination import page_args
from crm.errors import Invalid
from crm.extensions import db
from crm.projects import queries, services
from crm.projects.models import FundsEntry, Project
from crm.web import MAX_ID

from . import bp, iso, json_body, token_required, version_of

#: a stage move's body: the text fields besides `stage` and `version`
_MOVE_TEXT = ("note", "reason")


def _number(value):
    return float(value) if value is not None else None


def _day(value):
    return value.isoformat() if value else None


def project_json(project: Project, company_ids: set[int], stale_days: int) -> dict:
    """A project as the API shows it; `company_ids` are the companies the caller may open (see
    queries.visible_company_ids), `stale_days` the setting read once per request."""
    return {
        "id": project.id, "version": project.version, "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at), "company_id": project.company_id,
        "company_name": queries.shown_name(project, company_ids), "name": project.name,
        "cluster": project.cluster, "park": project.park,
        "planned_investment": _number(project.planned_investment),
        "fixed_asset_investment": _number(project.fixed_asset_investment),
        "expected_output": _number(project.expected_output), "expected_tax": _number(project.expected_tax),
        "jobs": project.jobs, "land_mu": _number(project.land_mu), "description": project.description,
        "owner_id": project.owner_id, "first_contact_id": project.first_contact_id, "source": project.source,
        "event_id": project.event_id, "key_project": project.key_project, "confidential": project.confidential,
        "code_name": project.code_name, "planned_start": _day(project.planned_start),
        "planned_production": _day(project.planned_production), "stage": project.stage,
        "stage_changed_at": iso(project.stage_changed_at), "lost_reason": project.lost_reason,
        "stage_dates": {key: day.isoformat() for key, day in project.stage_dates.items()},
        "funds_in_place": _number(project.funds_in_place),
        "stale": services.is_stale(project, days=stale_days), "notes": project.notes,
    }


def _one(project: Project) -> dict:
    return project_json(project, queries.visible_company_ids(g.api_user, [project]), services.stale_days())


def funds_json(entry: FundsEntry) -> dict:
    return {"id": entry.id, "created_at": iso(entry.created_at), "updated_at": iso(entry.updated_at),
            "project_id": entry.project_id, "received_on": _day(entry.received_on),
            "amount": _number(entry.amount), "note": entry.note, "actor_id": entry.actor_id}


def _user_id(data: dict, name: str):
    """A user id field: absent or null is None (the service says whether it is needed, after its access checks);
    anything but an integer in the key range is a 422."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Invalid(f"{name} must be a user id.", {name: ["Send a user id."]})
    return value


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text.", {name: ["Send text."]})
    return value


# --- list, create, read, change, delete ------------------------------------------------------------------------------

@bp.get("/projects")
@token_required
def list_projects():
    filters = queries.ProjectFilters.from_args(request.args)
    page, per_page = page_args(request.args)
    if queries.ProjectFilters.unmatched(request.args):  # e.g. stage=signd: an empty list, not every project
        return {"items": [], "total": 0, "page": page, "per_page": per_page}
    rows, total = queries.project_page(g.api_user, filters, page=page, per_page=per_page, columns=None)
    company_ids, days = queries.visible_company_ids(g.api_user, rows), services.stale_days()
    return {"items": [project_json(p, company_ids, days) for p in rows], "total": total, "page": page,
            "per_page": per_page}


@bp.post("/projects")
@token_required
def create_project():
    data = json_body()
    new_company = data.pop("company", None)  # a new company's fields, checked by the service (company.<field>)
    owner_id = _user_id(data, "owner_id")
    first_contact_id = _user_id(data, "first_contact_id")
    stage = data.get("stage")
    stage = "lead" if stage is None else stage
    lost_reason = _text(data, "lost_reason")
    values = {k: v for k, v in data.items() if k in services.PROJECT_FIELDS}
    project = services.create_project(values, actor=g.api_user, owner_id=owner_id,
                                      first_contact_id=first_contact_id, stage=stage, lost_reason=lost_reason,
                                      new_company=new_company)
    return _one(project), 201


@bp.get("/projects/<int:project_id>")
@token_required
def get_project(project_id: int):
    return _one(access.visible_project(project_id, g.api_user))


@bp.patch("/projects/<int:project_id>")
@token_required
def patch_project(project_id: int):
    data = json_body()
    version = version_of(data)
    changes = {k: v for k, v in data.items() if k != "version"}
    return _one(services.update_project(project_id, changes, actor=g.api_user, version=version))


@bp.delete("/projects/<int:project_id>")
@token_required
def delete_project(project_id: int):
    version = request.args.get("version", type=int)
    services.delete_project(project_id, actor=g.api_user, version=version)
    return "", 204


# --- stage, owner, history -------------------------------------------------------------------------------------------

@bp.post("/projects/<int:project_id>/stage")
@token_required
def move_stage(project_id: int):
    data = json_body()
    version = version_of(data)
    note, reason = (_text(data, name) for name in _MOVE_TEXT)
    project = services.move_stage(project_id, data.get("stage"), actor=g.api_user, version=version, note=note,
                                  reason=reason, on=data.get("date"))
    return _one(project)


@bp.post("/projects/bulk-stage")
@token_required
def bulk_stage():
    data = json_body()
    items = data.get("items")
    bad = Invalid("items must be a list of {id, version}.",
                  {"items": ["Send a list of objects with the integer id and version you read."]})
    if not isinstance(items, list) or not items:
        raise bad
    pairs, seen = [], set()
    for item in items:
        if not isinstance(item, dict):
            raise bad
        project_id, version = item.get("id"), item.get("version")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (project_id, version)):
            raise bad
        if not 0 < project_id <= MAX_ID or project_id in seen:
            raise Invalid("Each project once, by an existing id.", {"items": ["Send each project id once."]})
        seen.add(project_id)
        pairs.append((project_id, version))
    note, reason = (_text(data, name) for name in _MOVE_TEXT)
    result = services.bulk_move(pairs, data.get("stage"), actor=g.api_user, note=note, reason=reason)
    return {"moved": result.moved, "conflicts": result.conflicts,
            "skipped": [{"id": k, "reason": v} for k, v in result.skipped.items()]}


@bp.post("/projects/<int:project_id>/owner")
@token_required
def reassign_project(project_id: int):
    data = json_body()
    version = version_of(data)
    owner_id = _user_id(data, "owner_id")
    return _one(services.reassign_project(project_id, owner_id, actor=g.api_user, version=version))


def _actor(user) -> dict:
    return {"actor_id": user.id if user else None, "actor_name": user.name if user else None}


@bp.get("/projects/<int:project_id>/history")
@token_required
def project_history(project_id: int):
    project = access.visible_project(project_id, g.api_user)
    items = []
    for item in queries.history(project.id):
        if item["kind"] == "stage":
            items.append({"kind": "stage", "at": iso(item["at"]), **_actor(item["actor"]),
                          "from_stage": item["from_stage"], "to_stage": item["to_stage"], "note": item["note"],
                          "reason": item["reason"]})
        else:
            items.append({"kind": "change", "at": iso(item["at"]), **_actor(item["actor"]),
                          "action": item["action"], "object_type": item["object_type"],
                          "changes": item["changes"]})
    return {"items": items}


# --- funds in place --------------------------------------------------------------------------------------------------

@bp.get("/projects/<int:project_id>/funds")
@token_required
def list_funds(project_id: int):
    project = access.visible_project(project_id, g.api_user)
    items = [funds_json(e) for e in queries.funds(project.id)]
    return {"items": items, "total": len(items), "page": 1, "per_page": len(items),
            "funds_in_place": _number(project.funds_in_place), "project_version": project.version}


@bp.post("/projects/<int:project_id>/funds")
@token_required
def add_funds(project_id: int):
    data = json_body()
    values = {k: v for k, v in data.items() if k in services.FUNDS_FIELDS}
    entry = services.add_funds(project_id, values, actor=g.api_user)
    project = db.session.get(Project, entry.project_id)
    return {**funds_json(entry), "funds_in_place": _number(project.funds_in_place),
            "project_version": project.version}, 201


@bp.delete("/funds/<int:entry_id>")
@token_required
def delete_funds(entry_id: int):
    return _one(services.delete_funds(entry_id, actor=g.api_user))
