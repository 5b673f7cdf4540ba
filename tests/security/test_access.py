"""Access control (RELIABILITY.md section A): AC-1 route walker, AC-2 one visibility on every read path, AC-3 the
role × endpoint policy, AC-4 mass assignment, AC-7 soft-deleted records, AC-9 the audit trail."""
import io
import itertools
import json
import logging
import random
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from bs4 import BeautifulSoup
from flask import url_for
from flask_login import login_required
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, UUIDConverter

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.auth.services import start_session
from crm.companies.models import Company, Contact
from crm.core.timeutil import today_in_zone, utcnow
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingUser, Task
from crm.projects.models import Project, SavedView
from crm.projects.stages import KEYS
from crm.reference.models import RefItem
from crm.support import services as support_services
from crm.support.models import EnterpriseRequest, Milestone

from ..factories import PASSWORD, make_company, make_project, make_reference, make_team, make_user
from ..sweeps import sweep
from .helpers import (
    api_headers,
    audit_actions_since,
    checksum,
    client_for,
    company_ids_in,
    form_values,
    last_audit_id,
    side_app,
    two_teams,
)
from .policy import ALLOW, DENY, POLICY, ROLES

# --- AC-1: IDOR on every object route -------------------------------------------------------------------------------

#: every URL parameter that names a record → the records of team 2 (or, for admin routes, any record) to try, plus
#: an id that does not exist. A new route with a parameter missing here fails test_every_route_parameter_is_mapped.
ID_PARAMS = {
    "company_id": lambda w: [w.company_b.id, w.deleted_b.id, 987654],
    "contact_id": lambda w: [w.contact_b.id, w.contact_deleted.id, 987654],
    "user_id": lambda w: [w.b.id, 987654],
    "team_id": lambda w: [w.team2.id, 987654],
    "item_id": lambda w: [w.ref_item.id, 987654],
    # another team's confidential project (404: not 403, so ids cannot be probed), a deleted one, none at all; a
    # non-confidential project of another team is visible (GET 200) but not editable: see
    # test_another_teams_ordinary_project_is_visible_but_not_editable
    "project_id": lambda w: [w.project_secret_b.id, w.project_deleted_b.id, 987654],
    "entry_id": lambda w: [w.funds_b.id, w.funds_deleted_b.id, 987654],
    "view_id": lambda w: [w.view_b.id, 987654],
    "meeting_id": lambda w: [w.meeting_b.id, w.meeting_deleted_b.id, 987654],
    "task_id": lambda w: [w.task_b.id, w.task_deleted_b.id, 987654],
    "notification_id": lambda w: [w.notification_b.id, 987654],
    # the support board's records of team 2's confidential project, deleted ones, none at all
    "milestone_id": lambda w: [w.milestone_b.id, w.milestone_deleted_b.id, 987654],
    "request_id": lambda w: [w.request_b.id, w.request_deleted_b.id, 987654],
    # another officer's import (its pages are the importer's and the managers'), none at all
    "import_id": lambda w: [w.import_b.id, 987654],
}
#: parameters that name no record
PLAIN_PARAMS = {"code": "en", "kind": "cluster", "filename": "js/app.js", "token": "not-a-feed-token"}
WALKED_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _is_id_param(rule, name: str) -> bool:
    converter = rule._converters.get(name)
    return isinstance(converter, (IntegerConverter, UUIDConverter)) or name == "id" or name.endswith("_id")


def id_rules(app):
    return [r for r in app.url_map.iter_rules() if any(_is_id_param(r, a) for a in r.arguments)]


def uncovered_params(app) -> list[str]:
    """Route parameters the walker cannot fill: a new kind of record needs an entry in ID_PARAMS."""
    missing = []
    for rule in app.url_map.iter_rules():
        for arg in sorted(rule.arguments):
            if _is_id_param(rule, arg) and arg not in ID_PARAMS:
                missing.append(f"{rule.rule} ({rule.endpoint}): id parameter {arg!r} not in ID_PARAMS")
            elif not _is_id_param(rule, arg) and arg not in PLAIN_PARAMS and arg not in ID_PARAMS:
                missing.append(f"{rule.rule} ({rule.endpoint}): parameter {arg!r} not in PLAIN_PARAMS")
    return missing


def _version(param: str, record_id: int) -> int:
    model = {"company_id": Company, "contact_id": Contact, "user_id": User, "project_id": Project,
             "meeting_id": Meeting, "task_id": Task, "milestone_id": Milestone,
             "request_id": EnterpriseRequest}.get(param)
    row = db.session.get(model, record_id) if model else None
    return row.version if row is not None else 1


def expected_for_officer(method: str, endpoint: str) -> int:
    """404 for a record outside the officer's scope; 403 where the policy refuses the officer the whole action."""
    key = f"{method} {endpoint}"
    if key in POLICY and POLICY[key]["officer"] == DENY:
        return 403
    return 404


def walk(app, w) -> list[str]:
    """Officer a (team 1) calls every id route with team 2's ids; returns what did not answer as expected."""
    web = client_for(app, w.a)
    headers = api_headers(app, w.a)
    failures = []
    before = checksum()
    for rule in id_rules(app):
        id_args = sorted(a for a in rule.arguments if a in ID_PARAMS)
        plain = {a: PLAIN_PARAMS[a] for a in rule.arguments if a not in ID_PARAMS and a in PLAIN_PARAMS}
        choices = [ID_PARAMS[a](w) for a in id_args]
        for values in itertools.product(*choices):
            args = dict(zip(id_args, values, strict=True), **plain)
            version = _version(id_args[0], values[0]) if id_args else 1
            with app.test_request_context():
                url = url_for(rule.endpoint, **args)
            for method in sorted(m for m in rule.methods if m in WALKED_METHODS):
                if rule.rule.startswith("/api/"):
                    body = {"name": "HIJACKED", "version": version, "mobile": "13500135000"}
                    query = {"version": version} if method == "DELETE" else None
                    response = web.open(url, method=method, json=body if method in ("POST", "PATCH", "PUT") else None,
                                        query_string=query, headers=headers)
                else:
                    form = {"name": "HIJACKED", "status": "prospect", "listing_status": "none", "version": version,
                            "owner_id": str(w.a.id), "mobile": "13500135000", "role": "admin",
                            "email": "hijack@test.zone", "locale": "zh_Hans_CN", "password": "a new long password 77",
                            "protection_days": "30"}
                    response = web.open(url, method=method, data=form if method != "GET" else None)
                want = expected_for_officer(method, rule.endpoint)
                if response.status_code != want:
                    failures.append(f"{method} {url} ({rule.endpoint}) → {response.status_code}, expected {want}")
    if checksum() != before:
        failures.append("a refused request changed a row")
    return failures


def test_every_route_parameter_is_mapped(app):
    assert id_rules(app), "the walker found no id routes"
    assert uncovered_params(app) == []


def test_officer_gets_404_for_every_record_of_another_team(app):
    w = two_teams()
    audit_mark = last_audit_id()
    failures = walk(app, w)
    assert failures == []
    actions = audit_actions_since(audit_mark)
    assert set(actions) <= {"login", "authz_denied"}
    assert actions.count("authz_denied") >= len(id_rules(app)), "refusals are logged (ASVS V16.3.2)"


def test_walker_ids_are_real_records_the_holder_can_open(app):
    """Control: the same GET urls answer 200 for team 2's officer (admin routes: for an admin)."""
    w = two_teams()
    holder, admin = client_for(app, w.b), client_for(app, w.admin)
    headers = api_headers(app, w.b)
    opened = 0
    for rule in id_rules(app):
        if "GET" not in rule.methods:
            continue
        args = {a: ID_PARAMS[a](w)[0] if a in ID_PARAMS else PLAIN_PARAMS[a] for a in rule.arguments}
        with app.test_request_context():
            url = url_for(rule.endpoint, **args)
        officer_denied = expected_for_officer("GET", rule.endpoint) == 403
        client = admin if officer_denied else holder
        response = client.get(url, headers=headers if rule.rule.startswith("/api/") else None)
        assert response.status_code == 200, f"{url} → {response.status_code}"
        opened += 1
    assert opened >= 5


