"""The import pages through the test client: upload, mapping, preview, choices, commit, history, rollback,
templates; the CLI prints the same preview."""
import io

from bs4 import BeautifulSoup
from openpyxl import load_workbook
from sqlalchemy import func, select

from crm.companies.models import Company
from crm.extensions import db
from crm.imports.models import ImportRun

from ..factories import VALID_USCC, login, make_company, make_reference, make_user
from .helpers import COMPANY_HEADER, xlsx


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_upload_map_preview_choose_commit_and_roll_back(client):
    make_reference()
    officer = make_user("officer", locale="en")
    make_company("吉安华宇电子有限公司", owner=officer)
    login(client, officer)
    assert client.get("/imports").status_code == 200
    data = xlsx([["吉安华宇电子（吉安）有限公司", "", "电子信息"], ["新企业有限公司", VALID_USCC[0], "深圳"]],
                header=["公司全称", "统一社会信用代码", "备注"])
    response = client.post("/imports", data={"kind": "companies", "file": (io.BytesIO(data), "名单.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    run = db.session.scalar(select(ImportRun))
    assert response.location.endswith(f"/imports/{run.id}")
    page = soup(client.get(f"/imports/{run.id}"))
    assert page.select_one("[data-test=mapping-form]") is not None
    assert page.select_one("[data-test=missing]") is not None  # 公司全称 is not a known header: the name is unmapped
    assert page.select_one("select[name=col1] option[selected]")["value"] == "uscc"
    response = client.post(f"/imports/{run.id}/mapping", data={"col0": "name", "col1": "uscc", "col2": "notes"})
    assert response.status_code == 302
    page = soup(client.get(f"/imports/{run.id}"))
    assert page.select_one("[data-count=create]").get_text() == "1"
    assert page.select_one("[data-count=duplicate]").get_text() == "1"
    row = page.select_one("tr[data-row='2']")
    assert "吉安华宇电子有限公司" in row.get_text() and row.select_one("input[value=update]") is not None
    response = client.post(f"/imports/{run.id}/choices", data={"choice-2": "create", "then": "commit"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).status == "committed"
    assert count(Company) == 3
    history = soup(client.get("/imports")).select_one("[data-test=history]")
    assert "名单.xlsx" in history.get_text()
    assert client.get(f"/imports/{run.id}/progress").headers.get("HX-Refresh") == "true"
    assert client.post(f"/imports/{run.id}/rollback").status_code == 302
    assert count(Company) == 1
    assert db.session.get(ImportRun, run.id).status == "rolled_back"


def test_a_bad_file_gets_a_clear_message_and_nothing_is_kept(client):
    officer = make_user("officer", locale="en")
    login(client, officer)
    response = client.post("/imports", data={"kind": "companies",
                                             "file": (io.BytesIO(b"<html>no</html>"), "list.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "not an Excel workbook" in response.get_data(as_text=True)
    assert count(ImportRun) == 0


def test_oversize_upload_is_413(app, client):
    officer = make_user("officer")
    login(client, officer)
    app.config["CRM_IMPORT_MAX_BYTES"] = 2048
    try:
        response = client.post("/imports", data={"kind": "companies", "file": (io.BytesIO(b"x" * 200_000), "a.csv")},
                               content_type="multipart/form-data")
    finally:
        del app.config["CRM_IMPORT_MAX_BYTES"]
    assert response.status_code == 413
    assert count(ImportRun) == 0


def test_templates_have_the_headers_the_import_reads(client):
    officer = make_user("officer")
    login(client, officer)
    for kind, first in (("companies", "企业名称"), ("contacts", "企业名称"), ("projects", "企业名称")):
        response = client.get(f"/imports/template/{kind}.xlsx")
        assert response.status_code == 200
        header = next(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
        assert header[0] == first
    assert client.get("/imports/template/users.xlsx").status_code == 404
    assert client.get("/imports/export/users.xlsx").status_code == 404


def test_others_imports_are_404_and_liaisons_are_refused(app, client):
    make_reference()
    owner, stranger, manager = make_user("officer"), make_user("officer"), make_user("manager")
    liaison = make_user("liaison", department="natural_resources")
    login(client, owner)
    client.post("/imports", data={"kind": "companies", "file": (io.BytesIO(xlsx([["甲有限公司"]], header=["企业名称"])),
                                                               "a.xlsx")}, content_type="multipart/form-data")
    run = db.session.scalar(select(ImportRun))
    other = app.test_client()
    login(other, stranger)
    for url in (f"/imports/{run.id}", f"/imports/{run.id}/progress"):
        assert other.get(url).status_code == 404
    for url in (f"/imports/{run.id}/mapping", f"/imports/{run.id}/commit", f"/imports/{run.id}/rollback",
                f"/imports/{run.id}/choices"):
        assert other.post(url, data={"col0": "name"}).status_code == 404
    assert run.filename not in other.get("/imports").get_data(as_text=True)
    boss = app.test_client()
    login(boss, manager)
    assert boss.get(f"/imports/{run.id}").status_code == 200
    assert run.filename in boss.get("/imports").get_data(as_text=True)
    outsider = app.test_client()
    login(outsider, liaison)
    assert outsider.get("/imports").status_code == 403
    assert outsider.get(f"/imports/{run.id}").status_code == 404


def test_cli_prints_the_preview_and_commits(app, tmp_path):
    make_reference()
    manager = make_user("manager", email="boss@test.zone")
    path = tmp_path / "list.xlsx"
    e = ""
    path.write_bytes(xlsx([["命令行企业有限公司", VALID_USCC[0], "电子信息", e, e, e, e, e, e],
                           ["坏代码有限公司", "91350200776049653B", e, e, e, e, e, e, e]], header=COMPANY_HEADER))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "import", str(path), "--kind", "companies", "--as", manager.email])
    assert result.exit_code == 1, result.output
    assert "row 3: error" in result.output and "统一社会信用代码" in result.output
    assert "Preview only" in result.output and count(Company) == 0
    result = runner.invoke(args=["crm", "import", str(path), "--kind", "companies", "--commit"])
    assert result.exit_code == 1 and "refused" in result.output and count(Company) == 0
    path.write_bytes(xlsx([["命令行企业有限公司", VALID_USCC[0], "电子信息", "", "", "", "", "", ""]],
                          header=COMPANY_HEADER))
    result = runner.invoke(args=["crm", "import", str(path), "--kind", "companies", "--commit"])
    assert result.exit_code == 0, result.output
    assert "Committed" in result.output and count(Company) == 1
    company = db.session.scalar(select(Company))
    assert company.owner_id == manager.id and company.cluster == "electronic_info"
