"""The weekly project report (周报) in the bureau's usual table, and the projects with no update for `stale_days`
(30 by default) with the reason their owner gave.

Which projects the table holds (what a bureau's weekly report lists): every key project (重点项目) still being
worked (not lost, not yet at full capacity), whatever happened this week, and every other project that moved this
week: created, moved between stages, or met (a meeting held on it) between Monday 00:00 and the report's time (the
week's end for a past week), zone time. Key projects come first, then the furthest along (under construction before
signed before negotiating...), then the largest. A project moved to lost this week is listed once, with its reason:
the bureau wants to hear of a loss in the week it happened.

Columns: project, investor (the company; a confidential project's code name for a viewer who may not see its
company), fixed-asset investment (万元), content (项目内容), land needed (亩), contact (the company's main contact: the
first one entered; the phone masked as on the company's page for a viewer who neither holds the company nor manages;
none where the company is a confidential project's secret), park, progress (the stage, then the latest meeting and
the latest stage move, newest first, each with its day and what was said), cluster; then key project and owner.

The no-update list: live projects that are not finished (full capacity) or lost and had no activity for
`stale_days` (the list's and the board's "stale"), key projects first, then the longest silent; each with the reason
their owner gave for this silence (crm.projects.services.no_update_reason), or "no reason given".

Both lists hold only what the viewer may see (`access.project_scope`, meetings through `meeting_scope`); each is cut
at ROW_CAP rows, and the report says so.
"""
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import joinedload, load_only

from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company, Contact
from crm.core.text import mask_phone
from crm.core.timeutil import as_aware, to_zone, utcnow
from crm.dashboard.kpis import Period, period_for
from crm.extensions import db
from crm.i18n import gettext as _
from crm.meetings.ical import meeting_type_labels
from crm.meetings.models import Meeting
from crm.projects import services as project_services
from crm.projects import stages
from crm.projects.models import Project, StageMove
from crm.projects.queries import shown_name, visible_company_ids
from crm.reference import services as reference

from . import workbook as xl

#: rows per list at most (a report, not an export: a longer one says how many were left out)
ROW_CAP = 2000
#: the stages whose projects the no-update list leaves out (never stale: done, or given up)
NEVER_STALE = ("full_capacity", "lost")
#: the table's order: furthest along first, side states last
STAGE_RANK = ("full_capacity", "in_production", "under_construction", "signed", "site_visit", "negotiating", "lead",
              "on_hold", "lost")
#: a meeting's or a move's text in the progress cell, at most
PROGRESS_PART = 160

#: the bureau's form: its fixed words are Chinese, whatever the reader's language (see crm/reports/__init__.py)
TABLE_COLUMNS = (
    xl.Column("序号", 6, "int"), xl.Column("项目名称", 24), xl.Column("投资方", 24),
    xl.Column("固定资产投资（万元）", 13, "amount"), xl.Column("项目内容", 30),
    xl.Column("用地需求（亩）", 10, "amount"),
    xl.Column("联系人", 18), xl.Column("拟落户园区", 12), xl.Column("项目进展", 46), xl.Column("产业集群", 12),
    xl.Column("重点项目", 8), xl.Column("责任人", 10),
)
STALE_COLUMNS = (
    xl.Column("序号", 6, "int"), xl.Column("项目名称", 26), xl.Column("投资方", 24), xl.Column("阶段", 10),
    xl.Column("责任人", 10), xl.Column("最后更新", 12, "date"), xl.Column("未更新天数", 10, "int"),
    xl.Column("未更新原因", 48), xl.Column("原因填写日期", 12, "date"), xl.Column("重点项目", 8),
)
NO_REASON = "未说明原因"
YES = "是"


@dataclass
class WeeklyRow:
    project_id: int
    name: str
    investor: str
    fixed_asset_investment: Decimal | None
    content: str
    land_mu: Decimal | None
    contact: str
    park: str
    progress: str
    cluster: str
    key_project: bool
    owner: str
    stage: str

    def cells(self, number: int) -> list:
        return [number, self.name, self.investor, self.fixed_asset_investment, self.content, self.land_mu,
                self.contact, self.park, self.progress, self.cluster, YES if self.key_project else "", self.owner]


@dataclass
class StaleRow:
    project_id: int
    name: str
    investor: str
    stage: str
    owner: str
    #: the day of the last activity (zone)
    last_activity: date
    idle_days: int
    #: the owner's reason for this silence, "" when none was given
    reason: str
    reason_given: date | None
    key_project: bool

    def cells(self, number: int) -> list:
        return [number, self.name, self.investor, self.stage, self.owner, self.last_activity, self.idle_days,
                self.reason or NO_REASON, self.reason_given, YES if self.key_project else ""]