def test_walker_fails_for_an_unscoped_route_and_an_unmapped_parameter(app):
    """The walker is a real guard: a route that loads by id without the scope, or a new id parameter, fails it."""
    w = two_teams()
    with side_app(app) as other:
        @other.get("/companies/<int:company_id>/peek")
        @login_required
        def peek(company_id: int):
            company = db.session.get(Company, company_id)  # get_or_404 without the scope: the bug AC-1 hunts
            return company.name if company else ("", 404)

        @other.get("/gadgets/<int:gadget_id>")
        def gadget(gadget_id: int):
            return ""

        assert any("gadget_id" in m for m in uncovered_params(other))
        ID_PARAMS["gadget_id"] = lambda w: [987654]
        try:
            failures = walk(other, w)
        finally:
            del ID_PARAMS["gadget_id"]
    assert any("/peek" in f and "→ 200" in f for f in failures), failures


# --- AC-2: the same visibility on every read path -------------------------------------------------------------------

def _names_in_export(data: bytes) -> list[str]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    return [r[0] for r in rows[1:]]


def _random_world(seed: int):
    """3 teams of 2 officers, one officer without a team, a manager; 24 companies held at random, some deleted."""
    rng = random.Random(seed)
    make_reference()
    teams = [make_team(f"组{seed}-{i}") for i in range(3)]
    officers = [make_user("officer", team=t) for t in teams for _ in range(2)]
    loner = make_user("officer")
    manager = make_user("manager")
    holders = [*officers, loner, None, None, None]
    companies = []
    for i in range(24):
        owner = rng.choice(holders)
        company = make_company(f"样本企业{i:02d}号有限公司", owner=owner, deleted=rng.random() < 0.15)
        companies.append((company.id, company.name, owner, company.deleted_at is not None))
    return officers, loner, manager, companies


def _expected_visible(user, companies) -> set[int]:
    """The rule of DESIGN.md, computed here independently of crm.auth.access."""
    out = set()
    for cid, _name, owner, deleted in companies:
        if deleted:
            continue
        if user.role == "manager" or owner is None or owner.id == user.id or \
                (user.team_id is not None and owner.team_id == user.team_id):
            out.add(cid)
    return out


@pytest.mark.parametrize("seed", sweep([7, 11, 2024], sample=[7]))
def test_every_read_path_shows_the_same_companies(app, seed):
    officers, loner, manager, companies = _random_world(seed)
    by_name = {name: cid for cid, name, _o, _d in companies}
    for user in (officers[0], officers[3], loner, manager):
        expected = _expected_visible(user, companies)
        web = client_for(app, user)
        headers = api_headers(app, user)
        seen = {
            "list": company_ids_in(web.get("/companies?per_page=200").get_data(as_text=True)),
            "search name": company_ids_in(web.get("/companies?q=样本&per_page=200").get_data(as_text=True)),
            "search initials": company_ids_in(web.get("/companies?q=ybqy&per_page=200").get_data(as_text=True)),
            "export": {by_name[n] for n in _names_in_export(web.get("/companies/export.xlsx?q=样本").data)},
            "api list": {c["id"] for c in web.get("/api/v1/companies?per_page=200", headers=headers).json["items"]},
            "api search": {c["id"] for c in web.get("/api/v1/companies?per_page=200&q=ybqy",
                                                    headers=headers).json["items"]},
            "detail": {cid for cid, *_ in companies if web.get(f"/companies/{cid}").status_code == 200},
            "api detail": {cid for cid, *_ in companies
                           if web.get(f"/api/v1/companies/{cid}", headers=headers).status_code == 200},
        }
        for path, ids in seen.items():
            assert ids == expected, f"{user.role} {user.email} via {path}: extra {ids - expected}, " \
                                    f"missing {expected - ids}"
        for cid, *_ in companies:
            if cid not in expected:
                assert web.get(f"/companies/{cid}").status_code == 404
    assert any(_expected_visible(o, companies) != _expected_visible(manager, companies) for o in officers)


def test_another_teams_ordinary_project_is_visible_but_not_editable(app):
    """Team 2's non-confidential project: team 1 reads it (GET 200) but every change is 403, and nothing changes."""
    w = two_teams()
    web, headers = client_for(app, w.a), api_headers(app, w.a)
    project = db.session.get(Project, w.project_b.id)
    pid, version = project.id, project.version
    for url in (f"/projects/{pid}", f"/api/v1/projects/{pid}", f"/api/v1/projects/{pid}/history",
                f"/api/v1/projects/{pid}/funds"):
        response = web.get(url, headers=headers if url.startswith("/api/") else None)
        assert response.status_code == 200, f"GET {url} → {response.status_code}"
    page = web.get(f"/projects/{pid}").get_data(as_text=True)
    assert "二组公开项目" in page
    listed = {int(m.group(1)) for a in BeautifulSoup(web.get("/projects?per_page=200").get_data(as_text=True),
                                                     "html.parser").select("table a[href]")
              if (m := re.fullmatch(r"/projects/(\d+)", a["href"]))}
    assert pid in listed and w.project_secret_b.id not in listed
    before, audit_mark = checksum(), last_audit_id()
    today = today_in_zone().isoformat()
    refused = {
        f"GET /projects/{pid}/edit": web.get(f"/projects/{pid}/edit"),
        f"POST /projects/{pid}/edit": web.post(f"/projects/{pid}/edit", data={
            "version": version, "company_id": str(w.company_b.id), "name": "一组改了二组的项目"}),
        f"GET /projects/{pid}/stage": web.get(f"/projects/{pid}/stage"),
        f"POST /projects/{pid}/stage": web.post(f"/projects/{pid}/stage", data={"version": version,
                                                                               "stage": "signed"}),
        f"POST /projects/{pid}/move": web.post(f"/projects/{pid}/move", data={"version": version, "stage": "signed",
                                                                             "from_stage": "lead"}),
        f"POST /projects/{pid}/funds": web.post(f"/projects/{pid}/funds", data={"received_on": today,
                                                                               "amount": "999"}),
        f"POST /projects/{pid}/delete": web.post(f"/projects/{pid}/delete", data={"version": version}),
        f"POST /projects/{pid}/reassign": web.post(f"/projects/{pid}/reassign", data={"version": version,
                                                                                     "owner_id": str(w.a.id)}),
        f"POST /funds/{w.funds_project_b.id}/delete": web.post(f"/funds/{w.funds_project_b.id}/delete"),
        f"PATCH /api/v1/projects/{pid}": web.patch(f"/api/v1/projects/{pid}", headers=headers,
                                                   json={"version": version, "name": "接口改名"}),
        f"POST /api/v1/projects/{pid}/stage": web.post(f"/api/v1/projects/{pid}/stage", headers=headers,
                                                       json={"version": version, "stage": "signed"}),
        f"POST /api/v1/projects/{pid}/funds": web.post(f"/api/v1/projects/{pid}/funds", headers=headers,
                                                       json={"received_on": today, "amount": 999}),
        f"POST /api/v1/projects/{pid}/owner": web.post(f"/api/v1/projects/{pid}/owner", headers=headers,
                                                       json={"version": version, "owner_id": w.a.id}),
        f"DELETE /api/v1/projects/{pid}": web.delete(f"/api/v1/projects/{pid}", headers=headers,
                                                     query_string={"version": version}),
        f"DELETE /api/v1/funds/{w.funds_project_b.id}": web.delete(f"/api/v1/funds/{w.funds_project_b.id}",
                                                                   headers=headers),
    }
    wrong = {k: r.status_code for k, r in refused.items() if r.status_code != 403}
    assert wrong == {}
    assert checksum() == before, "a refused change was written"
    assert set(audit_actions_since(audit_mark)) <= {"authz_denied", "login"}
    assert audit_actions_since(audit_mark).count("authz_denied") >= len(refused)
    # a bulk move skips it (and says so) instead of moving it; a bulk reassign by an officer is refused whole
    response = web.post("/projects/bulk", data={"action": "move", "stage": "on_hold", "ids": f"{pid}:{version}"})
    assert response.status_code == 302
    assert web.post("/projects/bulk", data={"action": "reassign", "owner_id": str(w.a.id),
                                            "ids": f"{pid}:{version}"}).status_code == 403
    response = web.post("/api/v1/projects/bulk-stage", headers=headers,
                        json={"items": [{"id": pid, "version": version}], "stage": "on_hold"})
    assert response.status_code == 200 and response.json["moved"] == [] and \
        [s["id"] for s in response.json["skipped"]] == [pid]
    assert checksum() == before
    # its holder (and the holder's team, and managers) may change it: the 403 above was the rule, not a broken route
    holder = client_for(app, w.b)
    assert holder.post(f"/projects/{pid}/stage", data={"version": version, "stage": "signed"}).status_code == 302
    assert db.session.get(Project, pid).stage == "signed"


