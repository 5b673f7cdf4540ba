"""Bulk benchmark data: companies, contacts, officers and teams, reference lists, an audit trail, investment
projects with their stage moves and funds in place, and meetings with their participants and follow-up tasks.

Rows go in through SQLAlchemy Core `insert()` executemany batches on SQLite and COPY on PostgreSQL (never the ORM one
row at a time). The texts the
app derives (`name_norm`, `search_text`) come from the app's own code path: each company is built as a transient
`Company` (its `@validates("name")` fills `name_norm`) and passed with its transient `Contact`s to
`crm.companies.services.refresh_search_text`, so search matches exactly what the app would have stored.

Projects (issue 3) are spread over the stages like a real pipeline (many leads, fewer signed, a tail of on-hold and
lost), 3 % confidential, 10 % key projects, owned by officers of all three teams (and a few by the manager). Each has
the stage path it went through (a creation move, then one move per later stage, at increasing past times), the
`reached_<stage>` dates taken from those moves, `stage_changed_at` = its last move, `last_activity_at` at or after
it, and one funds-in-place entry (summed on the project) once signed.

Meetings and tasks (issue 4; `--meetings`, 500,000 together on SQLite and 5,000,000 on PostgreSQL by default, 40 %
meetings): one user per 10,000 of them (50 on SQLite, 500 on PostgreSQL; the officers added for that are in teams of
10 and hold no companies, so the book and the pipeline stay those of issues 2 and 3, drawn from the same seed).
Streamed day by day over three years back and two months ahead, oldest first: each officer's meetings on working days
(08:30–17:00 zone time) with companies of their own, their team's and the public pool (a few met again and again),
half of them on one of the company's projects, with 0–2 of its contacts and sometimes a colleague; 1.2 follow-ups per
past meeting on average, due 0–30 days after, a quarter at a time of day, and tasks logged on their own. A task due
over a month ago is still open 1–4 % of the time, a week to a month 8 %, this week 35 %: a few hundred open per
officer. The bench officer (team 1) has a meeting every working day and about 2,000 tasks, about 150 of them open, most
overdue; one busy company (his, with the most projects) has about 5,000 meetings and tasks from his team and others.
Meetings and tasks make the companies' and projects' last activity (without touching `updated_at`). On PostgreSQL
the four tables' indexes and foreign keys are dropped for the load and built again after it (PostgreSQL's own advice
for bulk loads), from the catalog's definitions, so the schema stays the migrations' own.

Usage (normally called by bench/run.py after `flask db upgrade`):
    python bench/generate.py --url sqlite:////abs/path/bench.sqlite --companies 100000 --projects 50000 \
        --meetings 500000
"""
import argparse
import random
import sys
import time
from bisect import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam, create_engine, func, insert, or_, select, text, update  # noqa: E402

from crm import models  # noqa: E402,F401  (every model registered)
from crm.audit.models import AuditEvent  # noqa: E402
from crm.auth.models import Role, Team, User  # noqa: E402
from crm.auth.services import hash_password  # noqa: E402
from crm.companies.models import Company, Contact  # noqa: E402
from crm.companies.services import refresh_search_text  # noqa: E402
from crm.demo import CHAIN_TAGS, CLUSTERS, DEPARTMENTS, GBA, OTHER_CITIES, PARKS, SOURCES, make_uscc  # noqa: E402
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task  # noqa: E402
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
            "id": pid, "company_id": company["id"], "origin_city": company["origin_city"], "name": name,
            "cluster": cluster,
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


# --- meetings and tasks (issue 4) --------------------------------------------------------------------------------

