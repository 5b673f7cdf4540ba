"""The reports' hand-built world: the week 2025-W11 (Monday 10 to Sunday 16 March 2025, Beijing), its Friday
17:00, two teams, a manager, a liaison, and projects that each test one rule of the weekly report.

What each project is for (the weekly report as of Friday 14 March 17:00; stale = no activity for 30 days):

====  =========================  =====  ==================  ==============================================  =========
name                             key    stage               activity                                        in table
====  =========================  =====  ==================  ==============================================  =========
P1    连接器扩产项目             yes    signed              last 40 days ago; reason given 5 days ago        yes (key)
P2    精密模具项目               no     negotiating         meeting Wed 12 March 10:00                       yes
P3    线索项目甲                 no     lead                last 45 days ago, no reason                      no
P4    考察项目乙                 no     site_visit          moved lead → site visit Tue 11 March             yes
P5    星河计划项目 (secret, b)   yes    negotiating         2 days ago                                       manager
P6    流失重点项目               yes    lost                long ago                                         no
P7    已删除重点项目 (deleted)   yes    signed              -                                                no
P8    达产项目                   no     full_capacity       100 days ago (never stale)                       no
P9    节点项目丙                 yes    under_construction  31 days ago; a reason from 60 days ago (spent)   yes (key)
P10   本周新线索                 no     lead                created Thu 13 March                             yes
P11   上周洽谈项目               no     negotiating         meeting Fri 7 March (last week)                  no
P12   周六会谈项目               no     negotiating         a meeting booked for Sat 15 March (future)       no
====  =========================  =====  ==================  ==============================================  =========

So the manager's table is P9, P1, P5 (key: under construction, signed, negotiating), then P4, P2, P10 (site visit,
negotiating, lead); officer a (team 1) sees the same without P5 (team 2's secret). The no-update list is P1, P9 (key,
the longest silent first), then P3; only P1 carries a reason for its current silence.
"""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import select

from crm.extensions import db
from crm.projects.models import FundsEntry, Project, StageMove
from crm.support.models import EnterpriseRequest, Milestone

from ..factories import make_company, make_contact, make_project, make_reference, make_team, make_user
from ..notifications.helpers import make_meeting

#: Friday 14 March 2025, 17:00 Beijing (UTC+8 all year)
FRIDAY = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
#: when the long-standing projects were created
LONG_AGO = datetime(2024, 9, 2, 2, 0, tzinfo=UTC)