def test_liaison_sees_no_project_through_the_api(app):
    w = two_teams()
    web, headers = client_for(app, w.liaison), api_headers(app, w.liaison)
    assert web.get("/api/v1/projects", headers=headers).json["items"] == []
    before = checksum()
    for pid in (w.project_a.id, w.project_b.id, w.project_secret_b.id):
        assert web.get(f"/api/v1/projects/{pid}", headers=headers).status_code == 404
        assert web.get(f"/api/v1/projects/{pid}/history", headers=headers).status_code == 404
        assert web.post(f"/api/v1/projects/{pid}/stage", headers=headers,
                        json={"version": 1, "stage": "lost", "reason": "x"}).status_code == 404
    assert web.post("/api/v1/projects", headers=headers,
                    json={"company_id": w.pool.id, "name": "联络员建项目"}).status_code == 403
    assert checksum() == before


# --- AC-2 for projects: one visibility on every read path ------------------------------------------------------------

def _project_world(seed: int):
    """3 teams of 2 officers, an officer without a team, a manager and a liaison; 24 projects held at random, about
    half confidential, a few deleted, in random stages, on companies of the public pool and of their holders."""
    rng = random.Random(seed)
    make_reference()
    teams = [make_team(f"项目组{seed}-{i}") for i in range(3)]
    officers = [make_user("officer", team=t) for t in teams for _ in range(2)]
    loner = make_user("officer")
    manager = make_user("manager")
    liaison = make_user("liaison", department="natural_resources")
    pool = make_company(f"公海样本企业{seed}有限公司")
    projects = []
    for i in range(24):
        owner = rng.choice([*officers, loner, manager])
        company = pool if rng.random() < 0.5 else make_company(owner=owner if owner.role == "officer" else None)
        secret = rng.random() < 0.5
        project = make_project(company, owner=owner, name=f"样本项目{i:02d}", stage=rng.choice(KEYS),
                               confidential=secret, code_name=f"代号{i:02d}" if secret else "",
                               planned_investment=rng.randrange(1, 5000), deleted=rng.random() < 0.12)
        projects.append((project.id, project.name, owner, secret, project.deleted_at is not None))
    return officers, loner, manager, liaison, projects


def _expected_projects(user, projects) -> set[int]:
    """The rule of DESIGN.md, computed here independently of crm.auth.access."""
    out = set()
    for pid, _name, owner, secret, deleted in projects:
        if deleted or user.role == "liaison":
            continue
        same_team = owner.id == user.id or (user.team_id is not None and owner.team_id == user.team_id)
        if user.role in ("manager", "admin") or not secret or same_team:
            out.add(pid)
    return out


def _project_links(html: str, selector: str) -> set[int]:
    soup = BeautifulSoup(html, "html.parser")
    return {int(m.group(1)) for a in soup.select(selector) if (m := re.fullmatch(r"/projects/(\d+)", a["href"]))}


def _project_names_in_export(data: bytes) -> list[str]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [r[1] for r in list(sheet.iter_rows(values_only=True))[1:]]


@pytest.mark.parametrize("seed", sweep([3, 19, 2025], sample=[3]))
def test_every_read_path_shows_the_same_projects(app, seed):
    officers, loner, manager, liaison, projects = _project_world(seed)
    by_name = {name: pid for pid, name, *_ in projects}
    for user in (officers[0], officers[3], loner, manager, liaison):
        expected = _expected_projects(user, projects)
        web = client_for(app, user)
        headers = api_headers(app, user)
        api = {
            "api list": {p["id"] for p in web.get("/api/v1/projects?per_page=200", headers=headers).json["items"]},
            "api search": {p["id"] for p in web.get("/api/v1/projects?per_page=200&q=样本项目",
                                                    headers=headers).json["items"]},
            "api detail": {pid for pid, *_ in projects
                           if web.get(f"/api/v1/projects/{pid}", headers=headers).status_code == 200},
            "api history": {pid for pid, *_ in projects
                            if web.get(f"/api/v1/projects/{pid}/history", headers=headers).status_code == 200},
        }
        if user.role == "liaison":
            assert expected == set()
            for url in ("/projects", "/projects?q=样本项目", "/projects/board", "/projects/export.xlsx"):
                assert web.get(url).status_code == 403, url
            pages = {"detail": {pid for pid, *_ in projects if web.get(f"/projects/{pid}").status_code == 200}}
        else:
            pages = {
                "list": _project_links(web.get("/projects?per_page=200").get_data(as_text=True), "table a[href]"),
                "list search": _project_links(web.get("/projects?q=样本项目&per_page=200").get_data(as_text=True),
                                              "table a[href]"),
                "list by stage filter": set().union(*(
                    _project_links(web.get(f"/projects?per_page=200&stage={stage}").get_data(as_text=True),
                                   "table a[href]") for stage in ("open", "full_capacity", "on_hold", "lost"))),
                "export": {by_name[n] for n in _project_names_in_export(web.get("/projects/export.xlsx").data)},
                "export search": {by_name[n] for n in _project_names_in_export(
                    web.get("/projects/export.xlsx?q=样本项目").data)},
                "board": _project_links(web.get("/projects/board").get_data(as_text=True), "a.board-card-title"),
                "detail": {pid for pid, *_ in projects if web.get(f"/projects/{pid}").status_code == 200},
            }
        for path, ids in {**pages, **api}.items():
            assert ids == expected, f"{user.role} {user.email} via {path}: extra {ids - expected}, " \
                                    f"missing {expected - ids}"
        for pid, *_ in projects:
            if pid not in expected:  # hidden is 404 (a liaison, refused every project page, too)
                assert web.get(f"/projects/{pid}").status_code == 404
    assert any(_expected_projects(o, projects) != _expected_projects(manager, projects) for o in officers)


# --- AC-2 for meetings and tasks: one visibility on every read path -------------------------------------------------

def _meeting_world(seed: int):
    """3 teams of 2 officers, an officer without a team, a manager and a liaison; 30 meetings (with a follow-up each)
    logged at random on companies of the public pool and of their holders, some on confidential projects, some with
    a colleague of another team taking part, a few deleted."""
    rng = random.Random(seed)
    make_reference()
    teams = [make_team(f"会面组{seed}-{i}") for i in range(3)]
    officers = [make_user("officer", team=t) for t in teams for _ in range(2)]
    loner, manager = make_user("officer"), make_user("manager")
    liaison = make_user("liaison", department="natural_resources")
    pool = make_company(f"公海会面企业{seed}有限公司")
    rows = []
    for i in range(30):
        owner = rng.choice([*officers, loner])
        company = pool if rng.random() < 0.4 else make_company(owner=rng.choice([*officers, loner]))
        project = None
        if rng.random() < 0.6:
            secret = rng.random() < 0.5
            project = make_project(company, owner=rng.choice([*officers, loner]), confidential=secret,
                                   code_name="代号" if secret else "")
        guest = rng.choice(officers) if rng.random() < 0.3 else None
        deleted = rng.random() < 0.1
        meeting = Meeting(type="visit", start_at=utcnow(), company_id=company.id, owner_id=owner.id,
                          project_id=project.id if project else None, summary=f"样本会面{i:02d}",
                          deleted_at=utcnow() if deleted else None)
        db.session.add(meeting)
        db.session.flush()
        if guest is not None and guest.id != owner.id:
            db.session.add(MeetingUser(meeting_id=meeting.id, user_id=guest.id))
        task = Task(title=f"样本待办{i:02d}", due_on=today_in_zone(), owner_id=owner.id, company_id=company.id,
                    project_id=meeting.project_id, meeting_id=meeting.id, deleted_at=meeting.deleted_at)
        db.session.add(task)
        db.session.commit()
        rows.append(SimpleNamespace(meeting=meeting.id, task=task.id, owner=owner, holder=company.owner,
                                    project=project, guest=guest, deleted=deleted, company=company.id))
    return officers, loner, manager, liaison, rows


