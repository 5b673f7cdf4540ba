"""Companies, contacts and the public pool over JSON; the same services and scope as the pages."""
from flask import g, jsonify, request, url_for

from crm.auth import access
from crm.companies import merge, queries, services
from crm.companies.models import Company, Contact
from crm.core.pagination import page_args
from crm.core.text import mask_phone, mask_text
from crm.errors import Invalid, NotFound
from crm.web import MAX_ID

from . import bp, iso, json_body, token_required, version_of


def company_json(company: Company) -> dict:
    return {
        "id": company.id, "version": company.version, "created_at": iso(company.created_at),
        "updated_at": iso(company.updated_at), "name": company.name, "short_name": company.short_name,
        "uscc": company.uscc, "origin_city": company.origin_city, "address": company.address,
        "cluster": company.cluster, "chain_tags": company.chain_tags or [], "employees": company.employees,
        "revenue": float(company.revenue) if company.revenue is not None else None,
        "listing_status": company.listing_status, "hmt_funded": company.hmt_funded, "source": company.source,
        "status": company.status, "owner_id": company.owner_id, "claimed_until": iso(company.claimed_until),
        "notes": company.notes,
    }


def contact_json(contact: Contact, *, full: bool) -> dict:
    return {
        "id": contact.id, "version": contact.version, "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at), "company_id": contact.company_id, "name": contact.name,
        "title": contact.title, "mobile": contact.mobile if full else mask_phone(contact.mobile),
        "email": contact.email, "wechat": contact.wechat if full else mask_text(contact.wechat),
        "notes": contact.notes, "masked": not full,
    }


def _bool_arg(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false.", {name: ["Send true or false."]})
    return value


@bp.get("/companies")
@token_required
def list_companies():
    filters = queries.CompanyFilters.from_args(request.args)
    page, per_page = page_args(request.args)
    rows, total = queries.company_page(g.api_user, filters, page=page, per_page=per_page)
    return {"items": [company_json(c) for c in rows], "total": total, "page": page, "per_page": per_page}


@bp.post("/companies")
@token_required
def create_company():
    data = json_body()
    contacts = data.pop("contacts", [])
    if not isinstance(contacts, list):
        raise Invalid("contacts must be a list.", {"contacts": ["Send a list of contacts."]})
    allow_duplicate = _bool_arg(data, "allow_duplicate")
    public_pool = _bool_arg(data, "public_pool")
    legacy_uscc = _bool_arg(data, "legacy_uscc")
    owner_id = data.pop("owner_id", None)
    if owner_id is not None and (isinstance(owner_id, bool) or not isinstance(owner_id, int)
                                 or not 0 < owner_id <= MAX_ID):
        raise Invalid("owner_id must be an integer.", {"owner_id": ["Send a user id."]})
    company = services.create_company(data, actor=g.api_user, contacts=contacts, allow_duplicate=allow_duplicate,
                                      owner_id=owner_id, public_pool=public_pool, legacy_uscc=legacy_uscc)
    return company_json(company), 201


@bp.get("/companies/<int:company_id>")
@token_required
def get_company(company_id: int):
    try:
        company = access.visible_company(company_id, g.api_user)
    except NotFound:
        # a company merged into another: 301 to the survivor, whose id the body names too
        target = merge.alias_target(company_id, g.api_user)
        if target is None:
            raise
        response = jsonify({"id": company_id, "merged_into": target})
        response.status_code = 301
        response.headers["Location"] = url_for("api.get_company", company_id=target)
        return response
    body = company_json(company)
    full = access.can_see_contact_details(g.api_user, company)
    body["contacts"] = [contact_json(c, full=full) for c in queries.contacts_of(company.id)]
    return body


@bp.patch("/companies/<int:company_id>")
@token_required
def patch_company(company_id: int):
    data = json_body()
    version = version_of(data)
    legacy_uscc = _bool_arg(data, "legacy_uscc")
    changes = {k: v for k, v in data.items() if k not in ("version", "legacy_uscc")}
    return company_json(services.update_company(company_id, changes, actor=g.api_user, version=version,
                                                legacy_uscc=legacy_uscc))


@bp.delete("/companies/<int:company_id>")
@token_required
def delete_company(company_id: int):
    version = request.args.get("version", type=int)
    services.delete_company(company_id, actor=g.api_user, version=version)
    return "", 204


@bp.post("/companies/<int:company_id>/claim")
@token_required
def claim_company(company_id: int):
    return company_json(services.claim_company(company_id, actor=g.api_user))


@bp.post("/companies/<int:company_id>/release")
@token_required
def release_company(company_id: int):
    return company_json(services.release_company(company_id, actor=g.api_user))


@bp.post("/companies/<int:company_id>/merge")
@token_required
def merge_company(company_id: int):
    """Merge the company `loser_id` into this one (crm.companies.merge): `version` is this company's, as read,
    `loser_version` the other's."""
    data = json_body()
    result = merge.merge_companies(company_id, data.get("loser_id"), actor=g.api_user,
                                   survivor_version=data.get("version"), loser_version=data.get("loser_version"))
    body = company_json(result.survivor)
    body["merged"] = {"loser_id": result.loser_id, "moved": result.moved, "filled": result.filled}
    return body


@bp.get("/companies/<int:company_id>/contacts")
@token_required
def list_contacts(company_id: int):
    company = access.visible_company(company_id, g.api_user)
    full = access.can_see_contact_details(g.api_user, company)
    items = [contact_json(c, full=full) for c in queries.contacts_of(company.id)]
    return {"items": items, "total": len(items), "page": 1, "per_page": len(items)}


@bp.post("/companies/<int:company_id>/contacts")
@token_required
def create_contact(company_id: int):
    contact = services.add_contact(company_id, json_body(), actor=g.api_user)
    return contact_json(contact, full=True), 201


@bp.patch("/contacts/<int:contact_id>")
@token_required
def patch_contact(contact_id: int):
    data = json_body()
    version = version_of(data)
    changes = {k: v for k, v in data.items() if k != "version"}
    contact = services.update_contact(contact_id, changes, actor=g.api_user, version=version)
    return contact_json(contact, full=access.can_see_contact_details(g.api_user, contact.company))


@bp.delete("/contacts/<int:contact_id>")
@token_required
def delete_contact(contact_id: int):
    services.delete_contact(contact_id, actor=g.api_user, version=request.args.get("version", type=int))
    return "", 204
