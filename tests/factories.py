"""Plain factory functions for tests: make_user, make_company, make_contact, make_reference, login."""
import re
from functools import lru_cache

from werkzeug.security import generate_password_hash

from crm.auth.models import Team, User
from crm.companies.models import Company, Contact
from crm.companies.services import refresh_search_text
from crm.core.timeutil import utcnow
from crm.extensions import db
from crm.reference.models import RefItem

PASSWORD = "correct horse battery staple"

#: valid unified social credit codes (check character verified) for tests
VALID_USCC = ["91350200776049653A", "913502115628130384", "91440300MA5FUTR81D"]


#: the users the factories make carry a scrypt hash with a small cost: signing in checks the stored hash with the
#: parameters written in it, and at the product's cost (PASSWORD_METHOD, ~0.1 s a check) the suite's thousand-odd
#: sign-ins took about half of its time. What the product writes itself (new users, password changes, the unknown
#: e-mail's dummy check) still uses PASSWORD_METHOD, and tests/auth/test_sessions.py holds those to it.
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"


@lru_cache(maxsize=8)
def _hash(password: str) -> str:
    return generate_password_hash(password, method=TEST_PASSWORD_METHOD)


_counter = [0]


def _next() -> int:
    _counter[0] += 1
    return _counter[0]


def make_team(name: str | None = None) -> Team:
    team = Team(name=name or f"Team {_next()}")
    db.session.add(team)
    db.session.commit()
    return team


def make_user(role: str = "officer", *, team: Team | None = None, email: str | None = None, name: str | None = None,
              password: str = PASSWORD, active: bool = True, department: str | None = None,
              locale: str = "zh_Hans_CN") -> User:
    n = _next()
    user = User(email=email or f"{role}{n}@test.zone", name=name or f"{role.title()} {n}", role=role,
                team_id=team.id if team else None, password_hash=_hash(password), is_active_user=active,
                department=department, locale=locale)
    db.session.add(user)
    db.session.commit()
    return user


def make_reference() -> None:
    """A small zone: two clusters, two parks, three cities, a department, two sources."""
    rows = [("cluster", "electronic_info", "电子信息", "Electronic information"),
            ("cluster", "green_food", "绿色食品", "Green food"),
            ("park", "dunhou", "敦厚园区", "Dunhou Park"), ("park", "fenghuang", "凤凰园区", "Fenghuang Park"),
            ("city", "shenzhen", "深圳", "Shenzhen"), ("city", "dongguan", "东莞", "Dongguan"),
            ("city", "jian", "吉安", "Ji'an"), ("department", "natural_resources", "自然资源局", "Natural Resources"),
            ("source", "event", "招商活动", "Event"), ("source", "referral", "推荐", "Referral")]
    for kind, key, name, name_en in rows:
        db.session.add(RefItem(kind=kind, key=key, name=name, name_en=name_en))
    db.session.commit()


def make_company(name: str | None = None, *, owner: User | None = None, uscc: str | None = None,
                 cluster: str | None = None, origin_city: str | None = None, status: str = "prospect",
                 contacts: list[dict] = (), deleted: bool = False, **extra) -> Company:
    company = Company(name=name or f"测试企业{_next()}有限公司", uscc=uscc, cluster=cluster, origin_city=origin_city,
                      status=status, owner_id=owner.id if owner else None, **extra)
    if owner:
        company.claimed_at = utcnow()
    if deleted:
        company.deleted_at = utcnow()
    db.session.add(company)
    db.session.flush()
    rows = [Contact(company_id=company.id, **c) for c in contacts]
    db.session.add_all(rows)
    refresh_search_text(company, rows)
    db.session.commit()
    return company


def make_contact(company: Company, **values) -> Contact:
    values.setdefault("name", f"联系人{_next()}")
    contact = Contact(company_id=company.id, **values)
    db.session.add(contact)
    db.session.flush()
    refresh_search_text(company)
    db.session.commit()
    return contact


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    return match.group(1) if match else ""


def login(client, user: User, password: str = PASSWORD, *, remember: bool = False):
    """Sign in through the real form; returns the response."""
    page = client.get("/login")
    return client.post("/login", data={"email": user.email, "password": password, "remember": "y" if remember else "",
                                       "csrf_token": csrf_token(page.get_data(as_text=True))})


def api_token(client, user: User, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_project(company: Company | None = None, *, owner: User, name: str | None = None, stage: str = "lead",
                 confidential: bool = False, code_name: str = "", key_project: bool = False,
                 planned_investment=None, cluster: str | None = None, park: str | None = None,
                 deleted: bool = False, **extra):
    """A project written directly (no service), at `stage` since today, with its creation move recorded."""
    from decimal import Decimal

    from crm.core.timeutil import today_in_zone
    from crm.projects.models import REACHED, Project, StageMove

    company = company or make_company(owner=owner)
    now = utcnow()
    project = Project(company_id=company.id, name=name or f"测试项目{_next()}", owner_id=owner.id,
                      first_contact_id=owner.id, stage=stage, stage_changed_at=now, last_activity_at=now,
                      confidential=confidential, code_name=code_name, key_project=key_project,
                      planned_investment=Decimal(str(planned_investment)) if planned_investment is not None else None,
                      cluster=cluster, park=park, funds_in_place=Decimal("0"),
                      **{REACHED[stage]: today_in_zone()}, **extra)
    if deleted:
        project.deleted_at = now
    db.session.add(project)
    db.session.flush()
    db.session.add(StageMove(project_id=project.id, from_stage=None, to_stage=stage, at=now, actor_id=owner.id))
    db.session.commit()
    return project