def _expected_meetings(user, rows) -> tuple[set[int], set[int]]:
    """The rule, computed here independently of crm.auth.access: managers see all; officers what they or their
    team logged or own, meetings they took part in, and what is on companies and projects they may see."""
    def team(other) -> bool:
        same = user.team_id is not None and other is not None and other.team_id == user.team_id
        return other is not None and (other.id == user.id or same)

    meetings, tasks = set(), set()
    for r in rows:
        if r.deleted or user.role == "liaison":
            continue
        if user.role in ("manager", "admin"):
            meetings.add(r.meeting)
            tasks.add(r.task)
            continue
        company_ok = r.holder is None or team(r.holder)
        project_ok = r.project is None or not r.project.confidential or team(r.project.owner)
        on_visible = company_ok and project_ok
        if team(r.owner) or (r.guest is not None and r.guest.id == user.id) or on_visible:
            meetings.add(r.meeting)
        if team(r.owner) or on_visible:
            tasks.add(r.task)
    return meetings, tasks


def _meeting_links(html: str) -> set[int]:
    soup = BeautifulSoup(html, "html.parser")
    return {int(m.group(1)) for a in soup.select("a[href]") if (m := re.fullmatch(r"/meetings/(\d+)", a["href"]))}


@pytest.mark.parametrize("seed", sweep([5, 77], sample=[5]))
def test_every_read_path_shows_the_same_meetings_and_tasks(app, seed):
    officers, loner, manager, liaison, rows = _meeting_world(seed)
    for user in (officers[0], officers[3], loner, manager, liaison):
        meetings, tasks = _expected_meetings(user, rows)
        web, headers = client_for(app, user), api_headers(app, user)
        seen = {
            "api list": {m["id"] for m in web.get("/api/v1/meetings?per_page=200", headers=headers).json["items"]},
            "api detail": {r.meeting for r in rows
                           if web.get(f"/api/v1/meetings/{r.meeting}", headers=headers).status_code == 200},
        }
        seen_tasks = {
            "api list": {t["id"] for t in web.get("/api/v1/tasks?per_page=200", headers=headers).json["items"]},
            "api detail": {r.task for r in rows
                           if web.get(f"/api/v1/tasks/{r.task}", headers=headers).status_code == 200},
        }
        if user.role != "liaison":
            seen["page"] = {r.meeting for r in rows if web.get(f"/meetings/{r.meeting}").status_code == 200}
            # each company page's timeline lists the meetings on it the user may see
            companies = {r.company for r in rows}
            seen["company timelines"] = set().union(*(
                _meeting_links(web.get(f"/companies/{c}/timeline?kind=meeting").get_data(as_text=True))
                for c in companies if web.get(f"/companies/{c}").status_code == 200))
            on_visible_companies = {r.meeting for r in rows if r.meeting in meetings
                                    and web.get(f"/companies/{r.company}").status_code == 200}
            assert seen.pop("company timelines") == on_visible_companies, user.email
        for path, ids in seen.items():
            assert ids == meetings, f"{user.role} meetings via {path}: extra {ids - meetings}, missing {meetings - ids}"
        for path, ids in seen_tasks.items():
            assert ids == tasks, f"{user.role} tasks via {path}: extra {ids - tasks}, missing {tasks - ids}"
    assert any(_expected_meetings(o, rows) != _expected_meetings(manager, rows) for o in officers)


# --- AC-3: function-level authorization: the role × endpoint matrix --------------------------------------------------

def _request(key: str, w, role: str = "officer") -> tuple[str, dict, dict]:
    """(url, form data, json body) for one policy entry, as `role` would send it; records come from the two-team
    world (project actions work on officer a's `project_a`, which every staff role may change)."""
    method, endpoint = key.split(" ")
    args, data, body = {}, {}, None
    project = db.session.get(Project, w.project_a.id)
    if endpoint.startswith("projects.") or endpoint == "api.reassign_project":
        project_data = {"version": str(project.version)}
        if endpoint in {"projects.show", "projects.edit", "projects.stage", "projects.move", "projects.add_funds",
                        "projects.delete", "projects.reassign", "api.reassign_project", "projects.no_update_reason"}:
            args["project_id"] = project.id
        if endpoint == "projects.no_update_reason":
            data = {"reason": "矩阵：企业等待审批"}
        if endpoint == "projects.edit":
            data = {**project_data, "company_id": str(w.pool.id), "name": "矩阵改名项目", "planned_investment": "1500"}
        if endpoint in {"projects.stage", "projects.move"}:
            data = {**project_data, "stage": "under_construction", "from_stage": project.stage}
        if endpoint == "projects.add_funds":
            data = {"received_on": today_in_zone().isoformat(), "amount": "50", "note": "矩阵"}
        if endpoint == "projects.delete":
            data = project_data
        if endpoint == "projects.reassign":
            data = {**project_data, "owner_id": str(w.a2.id)}
        if endpoint == "api.reassign_project":
            body = {"version": project.version, "owner_id": w.a2.id}
        if endpoint == "projects.create":
            data = {"company_id": str(w.pool.id), "name": "矩阵新建项目", "stage": "lead", "owner_id": str(w.a.id),
                    "first_contact_id": str(w.a.id), "planned_investment": "300"}
        if endpoint == "projects.board_column":
            args["stage"] = "signed"
        if endpoint == "projects.company_options":
            args["q"] = "公海"
        if endpoint == "projects.bulk":
            data = {"action": "move", "stage": "on_hold", "ids": f"{project.id}:{project.version}"}
        if endpoint == "projects.save_view":
            data = {"name": "矩阵视图", "query": "stage=signed&key=1"}
        if endpoint == "projects.delete_view":
            user = {"officer": w.a, "manager": w.manager, "liaison": w.liaison, "admin": w.admin}[role]
            view = SavedView(user_id=user.id, kind="projects", name="自己的视图", query="stage=lead")
            db.session.add(view)
            db.session.commit()
            args["view_id"] = view.id
        if endpoint == "projects.delete_funds":
            args["entry_id"] = w.funds_a.id
    if endpoint == "api.create_project":
        body = {"company_id": w.pool.id, "name": "接口新建项目", "owner_id": w.a.id, "planned_investment": 200}
    user_form = {"email": "neu@test.zone", "name": "新用户", "role": "officer", "team_id": "", "department": "",
                 "locale": "zh_Hans_CN", "active": "y", "password": "a perfectly long new password 42"}
    if endpoint in {"admin.edit_user", "admin.reset_password", "admin.terminate_sessions"}:
        args["user_id"] = w.b.id
    if endpoint == "admin.edit_user":
        user_form = {**user_form, "email": w.b.email, "name": w.b.name, "role": "manager",
                     "team_id": str(w.team2.id), "version": w.b.version}
    if endpoint == "admin.rename_team":
        args["team_id"] = w.team2.id
        data = {"name": "改名组", "version": w.team2.version}
    if endpoint.startswith("admin.reference"):
        args["kind"] = "cluster"
        data = {"key": "new_cluster", "name": "新集群", "name_en": "New cluster", "sort": "5", "active": "y"}
    if endpoint == "admin.reference_item":
        args["item_id"] = w.ref_item.id
        data = {"name": "改名集群", "name_en": "Renamed", "sort": "1", "active": "y", "version": w.ref_item.version}
    if endpoint in {"admin.new_user", "admin.edit_user"}:
        data = user_form
    if endpoint == "admin.reset_password":
        data = {"password": "another long new password 43"}
    if endpoint == "admin.teams":
        data = {"name": "三组"}
    if endpoint == "admin.settings":
        data = {"protection_days": "45"}
    if endpoint == "companies.restore":
        args["company_id"] = w.deleted_b.id
    if endpoint == "companies.assign":
        args["company_id"] = w.company_b.id
        data = {"owner_id": str(w.a2.id), "version": w.company_b.version}
    if endpoint == "companies.show":
        args["company_id"] = w.pool.id
    if endpoint == "companies.check_duplicates":
        args["name"] = "华信电子"
    if endpoint == "companies.create":
        data = {"name": "新建测试企业有限公司", "status": "prospect", "listing_status": "none", "public_pool": "y"}
    if endpoint == "calendar.feed_settings":
        data = {"action": "create"}
    if endpoint == "api.create_company":
        body = {"name": "接口新建企业有限公司", "public_pool": True}
    if endpoint == "api.create_meeting":
        body = {"type": "visit", "start_at": "2025-03-03T10:00:00+08:00", "company_id": w.pool.id,
                "owner_id": w.a.id, "follow_ups": [{"title": "矩阵回访", "due": "2025-03-05", "owner_id": w.a.id}]}
    if endpoint == "api.create_task":
        body = {"title": "矩阵待办", "due": "2025-03-05", "company_id": w.pool.id, "owner_id": w.a.id}
    if endpoint in {"api.list_notifications", "api.list_requests", "api.list_milestones"}:
        body = {}  # a GET with the API's token (an empty body)
    if endpoint == "api.board":
        body = {}  # the support board's wall chart: a GET with the API's token
    if endpoint == "api.dashboard_pipeline":
        body = {}  # the dashboard's figures: a GET with the API's token
    if endpoint == "admin.targets":
        data = {"year": "2026", f"team-{w.team2.id}": "5000"}
    if endpoint.startswith("meetings."):
        args, data = _meeting_request(endpoint, w, args, data)
    if endpoint in {"notifications.show", "notifications.resend"}:
        args["notification_id"] = w.notification_a.id
    if endpoint in {"companies.timeline"}:
        args["company_id"] = w.pool.id
    # duplicates: officer a may merge the pool company into the company a holds (and so may managers and admins)
    if endpoint in {"companies.compare_duplicates", "companies.merge_duplicates", "companies.not_duplicate",
                    "api.merge_company"}:
        kept, other = db.session.get(Company, w.company_a.id), db.session.get(Company, w.pool.id)
        pair = {"a": str(kept.id), "b": str(other.id)}
        if endpoint == "companies.compare_duplicates":
            args.update(pair)
        if endpoint == "companies.not_duplicate":
            data = pair
        if endpoint == "companies.merge_duplicates":
            data = {**pair, "a_version": str(kept.version), "b_version": str(other.version), "survivor": str(kept.id)}
        if endpoint == "api.merge_company":
            args["company_id"] = kept.id
            body = {"loser_id": other.id, "version": kept.version, "loser_version": other.version}
    if endpoint in {"projects.timeline"}:
        args["project_id"] = project.id
    if endpoint.startswith("imports."):
        args, data = _import_request(endpoint, args, data)
    with w.app.test_request_context():
        url = url_for(endpoint, **args)
    return url, (data if method == "POST" else {}), body


