"""In real Chromium: the pipeline board. Drag a card from negotiating to signed (totals and history follow), the
conflict path with two sessions, the reason asked for "lost", "show more", and moving by the card's stage menu on a
phone. Screenshots of the board land in tests/artifacts/."""
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.projects import queries, services
from crm.projects.models import Project, StageMove

from ..factories import make_company, make_project, make_reference, make_team, make_user
from .conftest import ARTIFACTS
from .test_company_flow import sign_in

pytestmark = pytest.mark.browser

#: company, project, stage, planned investment (万元), key project, confidential code name
REALISTIC = [
    ("江西晶科光伏材料股份有限公司", "年产10GW高效N型TOPCon光伏电池及组件项目", "lead", 350000, True, ""),
    ("深圳市汇川技术股份有限公司", "伺服系统与工业机器人核心部件研发生产基地", "lead", 48000, False, ""),
    ("吉安市绿源生态农业开发有限公司", "井冈山红米深加工及冷链物流中心", "lead", 6500, False, ""),
    ("东莞市宏达精密电子科技有限公司", "精密连接器及新能源汽车线束智能制造项目", "negotiating", 32000, True, ""),
    ("立讯智造（江西）有限公司", "消费电子声学模组扩产二期", "negotiating", 85000, False, ""),
    ("广州视源电子科技股份有限公司", "智能交互平板显示终端华中生产基地", "negotiating", 21000, False, "星火"),
    ("厦门宏发电声股份有限公司", "高压直流继电器产线", "negotiating", 9800, False, ""),
    ("江西赣锋锂业集团股份有限公司", "固态锂电池正极材料项目", "site_visit", 150000, True, ""),
    ("合力泰科技股份有限公司", "柔性触控显示模组", "site_visit", 18000, False, ""),
    ("木林森股份有限公司", "Mini LED背光模组封装测试项目（一期）", "signed", 60000, True, ""),
    ("江西红板科技股份有限公司", "高密度互连印制电路板", "signed", 45000, False, ""),
    ("吉安市井开区中小企业服务中心", "标准厂房代建", "under_construction", 12000, False, ""),
    ("江西沃格光电股份有限公司", "玻璃基Mini LED显示背板", "under_construction", 30000, True, ""),
    ("博硕科技（江西）有限公司", "精密功能性器件", "in_production", 15000, False, ""),
    ("江西省吉安市天祥通用航空有限公司", "通用航空飞机维修及飞行培训基地", "in_production", 8000, False, ""),
    ("海宁市恒丰家纺有限公司", "家纺面料印染", "full_capacity", 5000, False, ""),
    ("杭州某食品科技有限公司", "休闲食品中央厨房", "on_hold", 4200, False, ""),
    ("苏州新材料有限公司", "电子级聚酰亚胺薄膜", "lost", 26000, False, ""),
]


def seed_board():
    """A small zone with realistic projects in every column; returns the officers and the projects by name."""
    make_reference()
    team, other_team = make_team("电子信息招商一组"), make_team("综合招商二组")
    officer = make_user(team=team, name="王招商")
    colleague = make_user(team=team, name="欧阳晓峰")
    other = make_user(team=other_team, name="李明")
    owners = [officer, colleague, other]
    projects = {}
    for i, (company_name, name, stage, amount, key, code) in enumerate(REALISTIC):
        owner = owners[i % 3] if not code else colleague
        # the confidential one's company is held by the other team: the officer sees only its code name
        company = make_company(company_name, owner=other if code else owner, cluster="electronic_info")
        extra = {"lost_reason": "选择了邻市园区"} if stage == "lost" else {}
        projects[name] = make_project(company, owner=owner, stage=stage, name=name, planned_investment=amount,
                                      key_project=key,
                                      confidential=bool(code), code_name=code, cluster="electronic_info",
                                      park="dunhou" if i % 2 else None, **extra)
    for i, project in enumerate(projects.values()):  # some days in their stages, none idle long enough to be stale
        project.stage_changed_at = project.last_activity_at = utcnow() - timedelta(days=(i * 7) % 25, hours=1)
    stale = projects["高压直流继电器产线"]
    stale.last_activity_at = utcnow() - timedelta(days=45)
    stale.stage_changed_at = utcnow() - timedelta(days=52)
    db.session.commit()
    # plain values, read now: the test's session then holds no transaction while the browser writes
    people = tuple(SimpleNamespace(id=u.id, email=u.email, name=u.name) for u in owners)
    found = {name: SimpleNamespace(id=p.id, version=p.version, owner_id=p.owner_id, stage=p.stage)
             for name, p in projects.items()}
    db.session.rollback()
    return (*people, found)


