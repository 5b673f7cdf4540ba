"""Issue 6's speed row: the support board's wall chart with 2,000 signed projects × 9 milestones and 10,000
enterprise requests, within 3× the bench floor in the same run.

    python bench/board.py [--db sqlite|postgres] [--signed 2000] [--requests 10000] [--reuse] [--keep]
                          [--runs 3] [--per-url 100] [--readme]

1. **Data.** A database of its own (bench/results/board-<signed>.sqlite, or the PostgreSQL database
   `crm_bench_board`), migrated with `flask db upgrade`, filled by bench/generate.py's `build()` (20,000 companies
   with contacts and audit events, the teams and officers, a pipeline over every stage) cut to exactly `--signed`
   projects from signed on (the rest of the pipeline stays: the board must skip it), then for each signed project
   the nine standard milestones (planned from its signing date, done as far as its stage has come, some late, some
   not planned yet, each with its department) and `--requests` enterprise requests on them (a quarter open, a tenth
   in progress, the rest resolved or closed; deadlines around their creation). Core batches on SQLite, COPY on
   PostgreSQL, then `flask crm optimize-db`.
2. **Servers.** The app and bench/floor_app.py with gunicorn (2 workers each) on that database, as bench/run.py.
3. **Pages** (signed in as the bench officer, team 1: he sees every signed project but other teams' confidential
   ones): the board as it opens (key projects, worst status first), every signed project (the first page of 500),
   every signed project in one park by name, the same board over the API, and the .xlsx export of the key projects.
   **Floor** (`/board-rows` of floor_app.py): the same four statements with the same parameters (the page of ids in
   board order with the total, the projects with their company and officer, their milestones, their open requests
   grouped), each cell's status worked out in Python, rendered as a bare table (name, company, 9 cells of status and
   dates). **Target**: each page's p95 ≤ 3× the p95 of its floor on the same rows, in the same run.

Results go to bench/results/board-<db>.json and .md; --readme replaces the block `<!-- results:board-<db> -->` of
bench/README.md. Every process started here is stopped at the end; the PostgreSQL database is dropped unless --keep.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("BENCH_BOARD_PG_DB", "crm_bench_board")
APP_PORT, FLOOR_PORT = 5091, 5092
COMPANIES = 20_000
#: the pipeline generated before it is cut to --signed projects from signed on (26 % of it is signed or later)
PIPELINE_FACTOR = 4.4
#: days from signing to each milestone's planned date, in board order
PLAN = {"land_acquired": 30, "planning_permit": 60, "construction_permit": 95, "construction_start": 130,
        "topping_out": 300, "equipment_in": 420, "trial_production": 500, "production_start": 560,
        "full_capacity": 900}
#: the last milestone a stage has normally reached
REACHED_BY_STAGE = {"signed": "land_acquired", "under_construction": "construction_start",
                    "in_production": "production_start", "full_capacity": "full_capacity"}
DEPARTMENT_OF = {"land_acquired": "natural_resources", "planning_permit": "natural_resources",
                 "construction_permit": "housing_construction", "construction_start": "housing_construction",
                 "topping_out": "housing_construction", "equipment_in": "approval", "trial_production": "power_supply",
                 "production_start": "market_regulation", "full_capacity": "development_reform"}
REQUEST_STATUS_WEIGHTS = {"open": 25, "in_progress": 10, "resolved": 20, "closed": 45}
_DESCRIPTIONS = ("厂房用电增容报装，需协调供电公司尽快接入", "项目用地红线调整，需自然资源局出具意见",
                 "施工许可证办理进度咨询", "员工子女入学安排", "招聘一线操作工200人", "申请技改补贴政策兑现",
                 "园区道路及物流通道尚未贯通", "天然气管道接入时间", "流动资金贷款对接银行", "环评批复办理")


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


# --- the database -------------------------------------------------------------------------------------------------

def database_url(db: str, signed: int, reuse: bool) -> tuple[str, bool]:
    """(SQLAlchemy URL, whether it must be generated)."""
    if db == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"board-{signed}.sqlite"
        if reuse and path.exists():
            return f"sqlite:///{path}", False
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
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


def _signed_only(tables: dict, signed: int) -> None:
    """Keep exactly `signed` projects from signed on (and every project before signing), with their moves and funds."""
    from crm.projects.stages import SIGNED_OR_LATER

    later = [p["id"] for p in tables["project"] if p["stage"] in SIGNED_OR_LATER]
    if len(later) < signed:
        raise SystemExit(f"the pipeline has {len(later)} signed projects, fewer than {signed}: raise PIPELINE_FACTOR")
    dropped = set(later[signed:])
    tables["project"] = [p for p in tables["project"] if p["id"] not in dropped]
    tables["stage_move"] = [m for m in tables["stage_move"] if m["project_id"] not in dropped]
    tables["funds_entry"] = [f for f in tables["funds_entry"] if f["project_id"] not in dropped]


def _milestones(rng: random.Random, projects: list[dict], today, now: datetime) -> list[dict]:
    """Nine milestones per signed project: planned from its signing date (a few not planned yet), done as far as
    its stage has come (sometimes late), the next ones due, some of them overdue."""
    from crm.projects.stages import SIGNED_OR_LATER
    from crm.support.models import MILESTONE_KEYS

    rows = []
    for p in projects:
        if p["stage"] not in SIGNED_OR_LATER:
            continue
        signed_on = p["reached_signed"] or today - timedelta(days=60)
        reached = MILESTONE_KEYS.index(REACHED_BY_STAGE[p["stage"]])
        drift = rng.randint(-15, 25)
        for k, kind in enumerate(MILESTONE_KEYS):
            planned = signed_on + timedelta(days=PLAN[kind] + drift + rng.randint(-10, 10))
            if k > reached + 2 and planned > today + timedelta(days=60) and rng.random() < 0.15:
                planned = None  # far ahead and not planned yet
            actual = None
            if planned is not None and k <= reached and planned <= today:
                actual = min(today, planned + timedelta(days=rng.randint(-5, 30)))
            elif planned is not None and planned < today and rng.random() < 0.55:
                actual = min(today, planned + timedelta(days=rng.randint(0, 20)))  # done, not yet moved on
            rows.append({"id": len(rows) + 1, "project_id": p["id"], "kind": kind, "sort": (k + 1) * 10,
                         "planned_date": planned, "actual_date": actual, "department": DEPARTMENT_OF[kind],
                         "owner_id": p["owner_id"], "note": "", "version": 1, "created_at": now, "updated_at": now,
                         "deleted_at": None, "deleted_by_id": None})
    return rows


def _requests(rng: random.Random, projects: list[dict], count: int, today, now: datetime) -> list[dict]:
    """`count` enterprise requests on the signed projects (some projects many), with deadlines around their creation
    and statuses that are older the more settled they are."""
    from crm.projects.stages import SIGNED_OR_LATER
    from crm.support.models import CATEGORY_KEYS

    signed = [p for p in projects if p["stage"] in SIGNED_OR_LATER]
    weights = [rng.paretovariate(1.5) for _ in signed]
    statuses, status_weights = list(REQUEST_STATUS_WEIGHTS), list(REQUEST_STATUS_WEIGHTS.values())
    rows = []
    for p in rng.choices(signed, weights=weights, k=count):
        status = rng.choices(statuses, weights=status_weights)[0]
        age = rng.randint(1, 60) if status in ("open", "in_progress") else rng.randint(20, 500)
        created = now - timedelta(days=age, hours=rng.randint(0, 10))
        deadline = created.date() + timedelta(days=rng.randint(5, 40))
        settled = created + timedelta(days=rng.randint(2, 30))
        rows.append({
            "id": len(rows) + 1, "project_id": p["id"], "company_id": p["company_id"],
            "category": rng.choice(CATEGORY_KEYS), "description": rng.choice(_DESCRIPTIONS),
            "department": rng.choice(list(DEPARTMENT_OF.values())), "owner_id": p["owner_id"], "deadline": deadline,
            "status": status, "resolution": "已协调办结" if status in ("resolved", "closed") else "",
            "satisfaction": rng.randint(3, 5) if status == "closed" else None,
            "resolved_at": settled if status in ("resolved", "closed") else None,
            "closed_at": settled + timedelta(days=2) if status == "closed" else None, "created_by_id": p["owner_id"],
            "version": 1, "created_at": created, "updated_at": created, "deleted_at": None, "deleted_by_id": None})
    return rows


def seed(url: str, signed: int, requests: int, seed_value: int = 20261206) -> dict:
    """Fill an empty, migrated database; returns its facts."""
    from generate import _check_columns, _copy, _insert, build
    from sqlalchemy import create_engine, text

    from config import Config
    from crm.support.models import EnterpriseRequest, Milestone

    started = time.perf_counter()
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(ZoneInfo(Config.CRM_TIMEZONE)).date()
    tables, _facts = build(COMPANIES, seed_value, projects=int(signed * PIPELINE_FACTOR))
    _signed_only(tables, signed)
    rng = random.Random(seed_value + 6)
    tables["milestone"] = _milestones(rng, tables["project"], today, now)
    tables["enterprise_request"] = _requests(rng, tables["project"], requests, today, now)
    _check_columns(Milestone.__table__, tables["milestone"][0])
    _check_columns(EnterpriseRequest.__table__, tables["enterprise_request"][0])
    from crm.extensions import db

    metadata = db.metadata
    order = ["ref_item", "team", "user", "company", "contact", "audit_event", "project", "stage_move", "funds_entry",
             "milestone", "enterprise_request"]
    engine = create_engine(url)
    with engine.begin() as conn:
        write = _copy if engine.dialect.name == "postgresql" else _insert
        for name in order:
            write(conn, metadata.tables[name], tables[name])
        if engine.dialect.name == "postgresql":
            for name in order:  # explicit ids went in: move the sequences past them
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                                  f"(SELECT max(id) FROM \"{name}\"))"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    log(f"  generated in {time.perf_counter() - started:.0f} s")
    return facts_of(url)


def facts_of(url: str) -> dict:
    """What the database holds, counted (so --reuse reports the same figures)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    signed = "('signed', 'under_construction', 'in_production', 'full_capacity')"
    with engine.connect() as conn:
        def one(sql):
            return conn.scalar(text(sql))

        facts = {"companies": one("SELECT count(*) FROM company"), "projects": one("SELECT count(*) FROM project"),
                 "signed": one(f"SELECT count(*) FROM project WHERE stage IN {signed} AND deleted_at IS NULL"),
                 "key_signed": one(f"SELECT count(*) FROM project WHERE stage IN {signed} AND deleted_at IS NULL "
                                   "AND key_project = true"),
                 "milestones": one("SELECT count(*) FROM milestone"),
                 "requests": one("SELECT count(*) FROM enterprise_request"),
                 "open_requests": one("SELECT count(*) FROM enterprise_request WHERE status IN ('open', "
                                      "'in_progress')")}
    engine.dispose()
    return facts


