"""In real Chromium: the wall chart renders with each cell's colour (the computed background, not just a class),
reads on a phone, and prints to ONE A3 landscape page with its colours. Screenshots and the PDF land in
tests/artifacts/."""
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest

from crm.extensions import db
from crm.support import services
from crm.support.board_views import FILLS
from crm.support.models import MILESTONE_KEYS

from ..e2e.conftest import ARTIFACTS
from ..e2e.test_company_flow import sign_in
from ..factories import make_company, make_project, make_reference, make_team, make_user
from .conftest import milestones, request

pytestmark = pytest.mark.browser

#: a zone's key projects as officers name them (long names included: the print must not let them grow a row)
NAMES = ["年产10GW高效N型TOPCon光伏电池及组件项目", "伺服系统与工业机器人核心部件研发生产基地",
         "井冈山红米深加工及冷链物流中心", "精密连接器及新能源汽车线束智能制造项目", "消费电子声学模组扩产二期",
         "智能交互平板显示终端华中生产基地", "高压直流继电器产线", "固态锂电池正极材料项目", "柔性触控显示模组",
         "Mini LED背光模组封装测试项目（一期）", "高密度互连印制电路板", "标准厂房代建", "玻璃基Mini LED显示背板",
         "精密功能性器件", "通用航空飞机维修及飞行培训基地", "家纺面料印染", "休闲食品中央厨房", "电子级聚酰亚胺薄膜",
         "动力电池回收利用", "射频模组封测基地"]
#: the wall printed in the test: about what a zone's key-project chart holds (the print layout fits about 45)
ROWS = 40


def hex_rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (0, 2, 4)))


def seed_wall(rows: int = ROWS) -> SimpleNamespace:
    """ROWS key projects from signed on, their milestones in every status (overdue, due soon, on track, done, not
    planned), requests on some, one confidential project whose company the officer may not see."""
    make_reference()
    team, other_team = make_team("电子信息招商一组"), make_team("综合招商二组")
    officer = make_user(team=team, name="王招商", locale="en")
    other = make_user(team=other_team, name="李明")
    today = services.today()
    day = timedelta(days=1)
    stages = ("signed", "under_construction", "in_production")
    for i in range(rows):
        company = make_company(f"{NAMES[i % len(NAMES)][:4]}科技（吉安）有限公司{i}",
                               owner=other if i == 3 else officer)
        suffix = "" if i < len(NAMES) else f"（{i // len(NAMES) + 1}期）"
        project = make_project(company, owner=officer, name=NAMES[i % len(NAMES)] + suffix,
                               stage=stages[i % 3], key_project=True, park="dunhou" if i % 2 else "fenghuang",
                               confidential=i == 3, code_name="白鹭" if i == 3 else "")
        offset = (i % 7) - 3  # the first open milestone from 3 days overdue to 3 days ahead, then later ones
        dates = {}
        for k, kind in enumerate(MILESTONE_KEYS):
            planned = today + (offset + 30 * (k - 2)) * day
            actual = planned - 2 * day if planned < today - 20 * day else None
            dates[kind] = (planned if kind != "full_capacity" or i % 4 else None, actual)
        milestones(project, dates)
        if i % 3 == 0:
            request(project, deadline=today + (i - 5) * day)
    db.session.commit()
    found = SimpleNamespace(id=officer.id, email=officer.email, name=officer.name)
    db.session.rollback()
    return found


def test_wall_chart_colours_phone_and_one_a3_page(live_server, page_factory):
    officer = seed_wall()
    page = page_factory(width=1600, height=1000)
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/board")
    page.wait_for_selector('table[data-test="wall"]')
    assert page.locator('table[data-test="wall"] tbody tr').count() == ROWS
    assert "wall-print-normal" in page.locator('table[data-test="wall"]').get_attribute("class")

    # each status's cells are painted in its colour, and say their status in words
    seen = set()
    for status, colour in FILLS.items():
        cells = page.locator(f"td.wall-cell.wall-{status}")
        assert cells.count() > 0, status
        background = cells.first.evaluate("el => getComputedStyle(el).backgroundColor")
        assert background == hex_rgb(colour), (status, background)
        assert cells.first.locator(".wall-status").inner_text().strip()
        seen.add(status)
    assert seen == {"red", "yellow", "green", "done"}
    assert page.locator("td.wall-worst .wall-red").count() > 0
    assert "白鹭" in page.locator("table[data-test=wall]").inner_text()  # the code name, not the company
    # the first rows are the overdue ones
    assert page.locator("table[data-test=wall] tbody tr").first.get_attribute("data-worst") == "red"
    # the wall is wide: it uses the screen, and the table scrolls inside its box rather than the page
    wall_width = page.locator(".wall-scroll").evaluate("el => el.getBoundingClientRect().width")
    assert wall_width > 1400
    assert page.evaluate("document.documentElement.scrollWidth") <= 1600
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board-desktop.png"))

    # a phone: the page does not overflow sideways; the chart scrolls in its box with the project column pinned
    phone = page_factory(width=390, height=844)
    sign_in(phone, live_server, officer)
    phone.goto(f"{live_server}/board")
    phone.wait_for_selector('table[data-test="wall"]')
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.locator(".wall-scroll").evaluate("el => el.scrollWidth > el.clientWidth")
    assert phone.locator("#wall-filters").is_hidden()  # behind the "Filters" button
    phone.screenshot(path=str(ARTIFACTS / "board-phone.png"))

    # print: nav, filters and buttons hidden, colours kept, the whole chart on one A3 landscape page
    page.emulate_media(media="print")
    for hidden in (".app-navbar", "#wall-filters", "[data-print]", '[data-test="export"]'):
        assert page.locator(hidden).first.is_hidden(), hidden
    red = page.locator("td.wall-cell.wall-red").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert red == hex_rgb(FILLS["red"])
    pdf = page.pdf(format="A3", landscape=True, print_background=True, prefer_css_page_size=True)
    (ARTIFACTS / "board-a3.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == 1


def test_a_wall_of_95_projects_prints_on_one_a3_page_in_one_line_rows(live_server, page_factory):
    officer = seed_wall(95)
    page = page_factory(width=1600, height=1000)
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/board")
    page.wait_for_selector('table[data-test="wall"]')
    assert page.locator('table[data-test="wall"] tbody tr').count() == 95
    assert "wall-print-dense" in page.locator('table[data-test="wall"]').get_attribute("class")
    page.emulate_media(media="print")
    # one line a row: a done cell shows its actual date, the others their planned date
    done = page.locator("td.wall-cell.wall-done").first
    assert done.locator(".wall-actual").is_visible() and done.locator(".wall-planned").is_hidden()
    assert page.locator("td.wall-cell.wall-red .wall-planned").first.is_visible()
    heights = page.locator('table[data-test="wall"] tbody tr').evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) - min(heights) < 1  # every row one line, whatever the length of its project's name
    pdf = page.pdf(format="A3", landscape=True, print_background=True, prefer_css_page_size=True)
    (ARTIFACTS / "board-a3-dense.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == 1


def pdf_pages(pdf: bytes) -> int:
    """The number of pages: with pypdf when it is installed, else the page objects in the file (Chromium writes
    each as an uncompressed `/Type /Page` dictionary)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
    import io

    return len(PdfReader(io.BytesIO(pdf)).pages)
