"""Every figure drills down to exactly the records it counts: the project list (its filters, as the page and the API
read them), an officer's task list, the meetings list of the API. Walked over every figure of the pipeline, for a
manager and for an officer, on the hand-built zone."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from crm.auth.models import User
from crm.dashboard import kpis
from crm.extensions import db
from crm.meetings import queries as meeting_queries
from crm.projects import queries
from crm.projects.models import Project
from crm.support.models import Milestone

from ..factories import api_token, bearer
from ..security.helpers import client_for
from .conftest import EI, TODAY

MARCH = kpis.period_for("month", date(2026, 3, 10))


def project_ids(viewer, drill: kpis.Drill) -> set[int]:
    """The records the project list shows for the drill's arguments."""
    assert drill.list == "projects"
    f = queries.ProjectFilters.from_args(MultiDict(drill.args))
    assert not queries.ProjectFilters.unmatched(MultiDict(drill.args)), drill.args
    assert {k: str(v) for k, v in f.args().items()} == drill.args, "every argument is understood and given back"
    return set(db.session.scalars(queries.filtered(viewer, f).with_only_columns(Project.id)))


def planned(ids) -> Decimal:
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(Project.planned_investment), 0))
                                     .where(Project.id.in_(ids))) or 0)


def check_cell(viewer, cell: kpis.Cell, *, amount: bool = False) -> set[int]:
    ids = project_ids(viewer, cell.drill)
    assert (planned(ids) if amount else len(ids)) == cell.value, (cell.drill.args, ids)
    return ids


def figures(viewer, result: kpis.Pipeline):
    """Every (cell, is an amount) of the result whose records are projects."""
    for row in result.funnel:
        yield row.projects, False
        yield row.investment, True
    for b in result.breakdowns.values():
        for row in b.rows:
            yield row.projects, False
            yield row.investment, True
            yield row.signed, False
            yield row.signed_investment, True
    for key in ("new_leads", "stage_moves", "signed"):
        yield result.changes[key].current, False
        yield result.changes[key].previous, False
    for row in result.targets:
        yield row.signed, True
    for row in result.officers:
        yield row.stale, False


@pytest.mark.parametrize("who", ["manager", "a1", "b1"])
def test_every_project_figure_is_the_list_it_links_to(zone, app, who):
    viewer = getattr(zone, who)
    with app.test_request_context():
        result = kpis.pipeline(viewer, MARCH)
        checked = 0
        for cell, amount in figures(viewer, result):
            if cell.drill.list == "projects" and "moved_from" not in cell.drill.args:
                check_cell(viewer, cell, amount=amount)
                checked += 1
        assert checked > 60


def test_stage_moves_drill_to_the_projects_that_moved(zone):
    change = kpis.changes(zone.manager, MARCH)["stage_moves"]
    # 9 moves of 5 projects: P2, P3, P6, P7, P8 (a count of moves, the list shows the projects that made them)
    assert project_ids(zone.manager, change.current.drill) == {zone.p2.id, zone.p3.id, zone.p6.id, zone.p7.id,
                                                               zone.p8.id}
    # February: P6 (02-28 23:59:59) and P11 (02-01)
    assert project_ids(zone.manager, change.previous.drill) == {zone.p6.id, zone.p11.id}


def test_rates_drill_to_their_numerators_and_denominators(zone):
    for viewer in (zone.manager, zone.a1):
        rates = kpis.rates(viewer, MARCH, today=TODAY)
        for key in ("conversion", "construction", "production"):
            rate = rates[key]
            assert len(project_ids(viewer, rate.drill)) == rate.denominator, key
            assert len(project_ids(viewer, rate.numerator_drill)) == rate.numerator, key
            assert project_ids(viewer, rate.numerator_drill) <= project_ids(viewer, rate.drill)
        funds = rates["funds"]
        signed = project_ids(viewer, funds.drill)
        with_amount = [p for p in db.session.scalars(select(Project).where(Project.id.in_(signed)))
                       if p.planned_investment]
        assert sum(p.funds_in_place for p in with_amount) == funds.numerator
        assert sum(p.planned_investment for p in with_amount) == funds.denominator
    # 履约率: the list holds the projects whose due milestones were counted (P3, P7 and, for the manager, P8)
    milestones = kpis.rates(zone.manager, MARCH, today=TODAY)["milestones"]
    assert milestones.drill.args == {"milestone_from": "2026-03-01", "milestone_to": "2026-03-20"}
    ids = project_ids(zone.manager, milestones.drill)
    assert ids == {zone.p3.id, zone.p7.id, zone.p8.id}
    counted = db.session.scalar(select(func.count()).select_from(Milestone).where(
        Milestone.project_id.in_(ids), Milestone.planned_date.between(date(2026, 3, 1), TODAY)))
    assert counted == milestones.denominator == 5
    assert project_ids(zone.a1, kpis.rates(zone.a1, MARCH, today=TODAY)["milestones"].drill) == {zone.p3.id,
                                                                                                  zone.p7.id}


def test_lost_and_fallen_back_projects_are_not_in_the_signed_lists(zone):
    signed = kpis.changes(zone.manager, MARCH)["signed"].current
    assert project_ids(zone.manager, signed.drill) == {zone.p2.id, zone.p3.id, zone.p8.id}
    ei = next(r for r in kpis.breakdown(zone.manager, "cluster", MARCH).rows if r.key == EI)
    assert zone.p7.id not in project_ids(zone.manager, ei.projects.drill)        # lost: not in the pipeline


def test_overdue_tasks_drill_to_the_officers_task_list(zone):
    for viewer in (zone.manager, zone.a1):
        for row in kpis.officer_load(viewer):
            if row.overdue_tasks is None:
                continue
            assert row.overdue_tasks.drill.list == "tasks"
            owner = db.session.get(User, int(row.overdue_tasks.drill.args["owner_id"]))
            groups = meeting_queries.task_groups(viewer, owner, expand="overdue")
            assert groups.counts["overdue"] == len(groups.overdue) == row.overdue_tasks.value


def test_meetings_drill_to_the_api_list(zone):
    for viewer in (zone.manager, zone.a1):
        change = kpis.changes(viewer, MARCH)["meetings"]
        for cell in (change.current, change.previous):
            from datetime import datetime

            f = meeting_queries.MeetingFilters(start_from=datetime.fromisoformat(cell.drill.args["start_from"]),
                                               start_before=datetime.fromisoformat(cell.drill.args["start_before"]))
            _rows, total = meeting_queries.meeting_list(viewer, f)
            assert total == cell.value


def test_the_project_page_and_the_api_list_show_the_drilled_records(zone, app):
    with app.test_request_context():
        signed = kpis.changes(zone.a1, MARCH)["signed"].current
        url = signed.drill.url()
    assert url.startswith("/projects?")
    page = client_for(app, zone.a1).get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'href="/projects/{zone.p2.id}"' in html and f'href="/projects/{zone.p3.id}"' in html
    assert f'href="/projects/{zone.p8.id}"' not in html and f'href="/projects/{zone.p6.id}"' not in html
    token = api_token(app.test_client(), zone.a1)
    listed = app.test_client().get("/api/v1/projects", query_string=signed.drill.args, headers=bearer(token))
    assert listed.status_code == 200
    assert {i["id"] for i in listed.get_json()["items"]} == {zone.p2.id, zone.p3.id} and listed.get_json()["total"] == 2