# --- what to ask for ----------------------------------------------------------------------------------------------

def pick_urls() -> tuple[list[dict], dict]:
    """The timed URLs, each with its floor on the same rows; checked against the app's own board query."""
    from generate import BENCH_EMAIL
    from sqlalchemy import select

    from crm import create_app
    from crm.auth.models import User
    from crm.extensions import db
    from crm.support import board as wall
    from crm.support import services

    app = create_app()
    with app.app_context():
        me = db.session.scalar(select(User).where(User.email == BENCH_EMAIL))
        on, days = services.today(), services.warning_days()
        floor_common = {"user": me.id, "team": me.team_id, "on": on.isoformat(), "days": days}
        urls = []
        for label, args in [("Board as it opens: key projects, worst first", {}),
                            ("Board, every signed project (first page of 500)", {"key": "0"}),
                            ("Board, every signed project in one park, by name",
                             {"key": "0", "park": "dunhou", "sort": "name"})]:
            from werkzeug.datastructures import MultiDict

            f = wall.BoardFilters.from_args(MultiDict(args))
            result = wall.board(me, f, on=on, days=days)
            if not result.rows:
                raise SystemExit(f"{label}: no rows; the data does not fit the benchmark")
            floor = {**floor_common, "key": "0" if not f.key_only else "1", "park": f.park, "sort": f.sort,
                     "limit": wall.PAGE_SIZE}
            query = f"?{urlencode(args)}" if args else ""
            urls.append({"label": label, "path": f"/board{query}", "server": "app", "rows": len(result.rows),
                         "matches": result.total, "floor": f"/board-rows?{urlencode(floor)}", "target": 3.0})
            if not args:
                urls.append({"label": "API: the same board (GET /api/v1/board)", "path": "/api/v1/board",
                             "server": "api", "rows": len(result.rows), "matches": result.total,
                             "floor": f"/board-rows?{urlencode(floor)}", "target": 3.0})
                urls.append({"label": "Export of the same board (.xlsx, coloured)", "path": "/board.xlsx",
                             "server": "app", "rows": len(result.rows), "matches": result.total,
                             "floor": f"/board-rows?{urlencode(floor)}", "target": None})
        facts = {"officer": BENCH_EMAIL, "on": on.isoformat(), "warning_days": days}
        db.session.remove()
        db.engine.dispose()
    return urls, facts


