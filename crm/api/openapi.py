"""GET /openapi.json: the API's OpenAPI 3 document, built from the same field rules the services apply.

A test compares the paths here with the app's URL map, so a route cannot be added without documenting it.
"""
from crm.companies.services import COMPANY_FIELDS, CONTACT_FIELDS
from crm.core.fields import schema
from crm.meetings.models import MEETING_TYPES
from crm.meetings.services import FOLLOW_UP_FIELDS, MAX_FOLLOW_UPS, MEETING_FIELDS, SNOOZES, TASK_FIELDS
from crm.notifications.kinds import KINDS
from crm.notifications.models import STATUSES
from crm.projects.services import FUNDS_FIELDS, PROJECT_FIELDS
from crm.projects.stages import KEYS as STAGE_KEYS
from crm.support.models import REQUEST_STATUSES
from crm.support.services import MILESTONE_FIELDS, REQUEST_FIELDS, STATUS_FIELDS
from crm.support.services import STATUSES as MILESTONE_STATUSES

from . import bp

_ERROR = {"$ref": "#/components/schemas/Error"}
_META = {"id": {"type": "integer"}, "version": {"type": "integer"},
         "created_at": {"type": "string", "format": "date-time"},
         "updated_at": {"type": "string", "format": "date-time"}}


def _record(spec, extra: dict | None = None) -> dict:
    body = schema(spec)
    return {"type": "object", "properties": {**_META, **body["properties"], **(extra or {})}}


