"""Annual targets of signed investment (年度目标) per cluster and per team: read by the dashboard, set by admins."""
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.audit import services as audit
from crm.auth.access import require_role
from crm.auth.models import Role, Team
from crm.core import fields as rules
from crm.errors import Conflict, Invalid
from crm.extensions import db
from crm.reference import services as reference

from .models import AnnualTarget

#: the years a target may be set for
FIRST_YEAR, LAST_YEAR = 2000, 2100
_AMOUNT = rules.Money()


def year_targets(year: int) -> tuple[dict[str, Decimal], dict[int, Decimal]]:
    """The year's targets: cluster key → amount and team id → amount (万元)."""
    rows = db.session.scalars(select(AnnualTarget).where(AnnualTarget.year == year))
    clusters, teams = {}, {}
    for row in rows:
        if row.cluster is not None:
            clusters[row.cluster] = row.amount
        else:
            teams[row.team_id] = row.amount
    return clusters, teams


def set_targets(year, clusters: dict, teams: dict, *, actor) -> None:
    """Set the year's targets in one unit of work: `clusters` maps cluster keys, `teams` team ids, to an amount in
    万元; a blank amount removes that target. Field errors are keyed `cluster-<key>` and `team-<id>`."""
    require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    try:
        year = int(str(year).strip())
    except ValueError:
        year = None
    if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(str(_l("Check the year.")), {"year": [str(_l("Choose a year from %(a)s to %(b)s.",
                                                                     a=FIRST_YEAR, b=LAST_YEAR))]})
    known_clusters = {i.key for i in reference.items("cluster", include_inactive=True)}
    known_teams = set(db.session.scalars(select(Team.id)))
    errors: dict[str, list[str]] = {}
    wanted: dict[tuple[str, object], Decimal | None] = {}
    for kind, values, known in (("cluster", clusters, known_clusters), ("team", teams, known_teams)):
        for key, raw in values.items():
            field = f"{kind}-{key}"
            if key not in known:
                errors[field] = [str(_l("Choose a value from the list."))]
                continue
            try:
                wanted[(kind, key)] = _AMOUNT.parse(raw)
            except rules.FieldError as exc:
                errors[field] = [str(exc.args[0])]
    if errors:
        raise Invalid(str(_l("Check the highlighted targets.")), errors)
    current = {(("cluster", t.cluster) if t.cluster is not None else ("team", t.team_id)): t
               for t in db.session.scalars(select(AnnualTarget).where(AnnualTarget.year == year))}
    for (kind, key), amount in wanted.items():
        row = current.get((kind, key))
        if amount is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(AnnualTarget(year=year, amount=amount, **({"cluster": key} if kind == "cluster"
                                                                     else {"team_id": key})))
        elif row.amount != amount:
            row.amount = amount
    try:
        db.session.commit()
    except IntegrityError:  # another admin set the same target at the same moment
        db.session.rollback()
        raise Conflict(str(_l("Someone else changed these targets just now. Check them and save again."))) \
            from None
