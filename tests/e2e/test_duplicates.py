"""In real Chromium: the duplicates page and the compare page on a desktop and a phone, "not a duplicate", and a
merge through the pages that ends on the survivor, whose old id still leads there."""
import pytest
from sqlalchemy import select

from crm.companies.models import Company
from crm.extensions import db

from ..factories import VALID_USCC, make_company, make_project, make_reference, make_team, make_user
from .conftest import ARTIFACTS
from .test_company_flow import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}


def _world():
    make_reference()
    team = make_team("一组")
    officer = make_user(team=team, name="王招商")
    manager = make_user("manager", name="赵局")
    kept = make_company("华信精密电子有限公司", owner=officer, cluster="electronic_info", origin_city="shenzhen",
                        contacts=[{"name": "周经理", "title": "总经理", "mobile": "13800138000"}])
    loser = make_company("华信精密电子（赣州）有限公司", owner=officer, uscc=VALID_USCC[0],
                         address="赣州市章贡区长征大道",
                         contacts=[{"name": "周经理", "mobile": "13800138000"}, {"name": "李会计"}])
    make_project(loser, owner=officer, name="华信扩产项目", stage="negotiating")
    make_company("吉安绿源食品股份有限公司", contacts=[{"name": "陈总", "mobile": "13900139000"}])
    make_company("吉安绿源食品有限公司", owner=officer)
    make_company("井冈山远航物流有限公司", owner=officer, contacts=[{"name": "吴经理", "mobile": "13900139000"}])
    return officer, manager, kept, loser


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_duplicates_page_compare_not_a_duplicate_and_merge(live_server, page_factory):
    officer, manager, kept, loser = _world()
    page = page_factory()
    page.on("dialog", lambda dialog: dialog.accept())  # the merge button's confirmation
    sign_in(page, live_server, manager)
    page.goto(f"{live_server}/companies")
    page.click("[data-test=duplicates-link]")
    page.wait_for_url(f"{live_server}/companies/duplicates")
    pairs = page.locator("[data-test=pair]")
    assert pairs.count() == 3  # 华信 (same name and phone), 绿源 (same name), 绿源 and 远航 (same phone)
    page.screenshot(path=str(ARTIFACTS / "duplicates-desktop.png"), full_page=True)

    phone = page_factory(**PHONE)
    sign_in(phone, live_server, officer)
    phone.goto(f"{live_server}/companies/duplicates")
    assert phone.locator("[data-test=pair]").count() == 3 and _fits(phone)
    phone.screenshot(path=str(ARTIFACTS / "duplicates-phone.png"), full_page=True)
    phone.locator(f"[data-pair='{kept.id}-{loser.id}'] [data-test=compare]").first.click()
    phone.wait_for_url("**/companies/duplicates/compare**")
    assert _fits(phone)
    phone.screenshot(path=str(ARTIFACTS / "duplicates-compare-phone.png"), full_page=True)

    # the phone-only pair of 绿源 and 远航 is two companies: mark it, it leaves the list
    page.goto(f"{live_server}/companies/duplicates?reason=phone")
    before = page.locator("[data-test=pair]").count()
    page.locator("[data-test=pair]").last.locator("[data-test=not-duplicate]").click()
    page.wait_for_url("**/companies/duplicates**")
    assert page.locator("[data-test=pair]").count() == before - 1

    # compare and merge the 华信 pair, keeping the company with more records (suggested: the loser here)
    page.goto(f"{live_server}/companies/duplicates/compare?a={kept.id}&b={loser.id}")
    assert page.is_checked(f"[data-test=keep-{loser.id}]")
    page.screenshot(path=str(ARTIFACTS / "duplicates-compare-desktop.png"), full_page=True)
    page.check(f"[data-test=keep-{kept.id}]")
    page.click("[data-test=merge]")
    page.wait_for_url(f"{live_server}/companies/{kept.id}")
    body = page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "duplicates-merged-desktop.png"), full_page=True)
    assert "华信扩产项目" in body and "李会计" in body and "赣州市章贡区长征大道" in body
    page.goto(f"{live_server}/companies/{loser.id}")
    assert page.url == f"{live_server}/companies/{kept.id}"
    db.session.rollback()
    assert db.session.scalar(select(Company.merged_into_id).where(Company.id == loser.id)) == kept.id
