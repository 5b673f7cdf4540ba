"""Input validation and injection (RELIABILITY.md section B): IV-1 stored XSS, IV-2 template injection, IV-3 SQL
injection and LIKE wildcards, IV-5 USCC and phone rules, IV-6 security headers and error pages; plus the issue's
"bad input" list for the pages (10,000-character names, HTML everywhere, stale versions)."""
import io
import re
import secrets
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from sqlalchemy import func, select

from config import DEV_SECRET_KEY
from crm import create_app
from crm.companies.models import Company, Contact
from crm.extensions import db

from ..factories import make_company, make_contact, make_reference, make_user
from .helpers import (
    api_headers,
    client_for,
    company_ids_in,
    executable_content,
    form_values,
    page_text,
    side_app,
    two_teams,
)

ROOT = Path(__file__).resolve().parents[2]

# --- IV-1: stored XSS in every output context -----------------------------------------------------------------------

XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</script><script>alert(1)</script>",
       "'><svg/onload=alert(1)>", "javascript:alert(1)//"]


def _assert_inert(html: str, shown: str | None = None, where: str = "") -> None:
    assert executable_content(html) == [], where
    if shown is not None:
        assert shown in page_text(html), f"{where}: the value is not shown as text"


def _field_errors(html: str, field_id: str) -> list[str]:
    """Messages shown next to a form field (in the same field block)."""
    soup = BeautifulSoup(html, "html.parser")
    field = soup.find(id=field_id)
    assert field is not None, f"no field #{field_id}"
    return [e.get_text(strip=True) for e in field.parent.select(".invalid-feedback")]


@pytest.mark.parametrize("payload", XSS)
def test_stored_script_is_inert_on_every_page(app, payload):
    make_reference()
    holder = make_user(name=f"{payload}王")
    manager, admin = make_user("manager"), make_user("admin")
    officer = client_for(app, holder)
    name = f"{payload} 科技有限公司"
    created = officer.post("/companies/new", data={
        "name": name, "short_name": payload[:100], "address": payload, "notes": payload, "status": "prospect",
        "listing_status": "none", "chain_tags": "<b>PCB</b>", "contact_name": payload, "contact_title": payload,
        "contact_mobile": "13800138000"})
    assert created.status_code == 302, created.get_data(as_text=True)[:500]
    company = db.session.scalar(select(Company))
    contact = db.session.scalar(select(Contact))
    assert company.name == name and contact.name == payload  # stored as typed, escaped only on output
    edited = officer.post(f"/contacts/{contact.id}/edit", data={
        "name": payload, "title": payload, "wechat": payload[:100], "notes": payload, "mobile": "13800138000",
        "version": contact.version})
    assert edited.status_code == 302

    pages = {
        "list": officer.get("/companies"),
        "search echo": officer.get("/companies", query_string={"q": payload}),
        "detail": officer.get(f"/companies/{company.id}"),
        "edit form": officer.get(f"/companies/{company.id}/edit"),
        "contact form": officer.get(f"/contacts/{contact.id}/edit"),
        "home": officer.get("/"),
        "duplicate check": officer.get("/companies/check-duplicates", query_string={"name": name}),
    }
    for where, response in pages.items():
        assert response.status_code == 200, where
        _assert_inert(response.get_data(as_text=True), payload, where)

    # the edit form re-rendered after a validation error keeps the typed value, inert
    invalid = officer.post(f"/companies/{company.id}/edit", data={
        **form_values(pages["edit form"].get_data(as_text=True)), "name": payload + "x", "uscc": "not-a-code"})
    assert invalid.status_code == 422
    _assert_inert(invalid.get_data(as_text=True), payload + "x", "edit form after an error")
    assert BeautifulSoup(invalid.get_data(as_text=True), "html.parser").find(id="name")["value"] == payload + "x"
    new_invalid = officer.post("/companies/new", data={"name": payload, "notes": payload, "uscc": "bad",
                                                       "status": "prospect", "listing_status": "none"})
    assert new_invalid.status_code == 422
    _assert_inert(new_invalid.get_data(as_text=True), payload, "new form after an error")

    # the duplicate warning and its flash message name the look-alike and its holder
    duplicate = officer.post("/companies/new", data={"name": name, "status": "prospect", "listing_status": "none"})
    assert duplicate.status_code == 409
    html = duplicate.get_data(as_text=True)
    _assert_inert(html, name, "duplicate warning")
    assert BeautifulSoup(html, "html.parser").select(".alert-warning")

    # a flash message naming another company: a second company gets a contact with the same phone
    other = make_company("另一家企业有限公司", owner=holder)
    flashed = officer.post(f"/companies/{other.id}/contacts/new", data={"name": "李芳", "mobile": "13800138000"},
                           follow_redirects=True)
    assert flashed.status_code == 200
    alerts = BeautifulSoup(flashed.get_data(as_text=True), "html.parser").select(".alert")
    assert any(name in a.get_text() for a in alerts), "the flash names the other company"
    _assert_inert(flashed.get_data(as_text=True), name, "flash message")

    # managers' views: the trash after deletion, and the admin audit log
    officer.post(f"/companies/{company.id}/delete", data={"version": db.session.get(Company, company.id).version})
    trash = client_for(app, manager).get("/companies/trash")
    _assert_inert(trash.get_data(as_text=True), name, "trash")
    audit = client_for(app, admin).get("/admin/audit?per_page=200")
    _assert_inert(audit.get_data(as_text=True), payload, "audit log")


