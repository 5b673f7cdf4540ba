"""The Ji'an High-tech Zone demo: its parks, clusters, anchors and GBA prospects, and demo users of each role.

Everything here is data for the reference customer (see shared/seed); another zone loads its own lists through the
admin screens. Loading is idempotent: reference items, users and companies are matched by key, e-mail and name.
"""
import random
import secrets
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from stdnum.cn import uscc as stdnum_uscc

from crm.audit import services as audit
from crm.audit.models import AuditEvent
from crm.auth.models import Role, Team, User
from crm.auth.services import hash_password
from crm.companies.models import Company, Contact
from crm.companies.services import refresh_search_text
from crm.core.timeutil import as_aware, today_in_zone, utcnow, zone
from crm.extensions import db
from crm.projects.models import REACHED, FundsEntry, Project, StageMove
from crm.projects.services import stale_days
from crm.projects.stages import SIGNED_OR_LATER, is_backwards
from crm.reference.models import RefItem

CLUSTERS = [
    ("electronic_info", "电子信息", "Electronic information"),  # 首位产业
    ("green_food", "绿色食品", "Green and health food"),
    ("new_energy_materials", "新能源新材料", "New energy and new materials"),
    ("smart_manufacturing", "智能制造", "Intelligent manufacturing"),
]
PARKS = [("dunhou", "敦厚园区", "Dunhou Park"), ("fenghuang", "凤凰园区", "Fenghuang Park")]
GBA = [("shenzhen", "深圳", "Shenzhen"), ("dongguan", "东莞", "Dongguan"), ("guangzhou", "广州", "Guangzhou"),
       ("huizhou", "惠州", "Huizhou"), ("foshan", "佛山", "Foshan"), ("zhuhai", "珠海", "Zhuhai"),
       ("zhongshan", "中山", "Zhongshan"), ("jiangmen", "江门", "Jiangmen"), ("zhaoqing", "肇庆", "Zhaoqing"),
       ("hong_kong", "香港", "Hong Kong"), ("macao", "澳门", "Macao")]
OTHER_CITIES = [("jian", "吉安", "Ji'an"), ("nanchang", "南昌", "Nanchang"), ("shanghai", "上海", "Shanghai"),
                ("suzhou", "苏州", "Suzhou"), ("xiamen", "厦门", "Xiamen"), ("taiwan", "台湾", "Taiwan")]
DEPARTMENTS = [("natural_resources", "自然资源局", "Natural Resources Bureau"),
               ("power_supply", "供电公司", "Power Supply Company"),
               ("housing_construction", "住建局", "Housing and Construction Bureau"),
               ("approval", "行政审批局", "Administrative Approval Bureau"),
               ("human_resources", "人社局", "Human Resources Bureau"),
               ("finance_office", "金融办", "Finance Office"), ("water_gas", "水务燃气", "Water and Gas"),
               ("tax", "税务局", "Tax Bureau"), ("science_tech", "科技局", "Science and Technology Bureau"),
               ("development_reform", "发改委", "Development and Reform Commission"),
               ("market_regulation", "市场监管局", "Market Regulation Bureau"),
               ("transport", "交通运输局", "Transport Bureau")]
SOURCES = [("event", "招商活动", "Promotion event"), ("referral", "朋友/中介推荐", "Referral"),
           ("anchor_referral", "龙头企业推荐", "Anchor referral"), ("consultant", "招商顾问", "Consultant"),
           ("cold", "主动上门", "Cold approach"), ("online", "网络线索", "Online")]
CHAIN_TAGS = {
    "electronic_info": ["连接器", "PCB", "线缆", "SMT贴片", "声学器件", "摄像模组", "精密结构件", "柔性电路板",
                        "射频器件", "显示模组", "电子元器件"],
    "green_food": ["食品加工", "饮料", "啤酒", "井冈蜜柚", "绿色农产品", "保健食品"],
    "new_energy_materials": ["锂电池", "光伏", "磁性材料", "电池材料", "新型建材", "铜箔"],
    "smart_manufacturing": ["变压器", "电机", "工业机器人", "精密模具", "自动化设备", "汽车零部件", "电动车"],
}
TEAMS = ["招商一局（电子信息）", "招商二局（食品与新材料）", "大企业服务组团"]

#: resident anchor and leading companies named in the zone's profile
ANCHORS = [
    ("立讯智造（江西）有限公司", "立讯智造", "electronic_info", ["连接器", "线缆", "声学器件"], 12000),
    ("江西伊戈尔电气科技有限公司", "伊戈尔电气", "smart_manufacturing", ["变压器", "磁性材料"], 2600),
    ("吉安市博硕科技有限公司", "博硕科技", "electronic_info", ["精密结构件"], 1800),
    ("协讯电子（吉安）有限公司", "协讯电子", "electronic_info", ["线缆", "连接器"], 3200),
    ("吉安航盛电子有限公司", "航盛电子", "electronic_info", ["汽车零部件", "显示模组"], 1500),
    ("吉安立讯射频科技有限公司", "立讯射频", "electronic_info", ["射频器件"], 1100),
    ("燕京啤酒（吉安）有限公司", "燕京啤酒", "green_food", ["啤酒", "饮料"], 600),
    ("江西安派车业有限公司", "安派车业", "smart_manufacturing", ["电动车"], 900),
    ("江西联创电缆科技有限公司", "联创电缆", "new_energy_materials", ["线缆", "铜箔"], 700),
]

_BRANDS = ["华信", "宏达", "鑫盛", "长盈", "天马", "恒通", "立德", "新辉", "冠宇", "德润", "瑞能", "科伦", "海普",
           "金泰", "中茂", "安捷", "兆丰", "锦锐", "汇川", "嘉立", "正邦", "弘毅", "富华", "精诚", "捷顺", "聚力",
           "晶科", "美格", "东阳", "永昌", "宝利", "泰和", "华阳", "益新", "顺络", "信维", "欣旺", "宇瞳", "伟达",
           "佳讯", "骏业", "鼎泰", "凯盛", "通达", "星源", "博思", "维晟", "明阳", "盛世", "同创"]
_TRADES = {
    "electronic_info": ["精密电子", "电子科技", "连接技术", "光电", "通讯设备", "电路", "声学科技", "智能终端"],
    "green_food": ["食品", "生物科技", "饮品", "农业发展"],
    "new_energy_materials": ["新能源", "新材料", "电池", "光伏科技", "磁电"],
    "smart_manufacturing": ["智能装备", "自动化", "精密机械", "模具", "电机"],
}
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许"
             "邓冯韩曹曾彭萧蔡潘田董袁于余叶蒋杜苏魏程吕丁沈任姚卢傅钟")
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
          "霞", "平", "刚", "桂英", "志强", "建华", "海燕", "晓东", "文军", "国庆", "丽娟", "振华"]
_TITLES = ["总经理", "董事长", "副总经理", "行政总监", "投资总监", "采购经理", "厂长", "财务总监", "董事会秘书"]

DEMO_USERS = [
    ("admin@demo.zone", "系统管理员", Role.ADMIN, None, None),
    ("manager@demo.zone", "刘局长", Role.MANAGER, 0, None),
    ("officer@demo.zone", "王招商", Role.OFFICER, 0, None),
    ("chen@demo.zone", "陈明", Role.OFFICER, 0, None),
    ("li@demo.zone", "李芳", Role.OFFICER, 1, None),
    ("zhou@demo.zone", "周强", Role.OFFICER, 2, None),
    # department liaisons (职能部门联络员), one for every two or three departments: those most requests go to
    ("liaison@demo.zone", "赵联络（自然资源局）", Role.LIAISON, None, "natural_resources"),
    ("power@demo.zone", "钱联络（供电公司）", Role.LIAISON, None, "power_supply"),
    ("housing@demo.zone", "孙联络（住建局）", Role.LIAISON, None, "housing_construction"),
    ("approval@demo.zone", "吴联络（行政审批局）", Role.LIAISON, None, "approval"),
    ("hr@demo.zone", "郑联络（人社局）", Role.LIAISON, None, "human_resources"),
]


def make_uscc(rng: random.Random, region: str = "440300") -> str:
    """A code with a valid check character: 91 (enterprise) + region + 9-character organisation code."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org = "".join(rng.choice("0123456789") for _ in range(8))
    org += "0123456789X"[(11 - sum(w * int(c) for w, c in zip([3, 7, 9, 10, 5, 8, 4, 2], org, strict=False)) % 11) % 11]
    body = "91" + region + org.replace("X", rng.choice(alphabet[:10]))
    return body + stdnum_uscc.calc_check_digit(body)


def _upsert_ref(kind: str, rows, *, extra=None) -> None:
    existing = {i.key for i in db.session.scalars(select(RefItem).where(RefItem.kind == kind))}
    for sort, (key, name, name_en) in enumerate(rows):
        if key not in existing:
            db.session.add(RefItem(kind=kind, key=key, name=name, name_en=name_en, sort=sort,
                                   extra=extra(key) if extra else None))


def seed_reference() -> None:
    """The zone's reference lists (parks, clusters, cities, departments, sources, chain tags)."""
    _upsert_ref("cluster", CLUSTERS)
    _upsert_ref("park", PARKS)
    gba_keys = {key for key, _, _ in GBA}
    _upsert_ref("city", GBA + OTHER_CITIES, extra=lambda k: {"region": "gba" if k in gba_keys else "other"})
    _upsert_ref("department", DEPARTMENTS)
    _upsert_ref("source", SOURCES)
    tags = [(f"tag{i}", t, "") for i, t in enumerate(dict.fromkeys(t for ts in CHAIN_TAGS.values() for t in ts))]
    _upsert_ref("chain_tag", tags)
    db.session.commit()


def seed_users() -> dict[str, str]:
    """Demo users of each role; returns the passwords of users created now (existing ones are left alone)."""
    teams = []
    for name in TEAMS:
        team = db.session.scalar(select(Team).where(Team.name == name))
        if team is None:
            team = Team(name=name)
            db.session.add(team)
        teams.append(team)
    db.session.flush()
    created = {}
    for email, name, role, team_index, department in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.email == email)):
            continue
        password = secrets.token_urlsafe(9)
        db.session.add(User(email=email, name=name, role=role.value, department=department,
                            team_id=teams[team_index].id if team_index is not None else None,
                            password_hash=hash_password(password)))
        created[email] = password
    db.session.commit()
    return created


