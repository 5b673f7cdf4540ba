"""The floors the app is measured against: a bare Flask app on the SAME database as the app under test.

- `/hello`: hello-world, the cost of gunicorn + Flask for one request (the floor for a trivial signed-in page).
- `/rows`: 50 rows of one indexed 100,000-row table (`company`, by primary key) with the table's total count,
  rendered through a Jinja template into a small HTML table: the least any list page can cost on this database.
- `/project-rows`: the same on the `project` table (50,000 rows on SQLite, 200,000 on PostgreSQL): the floor the
  project list and a stage move are measured against.
- `/project-board`: a bare `GROUP BY stage` (count and sum of the planned investment) over the whole `project` table
  and 50 rows rendered: the least a board can cost, since its column totals must aggregate every project the viewer
  may see (the same floor issue 7 sets for aggregates).

Issue 4 (meetings and tasks), each reading the rows its page shows by the same indexes, with plain SELECTs, into a
bare list:
- `/task-rows?owner=`: "my tasks", the owner's open tasks (and those done today) by `ix_task_owner_open`, grouped
  as the page groups them, then the rows the page lists (the first 30 overdue, 20 later) with their companies' names.
- `/timeline-rows?company=&kind=`: a company's timeline, the newest 31 of each kind asked for (meetings by
  `ix_meeting_company_start`, tasks by `ix_task_company`, stage moves of its projects, audited changes of it and its
  contacts), merged and cut to 30.
- `/company-rows?company=`: a company page, the company, its contacts, its projects, its open follow-ups and its
  timeline.
- `/calendar-rows?owner=&start=&end=`: the owner's meetings (owned, by `ix_meeting_owner_start`, and taken part in,
  by `ix_meeting_user_user`) and due tasks on the days [start, end), with the companies' names.
- `/feed-rows?owner=&start=&end=`: the same with open tasks only, written as bare VEVENT text through a Jinja template
  (no iCalendar library, no escaping or line folding, no VTIMEZONE).

No sign-in, no session, no CSRF, no layout, no ORM: plain SQLAlchemy Core on a pooled engine.
Serve with: DATABASE_URL=... gunicorn -w 2 -b 127.0.0.1:5082 --chdir bench floor_app:app
"""
import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, render_template_string, request
from sqlalchemy import Date, DateTime, Integer, bindparam, create_engine, event, text

app = Flask(__name__)
engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)

if engine.dialect.name == "sqlite":
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # the same connection settings as crm.core.database
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>rows</title></head><body>
<p>{{ total }} rows</p>
<table>
<thead><tr><th>ID</th><th>Name</th><th>Short name</th><th>Status</th><th>Updated</th></tr></thead>
<tbody>
{% for r in rows %}<tr><td><a href="/rows/{{ r.id }}">{{ r.id }}</a></td><td>{{ r.name }}</td>
<td>{{ r.short_name }}</td><td>{{ r.status }}</td><td>{{ r.updated_at }}</td></tr>
{% endfor %}</tbody></table></body></html>"""


@app.route("/hello")
def hello():
    return "Hello, World!"


@app.route("/rows")
def rows():
    with engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM company"))
        page = conn.execute(text("SELECT id, name, short_name, status, updated_at FROM company "
                                 "ORDER BY id DESC LIMIT 50")).all()
    return render_template_string(PAGE, rows=page, total=total)


PROJECT_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>project rows</title></head><body>
<p>{{ total }} rows</p>
<table>
<thead><tr><th>ID</th><th>Name</th><th>Stage</th><th>Planned</th><th>Updated</th></tr></thead>
<tbody>
{% for r in rows %}<tr><td><a href="/project-rows/{{ r.id }}">{{ r.id }}</a></td><td>{{ r.name }}</td>
<td>{{ r.stage }}</td><td>{{ r.planned_investment }}</td><td>{{ r.updated_at }}</td></tr>
{% endfor %}</tbody></table></body></html>"""


@app.route("/project-rows")
def project_rows():
    with engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM project"))
        page = conn.execute(text("SELECT id, name, stage, planned_investment, updated_at FROM project "
                                 "ORDER BY id DESC LIMIT 50")).all()
    return render_template_string(PROJECT_PAGE, rows=page, total=total)


