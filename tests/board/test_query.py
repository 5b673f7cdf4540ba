"""The wall chart's query (crm/support/board.py): statuses around the yellow and red boundaries in the zone's time
zone, filters, the confidential code name, the order by worst status, open requests, and a fixed number of
statements whatever the number of rows."""
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, select

from crm.auth import access
from crm.companies.models import Company
from crm.extensions import db
from crm.reference.models import Setting
from crm.support import board as wall
from crm.support import services
from crm.support.models import MILESTONE_KEYS, Milestone

from ..factories import make_company, make_project
from .conftest import milestones


def names(result: wall.Board) -> list[str]:
    return [r.name for r in result.rows]


def row(result: wall.Board, project) -> wall.Row:
    return next(r for r in result.rows if r.project_id == project.id)


def statuses(result: wall.Board, project) -> dict[str, str | None]:
    return {k: (c.status if c else None) for k, c in row(result, project).cells.items()}


def test_statuses_around_the_yellow_and_red_boundaries(w):
    result = wall.board(w.manager, wall.BoardFilters())
    assert statuses(result, w.red) == {
        "land_acquired": "done",  # done before its planned date: done, not red
        "planning_permit": "red",  # planned yesterday, not done
        "construction_permit": "yellow", "construction_start": "green",  # in 3 days; in 30 days
        "topping_out": "green", "equipment_in": "green", "trial_production": "green",  # not planned yet
        "production_start": "green", "full_capacity": "green"}
    yellow = statuses(result, w.yellow)
    assert yellow["land_acquired"] == "done"  # done today, planned today
    assert yellow["planning_permit"] == "yellow"  # the 7th day from today is the last yellow one
    assert statuses(result, w.green)["land_acquired"] == "green"  # the 8th day is green
    assert set(statuses(result, w.done).values()) == {"done"}
    assert statuses(result, w.bare) == dict.fromkeys(MILESTONE_KEYS)
    # the cells agree with the service's own rule, one by one
    for r in result.rows:
        for kind, cell in r.cells.items():
            if cell is not None:
                assert cell.status == services.milestone_status(db.session.get(Milestone, cell.id)), (r.name, kind)
    assert [row(result, p).worst_status for p in (w.red, w.yellow, w.green, w.done, w.bare)] == [
        "red", "yellow", "green", "done", None]
    assert result.on == services.today() and result.warning_days == 7


def test_the_warning_window_is_the_setting(w):
    db.session.add(Setting(key=services.WARNING_SETTING, value=3))
    db.session.commit()
    result = wall.board(w.manager, wall.BoardFilters())
    assert result.warning_days == 3
    assert statuses(result, w.red)["construction_permit"] == "yellow"  # in 3 days: still yellow
    assert statuses(result, w.yellow)["planning_permit"] == "green"  # in 7 days: green now
    assert row(result, w.yellow).worst_status == "green"  # green ranks before done


@pytest.mark.parametrize(("instant", "status"), [
    (datetime(2026, 3, 9, 15, 59, tzinfo=UTC), "yellow"),  # 23:59 on 9 March in Beijing: due today
    (datetime(2026, 3, 9, 16, 0, tzinfo=UTC), "red"),  # 00:00 on 10 March in Beijing: overdue
])
def test_red_begins_at_midnight_in_the_zone_not_in_utc(w, instant, status):
    project = make_project(make_company(owner=w.a), owner=w.a, name="时区项目", stage="signed", key_project=True)
    milestones(project, {"land_acquired": (date(2026, 3, 9), None), "planning_permit": (date(2026, 3, 16), None),
                         "construction_permit": (date(2026, 3, 17), None)})
    with time_machine.travel(instant, tick=False):
        result = wall.board(w.manager, wall.BoardFilters())
    cells = statuses(result, project)
    assert cells["land_acquired"] == status
    # the yellow window moves with the zone's day too: 16 March is the 7th day from 9 March, not from 10 March
    assert cells["planning_permit"] == "yellow"
    assert cells["construction_permit"] == ("yellow" if status == "red" else "green")


def test_worst_status_first_and_the_longest_overdue_first_among_reds(w):
    result = wall.board(w.a, wall.BoardFilters())
    # red2 is 20 days overdue, red 1 day: red2 first; then yellow; the greens by their first open milestone (in 8,
    # 20 and 50 days); done; and the project without milestones last
    assert names(result) == ["乙 更久逾期项目", "甲 逾期项目", "丙 将到期项目", "丁 正常项目", "壬 保密项目",
                             "子 二组公开项目", "戊 已完成项目", "己 无节点项目"]
    ranks = [services.STATUS_RANK.get(r.worst_status, 9) for r in result.rows]
    assert ranks == sorted(ranks)


def test_sort_by_name_and_by_planned_production(w):
    by_name = names(wall.board(w.a, wall.BoardFilters(sort="name")))
    assert by_name == sorted(by_name)
    by_production = wall.board(w.a, wall.BoardFilters(sort="production"))
    planned = [r.planned_production for r in by_production.rows]
    dated = [p for p in planned if p is not None]
    assert dated == sorted(dated) and len(dated) == 3  # green, secret, done
    assert planned[:len(dated)] == dated  # the projects without a planned production start come last
    assert row(by_production, w.green).planned_production == w.today + timedelta(days=300)


