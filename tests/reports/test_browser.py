"""In real Chromium: the monthly report reads on a desktop and on a phone (no sideways scrolling of the page), and
prints on A4 portrait pages without the app's chrome, each table's header repeated. Screenshots and the PDF land in
tests/artifacts/."""
import re
from types import SimpleNamespace

import pytest

from crm.extensions import db

from ..board.test_browser import pdf_pages
from ..e2e.conftest import ARTIFACTS
from ..e2e.test_company_flow import sign_in
from .helpers import month_world

pytestmark = pytest.mark.browser
URL = "/reports/monthly?month=2025-03"


def _manager():
    w = month_world()
    found = SimpleNamespace(email=w.manager.email)
    db.session.rollback()
    return found


def test_the_monthly_report_on_a_desktop_a_phone_and_a4_paper(live_server, page_factory):
    manager = _manager()
    ARTIFACTS.mkdir(exist_ok=True)
    page = page_factory(width=1366, height=900)
    sign_in(page, live_server, manager)
    page.goto(live_server + URL)
    page.wait_for_selector('[data-test="monthly-report"]')
    assert page.locator('[data-test="signed"] tbody tr').count() == 2
    assert page.locator('[data-test="key-projects"] tbody tr').count() == 4
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.screenshot(path=str(ARTIFACTS / "reports-monthly-desktop.png"), full_page=True)

    phone = page_factory(width=390, height=844)
    sign_in(phone, live_server, manager)
    phone.goto(live_server + URL)
    phone.wait_for_selector('[data-test="monthly-report"]')
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # wide tables scroll in their box
    phone.screenshot(path=str(ARTIFACTS / "reports-monthly-phone.png"))
    for section in ("totals", "key-projects", "problems"):
        shot = ARTIFACTS / f"reports-monthly-phone-{section}.png"
        phone.locator(f'[data-test="{section}"]').screenshot(path=str(shot))
    # a project's name in a wide table stays readable: its column is not squeezed to a letter or two
    width = phone.locator('[data-test="key-projects"] tbody td').first.evaluate(
        "el => el.getBoundingClientRect().width")
    assert width >= 130

    page.emulate_media(media="print")
    for hidden in (".app-navbar", ".report-actions", "[data-print]", '[data-test="download"]'):
        assert page.locator(hidden).first.is_hidden(), hidden
    # every column is printed, the ones a narrow screen hides too
    assert page.locator('[data-test="signed"] thead th').nth(2).is_visible()
    pdf = page.pdf(print_background=True, prefer_css_page_size=True)
    (ARTIFACTS / "reports-monthly-a4.pdf").write_bytes(pdf)
    assert 1 <= pdf_pages(pdf) <= 3
    # A4 portrait: 595 × 842 points
    sizes = {tuple(round(float(v)) for v in box) for box in re.findall(
        rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)}
    assert sizes and all(abs(w - 595) <= 2 and abs(h - 842) <= 2 for w, h in sizes), sizes


def test_the_owner_gives_a_reason_on_the_project_page(live_server, page_factory):
    from datetime import timedelta

    from crm.core.timeutil import utcnow

    from ..factories import make_company, make_project, make_reference, make_user

    make_reference()
    officer = make_user(name="王招商")
    project = make_project(make_company(owner=officer), owner=officer, name="沉默的项目", stage="negotiating")
    project.last_activity_at = utcnow() - timedelta(days=45)
    db.session.commit()
    project_id, who = project.id, SimpleNamespace(email=officer.email)
    db.session.rollback()
    page = page_factory(width=1366, height=900)
    sign_in(page, live_server, who)
    page.goto(f"{live_server}/projects/{project_id}")
    card = page.locator('[data-test="no-update"]')
    assert card.is_visible() and card.locator('[data-test="no-update-missing"]').is_visible()
    card.locator('input[name="reason"]').fill("企业春节停工，3月复工后再议")
    card.locator('button[type="submit"]').first.click()
    page.wait_for_url(f"{live_server}/projects/{project_id}#no-update")
    assert page.locator('[data-test="no-update-reason"]').inner_text() == "企业春节停工，3月复工后再议"
    page.locator('[data-test="no-update"]').screenshot(path=str(ARTIFACTS / "reports-no-update-reason.png"))
    phone = page_factory(width=390, height=844)
    sign_in(phone, live_server, who)
    phone.goto(f"{live_server}/projects/{project_id}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.locator('[data-test="no-update"]').screenshot(path=str(ARTIFACTS / "reports-no-update-reason-phone.png"))
