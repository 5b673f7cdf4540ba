"""The dashboard page and the admins' targets page: who may open them, what they show, that every figure is a link
to its list, "—" for a rate without a denominator, and no script a browser could run besides the vendored ones."""
import json
from decimal import Decimal

from bs4 import BeautifulSoup
from sqlalchemy import select

from crm.core.timeutil import today_in_zone
from crm.dashboard.models import AnnualTarget
from crm.extensions import db

from ..security.helpers import client_for, executable_content
from .conftest import EI, GF

#: the dashboard's own scripts (the vendored chart library and the file that draws the charts)
DASHBOARD_SCRIPTS = {"<script src='/static/vendor/echarts/echarts.min.js'></script>",
                     "<script src='/static/js/dashboard.js'></script>"}


def page(app, user, **args):
    response = client_for(app, user).get("/dashboard", query_string=args)
    return response, BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_staff_open_the_dashboard_liaisons_do_not(zone, app):
    for user in (zone.manager, zone.a1, zone.admin):
        assert page(app, user)[0].status_code == 200
    assert page(app, zone.liaison)[0].status_code == 403
    anonymous = app.test_client().get("/dashboard")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_page_shows_the_periods_figures_each_linked_to_its_list(zone, app):
    response, soup = page(app, zone.manager, period="month", day="2026-03-10")
    assert response.status_code == 200
    assert "2026-03-01 – 2026-03-31" in soup.select_one('[data-test="period"]').get_text(" ", strip=True)
    changes = soup.select_one('[data-test="changes"]')
    values = [v.get_text(strip=True) for v in changes.select(".kpi-value")]
    assert values == ["5", "3", "9", "3"]                       # new leads, meetings, stage moves, signed (test_kpis)
    link = changes.select(".kpi-value a")[3]["href"]
    assert link == "/projects?stage=signed_or_later&signed_from=2026-03-01&signed_to=2026-03-31"
    rates = {v["data-rate"]: v.get_text(strip=True) for v in soup.select("[data-rate]")}
    # conversion 2/5, 开工率 2/3, 投产率 1/3, 资金到位率 4000/13000; 履约率 over March by today (all due): 2/6
    assert rates == {"conversion": "40.0%", "construction": "66.7%", "production": "33.3%", "funds": "30.8%",
                     "milestones": "33.3%"}
    # the funnel's table: every count a link to the list of that stage
    funnel = soup.select_one('[data-test="funnel"] table')
    assert funnel.find("a", href="/projects?stage=under_construction").get_text(strip=True) == "2"
    # a breakdown's table links its rows; the chart's data carries the same links
    cluster = soup.select_one('[data-breakdown="cluster"]')
    assert cluster.find("a", href=f"/projects?cluster={EI}&stage=pipeline").get_text(strip=True) == "6"
    chart = json.loads(cluster.select_one("[data-chart]")["data-chart"])
    assert chart["categories"][:2] == ["电子信息", "绿色食品"]
    assert chart["series"][0]["values"][:2] == [16500.0, 9000.0]
    assert chart["series"][0]["links"][0] == f"/projects?cluster={EI}&stage=pipeline"
    # the targets' table
    targets = soup.select_one('[data-test="targets"]').get_text(" ", strip=True)
    assert "50.0%" in targets and "80.0%" in targets
    # overdue tasks per officer link to the officer's task list
    officers = soup.select_one('[data-test="officers"]')
    assert officers.find("a", href=f"/tasks?owner_id={zone.b1.id}&expand=overdue") is not None
    # the meetings figure opens the meetings list over the period (test_the_meetings_figure_opens_the_meetings_counted)
    assert changes.select(".kpi-value a")[1]["href"].startswith("/meetings?start_from=")


def test_the_meetings_figure_opens_the_meetings_counted(zone, app):
    """The meetings figure (3 in March for the manager, 2 for officer a1: test_kpis) links the meetings list filtered
    to the period's moments; the list shows exactly those meetings, and for the previous period February's."""
    for user, expected in ((zone.manager, 3), (zone.a1, 2)):
        _response, soup = page(app, user, period="month", day="2026-03-10")
        figure = soup.select_one('[data-test="changes"]').select(".kpi-value a")[1]
        assert figure.get_text(strip=True) == str(expected)
        href = figure["href"]
        # 00:00 on 1 March and on 1 April in Shanghai, in UTC
        assert href == ("/meetings?start_from=2026-02-28T16%3A00%3A00%2B00%3A00"
                        "&start_before=2026-03-31T16%3A00%3A00%2B00%3A00")
        listed = client_for(app, user).get(href)
        assert listed.status_code == 200
        soup = BeautifulSoup(listed.get_data(as_text=True), "html.parser")
        assert len(soup.select("tr[data-meeting-id]")) == expected
        said = soup.select_one('[data-test="meetings-period"]').get_text(" ", strip=True)
        assert "2026-03-01" in said and "2026-03-31" in said and str(expected) in said
    bad = client_for(app, zone.manager).get("/meetings", query_string={"start_from": "March"})
    assert bad.status_code == 400 and b'data-error-for="start_from"' in bad.data