BOARD_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>board</title></head><body>
<table>{% for t in totals %}<tr><td>{{ t.stage }}</td><td>{{ t.n }}</td><td>{{ t.total }}</td></tr>{% endfor %}</table>
<ul>{% for r in rows %}<li><a href="/project-rows/{{ r.id }}">{{ r.name }}</a> {{ r.stage }} {{ r.planned_investment }}
</li>{% endfor %}</ul></body></html>"""


@app.route("/project-board")
def project_board():
    with engine.connect() as conn:
        totals = conn.execute(text("SELECT stage, count(*) AS n, sum(planned_investment) AS total FROM project "
                                   "GROUP BY stage")).all()
        page = conn.execute(text("SELECT id, name, stage, planned_investment FROM project "
                                 "ORDER BY id DESC LIMIT 50")).all()
    return render_template_string(BOARD_PAGE, totals=totals, rows=page)


# --- issue 4: meetings, tasks, timelines, calendars ----------------------------------------------------------------
# Each floor reads the rows its page shows by the same index, with plain SELECTs, and renders them as a bare list.

def _at(name: str):
    """A typed bind parameter for a timestamp (so SQLite compares it in the app's stored format)."""
    return bindparam(name, type_=DateTime(timezone=True))


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(0), ZONE).astimezone(UTC)


ZONE = ZoneInfo(os.environ.get("CRM_TIMEZONE", "Asia/Shanghai"))

LIST_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title></head><body>
<p>{{ total }}</p>
<ul>{% for r in rows %}<li><a href="/rows/{{ r.id }}">{{ r.title }}</a> {{ r.when }} {{ r.name }}</li>
{% endfor %}</ul></body></html>"""

#: the owner's open tasks and those done today: due and id, by `ix_task_owner_open`
TASK_KEYS = text("SELECT id, due_on, due_at, done_at FROM task "
                 "WHERE owner_id = :owner AND (done_at IS NULL OR done_at >= :since) AND deleted_at IS NULL "
                 "ORDER BY due_on, due_at, id").bindparams(_at("since")).columns(
                     id=Integer, due_on=Date, due_at=DateTime(timezone=True), done_at=DateTime(timezone=True))
#: the listed tasks by id, with their companies' names
TASKS_BY_ID = text("SELECT t.id, t.title, t.due_on AS \"when\", t.due_at, c.name FROM task t "
                   "LEFT JOIN company c ON c.id = t.company_id WHERE t.id IN :ids").bindparams(
                       bindparam("ids", expanding=True))
#: how many of each group the page lists (crm.meetings.queries.SHOWN)
SHOWN = {"overdue": 30, "today": 100, "week": 100, "later": 20}


@app.route("/task-rows")
def task_rows():
    """"My tasks": the owner's open tasks (and those done today) by `ix_task_owner_open`, grouped by due day as the
    page groups them (overdue newest first; a day's granularity), then the rows the page lists (the first
    `SHOWN` of each group) by id with their companies' names."""
    owner = int(request.args["owner"])
    today = datetime.now(ZONE).date()
    sunday = today + timedelta(days=6 - today.weekday())
    with engine.connect() as conn:
        keys = conn.execute(TASK_KEYS, {"owner": owner, "since": _midnight(today.isoformat())}).all()
        open_ = [k for k in keys if k.done_at is None]
        groups = {"overdue": [k for k in open_ if k.due_on < today][::-1],
                  "today": [k for k in open_ if k.due_on == today],
                  "week": [k for k in open_ if today < k.due_on <= sunday],
                  "later": [k for k in open_ if k.due_on > sunday]}
        ids = [k.id for name, group in groups.items() for k in group[:SHOWN[name]]]
        ids += [k.id for k in keys if k.done_at is not None][:20]
        rows = conn.execute(TASKS_BY_ID, {"ids": ids}).all() if ids else []
    return render_template_string(LIST_PAGE, title="tasks", total=len(open_), rows=rows)


TIMELINE_READS = {
    "meeting": text("SELECT id, type AS title, start_at AS \"when\", summary AS name FROM meeting "
                    "WHERE company_id = :c AND deleted_at IS NULL ORDER BY start_at DESC, id DESC LIMIT 31"),
    "task": text("SELECT id, title, created_at AS \"when\", notes AS name FROM task "
                 "WHERE company_id = :c AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 31"),
    "stage": text("SELECT m.id, m.to_stage AS title, m.at AS \"when\", m.note AS name FROM stage_move m "
                  "JOIN project p ON p.id = m.project_id WHERE p.company_id = :c "
                  "ORDER BY m.at DESC, m.id DESC LIMIT 31"),
    # the company's contacts' ids are read first (as the app does): with a subquery PostgreSQL walks the whole
    # audit trail by time instead of the (object_type, object_id) index
    "change": text("SELECT id, action AS title, at AS \"when\", label AS name FROM audit_event "
                   "WHERE (object_type = 'company' AND object_id = :c) OR (object_type = 'contact' AND object_id IN "
                   ":contacts) ORDER BY at DESC, id DESC LIMIT 31").bindparams(bindparam("contacts", expanding=True)),
}


