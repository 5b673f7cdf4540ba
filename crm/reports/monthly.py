"""The monthly report managers file upward (月报): the month's totals, the projects signed in it, the key projects'
progress and the problems (open enterprise requests, projects with no update), for one viewer.

The totals are the dashboard's figures for the month (crm.dashboard.kpis: new projects, meetings, stage moves and
signings against the month before, the rates, the pipeline by stage now), so the report and the dashboard never
disagree; "signed" is the dashboard's (signed in the month and still signed or further along), and the signed list is
the very list its figure drills into. Added here: funds that arrived in the month (到位资金 entries dated in it).

Key projects: every key project still being worked (not lost, not at full capacity), and those that moved in the
month (a key project that reached full capacity or was lost this month is news); each with its moves in the month,
its meetings in the month, its latest progress (as in the weekly report) and its next support-board milestone.

Problems are as of the report's making, not of the month's end (a request's or a silence's history is not kept): the
open enterprise requests (open or in progress), past their deadline first, and the projects with no update for
`stale_days` with their owner's reason.

Built in one language: the reader's for the page (`language=None`), the zone's for the .xlsx (the bureau's form).
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company
from crm.core.timeutil import as_aware, to_zone, utcnow
from crm.dashboard import kpis
from crm.extensions import db
from crm.i18n import gettext as _
from crm.meetings.models import Meeting
from crm.projects import queries as project_queries
from crm.projects import services as project_services
from crm.projects.models import REACHED, FundsEntry, Project, StageMove
from crm.support import access as support_access
from crm.support import queries as support_queries
from crm.support import services as support_services
from crm.support.models import CATEGORY_BY_KEY, MILESTONE_BY_KEY, OPEN_STATUSES, EnterpriseRequest, Milestone
from crm.support.models import status_label as request_status_label

from . import weekly
from . import workbook as xl

ROW_CAP = weekly.ROW_CAP
#: the stages whose first day counts as the signing, in the order crm.projects.queries.signed_on takes them
SIGNED_OR_LATER = ("signed", "under_construction", "in_production", "full_capacity")


@dataclass
class SignedRow:
    project_id: int
    name: str
    investor: str
    cluster: str
    park: str
    planned_investment: Decimal | None
    fixed_asset_investment: Decimal | None
    signed_on: date | None
    stage: str
    owner: str


@dataclass
class KeyRow:
    project_id: int
    name: str
    investor: str
    stage: str
    #: the month's moves, "03-05 洽谈→签约", oldest first
    moves: list[str]
    meetings: int
    progress: str
    #: the next support-board milestone not done: its name, planned day, status (red, yellow, green) or None
    next_milestone: str
    next_status: str | None
    funds_in_place: Decimal
    planned_investment: Decimal | None
    owner: str


@dataclass
class RequestRow:
    request_id: int
    project_id: int
    project: str
    investor: str
    category: str
    description: str
    department: str
    deadline: date
    status: str
    late: bool
    owner: str


@dataclass
class MonthlyReport:
    month: kpis.Period
    #: the moment it was made; the month's flows count until then (or the month's end)
    as_of: datetime
    until: datetime
    funnel: list = field(default_factory=list)
    changes: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    funds_received: Decimal = Decimal("0")
    signed: list[SignedRow] = field(default_factory=list)
    signed_investment: Decimal = Decimal("0")
    key_rows: list[KeyRow] = field(default_factory=list)
    key_total: int = 0
    requests: list[RequestRow] = field(default_factory=list)
    requests_total: int = 0
    requests_late: int = 0
    stale_days: int = 30
    stale: list = field(default_factory=list)
    stale_total: int = 0
    stale_with_reason: int = 0

    @property
    def key(self) -> str:
        return f"{self.month.start:%Y-%m}"

    @property
    def filename(self) -> str:
        return f"monthly-report-{self.key}.xlsx"


def parse_month(value: str | None) -> date | None:
    """The first day of a month written 2025-03 (as an <input type="month"> sends it), or None."""
    text = (value or "").strip()
    if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
        return None
    year, month = int(text[:4]), int(text[5:])
    return date(year, month, 1) if 1 <= month <= 12 and year >= 1900 else None


def _utc(value: datetime) -> datetime:
    return as_aware(value).astimezone(UTC)


def signed_on(project: Project) -> date | None:
    """`crm.projects.queries.signed_on` for a project already read (the day the dashboard counts its signing)."""
    return next((getattr(project, REACHED[k]) for k in SIGNED_OR_LATER if getattr(project, REACHED[k])), None)


def _names(p: Project, company_ids: set[int], words: dict) -> dict:
    return {"name": p.name, "investor": project_queries.shown_name(p, company_ids),
            "stage": words["stages"].get(p.stage, p.stage), "owner": p.owner.name if p.owner else ""}


def _signed(viewer: User, month: kpis.Period, words: dict) -> tuple[list[SignedRow], Decimal]:
    """The projects the month's "signed" figure counts: its drill-down list's filters (signed on a day of the month,
    signed or further along now), in the viewer's scope."""
    filters = project_queries.ProjectFilters(stage=kpis.SIGNED_GROUP, signed_from=month.start, signed_to=month.end)
    stmt = project_queries.filtered(viewer, filters).options(
        joinedload(Project.company).load_only(Company.name), joinedload(Project.owner).load_only(User.name))
    projects = sorted(db.session.scalars(stmt.limit(ROW_CAP)).unique(),
                      key=lambda p: (signed_on(p) or month.start, p.id))
    company_ids = project_queries.visible_company_ids(viewer, projects)
    rows = [SignedRow(project_id=p.id, **_names(p, company_ids, words),
                      cluster=words["clusters"].get(p.cluster, p.cluster) if p.cluster else "",
                      park=words["parks"].get(p.park, p.park) if p.park else words["undecided"],
                      planned_investment=p.planned_investment, fixed_asset_investment=p.fixed_asset_investment,
                      signed_on=signed_on(p)) for p in projects]
    total = sum((p.planned_investment or Decimal("0") for p in projects), Decimal("0"))
    return rows, total