def test_api_returns_stored_markup_as_json_strings(app):
    officer = make_user()
    client, headers = client_for(app, officer), api_headers(app, officer)
    created = client.post("/api/v1/companies", headers=headers, json={"name": XSS[0], "notes": XSS[1]})
    assert created.status_code == 201
    assert created.mimetype == "application/json"
    got = client.get(f"/api/v1/companies/{created.json['id']}", headers=headers)
    assert got.json["name"] == XSS[0] and got.json["notes"] == XSS[1]
    assert got.headers["X-Content-Type-Options"] == "nosniff"


# --- IV-2: template injection ---------------------------------------------------------------------------------------

TEMPLATE_PAYLOADS = ["{{7*7}}", "{{config}}", "{{ config.SECRET_KEY }}", "{% print(7*7) %}", "${7*7}", "#{7*7}"]


@pytest.mark.parametrize("payload", TEMPLATE_PAYLOADS)
def test_template_syntax_in_data_is_shown_literally(app, payload):
    make_reference()
    officer = make_user(name=payload)
    client = client_for(app, officer)
    name = f"{payload}有限公司"
    response = client.post("/companies/new", data={"name": name, "notes": payload, "status": "prospect",
                                                   "listing_status": "none", "contact_name": payload},
                           follow_redirects=True)
    assert response.status_code == 200
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert soup.select_one("h2.page-title").get_text(strip=True) == name
    assert soup.select_one("dd.notes").get_text(strip=True) == payload
    html = response.get_data(as_text=True)
    assert app.config["SECRET_KEY"] not in html and "SQLALCHEMY" not in html and "&lt;Config" not in html
    listing = client.get("/companies").get_data(as_text=True)
    assert name in page_text(listing) and "49有限公司" not in listing


def _source_files():
    for folder, pattern in (("crm", "*.py"), ("templates", "*"), ("worker", "*.py")):
        for path in sorted((ROOT / folder).rglob(pattern)):
            if path.is_file() and path.suffix in {".py", ".html", ".htm", ".xml", ".txt", ".j2", ".jinja"}:
                yield path


UNSAFE_PATTERNS = {
    "render_template_string": re.compile(r"render_template_string"),
    "|safe filter": re.compile(r"\|\s*safe\b"),
    "Markup(": re.compile(r"\bMarkup\s*\("),
    "autoescape off": re.compile(r"autoescape\s*(=\s*False|false)", re.IGNORECASE),
    "bare jinja2 Environment": re.compile(r"jinja2\.Environment\s*\(|^\s*from jinja2 import .*\bEnvironment\b",
                                          re.MULTILINE),
    "from_string": re.compile(r"\.from_string\s*\("),
}


def test_no_unsafe_rendering_in_the_code():
    """Static check (IV-2): user data can reach a page only through autoescaped .html templates."""
    hits = []
    files = list(_source_files())
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        for label, pattern in UNSAFE_PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                hits.append(f"{path.relative_to(ROOT)}:{line}: {label}")
    assert hits == []


def test_every_template_is_autoescaped(app):
    templates = sorted(p for p in (ROOT / "templates").rglob("*") if p.is_file())
    assert templates
    autoescape = app.jinja_env.autoescape
    for path in templates:
        name = str(path.relative_to(ROOT / "templates"))
        enabled = autoescape(name) if callable(autoescape) else autoescape
        assert enabled is True, f"{name} would render without autoescaping (Flask escapes only .html/.xml)"