def seed_companies(count: int = 300, *, seed: int = 20261128) -> int:
    """The named anchors (resident) and `count` plausible GBA prospects with contacts; returns how many were new."""
    rng = random.Random(seed)
    officers = list(db.session.scalars(select(User).where(User.role == Role.OFFICER.value).order_by(User.id)))
    existing = set(db.session.scalars(select(Company.name)))
    codes = set(db.session.scalars(select(Company.uscc).where(Company.uscc.is_not(None))))
    now = utcnow()
    added = 0

    def add(name, short, cluster, tags, city, status, owner, employees, revenue, hmt=False, listing="none"):
        nonlocal added
        # every company draws its random values whether or not it is new, so a second load draws the same
        # sequence, meets only names it already has and adds nothing
        company = Company(name=name, short_name=short, uscc=make_uscc(rng, "360821" if city == "jian" else
                                                                      rng.choice(["440300", "441900", "440100"])),
                          cluster=cluster, chain_tags=tags, origin_city=city, status=status,
                          employees=employees, revenue=revenue, hmt_funded=hmt, listing_status=listing,
                          source=rng.choice([s[0] for s in SOURCES]), address="", notes="",
                          owner_id=owner.id if owner else None,
                          last_activity_at=now - timedelta(days=rng.randint(0, 60)))
        if owner:
            company.claimed_at = now - timedelta(days=rng.randint(1, 60))
            company.claimed_until = company.claimed_at + timedelta(days=90)
        contacts = []
        for _ in range(rng.randint(1, 3)):
            person = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
            contacts.append(Contact(name=person, title=rng.choice(_TITLES),
                                    mobile="1" + rng.choice("3589") + "".join(rng.choice("0123456789")
                                                                             for _ in range(9)),
                                    wechat=f"wx_{rng.randint(10000, 99999)}"))
        if name in existing or (company.uscc and company.uscc in codes):
            return
        existing.add(name)
        codes.add(company.uscc)
        db.session.add(company)
        db.session.flush()
        for contact in contacts:
            contact.company_id = company.id
        db.session.add_all(contacts)
        refresh_search_text(company, contacts)
        added += 1

    for name, short, cluster, tags, employees in ANCHORS:
        add(name, short, cluster, tags, "jian", "resident", None, employees * 10, None, listing="listed"
            if short in {"立讯智造", "伊戈尔电气"} else "none")
    gba_weights = [30, 20, 10, 10, 8, 6, 6, 3, 2, 3, 2]
    for i in range(count):
        cluster = rng.choices([c[0] for c in CLUSTERS], weights=[50, 15, 20, 15])[0]
        city_key, city_name, _ = rng.choices(GBA, weights=gba_weights)[0]
        prefix = "" if city_key in {"hong_kong", "macao"} else city_name + "市"
        brand = rng.choice(_BRANDS) + rng.choice(["", "达", "兴", "丰", "源"])
        trade = rng.choice(_TRADES[cluster])
        form = "有限公司" if city_key not in {"hong_kong", "macao"} else "(香港)有限公司"
        name = f"{prefix}{brand}{trade}{form}"
        owner = rng.choice(officers + [None, None]) if officers else None
        add(name, brand + trade[:2], cluster, rng.sample(CHAIN_TAGS[cluster], k=rng.randint(1, 3)), city_key,
            rng.choices(["prospect", "resident", "inactive"], weights=[85, 10, 5])[0], owner,
            rng.choice([50, 120, 300, 800, 1500, 5000]), rng.choice([800, 3000, 12000, 50000, 200000]),
            hmt=city_key in {"hong_kong", "macao"} or rng.random() < 0.08,
            listing=rng.choices(["none", "preparing", "listed"], weights=[75, 15, 10])[0])
        if i % 100 == 99:
            db.session.commit()
    db.session.commit()
    return added


def seed_demo(companies: int = 300) -> dict:
    seed_reference()
    created = seed_users()
    added = seed_companies(companies)
    projects = seed_projects()
    meetings, tasks = seed_meetings()
    milestones, requests = seed_support()
    targets = seed_targets()
    return {"users": created, "companies": added, "projects": projects, "meetings": meetings, "tasks": tasks,
            "milestones": milestones, "requests": requests, "targets": targets}


#: this year's signed-investment targets (万元), per cluster and per team (by TEAMS' order): set so that the demo's
#: signings reach part of each, as in a real year's dashboard
CLUSTER_TARGETS = {"electronic_info": 1_500_000, "new_energy_materials": 600_000, "green_food": 300_000,
                   "smart_manufacturing": 800_000}
TEAM_TARGETS = [1_400_000, 800_000, 1_000_000]


def seed_targets() -> int:
    """This year's annual targets, set as the admin sets them (crm.dashboard.targets), so the dashboard's "signed
    against the annual target" table has figures to show. Left alone when the year already has targets (an admin's
    own are kept on a second seeding). Returns how many were set."""
    from crm.dashboard.models import AnnualTarget
    from crm.dashboard.targets import set_targets

    year = today_in_zone().year
    if db.session.scalar(select(AnnualTarget.id).where(AnnualTarget.year == year).limit(1)) is not None:
        return 0
    admin = db.session.scalar(select(User).where(User.email == "admin@demo.zone"))
    teams = {db.session.scalar(select(Team.id).where(Team.name == name)): amount
             for name, amount in zip(TEAMS, TEAM_TARGETS, strict=True)}
    set_targets(year, {key: str(amount) for key, amount in CLUSTER_TARGETS.items()},
                {team_id: str(amount) for team_id, amount in teams.items()}, actor=admin)
    return len(CLUSTER_TARGETS) + len(teams)


# --- projects (招商项目) ---------------------------------------------------------------------------------------------

#: (name, cluster, stage, path variant, key project, code name if confidential, owner e-mail, stale)
#: variants: "" the main path up to the stage; "event" signed on the spot at an event (lead → signed);
#: "back" one step backwards on the way; "late" on hold / lost after the site visit; "revived" back from on hold
PROJECTS = [
    ("年产5000万套精密连接器项目", "electronic_info", "signed", "", True, "", "officer@demo.zone", False),
    ("高速通信线缆生产基地项目", "electronic_info", "under_construction", "", True, "", "chen@demo.zone", False),
    ("5G射频前端模组项目", "electronic_info", "negotiating", "", False, "", "officer@demo.zone", False),
    ("柔性电路板（FPC）扩产项目", "electronic_info", "site_visit", "", False, "", "chen@demo.zone", False),
    ("智能穿戴终端整机制造项目", "electronic_info", "lead", "", False, "", "officer@demo.zone", False),
    ("年产300万平方米高端PCB项目", "electronic_info", "in_production", "", True, "", "chen@demo.zone", False),
    ("摄像模组及光学镜头项目", "electronic_info", "lead", "", False, "", "chen@demo.zone", True),
    ("新型显示模组生产线项目", "electronic_info", "negotiating", "back", False, "", "officer@demo.zone", False),
    ("TWS耳机声学器件项目", "electronic_info", "signed", "back", False, "", "officer@demo.zone", False),
    ("SMT贴片加工中心项目", "electronic_info", "lead", "", False, "", "officer@demo.zone", True),
    ("半导体封装测试项目", "electronic_info", "negotiating", "", True, "A01项目", "chen@demo.zone", False),
    ("电子元器件产业园项目", "electronic_info", "on_hold", "", False, "", "officer@demo.zone", True),
    ("精密结构件及模具项目", "electronic_info", "lost", "late", False, "", "chen@demo.zone", False),
    ("车载显示屏总成项目", "electronic_info", "site_visit", "", True, "", "officer@demo.zone", True),
    ("光通信器件生产基地项目", "electronic_info", "lead", "", False, "", "chen@demo.zone", False),
    ("智能终端整机ODM项目", "electronic_info", "under_construction", "event", True, "", "officer@demo.zone", False),
    ("消费电子连接器二期扩产项目", "electronic_info", "full_capacity", "", False, "", "chen@demo.zone", False),
    ("射频同轴线缆项目", "electronic_info", "lead", "", False, "", "officer@demo.zone", False),
    ("电子信息产业配套园项目", "electronic_info", "lead", "", False, "", "chen@demo.zone", True),
    ("MiniLED背光模组项目", "electronic_info", "negotiating", "revived", False, "", "officer@demo.zone", False),
    ("锂电池铜箔生产基地项目", "new_energy_materials", "under_construction", "", True, "", "li@demo.zone", False),
    ("年产2GWh储能电池项目", "new_energy_materials", "negotiating", "", True, "A02项目", "li@demo.zone", False),
    ("光伏组件智能制造项目", "new_energy_materials", "lost", "", False, "", "li@demo.zone", False),
    ("磁性材料及电感元件项目", "new_energy_materials", "signed", "", False, "", "li@demo.zone", False),
    ("锂电池正极材料项目", "new_energy_materials", "lead", "", False, "", "li@demo.zone", True),
    ("新型环保建材项目", "new_energy_materials", "on_hold", "late", False, "", "li@demo.zone", False),
    ("动力电池回收利用项目", "new_energy_materials", "site_visit", "", False, "", "li@demo.zone", False),
    ("高性能复合材料项目", "new_energy_materials", "lead", "", False, "", "li@demo.zone", False),
    ("井冈蜜柚深加工项目", "green_food", "in_production", "", False, "", "li@demo.zone", False),
    ("绿色食品产业园项目", "green_food", "negotiating", "", True, "", "li@demo.zone", True),
    ("年产10万吨饮料灌装项目", "green_food", "signed", "event", False, "", "li@demo.zone", False),
    ("保健食品生产基地项目", "green_food", "lead", "", False, "", "li@demo.zone", False),
    ("精品茶叶加工项目", "green_food", "lost", "", False, "", "li@demo.zone", False),
    ("预制菜中央厨房项目", "green_food", "site_visit", "", False, "", "li@demo.zone", False),
    ("新能源汽车驱动电机项目", "smart_manufacturing", "under_construction", "", True, "", "zhou@demo.zone", False),
    ("工业机器人整机制造项目", "smart_manufacturing", "negotiating", "", False, "", "zhou@demo.zone", False),
    ("精密模具产业园项目", "smart_manufacturing", "lead", "", False, "", "zhou@demo.zone", False),
    ("智能变压器生产线项目", "smart_manufacturing", "in_production", "", False, "", "zhou@demo.zone", False),
    ("汽车零部件压铸项目", "smart_manufacturing", "site_visit", "", False, "", "zhou@demo.zone", True),
    ("自动化装备制造基地项目", "smart_manufacturing", "lead", "", False, "", "zhou@demo.zone", False),
    ("电动两轮车整车项目", "smart_manufacturing", "full_capacity", "", False, "", "zhou@demo.zone", False),
    ("数控机床核心部件项目", "smart_manufacturing", "on_hold", "", False, "", "zhou@demo.zone", False),
    ("智能仓储物流装备项目", "smart_manufacturing", "lost", "late", False, "", "zhou@demo.zone", False),
]
#: the anchors' resident projects (company short name → project name, stage, planned 万元, key, owner)
ANCHOR_PROJECTS = [
    ("立讯智造", "立讯智造吉安智能制造产业园项目", "full_capacity", 300000, True, "zhou@demo.zone"),
    ("立讯智造", "立讯智造产业园二期项目", "under_construction", 150000, True, "zhou@demo.zone"),
    ("伊戈尔电气", "伊戈尔电气智能变压器生产基地项目", "full_capacity", 80000, True, "zhou@demo.zone"),
    ("博硕科技", "博硕科技精密结构件生产基地项目", "in_production", 50000, False, "officer@demo.zone"),
    ("协讯电子", "协讯电子高速线缆及连接器项目", "full_capacity", 60000, True, "zhou@demo.zone"),
    ("航盛电子", "航盛电子车载电子产品生产基地项目", "full_capacity", 45000, False, "chen@demo.zone"),
    ("立讯射频", "立讯射频5G射频器件项目", "in_production", 40000, True, "zhou@demo.zone"),
    ("燕京啤酒", "燕京啤酒（吉安）年产20万千升啤酒项目", "full_capacity", 30000, False, "li@demo.zone"),
    ("安派车业", "安派车业电动车整车制造项目", "in_production", 25000, False, "zhou@demo.zone"),
    ("联创电缆", "联创电缆特种线缆及铜箔项目", "in_production", 35000, False, "li@demo.zone"),
]
_MAIN_PATH = ("lead", "negotiating", "site_visit", "signed", "under_construction", "in_production", "full_capacity")
#: days a project stays in a stage before its next move
_DWELL = {"lead": (12, 60), "negotiating": (20, 90), "site_visit": (10, 40), "signed": (30, 120),
          "under_construction": (200, 480), "in_production": (240, 700), "on_hold": (60, 180)}
