"""GET /board: the support board's wall chart as JSON (the same rows, statuses and filters as the page). Staff only:
a department liaison answers for their department's requests and milestones, and never sees the board."""
from flask import g, request

from crm.auth import access
from crm.errors import Forbidden
from crm.support import board as wall
from crm.support.models import MILESTONE_KEYS

from . import bp, token_required


def _day(value):
    return value.isoformat() if value else None


def cell_json(cell: wall.Cell | None) -> dict | None:
    if cell is None:
        return None
    return {"id": cell.id, "status": cell.status, "planned_date": _day(cell.planned_date),
            "actual_date": _day(cell.actual_date), "department": cell.department}


def row_json(row: wall.Row) -> dict:
    return {"project_id": row.project_id, "name": row.name, "company": row.company, "stage": row.stage,
            "owner_id": row.owner_id, "park": row.park, "cluster": row.cluster, "key_project": row.key_project,
            "worst_status": row.worst_status, "open_requests": row.open_requests,
            "late_requests": row.late_requests,
            "milestones": {kind: cell_json(row.cells.get(kind)) for kind in MILESTONE_KEYS}}


def _per_page() -> int:
    value = str(request.args.get("per_page", "")).strip()
    if value.isascii() and value.isdigit() and 0 < int(value) <= wall.PAGE_SIZE:
        return int(value)
    return wall.PAGE_SIZE


@bp.get("/board")
@token_required
def board():
    if g.api_user.role not in access.STAFF_ROLES:
        raise Forbidden("The support board is for staff.")
    f = wall.BoardFilters.from_args(request.args)
    per_page = _per_page()
    if wall.BoardFilters.unmatched(request.args):  # owner_id=abc: an empty board, not every project
        result = wall.Board([], 0, f.page, per_page, wall.services.today(), wall.services.warning_days())
    else:
        result = wall.board(g.api_user, f, per_page=per_page)
    return {"milestone_kinds": list(MILESTONE_KEYS), "items": [row_json(r) for r in result.rows],
            "total": result.total, "page": result.page, "per_page": result.per_page, "on": result.on.isoformat(),
            "warning_days": result.warning_days}