def test_the_html_check_finds_executable_content():
    """The checker the XSS tests rely on does see each kind of executable markup."""
    clean = '<p>&lt;script&gt;</p><script src="/static/js/app.js"></script><a href="/companies/1">x</a>'
    assert executable_content(clean) == []
    for bad in ("<script>alert(1)</script>", '<script src="//evil.test/x.js"></script>', '<img src=x onerror=a()>',
                '<svg/onload=alert(1)>', '<a href=" javascript:alert(1)">x</a>', '<iframe src="/"></iframe>',
                '<base href="//evil.test/">', '<form action="javascript:x()"></form>'):
        assert executable_content(bad), bad


# --- IV-3: SQL injection, LIKE wildcards, hostile sort and paging ---------------------------------------------------

SEARCH_NAMES = {
    "percent": "百分之百%科技有限公司",
    "underscore": "下划线_智能有限公司",
    "backslash": "反斜杠\\企业有限公司",
    "quote": "O'Reilly电子有限公司",
    "plain": "普通企业有限公司",
    "plain2": "普通材料有限公司",
}
#: q → the keys of SEARCH_NAMES it must find (and nothing else)
SEARCHES = [
    ("%", {"percent"}),
    ("％", {"percent"}),
    ("_", {"underscore"}),
    ("\\", {"backslash"}),
    ("%%", set()),
    ("%_%", set()),
    ("_%", set()),
    ("'", {"quote"}),
    ("' OR 1=1--", set()),
    ("' OR '1'='1", set()),
    ('" OR ""="', set()),
    ("1) OR (1=1", set()),
    ("'; DROP TABLE company; --", set()),
    ("普通", {"plain", "plain2"}),
    ("普通%", set()),
    ("\\%", set()),
    ("x" * 5000, set()),
    ("\x00", set(SEARCH_NAMES)),  # control characters are ignored: an empty search lists everything visible
    ("企业\x00", {"backslash", "plain"}),
    ("%00", set()),
]


def _search_world():
    make_reference()
    officer = make_user()
    ids = {key: make_company(name).id for key, name in SEARCH_NAMES.items()}
    return officer, ids


def test_search_is_parameterised_and_wildcards_match_themselves(app):
    officer, ids = _search_world()
    client, headers = client_for(app, officer), api_headers(app, officer)
    for q, keys in SEARCHES:
        expected = {ids[k] for k in keys}
        page = client.get("/companies", query_string={"q": q, "per_page": 200})
        assert page.status_code == 200, repr(q)
        assert company_ids_in(page.get_data(as_text=True)) == expected, repr(q)
        api = client.get("/api/v1/companies", query_string={"q": q, "per_page": 200}, headers=headers)
        assert api.status_code == 200, repr(q)
        assert {c["id"] for c in api.json["items"]} == expected and api.json["total"] == len(expected), repr(q)
        export = client.get("/companies/export.xlsx", query_string={"q": q})
        assert export.status_code == 200, repr(q)
        rows = list(load_workbook(io.BytesIO(export.data), read_only=True).active.iter_rows(values_only=True))
        assert {r[0] for r in rows[1:]} == {SEARCH_NAMES[k] for k in keys}, repr(q)
    assert db.session.scalar(select(func.count()).select_from(Company)) == len(SEARCH_NAMES)


HOSTILE_FILTERS = [
    {"sort": "name;DROP TABLE company"},
    {"sort": "(CASE WHEN 1=1 THEN name ELSE id END)"},
    {"sort": "id desc"},
    {"sort": "updated,desc"},
    {"sort": "name DESC NULLS FIRST"},
    {"sort": "__class__"},
    {"sort": "x" * 2000},
    {"dir": "desc,id"},
    {"page": "-1"}, {"page": "0"}, {"page": "abc"}, {"page": "1e9"}, {"page": "9" * 40}, {"page": "1;DROP TABLE x"},
    {"page": "NaN"}, {"page": "\x00"}, {"page": "２"},
    {"per_page": "0"}, {"per_page": "-5"}, {"per_page": "100000"}, {"per_page": "abc"}, {"per_page": "1 OR 1=1"},
    {"owner_id": "1 OR 1=1"}, {"owner_id": "-1"}, {"owner_id": "9" * 40},
    {"cluster": "' OR '1'='1"}, {"status": "prospect' OR '1'='1"}, {"origin_city": "\x00"},
    {"pool": "'; DELETE FROM company; --"},
]