def _import_request(endpoint: str, args: dict, data: dict) -> tuple[dict, dict]:
    """An upload of a one-row company list; a template and an export of a kind."""
    if endpoint == "imports.index":
        from ..imports.helpers import xlsx

        data = {"kind": "companies", "file": (io.BytesIO(xlsx([["矩阵导入企业有限公司"]], header=["企业名称"])),
                                              "list.xlsx")}
    if endpoint == "imports.template":
        args["kind"] = "companies"
    if endpoint == "imports.export":
        args["kind"] = "contacts"
    return args, data


def _meeting_request(endpoint: str, w, args: dict, data: dict) -> tuple[dict, dict]:
    """Meeting and task pages act on officer a's meeting and task on the pool company."""
    meeting, task = db.session.get(Meeting, w.meeting_a.id), db.session.get(Task, w.task_a.id)
    if endpoint in {"meetings.show", "meetings.edit", "meetings.delete", "meetings.ics"}:
        args["meeting_id"] = meeting.id
    if endpoint == "meetings.new":
        data = {"type": "visit", "start_at": "2025-03-03T10:00", "company_id": str(w.pool.id), "owner_id": str(w.a.id),
                "follow_ups-0-title": "矩阵回访", "follow_ups-0-due_date": "2025-03-05",
                "follow_ups-0-owner_id": str(w.a.id)}
    if endpoint == "meetings.edit":
        data = {"version": str(meeting.version), "type": "negotiation", "start_at": "2025-03-03T10:00",
                "company_id": str(w.pool.id), "project_id": str(w.project_a.id), "summary": "矩阵改过"}
    if endpoint == "meetings.delete":
        data = {"version": str(meeting.version)}
    if endpoint == "meetings.company_parts":
        args["company_id"] = w.pool.id
    if endpoint in {"meetings.edit_task", "meetings.task_done", "meetings.task_reopen", "meetings.task_snooze",
                    "meetings.task_delete"}:
        args["task_id"] = task.id
    if endpoint == "meetings.task_reopen":  # reopening an open task changes nothing
        task.done_at = utcnow()
        db.session.commit()
    if endpoint == "meetings.edit_task":
        data = {"version": str(task.version), "title": "矩阵改过", "due_date": "2025-03-06", "owner_id": str(w.a.id)}
    if endpoint in {"meetings.task_snooze", "meetings.task_delete"}:
        data = {"how": "tomorrow", "version": str(task.version)}
    if endpoint == "meetings.new_task":
        data = {"title": "矩阵待办", "due_date": "2025-03-05", "company_id": str(w.pool.id), "owner_id": str(w.a.id)}
    return args, data


#: allowed POSTs that change no record by design, and the audit event each leaves instead
AUDIT_ONLY_POSTS = {"POST admin.mail_test": "mail_test"}
CASES = [(key, role) for key in POLICY for role in ROLES]
#: the PostgreSQL pass calls every endpoint as the first role the policy allows it and as the first it refuses
PG_SAMPLE = [(key, next(r for r in ROLES if POLICY[key][r] == decision)) for key in POLICY for decision in (ALLOW, DENY)
             if decision in POLICY[key].values()]


@pytest.mark.parametrize(("key", "role"), sweep(CASES, PG_SAMPLE, ids=[f"{k}-{r}" for k, r in CASES]))
def test_role_endpoint_matrix(app, key, role):
    w = two_teams()
    w.app = app
    start_session(w.b)  # a live session for the admin to end
    user = {"officer": w.a, "manager": w.manager, "liaison": w.liaison, "admin": w.admin}[role]
    client = client_for(app, user)
    url, data, body = _request(key, w, role)
    method = key.split(" ")[0]
    headers = api_headers(app, user) if body is not None else None
    before, audit_mark = checksum(), last_audit_id()
    response = client.open(url, method=method, data=data or None, json=body, headers=headers)
    if POLICY[key][role] == DENY:
        endpoint = key.split(" ")[1]
        record_page = any(a.endswith("_id") for r in app.url_map.iter_rules() if r.endpoint == endpoint
                          for a in r.arguments)
        # a liaison is refused a staff page with 403, and a record's page with 404 (crm.web.staff_only: ids are
        # not probed); the API and the admin pages answer for themselves
        expected = 404 if role == "liaison" and record_page and not endpoint.startswith(("api.", "admin.")) else 403
        assert response.status_code == expected, f"{role} {key}: {response.status_code}"
        assert checksum() == before, f"{role} {key} was refused but changed data"
        assert set(audit_actions_since(audit_mark)) <= {"authz_denied"}
    else:
        assert response.status_code in (200, 201, 302), f"{role} {key}: {response.status_code}"
        if key in AUDIT_ONLY_POSTS:  # an action that changes no record: the audit log says it was done
            assert AUDIT_ONLY_POSTS[key] in audit_actions_since(audit_mark), f"{role} {key} left no audit event"
        elif method == "POST":
            assert checksum() != before, f"{role} {key} was allowed but changed nothing"
        if response.status_code == 302:
            assert "/login" not in response.headers["Location"]


