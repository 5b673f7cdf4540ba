"""The dashboard's hand-built zone: twelve projects, their stage moves, meetings, milestones, tasks and targets, with
dates around the edges of March 2026 in Asia/Shanghai. Every KPI test works its answer out from this list by hand.

    project        owner team cluster park      city      created (zone)  moves (zone days)               stage now
    P1             a1    A    EI      dunhou    shenzhen  03-02 10:00     -                               lead
    P2             a1    A    EI      fenghuang shenzhen  03-01 00:00     →neg 03-05, →signed 03-10       signed
    P3             a2    A    GF      dunhou    dongguan  02-10           →signed 03-15, →UC 03-20        constructing
    P4             b1    B    EI      -         dongguan  03-31 23:30     -                               lead
    P5             b1    B    GF      fenghuang shenzhen  04-01 00:00     -                               lead
    P6             a1    A    EI      dunhou    shenzhen  01-05           →neg 02-28 23:59:59,            negotiating
                                                                          →signed 03-03, →neg 03-25 (back)
    P7             a2    A    GF      -         -         03-08           →signed 03-12, →lost 03-28      lost
    P8 (secret)    b1    B    EI      dunhou    shenzhen  03-09           →in production 03-20            producing
    P9             a1    A    -       -         -         02-28 23:59     -                               lead
    P10 (deleted)  a1    A    EI      -         -         03-03           -                               lead
    P11            a2    A    GF      -         dongguan  2025-12-01      →signed 01-20, →FC 02-01        full capacity
    P12            b1    B    EI      -         dongguan  2025-11-01      →signed 2025-12-20, →UC 01-10   constructing

Planned investment (万元): P1 1000, P2 2000, P3 3000, P4 4000, P5 5000, P6 600, P7 700, P8 8000, P9 none, P10 9999,
P11 1000, P12 900. Funds in place: P2 500, P3 1500, P8 2000. Sources: P1 event (event 7), P2 referral, others none.
"""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from crm.core.timeutil import utcnow
from crm.dashboard.models import AnnualTarget
from crm.extensions import db
from crm.meetings.models import Meeting, Task
from crm.projects.models import REACHED, Project, StageMove
from crm.support.models import Milestone

from ..factories import make_company, make_reference, make_team, make_user

SH = ZoneInfo("Asia/Shanghai")
EI, GF = "electronic_info", "green_food"
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
#: "today" for the milestone rate: milestones planned after it are not due yet
TODAY = date(2026, 3, 20)