@pytest.mark.parametrize("query", HOSTILE_FILTERS, ids=lambda q: repr(q)[:40])
def test_hostile_sort_page_and_filter_values_are_harmless(app, query):
    officer, ids = _search_world()
    client, headers = client_for(app, officer), api_headers(app, officer)
    page = client.get("/companies", query_string=query)
    assert page.status_code in (200, 400), page.status_code
    api = client.get("/api/v1/companies", query_string=query, headers=headers)
    assert api.status_code in (200, 400)
    export = client.get("/companies/export.xlsx", query_string=query)
    assert export.status_code in (200, 400)
    if api.status_code == 200:
        body = api.json
        assert 1 <= body["per_page"] <= 200 and body["page"] >= 1
        found = {c["id"] for c in body["items"]}
        assert found <= set(ids.values())
        if any("'" in v for k, v in query.items() if k in {"cluster", "status", "origin_city"}):
            assert found == set(), "a quoted filter value matched rows: it was not a bound parameter"
        if set(query) <= {"sort", "dir"}:
            default = client.get("/api/v1/companies", headers=headers).json["items"]
            assert [c["id"] for c in body["items"]] == [c["id"] for c in default], "unknown sort: default order"
    assert db.session.scalar(select(func.count()).select_from(Company)) == len(SEARCH_NAMES)


def test_page_beyond_the_end_is_empty_not_an_error(app):
    officer, _ids = _search_world()
    client, headers = client_for(app, officer), api_headers(app, officer)
    assert client.get("/companies?page=999").status_code == 200
    body = client.get("/api/v1/companies?page=999&per_page=5", headers=headers).json
    assert body["items"] == [] and body["total"] == len(SEARCH_NAMES)
    assert client.get("/api/v1/companies?per_page=100000", headers=headers).json["per_page"] == 200


# --- IV-5: unified social credit code and phone numbers, through the form and the API -------------------------------

USCC_CASES = [
    ("91350200776049653A", "91350200776049653A"),
    ("91350200776049653a", "91350200776049653A"),
    ("９１３５０２００７７６０４９６５３Ａ", "91350200776049653A"),
    (" 9135 0200 7760 4965 3A ", "91350200776049653A"),
    ("913502115628130384", "913502115628130384"),
    ("91350200776049653B", None),
    ("913502007I6049653A", None),
    ("913502007O6049653A", None),
    ("913502007S6049653A", None),
    ("913502007V6049653A", None),
    ("913502007Z6049653A", None),
    ("91350200776049653", None),
    ("91350200776049653AA", None),
    ("9135020077604965", None),
    ("<script>alert(1)</script>", None),
    ("９１３５０２００７７６０４９６５３Ｂ", None),
]


@pytest.mark.parametrize(("raw", "stored"), USCC_CASES, ids=[repr(c[0]) for c in USCC_CASES])
def test_uscc_through_the_form(app, raw, stored):
    make_reference()
    client = client_for(app, make_user())
    response = client.post("/companies/new", data={"name": "代码测试有限公司", "uscc": raw, "status": "prospect",
                                                   "listing_status": "none"})
    company = db.session.scalar(select(Company))
    if stored:
        assert response.status_code == 302
        assert company.uscc == stored
    else:
        assert response.status_code == 422
        assert company is None
        messages = _field_errors(response.get_data(as_text=True), "uscc")
        assert messages and all(m for m in messages)
        assert _field_errors(response.get_data(as_text=True), "name") == []


@pytest.mark.parametrize(("raw", "stored"), USCC_CASES, ids=[repr(c[0]) for c in USCC_CASES])
def test_uscc_through_the_api(app, raw, stored):
    officer = make_user()
    client, headers = client_for(app, officer), api_headers(app, officer)
    response = client.post("/api/v1/companies", headers=headers, json={"name": "代码测试有限公司", "uscc": raw})
    if stored:
        assert response.status_code == 201, response.json
        assert response.json["uscc"] == stored
    else:
        assert response.status_code == 422
        error = response.json["error"]
        assert error["code"] == "validation_error" and set(error["fields"]) == {"uscc"} and error["fields"]["uscc"]
        assert db.session.scalar(select(func.count()).select_from(Company)) == 0


