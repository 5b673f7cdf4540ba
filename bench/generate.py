"""Bulk benchmark data: companies, contacts, officers and teams, reference lists, an audit trail, and investment
projects with their stage moves and funds in place.

Rows go in through SQLAlchemy Core `insert()` executemany batches (never the ORM one row at a time). The texts the
app derives (`name_norm`, `search_text`) come from the app's own code path: each company is built as a transient
`Company` (its `@validates("name")` fills `name_norm`) and passed with its transient `Contact`s to
`crm.companies.services.refresh_search_text`, so search matches exactly what the app would have stored.

Projects (issue 3) are spread over the stages like a real pipeline (many leads, fewer signed, a tail of on-hold and
lost), 3 % confidential, 10 % key projects, owned by officers of all three teams (and a few by the manager). Each has
the stage path it went through (a creation move, then one move per later stage, at increasing past times), the
`reached_<stage>` dates taken from those moves, `stage_changed_at` = its last move, `last_activity_at` at or after
it, and one funds-in-place entry (summed on the project) once signed.

Usage (normally called by bench/run.py after `flask db upgrade`):
    python bench/generate.py --url sqlite:////abs/path/bench.sqlite --companies 100000 --projects 50000
"""
import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from crm import models  # noqa: E402,F401  (every model registered)
from crm.audit.models import AuditEvent  # noqa: E402
from crm.auth.models import Role, Team, User  # noqa: E402
from crm.auth.services import hash_password  # noqa: E402
from crm.companies.models import Company, Contact  # noqa: E402
from crm.companies.services import refresh_search_text  # noqa: E402
from crm.demo import CHAIN_TAGS, CLUSTERS, DEPARTMENTS, GBA, OTHER_CITIES, PARKS, SOURCES, make_uscc  # noqa: E402
from crm.projects.models import REACHED, FundsEntry, Project, StageMove  # noqa: E402
from crm.projects.stages import SIGNED_OR_LATER  # noqa: E402
from crm.reference.models import RefItem  # noqa: E402

#: the officer run.py signs in as; his team holds a large share, so ?page=1500 is a real page
BENCH_EMAIL = "bench.officer@bench.local"
BENCH_PASSWORD = "Bench-Officer-Pass-2026"
BATCH = 5000

#: characters Chinese trade names are made of (two or three of them form the brand: 华信, 鑫盛达 ...)
_BRAND_CHARS = ("华信宏达鑫盛长盈天马恒通立德新辉冠宇润瑞能科伦海普金泰中茂安捷兆丰锦锐汇川嘉正邦弘毅富精诚顺聚力晶美格"
                "东阳永昌宝和益维伟佳讯骏鼎凯星源博思晟明世同创欣旺群英豪远航启智腾飞亿隆康丰泽广合众凌云峰景森林")
_TRADES = {
    "electronic_info": ["精密电子", "电子科技", "连接技术", "光电科技", "通讯设备", "电路科技", "声学科技", "智能终端",
                        "电子元件", "半导体", "微电子", "显示技术"],
    "green_food": ["食品", "生物科技", "饮品", "农业发展", "绿色食品", "茶业", "粮油"],
    "new_energy_materials": ["新能源", "新材料", "电池科技", "光伏科技", "磁电科技", "锂业", "复合材料"],
    "smart_manufacturing": ["智能装备", "自动化", "精密机械", "模具", "电机", "机器人", "汽车部件", "装备制造"],
}
_FORMS = (("有限公司", 80), ("股份有限公司", 14), ("集团有限公司", 6))
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许邓冯韩曹曾彭萧蔡潘田董袁于余叶蒋杜苏魏程吕丁沈任姚卢"
             "傅钟欧阳")
_GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志海燕晓东文振秀英"
          "桂兰玉梅")
_TITLES = ["总经理", "董事长", "副总经理", "行政总监", "投资总监", "采购经理", "厂长", "财务总监", "董事会秘书",
           "投资经理"]
