"""The project list's drill-down filters (crm.projects.queries.ProjectFilters): day ranges in zone days, stage groups,
"none" for a value not set, the company's origin city, source and event; on the page, in the API and the board."""
from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from crm.extensions import db
from crm.projects import queries
from crm.projects.models import Project
from crm.projects.services import clean_query

from ..factories import api_token, bearer
from ..security.helpers import client_for
from .conftest import EI, GF


def ids(viewer, **args) -> set[int]:
    f = queries.ProjectFilters.from_args(MultiDict({k: str(v) for k, v in args.items()}))
    return set(db.session.scalars(queries.filtered(viewer, f).with_only_columns(Project.id)))


def named(zone, *names) -> set[int]:
    return {getattr(zone, n).id for n in names}


def test_created_range_is_zone_days_both_included(zone):
    # 03-01 00:00 (P2) to 03-31 23:30 (P4) are March; P5 at 04-01 00:00 (03-31 16:00 UTC) is not; P10 is deleted
    assert ids(zone.manager, created_from="2026-03-01", created_to="2026-03-31") == named(zone, "p1", "p2", "p4",
                                                                                           "p7", "p8")
    assert ids(zone.manager, created_from="2026-04-01") == named(zone, "p5")
    assert ids(zone.manager, created_to="2026-02-28") >= named(zone, "p9", "p3")
    assert zone.p9.id not in ids(zone.manager, created_from="2026-03-01")


def test_signed_range_uses_the_signing_day_or_the_first_later_stage(zone):
    # P8 skipped signed (lead → in production 03-20): its signing day is 03-20
    assert ids(zone.manager, signed_from="2026-03-20", signed_to="2026-03-20") == named(zone, "p8")
    # every project whose signing day is in March, whatever its stage now: P2, P3, P6, P7, P8
    assert ids(zone.manager, signed_from="2026-03-01", signed_to="2026-03-31") == named(zone, "p2", "p3", "p6",
                                                                                         "p7", "p8")
    # with the stage group, only those still signed or further along
    assert ids(zone.manager, signed_from="2026-03-01", signed_to="2026-03-31", stage="signed_or_later") == \
        named(zone, "p2", "p3", "p8")


def test_stage_groups(zone):
    assert ids(zone.manager, stage="pipeline") == named(zone, "p1", "p2", "p3", "p4", "p5", "p6", "p8", "p9",
                                                        "p11", "p12")
    assert ids(zone.manager, stage="started") == named(zone, "p3", "p8", "p11", "p12")
    assert ids(zone.manager, stage="producing") == named(zone, "p8", "p11")


def test_values_not_set_and_the_companys_city(zone):
    assert ids(zone.manager, cluster="none") == named(zone, "p9")
    assert ids(zone.manager, park="none", stage="pipeline") == named(zone, "p4", "p9", "p11", "p12")
    assert ids(zone.manager, origin_city="dongguan") == named(zone, "p3", "p4", "p11", "p12")
    assert ids(zone.manager, origin_city="none") == named(zone, "p7", "p9")
    assert ids(zone.manager, source="referral") == named(zone, "p2")
    assert ids(zone.manager, source="none", cluster=EI) == named(zone, "p4", "p6", "p8", "p12")
    assert ids(zone.manager, event_id="7") == named(zone, "p1")
    assert zone.p1.id not in ids(zone.manager, event_id="none")
    assert ids(zone.manager, team_id=zone.team_b.id) == named(zone, "p4", "p5", "p8", "p12")
    teamless = db.session.get(type(zone.manager), zone.manager.id)
    assert ids(zone.manager, team_id="none") == set()                 # every owner is in a team...
    zone.p9.owner_id = teamless.id
    db.session.commit()
    assert ids(zone.manager, team_id="none") == named(zone, "p9")    # ...until a teamless manager owns one


def test_moved_and_milestone_ranges(zone):
    # a recorded move (not the creation) on 03-25: P6 back to negotiating
    assert ids(zone.manager, moved_from="2026-03-25", moved_to="2026-03-25") == named(zone, "p6")
    # 02-28 (zone) holds P6's move at 23:59:59; 03-01 holds no move (P2 was created then, not moved)
    assert ids(zone.manager, moved_from="2026-02-28", moved_to="2026-02-28") == named(zone, "p6")
    assert ids(zone.manager, moved_from="2026-03-01", moved_to="2026-03-01") == set()
    assert ids(zone.manager, milestone_from="2026-03-01", milestone_to="2026-03-20") == named(zone, "p3", "p7", "p8")
    assert ids(zone.a1, milestone_from="2026-03-01", milestone_to="2026-03-20") == named(zone, "p3", "p7")


@pytest.mark.parametrize("args", [{"created_from": "2026-13-01"}, {"signed_to": "soon"}, {"event_id": "x"},
                                  {"stage": "signd"}])
def test_an_unreadable_filter_matches_nothing_in_the_api(zone, app, args):
    assert queries.ProjectFilters.unmatched(MultiDict(args))
    token = api_token(app.test_client(), zone.manager)
    listed = app.test_client().get("/api/v1/projects", query_string=args, headers=bearer(token))
    assert listed.status_code == 200 and listed.get_json()["total"] == 0


def test_the_list_page_shows_and_keeps_the_drill_filters(zone, app):
    client = client_for(app, zone.manager)
    page = client.get("/projects", query_string={"created_from": "2026-03-01", "created_to": "2026-03-31",
                                                 "origin_city": "shenzhen", "stage": "pipeline"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # P1, P2, P8 (P7 is lost and from no city; P4 is from Dongguan)
    for p in (zone.p1, zone.p2, zone.p8):
        assert f'href="/projects/{p.id}"' in html
    assert f'href="/projects/{zone.p4.id}"' not in html
    assert 'data-test="drill-filters"' in html and "2026-03-01 – 2026-03-31" in html and "深圳" in html
    assert '<input type="hidden" name="created_from" value="2026-03-01">' in html
    assert '<option value="pipeline" selected>' in html
    # a saved view keeps them
    assert clean_query("signed_from=2026-03-01&signed_to=2026-03-31&stage=signed_or_later&bogus=1") == \
        "signed_from=2026-03-01&signed_to=2026-03-31&stage=signed_or_later"


def test_the_board_takes_a_stage_group(zone, app):
    board = client_for(app, zone.manager).get("/projects/board", query_string={"stage": "producing"})
    assert board.status_code == 200
    html = board.get_data(as_text=True)
    assert f'href="/projects/{zone.p11.id}"' in html or f"/projects/{zone.p11.id}" in html
    assert queries.board_stages(queries.ProjectFilters(stage="producing"))[0].key == "in_production"
    assert [c.count for c in queries.board(zone.manager, queries.ProjectFilters(stage="started"))] == [2, 1, 1]
    assert ids(zone.manager, stage="signed_or_later", cluster=GF) == named(zone, "p3", "p11")
    assert date(2026, 3, 20) == db.session.get(Project, zone.p8.id).reached_in_production