def beijing(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def project(owner, company, name: str, *, stage: str = "lead", key: bool = False, created: datetime = LONG_AGO,
            last: datetime | None = None, reason: str = "", reason_at: datetime | None = None, **extra) -> Project:
    """A project created at `created` (its creation move then too), last active at `last`."""
    p = make_project(company, owner=owner, name=name, stage=stage, key_project=key, **extra)
    p.created_at = p.stage_changed_at = created
    p.last_activity_at = last or created
    p.no_update_reason, p.no_update_reason_at = reason, reason_at
    move = db.session.scalar(select(StageMove).where(StageMove.project_id == p.id))
    move.at = move.recorded_at = created
    db.session.commit()
    return p


def move(p: Project, from_stage: str, to_stage: str, at: datetime, *, note: str = "", reason: str = "") -> StageMove:
    row = StageMove(project_id=p.id, from_stage=from_stage, to_stage=to_stage, at=at, recorded_at=at,
                    actor_id=p.owner_id, note=note, reason=reason)
    db.session.add(row)
    db.session.commit()
    return row


def meeting(p: Project, at: datetime, *, summary: str = "", next_step: str = "", type: str = "visit"):
    m = make_meeting(p.owner, at, company=p.company, project=p, type=type)
    m.summary, m.next_step = summary, next_step
    db.session.commit()
    return m


def world() -> SimpleNamespace:
    """The projects of the module docstring."""
    make_reference()
    w = SimpleNamespace()
    w.team1, w.team2 = make_team("一组"), make_team("二组")
    w.a = make_user(team=w.team1, name="张三")
    w.a2 = make_user(team=w.team1, name="张四")
    w.b = make_user(team=w.team2, name="李四")
    w.manager = make_user("manager", name="赵局")
    w.admin = make_user("admin", name="管理员")
    w.liaison = make_user("liaison", name="联络员", department="natural_resources")
    w.c1 = make_company("华信电子有限公司", owner=w.a)
    make_contact(w.c1, name="王经理", title="总经理", mobile="13812348123")
    make_contact(w.c1, name="李助理", mobile="13700000000")
    w.c2 = make_company("东莞精密有限公司", owner=w.b)
    make_contact(w.c2, name="陈总", mobile="13900001111")
    w.c3 = make_company("深圳机密科技有限公司", owner=w.b)
    make_contact(w.c3, name="机密联系人", mobile="13600006666")

    w.p1 = project(w.a, w.c1, "连接器扩产项目", stage="signed", key=True, last=FRIDAY - timedelta(days=40),
                   reason="企业等待董事会审议", reason_at=FRIDAY - timedelta(days=5),
                   fixed_asset_investment=Decimal("8000"), land_mu=Decimal("120.5"), description="年产500万套连接器",
                   park="dunhou", cluster="electronic_info", planned_investment=12000)
    move(w.p1, "negotiating", "signed", beijing(2024, 12, 20), note="签订投资协议")
    meeting(w.p1, beijing(2025, 1, 10), summary="洽谈用地")
    w.p2 = project(w.b, w.c2, "精密模具项目", stage="negotiating", last=beijing(2025, 3, 12))
    meeting(w.p2, beijing(2025, 3, 12), summary="确认设备进场时间", next_step="签补充协议")
    w.p3 = project(w.b, w.c2, "线索项目甲", last=FRIDAY - timedelta(days=45))
    w.p4 = project(w.a2, w.c1, "考察项目乙", stage="site_visit", last=beijing(2025, 3, 11))
    move(w.p4, "lead", "site_visit", beijing(2025, 3, 11), note="考察园区")
    w.p5 = project(w.b, w.c3, "星河计划项目", stage="negotiating", key=True, confidential=True, code_name="星河计划",
                   last=FRIDAY - timedelta(days=2))
    w.p6 = project(w.a, w.c1, "流失重点项目", stage="lost", key=True)
    w.p7 = project(w.a, w.c1, "已删除重点项目", stage="signed", key=True, deleted=True)
    w.p8 = project(w.b, w.c2, "达产项目", stage="full_capacity", last=FRIDAY - timedelta(days=100))
    w.p9 = project(w.b, w.c2, "节点项目丙", stage="under_construction", key=True, last=FRIDAY - timedelta(days=31),
                   reason="上次的原因", reason_at=FRIDAY - timedelta(days=60))
    w.p10 = project(w.a, w.c1, "本周新线索", created=beijing(2025, 3, 13, 15))
    w.p11 = project(w.b, w.c2, "上周洽谈项目", stage="negotiating", last=beijing(2025, 3, 7))
    meeting(w.p11, beijing(2025, 3, 7), summary="上周的洽谈")
    w.p12 = project(w.b, w.c2, "周六会谈项目", stage="negotiating", last=FRIDAY - timedelta(days=3))
    meeting(w.p12, beijing(2025, 3, 15), summary="周六的会谈")
    return w


def names(rows) -> list[str]:
    return [r.name for r in rows]


# --- the month: March 2025 ----------------------------------------------------------------------------------------

def fund(p, day: date, amount: str) -> None:
    db.session.add(FundsEntry(project_id=p.id, received_on=day, amount=Decimal(amount), actor_id=p.owner_id))
    db.session.commit()


def request(p, *, status="open", deadline=date(2025, 3, 1), description="用地指标") -> EnterpriseRequest:
    found = EnterpriseRequest(project_id=p.id, company_id=p.company_id, category="land", description=description,
                              department="natural_resources", owner_id=p.owner_id, deadline=deadline, status=status,
                              resolution="")
    db.session.add(found)
    db.session.commit()
    return found


def month_world() -> SimpleNamespace:
    """The weekly world, plus the month's signings, funds, a key project finished this month, requests and a
    milestone."""
    w = world()
    # signed in March and still signed: counted (5000)
    w.s1 = project(w.a, w.c1, "三月签约项目", stage="signed", planned_investment=5000, cluster="electronic_info",
                   park="fenghuang", created=beijing(2025, 2, 1), last=beijing(2025, 3, 5),
                   fixed_asset_investment=Decimal("3000"))
    w.s1.reached_signed = date(2025, 3, 5)
    # created straight at "under construction" on 8 March (it skipped signed): counted (2000)
    w.s3 = project(w.b, w.c2, "直接开工项目", stage="under_construction", planned_investment=2000,
                   created=beijing(2025, 3, 8), last=beijing(2025, 3, 8))
    w.s3.reached_under_construction = date(2025, 3, 8)
    # signed in March, then fell back to negotiating: not counted
    w.s2 = project(w.a, w.c1, "签约后回退项目", stage="negotiating", planned_investment=9000,
                   created=beijing(2025, 2, 1), last=beijing(2025, 3, 9))
    w.s2.reached_signed = date(2025, 3, 6)
    # signed in February: not this month's
    w.s4 = project(w.a, w.c1, "二月签约项目", stage="signed", planned_investment=7000, created=beijing(2025, 1, 1),
                   last=beijing(2025, 3, 1))
    w.s4.reached_signed = date(2025, 2, 20)
    # P1 is signed too (make_project dates its reaching signed today): keep its signing out of March 2025
    w.p1.reached_signed = date(2024, 12, 20)
    w.p9.reached_under_construction = date(2024, 11, 1)
    db.session.commit()
    # funds that arrived in March: 300 and a correction of -50 (250); February's 100 is not the month's
    fund(w.s1, date(2025, 3, 10), "300")
    fund(w.s1, date(2025, 3, 11), "-50")
    fund(w.s4, date(2025, 2, 25), "100")
    # a key project that reached full capacity this month is news; one finished long ago is not
    w.done_now = project(w.a, w.c1, "本月达产重点项目", stage="full_capacity", key=True, last=beijing(2025, 3, 3))
    move(w.done_now, "in_production", "full_capacity", beijing(2025, 3, 3), note="达产")
    project(w.a, w.c1, "早已达产重点项目", stage="full_capacity", key=True, last=beijing(2024, 10, 1))
    move(w.p1, "signed", "under_construction", beijing(2025, 3, 2), note="开工")  # P1's move this month
    move(w.p1, "under_construction", "signed", beijing(2025, 3, 4), note="手续退回")  # and back
    # requests: P1's past its deadline, P9's in progress within it, a closed one, one on team 2's secret project
    w.r_late = request(w.p1, deadline=date(2025, 3, 1), description="=用地指标未落实")
    w.r_open = request(w.p9, status="in_progress", deadline=date(2025, 4, 1), description="电力增容")
    request(w.p1, status="closed", description="已办结")
    w.r_secret = request(w.p5, deadline=date(2025, 3, 20), description="机密诉求")
    # P9's next milestone: construction start, planned 1 March, not done (red)
    db.session.add_all([
        Milestone(project_id=w.p9.id, kind="land_acquired", sort=10, planned_date=date(2025, 1, 1),
                  actual_date=date(2025, 1, 5), note=""),
        Milestone(project_id=w.p9.id, kind="construction_start", sort=40, planned_date=date(2025, 3, 1), note=""),
        Milestone(project_id=w.p9.id, kind="topping_out", sort=50, planned_date=date(2025, 9, 1), note="")])
    db.session.commit()
    return w
