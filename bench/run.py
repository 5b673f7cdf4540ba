"""The benchmark: generate a book of companies, projects, meetings and tasks, serve the real app and the floor app,
time pages against floors.

    python bench/run.py [--db sqlite|postgres] [--companies N] [--projects N] [--meetings N]
                        [--pages companies,projects,meetings] [--runs 3] [--requests 100] [--readme]

Steps: create the bench database (bench/results/bench-<N>[-m<meetings>].sqlite, or the PostgreSQL database
`crm_bench`, or --pg-db), migrate
it with the app's `flask db upgrade`, fill it with bench/generate.py, start the app (gunicorn, 2 workers,
127.0.0.1:5081) and the floor app (gunicorn, 2 workers, 127.0.0.1:5082) on that database, sign in as an officer
through the login form (with its CSRF token), then for each run time every URL in turn with a bounded client
(bench/load.py: 2 connections, a fixed number of requests; a stage move is a POST with the page's CSRF token and the
version the previous move returned). Each figure is the median over the runs of that run's median and p95. Every
process started here is stopped at the end, and `crm_bench` is dropped unless --keep.

Results go to bench/results/<db>-<N>[-<pages>].json and .md; --readme also replaces this database's tables in
bench/README.md (issues 2 and 3 in one, issue 4 in its own).
"""
import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

APP_PORT, FLOOR_PORT = 5081, 5082
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("BENCH_PG_DB", "crm_bench")
#: page kind → (floor it is compared with, allowed p95 ratio); a URL may name its own floor ("floor")
TARGETS = {"list": ("rows", 3.0), "search": ("rows", 3.0), "detail": ("rows", 4.0), "trivial": ("hello", 5.0),
           "project": ("project_rows", 3.0), "board": ("project_board", 3.0),
           "tasks": ("task_rows", 3.0), "timeline": ("timeline_rows", 3.0), "company": ("company_rows", 3.0),
           "calendar": ("calendar_rows", 3.0), "feed": ("feed_rows", 3.0)}
FLOOR_NAMES = {"rows": "50-row floor", "hello": "hello-world", "project_rows": "50-project-row floor",
               "project_board": "GROUP BY floor", "task_rows": "open-task floor", "timeline_rows": "timeline floor",
               "company_rows": "company + timeline floor", "calendar_rows": "month floor", "feed_rows": "feed floor"}
#: the kinds of issue 4 (meetings, tasks, timelines, calendars): their own table in the README
MEETING_KINDS = {"tasks", "timeline", "company", "calendar", "feed"}
#: which pages a run times (--pages)
PAGE_GROUPS = ("companies", "projects", "meetings")
#: a stage move goes back and forth between these two stages
MOVE_STAGES = ("negotiating", "site_visit")


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


# --- the database -------------------------------------------------------------------------------------------------

def prepare_database(db: str, companies: int, reuse: bool, sql: Path | None = None,
                     meetings: int = 0) -> tuple[str, bool]:
    """(SQLAlchemy URL, whether it must be generated).

    With --sql on SQLite the experiment gets its own copy (bench-<N>-<sql name>.sqlite), so the plain bench file
    keeps the app's own schema; with --reuse that copy is taken from the plain file instead of regenerating.
    """
    if db == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        stem = f"bench-{companies}" + (f"-m{meetings}" if meetings else "")
        base = RESULTS / f"{stem}.sqlite"
        path = RESULTS / f"{stem}-{sql.stem}.sqlite" if sql else base
        if reuse and path == base and base.exists():
            return f"sqlite:///{path}", False
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        if reuse and base.exists():
            with sqlite3.connect(base) as src, sqlite3.connect(path) as dst:
                src.backup(dst)
            return f"sqlite:///{path}", False
        return f"sqlite:///{path}", True
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB})
        if exists and not reuse:
            conn.execute(text(f"DROP DATABASE {PG_DB} WITH (FORCE)"))
        if not exists or not reuse:
            conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    admin.dispose()
    return f"{PG_SERVER}/{PG_DB}", not (exists and reuse)


def drop_pg_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    admin.dispose()


def migrate(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)