def _timeline(conn, company: int, kinds) -> list:
    args = {"c": company}
    if "change" in kinds:
        args["contacts"] = list(conn.scalars(text("SELECT id FROM contact WHERE company_id = :c"), args)) or [0]
    rows = [r for kind in kinds for r in conn.execute(TIMELINE_READS[kind], args).all()]
    rows.sort(key=lambda r: (str(r.when), r.id), reverse=True)
    return rows[:30]


@app.route("/timeline-rows")
def timeline_rows():
    """A company's timeline: the newest 31 of each kind asked for (meetings, tasks, stage moves, changes), each by
    its own index, merged and cut to 30."""
    company = int(request.args["company"])
    kinds = [k for k in TIMELINE_READS if k in request.args.get("kind", "").split(",")] or list(TIMELINE_READS)
    with engine.connect() as conn:
        rows = _timeline(conn, company, kinds)
    return render_template_string(LIST_PAGE, title="timeline", total=len(rows), rows=rows)


COMPANY_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ company.name }}</title></head><body>
<h1>{{ company.name }}</h1><p>{{ company.uscc }} {{ company.status }} {{ company.address }}</p>
<ul>{% for c in contacts %}<li>{{ c.name }} {{ c.title }} {{ c.mobile }}</li>{% endfor %}</ul>
<ul>{% for p in projects %}<li>{{ p.name }} {{ p.stage }} {{ p.planned_investment }}</li>{% endfor %}</ul>
<ul>{% for t in open_tasks %}<li>{{ t.title }} {{ t.when }} {{ t.name }}</li>{% endfor %}</ul>
<ul>{% for r in rows %}<li>{{ r.title }} {{ r.when }} {{ r.name }}</li>
{% endfor %}</ul></body></html>"""


@app.route("/company-rows")
def company_rows():
    """A company's page: the company, its contacts, its projects, its open follow-ups (soonest due, by
    `ix_task_company_open`) and its timeline (as /timeline-rows)."""
    company = int(request.args["company"])
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, name, uscc, status, address FROM company WHERE id = :c"),
                           {"c": company}).one()
        contacts = conn.execute(text("SELECT id, name, title, mobile FROM contact WHERE company_id = :c "
                                     "AND deleted_at IS NULL ORDER BY id"), {"c": company}).all()
        projects = conn.execute(text("SELECT id, name, stage, planned_investment FROM project WHERE company_id = :c "
                                     "AND deleted_at IS NULL ORDER BY updated_at DESC"), {"c": company}).all()
        open_tasks = conn.execute(text("SELECT id, title, due_on AS \"when\", due_at AS name FROM task "
                                       "WHERE company_id = :c AND done_at IS NULL AND deleted_at IS NULL "
                                       "ORDER BY due_on, due_at, id LIMIT 20"), {"c": company}).all()
        rows = _timeline(conn, company, list(TIMELINE_READS))
    return render_template_string(COMPANY_PAGE, company=row, contacts=contacts, projects=projects, rows=rows,
                                  open_tasks=open_tasks)


#: the owner's meetings in a range (by `ix_meeting_owner_start`) and those they took part in (by
#: `ix_meeting_user_user`), with the companies' names
RANGE_MEETINGS = text(
    "SELECT m.id, m.type AS title, m.start_at AS \"when\", m.end_at, m.place, m.summary, c.name FROM meeting m "
    "JOIN company c ON c.id = m.company_id WHERE m.owner_id = :owner AND m.start_at >= :lo AND m.start_at < :hi "
    "AND m.deleted_at IS NULL "
    "UNION SELECT m.id, m.type, m.start_at, m.end_at, m.place, m.summary, c.name FROM meeting_user u "
    "JOIN meeting m ON m.id = u.meeting_id JOIN company c ON c.id = m.company_id "
    "WHERE u.user_id = :owner AND m.start_at >= :lo AND m.start_at < :hi AND m.deleted_at IS NULL "
    "ORDER BY 3, 1 LIMIT 2000").bindparams(_at("lo"), _at("hi"))
#: the owner's tasks due in a range (by `ix_task_due`), with the companies' names
RANGE_TASKS = text(
    "SELECT t.id, t.title, t.due_on AS \"when\", t.due_at, t.notes, t.done_at, c.name FROM task t "
    "LEFT JOIN company c ON c.id = t.company_id WHERE t.due_on >= :start AND t.due_on < :end "
    "AND t.owner_id = :owner AND t.deleted_at IS NULL ORDER BY t.due_on, t.due_at, t.id LIMIT 2000"
).bindparams(bindparam("start", type_=Date), bindparam("end", type_=Date))


def _range(conn, owner: int, start: str, end: str, *, open_only: bool = False):
    meetings = conn.execute(RANGE_MEETINGS, {"owner": owner, "lo": _midnight(start), "hi": _midnight(end)}).all()
    tasks = conn.execute(RANGE_TASKS, {"owner": owner, "start": date.fromisoformat(start),
                                       "end": date.fromisoformat(end)}).all()
    return meetings, [t for t in tasks if t.done_at is None] if open_only else tasks


@app.route("/calendar-rows")
def calendar_rows():
    """A calendar month: the owner's meetings and due tasks on the days [start, end), as a bare list."""
    with engine.connect() as conn:
        meetings, tasks = _range(conn, int(request.args["owner"]), request.args["start"], request.args["end"])
    return render_template_string(LIST_PAGE, title="calendar", total=len(meetings) + len(tasks),
                                  rows=[*meetings, *tasks])