def test_uscc_messages_say_what_is_wrong(app):
    officer = make_user()
    client, headers = client_for(app, officer), api_headers(app, officer)
    messages = {}
    for raw in ("91350200776049653B", "91350200776049653", "913502007I6049653A"):
        response = client.post("/api/v1/companies", headers=headers, json={"name": "代码测试有限公司", "uscc": raw})
        messages[raw] = response.json["error"]["fields"]["uscc"][0]
    assert len(set(messages.values())) >= 2, "a wrong check character and a wrong length get different messages"


PHONE_CASES = [
    ("+86 138-0013-8000", "13800138000"),
    ("13800138000", "13800138000"),
    ("010-12345678", "010-12345678"),
    ("0796 8123456", "0796-8123456"),
    ("（0796）8123456", "0796-8123456"),
    ("+852 9123 4567", "+852 91234567"),
    ("call me maybe", None),
    ("138-0013-800", None),
    ("+1 415 555 0100", None),
    ("1380013800012345", None),
    ("<b>13800138000</b>", None),
]


@pytest.mark.parametrize(("raw", "stored"), PHONE_CASES, ids=[repr(c[0]) for c in PHONE_CASES])
def test_phone_through_the_forms_and_the_api(app, raw, stored):
    make_reference()
    officer = make_user()
    client, headers = client_for(app, officer), api_headers(app, officer)
    company = make_company("电话测试有限公司", owner=officer)
    # the contact form
    response = client.post(f"/companies/{company.id}/contacts/new", data={"name": "王经理", "mobile": raw})
    if stored:
        assert response.status_code == 302
        assert db.session.scalar(select(Contact.mobile).where(Contact.name == "王经理")) == stored
    else:
        assert response.status_code == 422
        assert _field_errors(response.get_data(as_text=True), "mobile")
    # the first contact on the new-company form
    response = client.post("/companies/new", data={"name": "电话新建有限公司", "contact_name": "李芳",
                                                   "contact_mobile": raw, "status": "prospect",
                                                   "listing_status": "none", "allow_duplicate": "y"})
    if stored:
        assert response.status_code == 302
        assert db.session.scalar(select(Contact.mobile).where(Contact.name == "李芳")) == stored
    else:
        assert response.status_code == 422
        assert _field_errors(response.get_data(as_text=True), "contact_mobile")
        assert db.session.scalar(select(Company).where(Company.name == "电话新建有限公司")) is None
    # the API, on its own and nested in a new company
    api = client.post(f"/api/v1/companies/{company.id}/contacts", headers=headers, json={"name": "赵六", "mobile": raw})
    nested = client.post("/api/v1/companies", headers=headers, json={
        "name": "接口电话有限公司", "allow_duplicate": True, "contacts": [{"name": "钱七", "mobile": raw}]})
    if stored:
        assert api.status_code == 201 and api.json["mobile"] == stored
        assert nested.status_code == 201
    else:
        assert api.status_code == 422 and set(api.json["error"]["fields"]) == {"mobile"}
        assert nested.status_code == 422 and set(nested.json["error"]["fields"]) == {"contacts.0.mobile"}
        assert db.session.scalar(select(Company).where(Company.name == "接口电话有限公司")) is None


# --- IV-6: security headers and error pages -------------------------------------------------------------------------

def _check_headers(response, where: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ")[0]: d.strip().split(" ")[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("object-src") == ["'none'"], where
    assert directives.get("base-uri") == ["'none'"], where
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert "'unsafe-inline'" not in directives.get("script-src", directives.get("default-src", [])), where
    assert "'unsafe-eval'" not in csp, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") in {"no-referrer", "same-origin", "strict-origin",
                                                       "strict-origin-when-cross-origin"}, where