def _funds_received(viewer: User, month: kpis.Period) -> Decimal:
    """到位资金 that arrived in the month: the entries dated in it (corrections included), on projects in scope."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(FundsEntry.amount), 0)).join(Project, Project.id == FundsEntry.project_id)
        .where(access.project_scope(viewer), FundsEntry.received_on >= month.start,
               FundsEntry.received_on <= month.end))
    return Decimal(total or 0)


def _next_milestones(project_ids: list[int], on: date) -> dict[int, Milestone]:
    """Each project's next milestone not done: the soonest planned (unplanned last), in the template's order."""
    found: dict[int, Milestone] = {}
    for chunk in weekly._chunks(project_ids):
        rank = func.row_number().over(partition_by=Milestone.project_id, order_by=(
            Milestone.planned_date.asc().nulls_last(), Milestone.sort, Milestone.id)).label("rank")
        inner = select(Milestone.id, rank).where(Milestone.project_id.in_(chunk), Milestone.deleted_at.is_(None),
                                                 Milestone.actual_date.is_(None)).subquery()
        for milestone in db.session.scalars(select(Milestone).where(
                Milestone.id.in_(select(inner.c.id).where(inner.c.rank == 1)))):
            found[milestone.project_id] = milestone
    return found


def _key_projects(viewer: User, month: kpis.Period, until: datetime, words: dict) -> tuple[list[KeyRow], int]:
    start, end = _utc(month.starts_at()), _utc(until)
    moved = select(StageMove.project_id).where(StageMove.from_stage.is_not(None), StageMove.at >= start,
                                               StageMove.at < end)
    where = (access.project_scope(viewer), Project.key_project.is_(True),
             or_(Project.stage.not_in(weekly.NEVER_STALE), Project.id.in_(moved)))
    total = db.session.scalar(select(func.count()).select_from(Project).where(*where))
    projects = list(db.session.scalars(
        select(Project).options(joinedload(Project.company).load_only(Company.name),
                                joinedload(Project.owner).load_only(User.name))
        .where(*where).order_by(weekly._stage_order(), Project.planned_investment.desc().nulls_last(), Project.id)
        .limit(ROW_CAP)))
    ids = [p.id for p in projects]
    company_ids = project_queries.visible_company_ids(viewer, projects)
    moves: dict[int, list[str]] = defaultdict(list)
    meetings: dict[int, int] = {}
    for chunk in weekly._chunks(ids):
        for project_id, at, from_stage, to_stage in db.session.execute(
                select(StageMove.project_id, StageMove.at, StageMove.from_stage, StageMove.to_stage)
                .where(StageMove.project_id.in_(chunk), StageMove.from_stage.is_not(None), StageMove.at >= start,
                       StageMove.at < end).order_by(StageMove.at, StageMove.id)):
            moves[project_id].append(f"{to_zone(at):%m-%d} {words['stages'].get(from_stage, from_stage)}→"
                                     f"{words['stages'].get(to_stage, to_stage)}")
        meetings.update(db.session.execute(
            select(Meeting.project_id, func.count()).where(Meeting.project_id.in_(chunk),
                                                            access.meeting_scope(viewer), Meeting.start_at >= start,
                                                            Meeting.start_at < end)
            .group_by(Meeting.project_id)).tuples().all())
    latest_meetings, latest_moves = weekly._latest_meetings(viewer, ids, until), weekly._latest_moves(ids, until)
    today = to_zone(until).date()
    nexts = _next_milestones(ids, today)
    warning = support_services.warning_days()
    rows = []
    for p in projects:
        milestone = nexts.get(p.id)
        status = support_services.milestone_status(milestone, on=today, days=warning) if milestone else None
        if milestone is not None:
            kind = MILESTONE_BY_KEY.get(milestone.kind)
            planned = milestone.planned_date.isoformat() if milestone.planned_date else words["unplanned"]
            next_text = f"{kind.label if kind else milestone.kind} {planned}"
            if status in ("red", "yellow"):
                next_text += f"（{words['milestone_status'][status]}）"
        else:
            next_text = ""
        names = _names(p, company_ids, words)
        rows.append(KeyRow(
            project_id=p.id, **names, moves=moves.get(p.id, []), meetings=meetings.get(p.id, 0),
            progress=weekly.progress_text(names["stage"], latest_meetings.get(p.id), latest_moves.get(p.id),
                                          words=words),
            next_milestone=next_text, next_status=status, funds_in_place=p.funds_in_place or Decimal("0"),
            planned_investment=p.planned_investment))
    return rows, total


def _requests(viewer: User, on: date, words: dict) -> tuple[list[RequestRow], int, int]:
    """The open enterprise requests the viewer may see, past their deadline first (the longest late first)."""
    where = (support_access.request_scope(viewer), EnterpriseRequest.status.in_(OPEN_STATUSES))
    total = db.session.scalar(select(func.count()).select_from(EnterpriseRequest).where(*where))
    late_count = db.session.scalar(select(func.count()).select_from(EnterpriseRequest).where(
        *where, support_services.past_deadline(on)))
    found = list(db.session.scalars(
        select(EnterpriseRequest).options(joinedload(EnterpriseRequest.project).load_only(
            Project.name, Project.company_id, Project.confidential, Project.code_name),
            joinedload(EnterpriseRequest.owner).load_only(User.name))
        .where(*where).order_by(EnterpriseRequest.deadline, EnterpriseRequest.id).limit(ROW_CAP)))
    projects = [r.project for r in found]
    company_names = dict(db.session.execute(select(Company.id, Company.name).where(
        Company.id.in_({p.company_id for p in projects}))).all()) if projects else {}
    company_ids = project_queries.visible_company_ids(viewer, projects)
    departments = words["departments"]
    rows = []
    for r in found:
        p = r.project
        rows.append(RequestRow(
            request_id=r.id, project_id=p.id, project=support_queries.project_label(p, company_ids),
            investor=project_queries.shown_company_name(
                company_names.get(p.company_id), project_id=p.id, confidential=p.confidential,
                code_name=p.code_name, company_visible=p.company_id in company_ids),
            category=str(CATEGORY_BY_KEY[r.category].label) if r.category in CATEGORY_BY_KEY else r.category,
            description=r.description, department=departments.get(r.department, r.department),
            deadline=r.deadline, status=str(request_status_label(r.status)),
            late=support_services.is_past_deadline(r, on=on), owner=r.owner.name if r.owner else ""))
    return rows, total, late_count


def _words() -> dict:
    """The names the report uses, in the current language."""
    from crm.reference import services as reference

    return {**weekly._words(), "departments": reference.names("department"), "unplanned": "—",
            "milestone_status": {"red": _("Overdue"), "yellow": _("Due soon")}}


def monthly_report(viewer: User, *, month: date | None = None, now: datetime | None = None,
                   language: str | None = None) -> MonthlyReport:
    """The report of the month holding `month` (default: this month) for `viewer`, as of `now`, in `language` (the
    current one unless given)."""
    now = _utc(now or utcnow())
    period = kpis.period_for("month", month or to_zone(now).date())
    until = min(now, period.ends_before())
    with force_locale(language or str(get_locale() or weekly.report_language())):
        words = _words()
        report = MonthlyReport(month=period, as_of=now, until=until, stale_days=project_services.stale_days())
        report.funnel = kpis.funnel(viewer)
        report.changes = kpis.changes(viewer, period)
        report.rates = kpis.rates(viewer, period, today=to_zone(until).date())
        report.funds_received = _funds_received(viewer, period)
        report.signed, report.signed_investment = _signed(viewer, period, words)
        report.key_rows, report.key_total = _key_projects(viewer, period, until, words)
        report.requests, report.requests_total, report.requests_late = _requests(viewer, to_zone(now).date(), words)
        report.stale, report.stale_total, report.stale_with_reason = weekly.no_update_list(
            viewer, now, report.stale_days, words)
    return report


# --- the workbook ----------------------------------------------------------------------------------------------------

TOTALS_COLUMNS = (xl.Column("类别", 16), xl.Column("指标", 30), xl.Column("本月", 14, "number"),
                  xl.Column("上月", 14, "number"), xl.Column("说明", 40))
SIGNED_COLUMNS = (
    xl.Column("序号", 6, "int"), xl.Column("项目名称", 26), xl.Column("投资方", 26), xl.Column("产业集群", 12),
    xl.Column("拟落户园区", 12), xl.Column("计划投资（万元）", 13, "amount"),
    xl.Column("固定资产投资（万元）", 13, "amount"), xl.Column("签约日期", 12, "date"), xl.Column("当前阶段", 10),
    xl.Column("责任人", 10))
KEY_COLUMNS = (
    xl.Column("序号", 6, "int"), xl.Column("项目名称", 22), xl.Column("投资方", 22), xl.Column("当前阶段", 10),
    xl.Column("本月阶段变动", 18), xl.Column("本月洽谈", 8, "int"), xl.Column("最新进展", 40),
    xl.Column("下一节点", 18), xl.Column("到位资金（万元）", 12, "amount"), xl.Column("责任人", 10))
REQUEST_COLUMNS = (
    xl.Column("序号", 6, "int"), xl.Column("项目", 22), xl.Column("企业", 22), xl.Column("诉求类别", 10),
    xl.Column("诉求内容", 40), xl.Column("责任部门", 14), xl.Column("办结时限", 12, "date"), xl.Column("状态", 10),
    xl.Column("是否逾期", 8), xl.Column("负责人", 10))
#: the totals' names on the page
CHANGE_LABELS = {"new_leads": _l("New projects"), "meetings": _l("Meetings"), "stage_moves": _l("Stage moves"),
                 "signed": _l("Signed")}
RATE_LABELS = {"conversion": _l("Conversion lead → signed"), "construction": _l("Construction started (开工率)"),
               "production": _l("In production (投产率)"), "funds": _l("Funds in place (资金到位率)"),
               "milestones": _l("Milestones met on time (履约率)")}
#: the totals' names in the bureau's form
CHANGE_NAMES = {"new_leads": "新增项目", "meetings": "洽谈拜访", "stage_moves": "阶段变动", "signed": "新签约项目"}
RATE_NAMES = {"conversion": "线索转化率（线索→签约）", "construction": "开工率", "production": "投产率",
              "funds": "资金到位率", "milestones": "履约率（节点按期完成）"}


def _percent(rate) -> str:
    return "—" if rate.percent is None else f"{rate.percent:.1f}%"


def _totals_rows(report: MonthlyReport):
    for key in kpis.CHANGES:
        change = report.changes.get(key)
        if change is not None:
            yield ["本月进展", CHANGE_NAMES.get(key, key), change.current.value, change.previous.value, ""]
    yield ["本月进展", "新签约计划投资（万元）", report.signed_investment, None, "本月签约项目的计划投资合计"]
    yield ["本月进展", "到位资金（万元）", report.funds_received, None, "本月到账的到位资金（含更正）"]
    for key in kpis.RATES:
        rate = report.rates.get(key)
        if rate is not None:
            yield ["比率", RATE_NAMES.get(key, key), _percent(rate), None, f"{rate.numerator} / {rate.denominator}"]
    as_of = f"截至 {to_zone(report.as_of):%Y-%m-%d}"
    for row in report.funnel:
        yield ["在库项目", row.label, row.projects.value, None,
               f"{as_of}；计划投资 {row.investment.value:,.2f} 万元"]
    yield ["存在问题", "未办结企业诉求", report.requests_total, None, f"其中逾期 {report.requests_late} 件"]
    yield ["存在问题", f"超过 {report.stale_days} 天未更新的项目", report.stale_total, None,
           f"已说明原因 {report.stale_with_reason} 个"]


def workbook(report: MonthlyReport) -> bytes:
    """The report as .xlsx: totals, signed projects, key projects, open requests, projects with no update."""
    month = f"{report.month.start.year}年{report.month.start.month}月"
    as_of = f"{to_zone(report.as_of):%Y-%m-%d %H:%M}"
    wb = xl.new_workbook()
    xl.table_sheet(wb, "总体情况", title=f"招商工作月报（{month}）",
                   subtitle=f"统计期 {report.month.start} 至 {report.month.end}；制表时间 {as_of}。金额单位：万元。",
                   columns=TOTALS_COLUMNS, rows=_totals_rows(report))
    xl.table_sheet(wb, "本月签约项目", title=f"{month}签约项目",
                   subtitle=f"共 {len(report.signed)} 个，计划投资合计 {report.signed_investment:,.2f} 万元。",
                   columns=SIGNED_COLUMNS, empty="本月无签约项目", rows=(
                       [n, r.name, r.investor, r.cluster, r.park, r.planned_investment, r.fixed_asset_investment,
                        r.signed_on, r.stage, r.owner] for n, r in enumerate(report.signed, start=1)))
    xl.table_sheet(wb, "重点项目进展", title=f"{month}重点项目推进情况",
                   subtitle=f"共 {report.key_total} 个重点项目（在推进的，及本月有阶段变动的）。",
                   columns=KEY_COLUMNS, empty="无重点项目", rows=(
                       [n, r.name, r.investor, r.stage, "\n".join(r.moves), r.meetings, r.progress,
                        r.next_milestone, r.funds_in_place, r.owner] for n, r in enumerate(report.key_rows, start=1)))
    xl.table_sheet(wb, "存在问题-企业诉求", title="未办结的企业诉求",
                   subtitle=f"截至 {as_of}；共 {report.requests_total} 件，其中逾期 {report.requests_late} 件。",
                   columns=REQUEST_COLUMNS, empty="无未办结的企业诉求", rows=(
                       [n, r.project, r.investor, r.category, r.description, r.department, r.deadline, r.status,
                        weekly.YES if r.late else "", r.owner] for n, r in enumerate(report.requests, start=1)))
    xl.table_sheet(wb, "存在问题-未更新项目", title=f"超过 {report.stale_days} 天未更新的项目",
                   subtitle=(f"截至 {as_of}；共 {report.stale_total} 个，已说明原因 {report.stale_with_reason} 个。"),
                   columns=weekly.STALE_COLUMNS, empty="无超期未更新的项目",
                   rows=(r.cells(n) for n, r in enumerate(report.stale, start=1)))
    return xl.to_bytes(wb)
