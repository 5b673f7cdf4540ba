"""The wall chart's test world: two teams, a manager, a liaison, signed projects whose milestones sit in every status
relative to the zone's today, open and closed requests, a confidential project whose company the officer may not see.
"""
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from crm.extensions import db
from crm.support import services
from crm.support.models import MILESTONE_KEYS, EnterpriseRequest, Milestone

from ..factories import make_company, make_project, make_reference, make_team, make_user

LAND = "natural_resources"


def milestones(project, dates: dict, *, department: str | None = LAND) -> dict[str, Milestone]:
    """The nine standard milestones of `project`; `dates` maps a kind to (planned, actual), the rest unplanned."""
    rows = {}
    for i, kind in enumerate(MILESTONE_KEYS):
        planned, actual = dates.get(kind, (None, None))
        rows[kind] = Milestone(project_id=project.id, kind=kind, sort=(i + 1) * 10, planned_date=planned,
                               actual_date=actual, department=department, owner_id=project.owner_id, note="")
    db.session.add_all(rows.values())
    db.session.commit()
    return rows


def request(project, *, status: str = "open", deadline: date, deleted: bool = False) -> EnterpriseRequest:
    from crm.core.timeutil import utcnow

    found = EnterpriseRequest(project_id=project.id, company_id=project.company_id, category="land",
                              description="用地诉求", department=LAND, owner_id=project.owner_id, deadline=deadline,
                              status=status, resolution="", deleted_at=utcnow() if deleted else None)
    db.session.add(found)
    db.session.commit()
    return found


@pytest.fixture
def w() -> SimpleNamespace:
    """Officer a (team 1), officer b (team 2), a manager, a liaison. Signed-or-later key projects of a, each with
    one milestone status as its worst: `red` (planned yesterday), `yellow` (planned in 7 days: the last yellow day),
    `green` (planned in 8 days), `done` (every planned one done), `bare` (no milestones at all); `plain` is signed but
    not a key project; `talks` is negotiating (not on the board); `secret` is a's confidential project on a company
    team 2 holds (a sees its code name); `hidden` is team 2's confidential project (a does not see it at all)."""
    make_reference()
    today = services.today()
    team1, team2 = make_team("一组"), make_team("二组")
    ns = SimpleNamespace(today=today)
    ns.a = make_user(team=team1, name="王一")
    ns.b = make_user(team=team2, name="李三")
    ns.manager = make_user("manager", name="赵局")
    ns.liaison = make_user("liaison", name="联络员", department=LAND)
    own = make_company("吉安宏达电子有限公司", owner=ns.a, cluster="electronic_info")
    held_by_b = make_company("深圳华信电子有限公司", owner=ns.b, cluster="electronic_info")

    def project(name, stage="signed", **extra):
        extra.setdefault("key_project", True)
        extra.setdefault("park", "dunhou")
        extra.setdefault("cluster", "electronic_info")
        return make_project(extra.pop("company", own), owner=extra.pop("owner", ns.a), name=name, stage=stage,
                            **extra)

    day = timedelta(days=1)
    ns.red = project("甲 逾期项目", stage="under_construction")
    milestones(ns.red, {"land_acquired": (today - 40 * day, today - 41 * day),
                        "planning_permit": (today - day, None), "construction_permit": (today + 3 * day, None),
                        "construction_start": (today + 30 * day, None)})
    ns.red2 = project("乙 更久逾期项目")
    milestones(ns.red2, {"land_acquired": (today - 20 * day, None)})
    ns.yellow = project("丙 将到期项目", park="fenghuang")
    milestones(ns.yellow, {"land_acquired": (today, today), "planning_permit": (today + 7 * day, None)})
    ns.green = project("丁 正常项目", cluster="green_food")
    milestones(ns.green, {"land_acquired": (today + 8 * day, None),
                          "production_start": (today + 300 * day, None)})
    ns.done = project("戊 已完成项目", stage="in_production")
    milestones(ns.done, {k: (today - 100 * day, today - 90 * day) for k in MILESTONE_KEYS})
    ns.bare = project("己 无节点项目")
    ns.plain = project("庚 普通项目", key_project=False, park=None)
    milestones(ns.plain, {"land_acquired": (today - 5 * day, None), "production_start": (today + 100 * day, None)})
    ns.talks = project("辛 洽谈中项目", stage="negotiating")
    ns.secret = project("壬 保密项目", company=held_by_b, confidential=True, code_name="白鹭")
    milestones(ns.secret, {"land_acquired": (today + 20 * day, None), "production_start": (today + 200 * day, None)})
    ns.hidden = project("癸 二组保密项目", owner=ns.b, company=held_by_b, confidential=True, code_name="青松")
    milestones(ns.hidden, {"land_acquired": (today - 3 * day, None)})
    ns.b_open = project("子 二组公开项目", owner=ns.b, company=held_by_b)
    milestones(ns.b_open, {"land_acquired": (today + 50 * day, None)})
    # requests on red: two open (one past its deadline), one in progress, one resolved, one closed, one deleted
    request(ns.red, deadline=today - day)
    request(ns.red, deadline=today + 5 * day)
    request(ns.red, status="in_progress", deadline=today)
    request(ns.red, status="resolved", deadline=today - 9 * day)
    request(ns.red, status="closed", deadline=today - 9 * day)
    request(ns.red, deadline=today - 9 * day, deleted=True)
    request(ns.green, deadline=today + 9 * day)
    return ns