def test_security_headers_on_every_kind_of_response(app):
    w = two_teams()
    anonymous, officer, liaison = client_for(app), client_for(app, w.a), client_for(app, w.liaison)
    headers = api_headers(app, w.a)
    responses = {
        "login page": (anonymous.get("/login"), 200),
        "redirect to sign-in": (anonymous.get("/companies"), 302),
        "404 anonymous": (anonymous.get("/no/such/page"), 404),
        "list": (officer.get("/companies"), 200),
        "detail": (officer.get(f"/companies/{w.company_a.id}"), 200),
        "404 record": (officer.get(f"/companies/{w.company_b.id}"), 404),
        "403 page": (officer.get("/admin/users"), 403),
        "403 liaison": (liaison.get("/companies"), 403),
        "405": (officer.delete("/companies"), 405),
        "export": (officer.get("/companies/export.xlsx"), 200),
        "static js": (anonymous.get("/static/js/app.js"), 200),
        "static css": (anonymous.get("/static/css/app.css"), 200),
        "api list": (officer.get("/api/v1/companies", headers=headers), 200),
        "api 404": (officer.get(f"/api/v1/companies/{w.company_b.id}", headers=headers), 404),
        "api 401": (anonymous.get("/api/v1/companies"), 401),
        "api 400": (officer.post("/api/v1/companies", headers=headers, data="{", content_type="application/json"),
                    400),
        "openapi": (anonymous.get("/api/v1/openapi.json"), 200),
        "healthz": (anonymous.get("/healthz"), 200),
    }
    for where, (response, status) in responses.items():
        assert response.status_code == status, where
        _check_headers(response, where)
    assert "attachment" in responses["export"][0].headers["Content-Disposition"]
    assert responses["list"][0].headers.get("Cache-Control") == "no-store"


def test_500_page_shows_no_stack_trace_or_config(app):
    with side_app(app) as other:
        @other.get("/boom")
        def boom():
            raise RuntimeError("boom-marker with /etc/secret path")

        @other.get("/api/v1/boom")
        def api_boom():
            raise KeyError("api-boom-marker")

        client = other.test_client()
        page, api = client.get("/boom"), client.get("/api/v1/boom")
    assert page.status_code == 500 and api.status_code == 500
    for response in (page, api):
        body = response.get_data(as_text=True)
        for leak in ("Traceback", "boom-marker", "RuntimeError", "KeyError", ".py", "/etc/secret",
                     app.config["SECRET_KEY"], "SQLALCHEMY", "File \""):
            assert leak not in body, leak
        _check_headers(response, response.request.path)
    assert api.json["error"]["code"] == "server_error"
    assert BeautifulSoup(page.get_data(as_text=True), "html.parser").select_one(".empty-header").get_text() == "500"


@pytest.mark.parametrize("overrides", [
    {"SECRET_KEY": DEV_SECRET_KEY},
    {"SECRET_KEY": ""},
    {"SECRET_KEY": "short-key"},
    {"SECRET_KEY": secrets.token_hex(32), "DEBUG": True},
], ids=["dev key", "empty key", "short key", "debug on"])
def test_production_config_refuses_to_start_unsafe(app, overrides):
    with pytest.raises(RuntimeError):
        create_app("production", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], **overrides)


def test_production_config_starts_with_a_real_key_and_sends_hsts(app):
    with side_app(app, "production", SECRET_KEY=secrets.token_hex(32)) as prod:
        assert prod.debug is False and prod.config["SESSION_COOKIE_SECURE"] is True
        assert prod.config["SESSION_COOKIE_HTTPONLY"] is True and prod.config["REMEMBER_COOKIE_SECURE"] is True
        response = prod.test_client().get("/healthz", base_url="https://crm.example.test")
    assert response.status_code == 200
    hsts = response.headers.get("Strict-Transport-Security", "")
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 31536000 and "includeSubDomains" in hsts
    _check_headers(response, "production")


# --- Bad input on the pages (the list; the API's own cases live in tests/api/test_bad_input.py) ------------