FEED = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//floor//\r
{% for m in meetings %}BEGIN:VEVENT\r
UID:meeting-{{ m.id }}@floor\r
DTSTART:{{ m.when }}\r
DTEND:{{ m.end_at }}\r
SUMMARY:{{ m.title }} {{ m.name }}\r
LOCATION:{{ m.place }}\r
DESCRIPTION:{{ m.summary }}\r
END:VEVENT\r
{% endfor %}{% for t in tasks %}BEGIN:VEVENT\r
UID:task-{{ t.id }}@floor\r
DTSTART:{{ t.due_at or t.when }}\r
SUMMARY:{{ t.title }}\r
DESCRIPTION:{{ t.notes }}\r
END:VEVENT\r
{% endfor %}END:VCALENDAR\r
"""


@app.route("/feed-rows")
def feed_rows():
    """A calendar feed: the owner's meetings and open tasks in the feed's window, as bare VEVENT text."""
    with engine.connect() as conn:
        meetings, tasks = _range(conn, int(request.args["owner"]), request.args["start"], request.args["end"],
                                 open_only=True)
    body = render_template_string(FEED, meetings=meetings, tasks=tasks)
    return body, 200, {"Content-Type": "text/calendar; charset=utf-8"}


# --- issue 6: the support board's wall chart --------------------------------------------------------------------
# The same four statements the board runs (crm/support/board.py), with the same parameters, each cell's status worked
# out in Python, and a bare table: no sign-in, layout, legend, filters form or translations.

BOARD_KINDS = ("land_acquired", "planning_permit", "construction_permit", "construction_start", "topping_out",
               "equipment_in", "trial_production", "production_start", "full_capacity")
_BOARD_RANK = ("CASE WHEN m.id IS NULL THEN 4 WHEN m.actual_date IS NOT NULL THEN 3 WHEN m.planned_date IS NULL THEN 2 "
               "WHEN m.planned_date < :on THEN 0 WHEN m.planned_date <= :warn THEN 1 ELSE 2 END")
_BOARD_ORDER = {
    "worst": f"min({_BOARD_RANK}), min(CASE WHEN m.actual_date IS NULL THEN m.planned_date END) NULLS LAST, "
             "p.name, p.id",
    "name": "p.name, p.id",
    "production": "max(CASE WHEN m.kind = 'production_start' THEN m.planned_date END) NULLS LAST, p.name, p.id",
}
WALL = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>board</title></head><body>
<p>{{ total }} projects</p>
<table>
<thead><tr><th>Project</th><th>Requests</th>{% for k in kinds %}<th>{{ k }}</th>{% endfor %}</tr></thead>
<tbody>
{% for r in rows %}<tr><th><a href="/projects/{{ r.id }}">{{ r.name }}</a> {{ r.company }} {{ r.stage }}
{{ r.owner }}</th><td>{{ r.requests }} ({{ r.late }})</td>{% for c in r.cells %}{% if c %}<td class="{{ c.status }}">
{{ c.status }} {{ c.planned }} {{ c.actual or "" }}</td>{% else %}<td>—</td>{% endif %}{% endfor %}</tr>
{% endfor %}</tbody></table></body></html>"""