def test_only_signed_projects_the_user_may_see_key_ones_by_default(w):
    mine = wall.board(w.a, wall.BoardFilters())
    shown = {r.project_id for r in mine.rows}
    assert w.talks.id not in shown  # negotiating: not signed yet
    assert w.plain.id not in shown  # not a key project
    assert w.hidden.id not in shown  # another team's confidential project
    assert {w.red.id, w.secret.id, w.b_open.id} <= shown and mine.total == len(shown) == 8
    every = wall.board(w.a, wall.BoardFilters(key_only=False))
    assert w.plain.id in {r.project_id for r in every.rows} and every.total == 9
    assert wall.board(w.manager, wall.BoardFilters(key_only=False)).total == 10  # the manager sees `hidden` too
    assert wall.board(w.liaison, wall.BoardFilters(key_only=False)).rows == []


def test_filters_park_cluster_officer(w):
    assert names(wall.board(w.a, wall.BoardFilters(park="fenghuang"))) == ["丙 将到期项目"]
    assert names(wall.board(w.a, wall.BoardFilters(park="none", key_only=False))) == ["庚 普通项目"]
    assert names(wall.board(w.a, wall.BoardFilters(cluster="green_food"))) == ["丁 正常项目"]
    assert names(wall.board(w.a, wall.BoardFilters(owner_id=w.b.id))) == ["子 二组公开项目"]
    assert wall.board(w.a, wall.BoardFilters(park="nowhere")).rows == []


def test_deleted_projects_and_milestones_leave_the_board(w):
    w.yellow.deleted_at = services.utcnow()
    gone = db.session.scalar(select(Milestone).where(Milestone.project_id == w.red.id,
                                                     Milestone.kind == "planning_permit"))
    gone.deleted_at = services.utcnow()
    db.session.commit()
    result = wall.board(w.manager, wall.BoardFilters())
    assert w.yellow.id not in {r.project_id for r in result.rows}
    assert row(result, w.red).cells["planning_permit"] is None
    assert row(result, w.red).worst_status == "yellow"  # the deleted red milestone no longer counts


def test_filters_from_query_arguments():
    from werkzeug.datastructures import MultiDict

    def parse(query):
        return wall.BoardFilters.from_args(MultiDict(query))

    assert parse([]).key_only is True
    assert parse([("key", "0")]).key_only is False  # the form with the box unticked
    assert parse([("key", "0"), ("key", "1")]).key_only is True  # the form with the box ticked
    assert parse([("key", "false")]).key_only is False and parse([("all", "1")]).key_only is False
    f = parse([("park", "dunhou"), ("cluster", "green_food"), ("owner_id", "7"), ("sort", "name"), ("page", "3")])
    assert (f.park, f.cluster, f.owner_id, f.sort, f.page) == ("dunhou", "green_food", 7, "name", 3)
    assert parse([("sort", "drop table"), ("owner_id", "x"), ("page", "-1")]).args() == {}
    assert wall.BoardFilters.unmatched(MultiDict([("owner_id", "x")]))
    assert parse([("key", "0"), ("sort", "production")]).args(page=2) == {"key": "0", "sort": "production", "page": 2}


def test_confidential_project_shows_its_code_name_to_those_who_may_not_see_its_company(w):
    officer = wall.board(w.a, wall.BoardFilters())
    manager = wall.board(w.manager, wall.BoardFilters())
    assert row(officer, w.secret).company == "白鹭" and not row(officer, w.secret).company_visible
    assert row(manager, w.secret).company == "深圳华信电子有限公司"
    # an ordinary project on a company the officer may not see still names the company (only confidential ones hide)
    assert row(officer, w.b_open).company == "深圳华信电子有限公司"
    # the Python check agrees with the company scope for every row and viewer
    for user, result in ((w.a, officer), (w.manager, manager), (w.b, wall.board(w.b, wall.BoardFilters()))):
        for r in result.rows:
            company_id = db.session.get(type(w.red), r.project_id).company_id
            in_scope = db.session.scalar(select(Company.id).where(Company.id == company_id,
                                                                  access.company_scope(user))) is not None
            assert r.company_visible == in_scope, (user.name, r.name)


def test_open_requests_per_row(w):
    result = wall.board(w.a, wall.BoardFilters())
    red = row(result, w.red)
    assert (red.open_requests, red.late_requests) == (3, 1)  # open ×2 and in progress; one open past its deadline
    assert (row(result, w.green).open_requests, row(result, w.green).late_requests) == (1, 0)
    assert row(result, w.yellow).open_requests == 0


def test_pages_of_the_board(w):
    first = wall.board(w.a, wall.BoardFilters(), per_page=3)
    second = wall.board(w.a, wall.BoardFilters(page=2), per_page=3)
    beyond = wall.board(w.a, wall.BoardFilters(page=9), per_page=3)
    assert first.total == second.total == beyond.total == 8 and first.pages == 3
    assert len(first.rows) == len(second.rows) == 3 and beyond.rows == []
    everyone = names(wall.board(w.a, wall.BoardFilters()))
    assert names(first) + names(second) == everyone[:6]


def _statements(call) -> list[str]:
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def test_a_fixed_number_of_statements_whatever_the_rows(w):
    assert w.a.team_id  # the viewer loaded before counting (the page has its signed-in user already)
    small = _statements(lambda: wall.board(w.a, wall.BoardFilters(), on=w.today, days=7))
    company = make_company(owner=w.a)
    for i in range(25):
        project = make_project(company, owner=w.a, name=f"批量项目{i:02d}", stage="signed", key_project=True,
                               confidential=i % 5 == 0, code_name=f"代号{i}")
        milestones(project, {"land_acquired": (w.today - timedelta(days=i), None)})
    db.session.rollback()
    assert w.a.team_id
    large_board = []
    large = _statements(lambda: large_board.append(wall.board(w.a, wall.BoardFilters(), on=w.today, days=7)))
    assert len(large_board[0].rows) == 33
    assert len(small) == len(large) == 4  # page ids with the total, projects, milestones, open requests