def column_count(page, stage) -> int:
    return int(page.inner_text(f'#column-{stage} [data-count-for="{stage}"]'))


def column_total(page, stage) -> str:
    return page.inner_text(f'[data-total-for="{stage}"]')


def card_stage(page, project) -> str:
    """The column the card sits in on the page."""
    return page.eval_on_selector(f"#project-card-{project.id}", "el => el.closest('.board-cards').dataset.stage")


def moves_of(project_id) -> list[tuple]:
    db.session.rollback()
    return [(m.from_stage, m.to_stage) for m in db.session.scalars(
        select(StageMove).where(StageMove.project_id == project_id).order_by(StageMove.id))]


def drag(page, project, stage):
    """Drag a card onto a column, as a person does with the mouse (SortableJS listens to the native drag events)."""
    page.drag_and_drop(f"#project-card-{project.id} .board-card-title", f"#cards-{stage}")


def label(amount) -> str:
    """What the board writes for an amount, in the page's language (whichever it is, the number reads the same)."""
    from crm.projects.views import format_amount

    amount = Decimal(amount)
    return format_amount(amount / 10000) if amount >= 10000 else format_amount(amount)


def test_drag_from_negotiating_to_signed_updates_totals_and_history(live_server, page_factory):
    officer, _colleague, _other, projects = seed_board()
    project = projects["精密连接器及新能源汽车线束智能制造项目"]  # 32,000 万元, officer's own
    page = page_factory(1366, 900)
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/projects/board")
    page.screenshot(path=str(ARTIFACTS / "board-desktop.png"))
    assert column_count(page, "negotiating") == 4 and column_count(page, "signed") == 2
    assert column_total(page, "negotiating").startswith(label(32000 + 85000 + 21000 + 9800))
    assert column_total(page, "signed").startswith(label(60000 + 45000))

    with page.expect_response(lambda r: r.url.endswith(f"/projects/{project.id}/move")) as answer:
        drag(page, project, "signed")
    assert answer.value.status == 200
    page.wait_for_selector(f'#cards-signed #project-card-{project.id}[data-version="{project.version + 1}"]')
    assert column_count(page, "negotiating") == 3 and column_count(page, "signed") == 3
    assert column_total(page, "negotiating").startswith(label(85000 + 21000 + 9800))
    assert column_total(page, "signed").startswith(label(60000 + 45000 + 32000))
    assert page.locator("#board-alerts .alert-danger, #board-alerts .alert-warning").count() == 0

    assert moves_of(project.id) == [(None, "negotiating"), ("negotiating", "signed")]
    history = [i for i in queries.history(project.id) if i["kind"] == "stage"]
    assert (history[0]["from_stage"], history[0]["to_stage"], history[0]["actor"].id) == \
        ("negotiating", "signed", officer.id)
    # after a reload the board agrees
    page.reload()
    assert card_stage(page, project) == "signed" and column_count(page, "signed") == 3


