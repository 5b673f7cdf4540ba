"""The dashboard's tables as .xlsx: every figure of `crm.dashboard.kpis.pipeline` for the viewer and the period the
page shows (the same function, so the file and the page never disagree), one sheet per table."""
from decimal import Decimal

from flask_babel import force_locale

from crm.auth.models import User
from crm.core.timeutil import to_zone
from crm.dashboard import kpis

from . import workbook as xl
from .monthly import CHANGE_NAMES, RATE_NAMES
from .weekly import report_language

DIMENSION_NAMES = {"cluster": "产业集群", "park": "园区", "origin_city": "来源城市", "officer": "责任人",
                   "team": "团队", "source": "项目来源", "event": "招商活动"}
PERIOD_NAMES = {"week": "周", "month": "月", "quarter": "季度", "year": "年", "custom": "自定义"}


def _percent(value) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _amount(cell) -> Decimal | None:
    return None if cell is None else cell.value


def _count(cell):
    """A count, or "—" where the viewer may not see it (another team's overdue tasks, for an officer)."""
    return "—" if cell is None else cell.value


def workbook(viewer: User, period: kpis.Period) -> tuple[bytes, str, int]:
    """(the .xlsx, its file name, its rows) of the dashboard for `viewer` over `period`, names in the zone's
    language."""
    with force_locale(report_language()):
        result = kpis.pipeline(viewer, period)
    span = f"{period.start} 至 {period.end}"
    scope = "含全部保密项目" if result.scope == "all" else "仅含本人可见的项目（其他团队的保密项目不计）"
    computed = f"{to_zone(result.computed_at):%Y-%m-%d %H:%M}"
    subtitle = (f"统计期（{PERIOD_NAMES.get(period.kind, period.kind)}）{span}；对比期 {result.previous.start} 至 "
                f"{result.previous.end}；{scope}；计算于 {computed}。金额单位：万元。")
    wb = xl.new_workbook()
    xl.table_sheet(wb, "阶段漏斗", title="项目阶段漏斗（当前）", subtitle=subtitle,
                   columns=(xl.Column("阶段", 14), xl.Column("项目数", 10, "int"),
                            xl.Column("计划投资（万元）", 16, "amount")),
                   rows=([r.label, r.projects.value, r.investment.value] for r in result.funnel))
    xl.table_sheet(wb, "本期变化", title="本期与上期对比", subtitle=subtitle,
                   columns=(xl.Column("指标", 18), xl.Column("本期", 10, "number"), xl.Column("上期", 10, "number"),
                            xl.Column("增减", 10, "number"), xl.Column("增减幅度", 12)),
                   rows=([CHANGE_NAMES.get(k, k), c.current.value, c.previous.value, c.delta, _percent(c.percent)]
                         for k, c in result.changes.items()))
    xl.table_sheet(wb, "比率", title="转化与履约比率", subtitle=subtitle,
                   columns=(xl.Column("指标", 26), xl.Column("比率", 10), xl.Column("分子", 12, "number"),
                            xl.Column("分母", 12, "number")),
                   rows=([RATE_NAMES.get(k, k), _percent(r.percent), r.numerator, r.denominator]
                         for k, r in result.rates.items()))
    for dimension, breakdown in result.breakdowns.items():
        name = DIMENSION_NAMES.get(dimension, dimension)
        xl.table_sheet(wb, f"按{name}", title=f"按{name}分类", subtitle=subtitle,
                       columns=(xl.Column(name, 20), xl.Column("在库项目数", 10, "int"),
                                xl.Column("计划投资（万元）", 16, "amount"), xl.Column("本期签约数", 10, "int"),
                                xl.Column("本期签约投资（万元）", 18, "amount")),
                       rows=([r.label, r.projects.value, r.investment.value, _amount(r.signed),
                              _amount(r.signed_investment)]
                             for r in breakdown.rows))
    xl.table_sheet(wb, "年度目标", title=f"{result.target_year} 年度目标完成情况", subtitle=subtitle,
                   columns=(xl.Column("类别", 10), xl.Column("名称", 20), xl.Column("年度目标（万元）", 16, "amount"),
                            xl.Column("已签约投资（万元）", 16, "amount"), xl.Column("完成率", 10)),
                   rows=(["产业集群" if t.kind == "cluster" else "团队", t.label, t.target, t.signed.value,
                          _percent(t.completion.percent)] for t in result.targets))
    xl.table_sheet(wb, "人员", title="各责任人超期未更新项目与逾期待办", subtitle=subtitle,
                   columns=(xl.Column("姓名", 14), xl.Column("团队", 14), xl.Column("超期未更新项目", 14, "int"),
                            xl.Column("逾期待办", 10, "number")),
                   rows=([o.name, o.team, o.stale.value, _count(o.overdue_tasks)] for o in result.officers))
    rows = sum(ws.max_row - xl.HEADER_ROW for ws in wb.worksheets)
    return xl.to_bytes(wb), f"dashboard-{period.start}-{period.end}.xlsx", rows