@dataclass
class WeeklyReport:
    #: the ISO week, Monday to Sunday (zone days)
    week: Period
    #: activity is counted from the week's Monday 00:00 until this moment (now, or the week's end for a past week)
    until: datetime
    stale_days: int
    rows: list[WeeklyRow] = field(default_factory=list)
    #: how many projects the table has before the cap
    rows_total: int = 0
    stale: list[StaleRow] = field(default_factory=list)
    stale_total: int = 0
    #: of the stale projects, those whose owner gave a reason for this silence
    stale_with_reason: int = 0
    #: the moment the no-update list is as of: now (silence and reasons have no history, so a past week's report
    #: shows today's list)
    stale_as_of: datetime | None = None

    @property
    def key(self) -> str:
        """The ISO week's name, 2025-W11."""
        year, week, _day = self.week.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def key_projects(self) -> int:
        return sum(1 for r in self.rows if r.key_project)

    @property
    def stale_without_reason(self) -> int:
        return self.stale_total - self.stale_with_reason

    @property
    def last_day(self) -> date:
        """The last day the report covers: the week's Sunday, or today for the week in progress."""
        return min(self.week.end, to_zone(self.until).date())

    @property
    def filename(self) -> str:
        return f"weekly-report-{self.key}.xlsx"


def week_key(day: date) -> str:
    year, week, _day = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(value: str | None) -> date | None:
    """The Monday of an ISO week written 2025-W11 (as an <input type="week"> sends it), or None."""
    text = (value or "").strip()
    if len(text) != 8 or text[4:6] != "-W" or not (text[:4].isdigit() and text[6:].isdigit()):
        return None
    try:
        return date.fromisocalendar(int(text[:4]), int(text[6:]), 1)
    except ValueError:
        return None


def report_language() -> str:
    """The language of the bureau's forms: the zone's default (BABEL_DEFAULT_LOCALE), whoever reads them."""
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _utc(value: datetime) -> datetime:
    """Bound datetimes in UTC (SQLite compares the stored UTC text and drops a bound value's offset)."""
    return as_aware(value).astimezone(UTC)