def test_10000_character_name_gets_a_message_by_the_field(app):
    make_reference()
    officer = make_user()
    client, headers = client_for(app, officer), api_headers(app, officer)
    huge = "企" * 10_000
    response = client.post("/companies/new", data={"name": huge, "notes": "n" * 10_000, "status": "prospect",
                                                   "listing_status": "none"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _field_errors(html, "name") and _field_errors(html, "notes")
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0
    company = make_company("长名测试有限公司", owner=officer)
    contact = make_contact(company, name="王经理")
    data = form_values(client.get(f"/companies/{company.id}/edit").get_data(as_text=True))
    edit = client.post(f"/companies/{company.id}/edit", data={**data, "name": huge})
    assert edit.status_code == 422 and _field_errors(edit.get_data(as_text=True), "name")
    contact_edit = client.post(f"/contacts/{contact.id}/edit", data={"name": huge, "version": contact.version})
    assert contact_edit.status_code == 422 and _field_errors(contact_edit.get_data(as_text=True), "name")
    api = client.post("/api/v1/companies", headers=headers, json={"name": huge})
    assert api.status_code == 422 and "name" in api.json["error"]["fields"]
    patch = client.patch(f"/api/v1/companies/{company.id}", headers=headers,
                         json={"version": db.session.get(Company, company.id).version, "name": huge})
    assert patch.status_code == 422 and set(patch.json["error"]["fields"]) == {"name"}
    db.session.expire_all()
    assert db.session.get(Company, company.id).name == "长名测试有限公司"
    assert db.session.get(Contact, contact.id).name == "王经理"


@pytest.mark.parametrize("body", ["{", '{"name": }', "[1, 2]", "null", '"text"', "", "{'name': 'x'}"])
def test_malformed_json_on_writes_is_400_and_saves_nothing(app, body):
    officer = make_user()
    client, headers = client_for(app, officer), api_headers(app, officer)
    company = make_company("格式测试有限公司", owner=officer)
    contact = make_contact(company, name="王经理")
    before = (company.version, contact.version)
    for method, url in (("POST", "/api/v1/companies"), ("PATCH", f"/api/v1/companies/{company.id}"),
                        ("POST", f"/api/v1/companies/{company.id}/contacts"),
                        ("PATCH", f"/api/v1/contacts/{contact.id}")):
        response = client.open(url, method=method, data=body, content_type="application/json", headers=headers)
        assert response.status_code == 400, (method, url, response.status_code)
        assert response.json["error"]["code"] and "message" in response.json["error"]
    db.session.expire_all()
    assert (db.session.get(Company, company.id).version, db.session.get(Contact, contact.id).version) == before
    assert db.session.scalar(select(func.count()).select_from(Company)) == 1


def test_stale_version_in_the_edit_form_is_409_keeps_the_input_and_overwrites_nothing(app):
    make_reference()
    team_officer = make_user()
    manager = make_user("manager")
    company = make_company("版本测试有限公司", owner=team_officer)
    first, second = client_for(app, team_officer), client_for(app, manager)
    form_a = form_values(first.get(f"/companies/{company.id}/edit").get_data(as_text=True))
    form_b = form_values(second.get(f"/companies/{company.id}/edit").get_data(as_text=True))
    assert first.post(f"/companies/{company.id}/edit", data={**form_a, "notes": "A 的备注"}).status_code == 302
    late = second.post(f"/companies/{company.id}/edit", data={**form_b, "notes": "B 的备注", "address": "B 的地址"})
    assert late.status_code == 409
    soup = BeautifulSoup(late.get_data(as_text=True), "html.parser")
    assert soup.find(id="address")["value"] == "B 的地址", "the unsaved input stays in the form"
    assert soup.select(".alert-danger")
    db.session.expire_all()
    stored = db.session.get(Company, company.id)
    assert stored.notes == "A 的备注" and stored.address == ""
    assert stored.version == int(form_a["version"]) + 1


def test_stale_version_in_the_contact_form_is_409(app):
    officer = make_user()
    company = make_company("版本测试有限公司", owner=officer)
    contact = make_contact(company, name="王经理")
    client = client_for(app, officer)
    stale = contact.version
    assert client.post(f"/contacts/{contact.id}/edit", data={"name": "王总", "version": stale}).status_code == 302
    assert client.post(f"/contacts/{contact.id}/edit", data={"name": "王董", "version": stale}).status_code == 409
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).name == "王总"


def test_deleted_records_and_other_roles_pages(app):
    """The issue's last two bad inputs on the pages: a deleted record's URL is 404, another role's page 403."""
    w = two_teams()
    officer, liaison, manager = client_for(app, w.a), client_for(app, w.liaison), client_for(app, w.manager)
    for url in (f"/companies/{w.deleted_b.id}", f"/companies/{w.deleted_b.id}/edit",
                f"/contacts/{w.contact_deleted.id}/edit"):
        assert officer.get(url).status_code == 404
        assert manager.get(url).status_code == 404
    for url in ("/admin/users", "/admin/audit", "/companies/trash"):
        assert officer.get(url).status_code == 403
    for url in ("/admin/users", "/admin/settings"):
        assert manager.get(url).status_code == 403
    for url in ("/companies", "/companies/new", "/companies/export.xlsx"):
        assert liaison.get(url).status_code == 403
    assert liaison.get(f"/companies/{w.pool.id}").status_code == 404  # a record's page: not found (issue 6)
    page = BeautifulSoup(officer.get("/admin/users").get_data(as_text=True), "html.parser")
    assert page.select_one(".empty-header").get_text() == "403" and page.select_one(".empty-subtitle").get_text()