_CITY_WEIGHTS = {"shenzhen": 30, "dongguan": 20, "guangzhou": 10, "huizhou": 10, "foshan": 8, "zhuhai": 6,
                 "zhongshan": 6, "jiangmen": 3, "zhaoqing": 2, "hong_kong": 3, "macao": 1, "nanchang": 2,
                 "shanghai": 3, "suzhou": 3, "xiamen": 2, "taiwan": 1, "jian": 4}
_CITY_NAMES = {key: name for key, name, _ in GBA + OTHER_CITIES}
_REGIONS = {"jian": "360821", "shenzhen": "440300", "dongguan": "441900", "guangzhou": "440100",
            "huizhou": "441300", "foshan": "440600", "zhuhai": "440400", "zhongshan": "442000"}

#: teams and how much of the book each holds; the rest (40 %) is in the public pool
TEAM_PLAN = [("招商一局（电子信息）", 5, 0.40), ("招商二局（食品与新材料）", 4, 0.10), ("大企业服务组团", 3, 0.10)]
PUBLIC_SHARE = 0.40
#: default number of projects per database (issue 3's "Speed" section)
DEFAULT_PROJECTS = {"sqlite": 50_000, "postgresql": 200_000}
#: how the pipeline is spread over the stages (%)
STAGE_WEIGHTS = {"lead": 30, "negotiating": 18, "site_visit": 10, "signed": 8, "under_construction": 7,
                 "in_production": 6, "full_capacity": 5, "on_hold": 8, "lost": 8}
#: who owns projects: team 1 (the bench officer's), team 2, team 3, the manager
PROJECT_OWNERS = (0.45, 0.28, 0.22, 0.05)
_MAIN_PATH = ("lead", "negotiating", "site_visit", "signed", "under_construction", "in_production", "full_capacity")
#: days spent in a stage before the next move
_DWELL = {"lead": (5, 60), "negotiating": (10, 90), "site_visit": (5, 40), "signed": (20, 120),
          "under_construction": (120, 480), "in_production": (120, 600)}
#: planned investment by stage, 万元
_PLANNED = {"lead": (5_000, 50_000), "negotiating": (8_000, 80_000), "site_visit": (10_000, 120_000),
            "on_hold": (5_000, 60_000), "lost": (5_000, 80_000)}
_PRODUCTS = {
    "electronic_info": ["精密连接器", "高速通信线缆", "柔性电路板", "高端PCB", "射频模组", "摄像模组", "声学器件",
                        "显示模组", "智能终端", "半导体封测", "光通信器件", "电子元器件"],
    "green_food": ["井冈蜜柚深加工", "饮料灌装", "绿色食品", "保健食品", "预制菜", "茶叶精深加工", "粮油加工"],
    "new_energy_materials": ["锂电池铜箔", "储能电池", "光伏组件", "磁性材料", "锂电池正极材料", "新型建材",
                             "动力电池回收", "复合材料"],
    "smart_manufacturing": ["新能源汽车电机", "工业机器人", "精密模具", "智能变压器", "汽车零部件", "自动化装备",
                            "电动车整车", "数控机床部件"],
}
_LOST_REASONS = ["企业选择落户其他园区", "企业取消扩产计划", "用地指标无法满足", "企业资金紧张，项目终止"]


@dataclass
class Summary:
    companies: int = 0
    contacts: int = 0
    audit_events: int = 0
    users: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _pick(rng: random.Random, weighted: dict[str, int]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def _person(rng: random.Random) -> str:
    surname = "欧阳" if rng.random() < 0.01 else rng.choice(_SURNAMES[:-2])
    return surname + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _company_name(rng: random.Random, cluster: str, city: str) -> tuple[str, str]:
    brand = "".join(rng.choice(_BRAND_CHARS) for _ in range(rng.choice((2, 2, 2, 3))))
    trade = rng.choice(_TRADES[cluster])
    if city in {"hong_kong", "macao"}:
        return f"{brand}{trade}（{_CITY_NAMES[city]}）有限公司", brand + trade[:2]
    form = rng.choices([f for f, _ in _FORMS], weights=[w for _, w in _FORMS])[0]
    place = _CITY_NAMES[city]
    style = rng.random()
    if style < 0.6:
        name = f"{place}市{brand}{trade}{form}"
    elif style < 0.85:
        name = f"{brand}{trade}（{place}）{form}"
    else:
        name = f"{brand}{trade}{form}"
    return name, brand + trade[:2]


def _insert(conn, table, rows: list[dict]) -> None:
    for i in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[i:i + BATCH])


