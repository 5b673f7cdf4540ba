"""In real Chromium: sign in, create a company with a contact, find it by pinyin initials, look at it on a phone."""
import pytest

from ..factories import PASSWORD, make_company, make_reference, make_user
from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def sign_in(page, base, user):
    page.goto(f"{base}/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_officer_creates_company_with_contact_and_finds_it_by_pinyin(live_server, page_factory):
    make_reference()
    officer = make_user(name="王招商")
    page = page_factory()
    sign_in(page, live_server, officer)

    page.click("a[href='/companies/new']")
    page.wait_for_url(f"{live_server}/companies/new")
    page.fill("#name", "立讯智造（江西）有限公司")
    page.fill("#uscc", "91350200776049653a")
    page.select_option("#cluster", "electronic_info")
    page.select_option("#origin_city", "shenzhen")
    page.fill("#chain_tags", "连接器, 线缆")
    page.fill("#contact_name", "王经理")
    page.fill("#contact_mobile", "+86 138-0013-8000")
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(f"{live_server}/companies/*")
    assert "立讯智造（江西）有限公司" in page.inner_text("h2.page-title")
    assert "13800138000" in page.inner_text("body")  # the holder sees the number in full

    page.goto(f"{live_server}/companies")
    page.fill("input[name=q]", "lxzz")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=lxzz**")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    assert "立讯智造（江西）有限公司" in rows.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "company-search-desktop.png"), full_page=True)


def test_field_errors_show_beside_the_field(live_server, page_factory):
    make_reference()
    officer = make_user()
    page = page_factory()
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/companies/new")
    page.fill("#name", "深圳市测试电子有限公司")
    page.fill("#uscc", "91350200776049653B")
    page.fill("#contact_mobile", "not a phone")
    page.click("button[type=submit].btn-primary")
    feedback = page.locator(".invalid-feedback")
    assert feedback.count() == 2
    assert page.input_value("#name") == "深圳市测试电子有限公司"  # the input is kept


@pytest.mark.parametrize("path", ["/", "/companies", "/companies/{id}", "/companies/new", "/profile"])
def test_pages_fit_a_phone_screen(live_server, page_factory, path):
    make_reference()
    officer = make_user()
    company = make_company("东莞市宏达精密电子科技有限公司", owner=officer, cluster="electronic_info",
                           contacts=[{"name": "陈明", "mobile": "13912345678", "title": "总经理"}])
    page = page_factory(390, 844)
    sign_in(page, live_server, officer)
    page.goto(live_server + path.format(id=company.id))
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    name = path.strip("/").replace("/", "-").replace("{id}", "detail") or "home"
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow}px"
