"""The floors the app is measured against: a bare Flask app on the SAME database as the app under test.

- `/hello`: hello-world, the cost of gunicorn + Flask for one request (the floor for a trivial signed-in page).
- `/rows`: 50 rows of one indexed 100,000-row table (`company`, by primary key) with the table's total count,
  rendered through a Jinja template into a small HTML table: the least any list page can cost on this database.
- `/project-rows`: the same on the `project` table (50,000 rows on SQLite, 200,000 on PostgreSQL): the floor the
  project list and a stage move are measured against.
- `/project-board`: a bare `GROUP BY stage` (count and sum of the planned investment) over the whole `project` table
  and 50 rows rendered: the least a board can cost, since its column totals must aggregate every project the viewer
  may see (the same floor issue 7 sets for aggregates).

No sign-in, no session, no CSRF, no layout, no ORM: plain SQLAlchemy Core on a pooled engine.
Serve with: DATABASE_URL=... gunicorn -w 2 -b 127.0.0.1:5082 --chdir bench floor_app:app
"""
import os

from flask import Flask, render_template_string
from sqlalchemy import create_engine, event, text

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
