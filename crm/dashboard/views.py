"""The managers' dashboard page (/dashboard): the KPIs of crm.dashboard.kpis for a period, each chart with its table,
every figure a link to the list of its records. Staff only; an officer sees the same page over what they may see."""
from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from crm.core.timeutil import to_zone, today_in_zone
from crm.projects import stages
from crm.web import signed_in_user, staff_only

from . import kpis, snapshots

bp = Blueprint("dashboard", __name__)
bp.before_request(login_required(staff_only))

#: 1 亿元 in 万元
YI = Decimal(10_000)
#: a breakdown's chart shows this many rows (its table shows them all)
CHART_ROWS = 12

PERIOD_LABELS = {"week": _l("This week"), "month": _l("This month"), "quarter": _l("This quarter"),
                 "year": _l("This year"), "custom": _l("Custom")}
#: the picker's buttons: short, so that four fit across a phone
PERIOD_BUTTONS = {"week": _l("Week"), "month": _l("Month"), "quarter": _l("Quarter"), "year": _l("Year")}
DIMENSION_LABELS = {"cluster": _l("By industry cluster"), "park": _l("By park"), "origin_city": _l("By origin city"),
                    "officer": _l("By officer"), "team": _l("By team"), "source": _l("By source"),
                    "event": _l("By event")}
CHANGE_LABELS = {"new_leads": _l("New leads"), "meetings": _l("Meetings"), "stage_moves": _l("Stage moves"),
                 "signed": _l("Signed projects")}
RATE_LABELS = {"conversion": _l("Conversion lead → signed"), "construction": _l("Construction start rate (开工率)"),
               "production": _l("Production rate (投产率)"), "funds": _l("Funds in place (资金到位率)"),
               "milestones": _l("Milestones on time (履约率)")}
RATE_HINTS = {"conversion": _l("Projects created in the period that are signed or further along now"),
              "construction": _l("Projects signed in the period that started construction"),
              "production": _l("Projects signed in the period that are in production"),
              "funds": _l("Funds in place ÷ planned investment of the projects signed in the period"),
              "milestones": _l("Milestones due in the period that were met on time")}


def money(amount) -> str:
    """万元 as people read it: "8,500 万元", or "1.25 亿元" from 10,000 万元 on."""
    amount = Decimal(amount or 0)
    if abs(amount) >= YI:
        return _("%(amount)s × 100M yuan", amount=f"{amount / YI:,.2f}")
    return _("%(amount)s × 10k yuan", amount=f"{amount:,.0f}" if amount == amount.to_integral_value()
             else f"{amount:,.2f}")


def _amount(value) -> float:
    return float(value or 0)


def _chart(kind: str, categories: list[str], series: list[dict], *, money_axes=(), stack: bool = False) -> dict:
    """What static/js/dashboard.js draws: bars (`bar` upright, `hbar` lying), each series a name, values and a link
    per bar, on value axis 0 or 1 (`axis`); `money_axes` hold 万元 (shown as 万 / 亿)."""
    return {"kind": kind, "categories": categories, "series": series, "money_axes": list(money_axes), "stack": stack}


def _series(name, values, cells) -> dict:
    return {"name": str(name), "values": values, "links": [c.drill.page_url() if c and c.drill else "" for c in cells]}


def funnel_chart(rows: list[kpis.Row]) -> dict:
    return _chart("hbar", [r.label for r in rows], [
        _series(_("Projects"), [r.projects.value for r in rows], [r.projects for r in rows]),
        {**_series(_("Planned investment (10k yuan)"), [_amount(r.investment.value) for r in rows],
                   [r.investment for r in rows]), "axis": 1}], money_axes=[1])


def breakdown_chart(b: kpis.Breakdown) -> dict:
    rows = b.rows[:CHART_ROWS]
    return _chart("hbar", [r.label for r in rows], [
        _series(_("Pipeline investment"), [_amount(r.investment.value) for r in rows], [r.investment for r in rows]),
        _series(_("Signed in the period"), [_amount(r.signed_investment.value) for r in rows],
                [r.signed_investment for r in rows])], money_axes=[0])


def target_chart(rows: list[kpis.TargetRow]) -> dict:
    rows = [r for r in rows if r.target is not None]
    return _chart("hbar", [r.label for r in rows], [
        _series(_("Target"), [_amount(r.target) for r in rows], [None for _r in rows]),
        _series(_("Signed"), [_amount(r.signed.value) for r in rows], [r.signed for r in rows])], money_axes=[0])


def officer_chart(rows: list[kpis.OfficerRow]) -> dict:
    rows = rows[:15]
    return _chart("hbar", [r.name for r in rows], [
        _series(_("Stale projects"), [r.stale.value for r in rows], [r.stale for r in rows]),
        _series(_("Overdue tasks"), [r.overdue_tasks.value if r.overdue_tasks else 0 for r in rows],
                [r.overdue_tasks for r in rows])],
        stack=True)


def _period_links(period: kpis.Period) -> dict:
    """The picker's links: each kind for today, the previous and next period, and today's."""
    today = today_in_zone()
    if period.kind == "custom":
        step = timedelta(days=period.days)
        after = kpis.custom_period(period.start + step, period.end + step)
    else:
        after = kpis.period_for(period.kind, period.end + timedelta(days=1))
    return {"kinds": [(k, str(PERIOD_BUTTONS[k]), str(PERIOD_LABELS[k]), url_for("dashboard.index", period=k))
                      for k in PERIOD_BUTTONS],
            "previous": url_for("dashboard.index", **period.previous().args()),
            "next": url_for("dashboard.index", **after.args()),
            "is_current": period.kind != "custom" and today in period}


@bp.route("/dashboard")
def index():
    me = signed_in_user()
    period = kpis.period_from_args(request.args)
    result = snapshots.pipeline_for(me, period, fresh=request.args.get("fresh") == "1")
    main = [r for r in result.funnel if stages.BY_KEY[r.key].main]
    side = [r for r in result.funnel if not stages.BY_KEY[r.key].main]
    charts = {"funnel": funnel_chart(result.funnel), "targets": target_chart(result.targets),
              "officers": officer_chart(result.officers),
              **{f"by_{d}": breakdown_chart(b) for d, b in result.breakdowns.items()}}
    return render_template(
        "dashboard/index.html", result=result, period=period, links=_period_links(period), main_stages=main,
        side_stages=side, charts=charts, money=money, period_labels=PERIOD_LABELS, dimension_labels=DIMENSION_LABELS,
        change_labels=CHANGE_LABELS, rate_labels=RATE_LABELS, rate_hints=RATE_HINTS,
        computed_at=to_zone(result.computed_at), age_minutes=int(snapshots.age(result).total_seconds() // 60),
        recompute_url=url_for("dashboard.index", **period.args(), fresh="1"),
        funnel_total=sum(r.projects.value for r in main),
        funnel_investment=sum((r.investment.value for r in main), Decimal(0)))