def at(y, m, d, hh=12, mm=0, ss=0) -> datetime:
    """A zone wall-clock time, as the UTC instant the database stores."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH).astimezone(UTC)


def build_project(owner, *, company, created, stage_path, planned=None, cluster=None, park=None, source=None,
                  event_id=None, confidential=False, funds=None, deleted=False, last_activity=None, name=""):
    """A project with its creation move at `created` and then `stage_path`: [(to_stage, at), ...]; the stage and the
    first-reached days follow from the moves, as services.move_stage writes them."""
    first = stage_path[0] if stage_path and stage_path[0][1] is None else ("lead", None)
    moves = [m for m in stage_path if m[1] is not None]
    project = Project(company_id=company.id, name=name or f"项目{created:%m%d%H%M}", owner_id=owner.id,
                      first_contact_id=owner.id, stage=first[0], stage_changed_at=created, confidential=confidential,
                      code_name="保密代号" if confidential else "", cluster=cluster, park=park, source=source,
                      event_id=event_id,
                      planned_investment=Decimal(planned) if planned is not None else None,
                      funds_in_place=Decimal(funds or 0), last_activity_at=last_activity or utcnow(),
                      created_at=created, updated_at=created)
    setattr(project, REACHED[first[0]], created.astimezone(SH).date())
    if deleted:
        project.deleted_at = utcnow()
    db.session.add(project)
    db.session.flush()
    db.session.add(StageMove(project_id=project.id, from_stage=None, to_stage=first[0], at=created,
                             actor_id=owner.id))
    for to_stage, when in moves:
        db.session.add(StageMove(project_id=project.id, from_stage=project.stage, to_stage=to_stage, at=when,
                                 actor_id=owner.id))
        if getattr(project, REACHED[to_stage]) is None:
            setattr(project, REACHED[to_stage], when.astimezone(SH).date())
        project.stage, project.stage_changed_at = to_stage, when
    db.session.commit()
    return project


@pytest.fixture
def zone():
    """The hand-built zone of the module docstring (users, projects, meetings, milestones, tasks, targets)."""
    make_reference()
    ns = SimpleNamespace()
    ns.team_a, ns.team_b = make_team("招商一组"), make_team("招商二组")
    ns.a1 = make_user(team=ns.team_a, name="王一")
    ns.a2 = make_user(team=ns.team_a, name="王二")
    ns.b1 = make_user(team=ns.team_b, name="李三")
    ns.manager = make_user("manager", name="赵局")
    ns.liaison = make_user("liaison", name="联络员", department="natural_resources")
    ns.admin = make_user("admin", name="管理员")
    sz = make_company("深圳立讯电子有限公司", owner=ns.a1, origin_city="shenzhen")
    dg = make_company("东莞华信科技有限公司", owner=ns.a2, origin_city="dongguan")
    sz_b = make_company("深圳保密电子有限公司", owner=ns.b1, origin_city="shenzhen")
    dg_b = make_company("东莞二组科技有限公司", owner=ns.b1, origin_city="dongguan")
    plain = make_company("吉安本地企业有限公司", owner=ns.a1)
    long_ago = utcnow() - timedelta(days=100)
    ns.p1 = build_project(ns.a1, company=sz, created=at(2026, 3, 2, 10), stage_path=[], planned=1000, cluster=EI,
                          park="dunhou", source="event", event_id=7, last_activity=utcnow() - timedelta(days=40))
    ns.p2 = build_project(ns.a1, company=sz, created=at(2026, 3, 1, 0, 0), planned=2000, cluster=EI,
                          park="fenghuang", source="referral", funds=500,
                          stage_path=[("negotiating", at(2026, 3, 5)), ("signed", at(2026, 3, 10))])
    ns.p3 = build_project(ns.a2, company=dg, created=at(2026, 2, 10), planned=3000, cluster=GF, park="dunhou",
                          funds=1500, stage_path=[("signed", at(2026, 3, 15)), ("under_construction", at(2026, 3, 20))])
    ns.p4 = build_project(ns.b1, company=dg_b, created=at(2026, 3, 31, 23, 30), stage_path=[], planned=4000,
                          cluster=EI, last_activity=utcnow() - timedelta(days=31))
    ns.p5 = build_project(ns.b1, company=sz_b, created=at(2026, 4, 1, 0, 0), stage_path=[], planned=5000,
                          cluster=GF, park="fenghuang")
    ns.p6 = build_project(ns.a1, company=sz, created=at(2026, 1, 5), planned=600, cluster=EI, park="dunhou",
                          stage_path=[("negotiating", at(2026, 2, 28, 23, 59, 59)), ("signed", at(2026, 3, 3)),
                                      ("negotiating", at(2026, 3, 25))])
    ns.p7 = build_project(ns.a2, company=plain, created=at(2026, 3, 8), planned=700, cluster=GF,
                          last_activity=long_ago, stage_path=[("signed", at(2026, 3, 12)), ("lost", at(2026, 3, 28))])
    ns.p8 = build_project(ns.b1, company=sz_b, created=at(2026, 3, 9), planned=8000, cluster=EI, park="dunhou",
                          confidential=True, funds=2000, stage_path=[("in_production", at(2026, 3, 20))])
    ns.p9 = build_project(ns.a1, company=plain, created=at(2026, 2, 28, 23, 59), stage_path=[])
    ns.p10 = build_project(ns.a1, company=plain, created=at(2026, 3, 3), stage_path=[], planned=9999, cluster=EI,
                           deleted=True)
    ns.p11 = build_project(ns.a2, company=dg, created=at(2025, 12, 1), planned=1000, cluster=GF,
                           last_activity=long_ago,
                           stage_path=[("signed", at(2026, 1, 20)), ("full_capacity", at(2026, 2, 1))])
    ns.p12 = build_project(ns.b1, company=dg_b, created=at(2025, 11, 1), planned=900, cluster=EI,
                           stage_path=[("signed", at(2025, 12, 20)), ("under_construction", at(2026, 1, 10))])

    def meeting(owner, company, start, project=None):
        db.session.add(Meeting(type="visit", start_at=start, company_id=company.id, owner_id=owner.id,
                               project_id=project.id if project else None))

    meeting(ns.a1, sz, at(2026, 3, 1, 0, 0), ns.p1)        # March (00:00 zone is 02-28 16:00 UTC)
    meeting(ns.a2, dg, at(2026, 2, 28, 23, 59))             # February
    meeting(ns.b1, sz_b, at(2026, 3, 15), ns.p8)            # March, on the confidential project
    meeting(ns.a1, sz, at(2026, 3, 31, 23, 59, 59))         # March
    meeting(ns.a1, sz, at(2026, 4, 1, 0, 0))                # April

    def milestone(project, kind, planned, actual=None):
        db.session.add(Milestone(project_id=project.id, kind=kind, planned_date=planned, actual_date=actual))

    milestone(ns.p3, "land_acquired", date(2026, 3, 5), date(2026, 3, 5))         # due, on time (same day)
    milestone(ns.p3, "planning_permit", date(2026, 3, 10), date(2026, 3, 12))      # due, late
    milestone(ns.p3, "construction_permit", date(2026, 3, 18))                     # due, not done
    milestone(ns.p3, "construction_start", date(2026, 3, 25))                      # after TODAY: not due yet
    milestone(ns.p3, "topping_out", date(2026, 2, 25), date(2026, 2, 20))          # February
    milestone(ns.p8, "land_acquired", date(2026, 3, 15), date(2026, 3, 14))        # due, early (confidential)
    milestone(ns.p7, "land_acquired", date(2026, 3, 2))                            # due, not done (lost project)

    today = utcnow().astimezone(SH).date()

    def task(owner, due_on, *, done=False, due_at=None, company=None, project=None):
        db.session.add(Task(title=f"回访{due_on}", due_on=due_on, due_at=due_at, owner_id=owner.id,
                            company_id=(company or plain).id, project_id=project.id if project else None,
                            done_at=utcnow() if done else None))

    task(ns.a1, today - timedelta(days=1))                                   # overdue
    task(ns.a1, today - timedelta(days=1), done=True)                        # done: not overdue
    task(ns.a1, today + timedelta(days=1))                                   # not due yet
    task(ns.a2, today, due_at=utcnow() - timedelta(hours=1), company=dg)     # timed, an hour late: overdue
    task(ns.b1, today - timedelta(days=3), company=sz_b, project=ns.p8)      # overdue, on the confidential project

    db.session.add_all([AnnualTarget(year=2026, cluster=EI, amount=Decimal(20000)),
                        AnnualTarget(year=2026, cluster=GF, amount=Decimal(5000)),
                        AnnualTarget(year=2026, team_id=ns.team_a.id, amount=Decimal(12000)),
                        AnnualTarget(year=2026, team_id=ns.team_b.id, amount=Decimal(10000)),
                        AnnualTarget(year=2025, cluster=EI, amount=Decimal(1))])
    db.session.commit()
    return ns