def test_every_admin_and_manager_endpoint_is_in_the_policy(app):
    """A new admin route, or a new manager-only company action, needs a reviewed line in policy.py."""
    missing = []
    for rule in app.url_map.iter_rules():
        # every project page is listed too: liaisons may open none of them (a new page needs a reviewed line)
        gated = rule.endpoint.startswith(("admin.", "projects.")) or rule.endpoint in {
            "companies.trash", "companies.restore", "companies.assign", "api.reassign_project"}
        for method in sorted(rule.methods & {"GET", "POST", "PATCH", "PUT", "DELETE"}):
            if gated and f"{method} {rule.endpoint}" not in POLICY:
                missing.append(f"{method} {rule.endpoint}")
    assert missing == []
    assert all(set(v) == set(ROLES) and set(v.values()) <= {ALLOW, DENY} for v in POLICY.values())


def test_liaison_sees_no_company_through_the_api(app):
    w = two_teams()
    web, headers = client_for(app, w.liaison), api_headers(app, w.liaison)
    assert web.get("/api/v1/companies", headers=headers).json["items"] == []
    assert web.get(f"/api/v1/companies/{w.pool.id}", headers=headers).status_code == 404
    assert web.post(f"/api/v1/companies/{w.pool.id}/claim", headers=headers).status_code in (403, 404)
    db.session.expire_all()
    assert db.session.get(Company, w.pool.id).owner_id is None


# --- a department liaison over the API: their department's support records, and nothing else ---------------------

#: GET routes every signed-in role reads whole: the reference lists and the API's own document
LIAISON_OPEN = {"/api/v1/meta", "/api/v1/openapi.json"}
_API_PATH = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _liaison_world(w):
    """Besides the two-team world's `milestone_b` and `request_b` (the liaison's department's, on team 2's
    confidential project): another department's milestone and request on the same project, and on team 1's signed
    project a request of the liaison's department and a milestone of nobody's."""
    db.session.add(RefItem(kind="department", key="power_supply", name="供电公司", name_en="Power supply"))
    today = today_in_zone()
    w.milestone_power = Milestone(project_id=w.project_secret_b.id, kind="construction_start", sort=40,
                                  department="power_supply", owner_id=w.b.id, note="")
    w.milestone_a = Milestone(project_id=w.project_a.id, kind="land_acquired", sort=10, owner_id=w.a.id, note="")
    w.request_power = EnterpriseRequest(project_id=w.project_secret_b.id, company_id=w.company_b.id,
                                        category="utilities", description="二组用电诉求", department="power_supply",
                                        owner_id=w.b.id, deadline=today, status="open", resolution="",
                                        created_by_id=w.b.id)
    db.session.add_all([w.milestone_power, w.milestone_a, w.request_power])
    db.session.commit()
    w.request_a = support_services.create_request(
        w.project_a.id, {"category": "land", "description": "一组用地诉求", "department": "natural_resources",
                         "deadline": (today + timedelta(days=20)).isoformat()}, actor=w.a)
    # every id route is tried with team 2's records (ID_PARAMS) and with these of team 1 and of other departments
    return {"company_id": [w.company_a.id, w.pool.id], "contact_id": [w.contact_a.id],
            "project_id": [w.project_a.id, w.project_b.id], "meeting_id": [w.meeting_a.id], "task_id": [w.task_a.id],
            "notification_id": [w.notification_a.id], "entry_id": [w.funds_a.id], "user_id": [w.a.id, w.liaison.id],
            "milestone_id": [w.milestone_power.id, w.milestone_a.id],
            "request_id": [w.request_power.id, w.request_a.id]}


def test_liaison_reads_nothing_outside_their_department_over_the_api(app):
    """Every GET route of the API, with every record id of both teams and two departments, as a land-department
    liaison: the support routes answer with that department's milestones and requests (on any team's project), the
    reference lists are open, and everything else is a 403, a 404 or an empty list."""
    w = two_teams()
    extra = _liaison_world(w)
    department = w.liaison.department
    my_milestones = {w.milestone_b.id}
    my_requests = {w.request_b.id, w.request_a.id}
    mine = {  # route → (the records the liaison reaches, as {id param value: the record ids the answer lists})
        "/api/v1/milestones/{milestone_id}": {m: {m} for m in my_milestones},
        "/api/v1/requests/{request_id}": {r: {r} for r in my_requests},
        "/api/v1/requests/{request_id}/events": {r: None for r in my_requests},
        "/api/v1/projects/{project_id}/milestones": {w.project_secret_b.id: my_milestones},
        "/api/v1/projects/{project_id}/requests": {w.project_secret_b.id: {w.request_b.id},
                                                   w.project_a.id: {w.request_a.id}},
        "/api/v1/milestones": {None: my_milestones},
        "/api/v1/requests": {None: my_requests},
    }
    web, headers = client_for(app, w.liaison), api_headers(app, w.liaison)
    before = checksum()
    failures, reached, walked = [], set(), 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or "GET" not in rule.methods:
            continue
        path = _API_PATH.sub(r"{\1}", rule.rule)
        params = sorted(rule.arguments)
        assert all(p in ID_PARAMS for p in params), f"{path}: add its parameters to ID_PARAMS"
        for values in itertools.product(*[ID_PARAMS[p](w) + extra.get(p, []) for p in params]):
            with app.test_request_context():
                url = url_for(rule.endpoint, **dict(zip(params, values, strict=True)))
            response = web.get(url, headers=headers)
            body, walked = response.get_json(silent=True), walked + 1
            key = values[0] if values else None
            if path in LIAISON_OPEN:
                ok = response.status_code == 200
            elif key in mine.get(path, {}):
                expected = mine[path][key]
                ok = response.status_code == 200
                if ok and "items" in body and expected is not None:
                    ok = {i["id"] for i in body["items"]} == expected and body["total"] == len(expected) and \
                        all(i["department"] == department for i in body["items"])
                elif ok and "items" in body:  # a request's events
                    ok = len(body["items"]) >= 1
                elif ok:
                    ok = body["id"] in expected and body["department"] == department
                reached.add((path, key))
            elif response.status_code in (403, 404):
                ok = body is not None and set(body["error"]) >= {"code", "message", "fields"}
            else:
                ok = response.status_code == 200 and body.get("items") == [] and body.get("total") == 0
            if not ok:
                failures.append(f"GET {url} → {response.status_code} {str(body)[:200]}")
    assert failures == []
    assert reached == {(path, key) for path, keys in mine.items() for key in keys}
    assert walked > 40
    assert checksum() == before
    # and they work there: a status move and an actual date on their department's records; another's is a 404
    version = web.get(f"/api/v1/requests/{w.request_b.id}", headers=headers).json["version"]
    moved = web.patch(f"/api/v1/requests/{w.request_b.id}", headers=headers,
                      json={"version": version, "status": "in_progress", "note": "已受理"})
    assert moved.status_code == 200 and moved.json["status"] == "in_progress", moved.json
    done = web.patch(f"/api/v1/milestones/{w.milestone_b.id}", headers=headers,
                     json={"version": 1, "actual_date": today_in_zone().isoformat()})
    assert done.status_code == 200 and done.json["status"] == "done" and done.json["offer"] is None, done.json
    assert web.patch(f"/api/v1/requests/{w.request_power.id}", headers=headers,
                     json={"version": 1, "status": "in_progress"}).status_code == 404
    assert web.patch(f"/api/v1/milestones/{w.milestone_power.id}", headers=headers,
                     json={"version": 1, "note": "越权"}).status_code == 404


