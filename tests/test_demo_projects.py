"""The demo zone's projects (seed-demo): every stage, consistent stage histories and funds, the anchors as residents,
and loading twice adds nothing."""
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm import demo
from crm.audit.models import AuditEvent
from crm.auth import access
from crm.auth import services as auth_services
from crm.auth.models import User
from crm.companies.models import Company
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.extensions import db
from crm.projects import stages
from crm.projects.models import REACHED, FundsEntry, Project, StageMove
from crm.projects.services import is_stale

from .factories import TEST_PASSWORD_METHOD


@pytest.fixture
def seeded(monkeypatch):
    # the demo users' passwords hashed at the suite's small cost (tests/factories.py), not seven 0.1 s hashes a test
    monkeypatch.setattr(auth_services, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)
    return demo.seed_demo(companies=60)


def _moves(project_id: int) -> list[StageMove]:
    return list(db.session.scalars(select(StageMove).where(StageMove.project_id == project_id)
                                   .order_by(StageMove.at, StageMove.id)))


def _counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Company, Project, StageMove, FundsEntry, AuditEvent))


def test_projects_in_every_stage_with_histories_that_match_their_dates(seeded):
    projects = list(db.session.scalars(select(Project)))
    assert seeded["projects"] == len(projects) >= 40
    assert {p.stage for p in projects} == set(stages.KEYS)
    now = utcnow()
    backwards = 0
    for p in projects:
        moves = _moves(p.id)
        assert moves[0].from_stage is None, p.name
        assert [m.to_stage for m in moves[:-1]] == [m.from_stage for m in moves[1:]], p.name
        assert moves[-1].to_stage == p.stage
        times = [as_aware(m.at) for m in moves]
        assert times == sorted(times) and len(set(times)) == len(times) and times[-1] < now
        assert as_aware(p.stage_changed_at) == times[-1]
        assert as_aware(p.created_at) == times[0]
        assert times[-1] <= as_aware(p.last_activity_at) <= now
        first = {}
        for m in moves:
            first.setdefault(m.to_stage, as_aware(m.at).astimezone(zone()).date())
        assert {key: getattr(p, REACHED[key]) for key in stages.KEYS} == {key: first.get(key) for key in stages.KEYS}
        backwards += sum(stages.is_backwards(m.from_stage, m.to_stage) for m in moves)

        assert p.planned_investment is not None and p.planned_investment > 0
        if p.fixed_asset_investment is not None:
            assert p.fixed_asset_investment <= p.planned_investment
        if p.planned_start and p.planned_production:
            assert p.planned_start <= p.planned_production
        entries = list(db.session.scalars(select(FundsEntry).where(FundsEntry.project_id == p.id)))
        assert p.funds_in_place == sum((e.amount for e in entries), Decimal("0")) <= p.planned_investment
        if p.stage in stages.SIGNED_OR_LATER:
            assert entries and 20000 <= p.planned_investment <= 300000 and p.park in ("dunhou", "fenghuang")
            assert all(p.reached_signed <= e.received_on <= today_in_zone() and e.amount > 0 for e in entries)
        else:
            assert not entries
        if p.stage == "lead":
            assert 5000 <= p.planned_investment <= 50000
        if p.stage == "lost":
            assert p.lost_reason and moves[-1].reason == p.lost_reason
        else:
            assert not p.lost_reason
        assert bool(p.code_name) == p.confidential
        # the owner may open the project's company
        owner = db.session.get(User, p.owner_id)
        assert db.session.scalar(select(Company.id).where(Company.id == p.company_id, access.company_scope(owner)))
    assert backwards >= 2
    assert sum(p.confidential for p in projects) >= 2 and sum(p.key_project for p in projects) >= 5
    assert any(p.first_contact_id != p.owner_id for p in projects)
    assert {p.park for p in projects} >= {"dunhou", "fenghuang", None}
    assert len({p.owner_id for p in projects}) >= 4 and len({p.source for p in projects}) >= 4
    open_projects = [p for p in projects if p.stage in stages.OPEN]
    stale = [p for p in open_projects if is_stale(p)]
    assert 3 <= len(stale) < len(open_projects)


def test_the_anchors_are_resident_projects_with_their_history(seeded):
    for name, *_ in demo.ANCHORS:
        company = db.session.scalar(select(Company).where(Company.name == name))
        resident = [p for p in db.session.scalars(select(Project).where(Project.company_id == company.id))
                    if p.stage in ("in_production", "full_capacity")]
        assert resident, name
        path = [m.to_stage for m in _moves(resident[0].id)]
        assert path[0] == "lead" and "signed" in path and "under_construction" in path


def test_the_log_dates_a_project_to_its_first_contact_not_to_the_load(seeded):
    p = db.session.scalar(select(Project).where(Project.name == demo.ANCHOR_PROJECTS[0][1]))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "project",
                                                       AuditEvent.object_id == p.id, AuditEvent.action == "create"))
    assert as_aware(event.at) == as_aware(p.created_at) and event.actor_id == p.first_contact_id


def test_loading_again_adds_nothing(seeded):
    before = _counts()
    again = demo.seed_demo(companies=60)
    assert again["projects"] == 0 and again["companies"] == 0 and not again["users"]
    assert _counts() == before


def test_this_years_targets_are_set_for_every_cluster_and_team_and_an_admins_own_are_kept(seeded, app):
    from crm.dashboard import kpis
    from crm.dashboard.models import AnnualTarget

    year = today_in_zone().year
    assert seeded["targets"] == len(demo.CLUSTER_TARGETS) + len(demo.TEAMS)
    manager = db.session.scalar(select(User).where(User.email == "manager@demo.zone"))
    with app.test_request_context():
        rows = kpis.target_progress(manager, kpis.period_for("year", today_in_zone()))
    targets = {(r.kind, r.key if r.kind == "cluster" else r.label): r.target for r in rows if r.target is not None}
    assert {k: v for (kind, k), v in targets.items() if kind == "cluster"} == \
        {k: Decimal(v) for k, v in demo.CLUSTER_TARGETS.items()}
    assert {k: v for (kind, k), v in targets.items() if kind == "team"} == \
        {name: Decimal(v) for name, v in zip(demo.TEAMS, demo.TEAM_TARGETS, strict=True)}
    # the demo's signings reach part of each cluster's target, as in a real year
    assert any(r.signed.value and r.target and 0 < r.signed.value < r.target for r in rows)

    # an admin changes one; seeding again keeps it
    own = db.session.scalar(select(AnnualTarget).where(AnnualTarget.year == year,
                                                       AnnualTarget.cluster == "green_food"))
    own.amount = Decimal("123456")
    db.session.commit()
    assert demo.seed_demo(companies=60)["targets"] == 0
    assert db.session.get(AnnualTarget, own.id).amount == Decimal("123456")