def test_an_empty_period_shows_dashes_not_errors(zone, app):
    response, soup = page(app, zone.manager, period="year", day="2031-01-01")
    assert response.status_code == 200
    assert {v.get_text(strip=True) for v in soup.select("[data-rate]")} == {"—"}
    assert [v.get_text(strip=True) for v in soup.select('[data-test="changes"] .kpi-value')] == ["0"] * 4


def test_an_officer_is_told_the_figures_leave_out_other_teams_secrets(zone, app):
    response, soup = page(app, zone.a1, period="month", day="2026-03-10")
    assert soup.select_one('[data-test="scope-note"]') is not None
    assert [v.get_text(strip=True) for v in soup.select('[data-test="changes"] .kpi-value')] == ["4", "2", "8", "2"]
    assert "深圳保密电子" not in response.get_data(as_text=True)      # the confidential project's company
    # another team's overdue tasks are not the officer's to see
    row = next(tr for tr in soup.select('[data-test="officers"] tbody tr') if "李三" in tr.get_text())
    assert row.find_all("td")[-1].get_text(strip=True) == "—"
    _response, manager = page(app, zone.manager)
    assert manager.select_one('[data-test="scope-note"]') is None


def test_custom_periods_and_the_picker(zone, app):
    response, soup = page(app, zone.manager, period="custom", start="2026-03-31", end="2026-03-31")
    assert response.status_code == 200
    assert [v.get_text(strip=True) for v in soup.select('[data-test="changes"] .kpi-value')][0] == "1"   # P4
    picker = soup.select_one('[data-test="period-picker"]')
    hrefs = [a["href"] for a in picker.select("a")]
    assert "/dashboard?period=custom&start=2026-03-30&end=2026-03-30" in hrefs         # the day before
    assert "/dashboard?period=custom&start=2026-04-01&end=2026-04-01" in hrefs         # the day after
    assert "/dashboard?period=quarter" in hrefs
    # nonsense falls back to this month
    assert page(app, zone.manager, period="fortnight", day="x", start="\x00")[0].status_code == 200


def test_the_page_runs_no_script_but_the_vendored_ones(zone, app):
    response, _soup = page(app, zone.manager, period="month", day="2026-03-10")
    html = response.get_data(as_text=True)
    found = set(executable_content(html))
    assert DASHBOARD_SCRIPTS <= found                    # the two scripts are loaded...
    assert found - DASHBOARD_SCRIPTS == set()            # ...and nothing else but the base page's
    assert "<script>" not in html


def test_a_stored_name_with_markup_stays_text_in_the_charts_data(zone, app):
    payload = "<img src=x onerror=alert(1)>'\"王"
    zone.a1.name = payload
    db.session.commit()
    response, soup = page(app, zone.manager, period="month", day="2026-03-10")
    found = set(executable_content(response.get_data(as_text=True))) - DASHBOARD_SCRIPTS
    assert found == set()
    officer = soup.select_one('[data-breakdown="officer"] [data-chart]')
    assert payload in json.loads(officer["data-chart"])["categories"]


# --- targets ----------------------------------------------------------------------------------------------------------

def test_admins_set_and_remove_targets(zone, app):
    client = client_for(app, zone.admin)
    form = client.get("/admin/targets", query_string={"year": "2026"})
    assert form.status_code == 200
    soup = BeautifulSoup(form.get_data(as_text=True), "html.parser")
    assert soup.find("input", id=f"cluster-{EI}")["value"] == "20000"
    saved = client.post("/admin/targets?year=2026", data={
        "year": "2026", f"cluster-{EI}": "25,000", f"cluster-{GF}": "", f"team-{zone.team_a.id}": "12000.5"})
    assert saved.status_code == 302
    rows = {(t.cluster, t.team_id): t.amount for t in db.session.scalars(select(AnnualTarget)
                                                                          .where(AnnualTarget.year == 2026))}
    assert rows == {(EI, None): Decimal(25000), (None, zone.team_a.id): Decimal("12000.5"),
                    (None, zone.team_b.id): Decimal(10000)}            # GF removed, team B untouched (not sent)


def test_a_bad_target_is_refused_with_its_field_named(zone, app):
    client = client_for(app, zone.admin)
    bad = client.post("/admin/targets?year=2027", data={"year": "2027", f"cluster-{EI}": "a lot",
                                                        f"cluster-{GF}": "-5", f"team-{zone.team_a.id}": "100"})
    assert bad.status_code == 422
    soup = BeautifulSoup(bad.get_data(as_text=True), "html.parser")
    assert "is-invalid" in soup.find("input", id=f"cluster-{EI}")["class"]
    assert soup.find("input", id=f"cluster-{EI}")["value"] == "a lot"
    assert db.session.scalar(select(AnnualTarget).where(AnnualTarget.year == 2027)) is None   # nothing saved
    assert client.post("/admin/targets", data={"year": "1066", f"cluster-{EI}": "1"}).status_code == 422


def test_only_admins_reach_the_targets_page(zone, app):
    for user in (zone.manager, zone.a1, zone.liaison):
        assert client_for(app, user).get("/admin/targets").status_code == 403
    # an unreadable year shows the current one
    shown = client_for(app, zone.admin).get("/admin/targets", query_string={"year": "nope"})
    assert shown.status_code == 200
    year = BeautifulSoup(shown.get_data(as_text=True), "html.parser").find("input", attrs={"name": "year"})["value"]
    assert int(year) == today_in_zone().year