# --- AC-4: mass assignment ------------------------------------------------------------------------------------------

#: columns an edit of the name may change: the name, what derives from it, and the server-kept counters
EDITABLE_BY_NAME_CHANGE = {"name", "name_norm", "search_text", "version", "updated_at", "last_activity_at"}


def _row(model, record_id: int) -> dict:
    db.session.rollback()
    table = model.__table__
    row = db.session.execute(select(table).where(table.c.id == record_id)).mappings().one()
    return dict(row)


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def _hostile_extras(w) -> dict:
    return {"owner_id": str(w.b.id), "deleted_at": "2020-01-01T00:00:00", "deleted_by_id": str(w.b.id),
            "role": "admin", "team_id": str(w.team2.id), "claimed_until": "2099-12-31T00:00:00",
            "claimed_at": "2000-01-01T00:00:00", "id": "4242", "created_at": "2000-01-01T00:00:00",
            "search_text": "hacked", "name_norm": "hacked", "is_active_user": "y"}


def test_officer_edit_form_ignores_extra_fields(app):
    w = two_teams()
    client = client_for(app, w.a)
    page = client.get(f"/companies/{w.company_a.id}/edit")
    assert page.status_code == 200
    data = form_values(page.get_data(as_text=True))
    assert data["version"] == str(w.company_a.version)
    before, user_before = _row(Company, w.company_a.id), _row(User, w.a.id)
    response = client.post(f"/companies/{w.company_a.id}/edit",
                           data={**data, **_hostile_extras(w), "name": "一组东莞宏达新材料有限公司"})
    assert response.status_code == 302
    after = _row(Company, w.company_a.id)
    assert after["name"] == "一组东莞宏达新材料有限公司"
    assert _changed(before, after) <= EDITABLE_BY_NAME_CHANGE, _changed(before, after) - EDITABLE_BY_NAME_CHANGE
    assert after["owner_id"] == w.a.id and after["deleted_at"] is None and after["version"] == before["version"] + 1
    assert _row(User, w.a.id) == user_before


def test_officer_edit_form_with_a_forged_version_changes_nothing(app):
    w = two_teams()
    client = client_for(app, w.a)
    data = form_values(client.get(f"/companies/{w.company_a.id}/edit").get_data(as_text=True))
    before = _row(Company, w.company_a.id)
    response = client.post(f"/companies/{w.company_a.id}/edit", data={**data, "name": "改名", "version": "999"})
    assert response.status_code == 409
    assert _row(Company, w.company_a.id) == before


@pytest.mark.parametrize("field", ["owner_id", "deleted_at", "deleted_by_id", "role", "team_id", "claimed_until",
                                   "claimed_at", "id", "created_at", "search_text", "name_norm", "updated_at"])
def test_api_patch_with_a_protected_field_changes_only_allowed_columns(app, field):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    value = {"owner_id": w.b.id, "deleted_by_id": w.b.id, "team_id": w.team2.id, "id": 4242}.get(
        field, _hostile_extras(w).get(field, "2000-01-01T00:00:00"))
    before = _row(Company, w.company_a.id)
    response = client.patch(f"/api/v1/companies/{w.company_a.id}", headers=headers,
                            json={"version": before["version"], "name": "接口改名企业有限公司", field: value})
    after = _row(Company, w.company_a.id)
    assert response.status_code in (200, 403, 422), response.json
    if response.status_code == 200:
        assert after["name"] == "接口改名企业有限公司"
        assert _changed(before, after) <= EDITABLE_BY_NAME_CHANGE
        assert response.json["owner_id"] == w.a.id and response.json["id"] == w.company_a.id
    else:
        assert after == before
        assert "error" in response.json
    assert after["owner_id"] == w.a.id and after["deleted_at"] is None


def test_api_patch_with_a_stale_version_changes_nothing(app):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    before = _row(Company, w.company_a.id)
    response = client.patch(f"/api/v1/companies/{w.company_a.id}", headers=headers,
                            json={"version": before["version"] - 1, "name": "旧版本覆盖"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert _row(Company, w.company_a.id) == before


def test_api_create_ignores_server_fields_and_refuses_another_owner(app):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    count = db.session.scalar(select(db.func.count()).select_from(Company))
    refused = client.post("/api/v1/companies", headers=headers,
                          json={"name": "替别人建企业有限公司", "owner_id": w.b.id})
    assert refused.status_code == 403
    assert db.session.scalar(select(db.func.count()).select_from(Company)) == count
    created = client.post("/api/v1/companies", headers=headers, json={
        "name": "自建企业有限公司", "id": 4242, "version": 50, "deleted_at": "2020-01-01T00:00:00",
        "deleted_by_id": w.b.id, "claimed_until": "2099-01-01T00:00:00", "search_text": "x", "role": "admin"})
    assert created.status_code == 201, created.json
    row = _row(Company, created.json["id"])
    assert row["id"] != 4242 and row["version"] < 50 and row["deleted_at"] is None and row["deleted_by_id"] is None
    assert row["owner_id"] == w.a.id and row["claimed_until"].year < 2099 and row["search_text"] != "x"
    assert _row(User, w.a.id)["role"] == "officer"


def test_contact_cannot_be_moved_to_another_company(app):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    contact = _row(Contact, w.contact_a.id)
    response = client.patch(f"/api/v1/contacts/{w.contact_a.id}", headers=headers,
                            json={"version": contact["version"], "title": "总经理", "company_id": w.company_b.id,
                                  "deleted_at": "2020-01-01T00:00:00"})
    assert response.status_code in (200, 403, 422)
    after = _row(Contact, w.contact_a.id)
    assert after["company_id"] == w.company_a.id and after["deleted_at"] is None
    page = client.get(f"/contacts/{w.contact_a.id}/edit").get_data(as_text=True)
    data = form_values(page)
    assert client.post(f"/contacts/{w.contact_a.id}/edit",
                       data={**data, "company_id": str(w.company_b.id), "name": "改名联系人"}).status_code == 302
    after = _row(Contact, w.contact_a.id)
    assert after["name"] == "改名联系人" and after["company_id"] == w.company_a.id


def test_profile_form_cannot_raise_role_or_change_team(app):
    w = two_teams()
    client = client_for(app, w.a)
    before = _row(User, w.a.id)
    client.post("/profile", data={"action": "locale", "loc-locale": "en", "role": "admin", "team_id": str(w.team2.id),
                                  "is_active_user": "y", "email": "other@test.zone"})
    after = _row(User, w.a.id)
    assert (after["role"], after["team_id"], after["email"]) == (before["role"], before["team_id"], before["email"])
    assert _changed(before, after) <= {"locale", "version", "updated_at"}


# --- AC-7: soft-deleted companies are invisible ---------------------------------------------------------------------

def test_soft_deleted_company_disappears_everywhere_until_restored(app):
    w = two_teams()
    officer = client_for(app, w.a)
    company, contact = w.company_a, w.contact_a
    name = company.name
    response = officer.post(f"/companies/{company.id}/delete", data={"version": company.version})
    assert response.status_code == 302
    assert db.session.get(Company, company.id).deleted_at is not None
    manager = client_for(app, w.manager)
    for client, user in ((officer, w.a), (manager, w.manager)):
        headers = api_headers(app, user)
        assert client.get(f"/companies/{company.id}").status_code == 404
        assert client.get(f"/companies/{company.id}/edit").status_code == 404
        assert client.get(f"/contacts/{contact.id}/edit").status_code == 404
        assert client.post(f"/companies/{company.id}/claim").status_code == 404
        assert name not in client.get("/companies?per_page=200").get_data(as_text=True)
        assert name not in client.get("/companies?q=宏达").get_data(as_text=True)
        assert name not in client.get("/companies?q=13600136000").get_data(as_text=True)
        assert name not in _names_in_export(client.get("/companies/export.xlsx").data)
        assert name not in client.get("/companies/check-duplicates", query_string={"name": name}).get_data(
            as_text=True)
        api_names = [c["name"] for c in client.get("/api/v1/companies?per_page=200", headers=headers).json["items"]]
        assert name not in api_names and api_names
        assert client.get(f"/api/v1/companies/{company.id}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/companies/{company.id}/contacts", headers=headers).status_code == 404
        assert client.patch(f"/api/v1/contacts/{contact.id}", headers=headers,
                            json={"version": 1, "name": "x"}).status_code == 404
    assert officer.get("/companies/trash").status_code == 403
    assert officer.post(f"/companies/{company.id}/restore").status_code == 403
    trash = manager.get("/companies/trash")
    assert trash.status_code == 200 and name in trash.get_data(as_text=True)
    assert w.deleted_b.name in trash.get_data(as_text=True)
    restored = manager.post(f"/companies/{company.id}/restore")
    assert restored.status_code == 302
    assert officer.get(f"/companies/{company.id}").status_code == 200
    assert name in officer.get("/companies?q=宏达").get_data(as_text=True)
    assert name not in manager.get("/companies/trash").get_data(as_text=True)


def test_deleted_contact_leaves_the_page_the_api_and_search(app):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    response = client.post(f"/contacts/{w.contact_a.id}/delete", data={"version": w.contact_a.version})
    assert response.status_code == 302
    page = BeautifulSoup(client.get(f"/companies/{w.company_a.id}").get_data(as_text=True), "html.parser")
    assert w.contact_a.name not in [s.get_text() for s in page.select(".list-group-item strong")]
    assert client.get(f"/api/v1/companies/{w.company_a.id}/contacts", headers=headers).json["items"] == []
    assert w.company_a.name not in client.get("/companies?q=13600136000").get_data(as_text=True)
    assert client.get(f"/contacts/{w.contact_a.id}/edit").status_code == 404


# --- AC-9: the audit trail ------------------------------------------------------------------------------------------

def _audit_dump() -> str:
    db.session.rollback()
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    return "\n".join(json.dumps({"action": e.action, "label": e.label, "changes": e.changes, "ip": e.ip},
                                ensure_ascii=False, default=str) for e in rows)


def _events(action: str, **where) -> list[AuditEvent]:
    db.session.rollback()
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, key) == value)
    return list(db.session.scalars(stmt.order_by(AuditEvent.id)))


