"""The Ji'an High-tech Zone demo: its parks, clusters, anchors and GBA prospects, and demo users of each role.

Everything here is data for the reference customer (see shared/seed); another zone loads its own lists through the
admin screens. Loading is idempotent: reference items, users and companies are matched by key, e-mail and name.
"""
import random
import secrets
from datetime import timedelta

from sqlalchemy import select
from stdnum.cn import uscc as stdnum_uscc

from crm.auth.models import Role, Team, User
from crm.auth.services import hash_password
from crm.companies.models import Company, Contact
from crm.companies.services import refresh_search_text
from crm.core.timeutil import utcnow
from crm.extensions import db
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
               ("tax", "税务局", "Tax Bureau"), ("science_tech", "科技局", "Science and Technology Bureau")]
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
    ("liaison@demo.zone", "赵联络（自然资源局）", Role.LIAISON, None, "natural_resources"),
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
    now = utcnow()
    added = 0

    def add(name, short, cluster, tags, city, status, owner, employees, revenue, hmt=False, listing="none"):
        nonlocal added
        if name in existing:
            return
        existing.add(name)
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
        db.session.add(company)
        db.session.flush()
        contacts = []
        for _ in range(rng.randint(1, 3)):
            person = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
            contacts.append(Contact(company_id=company.id, name=person, title=rng.choice(_TITLES),
                                    mobile="1" + rng.choice("3589") + "".join(rng.choice("0123456789")
                                                                             for _ in range(9)),
                                    wechat=f"wx_{rng.randint(10000, 99999)}"))
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
    return {"users": created, "companies": added}
