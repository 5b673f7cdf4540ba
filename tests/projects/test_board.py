"""The pipeline board's pages (crm/projects/board.py): columns with counts and 万元 totals, filters kept in every link,
the per-column card cap and "show more", what a card shows (code names, the stale mark, escaping), and the move
endpoint's answers (200 with new totals, 409 with the card as it is, 422, 403, 404), on SQLite and PostgreSQL."""
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.core.timeutil import today_in_zone, utcnow
from crm.core.timeutil import zone as zone_of_app
from crm.extensions import db
from crm.projects import queries, services
from crm.projects.board import money_label
from crm.projects.models import Project, StageMove
from crm.reference import services as reference

from ..factories import login, make_company, make_project, make_reference, make_team, make_user
from ..security.helpers import client_for, executable_content, side_app

BOARD_SCRIPTS = {"/static/vendor/sortablejs/Sortable.min.js", "/static/js/board.js"}


def soup_of(response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def columns_of(soup) -> dict:
    """stage → (count, total label, [card ids]) as the board shows them."""
    out = {}
    for section in soup.select("section.board-column"):
        stage = section["data-stage"]
        count = int(section.select_one(f'[data-count-for="{stage}"]').get_text(strip=True))
        total = section.select_one(f'[data-total-for="{stage}"]').get_text(strip=True)
        ids = [int(card["data-id"]) for card in section.select("article.board-card")]
        out[stage] = (count, total, ids)
    return out


def card(soup, project) -> BeautifulSoup:
    return soup.select_one(f"#project-card-{project.id}")


def move(client, project, stage, *, version=None, filters="", reason="", from_stage=None):
    return client.post(f"/projects/{project.id}/move", data={
        "stage": stage, "version": str(project.version if version is None else version), "note": "",
        "reason": reason, "filters": filters, "from_stage": from_stage or project.stage})


def moves_of(project) -> list[tuple]:
    db.session.rollback()
    return [(m.from_stage, m.to_stage) for m in db.session.scalars(
        select(StageMove).where(StageMove.project_id == project.id).order_by(StageMove.id))]


@pytest.fixture
def zone():
    """Two teams: a and a2 in team 1, b in team 2; a manager."""
    make_reference()
    team1, team2 = make_team("一组"), make_team("二组")
    return {"team1": team1, "team2": team2, "a": make_user(team=team1, name="王一"),
            "a2": make_user(team=team1, name="李二"), "b": make_user(team=team2, name="张三"),
            "manager": make_user("manager", name="赵局")}


# --- money ------------------------------------------------------------------------------------------------------------

def test_money_reads_in_wan_and_from_ten_thousand_wan_in_yi(app):
    with app.test_request_context():
        assert money_label(None) == ""
        assert money_label(Decimal("0")).startswith("0 ")
        assert money_label(Decimal("8500")).startswith("8,500 ")
        assert money_label(Decimal("1234.50")).startswith("1,234.50 ")
        assert money_label(Decimal("9999.99")).startswith("9,999.99 ")
        yi = money_label(Decimal("12500"))
        assert yi.startswith("1.25 ") and yi != money_label(Decimal("1.25")), "亿元 has its own unit"
        assert money_label(Decimal("10000")).startswith("1 ")
        assert money_label(Decimal("1234567")).startswith("123.46 ")


# --- columns, counts, totals --------------------------------------------------------------------------------------

def test_one_column_per_stage_with_count_total_and_cards(client, zone):
    a = zone["a"]
    n1 = make_project(owner=a, stage="negotiating", planned_investment=8000, name="洽谈一")
    n2 = make_project(owner=a, stage="negotiating", planned_investment="4500.5", name="洽谈二")
    n3 = make_project(owner=a, stage="negotiating", name="洽谈三")  # no amount yet
    s1 = make_project(owner=a, stage="signed", planned_investment=25000, name="签约一")
    key = make_project(owner=a, stage="signed", planned_investment=100, key_project=True, name="重点")
    make_project(owner=a, stage="lost", planned_investment=1, deleted=True)  # deleted: not on the board
    login(client, a)
    soup = soup_of(client.get("/projects/board"))
    cols = columns_of(soup)
    assert list(cols) == ["lead", "negotiating", "site_visit", "signed", "under_construction", "in_production",
                          "full_capacity", "on_hold", "lost"]
    assert cols["lead"][:1] == (0,) and cols["lead"][2] == [] and cols["lost"][0] == 0
    with client.application.test_request_context():
        assert cols["negotiating"][:2] == (3, money_label(Decimal("12500.5")))
        assert cols["negotiating"][1].startswith("1.25")  # 12,500.5 万元 → 1.25 亿元
        assert cols["signed"][:2] == (2, money_label(Decimal("25100")))
    assert sorted(cols["negotiating"][2]) == sorted([n1.id, n2.id, n3.id])
    assert cols["signed"][2] == [key.id, s1.id], "key projects come first"
    # each column title opens the list of that stage; the card's title opens the project
    assert soup.select_one("#column-title-signed a")["href"] == "/projects?stage=signed"
    assert card(soup, s1).select_one("a.board-card-title")["href"] == f"/projects/{s1.id}"
    assert card(soup, key).select_one(".board-card-star") is not None
    assert card(soup, s1).select_one(".board-card-star") is None
    assert "—" in card(soup, n3).select_one(".board-card-money").get_text()
    assert card(soup, s1).select_one(".board-card-owner").get_text(strip=True) == "王一"
    assert card(soup, n1).select_one(".board-card-days").get_text(strip=True).startswith("0")
    # the page loads SortableJS and the board's script, nothing inline
    html = str(soup)
    assert [x for x in executable_content(html) if not any(s in x for s in BOARD_SCRIPTS)] == []
    assert {s["src"] for s in soup.select("script[src]")} >= BOARD_SCRIPTS
    assert soup.select_one('link[href="/static/css/board.css"]') is not None


def test_days_in_stage_on_the_card(client, zone):
    a = zone["a"]
    project = make_project(owner=a, stage="site_visit")
    # noon, zone time, twelve calendar days ago (an hour before "now" minus 12 days would be 13 days just after
    # midnight in the zone)
    project.stage_changed_at = datetime.combine(today_in_zone() - timedelta(days=12), time(12),
                                                tzinfo=zone_of_app()).astimezone(UTC)
    db.session.commit()
    login(client, a)
    soup = soup_of(client.get("/projects/board"))
    assert card(soup, project).select_one(".board-card-days").get_text(strip=True).startswith("12")


def test_officers_see_other_teams_projects_but_only_move_their_teams(client, zone):
    mine = make_project(owner=zone["a2"], stage="lead")
    theirs = make_project(owner=zone["b"], stage="lead")
    login(client, zone["a"])
    soup = soup_of(client.get("/projects/board"))
    assert card(soup, mine)["data-editable"] == "1" and card(soup, mine).select_one("select.board-stage-menu")
    assert card(soup, theirs)["data-editable"] == "0" and card(soup, theirs).select_one("select") is None
    assert "board-card-locked" in card(soup, theirs)["class"]


def test_the_stage_menu_lists_the_other_stages_and_works_without_javascript(client, zone):
    project = make_project(owner=zone["a"], stage="negotiating")
    login(client, zone["a"])
    soup = soup_of(client.get("/projects/board"))
    form = card(soup, project).select_one("form.board-stage-form")
    assert form["method"] == "get" and form["action"] == f"/projects/{project.id}/stage"
    options = [o["value"] for o in form.select("select[name=stage] option") if o["value"]]
    assert options == ["lead", "site_visit", "signed", "under_construction", "in_production", "full_capacity",
                       "on_hold", "lost"]
    assert form.select_one("button[type=submit]") is not None


def test_liaisons_get_403_on_the_board_and_404_on_its_projects(client, zone):
    project = make_project(owner=zone["a"], stage="lead")
    liaison = make_user("liaison", department="natural_resources")
    login(client, liaison)
    assert client.get("/projects/board").status_code == 403
    assert client.get("/projects/board/column?stage=lead").status_code == 403
    assert move(client, project, "negotiating").status_code == 404  # a record: not found (crm.web.staff_only)
    assert moves_of(project) == [(None, "lead")]


def test_signed_out_users_are_sent_to_sign_in(client, zone):
    response = client.get("/projects/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- filters ------------------------------------------------------------------------------------------------------

def _ids(client, query="") -> set[int]:
    soup = soup_of(client.get(f"/projects/board{query}"))
    return {int(c["data-id"]) for c in soup.select("article.board-card")}


def test_filters_narrow_cards_counts_and_totals(client, zone):
    a, a2, b = zone["a"], zone["a2"], zone["b"]
    p1 = make_project(owner=a, stage="negotiating", cluster="electronic_info", park="dunhou", planned_investment=100)
    p2 = make_project(owner=a2, stage="negotiating", cluster="green_food", park="fenghuang", planned_investment=200,
                      key_project=True)
    p3 = make_project(owner=b, stage="negotiating", cluster="electronic_info", planned_investment=400)
    p4 = make_project(owner=b, stage="lost", cluster="electronic_info", park="dunhou", planned_investment=800,
                      lost_reason="price")
    p5 = make_project(owner=a, stage="full_capacity", planned_investment=1600)
    login(client, zone["manager"])
    assert _ids(client) == {p1.id, p2.id, p3.id, p4.id, p5.id}
    assert _ids(client, "?cluster=electronic_info") == {p1.id, p3.id, p4.id}
    assert _ids(client, "?park=dunhou") == {p1.id, p4.id}
    assert _ids(client, "?park=none") == {p3.id, p5.id}
    assert _ids(client, f"?owner_id={b.id}") == {p3.id, p4.id}
    assert _ids(client, f"?team_id={zone['team1'].id}") == {p1.id, p2.id, p5.id}
    assert _ids(client, "?key=1") == {p2.id}
    assert _ids(client, "?cluster=electronic_info&park=dunhou") == {p1.id, p4.id}
    # counts and totals follow the filters
    soup = soup_of(client.get("/projects/board?cluster=electronic_info"))
    with client.application.test_request_context():
        assert columns_of(soup)["negotiating"][:2] == (2, money_label(Decimal("500")))
    # junk in the filters is ignored, never an error
    assert _ids(client, "?owner_id=abc&team_id=-1&key=maybe&stage=nonsense") == {p1.id, p2.id, p3.id, p4.id, p5.id}


def test_open_stages_only_shows_the_open_columns(client, zone):
    a = zone["a"]
    open_one = make_project(owner=a, stage="in_production")
    make_project(owner=a, stage="full_capacity")
    make_project(owner=a, stage="on_hold")
    make_project(owner=a, stage="lost", lost_reason="moved away")
    login(client, a)
    soup = soup_of(client.get("/projects/board?stage=open"))
    assert list(columns_of(soup)) == ["lead", "negotiating", "site_visit", "signed", "under_construction",
                                      "in_production"]
    assert {int(c["data-id"]) for c in soup.select("article.board-card")} == {open_one.id}
    assert soup.select_one("input[name=stage][value=open]").has_attr("checked")


def test_filters_are_kept_in_every_link(client, zone):
    a = zone["a"]
    for _ in range(queries.CARDS_PER_COLUMN + 1):
        make_project(owner=a, stage="lead", cluster="electronic_info", key_project=True)
    login(client, a)
    query = f"?cluster=electronic_info&park=&owner_id={a.id}&team_id={zone['team1'].id}&key=1&stage=open"
    soup = soup_of(client.get("/projects/board" + query))
    wanted = {"cluster": ["electronic_info"], "owner_id": [str(a.id)], "team_id": [str(zone["team1"].id)],
              "key": ["1"]}
    # the form shows them
    assert soup.select_one("select[name=cluster] option[selected]")["value"] == "electronic_info"
    assert soup.select_one("select[name=owner_id] option[selected]")["value"] == str(a.id)
    assert soup.select_one("select[name=team_id] option[selected]")["value"] == str(zone["team1"].id)
    assert soup.select_one("input[name=key]").has_attr("checked")
    # the column titles (to the list), "show more" (htmx, and its list fallback), and the moves' totals keep them
    title = parse_qs(urlsplit(soup.select_one("#column-title-lead a")["href"]).query)
    assert title == {**wanted, "stage": ["lead"]}
    more = soup.select_one("#more-lead a.board-more-link")
    assert parse_qs(urlsplit(more["hx-get"]).query) == {**wanted, "stage": ["lead"]}
    assert urlsplit(more["hx-get"]).path == "/projects/board/column"
    assert parse_qs(urlsplit(more["href"]).query) == {**wanted, "stage": ["lead"]}
    assert parse_qs(soup.select_one("#board")["data-filters"]) == {**wanted, "stage": ["open"]}
    list_link = parse_qs(urlsplit(soup.select_one("a[data-test=list-view]")["href"]).query)
    assert list_link == {**wanted, "stage": ["open"]}


# --- the card cap and "show more" -----------------------------------------------------------------------------------

def test_columns_are_capped_and_show_more_pages_through_the_rest(client, zone):
    a = zone["a"]
    cap = queries.CARDS_PER_COLUMN
    projects = [make_project(owner=a, stage="negotiating", planned_investment=1) for _ in range(cap + 5)]
    make_project(owner=a, stage="signed")
    login(client, a)
    soup = soup_of(client.get("/projects/board"))
    count, _total, ids = columns_of(soup)["negotiating"]
    assert count == cap + 5 and len(ids) == cap
    newest_first = [p.id for p in reversed(projects)]
    assert ids == newest_first[:cap]
    more = soup.select_one("#more-negotiating a.board-more-link")
    assert more.select_one(".board-more-left").get_text(strip=True) == "5"
    assert more["hx-target"] == "#cards-negotiating" and more["hx-swap"] == "beforeend"
    assert soup.select_one("#more-signed a") is None, "a column with every card shown has no button"

    page = soup_of(client.get(f"{more['hx-get']}&offset={cap}"))
    assert [int(c["data-id"]) for c in page.select("article.board-card")] == newest_first[cap:]
    oob = page.select_one("#more-negotiating")
    assert oob["hx-swap-oob"] == "true" and oob.select_one("a") is None, "nothing left: the button goes"

    page = soup_of(client.get(f"{more['hx-get']}&offset=3"))
    assert [int(c["data-id"]) for c in page.select("article.board-card")] == newest_first[3:3 + cap]
    assert page.select_one("#more-negotiating .board-more-left").get_text(strip=True) == "2"


@pytest.mark.parametrize("query", ["stage=nowhere", "stage=", "", "stage=lead&offset=abc", "stage=lead&offset=-5",
                                   "stage=lead&offset=99999999999999999999", "stage=lead&owner_id=x%00"])
def test_show_more_with_bad_input_is_never_an_error(client, zone, query):
    make_project(owner=zone["a"], stage="lead")
    login(client, zone["a"])
    response = client.get(f"/projects/board/column?{query}")
    assert response.status_code in (200, 404)
    if "stage=lead" in query:
        assert response.status_code == 200


def test_show_more_keeps_the_scope(client, zone):
    hidden = make_project(owner=zone["b"], stage="lead", confidential=True, code_name="青松")
    login(client, zone["a"])
    page = client.get("/projects/board/column?stage=lead&offset=0").get_data(as_text=True)
    assert f"project-card-{hidden.id}" not in page and "青松" not in page


# --- what a card shows --------------------------------------------------------------------------------------------

def test_confidential_projects_show_the_code_name_to_those_who_may_not_see_the_company(app, zone):
    a, a2, b = zone["a"], zone["a2"], zone["b"]
    company = make_company("深圳保密电子科技有限公司", owner=b)  # held by team 2
    secret = make_project(company, owner=a, stage="negotiating", confidential=True, code_name="北极星")
    open_company = make_company("吉安公开食品有限公司", owner=a)
    ours = make_project(open_company, owner=a2, stage="negotiating", confidential=True, code_name="南十字")
    soup = soup_of(client_for(app, a2).get("/projects/board"))  # team 1: sees the project, not team 2's company
    assert card(soup, secret).select_one(".board-card-company").get_text(strip=True) == "北极星"
    assert "深圳保密电子科技有限公司" not in str(soup)
    assert card(soup, secret).select_one(".board-card-lock") is not None
    assert card(soup, ours).select_one(".board-card-company").get_text(strip=True) == "吉安公开食品有限公司"
    soup = soup_of(client_for(app, zone["manager"]).get("/projects/board"))
    assert card(soup, secret).select_one(".board-card-company").get_text(strip=True) == "深圳保密电子科技有限公司"
    soup = soup_of(client_for(app, b).get("/projects/board"))  # team 2: team 1's confidential projects are not there
    assert card(soup, secret) is None and card(soup, ours) is None and "北极星" not in str(soup)
    assert columns_of(soup)["negotiating"][0] == 0


def test_stale_cards_are_marked_with_the_setting_read_once(client, zone, monkeypatch):
    a = zone["a"]
    old = make_project(owner=a, stage="negotiating")
    recent = make_project(owner=a, stage="negotiating")
    finished = make_project(owner=a, stage="full_capacity")
    for project, days in ((old, 40), (recent, 20), (finished, 400)):
        project.last_activity_at = utcnow() - timedelta(days=days)
    db.session.commit()
    login(client, a)
    calls = []
    original = reference.get_setting
    monkeypatch.setattr(reference, "get_setting", lambda key: calls.append(key) or original(key))
    soup = soup_of(client.get("/projects/board"))
    assert calls.count("stale_days") == 1, "the setting is read once per page, not per card"
    assert "board-card-stale" in card(soup, old)["class"] and card(soup, old).select_one(".board-card-stale-mark")
    assert "board-card-stale" not in card(soup, recent)["class"]
    assert card(soup, finished).select_one(".board-card-stale-mark") is None, "full capacity is never stale"
    reference.set_setting("stale_days", 14, actor=make_user("admin"))
    soup = soup_of(client.get("/projects/board"))
    assert "board-card-stale" in card(soup, recent)["class"]
    assert "14" in card(soup, recent).select_one(".board-card-stale-mark")["title"]


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_html_in_any_field_is_shown_escaped(client, zone):
    a = zone["a"]
    a.name = f"王{HOSTILE}"
    db.session.commit()
    company = make_company(f"恶意{HOSTILE}有限公司", owner=a)
    project = make_project(company, owner=a, stage="negotiating", name=f"项目{HOSTILE}", key_project=True)
    secret = make_project(make_company(owner=zone["b"]), owner=a, stage="signed", confidential=True,
                          code_name=f"代号{HOSTILE}")
    login(client, a)
    response = client.get("/projects/board")
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert [x for x in executable_content(html) if not any(s in x for s in BOARD_SCRIPTS)] == []
    soup = soup_of(response)
    assert card(soup, project).select_one(".board-card-title").get_text() == f"项目{HOSTILE}"
    assert card(soup, project).select_one(".board-card-company").get_text() == f"恶意{HOSTILE}有限公司"
    assert card(soup, project).select_one(".board-card-owner").get_text() == f"王{HOSTILE}"
    assert card(soup, secret).select_one(".board-card-company").get_text() == f"代号{HOSTILE}"
    # the card in a move's JSON is escaped the same way
    body = move(client, project, "signed").get_json()
    assert "<script>alert" not in body["card_html"] and "<img src=x" not in body["card_html"]
    fresh = BeautifulSoup(body["card_html"], "html.parser")
    assert fresh.select_one(".board-card-title").get_text() == f"项目{HOSTILE}"
    assert executable_content(body["card_html"]) == []
    # and so is "show more"
    more = client.get("/projects/board/column?stage=signed").get_data(as_text=True)
    assert "<script>alert" not in more and executable_content(more) == []


# --- moving -------------------------------------------------------------------------------------------------------

def test_a_move_saves_at_once_and_answers_with_the_card_and_both_columns(client, zone):
    a = zone["a"]
    project = make_project(owner=a, stage="negotiating", planned_investment=3000, cluster="electronic_info")
    make_project(owner=a, stage="negotiating", planned_investment=500, cluster="electronic_info")
    make_project(owner=a, stage="negotiating", planned_investment=700, cluster="green_food")
    make_project(owner=a, stage="signed", planned_investment=9000, cluster="electronic_info")
    login(client, a)
    read_version = project.version
    response = move(client, project, "signed", filters="cluster=electronic_info")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["project_id"] == project.id and body["stage"] == "signed"
    assert body["version"] == read_version + 1
    with client.application.test_request_context():
        # the board's filter (electronic information) applies to the totals
        assert body["columns"]["negotiating"] == {"count": 1, "total_label": money_label(Decimal("500"))}
        assert body["columns"]["signed"] == {"count": 2, "total_label": money_label(Decimal("12000"))}
    fresh = BeautifulSoup(body["card_html"], "html.parser").select_one("article.board-card")
    assert fresh["data-stage"] == "signed" and fresh["data-version"] == str(body["version"])
    assert fresh["id"] == f"project-card-{project.id}"
    assert "signed" not in [o["value"] for o in fresh.select("option")]
    # recorded: the move row, the stage, the first-reached date
    assert moves_of(project) == [(None, "negotiating"), ("negotiating", "signed")]
    db.session.expire_all()
    saved = db.session.get(Project, project.id)
    assert saved.stage == "signed" and saved.reached_signed is not None
    move_row = db.session.scalars(select(StageMove).where(StageMove.project_id == project.id)
                                  .order_by(StageMove.id.desc())).first()
    assert move_row.actor_id == a.id
    # the board now shows it there
    cols = columns_of(soup_of(client.get("/projects/board?cluster=electronic_info")))
    assert project.id in cols["signed"][2] and cols["signed"][0] == 2


def test_a_move_without_filters_counts_the_whole_column(client, zone):
    a = zone["a"]
    project = make_project(owner=a, stage="lead", planned_investment=10)
    make_project(owner=zone["b"], stage="on_hold", planned_investment=20)
    login(client, a)
    body = move(client, project, "on_hold").get_json()
    with client.application.test_request_context():
        assert body["columns"]["on_hold"] == {"count": 2, "total_label": money_label(Decimal("30"))}
        assert body["columns"]["lead"] == {"count": 0, "total_label": money_label(Decimal("0"))}


def test_a_stale_card_gets_409_with_the_project_as_it_is_now(client, zone):
    a, a2 = zone["a"], zone["a2"]
    project = make_project(owner=a, stage="negotiating", planned_investment=100)
    read_version = project.version
    # a teammate moves it first
    services.move_stage(project.id, "signed", actor=a2, version=read_version)
    login(client, a)
    response = move(client, project, "site_visit", version=read_version, from_stage="negotiating")
    assert response.status_code == 409
    body = response.get_json()
    assert body["ok"] is False and body["error"]["code"] == "conflict" and body["error"]["message"]
    assert body["stage"] == "signed" and body["version"] == read_version + 1
    fresh = BeautifulSoup(body["card_html"], "html.parser").select_one("article.board-card")
    assert fresh["data-stage"] == "signed" and fresh["data-version"] == str(read_version + 1)
    # the columns the board showed it in, aimed at, and where it really is
    assert set(body["columns"]) == {"negotiating", "site_visit", "signed"}
    assert body["columns"]["signed"]["count"] == 1 and body["columns"]["negotiating"]["count"] == 0
    assert moves_of(project) == [(None, "negotiating"), ("negotiating", "signed")], "only the first move"


def test_a_stale_card_dropped_where_the_project_already_is_is_a_conflict_too(client, zone):
    a = zone["a"]
    project = make_project(owner=a, stage="negotiating")
    read_version = project.version
    services.move_stage(project.id, "signed", actor=zone["a2"], version=read_version)
    login(client, a)
    response = move(client, project, "signed", version=read_version, from_stage="negotiating")
    assert response.status_code == 409 and response.get_json()["stage"] == "signed"
    assert moves_of(project) == [(None, "negotiating"), ("negotiating", "signed")]


@pytest.mark.parametrize("junk", ["", "abc", "-1", "1.0", "99999999999999999999", "１"])
def test_junk_versions_are_refused_without_change(client, zone, junk):
    project = make_project(owner=zone["a"], stage="lead")
    login(client, zone["a"])
    response = client.post(f"/projects/{project.id}/move", data={"stage": "signed", "version": junk})
    assert response.status_code == 409
    assert moves_of(project) == [(None, "lead")]


def test_lost_needs_a_reason(client, zone):
    a = zone["a"]
    project = make_project(owner=a, stage="negotiating")
    login(client, a)
    for reason in ("", "   "):
        response = move(client, project, "lost", reason=reason)
        assert response.status_code == 422
        body = response.get_json()
        assert body["ok"] is False and body["error"]["fields"]["reason"]
        assert body["error"]["message"] == body["error"]["fields"]["reason"][0]
    assert moves_of(project) == [(None, "negotiating")]
    response = move(client, project, "lost", reason="选择了邻市的园区")
    assert response.status_code == 200 and response.get_json()["stage"] == "lost"
    db.session.expire_all()
    assert db.session.get(Project, project.id).lost_reason == "选择了邻市的园区"


@pytest.mark.parametrize("stage", ["nowhere", "", "open", "negotiating"])
def test_unknown_stage_or_the_same_stage_is_422(client, zone, stage):
    project = make_project(owner=zone["a"], stage="negotiating")
    login(client, zone["a"])
    response = move(client, project, stage)
    assert response.status_code == 422 and response.get_json()["error"]["fields"]["stage"]
    assert moves_of(project) == [(None, "negotiating")]


def test_another_teams_project_is_403_and_its_confidential_one_404(client, zone):
    theirs = make_project(owner=zone["b"], stage="negotiating")
    secret = make_project(owner=zone["b"], stage="negotiating", confidential=True, code_name="暗号")
    login(client, zone["a"])
    last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    response = move(client, theirs, "signed")
    assert response.status_code == 403
    assert response.get_json()["ok"] is False and response.get_json()["error"]["code"] == "forbidden"
    assert "card_html" not in response.get_json()
    response = move(client, secret, "signed")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"]["code"] == "not_found" and "暗号" not in response.get_data(as_text=True)
    assert client.post("/projects/999999/move", data={"stage": "signed", "version": "1"}).status_code == 404
    assert moves_of(theirs) == [(None, "negotiating")] and moves_of(secret) == [(None, "negotiating")]
    denied = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > last)))
    assert denied.count("authz_denied") == 3, "refusals are logged like everywhere else"


def test_managers_move_any_project(client, zone):
    secret = make_project(owner=zone["b"], stage="negotiating", confidential=True, code_name="暗号")
    login(client, zone["manager"])
    assert move(client, secret, "signed").status_code == 200
    assert moves_of(secret)[-1] == ("negotiating", "signed")


def test_move_is_post_only(client, zone):
    project = make_project(owner=zone["a"], stage="lead")
    login(client, zone["a"])
    assert client.get(f"/projects/{project.id}/move").status_code == 405


def test_move_needs_the_csrf_token(app, zone):
    """With CSRF on (as in production), a move without the X-CSRFToken header is refused; with it, it goes through."""
    project = make_project(owner=zone["a"], stage="lead")
    with side_app(app, WTF_CSRF_ENABLED=True) as live:
        client = client_for(live, zone["a"])
        with live.app_context():
            page = client.get("/projects/board").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        data = {"stage": "negotiating", "version": str(project.version)}
        with live.app_context():
            assert client.post(f"/projects/{project.id}/move", data=data).status_code == 400
            response = client.post(f"/projects/{project.id}/move", data=data, headers={"X-CSRFToken": token})
        assert response.status_code == 200
    assert moves_of(project) == [(None, "lead"), ("lead", "negotiating")]