def _board_status(actual, planned, on, warn) -> str:
    if actual is not None:
        return "done"
    if planned is None:
        return "green"
    if isinstance(planned, str):  # SQLite hands dates back as text
        planned = date.fromisoformat(planned)
    return "red" if planned < on else "yellow" if planned <= warn else "green"


@app.route("/board-rows")
def board_rows():
    """The wall chart for an officer (`user`, `team`): signed-or-later projects visible to them (not deleted; not
    confidential unless theirs or their team's), key ones unless key=0, in a park if given, ordered as asked; one
    page of ids with the total, those projects with company and officer, their milestones, their open requests."""
    args = request.args
    on = date.fromisoformat(args["on"])
    warn = on + timedelta(days=int(args["days"]))
    user, team = int(args["user"]), int(args["team"])
    where = ["p.deleted_at IS NULL", "p.stage IN ('signed', 'under_construction', 'in_production', 'full_capacity')",
             "(p.confidential = :false OR p.owner_id = :user OR p.owner_id IN "
             "(SELECT id FROM \"user\" WHERE team_id = :team))"]
    params = {"false": False, "user": user, "team": team, "on": on, "warn": warn,
              "limit": int(args.get("limit", 500))}
    if args.get("sort", "worst") != "worst":
        del params["on"], params["warn"]
    if args.get("key", "1") == "1":
        where.append("p.key_project = :true")
        params["true"] = True
    if args.get("park"):
        where.append("p.park = :park")
        params["park"] = args["park"]
    ids_sql = text(f"SELECT p.id, count(*) OVER () AS total FROM project p LEFT OUTER JOIN milestone m "
                   f"ON m.project_id = p.id AND m.deleted_at IS NULL WHERE {' AND '.join(where)} "
                   f"GROUP BY p.id, p.name ORDER BY {_BOARD_ORDER[args.get('sort', 'worst')]} LIMIT :limit")
    if "on" in params:
        ids_sql = ids_sql.bindparams(bindparam("on", type_=Date), bindparam("warn", type_=Date))
    with engine.connect() as conn:
        found = conn.execute(ids_sql, params).all()
        ids = [r.id for r in found]
        total = found[0].total if found else 0
        expanding = bindparam("ids", expanding=True)
        projects = conn.execute(text(
            "SELECT p.id, p.name, p.stage, p.confidential, p.code_name, c.name AS company, c.owner_id AS holder, "
            "h.team_id AS holder_team, o.name AS owner FROM project p JOIN company c ON c.id = p.company_id "
            "LEFT OUTER JOIN \"user\" h ON h.id = c.owner_id LEFT OUTER JOIN \"user\" o ON o.id = p.owner_id "
            "WHERE p.id IN :ids").bindparams(expanding), {"ids": ids}).all() if ids else []
        milestones = conn.execute(text(
            "SELECT id, project_id, kind, planned_date, actual_date, department FROM milestone "
            "WHERE project_id IN :ids AND deleted_at IS NULL").bindparams(expanding), {"ids": ids}).all() if ids else []
        open_requests = conn.execute(text(
            "SELECT project_id, count(*) AS n, sum(CASE WHEN deadline < :on THEN 1 ELSE 0 END) AS late "
            "FROM enterprise_request WHERE project_id IN :ids AND status IN ('open', 'in_progress') "
            "AND deleted_at IS NULL GROUP BY project_id").bindparams(expanding, bindparam("on", type_=Date)),
            {"ids": ids, "on": on}).all() if ids else []
    cells: dict[int, dict] = {}
    for m in milestones:
        cells.setdefault(m.project_id, {})[m.kind] = {
            "status": _board_status(m.actual_date, m.planned_date, on, warn), "planned": m.planned_date or "—",
            "actual": m.actual_date}
    counts = {r.project_id: r for r in open_requests}
    by_id = {p.id: p for p in projects}
    rows = []
    for i in ids:
        p = by_id[i]
        mine = p.holder is None or p.holder == user or p.holder_team == team
        shown = (p.code_name or f"#{p.id}") if p.confidential and not mine else p.company
        request_row = counts.get(i)
        rows.append({"id": i, "name": p.name, "company": shown, "stage": p.stage, "owner": p.owner,
                     "requests": request_row.n if request_row else 0,
                     "late": request_row.late if request_row else 0,
                     "cells": [cells.get(i, {}).get(k) for k in BOARD_KINDS]})
    return render_template_string(WALL, rows=rows, total=total, kinds=BOARD_KINDS)
