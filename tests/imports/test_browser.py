"""In real Chromium: upload a list whose name column has an unknown header, fix the mapping, resolve a duplicate
(update the existing company), commit, and see the import in the history."""
import pytest
from sqlalchemy import func, select

from crm.companies.models import Company
from crm.extensions import db

from ..conftest import ARTIFACTS
from ..factories import PASSWORD, VALID_USCC, make_company, make_reference, make_user
from .helpers import xlsx

pytestmark = pytest.mark.browser


def sign_in(page, base, user):
    page.goto(f"{base}/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_upload_fix_mapping_resolve_duplicate_and_commit(live_server, page_factory, tmp_path):
    make_reference()
    officer = make_user(name="王招商", locale="en")
    existing = make_company("吉安华宇电子有限公司", owner=officer, employees=5)
    path = tmp_path / "签到表.xlsx"
    path.write_bytes(xlsx([["吉安华宇电子（吉安）有限公司", "", 300, "电子信息"],
                           ["深圳新客户科技有限公司", VALID_USCC[0], 50, "深圳"]],
                          header=["参会单位全称", "统一社会信用代码", "员工人数", "备注"],
                          title="2025 深圳推介会签到表"))
    page = page_factory()
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/imports")
    page.select_option("#kind", "companies")
    page.set_input_files("#file", str(path))
    page.click("[data-test=upload]")
    page.wait_for_selector("[data-test=mapping-form]")
    assert page.locator("[data-test=missing]").count() == 1  # the name column's header is not one it knows
    assert page.input_value("[data-test=map-1]") == "uscc"
    page.select_option("[data-test=map-0]", "name")
    page.click("[data-test=preview]")
    page.wait_for_selector("[data-test=choices-form]")
    assert page.inner_text("[data-count=create]") == "1" and page.inner_text("[data-count=duplicate]") == "1"
    row = page.locator("tr[data-row='3']")
    assert "吉安华宇电子有限公司" in row.inner_text() and "王招商" in row.inner_text()
    row.locator("label[for='c3-update']").click()
    page.screenshot(path=str(ARTIFACTS / "imports-preview-desktop.png"), full_page=True)
    page.click("[data-test=commit]")
    page.wait_for_selector("[data-test=committed]")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Company)) == 2
    updated = db.session.get(Company, existing.id)
    assert updated.employees == 300 and updated.name == "吉安华宇电子（吉安）有限公司"
    page.goto(f"{live_server}/imports")
    assert "签到表.xlsx" in page.inner_text("[data-test=history]")