def test_dropping_on_lost_asks_why_and_cancel_puts_the_card_back(live_server, page_factory):
    officer, _colleague, _other, projects = seed_board()
    project = projects["精密连接器及新能源汽车线束智能制造项目"]
    page = page_factory(2600, 900)  # a wall screen: every column in view, so the drag needs no scrolling
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/projects/board")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/move" in r.url else None)

    drag(page, project, "lost")
    page.wait_for_selector("#board-lost-modal.show")
    assert "精密连接器" in page.inner_text("#board-lost-project")
    page.click("#board-lost-modal .modal-footer button[data-bs-dismiss=modal]")
    page.wait_for_selector(f"#cards-negotiating #project-card-{project.id}")  # back where it was
    assert page.locator("#board-lost-modal").is_hidden() and requests == []
    assert column_count(page, "negotiating") == 4

    drag(page, project, "lost")
    page.wait_for_selector("#board-lost-modal.show")
    page.click("#board-lost-modal button[type=submit]")  # empty: refused in the dialog, nothing sent
    assert page.locator("#board-lost-reason.is-invalid").count() == 1 and requests == []
    page.fill("#board-lost-reason", "企业决定落户邻市，土地价格差距较大")
    with page.expect_response(lambda r: "/move" in r.url) as answer:
        page.click("#board-lost-modal button[type=submit]")
    assert answer.value.status == 200
    page.wait_for_selector(f"#cards-lost #project-card-{project.id}")
    assert column_count(page, "lost") == 2 and column_count(page, "negotiating") == 3
    db.session.rollback()
    assert db.session.get(Project, project.id).lost_reason == "企业决定落户邻市，土地价格差距较大"


def test_two_sessions_the_second_move_is_a_conflict_and_the_card_reloads(live_server, page_factory):
    officer, colleague, _other, projects = seed_board()
    project = projects["精密连接器及新能源汽车线束智能制造项目"]
    first, second = page_factory(1366, 900), page_factory(1366, 900)  # two browser contexts: two sessions
    sign_in(first, live_server, officer)
    sign_in(second, live_server, colleague)
    for page in (first, second):
        page.goto(f"{live_server}/projects/board")
        assert card_stage(page, project) == "negotiating"

    with first.expect_response(lambda r: "/move" in r.url) as answer:
        drag(first, project, "signed")
    assert answer.value.status == 200

    # the second session still shows the card in negotiating, at the old version
    assert card_stage(second, project) == "negotiating"
    with second.expect_response(lambda r: "/move" in r.url) as answer:
        drag(second, project, "site_visit")
    assert answer.value.status == 409
    alert = second.wait_for_selector("#board-alerts .alert-warning")
    assert "签约" in alert.inner_text() or "Signed" in alert.inner_text()
    second.wait_for_selector(f'#cards-signed #project-card-{project.id}[data-version="{project.version + 1}"]')
    assert card_stage(second, project) == "signed"
    assert second.locator(f"#project-card-{project.id}").count() == 1
    # the counts on the second board are corrected too
    assert column_count(second, "signed") == 3 and column_count(second, "negotiating") == 3
    assert column_count(second, "site_visit") == 2
    second.screenshot(path=str(ARTIFACTS / "board-conflict.png"))
    assert moves_of(project.id) == [(None, "negotiating"), ("negotiating", "signed")], "only session 1's move"


