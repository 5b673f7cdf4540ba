"""Snapshots of the figures (crm.dashboard.snapshots): the same figures back, shown while recent, recomputed when old
or asked, kept fresh for the managers by the worker's job."""
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from crm.core.timeutil import as_aware
from crm.dashboard import kpis, snapshots
from crm.dashboard.models import DashboardSnapshot
from crm.extensions import db
from crm.projects.models import Project

from ..security.helpers import client_for

MARCH = kpis.period_for("month", date(2026, 3, 10))


def shape(result) -> dict:
    out = kpis.to_json(result)
    out.pop("computed_at")
    return out


def test_a_snapshot_gives_back_the_same_figures(zone, app):
    with app.test_request_context():
        for viewer in (zone.manager, zone.a1):
            live = kpis.pipeline(viewer, MARCH)
            again = snapshots.load(snapshots.dump(live), MARCH, live.computed_at)
            assert shape(again) == shape(live)
            assert again.funnel[0].label == live.funnel[0].label == "线索"


def test_a_recent_snapshot_is_shown_until_it_is_old_or_a_recompute_is_asked(zone, app):
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    first = snapshots.pipeline_for(zone.manager, MARCH, now=start)
    assert first.changes["new_leads"].current.value == 5
    # a project created in March after the snapshot: not shown while the snapshot is recent...
    zone.p5.created_at = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
    db.session.commit()
    cached = snapshots.pipeline_for(zone.manager, MARCH, now=start + timedelta(minutes=10))
    assert cached.changes["new_leads"].current.value == 5 and cached.computed_at == start
    # ...shown when asked for fresh figures, or once the snapshot is older than MAX_AGE
    assert snapshots.pipeline_for(zone.manager, MARCH, fresh=True,
                                  now=start + timedelta(minutes=11)).changes["new_leads"].current.value == 6
    zone.p5.created_at = datetime(2026, 4, 5, 4, 0, tzinfo=UTC)
    db.session.commit()
    late = start + timedelta(minutes=11) + snapshots.MAX_AGE + timedelta(seconds=1)
    assert snapshots.pipeline_for(zone.manager, MARCH, now=late).changes["new_leads"].current.value == 5
    assert db.session.scalar(select(func.count()).select_from(DashboardSnapshot)) == 1


def test_each_officer_has_snapshots_of_their_own(zone):
    snapshots.pipeline_for(zone.a1, MARCH)
    snapshots.pipeline_for(zone.a2, MARCH)
    snapshots.pipeline_for(zone.manager, MARCH)
    snapshots.pipeline_for(zone.admin, MARCH)                    # an admin sees what a manager sees: "all"
    assert set(db.session.scalars(select(DashboardSnapshot.scope))) == {f"user:{zone.a1.id}", f"user:{zone.a2.id}",
                                                                         "all"}
    # the confidential P8 stays out of the officer's snapshot
    assert snapshots.pipeline_for(zone.a1, MARCH).changes["signed"].current.value == 2


def test_the_workers_refresh_keeps_the_managers_current_periods(zone):
    old = datetime.now(UTC) - snapshots.KEEP - timedelta(hours=1)
    db.session.add(DashboardSnapshot(scope="user:1", period_kind="month", period_start=date(2020, 1, 1),
                                     period_end=date(2020, 1, 31), computed_at=old, payload={}))
    db.session.commit()
    assert snapshots.refresh() == 4
    rows = db.session.execute(select(DashboardSnapshot.scope, DashboardSnapshot.period_kind)).all()
    assert sorted(rows) == [("all", "month"), ("all", "quarter"), ("all", "week"), ("all", "year")]
    # what it stored is what the page then shows, without computing
    year = kpis.period_for("year", datetime.now(UTC).date())
    stored = db.session.scalar(select(DashboardSnapshot).where(DashboardSnapshot.period_kind == "year"))
    shown = snapshots.pipeline_for(zone.manager, year)
    assert shown.computed_at == as_aware(stored.computed_at)
    assert sum(r.projects.value for r in shown.funnel) == db.session.scalar(
        select(func.count()).select_from(Project).where(Project.deleted_at.is_(None)))


def test_the_page_says_how_old_its_figures_are_and_recomputes_on_request(zone, app):
    client = client_for(app, zone.manager)
    html = client.get("/dashboard", query_string={"period": "month", "day": "2026-03-10"}).get_data(as_text=True)
    assert 'data-test="computed-at"' in html
    assert "/dashboard?period=month&amp;day=2026-03-01&amp;fresh=1" in html
    stored = db.session.scalar(select(DashboardSnapshot.computed_at))
    again = client.get("/dashboard", query_string={"period": "month", "day": "2026-03-10", "fresh": "1"})
    assert again.status_code == 200
    db.session.rollback()
    assert db.session.scalar(select(DashboardSnapshot.computed_at)) != stored