#: days in the current stage so far
_SINCE = {"lead": (2, 40), "negotiating": (3, 60), "site_visit": (2, 30), "signed": (10, 90),
          "under_construction": (30, 300), "in_production": (60, 400), "full_capacity": (100, 700),
          "on_hold": (40, 200), "lost": (20, 300)}
_MOVE_NOTES = {
    "lead": ["招商活动现场对接，企业有意向内地扩产", "龙头企业推荐的配套企业", "网络线索，已电话联系",
             "中介推荐，首次接触"],
    "negotiating": ["已上门拜访，企业提交投资意向书", "与企业高层会谈，初步确定投资规模", "商谈用地与厂房需求"],
    "site_visit": ["企业考察团来园区实地考察", "考察敦厚、凤凰两个园区的标准厂房"],
    "signed": ["签订投资合作协议", "招商推介会现场签约", "签订正式投资协议及补充协议"],
    "under_construction": ["项目开工，厂房主体施工", "取得施工许可证，正式开工"],
    "in_production": ["首条生产线投产", "设备安装调试完毕，试生产"],
    "full_capacity": ["达到设计产能", "全面达产，年产值达预期"],
    "on_hold": ["企业集团投资计划调整，暂缓推进", "等待集团董事会决策"],
}
#: notes of moves back along the path, or out of on hold
_RETURN_NOTES = {"negotiating": ["考察后企业对配套条件有顾虑，重新洽谈", "企业要求调整协议条款，重新商谈",
                                 "集团批准继续推进，恢复洽谈"]}
_LOST_REASONS = ["企业最终选择落户赣州，对方给出更低的厂房租金", "受行业下行影响，企业取消扩产计划",
                 "用地指标无法满足企业需求", "企业资金链紧张，项目终止"]
_FUNDS_NOTES = ["注册资本金到位", "设备采购款", "厂房建设款", "流动资金", "二期设备投资款"]
_PRODUCT_UNITS = {"electronic_info": "电子信息", "green_food": "绿色食品", "new_energy_materials": "新能源新材料",
                  "smart_manufacturing": "智能制造"}


def _stage_path(stage: str, variant: str) -> list[str]:
    """The stages a demo project went through, oldest first, ending at `stage`."""
    if stage in _MAIN_PATH:
        path = list(_MAIN_PATH[:_MAIN_PATH.index(stage) + 1])
        if variant == "event":  # signed on the spot at a promotion event
            path = ["lead", *path[3:]]
        elif variant == "back" and stage == "negotiating":  # the site visit went badly: back to talks
            path = ["lead", "negotiating", "site_visit", "negotiating"]
        elif variant == "back":  # the contract was reopened, then signed again
            path = path[:4] + ["negotiating"] + path[3:]
        elif variant == "revived":  # on hold for a while, then talks resumed
            path = ["lead", "negotiating", "on_hold", *path[1:]]
        return path
    before = ["lead", "negotiating", "site_visit"] if variant == "late" else ["lead", "negotiating"]
    return [*before, stage]


def _moment(rng: random.Random, days_ago: int, now):
    """A time during office hours (zone time) `days_ago` days before today, never in the future."""
    day = today_in_zone() - timedelta(days=days_ago)
    at = datetime.combine(day, time(rng.randint(9, 17), rng.randint(0, 59)), tzinfo=zone()).astimezone(UTC)
    return min(at, now - timedelta(minutes=rng.randint(5, 90)))  # stored in UTC (SQLite keeps no offset)


