"""GET /dashboard/pipeline: the managers' dashboard as JSON, the same figures as the page (crm.dashboard.kpis) for
a period, each with the list and the query arguments that reproduce its records; like the page, a snapshot at most
15 minutes old (`computed_at`) unless `fresh=true`. Staff only: a department liaison sees no pipeline."""
from flask import g, request

from crm.auth import access
from crm.dashboard import kpis, snapshots
from crm.errors import Forbidden, Invalid

from . import bp, token_required


@bp.get("/dashboard/pipeline")
@token_required
def dashboard_pipeline():
    if g.api_user.role not in access.STAFF_ROLES:
        raise Forbidden("The dashboard is for staff.")
    problems = kpis.period_problems(request.args)
    if problems:
        raise Invalid("Check the period.", problems)
    period = kpis.period_from_args(request.args)
    fresh = str(request.args.get("fresh", "")).lower() in ("1", "true")
    return kpis.to_json(snapshots.pipeline_for(g.api_user, period, fresh=fresh))