def apply_sql(url: str, path: Path) -> None:
    """Run each `;`-terminated statement of a file (comments `--` allowed), then refresh the planner's statistics."""
    from sqlalchemy import create_engine, text

    body = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("--"))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in (s.strip() for s in body.split(";")):
            if statement:
                conn.execute(text(statement))
        if engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def row_counts(url: str) -> tuple[int, int, int]:
    """(companies, projects, meetings and tasks) in an existing bench database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("company", "project")) + (
                conn.scalar(text("SELECT (SELECT count(*) FROM meeting) + (SELECT count(*) FROM task)")),)
    finally:
        engine.dispose()


def fits(counts: tuple[int, int, int], companies: int, projects: int, meetings: int) -> bool:
    """Whether an existing database holds what was asked for (meetings and tasks come out within 2 % of it)."""
    return counts[:2] == (companies, projects) and abs(counts[2] - meetings) <= meetings * 0.02


# --- what to ask for ----------------------------------------------------------------------------------------------

def pick_urls(companies: int, pages: frozenset[str] = frozenset(PAGE_GROUPS)) -> tuple[list[dict], dict]:
    """The timed URLs, chosen from the data through the app's own queries (run inside an app context)."""
    from generate import BENCH_EMAIL
    from sqlalchemy import func, select

    from crm import create_app
    from crm.audit.models import AuditEvent
    from crm.auth.models import User
    from crm.companies import queries
    from crm.companies.models import Company, Contact
    from crm.extensions import db
    from crm.projects import queries as pq
    from crm.projects.models import Project, StageMove

    app = create_app()
    with app.app_context():
        me = db.session.scalar(select(User).where(User.email == BENCH_EMAIL))
        visible = queries.company_page(me, queries.CompanyFilters(), page=1)[1]
        n_projects = db.session.scalar(select(func.count()).select_from(Project))
        urls = []
        if "companies" in pages:
            urls += company_urls(me, visible)
            urls += [{"label": "Floor: hello-world (bare Flask)", "kind": "hello", "server": "floor",
                      "path": "/hello", "matches": None},
                     {"label": "Floor: 50 rows of 100k + count (bare Flask)", "kind": "rows", "server": "floor",
                      "path": "/rows", "matches": db.session.scalar(select(func.count()).select_from(Company))}]
        if "projects" in pages:
            urls += project_urls(me, pq)
            urls += [{"label": f"Floor: 50 rows of {n_projects // 1000}k projects + count (bare Flask)",
                      "kind": "project_rows", "server": "floor", "path": "/project-rows", "matches": n_projects},
                     {"label": f"Floor: GROUP BY stage over {n_projects // 1000}k projects + 50 rows (bare Flask)",
                      "kind": "project_board", "server": "floor", "path": "/project-board", "matches": n_projects}]
        facts = {"visible_to_officer": visible, "officer": BENCH_EMAIL,
                 "contacts": db.session.scalar(select(func.count()).select_from(Contact)),
                 "audit_events": db.session.scalar(select(func.count()).select_from(AuditEvent)),
                 "projects": n_projects, "stage_moves": db.session.scalar(select(func.count()).select_from(StageMove)),
                 "visible_projects": pq.count(pq.filtered(me, pq.ProjectFilters()))}
        if "meetings" in pages:
            meeting_rows, facts["meetings"] = meeting_urls(me)
            urls += meeting_rows
        db.session.remove()
        db.engine.dispose()
    return urls, facts