def _reference_rows(now: datetime) -> list[dict]:
    rows, ident = [], 0
    gba = {k for k, _, _ in GBA}
    tags = list(dict.fromkeys(t for ts in CHAIN_TAGS.values() for t in ts))
    lists = [("cluster", CLUSTERS), ("park", PARKS), ("city", GBA + OTHER_CITIES), ("department", DEPARTMENTS),
             ("source", SOURCES), ("chain_tag", [(f"tag{i}", t, "") for i, t in enumerate(tags)])]
    for kind, items in lists:
        for sort, (key, name, name_en) in enumerate(items):
            ident += 1
            extra = {"region": "gba" if key in gba else "other"} if kind == "city" else None
            rows.append({"id": ident, "kind": kind, "key": key, "name": name, "name_en": name_en, "sort": sort,
                         "active": True, "extra": extra, "version": 1, "created_at": now, "updated_at": now})
    return rows


def _people(now: datetime) -> tuple[list[dict], list[dict], dict]:
    """Teams, an admin, a manager, officers (the bench officer first in team 1) and a liaison."""
    officer_hash = hash_password(BENCH_PASSWORD)  # one hash for every bench user: hashing is slow on purpose
    teams, users = [], []
    plan = {"teams": [], "officer_ids": []}
    uid = 0

    def user(email, name, role, team_id=None, department=None):
        nonlocal uid
        uid += 1
        users.append({"id": uid, "email": email, "name": name, "password_hash": officer_hash, "role": role,
                      "team_id": team_id, "department": department, "is_active_user": True, "locale": "zh_Hans_CN",
                      "password_changed_at": now, "version": 1, "created_at": now, "updated_at": now})
        return uid

    user("admin@bench.local", "系统管理员", Role.ADMIN.value)
    user("manager@bench.local", "刘局长", Role.MANAGER.value)
    rng = random.Random(7)
    for t, (team_name, size, share) in enumerate(TEAM_PLAN, start=1):
        teams.append({"id": t, "name": team_name, "version": 1, "created_at": now, "updated_at": now})
        members = []
        for m in range(size):
            email = BENCH_EMAIL if (t, m) == (1, 0) else f"officer{t}{m}@bench.local"
            members.append(user(email, _person(rng), Role.OFFICER.value, team_id=t))
        plan["teams"].append((members, share))
        plan["officer_ids"] += members
    user("liaison@bench.local", "赵联络", Role.LIAISON.value, department="natural_resources")
    plan["bench_officer_id"] = plan["teams"][0][0][0]
    return teams, users, plan


def _owner(rng: random.Random, plan: dict) -> int | None:
    roll = rng.random()
    if roll < PUBLIC_SHARE:
        return None
    roll -= PUBLIC_SHARE
    for members, share in plan["teams"]:
        if roll < share:
            return rng.choice(members)
        roll -= share
    return rng.choice(plan["officer_ids"])