def _chunks(values: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _one_line(value: str | None, limit: int = PROGRESS_PART) -> str:
    """A text on one line, without its closing full stop (the cell adds its own punctuation), cut to `limit`."""
    text = " ".join((value or "").split()).rstrip("。；;.， ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- the table -------------------------------------------------------------------------------------------------------

def _table_condition(start: datetime, until: datetime):
    """Key projects still being worked, and projects created, moved or met on in [start, until)."""
    moved = select(StageMove.project_id).where(StageMove.at >= _utc(start), StageMove.at < _utc(until))
    met = select(Meeting.project_id).where(Meeting.project_id.is_not(None), Meeting.deleted_at.is_(None),
                                           Meeting.start_at >= _utc(start), Meeting.start_at < _utc(until))
    return or_(and_(Project.key_project.is_(True), Project.stage.not_in(NEVER_STALE)),
               Project.id.in_(moved), Project.id.in_(met))


def _latest_meetings(viewer: User, project_ids: list[int], until: datetime) -> dict[int, Meeting]:
    """Each project's latest meeting held by `until` that the viewer may see."""
    found: dict[int, Meeting] = {}
    for chunk in _chunks(project_ids):
        rank = func.row_number().over(partition_by=Meeting.project_id,
                                      order_by=(Meeting.start_at.desc(), Meeting.id.desc())).label("rank")
        inner = select(Meeting.id, rank).where(Meeting.project_id.in_(chunk), access.meeting_scope(viewer),
                                               Meeting.start_at < _utc(until)).subquery()
        ids = select(inner.c.id).where(inner.c.rank == 1)
        for meeting in db.session.scalars(select(Meeting).options(load_only(
                Meeting.project_id, Meeting.type, Meeting.start_at, Meeting.summary, Meeting.outcome,
                Meeting.next_step)).where(Meeting.id.in_(ids))):
            found[meeting.project_id] = meeting
    return found


def _latest_moves(project_ids: list[int], until: datetime) -> dict[int, StageMove]:
    """Each project's latest stage move (not its creation) by `until`."""
    found: dict[int, StageMove] = {}
    for chunk in _chunks(project_ids):
        rank = func.row_number().over(partition_by=StageMove.project_id,
                                      order_by=(StageMove.at.desc(), StageMove.id.desc())).label("rank")
        inner = select(StageMove.id, rank).where(StageMove.project_id.in_(chunk), StageMove.from_stage.is_not(None),
                                                 StageMove.at < _utc(until)).subquery()
        for move in db.session.scalars(select(StageMove).where(
                StageMove.id.in_(select(inner.c.id).where(inner.c.rank == 1)))):
            found[move.project_id] = move
    return found


def _main_contacts(company_ids: set[int]) -> dict[int, Contact]:
    """Each company's main contact: its first live contact (the one entered first)."""
    found: dict[int, Contact] = {}
    for chunk in _chunks(sorted(company_ids)):
        rank = func.row_number().over(partition_by=Contact.company_id, order_by=Contact.id).label("rank")
        inner = select(Contact.id, rank).where(Contact.company_id.in_(chunk), Contact.deleted_at.is_(None)).subquery()
        for contact in db.session.scalars(select(Contact).where(
                Contact.id.in_(select(inner.c.id).where(inner.c.rank == 1)))):
            found[contact.company_id] = contact
    return found


def contact_text(viewer: User, project: Project, contact: Contact | None, company_visible: bool) -> str:
    """The main contact as the table shows it: name, title and mobile; the mobile masked for a viewer who may not
    see contact details; nothing where the company is a confidential project's secret from the viewer."""
    if contact is None or (project.confidential and not company_visible):
        return ""
    mobile = contact.mobile if access.can_see_contact_details(viewer, project.company) else mask_phone(contact.mobile)
    return " ".join(p for p in (contact.name, contact.title, mobile) if p)


def progress_text(stage_label: str, meeting: Meeting | None, move: StageMove | None, *, words: dict) -> str:
    """The stage, then the latest meeting and the latest stage move, newest first, each on its own line:
    "2025-03-12 拜访：确认设备进场时间；下一步：签补充协议"."""
    parts: list[tuple[datetime, str]] = []
    if meeting is not None:
        said = _one_line(meeting.summary) or _one_line(meeting.outcome)
        text = f"{to_zone(meeting.start_at):%Y-%m-%d} {words['types'].get(meeting.type, meeting.type)}"
        text += f"：{said}" if said else ""
        if meeting.next_step.strip():
            text += f"；下一步：{_one_line(meeting.next_step)}"
        parts.append((as_aware(meeting.start_at), text))
    if move is not None:
        text = (f"{to_zone(move.at):%Y-%m-%d} {words['stages'].get(move.from_stage, move.from_stage)}→"
                f"{words['stages'].get(move.to_stage, move.to_stage)}")
        said = _one_line(move.reason) or _one_line(move.note)
        text += f"：{said}" if said else ""
        parts.append((as_aware(move.at), text))
    parts.sort(key=lambda p: p[0], reverse=True)
    return "\n".join([stage_label, *(text for _at, text in parts)])


def _words() -> dict:
    """The names the report's cells use, in the current language (the zone's, see `report_language`)."""
    return {"stages": {s.key: str(s.label) for s in stages.STAGES}, "types": meeting_type_labels(),
            "clusters": reference.names("cluster"), "parks": reference.names("park"), "undecided": _("Undecided")}


def _stage_order():
    return case(*[(Project.stage == key, rank) for rank, key in enumerate(STAGE_RANK)], else_=len(STAGE_RANK))


def _table(viewer: User, start: datetime, until: datetime, words: dict) -> tuple[list[WeeklyRow], int]:
    where = (access.project_scope(viewer), _table_condition(start, until))
    total = db.session.scalar(select(func.count()).select_from(Project).where(*where))
    projects = list(db.session.scalars(
        select(Project).options(joinedload(Project.company).load_only(Company.name, Company.owner_id),
                                joinedload(Project.owner).load_only(User.name))
        .where(*where)
        .order_by(Project.key_project.desc(), _stage_order(), Project.planned_investment.desc().nulls_last(),
                  Project.id)
        .limit(ROW_CAP)))
    ids = [p.id for p in projects]
    company_ids = visible_company_ids(viewer, projects)
    meetings, moves = _latest_meetings(viewer, ids, until), _latest_moves(ids, until)
    contacts = _main_contacts({p.company_id for p in projects})
    undecided = words["undecided"]
    rows = []
    for p in projects:
        visible = p.company_id in company_ids
        rows.append(WeeklyRow(
            project_id=p.id, name=p.name, investor=shown_name(p, company_ids),
            fixed_asset_investment=p.fixed_asset_investment, content=p.description or "", land_mu=p.land_mu,
            contact=contact_text(viewer, p, contacts.get(p.company_id), visible),
            park=words["parks"].get(p.park, p.park) if p.park else undecided,
            progress=progress_text(words["stages"].get(p.stage, p.stage), meetings.get(p.id), moves.get(p.id),
                                   words=words),
            cluster=words["clusters"].get(p.cluster, p.cluster) if p.cluster else "",
            key_project=p.key_project, owner=p.owner.name if p.owner else "", stage=p.stage))
    return rows, total


# --- the no-update list ----------------------------------------------------------------------------------------------

def stale_condition(now: datetime, days: int):
    """Projects not finished or lost with no activity for `days` before `now`: the list's and the board's "stale"
    (the viewer's scope adds "live")."""
    return and_(Project.stage.not_in(NEVER_STALE), Project.last_activity_at < _utc(now - timedelta(days=days)))


def no_update_list(viewer: User, now: datetime, days: int, words: dict) -> tuple[list[StaleRow], int, int]:
    """(rows up to ROW_CAP, how many there are, how many carry a reason)."""
    where = (access.project_scope(viewer), stale_condition(now, days))
    total, with_reason = db.session.execute(
        select(func.count(), func.count(case((project_services.no_update_reason_counts(), 1))))
        .select_from(Project).where(*where)).one()
    projects = list(db.session.scalars(
        select(Project).options(joinedload(Project.company).load_only(Company.name),
                                joinedload(Project.owner).load_only(User.name))
        .where(*where).order_by(Project.key_project.desc(), Project.last_activity_at, Project.id).limit(ROW_CAP)))
    company_ids = visible_company_ids(viewer, projects)
    today = to_zone(now).date()
    rows = []
    for p in projects:
        last = to_zone(p.last_activity_at).date()
        reason = project_services.no_update_reason(p)
        rows.append(StaleRow(
            project_id=p.id, name=p.name, investor=shown_name(p, company_ids),
            stage=words["stages"].get(p.stage, p.stage), owner=p.owner.name if p.owner else "", last_activity=last,
            idle_days=(today - last).days, reason=reason,
            reason_given=to_zone(p.no_update_reason_at).date() if reason else None, key_project=p.key_project))
    return rows, total, with_reason


# --- the report ------------------------------------------------------------------------------------------------------

def weekly_report(viewer: User, *, week: date | None = None, now: datetime | None = None) -> WeeklyReport:
    """The report of the ISO week holding `week` (default: this week) for `viewer`, as of `now`: the table's
    activity from the week's Monday until now (or the week's end, for a past week), the no-update list as of now.
    Names are in the zone's language (the bureau's form)."""
    now = as_aware(now or utcnow()).astimezone(UTC)
    period = period_for("week", week or to_zone(now).date())
    until = min(now, period.ends_before())
    days = project_services.stale_days()
    with force_locale(report_language()):
        words = _words()
        rows, rows_total = _table(viewer, period.starts_at(), until, words)
        stale, stale_total, with_reason = no_update_list(viewer, now, days, words)
    return WeeklyReport(week=period, until=until, stale_days=days, rows=rows, rows_total=rows_total, stale=stale,
                        stale_total=stale_total, stale_with_reason=with_reason, stale_as_of=now)


def workbook(report: WeeklyReport) -> bytes:
    """The report as .xlsx: the table (sheet 周报) and the no-update list (sheet 超N天未更新)."""
    first, last = report.week.start.isoformat(), report.last_day.isoformat()
    until = f"{to_zone(report.until):%Y-%m-%d %H:%M}"
    wb = xl.new_workbook()
    cut = f"（仅列前 {ROW_CAP} 项，共 {report.rows_total} 项）" if report.rows_total > len(report.rows) else ""
    xl.table_sheet(
        wb, "周报", title=f"招商项目周报（{first} 至 {last}）",
        subtitle=(f"{report.key}；统计至 {until}；共 {report.rows_total} 个项目，其中重点项目 {report.key_projects} 个"
                  f"{cut}。列入：在推进的重点项目，及本周新增、阶段变动或有洽谈记录的项目。金额单位：万元；用地：亩。"),
        columns=TABLE_COLUMNS, rows=(row.cells(n) for n, row in enumerate(report.rows, start=1)),
        empty="本周无项目进展")
    cut = f"（仅列前 {ROW_CAP} 项）" if report.stale_total > len(report.stale) else ""
    as_of = f"{to_zone(report.stale_as_of or report.until):%Y-%m-%d %H:%M}"
    xl.table_sheet(
        wb, f"超{report.stale_days}天未更新", title=f"超过 {report.stale_days} 天未更新的项目",
        subtitle=(f"截至 {as_of}；共 {report.stale_total} 个，已说明原因 {report.stale_with_reason} 个，"
                  f"未说明原因 {report.stale_without_reason} 个{cut}。"),
        columns=STALE_COLUMNS, rows=(row.cells(n) for n, row in enumerate(report.stale, start=1)),
        empty="无超期未更新的项目")
    return xl.to_bytes(wb)