def company_urls(me, visible: int) -> list[dict]:
    """The company rows (issue 2): the list, filtered, deep (by number and by cursor), three searches, a detail
    page and a trivial signed-in page."""
    from sqlalchemy import func, select

    from crm.companies import queries
    from crm.companies.models import Company, Contact
    from crm.core.text import pinyin_initials
    from crm.extensions import db

    mine = select(Company).where(Company.owner_id == me.id, Company.deleted_at.is_(None))
    n_contacts = (select(func.count()).select_from(Contact)
                  .where(Contact.company_id == Company.id).scalar_subquery())
    detail = db.session.scalar(mine.order_by(n_contacts.desc(), Company.updated_at.desc()).limit(1))
    held = db.session.scalars(mine.order_by(Company.id).limit(200)).all()
    initials = next(i for i in (pinyin_initials(c.short_name)[:4] for c in held) if len(i) == 4)
    phone = db.session.scalar(select(Contact.mobile).where(Contact.company_id == held[1].id).limit(1))[-8:]
    deep = max(1, min(1500, int(visible / 50 * 0.95)))
    # the same depth as the pager reaches it: "continue" links carry a cursor instead of a page number
    deep_rows = queries.company_page(me, queries.CompanyFilters(), page=deep - 1)[0]
    cursor = queries.cursor_after(deep_rows[-1], "updated")
    specs = [
        ("Company list, first page", "/companies", "list", {}),
        ("Filtered list (cluster + city)", "/companies", "list",
         {"cluster": "electronic_info", "origin_city": "shenzhen"}),
        (f"Deep page (page {deep}, by number: OFFSET)", "/companies", "list", {"page": str(deep)}),
        (f"Deep page (page {deep}, by the pager's cursor)", "/companies", "list", {"after": cursor}),
        ("Search by name, 2 chars (电子)", "/companies", "search", {"q": "电子"}),
        (f"Search by pinyin initials ({initials})", "/companies", "search", {"q": initials}),
        (f"Search by phone digits ({phone})", "/companies", "search", {"q": phone}),
        ("Company detail (3 contacts)", f"/companies/{detail.id}", "detail", {}),
        ("Trivial signed-in page (/profile)", "/profile", "trivial", {}),
    ]
    urls = []
    for label, path, kind, args in specs:
        total = None
        if path == "/companies":
            page = int(args.get("page", "1"))
            rows, total = queries.company_page(me, queries.CompanyFilters.from_args(args), page=page)
            if not rows:
                raise SystemExit(f"{label}: the page is empty; the data does not fit the benchmark")
        urls.append({"label": label, "kind": kind, "server": "app", "matches": total,
                     "path": path + (f"?{urlencode(args, quote_via=quote)}" if args else "")})
    return urls


def month_range(today):
    """The days the calendar's month view shows (crm/meetings/calendar_views.py): six weeks from the Monday on or
    before the first of the month."""
    from datetime import timedelta

    first = today.replace(day=1)
    start = first - timedelta(days=first.weekday())
    return start, start + timedelta(days=42)


def meeting_urls(me) -> tuple[list[dict], dict]:
    """The rows of issue 4: "my tasks", the busy company's timeline (all kinds, meetings only, tasks only) and its
    page, the calendar's month and the calendar feed, each with its floor (floor_app.py) on the same rows."""
    from flask import url_for
    from sqlalchemy import func, select

    from crm.auth.models import User
    from crm.core.timeutil import today_in_zone
    from crm.extensions import db
    from crm.meetings import queries as mq
    from crm.meetings.ical import new_feed_token
    from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task

    def n(model, *where):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))

    if not n(Meeting):
        raise SystemExit("the bench database has no meetings: generate it with --meetings N")
    busy = db.session.scalar(select(Meeting.company_id).group_by(Meeting.company_id)
                             .order_by(func.count().desc(), Meeting.company_id).limit(1))
    today = today_in_zone()
    groups = mq.task_groups(me, me)
    start, end = month_range(today)
    month = mq.calendar_items(me, [me.id], start, end)
    feed = mq.feed_items(me)
    token = new_feed_token(me)  # the officer's private feed URL (an earlier one is revoked)
    facts = {
        "meetings": n(Meeting), "tasks": n(Task), "meeting_users": n(MeetingUser),
        "meeting_contacts": n(MeetingContact), "users": n(User), "busy_company": busy,
        "busy_meetings": n(Meeting, Meeting.company_id == busy), "busy_tasks": n(Task, Task.company_id == busy),
        "officer_tasks": n(Task, Task.owner_id == me.id), "officer_open": groups.open_total,
        "officer_overdue": groups.counts["overdue"],
        "officer_meetings": n(Meeting, Meeting.owner_id == me.id)}
    feed_start, feed_end = today - mq.FEED_PAST, today + mq.FEED_AHEAD
    with current_app_request():
        specs = [
            ("My tasks (open, grouped)", url_for("meetings.tasks"), "tasks", groups.open_total,
             ("task_rows", f"/task-rows?owner={me.id}")),
            ("Busy company timeline, all kinds", url_for("companies.timeline", company_id=busy), "timeline",
             facts["busy_meetings"] + facts["busy_tasks"], ("timeline_rows", f"/timeline-rows?company={busy}")),
            ("Busy company timeline, meetings", url_for("companies.timeline", company_id=busy, kind="meeting"),
             "timeline", facts["busy_meetings"],
             ("timeline_rows_meeting", f"/timeline-rows?company={busy}&kind=meeting")),
            ("Busy company timeline, tasks", url_for("companies.timeline", company_id=busy, kind="task"),
             "timeline", facts["busy_tasks"], ("timeline_rows_task", f"/timeline-rows?company={busy}&kind=task")),
            ("Busy company page", url_for("companies.show", company_id=busy), "company", None,
             ("company_rows", f"/company-rows?company={busy}")),
            ("Calendar, month", url_for("calendar.index", view="month"), "calendar",
             len(month.meetings) + len(month.tasks),
             ("calendar_rows", f"/calendar-rows?owner={me.id}&start={start}&end={end}")),
            ("Calendar feed (.ics)", url_for("calendar.feed", token=token), "feed",
             len(feed.meetings) + len(feed.tasks),
             ("feed_rows", f"/feed-rows?owner={me.id}&start={feed_start}&end={feed_end}")),
        ]
    urls, floors = [], {}
    for label, path, kind, matches, (floor_key, floor_path) in specs:
        urls.append({"label": label, "kind": kind, "server": "app", "matches": matches, "path": path,
                     "floor": floor_key})
        if floor_key not in floors:
            floors[floor_key] = {"label": f"Floor: {label.lower()} (bare Flask)", "kind": floor_key,
                                 "key": floor_key, "server": "floor", "path": floor_path, "matches": matches}
    return urls + list(floors.values()), facts