def test_sign_in_success_and_failure_are_audited_without_secrets(app, caplog):
    caplog.set_level(logging.DEBUG)
    user = make_user(email="wang@test.zone")
    wrong = "Wr0ng-but-secret-passphrase"
    client = client_for(app)
    client.post("/login", data={"email": user.email, "password": wrong})
    client.post("/login", data={"email": "nobody@test.zone", "password": wrong})
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    failed = _events("login_failed")
    assert [(e.object_id, e.label, e.actor_id) for e in failed] == [(user.id, user.email, None),
                                                                      (None, "nobody@test.zone", None)]
    ok = _events("login", actor_id=user.id)
    assert len(ok) == 1 and ok[0].ip == "127.0.0.1" and ok[0].at is not None
    dump = _audit_dump()
    assert wrong not in dump and PASSWORD not in dump and "scrypt" not in dump
    assert wrong not in caplog.text and PASSWORD not in caplog.text


def test_export_is_audited_with_its_row_count(app):
    w = two_teams()
    client = client_for(app, w.a)
    response = client.get("/companies/export.xlsx")
    assert response.status_code == 200
    rows = _names_in_export(response.data)
    events = _events("export", actor_id=w.a.id)
    assert len(events) == 1
    assert events[0].changes["rows"][1] == len(rows) == 2
    assert set(rows) == {w.company_a.name, w.pool.name}
    assert events[0].ip == "127.0.0.1"


def test_role_change_and_password_reset_are_audited(app):
    w = two_teams()
    admin = client_for(app, w.admin)
    data = form_values(admin.get(f"/admin/users/{w.b.id}").get_data(as_text=True), "form[method=post]")
    assert admin.post(f"/admin/users/{w.b.id}", data={**data, "role": "manager"}).status_code == 302
    new_password = "a brand new long password 99"
    assert admin.post(f"/admin/users/{w.b.id}/password", data={"password": new_password}).status_code == 302
    change = [e for e in _events("update", object_type="user", object_id=w.b.id) if "role" in (e.changes or {})]
    assert len(change) == 1
    assert change[0].changes["role"] == ["officer", "manager"] and change[0].actor_id == w.admin.id
    reset = _events("password_reset", object_id=w.b.id)
    assert len(reset) == 1 and reset[0].actor_id == w.admin.id
    dump = _audit_dump()
    assert new_password not in dump and "password_hash" not in dump and "scrypt:" not in dump


def test_delete_and_restore_are_audited_with_actor(app):
    w = two_teams()
    officer, manager = client_for(app, w.a), client_for(app, w.manager)
    officer.post(f"/companies/{w.company_a.id}/delete", data={"version": w.company_a.version})
    manager.post(f"/companies/{w.company_a.id}/restore")
    deleted = _events("delete", object_type="company", object_id=w.company_a.id)
    restored = _events("restore", object_type="company", object_id=w.company_a.id)
    assert [e.actor_id for e in deleted] == [w.a.id]
    assert [e.actor_id for e in restored] == [w.manager.id]
    assert deleted[0].label == w.company_a.name and deleted[0].ip == "127.0.0.1"


def test_audit_rows_hold_no_full_phone_number_token_or_password(app):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    client.post(f"/companies/{w.company_a.id}/contacts/new", data={"name": "新联系人", "mobile": "13812345678"})
    created = client.post(f"/api/v1/companies/{w.company_a.id}/contacts", headers=headers,
                          json={"name": "接口联系人", "mobile": "+86 139-8765-4321"})
    assert created.status_code == 201
    patched = client.patch(f"/api/v1/contacts/{created.json['id']}", headers=headers,
                           json={"version": created.json["version"], "mobile": "13711112222"})
    assert patched.status_code == 200
    token = headers["Authorization"].split()[1]
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    new_password = "my next long password 2025"
    assert client.post("/profile", data={"action": "password", "pw-current": PASSWORD,
                                         "pw-new": new_password}).status_code == 302
    dump = _audit_dump()
    for secret in ("13812345678", "13987654321", "13711112222", new_password, PASSWORD, token):
        assert secret not in dump
    assert "138****5678" in dump and "137****2222" in dump
    assert _events("password_changed", actor_id=w.a.id) and _events("token_revoked", actor_id=w.a.id)


def test_cr_lf_in_names_cannot_forge_a_second_audit_line(app):
    w = two_teams()
    client, headers = client_for(app, w.a), api_headers(app, w.a)
    forged = "正常企业有限公司\r\n2025-01-01 10:00 admin login 127.0.0.1"
    created = client.post("/api/v1/companies", headers=headers, json={"name": forged, "notes": "第一行\r\n第二行"})
    assert created.status_code == 201
    assert "\n" not in created.json["name"] and "\r" not in created.json["name"]
    form = client.post("/companies/new", data={"name": "表单企业\nlogin_failed admin", "status": "prospect",
                                               "listing_status": "none"})
    assert form.status_code == 302
    legacy = make_company("导入企业\r\nrestore admin", owner=w.a)  # legacy data that bypassed the validation
    data = form_values(client.get(f"/companies/{legacy.id}/edit").get_data(as_text=True))
    client.post(f"/companies/{legacy.id}/edit", data={**data, "notes": "改备注"})
    anonymous = client_for(app)
    assert anonymous.post("/login", data={"email": "x@test.zone\r\nlogin ok admin@test.zone",
                                          "password": "whatever"}).status_code == 401
    assert _events("login_failed")
    db.session.rollback()
    labels = db.session.scalars(select(AuditEvent.label).where(AuditEvent.label.is_not(None))).all()
    assert len(labels) > 5
    for label in labels:
        assert "\r" not in label and "\n" not in label, repr(label)
    names = db.session.scalars(select(Company.name).where(Company.id != legacy.id)).all()
    assert all("\n" not in n and "\r" not in n for n in names)
