"""The support board's test world: two teams, a manager, liaisons of two departments, signed projects."""
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.reference.models import RefItem

from ..factories import make_company, make_project, make_reference, make_team, make_user
from ..projects.test_services import invalid, refused, snapshot  # noqa: F401  (the shared "nothing was written" checks)

#: the two departments of the test zone (make_reference has the first)
LAND, DEV = "natural_resources", "development_reform"


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def w() -> SimpleNamespace:
    """Officers a (team 1) and b (team 2), a manager, liaisons of the land (LAND) and development (DEV) departments,
    a liaison without a department; project p (team 1, signed) and a confidential signed project q of team 2."""
    make_reference()
    db.session.add(RefItem(kind="department", key=DEV, name="发展改革委", name_en="Development and Reform"))
    db.session.commit()
    team1, team2 = make_team("一组"), make_team("二组")
    ns = SimpleNamespace(team1=team1, team2=team2)
    ns.a = make_user(team=team1, name="王一")
    ns.b = make_user(team=team2, name="李三")
    ns.manager = make_user("manager", name="赵局")
    ns.land = make_user("liaison", name="自然资源联络员", department=LAND)
    ns.land2 = make_user("liaison", name="自然资源联络员二", department=LAND)
    ns.dev = make_user("liaison", name="发改联络员", department=DEV)
    ns.nodept = make_user("liaison", name="无部门联络员")
    ns.company = make_company("吉安宏达电子有限公司", owner=ns.a)
    ns.p = make_project(ns.company, owner=ns.a, name="宏达电子年产500万片项目", stage="signed")
    ns.company_b = make_company("深圳华信电子有限公司", owner=ns.b)
    ns.q = make_project(ns.company_b, owner=ns.b, name="华信保密项目", stage="signed", confidential=True,
                        code_name="H项目")
    return ns