def current_app_request():
    """A request context on the app's own URL map (to build the pages' paths with url_for)."""
    from flask import current_app

    return current_app.test_request_context(f"http://127.0.0.1:{APP_PORT}/")


def project_urls(me, pq) -> list[dict]:
    """The project rows (issue 3): the board on open stages (alone and with a cluster filter), the list's first and
    deep pages, and a stage move (POST), each against the 50-project-row floor."""
    everything = pq.filtered(me, pq.ProjectFilters())
    visible = pq.count(everything)
    deep = max(1, min(1000, int(visible / 50 * 0.95)))
    urls = []
    for label, path, args in [
        ("Project board, open stages", "/projects/board", {"stage": "open"}),
        ("Project board, open stages + cluster", "/projects/board", {"stage": "open", "cluster": "electronic_info"}),
        ("Project list, first page", "/projects", {}),
        (f"Project list, deep page (page {deep})", "/projects", {"page": str(deep)}),
    ]:
        f = pq.ProjectFilters.from_args(args)
        if path == "/projects/board":
            columns = pq.board(me, f)
            if not all(c.cards for c in columns):
                raise SystemExit(f"{label}: an empty column; the data does not fit the benchmark")
            matches = sum(c.count for c in columns)
        else:
            rows, _ = pq.project_page(me, f, page=int(args.get("page", "1")))
            if not rows:
                raise SystemExit(f"{label}: the page is empty; the data does not fit the benchmark")
            matches = pq.count(pq.filtered(me, f))
        urls.append({"label": label, "kind": "board" if path == "/projects/board" else "project", "server": "app",
                     "matches": matches,
                     "path": path + (f"?{urlencode(args, quote_via=quote)}" if args else "")})
    # the officer's own projects at the first of the two stages, one per connection, moved back and forth
    mine, _ = pq.project_page(me, pq.ProjectFilters(owner_id=me.id, stage=MOVE_STAGES[0]), per_page=8)
    movers = [{"id": p.id, "stage": p.stage, "version": p.version} for p in mine if not p.confidential]
    if not movers:
        raise SystemExit(f"the officer has no projects at {MOVE_STAGES[0]} to move")
    urls.append({"label": f"Stage move (POST, {MOVE_STAGES[0]} ⇄ {MOVE_STAGES[1]})", "kind": "project",
                 "server": "app", "matches": None, "path": "/projects/<id>/move", "movers": movers,
                 "filters": "stage=open"})
    return urls


# --- servers ------------------------------------------------------------------------------------------------------

