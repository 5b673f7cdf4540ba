"""What the dashboard's faster statements rely on (bench/README.md, issue 7): the project's copy of its company's
origin city follows the company, and the projects a viewer may not see, listed from the deleted and confidential
ones only, are exactly those outside `access.project_scope`."""
from sqlalchemy import select

from crm.auth import access
from crm.companies import services as companies
from crm.companies.models import Company
from crm.dashboard import kpis
from crm.extensions import db
from crm.projects import services as projects
from crm.projects.models import Project

from ..factories import make_company
from .conftest import TODAY


def city_rows(viewer) -> dict:
    found = kpis.breakdown(viewer, "origin_city", kpis.period_for("month", TODAY))
    return {r.key: r.projects.value for r in found.rows}


def test_the_projects_city_follows_its_company(zone):
    assert {p.origin_city for p in (zone.p1, zone.p2, zone.p6)} == {"shenzhen"}  # written with the project
    sz = db.session.get(Company, zone.p1.company_id)
    before = city_rows(zone.manager)
    # the company's city changes: its projects' copies follow (the breakdown moves P1, P2, P6: P1 and P2 pipeline)
    companies.update_company(sz.id, {"origin_city": "dongguan"}, actor=zone.manager, version=sz.version)
    db.session.expire_all()
    assert {db.session.get(Project, p.id).origin_city for p in (zone.p1, zone.p2, zone.p6)} == {"dongguan"}
    after = city_rows(zone.manager)
    moved = before["shenzhen"] - after["shenzhen"]
    assert moved > 0 and after["dongguan"] == before["dongguan"] + moved
    # a project moved to another company takes that company's city; a new project its company's
    elsewhere = make_company("广州迁入科技有限公司", owner=zone.a1, origin_city="guangzhou")
    p1 = db.session.get(Project, zone.p1.id)
    projects.update_project(p1.id, {"company_id": elsewhere.id}, actor=zone.manager, version=p1.version)
    db.session.expire_all()
    assert db.session.get(Project, zone.p1.id).origin_city == "guangzhou"
    new = projects.create_project({"name": "新项目", "company_id": elsewhere.id}, actor=zone.a1)
    assert db.session.get(Project, new.id).origin_city == "guangzhou"
    # every live project's copy is its company's city
    assert db.session.execute(select(Project.id).join(Company, Company.id == Project.company_id).where(
        Project.origin_city.is_distinct_from(Company.origin_city))).all() == []


def test_the_hidden_projects_are_exactly_those_outside_the_scope(zone):
    p = db.session.get(Project, zone.p12.id)
    p.deleted_at = p.updated_at  # a deleted project is hidden from everyone
    db.session.commit()
    every = set(db.session.scalars(select(Project.id)))
    for viewer in (zone.manager, zone.admin, zone.a1, zone.a2, zone.b1):
        visible = set(db.session.scalars(select(Project.id).where(access.project_scope(viewer))))
        hidden = set(db.session.scalars(kpis._hidden_projects(viewer)))
        assert hidden == every - visible and zone.p12.id in hidden
    a1_hidden = set(db.session.scalars(kpis._hidden_projects(zone.a1)))
    assert zone.p8.id in a1_hidden  # team B's confidential project


def test_the_dashboards_meeting_scope_is_access_meeting_scope(zone):
    """The meetings count's scope for an officer (NOT IN the companies and projects they may not see) selects the
    same meetings as `access.meeting_scope`, for every viewer of the zone."""
    from crm.meetings.models import Meeting

    p = db.session.get(Project, zone.p12.id)
    p.deleted_at = p.updated_at  # a meeting on a deleted project is not the officers'
    db.session.commit()
    for viewer in (zone.manager, zone.admin, zone.a1, zone.a2, zone.b1):
        expected = set(db.session.scalars(select(Meeting.id).where(access.meeting_scope(viewer))))
        assert set(db.session.scalars(select(Meeting.id).where(kpis._meeting_scope(viewer)))) == expected
