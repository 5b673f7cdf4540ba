"""Setting the annual targets (crm.dashboard.targets): admins only, one unit of work, blank removes, bad input named."""
from decimal import Decimal

import pytest

from crm.dashboard import targets
from crm.dashboard.models import AnnualTarget
from crm.errors import Forbidden

from ..support.conftest import count, invalid, refused
from .conftest import EI, GF


def test_set_change_and_remove(zone):
    targets.set_targets(2027, {EI: "3,000", GF: "1500.25"}, {zone.team_a.id: "800"}, actor=zone.admin)
    assert targets.year_targets(2027) == ({EI: Decimal(3000), GF: Decimal("1500.25")}, {zone.team_a.id: Decimal(800)})
    targets.set_targets("2027", {EI: "", GF: "1600"}, {}, actor=zone.admin)
    assert targets.year_targets(2027) == ({GF: Decimal(1600)}, {zone.team_a.id: Decimal(800)})
    # 2026's targets (conftest) are left alone
    assert targets.year_targets(2026)[0] == {EI: Decimal(20000), GF: Decimal(5000)}


def test_only_admins_set_targets(zone):
    for user in (zone.manager, zone.a1, zone.liaison):
        refused(Forbidden, targets.set_targets, 2027, {EI: "1"}, {}, actor=user)


@pytest.mark.parametrize(("year", "clusters", "teams", "fields"), [
    ("1999", {EI: "1"}, {}, {"year"}),
    ("soon", {EI: "1"}, {}, {"year"}),
    (2027, {EI: "-1", GF: "lots"}, {}, {f"cluster-{EI}", f"cluster-{GF}"}),
    (2027, {"no_such_cluster": "1"}, {}, {"cluster-no_such_cluster"}),
    (2027, {EI: "1"}, {987654: "1"}, {"team-987654"}),
    (2027, {EI: "1e20"}, {}, {f"cluster-{EI}"}),
])
def test_bad_input_is_refused_whole(zone, year, clusters, teams, fields):
    before = count(AnnualTarget)
    invalid(fields, targets.set_targets, year, clusters, teams, actor=zone.admin)
    assert count(AnnualTarget) == before


def test_a_target_is_for_a_cluster_or_a_team_never_both(zone):
    from sqlalchemy.exc import IntegrityError

    from crm.extensions import db

    db.session.add(AnnualTarget(year=2030, cluster=EI, team_id=zone.team_a.id, amount=Decimal(1)))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add_all([AnnualTarget(year=2030, cluster=EI, amount=Decimal(1)),
                        AnnualTarget(year=2030, cluster=EI, amount=Decimal(2))])
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