def start_server(args: list[str], env: dict, logfile: Path, cwd: Path) -> subprocess.Popen:
    out = open(logfile, "wb")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "gunicorn", *args], cwd=cwd, env=env, stdout=out, stderr=out,
                            start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, logfile: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: see {logfile}\n{logfile.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop gunicorn (its master and the workers in its own process group), started above by us."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- the report ---------------------------------------------------------------------------------------------------

def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({model or platform.processor()}){mem}, {platform.system()} {platform.release()}"


def database_version(url: str) -> str:
    if url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version} (WAL, file on local disk)"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.scalar(text("SHOW server_version"))
    engine.dispose()
    return f"PostgreSQL {version} (local, default settings)"


def floor_of(row: dict, floors: dict) -> tuple[dict | None, float | None, str]:
    """(the floor a page is compared with, the allowed p95 ratio, the floor's name) or (None, None, "")."""
    if row["server"] == "floor" or row["kind"] not in TARGETS:
        return None, None, ""
    key, limit = TARGETS[row["kind"]]
    key = row.get("floor", key)
    return floors[key], limit, FLOOR_NAMES.get(key, FLOOR_NAMES.get(TARGETS[row["kind"]][0], key))


def table(result: dict) -> str:
    """Issues 2 and 3: every page with its p95 against its floor's."""
    rows = [r for r in result["urls"] if r["kind"] not in MEETING_KINDS and not r.get("key")]
    floors = {r.get("key", r["kind"]): r for r in result["urls"] if r["server"] == "floor"}
    lines = ["| Page | URL | Matches | Median ms | p95 ms | p95 ÷ floor | Target | Met |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ratio = target = met = ""
        floor, limit, name = floor_of(r, floors)
        if floor is not None:
            value = r["p95"] / floor["p95"]
            ratio = f"{value:.1f}×"
            target = f"≤ {limit:g}× {name}"
            met = "yes" if value <= limit else "**no**"
        matches = f"{r['matches']:,}" if r["matches"] is not None else ""
        lines.append(f"| {r['label']} | `{r['path']}` | {matches} | {r['median']:.1f} | {r['p95']:.1f} | {ratio} | "
                     f"{target} | {met} |")
    return "\n".join(lines)


def meeting_table(result: dict) -> str:
    """Issue 4: each page's median and p95, its floor's (measured in the same run), both ratios and the target
    (p95 ≤ 3× the floor's p95); then the floors and what they read."""
    floors = {r.get("key", r["kind"]): r for r in result["urls"] if r["server"] == "floor"}
    lines = ["| Page | URL | Rows | Median ms | p95 ms | Floor median ms | Floor p95 ms | Median ÷ floor | "
             "p95 ÷ floor | Met (p95 ≤ 3×) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in (r for r in result["urls"] if r["kind"] in MEETING_KINDS):
        floor, limit, _ = floor_of(r, floors)
        ratio = r["p95"] / floor["p95"]
        matches = f"{r['matches']:,}" if r["matches"] is not None else ""
        path = r["path"] if "/feed/" not in r["path"] else r["path"].rsplit("/", 1)[0] + "/<token>.ics"
        lines.append(f"| {r['label']} | `{path}` | {matches} | {r['median']:.1f} | {r['p95']:.1f} | "
                     f"{floor['median']:.1f} | {floor['p95']:.1f} | {r['median'] / floor['median']:.1f}× | "
                     f"{ratio:.1f}× | {'yes' if ratio <= limit else '**no**'} |")
    wanted = {u["floor"] for u in result["urls"] if u["kind"] in MEETING_KINDS}
    for r in (r for r in result["urls"] if r["server"] == "floor" and r.get("key") in wanted):
        lines.append(f"| {r['label']} | `{r['path']}` | | {r['median']:.1f} | {r['p95']:.1f} | | | | | |")
    return "\n".join(lines)


def header(result: dict) -> str:
    return (f"Command: `{result['command']}`  \n"
            f"Date: {result['date']}  \n"
            f"Machine: {result['machine']}; load client on the same machine; 1-minute load average "
            f"{result['load_average'][0]:.2f} before and {result['load_average'][1]:.2f} after the run  \n")


def load_line(result: dict) -> str:
    return (f"Load: {result['requests']} requests per URL per run over {result['connections']} connections, "
            f"{result['runs']} runs, URLs interleaved within each run; figures are medians over the runs of each "
            f"run's median and p95" + (f"  \nApplied after generating: `{result['sql']}`" if result["sql"] else ""))


def markdown(result: dict) -> str:
    return (header(result)
            + f"Database: {result['database']}; {result['companies']:,} companies, {result['contacts']:,} contacts, "
            f"{result['audit_events']:,} audit events, {result['projects']:,} projects with "
            f"{result['stage_moves']:,} stage moves; the officer signed in sees {result['visible']:,} companies and "
            f"{result['visible_projects']:,} projects  \n"
            + load_line(result) + "\n\n" + table(result) + "\n")


def meeting_markdown(result: dict) -> str:
    m = result["meetings"]
    return (header(result)
            + f"Database: {result['database']}; {m['meetings']:,} meetings and {m['tasks']:,} tasks "
            f"({m['meetings'] + m['tasks']:,}), {m['meeting_contacts']:,} contacts and {m['meeting_users']:,} "
            f"colleagues who took part, {m['users']:,} users; on {result['companies']:,} companies and "
            f"{result['projects']:,} projects. The busy company (#{m['busy_company']}) has {m['busy_meetings']:,} "
            f"meetings and {m['busy_tasks']:,} tasks; the officer signed in owns {m['officer_meetings']:,} meetings "
            f"and {m['officer_tasks']:,} tasks, {m['officer_open']:,} of them open ({m['officer_overdue']:,} "
            f"overdue)  \n"
            + load_line(result) + "\n\n" + meeting_table(result) + "\n")


def update_readme(db: str, text: str) -> None:
    readme = BENCH / "README.md"
    content = readme.read_text()
    start, end = f"<!-- results:{db} -->", f"<!-- /results:{db} -->"
    if start not in content or end not in content:
        raise SystemExit(f"bench/README.md has no {start} … {end} block")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}{end}{tail}")


# --- main ---------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=None,
                        help="projects to generate (default: 50,000 on SQLite, 200,000 on PostgreSQL)")
    parser.add_argument("--meetings", type=int, default=None,
                        help="meetings and tasks together (default: 500,000 on SQLite, 5,000,000 on PostgreSQL; "
                        "0 for none, then --pages companies,projects)")
    parser.add_argument("--pages", default=",".join(PAGE_GROUPS),
                        help="which pages to time: companies (issue 2), projects (issue 3), meetings (issue 4), "
                        "comma-separated (default: all)")
    parser.add_argument("--pg-db", default=PG_DB, help="the PostgreSQL database to create (default: crm_bench, "
                        "or BENCH_PG_DB)")
    parser.add_argument("--app-port", type=int, default=APP_PORT)
    parser.add_argument("--floor-port", type=int, default=FLOOR_PORT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per URL per run")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench database instead of rebuilding")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end (PostgreSQL)")
    parser.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    parser.add_argument("--sql", type=Path, help="a SQL file run after generating (to try an index before writing its "
                        "migration); the results are tagged with its name")
    args = parser.parse_args()
    globals().update(PG_DB=args.pg_db, APP_PORT=args.app_port, FLOOR_PORT=args.floor_port)
    # generate.DEFAULT_PROJECTS and DEFAULT_MEETINGS (not imported yet: the app's config reads the environment)
    if args.projects is None:
        args.projects = 50_000 if args.db == "sqlite" else 200_000
    if args.meetings is None:
        args.meetings = 500_000 if args.db == "sqlite" else 5_000_000
    pages = frozenset(p.strip() for p in args.pages.split(",") if p.strip())
    if not pages or pages - set(PAGE_GROUPS):
        parser.error(f"--pages: choose from {', '.join(PAGE_GROUPS)}")
    if "meetings" in pages and not args.meetings:
        parser.error("--meetings 0 leaves nothing for the meeting pages: add --pages companies,projects")

    instance = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    url, fresh = prepare_database(args.db, args.companies, args.reuse, args.sql, args.meetings)
    env = {**os.environ, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(instance), "CRM_CONFIG": "development",
           "PYTHONPATH": str(ROOT)}
    os.environ.update({"DATABASE_URL": url, "CRM_INSTANCE_DIR": str(instance), "CRM_CONFIG": "development"})
    servers: list[subprocess.Popen] = []
    load_before = os.getloadavg()[0]
    try:
        log(f"migrating {url} (flask db upgrade)")
        migrate(env)
        if fresh:
            from generate import generate

            log(f"generating {args.companies:,} companies, {args.projects:,} projects and about "
                f"{args.meetings:,} meetings and tasks")
            summary = generate(url, args.companies, projects=args.projects, meetings=args.meetings, log=log)
            log(f"generated in {summary.seconds:.0f} s")
        elif not fits(row_counts(url), args.companies, args.projects, args.meetings):
            raise SystemExit("--reuse: the existing bench database holds a different number of companies, projects "
                             f"or meetings and tasks ({row_counts(url)}); run without --reuse to regenerate it")
        if args.sql:
            log(f"applying {args.sql}")
            apply_sql(url, args.sql)
        # what an operator runs after a bulk load (and beat runs daily): the planner's statistics
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "crm", "optimize-db"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        urls, facts = pick_urls(args.companies, pages)

        log(f"starting the app on :{APP_PORT} and the floor app on :{FLOOR_PORT} (gunicorn, 2 workers each)")
        app_log, floor_log = instance / "app.log", instance / "floor.log"
        servers.append(start_server(["-w", "2", "-b", f"127.0.0.1:{APP_PORT}", "wsgi:app"], env, app_log, ROOT))
        servers.append(start_server(["-w", "2", "-b", f"127.0.0.1:{FLOOR_PORT}", "floor_app:app"], env, floor_log,
                                    BENCH))
        wait_ready(f"http://127.0.0.1:{APP_PORT}/healthz", servers[0], app_log)
        wait_ready(f"http://127.0.0.1:{FLOOR_PORT}/hello", servers[1], floor_log)

        import load
        from generate import BENCH_PASSWORD

        app_client = load.sign_in(f"http://127.0.0.1:{APP_PORT}", facts["officer"], BENCH_PASSWORD)
        floor_client = load.Client(f"http://127.0.0.1:{FLOOR_PORT}")
        per_run: dict[str, list[tuple[float, float]]] = {u["label"]: [] for u in urls}
        for run in range(1, args.runs + 1):
            log(f"run {run}/{args.runs}")
            token = load.csrf_token(app_client)
            for u in urls:
                client = app_client if u["server"] == "app" else floor_client
                if "movers" in u:
                    times = load.timed_moves(client, u["movers"][:args.connections], MOVE_STAGES, token=token,
                                             filters=u["filters"], requests=args.requests)
                else:
                    times = load.timed(client, u["path"], requests=args.requests, connections=args.connections)
                per_run[u["label"]].append(load.summary(times))
                log(f"  {u['label']}: median {per_run[u['label']][-1][0]:.1f} ms, p95 {per_run[u['label']][-1][1]:.1f}")
        for u in urls:
            u["median"] = statistics.median(m for m, _ in per_run[u["label"]])
            u["p95"] = statistics.median(p for _, p in per_run[u["label"]])
            u["runs"] = per_run[u["label"]]
    finally:
        for proc in servers:
            stop_server(proc)
        shutil.rmtree(instance, ignore_errors=True)
        version = database_version(url)
        if args.db == "postgres" and not args.keep:
            drop_pg_database()
            log(f"dropped {PG_DB}")

    result = {
        "command": "python bench/run.py " + " ".join(sys.argv[1:]), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(), "database": version, "db": args.db, "companies": args.companies,
        "contacts": facts["contacts"], "audit_events": facts["audit_events"], "visible": facts["visible_to_officer"],
        "projects": facts["projects"], "stage_moves": facts["stage_moves"],
        "visible_projects": facts["visible_projects"],
        "requests": args.requests, "connections": args.connections, "runs": args.runs,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "sql": str(args.sql.resolve().relative_to(ROOT)) if args.sql else None, "urls": urls,
        "meetings": facts.get("meetings"),
    }
    RESULTS.mkdir(exist_ok=True)
    tag = f"{args.db}+{args.sql.stem}" if args.sql else args.db
    stem = RESULTS / (f"{tag}-{args.companies}" + ("" if pages == set(PAGE_GROUPS) else "-" + "+".join(sorted(pages))))
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    blocks = []  # (README block, text)
    if pages & {"companies", "projects"}:
        blocks.append((tag, markdown(result)))
    if "meetings" in pages:
        blocks.append((f"meetings-{tag}", meeting_markdown(result)))
    stem.with_suffix(".md").write_text("\n".join(text for _, text in blocks))
    if args.readme:
        for block, text in blocks:
            update_readme(block, text)
    print()
    for _, text in blocks:
        print(text)


if __name__ == "__main__":
    main()