def _amount(rng: random.Random, low: int, high: int, step: int = 500) -> Decimal:
    return Decimal(rng.randrange(low // step, high // step + 1) * step)


def _plan_project(rng: random.Random, stage: str, variant: str, planned, stale: bool, anchor: bool,
                  stale_after: int) -> dict:
    """Dates of the moves (days ago, oldest first), the last activity and the amounts, all consistent."""
    path = _stage_path(stage, variant)
    since = rng.randint(*_SINCE[stage])
    if anchor:
        since = rng.randint(300, 900) if stage == "full_capacity" else since
    if stage in ("full_capacity", "lost"):
        activity_ago = rng.randint(3, since) if not anchor else rng.randint(2, 25)
    elif stale:
        activity_ago = stale_after + rng.randint(5, 90)
    else:
        activity_ago = rng.randint(0, max(0, min(since, stale_after - 5)))
    since = max(since, activity_ago, 1)
    days = [since]
    for previous in reversed(path[:-1]):
        low, high = _DWELL[previous]
        if anchor:
            low, high = low * 2, high * 2
        days.insert(0, days[0] + rng.randint(low, high))
    if planned is None:
        ranges = {"lead": (5000, 50000), "negotiating": (8000, 80000), "site_visit": (10000, 120000),
                  "on_hold": (5000, 60000), "lost": (5000, 80000)}
        planned = _amount(rng, *ranges.get(stage, (20000, 300000)))
    planned = Decimal(planned)
    signed = stage in SIGNED_OR_LATER
    plan = {"path": path, "days": days, "activity_ago": activity_ago, "planned": planned, "signed": signed}
    if signed or stage in ("site_visit", "negotiating") and rng.random() < 0.5:
        fixed = (planned * Decimal(rng.uniform(0.55, 0.85))).quantize(Decimal("100"))
        output = (planned * Decimal(rng.uniform(1.2, 2.6))).quantize(Decimal("100"))
        plan.update(fixed=min(fixed, planned), output=output,
                    tax=(output * Decimal(rng.uniform(0.03, 0.06))).quantize(Decimal("10")),
                    jobs=rng.choice([150, 200, 300, 500, 800, 1200, 2000, 3000]),
                    land=Decimal(rng.choice([30, 50, 80, 120, 150, 200, 300, 500])))
    if signed:
        signed_ago = days[path.index("signed")]
        fraction = {"signed": (0.05, 0.2), "under_construction": (0.25, 0.6), "in_production": (0.6, 0.9),
                    "full_capacity": (0.85, 1.0)}[stage]
        count = {"signed": 1, "under_construction": rng.randint(2, 4), "in_production": rng.randint(3, 5),
                 "full_capacity": rng.randint(4, 6)}[stage]
        total = (planned * Decimal(rng.uniform(*fraction))).quantize(Decimal("100"))
        last = max(activity_ago, 0)
        span = max(0, signed_ago - last)
        offsets = sorted({signed_ago - (span * i // count) for i in range(count)}, reverse=True)
        weights = [rng.uniform(0.5, 1.5) for _ in offsets]
        parts = [(total * Decimal(w / sum(weights))).quantize(Decimal("100")) for w in weights]
        parts[-1] = total - sum(parts[:-1])
        plan["funds"] = [(ago, part) for ago, part in zip(offsets, parts, strict=True) if part > 0]
        plan["start_ago"] = signed_ago - rng.randint(20, 60)
        plan["production_after"] = rng.randint(180, 540)
    return plan


def seed_projects(*, seed: int = 20261129) -> int:
    """Projects across every stage with their stage histories and funds in place, and the anchors' resident
    projects; matched by (company, project name), so loading again adds nothing. Returns how many were new."""
    rng = random.Random(seed)
    people = {u.email: u for u in db.session.scalars(select(User).where(User.email.like("%@demo.zone")))}
    officers = [people[e] for e in ("officer@demo.zone", "chen@demo.zone", "li@demo.zone", "zhou@demo.zone")
                if e in people]
    if not officers:
        return 0
    manager = people.get("manager@demo.zone")
    anchors = {short: name for name, short, *_ in ANCHORS}
    companies = {c.name: c for c in db.session.scalars(select(Company).where(Company.deleted_at.is_(None))
                                                       .order_by(Company.id))}
    prospects = [c for c in companies.values() if c.name not in anchors.values() and c.status == "prospect"]
    existing = set(db.session.execute(select(Project.company_id, Project.name)).tuples())
    taken_names = {name for _, name in existing}
    used = {company_id for company_id, _ in existing}
    stale_after = stale_days()
    now = utcnow()
    source_keys = [s[0] for s in SOURCES]

    def company_for(cluster: str, owner: User | None) -> str | None:
        """A prospect of the cluster that the owner may open: his own first, then his team's, then the pool's."""
        team = {u.id for u in people.values() if owner and owner.team_id and u.team_id == owner.team_id}
        ranks = [lambda c: owner is not None and c.owner_id == owner.id, lambda c: c.owner_id in team,
                 lambda c: c.owner_id is None]
        for fresh_only in (True, False):
            for rank in ranks:
                for c in prospects:
                    if c.cluster == cluster and rank(c) and (c.id not in used or not fresh_only):
                        used.add(c.id)
                        return c.name
        return None

    specs = [(anchors[short], name, _cluster_of(short), stage, "", key, "", owner, False, planned, True)
             for short, name, stage, planned, key, owner in ANCHOR_PROJECTS]
    for name, cluster, stage, variant, key, code, owner, stale in PROJECTS:
        if name in taken_names:
            continue
        specs.append((company_for(cluster, people.get(owner)), name, cluster, stage, variant, key, code, owner,
                      stale, None, False))
    added = 0
    for company_name, name, cluster, stage, variant, key, code, owner_email, stale, planned, anchor in specs:
        plan = _plan_project(rng, stage, variant, planned, stale, anchor, stale_after)
        owner = people.get(owner_email) or officers[0]
        others = [u for u in (*officers, manager) if u is not None and u.id != owner.id]
        first_contact = rng.choice(others) if rng.random() < 0.3 and others else owner
        source = "anchor_referral" if not anchor and rng.random() < 0.15 else rng.choice(source_keys)
        park = rng.choice(["dunhou", "fenghuang"]) if plan["signed"] or anchor or rng.random() < 0.4 else None
        company = companies.get(company_name)
        if company is None or (company.id, name) in existing or name in taken_names:
            continue
        times = [_moment(rng, ago, now) for ago in plan["days"]]
        activity = max(times[-1], _moment(rng, plan["activity_ago"], now))
        reached = {}
        for stage_key, at in zip(plan["path"], times, strict=True):
            reached.setdefault(REACHED[stage_key], at.astimezone(zone()).date())
        start = production = None
        if "start_ago" in plan:
            start = (now - timedelta(days=plan["start_ago"])).astimezone(zone()).date()
            production = start + timedelta(days=plan["production_after"])
        lost_reason = rng.choice(_LOST_REASONS) if stage == "lost" else ""
        audit.set_actor(first_contact)
        project = Project(
            company_id=company.id, name=name, cluster=cluster, park=park, planned_investment=plan["planned"],
            fixed_asset_investment=plan.get("fixed"), expected_output=plan.get("output"),
            expected_tax=plan.get("tax"), jobs=plan.get("jobs"), land_mu=plan.get("land"),
            description=f"项目计划总投资{plan['planned']:,.0f}万元，在吉安高新区建设{_PRODUCT_UNITS[cluster]}类生产线"
                        f"及配套设施。",
            owner_id=owner.id, first_contact_id=first_contact.id, source=source, key_project=key,
            confidential=bool(code), code_name=code, planned_start=start, planned_production=production,
            stage=stage, stage_changed_at=times[-1], lost_reason=lost_reason,
            funds_in_place=sum((amount for _, amount in plan.get("funds", [])), Decimal("0")),
            last_activity_at=activity, notes="", version=1, created_at=times[0], updated_at=activity, **reached)
        db.session.add(project)
        db.session.flush()
        previous = None
        for stage_key, at in zip(plan["path"], times, strict=True):
            actor = first_contact if previous is None else owner
            returning = is_backwards(previous, stage_key) or previous == "on_hold"
            notes = _RETURN_NOTES if returning and stage_key in _RETURN_NOTES else _MOVE_NOTES
            db.session.add(StageMove(
                project_id=project.id, from_stage=previous, to_stage=stage_key, at=at, recorded_at=at,
                actor_id=actor.id, note=rng.choice(notes.get(stage_key, [""])),
                reason=lost_reason if stage_key == "lost" else ""))
            previous = stage_key
        entries = []
        for ago, amount in plan.get("funds", []):
            received = _moment(rng, ago, now)
            entry = FundsEntry(project_id=project.id, received_on=received.astimezone(zone()).date(), amount=amount,
                               note=rng.choice(_FUNDS_NOTES), actor_id=owner.id, created_at=received,
                               updated_at=received)
            db.session.add(entry)
            entries.append(entry)
        db.session.flush()
        # the log's entries for these rows carry the days they happened, not the day the demo was loaded
        db.session.execute(AuditEvent.__table__.update()
                           .where(AuditEvent.object_type == "project", AuditEvent.object_id == project.id)
                           .values(at=times[0], actor_id=first_contact.id))
        for entry in entries:
            db.session.execute(AuditEvent.__table__.update()
                               .where(AuditEvent.object_type == "funds", AuditEvent.object_id == entry.id)
                               .values(at=entry.created_at, actor_id=owner.id))
        existing.add((company.id, name))
        taken_names.add(name)
        added += 1
    audit.set_actor(None)
    db.session.commit()
    return added


def _cluster_of(anchor_short: str) -> str:
    return next(cluster for _, short, cluster, *_ in ANCHORS if short == anchor_short)


# --- meetings and follow-up tasks (会议与待办) ------------------------------------------------------------------------

#: what an officer's meeting is about, by the project's stage then (no project: "none"): the meeting types it is held
#: as, the stages, summaries, outcomes and next steps (one of each drawn), and the follow-ups it leaves
_TOPICS = {
    "first_visit": (
        ("visit", "call"), ("none", "lead"),
        ("赴{city}拜访{company}，与{contact}{title}见面，介绍吉安高新区{cluster}产业基础、标准厂房和招商政策。"
         "企业目前在{city}的产能已经饱和，有在内地布局新生产基地的计划，正在比较赣州、吉安、井冈山几地。",
         "到{company}拜访{contact}{title}，参观了企业的生产车间。企业主要做{chain}，客户以华为、比亚迪等为主，"
         "受{city}用地和用工成本上升影响，考虑把部分产线转移到内地。",
         "经朋友介绍拜访{company}，{contact}{title}介绍了企业近三年的经营情况。企业去年营收增长明显，"
         "现有厂房不够用，希望找一个政策稳定、配套齐全的地方新建生产基地。"),
        ("企业对吉安有兴趣，希望先看政策和厂房条件，再安排高层来考察。",
         "企业有意向，但决策要等集团董事长从国外回来。",
         "企业认可吉安的区位和电价优势，关心熟练工供应。"),
        ("寄送招商政策汇编和园区介绍，邀请企业一个月内来园区实地考察。",
         "保持联系，争取董事长回国后第一时间安排来吉安考察。"),
        ["寄送招商政策汇编及园区宣传资料", "邀请{short}来园区实地考察"]),
    "call_back": (
        ("call",), ("none", "lead", "negotiating", "on_hold"),
        ("电话联系{contact}{title}，了解企业投资决策进展。企业表示集团正在编制年度投资计划，{project}预计下月上董事会。",
         "与{contact}视频沟通，企业对上次提供的电价和物流成本材料有几处疑问，已逐条解答。",
         "电话回访{contact}，企业近期订单波动，扩产计划放缓，但没有放弃在内地布局的打算。"),
        ("项目仍在推进，暂无实质进展。", "企业疑问已解答，等待企业内部评估。", "项目节奏放缓，需要持续跟进。"),
        ("整理一份电价和物流成本对比材料发给企业，下月初再次电话跟进。", "两周后再电话了解董事会结果。"),
        ["整理电价及物流成本对比材料", "电话跟进{short}集团投资决策"]),
    "promotion_event": (
        ("event",), ("none", "lead"),
        ("参加{event}，与{company}{contact}{title}现场交流。企业对吉安高新区的{cluster}产业配套和电价优势"
         "比较感兴趣，询问了人才公寓和子女入学政策。",
         "在{event}上，{company}{contact}主动到展位咨询，企业计划明年新建一条{chain}生产线，正在选址。"),
        ("互留联系方式，企业同意安排投资部专人对接。", "企业索取了园区宣传册和政策汇编。"),
        ("会后一周内上门拜访，进一步了解企业的投资规模和用地需求。",),
        ["整理推介会对接企业名单", "安排上门拜访{short}"]),
    "site_inspection": (
        ("inbound_visit",), ("lead", "negotiating", "site_visit"),
        ("{contact}{title}一行{n}人来园区实地考察{park}标准厂房，重点查看了层高、楼面承重和配电容量，"
         "并参观了园区内两家{cluster}配套企业。企业对{park}的区位和物流条件比较满意。",
         "陪同{contact}{title}一行考察{park}，先后看了两栋在建标准厂房和一宗约{land}亩的工业用地，"
         "企业对用地的形状和周边道路提了意见。",
         "{company}技术和基建负责人来{park}复看厂房，实测了层高和承重，并与园区物业对接了水电气接入。"),
        ("企业对{park}的两栋标准厂房有意向，需回去测算产能布局后再定。",
         "企业更倾向于拿地自建，希望地块尽快具备供地条件。",
         "厂房条件基本满足要求，企业提出装修补贴和前两年租金减免的诉求。"),
        ("提供厂房图纸和租金优惠方案，两周内邀请企业技术负责人再来看厂房。",
         "向管委会汇报企业诉求，研究租金减免和装修补贴方案。"),
        ["发送{park}标准厂房图纸及配电参数", "整理厂房租金及装修补贴方案"]),
    "land": (
        ("negotiation", "visit"), ("negotiating", "site_visit"),
        ("与{contact}{title}洽谈{project}用地需求。企业计划用地约{land}亩，建设{cluster}生产线及研发中心，"
         "关注土地价格、出让时间和配套道路建设。",
         "就{project}选址与{contact}深入沟通，企业希望地块靠近高速出口，用地约{land}亩，一期先建两栋厂房。"),
        ("初步确定选址意向为{park}，用地规模待企业董事会确认。", "企业接受挂牌出让方式，希望年内拿到土地证。"),
        ("协调自然资源局出具地块规划条件，报管委会研究供地方案。",),
        ["对接自然资源局确认地块规划条件", "起草{short}项目用地意向书"]),
    "park_match": (
        ("visit", "inbound_visit"), ("negotiating", "site_visit", "signed"),
        ("陪同{contact}对接{park}管理办公室，介绍园区产业链配套情况，企业重点关注上游{chain}供应商和用工保障。",
         "组织{company}与园区内两家配套企业座谈，双方就{chain}的本地采购和共用检测设备交换了意见。"),
        ("园区承诺协助对接本地配套企业，并由人社局支持首批招工。", "配套企业有合作意向，企业对本地配套能力更有信心。"),
        ("组织企业与园区内两三家配套企业座谈，摸清本地配套能力。", "跟进双方采购合作的具体对接。"),
        ["联系园区内配套企业安排座谈", "向人社局了解用工招聘支持政策"]),
    "agreement": (
        ("negotiation",), ("negotiating", "site_visit", "signed"),
        ("就{project}投资合作协议与{contact}{title}进行第{n}轮洽谈，焦点在固定资产投资强度、亩均税收承诺"
         "和达产时间。企业希望前三年税收奖励比例再提高。",
         "与{contact}逐条过{project}投资协议补充条款，企业对设备补贴的兑现节点和违约责任提出修改意见。"),
        ("双方在投资强度上达成一致，亩均税收承诺还需企业内部确认。", "大部分条款达成一致，剩余两条需报管委会研究。"),
        ("修改协议文本，报管委会法律顾问审核后发企业确认。", "整理分歧条款，提交管委会主任办公会研究。"),
        ["修改{short}投资合作协议文本", "报法律顾问审核协议条款"]),
    "policy_payout": (
        ("visit", "negotiation", "call"), ("signed", "under_construction", "in_production"),
        ("{contact}反映{project}的设备投资补贴和贷款贴息还没有兑现，就申报材料和时间节点做了沟通，"
         "企业希望本季度内到位。",
         "上门帮{company}梳理可申报的政策：设备补贴、研发费用加计扣除和人才公寓，{contact}希望一次性讲清楚流程。"),
        ("明确了设备补贴申报需提供的发票、合同和验收材料清单。", "企业可申报三项政策，材料由企业财务牵头准备。"),
        ("协调财政局、科技局加快审核，争取月底前完成第一批政策兑现。",),
        ["协调财政局审核设备补贴申报材料", "回复{short}政策兑现进度"]),
    "construction": (
        ("visit",), ("signed", "under_construction"),
        ("到{project}施工现场了解进度，主体厂房已完成基础施工。{contact}反映施工临时用电容量不够、"
         "进场道路雨天泥泞。",
         "陪同住建局到{project}现场检查施工安全，钢结构厂房已封顶，企业希望提前办理消防验收。"),
        ("已现场协调供电公司，临时用电增容本周内完成；进场道路由园区安排硬化。", "住建局同意提前介入消防验收指导。"),
        ("跟踪施工许可办理和临时用电增容，下周再到现场查看。",),
        ["协调供电公司完成临时用电增容", "跟进{short}施工许可证办理进度"]),
    "company_service": (
        ("visit", "call"), ("in_production", "full_capacity"),
        ("走访{company}，了解企业生产经营情况。企业今年订单饱满，但熟练工招聘难、物流成本偏高，正在考虑二期扩产。",
         "到{company}开展企业服务，{contact}{title}介绍前三季度产值同比增长，提出希望园区增开通勤公交。"),
        ("已记录企业诉求，将协调人社局组织专场招聘会，并了解二期用地需求。", "企业诉求已记录，交园区管理办公室协调。"),
        ("联系人社局安排专场招聘，下月拜访企业负责人谈二期扩产。",),
        ["联系人社局安排{short}专场招聘会", "了解{short}二期扩产计划"]),
}
#: what a scheduled meeting is for, by type
_PLANS = {
    "visit": "计划赴{city}拜访{company}，与{contact}{title}面谈投资意向和下一步考察安排。",
    "negotiation": "约{contact}{title}洽谈{project}协议条款和用地方案。",
    "inbound_visit": "{contact}{title}一行计划来园区考察{park}标准厂房，需准备接待和园区介绍。",
    "call": "与{contact}电话沟通项目进展和企业的疑问。",
    "event": "参加{event}，已约{company}{contact}现场交流。",
}
_PREP_TASKS = {"visit": "准备拜访{short}的资料和政策清单", "negotiation": "准备{short}协议洽谈要点",
               "inbound_visit": "准备{short}来访考察接待方案", "call": "整理{short}的问题清单",
               "event": "准备{event}宣传资料"}
_EVENTS = ["粤港澳大湾区（深圳）电子信息产业招商推介会", "吉安高新区（东莞）产业链招商对接会",
           "赣深高铁沿线城市投资合作推介会", "中国（广州）国际电子元器件博览会"]
_EVENT_PLACES = {"粤港澳大湾区（深圳）电子信息产业招商推介会": ("深圳", "深圳会展中心"),
                 "吉安高新区（东莞）产业链招商对接会": ("东莞", "东莞松山湖凯悦酒店"),
                 "赣深高铁沿线城市投资合作推介会": ("深圳", "深圳福田香格里拉酒店"),
                 "中国（广州）国际电子元器件博览会": ("广州", "广交会展馆")}
_ZONE_PLACES = ["吉安高新区管委会招商大厅", "高新区企业服务中心"]
_CITY_NAMES = {key: name for key, name, _ in GBA + OTHER_CITIES}
_PARK_NAMES = {key: name for key, name, _ in PARKS}
_CLUSTER_NAMES = {key: name for key, name, _ in CLUSTERS}
#: weeks of meetings back from today, and weeks of scheduled ones ahead
MEETING_WEEKS_BACK, MEETING_WEEKS_AHEAD = 8, 3


def _zone_time(day, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone()).astimezone(UTC)


def _meeting_days(rng: random.Random, today, now) -> list[tuple[datetime, bool]]:
    """One officer's meeting times over the demo window, oldest first: 3–6 a week in the past, 1–3 a week ahead,
    on working days in office hours (a Saturday now and then); (start, scheduled)."""
    first = today - timedelta(weeks=MEETING_WEEKS_BACK)
    last = today + timedelta(weeks=MEETING_WEEKS_AHEAD)
    monday = first - timedelta(days=first.weekday())
    starts = []
    while monday <= last:
        days = [monday + timedelta(days=i) for i in range(6 if rng.random() < 0.2 else 5)]
        days = [d for d in days if first <= d <= last]
        past = [d for d in days if d <= today]
        ahead = [d for d in days if d > today]
        wanted_past = round(rng.randint(3, 6) * len(past) / 5)
        wanted_ahead = round(rng.randint(1, 3) * len(ahead) / 5)
        for pool, wanted in ((past, wanted_past), (ahead, wanted_ahead)):
            for _ in range(wanted if pool else 0):
                day = rng.choice(pool)
                hour = rng.choice([9, 10, 10, 11, 14, 14, 15, 16])
                at = _zone_time(day, hour, rng.choice([0, 0, 15, 30, 30, 45]))
                if at in (s for s, _ in starts):
                    continue
                starts.append((at, at > now))
        monday += timedelta(days=7)
    return sorted(starts)


def seed_meetings(*, seed: int = 20261130) -> tuple[int, int]:
    """Meetings of the demo officers over the past eight weeks and the coming three, with their follow-ups (most done,
    some open, several overdue and due today); the companies' and projects' last activity follows. Loaded once: when
    the demo officers have meetings already, nothing is added. Returns (meetings, tasks) added."""
    from crm.companies.services import note_activity as note_company
    from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task
    from crm.projects.services import note_activity as note_project

    rng = random.Random(seed)
    people = {u.email: u for u in db.session.scalars(select(User).where(User.email.like("%@demo.zone")))}
    officers = [people[e] for e in ("officer@demo.zone", "chen@demo.zone", "li@demo.zone", "zhou@demo.zone")
                if e in people]
    if not officers or db.session.scalar(select(Meeting.id).where(
            Meeting.owner_id.in_([o.id for o in officers])).limit(1)):
        return 0, 0
    manager = people.get("manager@demo.zone")
    now, today = utcnow(), today_in_zone()
    quiet_since = now - timedelta(days=stale_days() - 3)
    companies = {c.id: c for c in db.session.scalars(select(Company).where(Company.deleted_at.is_(None))
                                                     .order_by(Company.id))}
    contacts: dict[int, list[Contact]] = {}
    for contact in db.session.scalars(select(Contact).where(Contact.deleted_at.is_(None)).order_by(Contact.id)):
        contacts.setdefault(contact.company_id, []).append(contact)
    projects = [p for p in db.session.scalars(select(Project).where(Project.deleted_at.is_(None))
                                              .order_by(Project.id)) if p.company_id in companies]
    moves: dict[int, list[StageMove]] = {}
    for move in db.session.scalars(select(StageMove).order_by(StageMove.at, StageMove.id)):
        moves.setdefault(move.project_id, []).append(move)

    def stage_at(project: Project, at: datetime) -> str:
        reached = [m.to_stage for m in moves.get(project.id, []) if as_aware(m.at) <= at]
        return reached[-1] if reached else project.stage

    def project_for(officer_projects: list[Project], start: datetime, scheduled: bool) -> Project | None:
        """One of the officer's projects the meeting can be about: open then, and not one left quiet on purpose
        (a stale project stays stale: its meetings are older than its last activity)."""
        project = rng.choice(officer_projects)
        if as_aware(project.created_at) > start or stage_at(project, start) == "lost":
            return None
        if as_aware(project.last_activity_at) < quiet_since and (scheduled or start > as_aware(
                project.last_activity_at)):
            return None
        return project

    planned = []  # (meeting, contact ids, colleague id, follow-ups)
    last_topic: dict[int, str] = {}
    for officer in officers:
        mine = [p for p in projects if p.owner_id == officer.id]
        held = [c for c in companies.values() if c.owner_id == officer.id and c.id in contacts]
        team = [u for u in (*officers, manager) if u is not None and u.id != officer.id
                and (u.team_id == officer.team_id or u.role == Role.MANAGER.value)]
        for start, scheduled in _meeting_days(rng, today, now):
            project = project_for(mine, start, scheduled) if mine and (rng.random() < 0.65 or not held) else None
            if project is None and not held:
                continue
            company = companies[project.company_id] if project else rng.choice(held)
            stage = stage_at(project, min(start, now)) if project else "none"
            if project is None and company.status == "resident":
                topics = ["company_service", "call_back"]
            else:
                topics = [k for k, (_, stages_, *_) in _TOPICS.items() if stage in stages_] or ["call_back"]
            # the next meeting with a company is seldom about the same thing as the last
            topic = rng.choice([t for t in topics if t != last_topic.get(company.id)] or topics)
            last_topic[company.id] = topic
            types, _, summaries, outcomes, next_steps, follow_ups = _TOPICS[topic]
            summary, outcome, next_step = rng.choice(summaries), rng.choice(outcomes), rng.choice(next_steps)
            type_ = rng.choice(types)
            there = rng.sample(contacts.get(company.id, []), k=min(len(contacts.get(company.id, [])),
                                                                  rng.choice([1, 1, 2])))
            lead = there[0] if there else None
            event = rng.choice(_EVENTS)
            park = project.park if project and project.park else rng.choice(list(_PARK_NAMES))
            words = {"company": company.name, "short": company.short_name or company.name[:6],
                     "city": _CITY_NAMES.get(company.origin_city, "深圳"),
                     "contact": lead.name if lead else "企业负责人", "title": lead.title if lead else "",
                     "project": project.name if project else "新项目", "park": _PARK_NAMES[park],
                     "cluster": _CLUSTER_NAMES.get(company.cluster, "电子信息"),
                     "chain": "、".join((company.chain_tags or ["电子元器件"])[:2]), "event": event,
                     "land": rng.choice([30, 50, 80, 120, 150]), "n": rng.randint(2, 6)}
            if type_ == "event":
                city, place = _EVENT_PLACES[event]
            elif type_ == "inbound_visit":
                city, place = "吉安", rng.choice([f"{words['park']}标准厂房", f"{words['park']}展示中心",
                                                 *_ZONE_PLACES])
            elif type_ == "call":
                city, place = "", rng.choice(["电话", "电话", "视频会议"])
            elif type_ == "negotiation":
                city, place = rng.choice([("吉安", "吉安高新区管委会三楼会议室"), (words["city"], "企业总部会议室")])
            else:
                city, place = words["city"], rng.choice(["企业总部", "企业生产基地", "企业办公室"])
            length = {"call": rng.choice([20, 30, 45]), "event": 240}.get(type_, rng.choice([60, 90, 120, 150]))
            if scheduled:
                logged = now - timedelta(days=rng.randint(0, 10), minutes=rng.randint(5, 600))
            else:
                logged = min(start + timedelta(minutes=length + rng.randint(20, 240)), now)
            meeting = Meeting(
                type=type_, start_at=start, end_at=start + timedelta(minutes=length), city=city, place=place,
                company_id=company.id, project_id=project.id if project else None, owner_id=officer.id,
                summary=(_PLANS[type_] if scheduled else summary).format(**words),
                outcome="" if scheduled else outcome.format(**words),
                next_step="" if scheduled else next_step.format(**words), created_at=logged, updated_at=logged)
            # follow-ups: one or two after a past meeting; a preparation task before some scheduled ones
            rows = []
            if scheduled and rng.random() < 0.5:
                due = max(start.astimezone(zone()).date() - timedelta(days=rng.randint(1, 3)), today)
                rows.append((_PREP_TASKS[type_].format(**words), due))
            elif not scheduled:
                for title in rng.sample(follow_ups, k=min(len(follow_ups), rng.choice([1, 1, 2]))):
                    rows.append((title.format(**words),
                                 start.astimezone(zone()).date() + timedelta(days=rng.choice([2, 3, 5, 7, 7, 10, 14]))))
            colleague = rng.choice(team).id if team and rng.random() < 0.25 else None
            planned.append((meeting, [c.id for c in there], colleague, rows))

    meetings = [m for m, *_ in planned]
    db.session.add_all(meetings)
    db.session.flush()
    tasks = []
    for meeting, contact_ids, colleague, rows in planned:
        db.session.add_all([MeetingContact(meeting_id=meeting.id, contact_id=i) for i in contact_ids])
        if colleague:
            db.session.add(MeetingUser(meeting_id=meeting.id, user_id=colleague))
        created = as_aware(meeting.created_at)
        for title, due_on in rows:
            task = Task(title=title[:200], notes="", due_on=due_on, due_at=None, owner_id=meeting.owner_id,
                        company_id=meeting.company_id, project_id=meeting.project_id, meeting_id=meeting.id,
                        created_by_id=meeting.owner_id, created_at=created, updated_at=created)
            # most follow-ups are done by their day (the old ones nearly all); some slip, some are done early
            done_odds = 0.95 if due_on < today - timedelta(days=14) else 0.8 if due_on < today else 0.15
            if rng.random() < done_odds:
                day = datetime.combine(min(due_on, today), time(rng.randint(9, 18), rng.randint(0, 59)), tzinfo=zone())
                done = min(day.astimezone(UTC), now - timedelta(minutes=rng.randint(5, 600)))
                task.done_at, task.done_by_id = max(done, created), meeting.owner_id
            tasks.append(task)
    _liven_my_tasks(rng, tasks, officers, today, now)
    db.session.add_all(tasks)
    db.session.flush()

    # the log's entries for these rows carry the time they were logged, not the time the demo was loaded
    for object_type, rows in (("meeting", meetings), ("task", tasks)):
        for row in rows:
            db.session.execute(AuditEvent.__table__.update().where(
                AuditEvent.object_type == object_type, AuditEvent.object_id == row.id)
                .values(at=row.created_at, actor_id=row.owner_id))
    _date_the_book(rng, companies, projects, meetings)
    # the companies' and projects' last activity follows their latest past meeting (the holder's visit also runs
    # their protection period on, as logging it on the page does)
    latest: dict[tuple[str, int], Meeting] = {}
    for meeting in meetings:
        if as_aware(meeting.start_at) > now:
            continue
        for key in (("company", meeting.company_id), ("project", meeting.project_id)):
            if key[1] is not None and (key not in latest or latest[key].start_at < meeting.start_at):
                latest[key] = meeting
    owners = {o.id: o for o in officers}
    for (kind, object_id), meeting in sorted(latest.items()):
        if kind == "company":
            note_company(object_id, meeting.start_at, actor=owners[meeting.owner_id])
        else:
            note_project(object_id, meeting.start_at)
    db.session.commit()
    return len(meetings), len(tasks)


def _date_the_book(rng: random.Random, companies: dict, projects: list[Project], meetings: list) -> None:
    """Each company (and its contacts) entered the book some days before anything else happened with it, not when
    the demo was loaded: their creation and its log entries move back (the timeline's oldest items)."""
    from sqlalchemy import bindparam

    first: dict[int, datetime] = {}
    for company_id, at in [(c.id, c.claimed_at) for c in companies.values()] + \
            [(c.id, c.last_activity_at) for c in companies.values()] + \
            [(p.company_id, p.created_at) for p in projects] + [(m.company_id, m.start_at) for m in meetings]:
        if at is not None and company_id in companies:
            first[company_id] = min(first.get(company_id, as_aware(at)), as_aware(at))
    dates = []
    for company_id in sorted(first):
        day = (first[company_id] - timedelta(days=rng.randint(3, 45))).astimezone(zone()).date()
        dates.append({"b_id": company_id, "b_at": _zone_time(day, rng.randint(9, 17), rng.randint(0, 59))})
    company, contact, event = Company.__table__, Contact.__table__, AuditEvent.__table__
    db.session.execute(company.update().where(company.c.id == bindparam("b_id")).values(created_at=bindparam("b_at")),
                       dates)
    db.session.execute(contact.update().where(contact.c.company_id == bindparam("b_id"))
                       .values(created_at=bindparam("b_at")), dates)
    db.session.execute(event.update().where(event.c.object_type == "company", event.c.action == "create",
                                            event.c.object_id == bindparam("b_id")).values(at=bindparam("b_at")),
                       dates)
    db.session.execute(event.update().where(
        event.c.object_type == "contact", event.c.action == "create",
        event.c.object_id.in_(select(contact.c.id).where(contact.c.company_id == bindparam("b_id")).scalar_subquery()))
        .values(at=bindparam("b_at")), dates)


def _liven_my_tasks(rng: random.Random, tasks: list, officers: list[User], today, now) -> None:
    """Every demo officer's "my tasks" has something in each group: at least three overdue and three due today
    (four and four for the main demo officer), one of them at a time later today, and one done today."""
    for n, officer in enumerate(officers):
        mine = [t for t in tasks if t.owner_id == officer.id]
        recent = [t for t in mine if now - timedelta(days=20) < as_aware(t.created_at) < now - timedelta(days=1)]
        rng.shuffle(recent)
        want = {"overdue": 4 if n == 0 else 3, "today": 4 if n == 0 else 3, "done_today": 1}
        have = {"overdue": sum(1 for t in mine if t.done_at is None and t.due_on < today),
                "today": sum(1 for t in mine if t.done_at is None and t.due_on == today),
                "done_today": sum(1 for t in mine if t.done_at is not None
                                  and as_aware(t.done_at).astimezone(zone()).date() == today)}
        for task in recent:
            if have["overdue"] < want["overdue"] and task.due_on < today and task.done_at is not None:
                task.done_at = task.done_by_id = None
                have["overdue"] += 1
            elif have["today"] < want["today"] and task.due_on != today:
                have["overdue"] -= task.done_at is None and task.due_on < today
                task.due_on, task.done_at, task.done_by_id = today, None, None
                have["today"] += 1
            elif have["done_today"] < want["done_today"] and task.done_at is None and task.due_on > today:
                # within today in the zone, even just after midnight
                task.done_at = max(now - timedelta(minutes=rng.randint(10, 120)), _zone_time(today, 0, 0),
                                   as_aware(task.created_at))
                task.done_by_id = officer.id
                have["done_today"] += 1
        timed = next((t for t in recent if t.done_at is None and t.due_on == today), None)
        if timed is not None:  # at five, or (loaded late in the day) a couple of hours from now, before midnight
            late = now.astimezone(zone()).hour >= 15
            timed.due_at = min(now + timedelta(hours=2), _zone_time(today, 23, 59)) if late else \
                _zone_time(today, 17, 0)
            timed.due_at = timed.due_at.replace(second=0, microsecond=0)


# --- support board: milestones and enterprise requests (项目帮扶 / 企业诉求) -----------------------------------------

#: the department responsible for each standard milestone (None: the project's officer alone)
_MILESTONE_DEPARTMENTS = {
    "land_acquired": "natural_resources", "planning_permit": "natural_resources", "construction_permit": "approval",
    "construction_start": "housing_construction", "topping_out": "housing_construction",
    "equipment_in": "power_supply", "trial_production": "human_resources", "production_start": "market_regulation",
    "full_capacity": None,
}
#: the milestones between two stage moves, and how far along the way from one to the other each falls: before
#: construction start (from signing), and between construction start and production start
_PHASES = ((("land_acquired", 0.3), ("planning_permit", 0.6), ("construction_permit", 0.85)),
           (("topping_out", 0.4), ("equipment_in", 0.65), ("trial_production", 0.85)))
#: (note when done, note when late) of each milestone; a done one has its note now and then
_MILESTONE_NOTES = {
    "land_acquired": ("已摘牌并签订土地出让合同", "土地挂牌公告期延长，摘牌推迟"),
    "planning_permit": ("建设工程规划许可证已核发", "规划方案按专家评审意见修改中"),
    "construction_permit": ("施工许可证已核发", "施工图审查意见待设计院回复"),
    "construction_start": ("举行开工仪式", "等待施工许可，开工推迟"),
    "topping_out": ("主体结构封顶", "雨季影响，主体施工滞后"),
    "equipment_in": ("首批生产设备进场安装", "进口设备到港延期"),
    "trial_production": ("试生产，良品率爬坡中", "首批操作工招聘未到位"),
    "production_start": ("正式投产", "环保验收排期中"),
    "full_capacity": ("达到设计产能", "订单爬坡慢于预期"),
}
_SOON_NOTES = ["本周内完成，联络员已跟进", "材料已齐，等待现场核查", "已约相关部门现场办公"]
#: (category, department, when: "build" signed / under construction, "run" in production / full capacity, or
#: "any"; what the company asks, how it was resolved)
_REQUESTS = [
    ("land", "natural_resources", "build", "地块内有一处10千伏高压线需迁改，影响厂房布局，请求协调迁改时间。",
     "已协调供电公司制定迁改方案，高压线迁改完成。"),
    ("land", "natural_resources", "any", "不动产权证办理进度慢，影响企业申请项目贷款，请求加快办理。",
     "自然资源局开通绿色通道，不动产权证已核发。"),
    ("land", "natural_resources", "run", "二期预留用地约{land}亩，希望尽快启动挂牌出让程序。",
     "二期用地已纳入年度供地计划，完成挂牌出让。"),
    ("utilities", "power_supply", "build", "施工临时用电容量不足（现有400kVA），申请增容至1250kVA。",
     "供电公司完成临时用电增容，已送电。"),
    ("utilities", "power_supply", "any", "投产后需双回路供电，请求提前规划10千伏专线。",
     "双回路供电方案已批复，专线随厂区配电工程同步建设。"),
    ("utilities", "power_supply", "run", "近期厂区频繁短时停电，影响SMT产线良品率，请求排查线路。",
     "供电公司完成线路巡检，更换故障开关，停电问题已解决。"),
    ("utilities", "water_gas", "any", "厂区天然气管道尚未接通，影响试生产安排。", "燃气管道接驳完成，已通气。"),
    ("utilities", "water_gas", "run", "生产用水每日约800吨，现有管网水压不足。", "水务公司新建加压泵站，水压达标。"),
    ("permits", "approval", "build", "施工许可证申报材料已提交两周，请求加快审批。",
     "行政审批局容缺受理，施工许可证三个工作日内核发。"),
    ("permits", "approval", "any", "环评报告表审批排队时间长，希望提前介入指导。",
     "审批局安排专人预审，环评批复已下达。"),
    ("permits", "housing_construction", "build", "消防设计审查排队时间长，请求提前介入指导。",
     "住建局提前介入指导，消防设计审查一次通过。"),
    ("permits", "housing_construction", "build", "厂房主体完工，申请分阶段竣工验收以便设备先行进场。",
     "住建局同意分阶段验收，一期厂房验收合格。"),
    ("permits", "development_reform", "any", "项目总投资调整，需变更项目备案信息，请求指导办理。",
     "发改委指导企业在线变更备案，当天办结。"),
    ("permits", "market_regulation", "run", "锅炉、压力容器等特种设备使用登记，请求尽快现场核查。",
     "市场监管局完成现场核查，特种设备使用登记证已发放。"),
    ("financing", "finance_office", "build", "设备采购资金缺口约3000万元，希望对接本地银行提供项目贷款。",
     "金融办组织银企对接会，企业获得两家银行共3000万元授信。"),
    ("financing", "finance_office", "run", "申请科技贷贴息，请求辅导准备申报材料。",
     "申报材料已辅导完善，贴息资金已拨付。"),
    ("hiring", "human_resources", "any", "投产前需招聘普工约{jobs}人，请求组织专场招聘会。",
     "人社局组织两场专场招聘会，企业招到普工约九成。"),
    ("hiring", "human_resources", "any", "技术骨干的人才公寓和子女入学安排。",
     "人才公寓已分配，子女入学已协调到就近学校。"),
    ("hiring", "human_resources", "run", "申请以工代训补贴，请求说明申报条件。", "补贴已按新招员工人数核拨到位。"),
    ("logistics", "transport", "any", "厂区门口道路尚未硬化，大型货车进出困难。", "园区安排施工队完成道路硬化。"),
    ("logistics", "transport", "run", "希望增开至赣州港的物流专线，降低出口物流成本。",
     "已协调物流企业开通每周两班专线。"),
    ("policy", "finance_office", "any", "设备投资补贴第一期尚未兑现，请求明确兑现时间。",
     "第一期设备投资补贴已拨付到企业账户。"),
    ("policy", "tax", "run", "研发费用加计扣除政策咨询及申报辅导。", "税务局上门辅导，企业已完成加计扣除申报。"),
    ("policy", "tax", "any", "增值税留抵退税办理进度咨询。", "留抵退税已办结到账。"),
    ("policy", "science_tech", "run", "申报高新技术企业认定，希望获得辅导。",
     "科技局组织专家辅导，申报材料已按期提交。"),
    ("other", "market_regulation", "any", "企业名称变更及营业执照换发。", "市场监管局即时办结，新执照已领取。"),
]
#: a request's handling: when a liaison took it on, and when the company was called back about it
_ACCEPT_NOTES = ["已受理，安排专人对接企业", "已转{department}业务科室办理", "联络员已与企业电话沟通，了解具体情况"]
_REOPEN_NOTES = ["企业反映问题仍未完全解决，重新办理"]
_CLOSE_NOTES = {5: ["电话回访企业，企业对办理结果非常满意"], 4: ["回访企业，企业认可办理结果"],
                3: ["问题已解决，企业反映办理时间偏长"], 2: ["企业对办理结果不太满意，意见已转相关部门"]}
#: how many requests a project has, and how they stand, by its stage
_REQUEST_COUNTS = {"signed": [1, 2, 2, 3], "under_construction": [2, 2, 3, 3], "in_production": [1, 1, 2],
                   "full_capacity": [0, 1, 1]}
#: the odds of a request's status (open, in progress, resolved, closed) while the project is being built, and once
#: it runs
_REQUEST_STATES = {"build": (30, 35, 10, 25), "run": (15, 20, 10, 55)}
_DEPARTMENT_NAMES = {key: name for key, name, _ in DEPARTMENTS}


def seed_support(*, seed: int = 20261131) -> tuple[int, int]:
    """The support board of the demo's signed projects: their nine milestones, done up to the stage each has
    reached and planned from there on (dates relative to today, so the board has cells of every status: done, red,
    yellow, green), and enterprise requests routed to the departments, open, in progress, resolved and closed, with
    their handling history. A project that has milestones keeps them; requests are loaded once (none on the
    projects yet). Returns (milestones, requests) added."""
    from crm.support.models import EnterpriseRequest

    rng = random.Random(seed)
    projects = list(db.session.scalars(select(Project).where(Project.deleted_at.is_(None),
                                                             Project.stage.in_(SIGNED_OR_LATER),
                                                             Project.reached_signed.is_not(None))
                                       .order_by(Project.id)))
    if not projects:
        return 0, 0
    signings = {}
    for move in db.session.scalars(select(StageMove).where(
            StageMove.project_id.in_([p.id for p in projects]), StageMove.to_stage == "signed")
            .order_by(StageMove.at, StageMove.id)):
        signings.setdefault(move.project_id, move)
    milestones = _seed_milestones(rng, projects, signings)
    requests = 0
    if not db.session.scalar(select(EnterpriseRequest.id).where(
            EnterpriseRequest.project_id.in_([p.id for p in projects])).limit(1)):
        requests = _seed_requests(rng, projects)
    db.session.commit()
    return milestones, requests


def _seed_milestones(rng: random.Random, projects: list[Project], signings: dict) -> int:
    from sqlalchemy import bindparam

    from crm.support import services as support

    today, now = today_in_zone(), utcnow()
    warn = support.warning_days()
    rows: dict[int, list] = {}
    with db.session.no_autoflush:  # flushed once, complete: the log records each milestone as loaded
        for project in projects:
            made = support.add_standard_milestones(project)  # the template, as a stage move to signed applies it
            if made:
                by_kind = {m.kind: m for m in made}
                for kind, (planned, actual) in _milestone_dates(rng, project, today).items():
                    by_kind[kind].planned_date, by_kind[kind].actual_date = planned, actual
                rows[project.id] = sorted(made, key=lambda m: m.sort)
    if not rows:
        return 0
    _liven_board(rng, [p for p in projects if p.id in rows], rows, today, warn)
    for project in projects:
        signed_at = signings[project.id].at if project.id in signings else project.stage_changed_at
        for milestone in rows.get(project.id, []):
            milestone.department = _MILESTONE_DEPARTMENTS[milestone.kind]
            status = support.milestone_status(milestone, on=today, days=warn)
            done, late = _MILESTONE_NOTES[milestone.kind]
            milestone.note = (done if status == "done" and rng.random() < 0.3 else late if status == "red"
                              else rng.choice(_SOON_NOTES) if status == "yellow" and rng.random() < 0.6 else "")
            milestone.created_at = as_aware(signed_at)
            last = _zone_time(milestone.actual_date, 17, 30) if milestone.actual_date else None
            milestone.updated_at = min(max(last, milestone.created_at), now) if last else milestone.created_at
    db.session.flush()
    # the log's entries for the milestones carry the day the project was signed and whoever signed it
    dates = [{"b_id": m.id, "b_at": m.created_at,
              "b_actor": signings[pid].actor_id if pid in signings else m.owner_id}
             for pid, made in rows.items() for m in made]
    event = AuditEvent.__table__
    db.session.execute(event.update().where(event.c.object_type == "milestone", event.c.action == "create",
                                            event.c.object_id == bindparam("b_id"))
                       .values(at=bindparam("b_at"), actor_id=bindparam("b_actor")), dates)
    return sum(len(made) for made in rows.values())


def _milestone_dates(rng: random.Random, project: Project, today) -> dict:
    """{kind: (planned, actual)} of one project: construction and production start on the days the project reached
    those stages (planned for its planned start and production), the milestones between spread along the way, done
    when the next stage was reached and, in the phase under way, when their planned day passed (most of them)."""
    signed = project.reached_signed
    start_plan = project.planned_start
    if start_plan is None or start_plan < signed + timedelta(days=10):
        start_plan = signed + timedelta(days=rng.randint(30, 60))
    start_done = project.reached_under_construction
    building_from = max(start_plan, start_done or start_plan)
    production_plan = project.planned_production
    if production_plan is None or production_plan < building_from + timedelta(days=90):
        production_plan = building_from + timedelta(days=rng.randint(240, 420))
    production_done = project.reached_in_production
    full_plan = max(production_plan, production_done or production_plan) + timedelta(days=rng.randint(180, 360))
    dates = {"construction_start": (start_plan, start_done), "production_start": (production_plan, production_done),
             "full_capacity": (full_plan, project.reached_full_capacity)}
    for phase, (plan_from, plan_to, done_from, done_to) in zip(
            _PHASES, ((signed, start_plan, signed, start_done), (building_from, production_plan, start_done,
                                                                 production_done)), strict=True):
        done_from = done_from or signed
        previous = done_from
        for kind, share in phase:
            planned = plan_from + timedelta(days=round((plan_to - plan_from).days * share))
            actual = None
            if done_to is not None:  # the phase is over: everything in it happened along the way
                day = done_from + timedelta(days=round((done_to - done_from).days * share) + rng.randint(-3, 3))
                actual = min(max(day, previous), done_to)
            elif previous is not None and planned < today and rng.random() < 0.7:  # under way: most on time
                actual = min(max(planned + timedelta(days=rng.randint(-5, 15)), previous), today)
            previous = actual  # one still to come holds up the rest of its phase
            dates[kind] = (planned, actual)
    return dates


def _liven_board(rng: random.Random, projects: list[Project], rows: dict, today, warn: int) -> None:
    """However the stage dates fall, the board has cells of every status the day it is loaded (on the key projects'
    rows first): the next milestone of a few projects, on track so far, comes due within the warning days (yellow)
    or is a little overdue (red), without putting a project's planned dates out of order."""
    from crm.support import services as support

    def count(status: str) -> int:
        return sum(support.milestone_status(m, on=today, days=warn) == status for made in rows.values()
                   for m in made)

    ordered = sorted(projects, key=lambda p: (not p.key_project, p.id))
    for status, want in (("yellow", 4), ("red", 3)):
        for project in ordered:
            if count(status) >= want:
                break
            made = rows[project.id]
            pending = [i for i, m in enumerate(made) if m.actual_date is None]
            if not pending or made[pending[0]].kind in ("construction_start", "production_start"):
                continue  # those two follow the project's planned start and production
            i = pending[0]
            if support.milestone_status(made[i], on=today, days=warn) != "green":
                continue  # a cell already yellow or red stays as it is
            day = today + timedelta(days=rng.randint(1, warn)) if status == "yellow" else \
                today - timedelta(days=rng.randint(3, 20))
            before = [m.planned_date for m in made[:i] if m.planned_date]
            after = [m.planned_date for m in made[i + 1:] if m.planned_date]
            if (before and max(before) > day) or (after and min(after) < day):
                continue
            made[i].planned_date = day


def _seed_requests(rng: random.Random, projects: list[Project]) -> int:
    """Enterprise requests of the signed projects, each with its handling history (RequestEvent), routed to most
    of the departments; every liaison's department has open ones and settled ones."""
    from sqlalchemy import bindparam

    from crm.projects.services import note_activity
    from crm.support.models import RequestEvent

    today = today_in_zone()
    liaisons = {u.department: u for u in db.session.scalars(
        select(User).where(User.role == Role.LIAISON.value, User.email.like("%@demo.zone"),
                           User.department.is_not(None)).order_by(User.id))}

    def fits(project: Project, when: str) -> bool:
        building = project.stage in ("signed", "under_construction")
        return when == "any" or (when == "build") == building

    def feasible(project: Project, status: str) -> bool:
        """Signed long enough ago for the request to have come this far, a day a step, before today."""
        return (today - project.reached_signed).days - 1 >= len(_REQUEST_PATHS[status]) + 1

    planned: list[tuple] = []  # (project, template, status)
    for project in projects:
        states = _REQUEST_STATES["build" if fits(project, "build") else "run"]
        choices = [t for t in _REQUESTS if fits(project, t[2])]
        for template in rng.sample(choices, k=rng.choice(_REQUEST_COUNTS[project.stage])):
            status = rng.choices(tuple(_REQUEST_PATHS), weights=states)[0]
            planned.append((project, template, status if feasible(project, status) else "open"))
    # a few resolved ones waiting for the company's word, whatever the draw gave
    closed = [i for i, (p, _, s) in enumerate(planned) if s == "closed"]
    short = max(0, 3 - sum(1 for *_, s in planned if s == "resolved"))
    for i in sorted(rng.sample(closed, k=min(short, len(closed)))):
        planned[i] = (*planned[i][:2], "resolved")
    # each liaison's department has two open requests and a settled one
    for department in liaisons:
        for statuses, want in ((("open", "in_progress"), 2), (("closed", "resolved"), 1)):
            have = sum(1 for _, t, s in planned if t[1] == department and s in statuses)
            for n in range(want - have):
                status = statuses[n % 2]
                candidates = [(p, t) for t in _REQUESTS if t[1] == department
                              for p in projects if fits(p, t[2]) and feasible(p, status)]
                if candidates:
                    project, template = rng.choice(candidates)
                    planned.append((project, template, status))

    requests, histories = [], []
    for project, template, status in planned:
        found, steps = _request(rng, project, template, status, liaisons, today)
        requests.append(found)
        histories.append((found, steps))
    db.session.add_all(requests)
    db.session.flush()
    for found, steps in histories:
        for at, action, from_status, to_status, actor_id, changes, note in steps:
            db.session.add(RequestEvent(request_id=found.id, project_id=found.project_id, at=at, actor_id=actor_id,
                                        action=action, from_status=from_status, to_status=to_status,
                                        changes=changes, note=note))
    # the log dates each request to its recording by the project's officer; the project's last activity follows
    # the latest step of its requests, as handling a request on the page does
    event = AuditEvent.__table__
    db.session.execute(event.update().where(event.c.object_type == "request", event.c.action == "create",
                                            event.c.object_id == bindparam("b_id"))
                       .values(at=bindparam("b_at"), actor_id=bindparam("b_actor")),
                       [{"b_id": r.id, "b_at": r.created_at, "b_actor": r.created_by_id} for r in requests])
    latest: dict[int, datetime] = {}
    for found, steps in histories:
        latest[found.project_id] = max(latest.get(found.project_id, steps[-1][0]), steps[-1][0])
    for project_id, at in sorted(latest.items()):
        note_activity(project_id, at)
    return len(requests)


#: the status moves a request made after it was recorded, by the status it has now (one reopened on the way is
#: drawn among those in progress)
_REQUEST_PATHS = {"open": (), "in_progress": ("in_progress",), "resolved": ("in_progress", "resolved"),
                  "closed": ("in_progress", "resolved", "closed")}
#: how long ago a request was recorded, by its status
_REQUEST_AGES = {"open": (1, 25), "in_progress": (3, 45), "resolved": (10, 80), "closed": (20, 240)}


def _request(rng: random.Random, project: Project, template: tuple, status: str, liaisons: dict, today):
    """One request and its steps [(at, action, from, to, actor id, changes, note)]: recorded by the project's
    officer, taken on and resolved by the department's liaison (or its owner), closed by the officer after asking
    the company; a day a step, all before today, most resolved by their deadline."""
    from crm.support.models import EnterpriseRequest
    from crm.support.workdays import CalendarNotCovered, add_working_days

    category, department, _, description, resolution = template
    officer = db.session.get(User, project.owner_id)
    liaison = liaisons.get(department)
    owner = liaison if liaison is not None and rng.random() < 0.4 else officer
    handler = liaison or owner
    path = list(_REQUEST_PATHS[status])
    ago = min(rng.randint(*_REQUEST_AGES[status]), (today - project.reached_signed).days - 1)
    if status == "in_progress" and ago > 20 and rng.random() < 0.3:
        path = ["in_progress", "resolved", "in_progress"]  # resolved, then taken up again at the company's word
    created_day = today - timedelta(days=ago)
    working_days = rng.choice([5, 10, 10, 15, 20, 30])
    try:
        deadline = add_working_days(created_day, working_days)
    except CalendarNotCovered:  # a year the holiday calendar does not carry yet: entered as a date
        deadline = created_day + timedelta(days=working_days * 7 // 5)
    offsets, day = [], 0
    for n, step in enumerate(path):
        if step == "resolved":
            late = rng.randint(1, 10) if rng.random() < 0.25 else 0
            day = rng.randint(day + 1, max(day + 1, (deadline - created_day).days + late))
        else:
            day += rng.randint(1, 3) if n == 0 else rng.randint(1, 7)
        offsets.append(day)
    # squeezed, in order, into the days between the recording and today
    offsets = [min(off, ago - len(offsets) + i) for i, off in enumerate(offsets)]
    moments = [_zone_time(created_day, rng.randint(9, 11), rng.randint(0, 59))]
    moments += [_zone_time(created_day + timedelta(days=off), rng.randint(9, 17), rng.randint(0, 59))
                for off in offsets]
    text = description.format(land=rng.choice([30, 50, 80]), jobs=project.jobs or rng.choice([200, 300, 500]))
    satisfaction = rng.choice([5, 5, 5, 4, 4, 4, 3, 2]) if status == "closed" else None
    steps = [(moments[0], "created", None, "open", officer.id, {
        "category": [None, category], "description": [None, text], "department": [None, department],
        "owner_id": [None, owner.id], "deadline": [None, deadline.isoformat()]}, "")]
    resolved_at = None
    for at, to_status in zip(moments[1:], path, strict=True):
        from_status = steps[-1][3]
        if to_status == "in_progress" and from_status == "open":
            note = rng.choice(_ACCEPT_NOTES).format(department=_DEPARTMENT_NAMES.get(department, department))
            steps.append((at, "status", from_status, to_status, handler.id, None, note))
        elif to_status == "in_progress":  # reopened
            steps.append((at, "status", from_status, to_status, officer.id, None, rng.choice(_REOPEN_NOTES)))
            resolved_at = None
        elif to_status == "resolved":
            steps.append((at, "status", from_status, to_status, handler.id, {"resolution": ["", resolution]}, ""))
            resolved_at = at
        else:
            steps.append((at, "status", from_status, to_status, officer.id, {"satisfaction": [None, satisfaction]},
                          rng.choice(_CLOSE_NOTES[satisfaction])))
    found = EnterpriseRequest(
        project_id=project.id, company_id=project.company_id, category=category, description=text,
        department=department, owner_id=owner.id, deadline=deadline, status=status,
        resolution=resolution if "resolved" in path else "", satisfaction=satisfaction, resolved_at=resolved_at,
        closed_at=moments[-1] if status == "closed" else None, created_by_id=officer.id, created_at=moments[0],
        updated_at=moments[-1])
    return found, steps