def _list_of(ref: str) -> dict:
    return {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": ref}}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}}}


def _errors(*codes: int) -> dict:
    text = {400: "Malformed JSON", 401: "No or bad token", 403: "Not allowed", 404: "Absent or not visible",
            409: "Stale version, duplicate or held by someone else", 422: "Invalid field values",
            429: "Too many failed sign-ins"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _ok(status: int, ref: str | dict | None, description: str = "OK") -> dict:
    if ref is None:
        return {str(status): {"description": description}}
    schema_ = {"$ref": ref} if isinstance(ref, str) else ref
    return {str(status): {"description": description, "content": {"application/json": {"schema": schema_}}}}


def _body(ref: str | dict) -> dict:
    schema_ = {"$ref": ref} if isinstance(ref, str) else ref
    return {"required": True, "content": {"application/json": {"schema": schema_}}}


def _params(*names: str) -> list:
    return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]


def _id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _version_query() -> dict:
    return {"name": "version", "in": "query", "required": False, "schema": {"type": "integer"},
            "description": "the version read; a stale one gives 409"}


def document() -> dict:
    company_in = schema(COMPANY_FIELDS)
    company_in["properties"].update({
        "contacts": {"type": "array", "items": {"$ref": "#/components/schemas/ContactInput"}},
        "allow_duplicate": {"type": "boolean", "description": "create although a same-name or same-phone "
                                                              "company exists"},
        "public_pool": {"type": "boolean", "description": "leave it in the public pool"},
        "owner_id": {"type": "integer", "description": "managers only: the officer who holds it"},
        "legacy_uscc": {"type": "boolean", "description": "managers only: accept a legacy code whose check "
                                                          "character fails (audited)"},
    })
    patch = lambda spec: {"type": "object", "required": ["version"],  # noqa: E731
                          "properties": {"version": {"type": "integer"}, **schema(spec)["properties"]}}
    company_patch = patch(COMPANY_FIELDS)
    company_patch["properties"]["legacy_uscc"] = company_in["properties"]["legacy_uscc"]
    list_params = [*_params("q", "cluster", "origin_city", "status", "owner_id", "pool", "sort"),
                   {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                   {"name": "per_page", "in": "query", "schema": {"type": "integer", "maximum": 200}}]
    secured = [{"bearer": []}]
    paths = {
        "/api/v1/auth/token": {
            "post": {"summary": "Get a bearer token", "security": [],
                     "requestBody": _body({"type": "object", "required": ["email", "password"], "properties": {
                         "email": {"type": "string"}, "password": {"type": "string"}}}),
                     "responses": {**_ok(201, {"type": "object", "properties": {
                         "token": {"type": "string"}, "user": {"$ref": "#/components/schemas/User"}}}, "Created"),
                         **_errors(400, 422, 429)}},
            "delete": {"summary": "Revoke the token used", "responses": {**_ok(204, None, "Revoked"),
                                                                          **_errors(401)}},
        },
        "/api/v1/companies": {
            "get": {"summary": "List companies", "parameters": list_params,
                    "responses": {**_ok(200, _list_of("#/components/schemas/Company")), **_errors(401)}},
            "post": {"summary": "Create a company (with first contacts)",
                     "requestBody": _body("#/components/schemas/CompanyInput"),
                     "responses": {**_ok(201, "#/components/schemas/Company", "Created"),
                                   **_errors(400, 401, 403, 409, 422)}},
        },
        "/api/v1/companies/{company_id}": {
            "parameters": [_id("company_id")],
            "get": {"summary": "One company with its contacts (a merged company's id: 301 to the survivor)",
                    "responses": {**_ok(200, "#/components/schemas/Company"), **_merged_redirect(),
                                  **_errors(401, 404)}},
            "patch": {"summary": "Change fields (send the version read)", "requestBody": _body(company_patch),
                      "responses": {**_ok(200, "#/components/schemas/Company"),
                                    **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Soft-delete", "parameters": [_version_query()],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/companies/{company_id}/claim": {
            "parameters": [_id("company_id")],
            "post": {"summary": "Take from the public pool",
                     "responses": {**_ok(200, "#/components/schemas/Company"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/companies/{company_id}/release": {
            "parameters": [_id("company_id")],
            "post": {"summary": "Give back to the public pool",
                     "responses": {**_ok(200, "#/components/schemas/Company"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/companies/{company_id}/contacts": {
            "parameters": [_id("company_id")],
            "get": {"summary": "A company's contacts (phones masked unless you hold it or manage)",
                    "responses": {**_ok(200, _list_of("#/components/schemas/Contact")), **_errors(401, 404)}},
            "post": {"summary": "Add a contact", "requestBody": _body("#/components/schemas/ContactInput"),
                     "responses": {**_ok(201, "#/components/schemas/Contact", "Created"),
                                   **_errors(400, 401, 403, 404, 422)}},
        },
        "/api/v1/contacts/{contact_id}": {
            "parameters": [_id("contact_id")],
            "patch": {"summary": "Change a contact", "requestBody": _body(patch(CONTACT_FIELDS)),
                      "responses": {**_ok(200, "#/components/schemas/Contact"),
                                    **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Soft-delete a contact", "parameters": [_version_query()],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
        **_project_paths(),
        **_meeting_paths(),
        **_notification_paths(),
        **_support_paths(),
        **_board_paths(),
        **_dashboard_paths(),
        **_merge_paths(),
        "/api/v1/meta": {
            "get": {"summary": "Reference lists", "responses": {**_ok(200, {"type": "object", "additionalProperties": {
                "type": "array", "items": {"$ref": "#/components/schemas/RefItem"}}}), **_errors(401)}},
        },
        "/api/v1/openapi.json": {
            "get": {"summary": "This document", "security": [], "responses": _ok(200, {"type": "object"})},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Investment-attraction CRM API", "version": "1"},
        "security": secured,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "array",
                                                                          "items": {"type": "string"}}}}}}},
                "User": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
                    "role": {"type": "string", "enum": ["officer", "manager", "liaison", "admin"]},
                    "team_id": {"type": "integer", "nullable": True}, "locale": {"type": "string"}}},
                "RefItem": {"type": "object", "properties": {
                    "key": {"type": "string"}, "name": {"type": "string"}, "name_en": {"type": "string"}}},
                "CompanyInput": company_in,
                "Company": _record(COMPANY_FIELDS, {
                    "owner_id": {"type": "integer", "nullable": True},
                    "claimed_until": {"type": "string", "format": "date-time", "nullable": True},
                    "contacts": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}}}),
                "ContactInput": schema(CONTACT_FIELDS),
                "Contact": _record(CONTACT_FIELDS, {"company_id": {"type": "integer"},
                                                    "masked": {"type": "boolean"}}),
                **_project_schemas(),
                **_meeting_schemas(),
                **_notification_schemas(),
                **_support_schemas(),
                **_board_schemas(),
                **_dashboard_schemas(),
                **_merge_schemas(),
            },
        },
    }


# --- projects --------------------------------------------------------------------------------------------------------

_STAGE = {"type": "string", "enum": list(STAGE_KEYS)}
_USER_ID = {"type": "integer", "nullable": True, "minimum": 1}


def _project_schemas() -> dict:
    project_in = schema(PROJECT_FIELDS)
    project_in["required"] = ["name"]
    project_in["properties"].update({
        "company_id": {**project_in["properties"]["company_id"],
                       "description": "an existing company you may see; required unless `company` is sent"},
        "company": {**schema(COMPANY_FIELDS), "description": "a new company, created with the project (instead of "
                                                             "company_id); its errors are named company.<field>"},
        "owner_id": {**_USER_ID, "description": "managers only: the officer responsible (default: you)"},
        "first_contact_id": {**_USER_ID, "description": "the officer who made first contact (default: you)"},
        "stage": {**_STAGE, "description": "the stage it starts at (default lead)"},
        "lost_reason": {"type": "string", "description": "required when stage is lost"},
    })
    project_patch = {"type": "object", "required": ["version"], "properties": {
        "version": {"type": "integer"}, **schema(PROJECT_FIELDS)["properties"],
        "first_contact_id": {**_USER_ID, "description": "managers only"}},
        "description": "stage, lost_reason, stage_dates, funds_in_place and owner_id are refused (422): they change "
                       "through /stage, /owner and /funds"}
    date = {"type": "string", "format": "date"}
    history_item = {"type": "object", "properties": {
        "kind": {"type": "string", "enum": ["stage", "change"]}, "at": {"type": "string", "format": "date-time"},
        "actor_id": {"type": "integer", "nullable": True}, "actor_name": {"type": "string", "nullable": True},
        "from_stage": {**_STAGE, "nullable": True, "description": "stage items; null for the creation"},
        "to_stage": {**_STAGE, "description": "stage items"}, "note": {"type": "string", "description": "stage items"},
        "reason": {"type": "string", "description": "stage items"},
        "action": {"type": "string", "description": "change items: create, update, delete, ..."},
        "object_type": {"type": "string", "description": "change items: project or funds"},
        "changes": {"type": "object", "description": "change items: field → [old, new]",
                    "additionalProperties": {"type": "array", "items": {}}}}}
    funds_entry = {"type": "object", "properties": {
        "id": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}, "project_id": {"type": "integer"},
        **schema(FUNDS_FIELDS)["properties"], "actor_id": {"type": "integer", "nullable": True}}}
    return {
        "ProjectInput": project_in,
        "ProjectPatch": project_patch,
        "Project": _record(PROJECT_FIELDS, {
            "company_name": {"type": "string", "description": "the company's name, or the code name of a "
                                                              "confidential project whose company you may not see"},
            "owner_id": {"type": "integer"}, "first_contact_id": {"type": "integer", "nullable": True},
            "stage": _STAGE, "stage_changed_at": {"type": "string", "format": "date-time"},
            "lost_reason": {"type": "string"},
            "stage_dates": {"type": "object", "description": "stage key → the date it was first reached",
                            "additionalProperties": date},
            "funds_in_place": {"type": "number", "description": "万元: the sum of the funds entries"},
            "stale": {"type": "boolean", "description": "no activity for the stale_days setting"}}),
        "StageMove": {"type": "object", "required": ["stage", "version"], "properties": {
            "stage": _STAGE, "version": {"type": "integer"}, "note": {"type": "string"},
            "reason": {"type": "string", "description": "required for lost"},
            "date": {**date, "description": "the day it happened (default today; not in the future, not before "
                                            "the last move)"}}},
        "HistoryItem": history_item,
        "FundsInput": schema(FUNDS_FIELDS),
        "FundsEntry": funds_entry,
    }


def _project_paths() -> dict:
    project = "#/components/schemas/Project"
    list_params = [*_params("q", "stage", "cluster", "park", "owner_id", "team_id", "key", "stale", "company_id",
                            "sort"),
                   # the dashboard's drill-down filters (crm.projects.queries.ProjectFilters)
                   *_params("origin_city", "source", "event_id"),
                   *({"name": f"{name}_{end}", "in": "query", "required": False,
                      "schema": {"type": "string", "format": "date"}}
                     for name in ("created", "signed", "moved", "milestone") for end in ("from", "to")),
                   {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                   {"name": "per_page", "in": "query", "schema": {"type": "integer", "maximum": 200}}]
    list_params[1]["description"] = ("a stage key, or a group: `open` (the stages a deal is still worked in), "
                                      "`pipeline` (all but lost), `signed_or_later`, `started`, `producing`")
    funds_total = {"funds_in_place": {"type": "number", "description": "万元, the project's new total"},
                   "project_version": {"type": "integer", "description": "the project's version now"}}
    funds_list = _list_of("#/components/schemas/FundsEntry")
    funds_list["properties"].update(funds_total)
    return {
        "/api/v1/projects": {
            "get": {"summary": "List projects", "parameters": list_params,
                    "responses": {**_ok(200, _list_of(project)), **_errors(401)}},
            "post": {"summary": "Create a project (for an existing company, or with a new one)",
                     "requestBody": _body("#/components/schemas/ProjectInput"),
                     "responses": {**_ok(201, project, "Created"), **_errors(400, 401, 403, 409, 422)}},
        },
        "/api/v1/projects/bulk-stage": {
            "post": {"summary": "Move many projects to one stage (each with the version read)",
                     "requestBody": _body({"type": "object", "required": ["items", "stage"], "properties": {
                         "items": {"type": "array", "maxItems": 500, "items": {
                             "type": "object", "required": ["id", "version"], "properties": {
                                 "id": {"type": "integer"}, "version": {"type": "integer"}}}},
                         "stage": _STAGE, "note": {"type": "string"},
                         "reason": {"type": "string", "description": "required for lost"}}}),
                     "responses": {**_ok(200, {"type": "object", "properties": {
                         "moved": {"type": "array", "items": {"type": "integer"}},
                         "conflicts": {"type": "array", "items": {"type": "integer"},
                                       "description": "changed by someone else since read: left as they are"},
                         "skipped": {"type": "array", "items": {"type": "object", "properties": {
                             "id": {"type": "integer"}, "reason": {"type": "string"}}}}}}),
                         **_errors(400, 401, 422)}},
        },
        "/api/v1/projects/{project_id}": {
            "parameters": [_id("project_id")],
            "get": {"summary": "One project", "responses": {**_ok(200, project), **_errors(401, 404)}},
            "patch": {"summary": "Change fields (send the version read)",
                      "requestBody": _body("#/components/schemas/ProjectPatch"),
                      "responses": {**_ok(200, project), **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Soft-delete", "parameters": [_version_query()],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/projects/{project_id}/stage": {
            "parameters": [_id("project_id")],
            "post": {"summary": "Move to another stage (recorded in the history)",
                     "requestBody": _body("#/components/schemas/StageMove"),
                     "responses": {**_ok(200, project), **_errors(400, 401, 403, 404, 409, 422)}},
        },
        "/api/v1/projects/{project_id}/owner": {
            "parameters": [_id("project_id")],
            "post": {"summary": "Managers: hand the project to another officer (first-contact credit stays)",
                     "requestBody": _body({"type": "object", "required": ["owner_id", "version"], "properties": {
                         "owner_id": {"type": "integer"}, "version": {"type": "integer"}}}),
                     "responses": {**_ok(200, project), **_errors(400, 401, 403, 404, 409, 422)}},
        },
        "/api/v1/projects/{project_id}/history": {
            "parameters": [_id("project_id")],
            "get": {"summary": "Stage moves and audited changes, newest first",
                    "responses": {**_ok(200, {"type": "object", "properties": {"items": {
                        "type": "array", "items": {"$ref": "#/components/schemas/HistoryItem"}}}}),
                        **_errors(401, 404)}},
        },
        "/api/v1/projects/{project_id}/funds": {
            "parameters": [_id("project_id")],
            "get": {"summary": "Funds-in-place entries, newest first, with the total",
                    "responses": {**_ok(200, funds_list), **_errors(401, 404)}},
            "post": {"summary": "Record funds that arrived (a negative entry corrects; the total never drops below "
                                "zero)",
                     "requestBody": _body("#/components/schemas/FundsInput"),
                     "responses": {**_ok(201, {"allOf": [{"$ref": "#/components/schemas/FundsEntry"},
                                                         {"type": "object", "properties": funds_total}]},
                                         "Created"),
                                   **_errors(400, 401, 403, 404, 409, 422)}},
        },
        "/api/v1/funds/{entry_id}": {
            "parameters": [_id("entry_id")],
            "delete": {"summary": "Remove a funds entry; answers with the project",
                       "responses": {**_ok(200, project), **_errors(401, 403, 404, 409)}},
        },
    }



# --- meetings and tasks ----------------------------------------------------------------------------------------------

_DATE_TIME = {"type": "string", "format": "date-time"}
_PAGING = [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
           {"name": "per_page", "in": "query", "schema": {"type": "integer", "maximum": 200}}]


def _query(name: str, schema_: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema_, "description": description}


def _meeting_schemas() -> dict:
    meeting_in = schema(MEETING_FIELDS)
    meeting_in["properties"].update({
        "company_id": {**meeting_in["properties"]["company_id"], "description": "a company you may see"},
        "project_id": {**meeting_in["properties"]["project_id"], "description": "one of the company's projects"},
        "participant_user_ids": {**meeting_in["properties"]["participant_user_ids"],
                                 "description": "active colleagues who took part besides the owner"},
        "participant_contact_ids": {**meeting_in["properties"]["participant_contact_ids"],
                                    "description": "the company's contacts who took part"},
        "owner_id": {**_USER_ID, "description": "managers only: the officer who held it (default: you)"},
        "follow_ups": {"type": "array", "maxItems": MAX_FOLLOW_UPS,
                       "items": {"$ref": "#/components/schemas/FollowUpInput"},
                       "description": "tasks created with the meeting, all or nothing; errors are named "
                                      "follow_ups.<n>.<field>"},
    })
    meeting_patch = {"type": "object", "required": ["version"], "properties": {
        "version": {"type": "integer"}, **schema(MEETING_FIELDS)["properties"]},
        "description": "participants are replaced when sent; follow_ups and another owner_id are refused (422)"}
    follow_up = schema(FOLLOW_UP_FIELDS)
    follow_up["properties"]["owner_id"] = {**_USER_ID, "description": "an active officer (default: you)"}
    task_in = schema(TASK_FIELDS)
    task_in["properties"].update({
        "owner_id": {**_USER_ID, "description": "an active officer (default: you)"},
        "meeting_id": {**task_in["properties"]["meeting_id"],
                       "description": "a meeting you may see; it sets the company and project"},
        "project_id": {**task_in["properties"]["project_id"],
                       "description": "a live project you may see (a deleted one is refused); it sets the company"},
    })
    task_patch = {"type": "object", "required": ["version"], "properties": {
        "version": {"type": "integer"}, **schema(TASK_FIELDS)["properties"],
        "done": {"type": "boolean", "description": "true completes the task, false reopens it"},
        "snooze": {"type": "string", "enum": list(SNOOZES),
                   "description": "move an open task to tomorrow or next Monday (keeping its time of day); send it "
                                  "with the version only; a done task is a 409"}}}
    task_ids = {"owner_id": {"type": "integer"}, "company_id": {"type": "integer", "nullable": True},
                "project_id": {"type": "integer", "nullable": True},
                "meeting_id": {"type": "integer", "nullable": True}}
    return {
        "MeetingInput": meeting_in,
        "MeetingPatch": meeting_patch,
        "FollowUpInput": follow_up,
        "Meeting": _record(MEETING_FIELDS, {
            "type": {"type": "string", "enum": list(MEETING_TYPES)},
            "start_at": _DATE_TIME, "end_at": {**_DATE_TIME, "nullable": True},
            "company_id": {"type": "integer"}, "project_id": {"type": "integer", "nullable": True},
            "company_name": {"type": "string", "description": "the company's name, or the code name of a "
                                                              "confidential project whose company you may not see"},
            "owner_id": {"type": "integer"},
            "follow_ups": {"type": "array", "items": {"$ref": "#/components/schemas/Task"},
                           "description": "single-meeting answers only: the tasks linked to it that you may see"}}),
        "TaskInput": task_in,
        "TaskPatch": task_patch,
        "Task": _record(TASK_FIELDS, {
            "due": {"type": "string", "description": "YYYY-MM-DD for a whole day, or an ISO 8601 date-time with "
                                                     "offset"},
            "due_on": {"type": "string", "format": "date", "description": "the day it is due (zone time)"},
            **task_ids,
            "done": {"type": "boolean"}, "done_at": {**_DATE_TIME, "nullable": True},
            "done_by_id": {"type": "integer", "nullable": True},
            "created_by_id": {"type": "integer", "nullable": True},
            "overdue": {"type": "boolean", "description": "derived: open and past its time, or past the end of its "
                                                         "day in the zone's time zone"}}),
    }


def _meeting_paths() -> dict:
    meeting, task = "#/components/schemas/Meeting", "#/components/schemas/Task"
    id_filter = "an id; one that names nothing gives an empty list"
    moment = {"type": "string", "description": "a date (its midnight, zone time) or an ISO 8601 date-time"}
    flag = {"type": "string", "enum": ["true", "false"]}
    meeting_params = [
        _query("company_id", {"type": "integer"}, id_filter), _query("project_id", {"type": "integer"}, id_filter),
        _query("owner_id", {"type": "integer"}, id_filter),
        _query("type", {"type": "string", "enum": list(MEETING_TYPES)}, "another value gives an empty list"),
        _query("start_from", moment, "meetings starting at or after; unreadable: 422"),
        _query("start_before", moment, "meetings starting before; unreadable: 422"), *_PAGING]
    task_params = [
        *(_query(name, {"type": "integer"}, id_filter) for name in ("owner_id", "company_id", "project_id",
                                                                     "meeting_id")),
        _query("due_before", {"type": "string", "format": "date"}, "due on an earlier day; unreadable: 422"),
        _query("overdue", flag, "true: open and past due now; false: the others; anything else: 422"),
        _query("done", flag, "true: completed; false: open; anything else: 422"), *_PAGING]
    return {
        "/api/v1/meetings": {
            "get": {"summary": "List meetings, newest first", "parameters": meeting_params,
                    "responses": {**_ok(200, _list_of(meeting)), **_errors(401, 422)}},
            "post": {"summary": "Log a meeting, with its follow-up tasks",
                     "requestBody": _body("#/components/schemas/MeetingInput"),
                     "responses": {**_ok(201, meeting, "Created"), **_errors(400, 401, 403, 422)}},
        },
        "/api/v1/meetings/{meeting_id}": {
            "parameters": [_id("meeting_id")],
            "get": {"summary": "One meeting with its follow-ups",
                    "responses": {**_ok(200, meeting), **_errors(401, 404)}},
            "patch": {"summary": "Change fields (send the version read)",
                      "requestBody": _body("#/components/schemas/MeetingPatch"),
                      "responses": {**_ok(200, meeting), **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Soft-delete (its follow-up tasks stay)", "parameters": [_version_query()],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/tasks": {
            "get": {"summary": "List tasks by due", "parameters": task_params,
                    "responses": {**_ok(200, _list_of(task)), **_errors(401, 422)}},
            "post": {"summary": "Create a task", "requestBody": _body("#/components/schemas/TaskInput"),
                     "responses": {**_ok(201, task, "Created"), **_errors(400, 401, 403, 422)}},
        },
        "/api/v1/tasks/{task_id}": {
            "parameters": [_id("task_id")],
            "get": {"summary": "One task", "responses": {**_ok(200, task), **_errors(401, 404)}},
            "patch": {"summary": "Change fields, complete (done), reopen or snooze (send the version read)",
                      "requestBody": _body("#/components/schemas/TaskPatch"),
                      "responses": {**_ok(200, task), **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Soft-delete", "parameters": [_version_query()],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
    }


# --- reminders (a read-only log) -------------------------------------------------------------------------------------

def _notification_schemas() -> dict:
    text = {"type": "string", "nullable": True}
    return {"Notification": {"type": "object", "description": "one reminder e-mail: recorded by the sweep, sent once",
                             "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(KINDS)},
        "recipient_id": {"type": "integer"}, "object_type": {"type": "string"}, "object_id": {"type": "integer"},
        "period": {"type": "string", "description": "the day, week, meeting start or episode it is for"},
        "status": {"type": "string", "enum": list(STATUSES)}, "attempts": {"type": "integer"},
        "subject": text, "message_id": text, "skip_reason": text, "last_error": text,
        "possible_duplicate": {"type": "boolean", "description": "a crash after the server accepted it may have "
                                                                 "sent a second copy (same Message-ID)"},
        "created_at": _DATE_TIME, "updated_at": _DATE_TIME, "sent_at": {**_DATE_TIME, "nullable": True},
        "body_text": {**text, "description": "single-reminder answers only"},
        "body_html": {**text, "description": "single-reminder answers only"}}}}


def _notification_paths() -> dict:
    ref = "#/components/schemas/Notification"
    params = [_query("status", {"type": "string", "enum": list(STATUSES)}, "another value: 422"),
              _query("kind", {"type": "string", "enum": list(KINDS)}, "another value: 422"),
              _query("user_id", {"type": "integer"}, "managers: one recipient's; an officer always sees their own"),
              *_PAGING]
    return {
        "/api/v1/notifications": {
            "get": {"summary": "Reminders sent or due for you (managers and admins: everyone), newest first",
                    "parameters": params, "responses": {**_ok(200, _list_of(ref)), **_errors(401, 403, 422)}}},
        "/api/v1/notifications/{notification_id}": {
            "parameters": [_id("notification_id")],
            "get": {"summary": "One reminder with the e-mail's content",
                    "responses": {**_ok(200, ref), **_errors(401, 403, 404)}}},
    }


# --- the support board: milestones and enterprise requests ---------------------------------------------------------

def _support_schemas() -> dict:
    day = {"type": "string", "format": "date"}
    shown = {"type": "string", "description": "the company's name, or the code name of a confidential project whose "
                                              "company you may not see"}
    milestone_in = schema(MILESTONE_FIELDS)
    milestone_in["properties"].update({
        "kind": {**milestone_in["properties"]["kind"],
                 "description": "one of GET /api/v1/meta `milestone_kinds`; a project has one of each kind (a deleted "
                                "one of the kind is brought back)"},
        "actual_date": {**milestone_in["properties"]["actual_date"],
                        "description": "the day it happened (zone time); not in the future (422)"},
        "owner_id": {**_USER_ID, "description": "an active officer, or a liaison of the responsible department "
                                                "(default: the project's officer)"},
    })
    milestone_patch = {"type": "object", "required": ["version"], "properties": {
        "version": {"type": "integer"}, **{k: v for k, v in milestone_in["properties"].items() if k != "kind"}},
        "description": "a liaison changes planned_date, actual_date and note of their department's milestones only "
                       "(other fields: 422); the kind is fixed (another kind: 422); status is derived"}
    request_in = schema(REQUEST_FIELDS)
    request_in["properties"].update({
        "owner_id": {**_USER_ID, "description": "an active officer, or a liaison of the department (default: the "
                                                "project's officer)"},
        "note": {"type": "string", "maxLength": 2000, "description": "recorded with the creation event"}})
    request_patch = {"type": "object", "required": ["version"], "properties": {
        "version": {"type": "integer"}, **schema(REQUEST_FIELDS)["properties"],
        **schema(STATUS_FIELDS)["properties"]},
        "description": "fields and/or a status move in one change: open → in_progress → resolved → closed, resolved "
                       "→ in_progress reopens; closing needs a resolution and satisfaction (1-5); a closed request is "
                       "final. A liaison moves the status, writes the resolution and may change owner_id of their "
                       "department's requests (other fields: 422)"}
    request_patch["properties"]["note"] = {**request_patch["properties"]["note"],
                                           "description": "recorded with the change's event"}
    return {
        "MilestoneInput": milestone_in,
        "MilestonePatch": milestone_patch,
        "Milestone": _record(MILESTONE_FIELDS, {
            "project_id": {"type": "integer"}, "company_name": shown,
            "owner_id": {"type": "integer", "nullable": True},
            "status": {"type": "string", "enum": list(MILESTONE_STATUSES),
                       "description": "derived: done (an actual date), red (planned before today), yellow (planned "
                                      "within the milestone_warning_days setting), green (later, or not planned)"}}),
        "MilestoneChange": {"allOf": [{"$ref": "#/components/schemas/Milestone"}, {"type": "object", "properties": {
            "warnings": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                         "description": "field → messages that did not stop the save (planned dates out of the "
                                        "usual order)"},
            "offer": {"type": "object", "nullable": True,
                      "description": "construction or production started: the project may move to `stage` (POST "
                                     "/api/v1/projects/{id}/stage with this stage, version and date); null otherwise",
                      "properties": {"stage": _STAGE, "version": {"type": "integer"}, "from_stage": _STAGE,
                                     "date": day}}}}]},
        "RequestInput": request_in,
        "RequestPatch": request_patch,
        "Request": _record(REQUEST_FIELDS, {
            "project_id": {"type": "integer"}, "company_id": {"type": "integer"}, "company_name": shown,
            "owner_id": {"type": "integer"}, "deadline": day,
            "status": {"type": "string", "enum": list(REQUEST_STATUSES)}, "resolution": {"type": "string"},
            "satisfaction": {"type": "integer", "nullable": True, "minimum": 1, "maximum": 5},
            "resolved_at": {**_DATE_TIME, "nullable": True}, "closed_at": {**_DATE_TIME, "nullable": True},
            "created_by_id": {"type": "integer", "nullable": True},
            "overdue": {"type": "boolean", "description": "derived: open or in progress after its deadline day"}}),
        "RequestEvent": {"type": "object", "properties": {
            "id": {"type": "integer"}, "at": _DATE_TIME, "actor_id": {"type": "integer", "nullable": True},
            "actor_name": {"type": "string", "nullable": True},
            "action": {"type": "string", "enum": ["created", "updated", "status", "deleted"]},
            "from_status": {"type": "string", "nullable": True}, "to_status": {"type": "string"},
            "changes": {"type": "object", "description": "field → [old, new]",
                        "additionalProperties": {"type": "array", "items": {}}},
            "note": {"type": "string"}}},
    }


def _support_paths() -> dict:
    milestone, request_ = "#/components/schemas/Milestone", "#/components/schemas/Request"
    change = "#/components/schemas/MilestoneChange"
    id_filter = "an id; one that names nothing gives an empty list"
    department = _query("department", {"type": "string"}, "a department key; another gives an empty list")
    liaison = " (a liaison: their department's; a project with none of them is a 404)"
    return {
        "/api/v1/projects/{project_id}/milestones": {
            "parameters": [_id("project_id")],
            "get": {"summary": "A signed project's milestones in board order, with their status" + liaison,
                    "parameters": _PAGING,
                    "responses": {**_ok(200, _list_of(milestone)), **_errors(401, 404)}},
            "post": {"summary": "Add a milestone of a standard kind (or bring back a deleted one)",
                     "requestBody": _body("#/components/schemas/MilestoneInput"),
                     "responses": {**_ok(201, change, "Created"), **_errors(400, 401, 403, 404, 409, 422)}},
        },
        "/api/v1/milestones": {
            "get": {"summary": "Milestones you may see (a liaison: their department's), not done first, soonest "
                               "planned first",
                    "parameters": [
                        _query("status", {"type": "string", "enum": list(MILESTONE_STATUSES)},
                               "another value gives an empty list"),
                        department, _query("project_id", {"type": "integer"}, id_filter),
                        _query("owner_id", {"type": "integer"}, id_filter), *_PAGING],
                    "responses": {**_ok(200, _list_of(milestone)), **_errors(401)}},
        },
        "/api/v1/milestones/{milestone_id}": {
            "parameters": [_id("milestone_id")],
            "get": {"summary": "One milestone", "responses": {**_ok(200, milestone), **_errors(401, 404)}},
            "patch": {"summary": "Change fields (send the version read); answers with warnings and any stage offer",
                      "requestBody": _body("#/components/schemas/MilestonePatch"),
                      "responses": {**_ok(200, change), **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Take off the project's row (kept; adding its kind brings it back)",
                       "parameters": [_version_query()],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/projects/{project_id}/requests": {
            "parameters": [_id("project_id")],
            "get": {"summary": "A project's enterprise requests, open ones first by deadline" + liaison,
                    "parameters": _PAGING,
                    "responses": {**_ok(200, _list_of(request_)), **_errors(401, 404)}},
            "post": {"summary": "Record an enterprise request on a signed project, routed to a department",
                     "requestBody": _body("#/components/schemas/RequestInput"),
                     "responses": {**_ok(201, request_, "Created"), **_errors(400, 401, 403, 404, 409, 422)}},
        },
        "/api/v1/requests": {
            "get": {"summary": "Requests you may see (a liaison: those routed to their department), open ones first "
                               "by deadline",
                    "parameters": [
                        _query("status", {"type": "string", "enum": list(REQUEST_STATUSES)},
                               "another value gives an empty list"),
                        department,
                        _query("overdue", {"type": "string", "enum": ["true", "false"]},
                               "true: open or in progress after the deadline day; false: the others; anything "
                               "else: 422"),
                        _query("project_id", {"type": "integer"}, id_filter),
                        _query("owner_id", {"type": "integer"}, id_filter), *_PAGING],
                    "responses": {**_ok(200, _list_of(request_)), **_errors(401, 422)}},
        },
        "/api/v1/requests/{request_id}": {
            "parameters": [_id("request_id")],
            "get": {"summary": "One request", "responses": {**_ok(200, request_), **_errors(401, 404)}},
            "patch": {"summary": "Change fields or move the status (send the version read)",
                      "requestBody": _body("#/components/schemas/RequestPatch"),
                      "responses": {**_ok(200, request_), **_errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Remove a request recorded by mistake (kept, with an event)",
                       "parameters": [_version_query(),
                                      _query("note", {"type": "string", "maxLength": 2000}, "why")],
                       "responses": {**_ok(204, None, "Deleted"), **_errors(401, 403, 404, 409)}},
        },
        "/api/v1/requests/{request_id}/events": {
            "parameters": [_id("request_id")],
            "get": {"summary": "The request's handling, oldest first",
                    "responses": {**_ok(200, _list_of("#/components/schemas/RequestEvent")), **_errors(401, 404)}},
        },
    }


# --- the support board's wall chart ----------------------------------------------------------------------------------

def _board_schemas() -> dict:
    from crm.support.models import MILESTONE_KEYS
    from crm.support.services import STATUSES as CELL_STATUSES

    status = {"type": "string", "enum": list(CELL_STATUSES)}
    day = {"type": "string", "format": "date", "nullable": True}
    cell = {"type": "object", "nullable": True, "description": "null: the project has no milestone of this kind",
            "properties": {"id": {"type": "integer"}, "status": status, "planned_date": day, "actual_date": day,
                           "department": {"type": "string", "nullable": True}}}
    row = {"type": "object", "properties": {
        "project_id": {"type": "integer"}, "name": {"type": "string"},
        "company": {"type": "string", "description": "the company's name, or the code name of a confidential "
                                                     "project whose company you may not see"},
        "stage": _STAGE, "owner_id": {"type": "integer"}, "park": {"type": "string", "nullable": True},
        "cluster": {"type": "string", "nullable": True}, "key_project": {"type": "boolean"},
        "worst_status": {**status, "nullable": True}, "open_requests": {"type": "integer",
                                                                          "description": "open or in progress"},
        "late_requests": {"type": "integer", "description": "of the open ones, past their deadline"},
        "milestones": {"type": "object", "properties": {k: cell for k in MILESTONE_KEYS}}}}
    return {"BoardRow": row, "Board": {"type": "object", "properties": {
        "milestone_kinds": {"type": "array", "items": {"type": "string", "enum": list(MILESTONE_KEYS)}},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/BoardRow"}},
        "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
        "on": {"type": "string", "format": "date", "description": "the zone's today the statuses are for"},
        "warning_days": {"type": "integer", "description": "yellow: planned within this many days"}}}}


def _board_paths() -> dict:
    from crm.support.board import PAGE_SIZE, SORTS

    params = [_query("park", {"type": "string"}, "a park key, or none (not decided)"),
              _query("cluster", {"type": "string"}, "a cluster key"),
              _query("owner_id", {"type": "integer"}, "the officer responsible; one that is not an id gives an "
                                                      "empty board"),
              _query("key", {"type": "string", "enum": ["true", "false", "1", "0"]},
                     "key projects only (the default); false: every signed project"),
              _query("all", {"type": "string", "enum": ["true", "1"]}, "every signed project (as key=false)"),
              _query("sort", {"type": "string", "enum": list(SORTS)}, "worst status first (default), project "
                                                                      "name, planned production start"),
              {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
              {"name": "per_page", "in": "query", "schema": {"type": "integer", "maximum": PAGE_SIZE},
               "description": f"default and most: {PAGE_SIZE} (a wall chart, not a list)"}]
    return {"/api/v1/board": {"get": {
        "summary": "The support board: signed projects (key projects by default) × milestones, with statuses, open "
                   "requests and each row's worst status (staff only)",
        "parameters": params,
        "responses": {**_ok(200, "#/components/schemas/Board"), **_errors(401, 403)}}}}


# --- duplicate companies: merge ---------------------------------------------------------------------------------------

def _merged_redirect() -> dict:
    return _ok(301, {"type": "object", "properties": {
        "id": {"type": "integer", "description": "the id asked for: a company merged into another"},
        "merged_into": {"type": "integer", "description": "the survivor, also in the Location header"}}},
        "Moved: the company was merged into another (Location: the survivor's URL)")


def _merge_schemas() -> dict:
    from crm.companies.merge import MOVED

    ids = {"type": "array", "items": {"type": "integer"}}
    return {
        "MergeInput": {"type": "object", "required": ["loser_id", "version", "loser_version"], "properties": {
            "loser_id": {"type": "integer", "minimum": 1, "description": "the company merged into this one"},
            "version": {"type": "integer", "description": "this company's version, as read"},
            "loser_version": {"type": "integer", "description": "the other company's version, as read"}}},
        "MergeResult": {"allOf": [{"$ref": "#/components/schemas/Company"}, {"type": "object", "properties": {
            "merged": {"type": "object", "properties": {
                "loser_id": {"type": "integer"},
                "moved": {"type": "object", "description": "ids moved to this company, by kind; aliases: ids of "
                                                           "companies merged into the loser earlier",
                          "properties": {k: ids for k in (*MOVED, "aliases")}},
                "filled": {"type": "array", "items": {"type": "string"},
                           "description": "fields that were empty here and took the other company's value"}}}}}]},
    }


def _merge_paths() -> dict:
    return {"/api/v1/companies/{company_id}/merge": {
        "parameters": [_id("company_id")],
        "post": {"summary": "Merge a duplicate into this company: its contacts, projects, meetings, tasks and "
                            "requests move here, empty fields are filled from it, it is deleted and its id "
                            "redirects here (managers; officers for two companies they may change)",
                 "requestBody": _body("#/components/schemas/MergeInput"),
                 "responses": {**_ok(200, "#/components/schemas/MergeResult"),
                               **_errors(400, 401, 403, 404, 409, 422)}}}}


# --- the managers' dashboard -----------------------------------------------------------------------------------------

def _dashboard_schemas() -> dict:
    from crm.dashboard import kpis

    number = {"type": "number"}
    drill = {"type": "object", "nullable": True, "description": "the list holding the figure's records and the query "
             "parameters that filter it to exactly them (projects: GET /api/v1/projects takes the same; tasks: the "
             "officer's task page; meetings: GET /api/v1/meetings)", "properties": {
                 "list": {"type": "string", "enum": ["projects", "tasks", "meetings"]},
                 "params": {"type": "object", "additionalProperties": {"type": "string"}},
                 "url": {"type": "string"}}}
    ref = {"$ref": "#/components/schemas/DashboardDrill"}
    rate = {"type": "object", "properties": {
        "value": {"type": "number", "nullable": True, "description": "a fraction; null when the denominator is 0"},
        "percent": {"type": "number", "nullable": True}, "numerator": number, "denominator": number,
        "drill": ref, "numerator_drill": ref}}
    row = {"type": "object", "properties": {
        "key": {"nullable": True, "description": "the cluster, park, city or source key, the officer's, team's or "
                                                 "event's id; null: not set"},
        "label": {"type": "string"}, "count": {"type": "integer"},
        "planned_investment": {**number, "description": "万元"}, "drill": ref,
        "signed": {"type": "integer", "description": "breakdowns: signed in the period"},
        "signed_investment": number, "signed_drill": ref}}
    period = {"type": "object", "properties": {
        "kind": {"type": "string", "enum": list(kpis.PERIOD_KINDS)},
        "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date",
                                                                "description": "the last day, included"},
        "starts_at": _DATE_TIME, "ends_before": _DATE_TIME}}
    change = {"type": "object", "properties": {
        "current": {"type": "integer"}, "previous": {"type": "integer"}, "delta": {"type": "integer"},
        "percent": {"type": "number", "nullable": True}, "drill": ref, "previous_drill": ref}}
    target = {"type": "object", "properties": {
        "key": {"nullable": True}, "label": {"type": "string"}, "target": {**number, "nullable": True},
        "signed_investment": number, "completion": {"$ref": "#/components/schemas/DashboardRate"}, "drill": ref}}
    officer = {"type": "object", "properties": {
        "user_id": {"type": "integer"}, "name": {"type": "string"}, "team": {"type": "string"},
        "stale": {"type": "integer"}, "stale_drill": ref,
        "overdue_tasks": {"type": "integer", "nullable": True, "description": "null: another team's officer (an "
                          "officer sees their own team's task lists only)"},
        "overdue_tasks_drill": ref}}
    rows = {"type": "array", "items": {"$ref": "#/components/schemas/DashboardRow"}}
    return {
        "DashboardDrill": drill, "DashboardRate": rate, "DashboardRow": row,
        "DashboardPipeline": {"type": "object", "properties": {
            "period": {**period, "properties": {**period["properties"], "previous": period}},
            "scope": {"type": "string", "enum": ["all", "visible"], "description": "all: every project (managers); "
                      "visible: other teams' confidential projects left out (officers)"},
            "computed_at": _DATE_TIME,
            "funnel": {"type": "array", "items": {"type": "object", "properties": {
                "stage": _STAGE, **{k: v for k, v in row["properties"].items() if k != "key"}}}},
            "breakdowns": {"type": "object", "properties": {d: rows for d in kpis.DIMENSIONS}},
            "changes": {"type": "object", "properties": {k: change for k in kpis.CHANGES}},
            "backward_moves": {"type": "integer"},
            "rates": {"type": "object", "properties": {k: {"$ref": "#/components/schemas/DashboardRate"}
                                                       for k in kpis.RATES}},
            "targets": {"type": "object", "properties": {
                "year": {"type": "integer"}, "clusters": {"type": "array", "items": target},
                "teams": {"type": "array", "items": target}}},
            "officers": {"type": "array", "items": officer}}},
    }


def _dashboard_paths() -> dict:
    from crm.dashboard import kpis

    return {"/api/v1/dashboard/pipeline": {"get": {
        "summary": "The managers' dashboard: funnel by stage, breakdowns, the period against the previous one, KPI "
                   "rates, annual targets, stale projects and overdue tasks per officer; each figure with its "
                   "drill-down (staff only; an officer's figures leave out other teams' confidential projects)",
        "parameters": [
            _query("period", {"type": "string", "enum": list(kpis.PERIOD_KINDS)},
                   f"the week, month, quarter or year holding `day`, or custom (default {kpis.DEFAULT_PERIOD})"),
            _query("day", {"type": "string", "format": "date"}, "a day of the period (default today, zone time)"),
            _query("start", {"type": "string", "format": "date"}, "custom: the first day"),
            _query("end", {"type": "string", "format": "date"}, "custom: the last day, included"),
            _query("fresh", {"type": "string", "enum": ["true", "1"]}, "compute the figures now instead of reading "
                   "a snapshot at most 15 minutes old (`computed_at` says when they were computed)")],
        "responses": {**_ok(200, "#/components/schemas/DashboardPipeline"), **_errors(401, 403, 422)}}}}


@bp.get("/openapi.json")
def openapi_json():
    return document()