def build(companies: int, seed: int = 20261128, projects: int = 0) -> tuple[dict[str, list[dict]], dict]:
    """Every row to insert, per table, and facts run.py needs (the bench officer's id)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    teams, users, plan = _people(now)
    company_rows, contact_rows, audit_rows = [], [], []
    names, usccs = set(), set()
    contact_id = audit_id = 0
    clusters = {c[0]: w for c, w in zip(CLUSTERS, (50, 15, 20, 15), strict=True)}
    sources = [s[0] for s in SOURCES]

    def audit(at, actor, action, otype, oid, label, changes):
        nonlocal audit_id
        audit_id += 1
        audit_rows.append({"id": audit_id, "at": at, "actor_id": actor, "action": action, "object_type": otype,
                           "object_id": oid, "changes": changes, "ip": "10.0.0.8", "label": label[:200]})

    for cid in range(1, companies + 1):
        cluster = _pick(rng, clusters)
        city = _pick(rng, _CITY_WEIGHTS)
        while True:
            name, short = _company_name(rng, cluster, city)
            if name not in names:
                names.add(name)
                break
        uscc = None
        if rng.random() < 0.85:
            while uscc is None or uscc in usccs:
                uscc = make_uscc(rng, _REGIONS.get(city, "440300"))
            usccs.add(uscc)
        owner = _owner(rng, plan)
        created = now - timedelta(days=rng.uniform(0, 3 * 365))
        updated = created + (now - created) * rng.random() ** 2
        company = Company(name=name, short_name=short, uscc=uscc)  # transient: @validates fills name_norm
        contacts = []
        for _ in range(rng.choices((1, 2, 3), weights=(30, 40, 30))[0]):
            contact_id += 1
            mobile = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
            contact = Contact(name=_person(rng), mobile=mobile)
            contacts.append(contact)
            contact_rows.append({
                "id": contact_id, "company_id": cid, "name": contact.name, "title": rng.choice(_TITLES),
                "mobile": mobile, "email": f"c{contact_id}@example.cn" if rng.random() < 0.5 else "",
                "wechat": f"wx_{rng.randint(100000, 999999)}" if rng.random() < 0.6 else "", "notes": "",
                "version": 1, "created_at": created, "updated_at": created, "deleted_at": None,
                "deleted_by_id": None})
            audit(created, owner, "create", "contact", contact_id, contact.name,
                  {"name": [None, contact.name], "mobile": [None, mobile[:3] + "****" + mobile[-4:]]})
        refresh_search_text(company, contacts)  # the app's own search text
        status = rng.choices(("prospect", "resident", "inactive"), weights=(85, 10, 5))[0]
        deleted = rng.random() < 0.005
        claimed = created + timedelta(days=rng.uniform(0, 30)) if owner else None
        company_rows.append({
            "id": cid, "name": name, "short_name": short, "uscc": uscc, "name_norm": company.name_norm,
            "search_text": company.search_text, "origin_city": city,
            "address": (f"{_CITY_NAMES[city]}{rng.choice('东西南北中')}区{rng.choice(_BRAND_CHARS)}路"
                        f"{rng.randint(1, 999)}号"),
            "cluster": cluster, "chain_tags": rng.sample(CHAIN_TAGS[cluster], k=rng.randint(0, 3)),
            "employees": rng.choice((None, 30, 80, 150, 300, 800, 1500, 5000)),
            "revenue": rng.choice((None, Decimal("800.00"), Decimal("3000.00"), Decimal("12000.00"),
                                   Decimal("50000.00"), Decimal("200000.00"))),
            "listing_status": rng.choices(("none", "preparing", "listed"), weights=(80, 12, 8))[0],
            "hmt_funded": city in {"hong_kong", "macao", "taiwan"} or rng.random() < 0.05,
            "source": rng.choice(sources), "status": status, "owner_id": owner,
            "claimed_at": claimed, "claimed_until": claimed + timedelta(days=90) if claimed else None,
            "last_activity_at": updated, "notes": "", "version": 2, "created_at": created, "updated_at": updated,
            "deleted_at": updated if deleted else None, "deleted_by_id": 2 if deleted else None})
        audit(created, owner, "create", "company", cid, name, {"name": [None, name], "cluster": [None, cluster]})
        audit(updated, owner or 2, "update", "company", cid, name, {"status": ["prospect", status]})
    tables = {"ref_item": _reference_rows(now), "team": teams, "user": users, "company": company_rows,
              "contact": contact_rows, "audit_event": audit_rows}
    tables.update(_projects(rng, projects, company_rows, plan, now))
    return tables, {"bench_officer_id": plan["bench_officer_id"]}


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low // 100, high // 100 + 1) * 100)


def _projects(rng: random.Random, count: int, company_rows: list[dict], plan: dict,
              now: datetime) -> dict[str, list[dict]]:
    """`count` projects on live companies, with their stage paths and (once signed) a funds-in-place entry."""
    from config import Config

    tz = ZoneInfo(Config.CRM_TIMEZONE)  # the zone's time zone, for the reached_<stage> dates
    live = [c for c in company_rows if c["deleted_at"] is None]
    stage_keys, stage_weights = list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values())
    teams = [members for members, _ in plan["teams"]] + [[2]]  # user 2 is the manager
    officers = plan["officer_ids"]
    clusters = [c[0] for c in CLUSTERS]
    sources = [s[0] for s in SOURCES]
    project_rows, move_rows, funds_rows = [], [], []
    move_id = 0
    for pid in range(1, count + 1):
        company = rng.choice(live)
        cluster = company["cluster"] if rng.random() < 0.9 else rng.choice(clusters)
        stage = rng.choices(stage_keys, weights=stage_weights)[0]
        owner = rng.choice(rng.choices(teams, weights=PROJECT_OWNERS)[0])
        first_contact = owner if rng.random() < 0.75 else rng.choice(officers)
        if stage in _MAIN_PATH:
            path = list(_MAIN_PATH[:_MAIN_PATH.index(stage) + 1])
            if stage in SIGNED_OR_LATER and rng.random() < 0.2:
                path = ["lead", *path[3:]]  # signed on the spot at an event
        else:
            path = ["lead", "negotiating", stage][rng.choice((0, 1)):]
        # the last move 1 day to 2 years ago (finished projects longer), earlier moves before it
        since = rng.uniform(1, 730 if stage not in ("in_production", "full_capacity") else 1100) * rng.random()
        since = max(since, 1)
        ages = [since]
        for previous in reversed(path[:-1]):
            ages.insert(0, ages[0] + rng.uniform(*_DWELL.get(previous, (10, 90))))
        times = [now - timedelta(days=age) for age in ages]
        activity = times[-1] + (now - times[-1]) * rng.random() ** 3
        planned = _money(rng, *_PLANNED.get(stage, (20_000, 300_000)))
        signed = stage in SIGNED_OR_LATER
        reached = {column: None for column in REACHED.values()}
        for key, at in zip(path, times, strict=True):
            if reached[REACHED[key]] is None:
                reached[REACHED[key]] = at.astimezone(tz).date()
        confidential = rng.random() < 0.03
        funds = Decimal("0")
        if signed:
            share = {"signed": 0.1, "under_construction": 0.4, "in_production": 0.75, "full_capacity": 0.95}[stage]
            funds = (planned * Decimal(str(round(share * rng.uniform(0.6, 1.0), 2)))).quantize(Decimal("100"))
            received = times[path.index("signed")] + (activity - times[path.index("signed")]) * rng.random()
            funds_rows.append({"id": len(funds_rows) + 1, "project_id": pid, "received_on": received.astimezone(tz)
                               .date(), "amount": funds, "note": "首期资金到位", "actor_id": owner,
                               "created_at": received, "updated_at": received})
        fixed = (planned * Decimal(str(round(rng.uniform(0.5, 0.9), 2)))).quantize(Decimal("100"))
        product = rng.choice(_PRODUCTS[cluster])
        name = rng.choice((f"年产{rng.choice((300, 500, 1000, 2000, 5000))}万套{product}项目", f"{product}生产基地项目",
                           f"{product}扩产项目", f"{company['short_name']}{product}项目",
                           f"{product}产业园项目"))
        project_rows.append({
            "id": pid, "company_id": company["id"], "name": name, "cluster": cluster,
            "park": rng.choice(("dunhou", "fenghuang")) if signed or rng.random() < 0.4 else None,
            "planned_investment": planned, "fixed_asset_investment": fixed if signed or rng.random() < 0.3 else None,
            "expected_output": planned * 2 if signed else None, "expected_tax": (planned / 10) if signed else None,
            "jobs": rng.choice((100, 200, 500, 1000)) if signed else None,
            "land_mu": Decimal(rng.choice((30, 50, 100, 200))) if signed else None, "description": "",
            "owner_id": owner, "first_contact_id": first_contact, "source": rng.choice(sources), "event_id": None,
            "key_project": rng.random() < 0.10, "confidential": confidential,
            "code_name": f"{chr(65 + pid % 26)}{pid % 1000:03d}项目" if confidential else "",
            "planned_start": None, "planned_production": None, "stage": stage, "stage_changed_at": times[-1],
            "lost_reason": rng.choice(_LOST_REASONS) if stage == "lost" else "", "funds_in_place": funds,
            "last_activity_at": activity, "notes": "", **reached, "version": len(path), "created_at": times[0],
            "updated_at": activity, "deleted_at": None, "deleted_by_id": None})
        previous = None
        for key, at in zip(path, times, strict=True):
            move_id += 1
            move_rows.append({"id": move_id, "project_id": pid, "from_stage": previous, "to_stage": key, "at": at,
                              "recorded_at": at, "actor_id": first_contact if previous is None else owner,
                              "note": "", "reason": project_rows[-1]["lost_reason"] if key == "lost" else ""})
            previous = key
    return {"project": project_rows, "stage_move": move_rows, "funds_entry": funds_rows}


def generate(url: str, companies: int, *, projects: int | None = None, seed: int = 20261128, log=print) -> Summary:
    """Fill an empty, migrated database (`projects` defaults by database: 50,000 on SQLite, 200,000 on PostgreSQL)."""
    started = time.perf_counter()
    engine = create_engine(url)
    if projects is None:
        projects = DEFAULT_PROJECTS[engine.dialect.name]
    tables, facts = build(companies, seed, projects)
    log(f"  built {len(tables['company']):,} companies, {len(tables['contact']):,} contacts, "
        f"{len(tables['audit_event']):,} audit events, {len(tables['project']):,} projects, "
        f"{len(tables['stage_move']):,} stage moves in {time.perf_counter() - started:.0f} s")
    order = [("ref_item", RefItem), ("team", Team), ("user", User), ("company", Company), ("contact", Contact),
             ("audit_event", AuditEvent), ("project", Project), ("stage_move", StageMove),
             ("funds_entry", FundsEntry)]
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(Company.__table__)):
            raise SystemExit("The bench database already holds companies; generate into an empty one.")
        for name, model in order:
            _insert(conn, model.__table__, tables[name])
        if engine.dialect.name == "postgresql":
            for name, _model in order:  # explicit ids were inserted: move the sequences past them
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                                  f"(SELECT max(id) FROM \"{name}\"))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # PostgreSQL's autovacuum would analyse these tables within a minute anyway; do it now so the plans are the
        # ones production sees. run.py then runs `flask crm optimize-db` (ANALYZE) on either engine.
        if engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return Summary(companies=len(tables["company"]), contacts=len(tables["contact"]),
                   audit_events=len(tables["audit_event"]), users=len(tables["user"]),
                   seconds=time.perf_counter() - started,
                   extra={**facts, "projects": len(tables["project"]), "stage_moves": len(tables["stage_move"]),
                          "funds_entries": len(tables["funds_entry"])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of a migrated, empty database")
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=None,
                        help="projects to generate (default: 50,000 on SQLite, 200,000 on PostgreSQL)")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    summary = generate(args.url, args.companies, projects=args.projects, seed=args.seed)
    print(f"{summary.companies:,} companies, {summary.contacts:,} contacts, {summary.audit_events:,} audit events, "
          f"{summary.extra['projects']:,} projects, {summary.extra['stage_moves']:,} stage moves, "
          f"{summary.users} users in {summary.seconds:.0f} s")


if __name__ == "__main__":
    main()