#: how many meetings and tasks together, by database (issue 4's "Speed" section): 40 % meetings, 60 % tasks
DEFAULT_MEETINGS = {"sqlite": 500_000, "postgresql": 5_000_000}
MEETING_SHARE = 0.4
#: one user per this many meetings and tasks (50 users on SQLite, 500 on PostgreSQL); the officers added for that
#: form teams of EXTRA_TEAM_SIZE and hold no companies (the book's owners stay those of issues 2 and 3)
ITEMS_PER_USER = 10_000
EXTRA_TEAM_SIZE = 10
#: the one busy company (held by the bench officer) has about this many meetings and tasks
BUSY_ITEMS = 5_000
#: the bench officer's tasks over the three years (about 150 of them open); he has a meeting every working day
BENCH_TASKS = 2_000
PAST_DAYS, AHEAD_DAYS = 3 * 365, 60
#: rows of meetings generated before they (and their participants and tasks) are written
CHUNK = 20_000
_MEETING_TYPES = {"visit": 35, "negotiation": 20, "inbound_visit": 10, "call": 27, "event": 8}
#: follow-up tasks logged with a past meeting (mean 1.2)
_FOLLOW_UPS = ((0, 1, 2, 3), (25, 40, 25, 10))
#: days from logging a task to its due day
_DUE_LAGS = ((0, 1, 2, 3, 5, 7, 10, 14, 21, 30), (4, 12, 14, 12, 14, 16, 8, 10, 5, 5))
_EVENT_CITIES = ("深圳", "上海", "厦门", "东莞", "广州", "南昌")
_VENUES = ("经开区管委会三楼会议室", "经开区招商服务中心", "敦厚园区标准厂房", "凤凰园区展示中心", "吉安市行政中心")
_OUTCOMES = ("企业有意向，待董事会审议", "对方要求提供用地红线图和报价", "初步同意来区考察", "暂无扩产计划，保持联系",
             "基本达成投资意向，准备签约材料", "企业关注人才公寓和子女入学", "对方希望厂房代建、先租后售",
             "对电价和物流成本有顾虑", "已提交项目可研报告", "企业将于下月召开董事会讨论选址")
_NEXT_STEPS = ("寄送政策汇编和园区介绍", "两周内安排来访考察", "协调自然资源局出具用地意见", "准备投资协议初稿",
               "下月电话回访", "报局领导审定优惠政策", "对接供电公司核实用电容量", "邀请参加深圳产业招商推介会")
_TASK_TITLES = ("寄送园区政策汇编给{person}", "跟进{short}投资意向书", "安排{short}来访考察行程",
                "协调自然资源局确认{short}用地指标", "准备{short}项目洽谈材料", "电话回访{person}",
                "提交{short}项目评审材料", "起草{short}投资协议", "落实{short}人才公寓需求", "对接{short}用电报装")
_OWN_TASKS = ("整理本周招商工作周报", "准备月度招商例会汇报", "更新重点项目台账", "报送季度招商数据",
              "准备深圳推介会参会企业名单")