# --- load -------------------------------------------------------------------------------------------------------

def api_client(base: str, email: str, password: str):
    """A load.Client that sends a bearer token (POST /api/v1/auth/token) with every request."""
    import load

    body = json.dumps({"email": email, "password": password}).encode()
    req = urllib.request.Request(f"{base}/api/v1/auth/token", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        token = json.loads(resp.read())["token"]

    class TokenClient(load.Client):
        def request(self, conn, method, path, body=None, headers=None):
            return super().request(conn, method, path, body, {**(headers or {}), "Authorization": f"Bearer {token}"})

    return TokenClient(base)


def measure(urls: list[dict], facts: dict, runs: int, per_url: int, connections: int) -> None:
    import load
    from generate import BENCH_PASSWORD

    base, floor_base = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{FLOOR_PORT}"
    clients = {"app": load.sign_in(base, facts["officer"], BENCH_PASSWORD),
               "api": api_client(base, facts["officer"], BENCH_PASSWORD), "floor": load.Client(floor_base)}
    timed = []  # (key, client, path): each page and each distinct floor once per run, interleaved
    for u in urls:
        timed.append((u["label"], clients[u["server"]], u["path"]))
        if all(t[0] != u["floor"] for t in timed):
            timed.append((u["floor"], clients["floor"], u["floor"]))
    per_run: dict[str, list] = {key: [] for key, _, _ in timed}
    for run in range(1, runs + 1):
        log(f"run {run}/{runs}")
        for key, client, path in timed:
            times = load.timed(client, path, requests=per_url, connections=connections)
            per_run[key].append(load.summary(times))
            log(f"  {key[:70]}: median {per_run[key][-1][0]:.1f} ms, p95 {per_run[key][-1][1]:.1f}")
    for u in urls:
        for prefix, key in (("", u["label"]), ("floor_", u["floor"])):
            u[f"{prefix}median"] = statistics.median(m for m, _ in per_run[key])
            u[f"{prefix}p95"] = statistics.median(p for _, p in per_run[key])
            u[f"{prefix}runs"] = per_run[key]


# --- the report ---------------------------------------------------------------------------------------------------

def markdown(result: dict) -> str:
    f = result["facts"]
    lines = [f"Command: `{result['command']}`  ",
             f"Date: {result['date']}  ",
             f"Machine: {result['machine']}; load client on the same machine; 1-minute load average "
             f"{result['load_average'][0]:.2f} before and {result['load_average'][1]:.2f} after the run  ",
             f"Database: {result['database']}; {f['companies']:,} companies, {f['projects']:,} projects of which "
             f"{f['signed']:,} from signed on ({f['key_signed']:,} key projects), {f['milestones']:,} milestones, "
             f"{f['requests']:,} enterprise requests ({f['open_requests']:,} open or in progress); statuses as of "
             f"{result['on']} (yellow: within {result['warning_days']} days)  ",
             f"Load: {result['per_url']} requests per URL per run over {result['connections']} connections, "
             f"{result['runs']} runs, pages and floors interleaved within each run; figures are medians over the runs "
             "of each run's median and p95",
             "",
             "| Page | URL | Rows shown (of) | Median ms | p95 ms | Floor median ms | Floor p95 ms | p95 ÷ floor | "
             "Met (p95 ≤ 3×) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for u in result["urls"]:
        ratio = u["p95"] / u["floor_p95"]
        met = ("yes" if ratio <= u["target"] else "**no**") if u["target"] else "(no target)"
        lines.append(f"| {u['label']} | `{u['path']}` | {u['rows']:,} ({u['matches']:,}) | {u['median']:.1f} | "
                     f"{u['p95']:.1f} | {u['floor_median']:.1f} | {u['floor_p95']:.1f} | {ratio:.1f}× | {met} |")
    floors = {}
    for u in result["urls"]:
        floors.setdefault(u["floor"], u)
    for path, u in floors.items():
        lines.append(f"| Floor: the same 4 statements, bare table (bare Flask) | `{path}` | {u['rows']:,} | "
                     f"{u['floor_median']:.1f} | {u['floor_p95']:.1f} | | | | |")
    return "\n".join(lines) + "\n"


def update_readme(block: str, text: str) -> None:
    readme = BENCH / "README.md"
    content = readme.read_text()
    start, end = f"<!-- results:{block} -->", f"<!-- /results:{block} -->"
    if start not in content or end not in content:
        raise SystemExit(f"bench/README.md has no {start} … {end} block")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--signed", type=int, default=2000, help="projects from signed on")
    parser.add_argument("--requests", type=int, default=10_000, help="enterprise requests")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-url", type=int, default=100, help="timed requests per URL per run")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench database")
    parser.add_argument("--keep", action="store_true", help="do not drop the PostgreSQL database at the end")
    parser.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    args = parser.parse_args()

    import run

    instance = Path(tempfile.mkdtemp(prefix="crm-bench-board-"))
    url, fresh = database_url(args.db, args.signed, args.reuse)
    env = {**os.environ, "DATABASE_URL": url, "CRM_INSTANCE_DIR": str(instance), "CRM_CONFIG": "development",
           "PYTHONPATH": str(ROOT)}
    os.environ.update({"DATABASE_URL": url, "CRM_INSTANCE_DIR": str(instance), "CRM_CONFIG": "development"})
    servers = []
    load_before = os.getloadavg()[0]
    try:
        log(f"migrating {url} (flask db upgrade)")
        run.migrate(env)
        if fresh:
            log(f"generating {args.signed:,} signed projects with their milestones and {args.requests:,} requests")
            facts = seed(url, args.signed, args.requests)
        else:
            facts = facts_of(url)
        if facts["signed"] != args.signed or facts["requests"] != args.requests:
            raise SystemExit(f"the database holds {facts['signed']} signed projects and {facts['requests']} "
                             "requests: run without --reuse to regenerate it")
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "crm", "optimize-db"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        urls, more = pick_urls()
        log(f"starting the app on :{APP_PORT} and the floor app on :{FLOOR_PORT} (gunicorn, 2 workers each)")
        app_log, floor_log = instance / "app.log", instance / "floor.log"
        servers.append(run.start_server(["-w", "2", "-b", f"127.0.0.1:{APP_PORT}", "wsgi:app"], env, app_log, ROOT))
        servers.append(run.start_server(["-w", "2", "-b", f"127.0.0.1:{FLOOR_PORT}", "floor_app:app"], env,
                                        floor_log, BENCH))
        run.wait_ready(f"http://127.0.0.1:{APP_PORT}/healthz", servers[0], app_log)
        run.wait_ready(f"http://127.0.0.1:{FLOOR_PORT}/hello", servers[1], floor_log)
        measure(urls, more, args.runs, args.per_url, args.connections)
    finally:
        for proc in servers:
            run.stop_server(proc)
        shutil.rmtree(instance, ignore_errors=True)
        version = run.database_version(url)
        if args.db == "postgres" and not args.keep:
            drop_pg_database()
            log(f"dropped {PG_DB}")
    result = {"command": "python bench/board.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": run.machine(), "database": version,
              "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)], "facts": facts,
              "runs": args.runs, "per_url": args.per_url, "connections": args.connections, "urls": urls, **more}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"board-{args.db}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    if args.readme:
        update_readme(f"board-{args.db}", text)
    print()
    print(text)


if __name__ == "__main__":
    main()
