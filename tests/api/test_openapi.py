"""GET /api/v1/openapi.json: a valid OpenAPI 3 document that matches the app's routes and observed statuses."""
import re

import pytest

from ..factories import VALID_USCC, make_company, make_reference, make_team, make_user

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    assert response.is_json
    return response.get_json()


def resolve(spec: dict, ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def walk(node, path=""):
    """Every (path, dict) in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def operations(spec: dict):
    for url, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield url, method, op


def test_document_is_valid_openapi_3(spec):
    try:
        from openapi_spec_validator import validate
    except ImportError:
        validate = None
    if validate is not None:
        validate(spec)
    # structural checks (always run, and stricter on a few points than the validator)
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"]["title"] and isinstance(spec["info"]["version"], str)
    assert isinstance(spec["paths"], dict) and spec["paths"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    for requirement in spec.get("security", []):
        assert set(requirement) <= set(schemes)
    for where, node in walk(spec):
        if "$ref" in node:
            assert isinstance(resolve(spec, node["$ref"]), dict), where
    seen_ids = set()
    for url, method, op in operations(spec):
        assert url.startswith("/api/v1/"), url
        assert op.get("summary"), (url, method)
        responses = op["responses"]
        assert responses, (url, method)
        for status, response in responses.items():
            assert re.fullmatch(r"[1-5]\d\d", status), (url, method, status)
            assert response.get("description"), (url, method, status)
            for media, content in response.get("content", {}).items():
                assert media == "application/json" and "schema" in content
        for requirement in op.get("security", []):
            assert set(requirement) <= set(schemes)
        if "requestBody" in op:
            assert method in {"post", "put", "patch"}, (url, method)
            assert "schema" in op["requestBody"]["content"]["application/json"]
        # every {name} in the path is declared as a required path parameter, and nothing more
        params = spec["paths"][url].get("parameters", []) + op.get("parameters", [])
        declared = {p["name"] for p in params if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", url)), (url, method)
        for p in params:
            assert p["in"] in {"path", "query", "header", "cookie"} and "schema" in p
            if p["in"] == "path":
                assert p["required"] is True
        key = op.get("operationId")
        if key:
            assert key not in seen_ids
            seen_ids.add(key)
    # record schemas carry the shared fields of every record
    for name in ("Company", "Contact"):
        props = spec["components"]["schemas"][name]["properties"]
        assert {"id", "version", "created_at", "updated_at"} <= set(props)
        assert props["updated_at"]["format"] == "date-time"
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert {"code", "message", "fields"} <= set(error)


def app_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        url = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((url, method.lower()))
    return routes


def test_every_api_route_is_documented_and_every_documented_route_exists(app, spec):
    routes = app_routes(app)
    documented = {(url, method) for url, method, _ in operations(spec)}
    assert ("/api/v1/companies/{company_id}", "patch") in routes  # the conversion works
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "documented operations the app does not have"


def test_documented_statuses_of_company_writes_are_the_ones_the_api_gives(app, client, spec):
    """Every status documented for POST /companies and PATCH /companies/{id} is observed here (and vice versa)."""
    make_reference()
    team = make_team()
    officer = make_user(team=team)
    mate = make_user(team=team)
    outsider = make_user(team=make_team())
    liaison = make_user("liaison")

    def token(user):
        response = client.post("/api/v1/auth/token",
                               json={"email": user.email, "password": "correct horse battery staple"})
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    def call(method, url, headers=None, **kwargs):
        return getattr(client, method)(url, headers=headers or {}, **kwargs).status_code

    me, other, theirs, no_role = token(officer), token(mate), token(outsider), token(liaison)
    make_company("已有企业有限公司", uscc=VALID_USCC[1])

    post = {
        call("post", "/api/v1/companies", me, json={"name": "新建企业有限公司", "uscc": VALID_USCC[0]}),
        call("post", "/api/v1/companies", me, data="{broken", content_type="application/json"),
        call("post", "/api/v1/companies", None, json={"name": "无令牌有限公司"}),
        call("post", "/api/v1/companies", no_role, json={"name": "联络员有限公司"}),
        call("post", "/api/v1/companies", me, json={"name": "撞单企业", "uscc": VALID_USCC[1]}),
        call("post", "/api/v1/companies", me, json={"name": "", "employees": -1}),
    }
    company = make_company("修改测试有限公司", owner=officer)
    url, version = f"/api/v1/companies/{company.id}", company.version
    patch = {
        call("patch", url, me, json={"version": version, "notes": "更新"}),
        call("patch", url, me, data="[1,", content_type="application/json"),
        call("patch", url, None, json={"version": version + 1, "notes": "x"}),
        call("patch", url, other, json={"version": version + 1, "notes": "x"}),
        call("patch", url, theirs, json={"version": version + 1, "notes": "x"}),
        call("patch", url, me, json={"version": version, "notes": "stale"}),
        call("patch", url, me, json={"version": version + 1, "revenue": "abc"}),
    }
    assert post == {201, 400, 401, 403, 409, 422}
    assert patch == {200, 400, 401, 403, 404, 409, 422}
    for documented_url, method, observed in (("/api/v1/companies", "post", post),
                                             ("/api/v1/companies/{company_id}", "patch", patch)):
        documented = {int(s) for s in spec["paths"][documented_url][method]["responses"]}
        assert documented <= observed, (method, documented - observed)
        assert observed <= documented, (method, observed - documented)