def test_show_more_loads_the_next_cards_of_a_column(live_server, page_factory):
    make_reference()
    officer = make_user(name="王招商")
    cap = queries.CARDS_PER_COLUMN
    projects = [make_project(owner=officer, stage="lead", name=f"线索项目{i:02d}") for i in range(cap + 3)]
    projects = [SimpleNamespace(id=p.id, version=p.version) for p in projects]
    officer = SimpleNamespace(email=officer.email)
    db.session.rollback()
    page = page_factory(1366, 900)
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/projects/board")
    assert page.locator("#cards-lead .board-card").count() == cap
    # move one of the shown cards away first: the next page must still start at the right card
    moved = projects[-1]
    with page.expect_response(lambda r: "/move" in r.url):
        drag(page, moved, "negotiating")
    page.wait_for_selector(f"#cards-negotiating #project-card-{moved.id}")
    assert page.inner_text("#more-lead .board-more-left") == "3"
    with page.expect_response(lambda r: "/projects/board/column" in r.url):
        page.click("#more-lead a.board-more-link")
    page.wait_for_function("n => document.querySelectorAll('#cards-lead .board-card').length === n", arg=cap + 2)
    shown = page.eval_on_selector_all("#cards-lead .board-card", "els => els.map(e => Number(e.dataset.id))")
    assert sorted(shown) == sorted(p.id for p in projects[:-1]), "every other card once, none twice"
    assert page.locator("#more-lead a.board-more-link").count() == 0


def test_on_a_phone_the_stage_menu_moves_a_card(live_server, page_factory):
    officer, _colleague, _other, projects = seed_board()
    project = projects["精密连接器及新能源汽车线束智能制造项目"]
    page = page_factory(390, 844)
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/projects/board")
    page.screenshot(path=str(ARTIFACTS / "board-phone.png"))
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways on a phone by {overflow}px (only the board may)"
    assert page.locator("#board-filters").is_hidden(), "on a phone the filters fold away"
    page.click("a[href='#column-negotiating']")
    menu = page.locator(f"#project-card-{project.id} select.board-stage-menu")
    assert menu.is_visible()
    assert page.locator(f"#project-card-{project.id} .board-stage-go").is_hidden()
    with page.expect_response(lambda r: "/move" in r.url) as answer:
        menu.select_option("signed")
    assert answer.value.status == 200
    page.wait_for_selector(f"#cards-signed #project-card-{project.id}")
    page.wait_for_selector("#board-alerts .alert-success")
    assert column_count(page, "signed") == 3
    assert page.inner_text(".board-jump [data-count-for=signed]") == "3"
    page.screenshot(path=str(ARTIFACTS / "board-phone-moved.png"))
    assert moves_of(project.id)[-1] == ("negotiating", "signed")

    # lost from the menu asks for the reason too
    with page.expect_response(lambda r: "/move" in r.url) as answer:
        page.select_option(f"#project-card-{project.id} select.board-stage-menu", "lost")
        page.wait_for_selector("#board-lost-modal.show")
        page.fill("#board-lost-reason", "项目搁浅")
        page.click("#board-lost-modal button[type=submit]")
    assert answer.value.status == 200
    page.wait_for_selector(f"#cards-lost #project-card-{project.id}")
    assert moves_of(project.id)[-1] == ("signed", "lost")


def test_a_refused_move_puts_the_card_back(live_server, page_factory):
    officer, _colleague, other, projects = seed_board()
    # a card the officer may not move has no menu and does not drag; a manager's board shows what a 403 would do
    theirs = projects["柔性触控显示模组"]  # site visit, held by the other team
    assert theirs.owner_id == other.id
    page = page_factory(1366, 900)
    sign_in(page, live_server, officer)
    page.goto(f"{live_server}/projects/board")
    assert page.locator(f"#project-card-{theirs.id} select").count() == 0
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/move" in r.url else None)
    drag(page, theirs, "signed")
    assert card_stage(page, theirs) == "site_visit" and requests == []

    # the project is reassigned to the other team meanwhile: the officer's move is refused (403), the card goes back
    mine = projects["精密连接器及新能源汽车线束智能制造项目"]
    services.reassign_project(mine.id, other.id, actor=make_user("manager"), version=mine.version)
    db.session.rollback()
    with page.expect_response(lambda r: "/move" in r.url) as answer:
        drag(page, mine, "signed")
    assert answer.value.status == 403
    page.wait_for_selector("#board-alerts .alert")
    assert card_stage(page, mine) == "negotiating"
    assert moves_of(mine.id) == [(None, "negotiating")]