_KINDS = list(_MEETING_TYPES)
_KIND_CUM = [x / sum(_MEETING_TYPES.values()) for x in accumulate(_MEETING_TYPES.values())]
_FOLLOW_UP_COUNTS = _FOLLOW_UPS[0]
_FOLLOW_UP_CUM = [x / sum(_FOLLOW_UPS[1]) for x in accumulate(_FOLLOW_UPS[1])]
_DUE_LAG_DAYS = [timedelta(days=d) for d in _DUE_LAGS[0]]
_DUE_LAG_CUM = [x / sum(_DUE_LAGS[1]) for x in accumulate(_DUE_LAGS[1])]
#: meetings start 08:30–17:00 and timed tasks are due 09:00–17:30 (zone time), on the quarter or half hour
_START_SLOTS = [timedelta(minutes=m) for m in range(8 * 60 + 30, 17 * 60 + 1, 15)]
_DUE_SLOTS = [timedelta(minutes=m) for m in range(9 * 60, 18 * 60, 30)]
_CALL_LENGTHS = [timedelta(minutes=m) for m in (15, 20, 30, 45)]
_LENGTHS = [timedelta(minutes=m) for m in (45, 60, 90, 120, 150, 180)]
_EVENING, _TWO_DAYS, _MINUTE = timedelta(hours=18), timedelta(days=2), timedelta(minutes=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_TASK_NOTES = ("企业联系人周三后有空", "需附最新版优惠政策", "局领导要求本周内反馈", "材料已发邮件，待确认")


@dataclass
class _Officer:
    id: int
    team_id: int | None
    #: meetings per working day (weekends count 5 %), and tasks logged on their own per past working day
    meet_rate: float = 0.0
    task_rate: float = 0.0
    #: the chance that a task due more than 30 days ago is still open
    p_old: float = 0.02
    portfolio: list = field(default_factory=list)
    #: the bench officer: a meeting every working day
    daily: bool = False


def _extra_people(rng: random.Random, tables: dict, total_users: int, now: datetime) -> list[tuple[int, int]]:
    """Officers added (in teams of EXTRA_TEAM_SIZE) so the book has `total_users` users; (id, team id) each."""
    users, teams = tables["user"], tables["team"]
    password_hash = users[0]["password_hash"]
    added = []
    uid, tid = max(u["id"] for u in users), max(t["id"] for t in teams)
    while len(users) < total_users:
        tid += 1
        teams.append({"id": tid, "name": f"产业链招商第{tid - 3}组", "version": 1, "created_at": now,
                      "updated_at": now})
        for m in range(min(EXTRA_TEAM_SIZE, total_users - len(users))):
            uid += 1
            users.append({"id": uid, "email": f"officer.t{tid}.{m}@bench.local", "name": _person(rng),
                          "password_hash": password_hash, "role": Role.OFFICER.value, "team_id": tid,
                          "department": None, "is_active_user": True, "locale": "zh_Hans_CN",
                          "password_changed_at": now, "version": 1, "created_at": now, "updated_at": now})
            added.append((uid, tid))
    return added


class _MeetingBook:
    """Streams meetings, their participants and tasks day by day, oldest first (ids in the order they were logged),
    in chunks of about CHUNK meetings; keeps per-company and per-project last activity for the final update."""

    def __init__(self, rng: random.Random, total: int, tables: dict, bench_id: int, now: datetime):
        from config import Config

        self.rng, self.now, self.tz = rng, now, ZoneInfo(Config.CRM_TIMEZONE)
        self.today = now.astimezone(self.tz).date()
        self.offset = now.astimezone(self.tz).utcoffset()  # the zone has no summer time (Asia/Shanghai)
        self.midnights: dict = {}
        self.days = []  # (day, weight for meetings, weight for tasks logged on their own)
        for offset in range(-PAST_DAYS, AHEAD_DAYS + 1):
            day = self.today + timedelta(days=offset)
            working = day.weekday() < 5
            self.days.append((day, 1.0 if working else 0.05, 1.0 if working else 0.1))
        meet_weight = sum(w for _, w, _ in self.days)
        past_meet_weight = sum(w for d, w, _ in self.days if d <= self.today)
        task_weight = sum(w for d, _, w in self.days if d <= self.today)
        follow_up_mean = sum(k * w for k, w in zip(*_FOLLOW_UPS, strict=True)) / sum(_FOLLOW_UPS[1])
        self.ids = {"meeting": 0, "task": 0}
        self.counts = {"meeting": 0, "task": 0, "meeting_user": 0, "meeting_contact": 0}
        self.last_activity: dict[str, dict[int, datetime]] = {"company": {}, "project": {}}
        self.bench_id = bench_id
        book_officers = [u["id"] for u in tables["user"] if u["role"] == Role.OFFICER.value]
        manager = next(u["id"] for u in tables["user"] if u["role"] == Role.MANAGER.value)

        live = [c for c in tables["company"] if c["deleted_at"] is None]
        self.company = {c["id"]: (c["short_name"] or c["name"][:6], _CITY_NAMES[c["origin_city"]], c["address"],
                                  c["cluster"]) for c in live}
        self.contacts: dict[int, list] = {}
        for row in tables["contact"]:
            self.contacts.setdefault(row["company_id"], []).append((row["id"], row["name"], row["title"]))
        self.projects: dict[int, list[int]] = {}
        for row in tables["project"]:
            self.projects.setdefault(row["company_id"], []).append(row["id"])
        held: dict[int | None, list[int]] = {}
        for c in live:
            held.setdefault(c["owner_id"], []).append(c["id"])
        mine = held.get(self.bench_id, [])
        # the busy company: the bench officer's company with the most projects
        self.busy = max(mine, key=lambda cid: (len(self.projects.get(cid, [])), -cid))
        public = [cid for cid in held.get(None, []) if cid != self.busy]
        everything = [cid for cid in self.company if cid != self.busy]

        # who works: the book's officers and the manager, and the officers added for the size
        total_users = max(len(tables["user"]), round(total / ITEMS_PER_USER))
        extra = _extra_people(rng, tables, total_users, now)
        team_of = {u["id"]: u["team_id"] for u in tables["user"]}
        self.team_members: dict[int, list[int]] = {}
        for uid, tid in team_of.items():
            if tid is not None:
                self.team_members.setdefault(tid, []).append(uid)
        self.officers = []
        for uid in [*book_officers, manager, *(u for u, _ in extra)]:
            own = [cid for cid in held.get(uid, []) if cid != self.busy]
            team = [cid for m in self.team_members.get(team_of[uid], []) if m != uid for cid in held.get(m, [])]
            portfolio = (rng.sample(own, min(220, len(own))) + rng.sample(public, min(60, len(public)))
                         + rng.sample(team, min(20, len(team))))
            if len(portfolio) < 150:
                portfolio += rng.sample(public, min(200, len(public))) + rng.sample(everything, 100)
            portfolio += portfolio[:15] * 4  # a few companies are met again and again
            self.officers.append(_Officer(uid, team_of[uid], portfolio=portfolio, p_old=rng.uniform(0.01, 0.04)))
        by_id = {o.id: o for o in self.officers}
        bench = by_id[self.bench_id]
        bench.daily, bench.p_old = True, 0.07
        # the busy company: ~40 % meetings, owned by the bench officer's team (65 %, he himself 10 %) and others
        meetings = round(total * MEETING_SHARE)
        busy_items = min(BUSY_ITEMS, total // 20)
        busy_meetings = busy_items * MEETING_SHARE
        self.busy_meet_rate = busy_meetings / meet_weight
        busy_follow_ups = busy_meetings * past_meet_weight / meet_weight * follow_up_mean
        self.busy_task_rate = max(0.0, busy_items - busy_meetings - busy_follow_ups) / task_weight
        team1 = [m for m in self.team_members[bench.team_id] if m != self.bench_id]
        others = [o.id for o in self.officers if o.team_id != bench.team_id]
        self.busy_owners = ([self.bench_id] * 10 + team1 * (65 // len(team1)) + others[:25])
        # everyone else shares what is left, some busier than others (the manager logs little)
        rest = [o for o in self.officers if not o.daily]
        weights = {o.id: 0.15 if o.id == manager else rng.uniform(0.6, 1.4) for o in rest}
        bench_meetings = sum(1.15 for d, w, _ in self.days if w == 1.0)
        left_meetings = max(0.0, meetings - busy_meetings - bench_meetings)
        left_tasks = max(0.0, total - meetings - (busy_items - busy_meetings) - BENCH_TASKS)
        for o in rest:
            share = weights[o.id] / sum(weights.values())
            o.meet_rate = left_meetings * share / meet_weight
            follow_ups = o.meet_rate * past_meet_weight * follow_up_mean
            o.task_rate = max(0.0, left_tasks * share - follow_ups) / task_weight
        # the bench officer: a meeting every working day (15 % a second one); the tasks he logs on his own fill up
        # to BENCH_TASKS with his follow-ups, those colleagues hand him (15 % go to someone in the team) and his
        # share of the busy company's
        handed = 0.15 / (len(team1) + 1)
        bench_past = sum(1.15 for d, w, _ in self.days if w == 1.0 and d <= self.today)
        colleagues = sum(by_id[m].meet_rate for m in team1) * past_meet_weight * follow_up_mean
        busy_share = 10 / len(self.busy_owners)
        expected = ((bench_past * follow_up_mean + busy_follow_ups * busy_share) * (0.85 + handed)
                    + (colleagues + busy_follow_ups * (1 - busy_share)) * handed
                    + self.busy_task_rate * task_weight * busy_share)
        bench.task_rate = max(0.0, BENCH_TASKS - expected) / task_weight
        self.by_id = by_id
        self.users = len(tables["user"])

    # -- helpers (random.random() and precomputed tables: millions of rows, so a few µs a call count) --

    def midnight(self, day) -> datetime:
        at = self.midnights.get(day)
        if at is None:
            at = self.midnights[day] = datetime.combine(day, datetime.min.time(), self.tz).astimezone(UTC)
        return at

    def _count(self, rate: float) -> int:
        expected = rate * (0.5 + self.rng.random())
        return int(expected) + (self.rng.random() < expected - int(expected))

    def _colleague(self, owner: _Officer) -> int:
        team = self.team_members.get(owner.team_id) or [owner.id]
        return team[int(self.rng.random() * len(team))]

    # -- rows --

    def _meeting(self, out: dict, owner: _Officer, company_id: int, day) -> None:
        rand, now = self.rng.random, self.now
        self.ids["meeting"] += 1
        mid = self.ids["meeting"]
        kind = _KINDS[bisect(_KIND_CUM, rand())]
        start = self.midnight(day) + _START_SLOTS[int(rand() * len(_START_SLOTS))]
        lengths = _CALL_LENGTHS if kind == "call" else _LENGTHS
        end = start + lengths[int(rand() * len(lengths))] if rand() < 0.85 else None
        past = start <= now
        created = start + timedelta(minutes=20 + int(rand() * 340)) if past else \
            start - timedelta(days=1 + rand() * 19)
        if created > now:
            created = now
        short, city, address, cluster = self.company[company_id]
        contacts = self.contacts.get(company_id, ())
        roll = rand()
        met = () if not contacts or roll < 0.15 else \
            (contacts[int(rand() * len(contacts))],) if roll < 0.75 or len(contacts) == 1 else \
            tuple(self.rng.sample(contacts, 2))
        person, title = (met[0][1], met[0][2]) if met else ("对方负责人", "")
        projects = self.projects.get(company_id)
        project_id = projects[int(rand() * len(projects))] if projects and rand() < 0.5 else None
        products = _PRODUCTS[cluster]
        product = products[int(rand() * len(products))]
        if kind == "call":
            city, place = "", "电话"
            text = f"电话联系{short}{person}{title}，确认董事会审议{product}项目的时间和需要补充的材料。"
        elif kind == "visit":
            place = address
            text = (f"赴{city}走访{short}，与{person}{title}座谈，了解企业{product}产能布局和扩产计划，"
                    "介绍经开区用地和人才政策。")
        elif kind == "negotiation":
            city, place = ("吉安", _VENUES[int(rand() * len(_VENUES))]) if rand() < 0.5 else (city, address)
            text = f"与{short}{person}{title}就{product}项目的用地价格、厂房代建和设备补贴进行洽谈。"
        elif kind == "inbound_visit":
            city, place = "吉安", _VENUES[int(rand() * len(_VENUES))]
            text = f"{short}{person}{title}一行来区考察，参观标准厂房和配套设施，座谈{product}项目落地条件。"
        else:
            city = _EVENT_CITIES[int(rand() * len(_EVENT_CITIES))]
            place = f"{city}产业招商推介会"
            text = f"在{place}上与{short}{person}{title}接洽，对方对经开区{product}产业链配套表示兴趣。"
        if not past:
            text = "拟" + text
        deleted = created if rand() < 0.003 else None
        out["meeting"].append({
            "id": mid, "type": kind, "start_at": start, "end_at": end, "city": city, "place": place,
            "company_id": company_id, "project_id": project_id, "owner_id": owner.id, "summary": text,
            "outcome": _OUTCOMES[int(rand() * len(_OUTCOMES))] if past and rand() < 0.9 else "",
            "next_step": _NEXT_STEPS[int(rand() * len(_NEXT_STEPS))] if past and rand() < 0.8 else "",
            "version": 1, "created_at": created, "updated_at": created, "deleted_at": deleted,
            "deleted_by_id": owner.id if deleted else None})
        for contact in met:
            out["meeting_contact"].append({"meeting_id": mid, "contact_id": contact[0]})
        roll = rand()
        if roll < 0.18:
            colleagues = {self._colleague(owner) for _ in range(1 if roll < 0.15 else 2)} - {owner.id}
            out["meeting_user"] += [{"meeting_id": mid, "user_id": uid} for uid in sorted(colleagues)]
        if past and deleted is None:
            latest = self.last_activity["company"]
            if start > latest.get(company_id, _EPOCH):
                latest[company_id] = start
            latest = self.last_activity["project"]
            if project_id is not None and start > latest.get(project_id, _EPOCH):
                latest[project_id] = start
            for _ in range(_FOLLOW_UP_COUNTS[bisect(_FOLLOW_UP_CUM, rand())]):
                to = owner if rand() < 0.85 else self.by_id.get(self._colleague(owner), owner)
                title_text = _TASK_TITLES[int(rand() * len(_TASK_TITLES))].format(person=person, short=short)
                self._task(out, to, company_id, project_id, mid, created, owner.id, title_text)

    def _task(self, out: dict, owner: _Officer, company_id, project_id, meeting_id, created: datetime,
              created_by: int, title: str) -> None:
        rand, now = self.rng.random, self.now
        self.ids["task"] += 1
        due_on = (created + self.offset).date() + _DUE_LAG_DAYS[bisect(_DUE_LAG_CUM, rand())]
        due_at = self.midnight(due_on) + _DUE_SLOTS[int(rand() * len(_DUE_SLOTS))] if rand() < 0.25 else None
        done_at = None
        if due_on > self.today:
            if rand() < 0.1:  # done early
                done_at = created + (now - created) * rand()
        else:
            age = (self.today - due_on).days
            if rand() >= (0.35 if age <= 7 else 0.08 if age <= 30 else owner.p_old):
                due = due_at or self.midnight(due_on) + _EVENING
                done_at = created + (due + _TWO_DAYS - created) * rand() ** 0.5
                if done_at > now:
                    done_at = now - _MINUTE
                if done_at < created:
                    done_at = created
        updated = done_at or created
        deleted = updated if rand() < 0.004 else None
        out["task"].append({
            "id": self.ids["task"], "title": title,
            "notes": _TASK_NOTES[int(rand() * len(_TASK_NOTES))] if rand() < 0.3 else "",
            "due_on": due_on, "due_at": due_at, "owner_id": owner.id, "company_id": company_id,
            "project_id": project_id, "meeting_id": meeting_id, "done_at": done_at,
            "done_by_id": (owner.id if rand() < 0.95 else created_by) if done_at else None,
            "created_by_id": created_by, "version": 2 if done_at else 1, "created_at": created,
            "updated_at": updated, "deleted_at": deleted, "deleted_by_id": owner.id if deleted else None})

    def _own_task(self, out: dict, owner: _Officer, company_id: int | None, day) -> None:
        rand = self.rng.random
        created = min(self.midnight(day) + timedelta(minutes=480 + int(rand() * 780)), self.now)
        if company_id is None:
            title, project_id = _OWN_TASKS[int(rand() * len(_OWN_TASKS))], None
        else:
            short = self.company[company_id][0]
            contacts = self.contacts.get(company_id) or [(None, "对方负责人", "")]
            person = contacts[int(rand() * len(contacts))][1]
            title = _TASK_TITLES[int(rand() * len(_TASK_TITLES))].format(person=person, short=short)
            projects = self.projects.get(company_id)
            project_id = projects[int(rand() * len(projects))] if projects and rand() < 0.3 else None
        self._task(out, owner, company_id, project_id, None, created, owner.id, title)

    def chunks(self):
        rng = self.rng
        out = {"meeting": [], "meeting_user": [], "meeting_contact": [], "task": []}
        for day, meet_weight, task_weight in self.days:
            past = day <= self.today
            for officer in self.officers:
                if officer.daily:
                    n = (1 + (rng.random() < 0.15)) if meet_weight == 1.0 else 0
                else:
                    n = self._count(officer.meet_rate * meet_weight)
                for _ in range(n):
                    self._meeting(out, officer, officer.portfolio[int(rng.random() * len(officer.portfolio))], day)
                if past:
                    for _ in range(self._count(officer.task_rate * task_weight)):
                        company = officer.portfolio[int(rng.random() * len(officer.portfolio))] \
                            if rng.random() < 0.85 else None
                        self._own_task(out, officer, company, day)
            for _ in range(self._count(self.busy_meet_rate * meet_weight)):
                self._meeting(out, self.by_id[rng.choice(self.busy_owners)], self.busy, day)
            if past:
                for _ in range(self._count(self.busy_task_rate * task_weight)):
                    self._own_task(out, self.by_id[rng.choice(self.busy_owners)], self.busy, day)
            if len(out["meeting"]) >= CHUNK or day == self.days[-1][0]:
                for name, rows in out.items():
                    self.counts[name] += len(rows)
                yield out
                out = {"meeting": [], "meeting_user": [], "meeting_contact": [], "task": []}


#: PostgreSQL type names for COPY, by the column's SQL type (psycopg then skips guessing each value's type)
_PG_TYPES = {"INTEGER": "int4", "DATE": "date", "TIMESTAMP WITH TIME ZONE": "timestamptz", "TEXT": "text",
             "VARCHAR": "text", "BOOLEAN": "bool", "NUMERIC": "numeric", "JSON": "json"}


def _copy(conn, table, rows: list[dict]) -> None:
    """PostgreSQL: COPY the rows in, several times faster than INSERT batches. Values go in as the Core insert
    would store them: a JSON column's None is JSON null (SQLAlchemy's default), not SQL NULL."""
    if not rows:
        return
    from psycopg.types.json import Json

    columns = list(rows[0])
    types = [_PG_TYPES[str(table.c[c].type.compile(dialect=conn.dialect)).split("(")[0]] for c in columns]
    json_null = [i for i, c in enumerate(columns) if types[i] == "json" and not table.c[c].type.none_as_null]
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            copy.set_types(types)
            for row in rows:
                values = tuple(row.values())
                if json_null and any(values[i] is None for i in json_null):
                    values = tuple(Json(None) if i in json_null and v is None else v for i, v in enumerate(values))
                copy.write_row(values)
    finally:
        cursor.close()


def _without_indexes(conn, tables: list[str]):
    """PostgreSQL's advice for a bulk load ("Populating a Database"): drop the tables' indexes and foreign keys,
    COPY, then build them again (each in one pass; the foreign keys are checked then, over all the rows).
    Returns the statements that put them back, read from the catalog, so they are exactly the migrations' own."""
    names = tuple(tables)
    fks = conn.execute(text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text IN :t").bindparams(bindparam("t", expanding=True)),
        {"t": list(names)}).all()
    indexes = conn.execute(text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename IN :t "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")
        .bindparams(bindparam("t", expanding=True)), {"t": list(names)}).all()
    for table_name, constraint, _ in fks:
        conn.execute(text(f'ALTER TABLE {table_name} DROP CONSTRAINT "{constraint}"'))
    for index, _ in indexes:
        conn.execute(text(f'DROP INDEX "{index}"'))
    return ([definition for _, definition in indexes]
            + [f'ALTER TABLE {t} ADD CONSTRAINT "{c}" {d}' for t, c, d in fks])


def _check_columns(table, row: dict) -> None:
    """The generated rows carry exactly the model's columns (crm/meetings/models.py): fail loudly if they drift."""
    expected = {c.name for c in table.columns}
    if set(row) != expected:
        raise SystemExit(f"bench/generate.py is out of step with the {table.name} model: "
                         f"missing {sorted(expected - set(row))}, unknown {sorted(set(row) - expected)}")


def _write_meetings(conn, book: _MeetingBook, log) -> None:
    tables = {"meeting": Meeting.__table__, "meeting_user": MeetingUser.__table__,
              "meeting_contact": MeetingContact.__table__, "task": Task.__table__}
    postgres = conn.dialect.name == "postgresql"
    write = _copy if postgres else _insert
    restore = _without_indexes(conn, list(tables)) if postgres else []
    checked = set()
    started = time.perf_counter()
    writing = 0.0
    for n, chunk in enumerate(book.chunks(), start=1):
        t0 = time.perf_counter()
        for name, rows in chunk.items():  # meetings first: participants and tasks refer to them
            if rows and name not in checked:
                _check_columns(tables[name], rows[0])
                checked.add(name)
            write(conn, tables[name], rows)
        writing += time.perf_counter() - t0
        if n % 10 == 0:
            log(f"  {book.counts['meeting']:,} meetings and {book.counts['task']:,} tasks written "
                f"({time.perf_counter() - started:.0f} s, {writing:.0f} s of it writing)")
    log(f"  {book.counts['meeting']:,} meetings, {book.counts['task']:,} tasks and their participants written: "
        f"{time.perf_counter() - started:.0f} s, {writing:.0f} s of it writing")
    if restore:
        t0 = time.perf_counter()
        conn.execute(text("SET maintenance_work_mem = '256MB'"))
        for statement in restore:
            conn.execute(text(statement))
        log(f"  indexes and foreign keys of {', '.join(tables)} built again in {time.perf_counter() - t0:.0f} s")
    # the last activity each company (and project) had, as the services note it when a meeting is logged (and as
    # they do, without touching updated_at: the lists' order stays that of issues 2 and 3)
    for model, table in ((Company, "company"), (Project, "project")):
        rows = [{"b_id": key, "b_at": at} for key, at in book.last_activity[table].items()]
        columns = model.__table__.c
        stmt = (update(model.__table__).where(columns.id == bindparam("b_id"))
                .where(or_(columns.last_activity_at.is_(None), columns.last_activity_at < bindparam("b_at")))
                .values(last_activity_at=bindparam("b_at"), updated_at=columns.updated_at))
        for i in range(0, len(rows), BATCH):
            conn.execute(stmt, rows[i:i + BATCH])


def generate(url: str, companies: int, *, projects: int | None = None, meetings: int | None = None,
             seed: int = 20261128, log=print) -> Summary:
    """Fill an empty, migrated database (`projects` defaults by database: 50,000 on SQLite, 200,000 on PostgreSQL;
    `meetings`, the meetings and tasks together: 500,000 on SQLite, 5,000,000 on PostgreSQL; 0 for none)."""
    started = time.perf_counter()
    engine = create_engine(url)
    if projects is None:
        projects = DEFAULT_PROJECTS[engine.dialect.name]
    if meetings is None:
        meetings = DEFAULT_MEETINGS[engine.dialect.name]
    tables, facts = build(companies, seed, projects)
    book = None
    if meetings:
        # its own random stream: the book, the projects and their figures stay those of issues 2 and 3
        book = _MeetingBook(random.Random(seed + 4), meetings, tables, facts["bench_officer_id"],
                            datetime.now(UTC).replace(microsecond=0))
        facts.update(busy_company_id=book.busy, users=book.users)
    log(f"  built {len(tables['company']):,} companies, {len(tables['contact']):,} contacts, "
        f"{len(tables['audit_event']):,} audit events, {len(tables['project']):,} projects, "
        f"{len(tables['stage_move']):,} stage moves in {time.perf_counter() - started:.0f} s")
    order = [("ref_item", RefItem), ("team", Team), ("user", User), ("company", Company), ("contact", Contact),
             ("audit_event", AuditEvent), ("project", Project), ("stage_move", StageMove),
             ("funds_entry", FundsEntry)]
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(Company.__table__)):
            raise SystemExit("The bench database already holds companies; generate into an empty one.")
        write = _copy if engine.dialect.name == "postgresql" else _insert
        for name, model in order:
            write(conn, model.__table__, tables[name])
        if book is not None:
            log(f"  writing about {meetings:,} meetings and tasks ({book.users} users, busy company {book.busy})")
            _write_meetings(conn, book, log)
            order += [("meeting", Meeting), ("task", Task)]
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
                          "funds_entries": len(tables["funds_entry"]),
                          **({f"{k}s": v for k, v in book.counts.items()} if book else {})})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of a migrated, empty database")
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=None,
                        help="projects to generate (default: 50,000 on SQLite, 200,000 on PostgreSQL)")
    parser.add_argument("--meetings", type=int, default=None,
                        help="meetings and tasks together (default: 500,000 on SQLite, 5,000,000 on PostgreSQL; "
                        "0 for none)")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    summary = generate(args.url, args.companies, projects=args.projects, meetings=args.meetings, seed=args.seed)
    print(f"{summary.companies:,} companies, {summary.contacts:,} contacts, {summary.audit_events:,} audit events, "
          f"{summary.extra['projects']:,} projects, {summary.extra['stage_moves']:,} stage moves, "
          f"{summary.extra.get('meetings', 0):,} meetings, {summary.extra.get('tasks', 0):,} tasks, "
          f"{summary.users} users in {summary.seconds:.0f} s")


if __name__ == "__main__":
    main()
