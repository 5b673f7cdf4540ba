"""Each KPI on the hand-built zone of conftest.py (March 2026, Asia/Shanghai), for the manager (everything) and for
officer a1 of team A (team B's confidential P8 left out). The arithmetic is in the comments; dates are zone days."""
from datetime import date
from decimal import Decimal

import pytest

from crm.dashboard import kpis
from crm.extensions import db

from .conftest import EI, GF, TODAY

MARCH = kpis.period_for("month", date(2026, 3, 10))


def values(changes: dict) -> dict:
    return {k: (c.current.value, c.previous.value) for k, c in changes.items()}


def test_funnel_counts_and_sums_every_live_project_by_stage_now(zone):
    rows = {r.key: (r.projects.value, r.investment.value) for r in kpis.funnel(zone.manager)}
    # lead: P1 1000 + P4 4000 + P5 5000 + P9 (none) = 4 projects, 10000; P10 is deleted
    assert rows["lead"] == (4, Decimal(10000))
    # negotiating: P6 (signed, then moved back) 600
    assert rows["negotiating"] == (1, Decimal(600))
    assert rows["site_visit"] == (0, Decimal(0))
    assert rows["signed"] == (1, Decimal(2000))                         # P2
    assert rows["under_construction"] == (2, Decimal(3900))             # P3 3000 + P12 900
    assert rows["in_production"] == (1, Decimal(8000))                  # P8 (confidential)
    assert rows["full_capacity"] == (1, Decimal(1000))                  # P11
    assert rows["on_hold"] == (0, Decimal(0))
    assert rows["lost"] == (1, Decimal(700))                            # P7
    assert list(rows) == ["lead", "negotiating", "site_visit", "signed", "under_construction", "in_production",
                          "full_capacity", "on_hold", "lost"]


def test_officer_funnel_leaves_out_other_teams_confidential_projects(zone):
    rows = {r.key: r.projects.value for r in kpis.funnel(zone.a1)}
    assert rows["in_production"] == 0                                   # P8 is team B's secret
    assert rows["lead"] == 4                                            # P4, P5 of team B are not confidential
    b_rows = {r.key: r.projects.value for r in kpis.funnel(zone.b1)}
    assert b_rows["in_production"] == 1                                 # its own team sees it


def test_breakdown_by_cluster(zone):
    rows = {r.key: r for r in kpis.breakdown(zone.manager, "cluster", MARCH).rows}
    ei, gf, none = rows[EI], rows[GF], rows[None]
    # pipeline (all but lost) now: EI = P1 1000 + P2 2000 + P4 4000 + P6 600 + P8 8000 + P12 900 = 6 projects, 16500
    assert (ei.projects.value, ei.investment.value) == (6, Decimal(16500))
    # signed in March and still signed or later: EI = P2 2000 + P8 8000 (P6 fell back) = 2, 10000
    assert (ei.signed.value, ei.signed_investment.value) == (2, Decimal(10000))
    # GF = P3 3000 + P5 5000 + P11 1000 = 3, 9000 (P7 is lost); signed in March: P3 3000
    assert (gf.projects.value, gf.investment.value, gf.signed.value, gf.signed_investment.value) == \
        (3, Decimal(9000), 1, Decimal(3000))
    # no cluster: P9 (no planned investment) = 1, 0
    assert (none.projects.value, none.investment.value) == (1, Decimal(0))
    # the largest first, "not set" last
    assert [r.key for r in kpis.breakdown(zone.manager, "cluster", MARCH).rows] == [EI, GF, None]


def test_breakdowns_by_park_city_officer_team_source_and_event(zone):
    def table(dimension, viewer=zone.manager):
        return {r.key: (r.projects.value, r.investment.value, r.signed.value)
                for r in kpis.breakdown(viewer, dimension, MARCH).rows}

    # dunhou: P1 1000 + P3 3000 + P6 600 + P8 8000 = 4, 12600; signed in March: P3, P8
    # fenghuang: P2 2000 + P5 5000 = 2, 7000; signed P2. Undecided: P4 4000 + P9 + P11 1000 + P12 900 = 4, 5900
    assert table("park") == {"dunhou": (4, Decimal(12600), 2), "fenghuang": (2, Decimal(7000), 1),
                             None: (4, Decimal(5900), 0)}
    # the company's origin city: shenzhen = P1, P2, P6 (立讯) + P5, P8 (保密电子) = 1000+2000+600+5000+8000 = 16600
    # dongguan = P3, P11 (华信) + P4, P12 (二组科技) = 3000+1000+4000+900 = 8900; none: P9 (本地企业, P7 is lost)
    assert table("origin_city") == {"shenzhen": (5, Decimal(16600), 2), "dongguan": (4, Decimal(8900), 1),
                                    None: (1, Decimal(0), 0)}
    # a1: P1, P2, P6, P9 = 3600; a2: P3, P11 = 4000; b1: P4, P5, P8, P12 = 17900
    assert table("officer") == {zone.a1.id: (4, Decimal(3600), 1), zone.a2.id: (2, Decimal(4000), 1),
                                zone.b1.id: (4, Decimal(17900), 1)}
    assert table("team") == {zone.team_a.id: (6, Decimal(7600), 2), zone.team_b.id: (4, Decimal(17900), 1)}
    # P1 came from an event (event 7), P2 by referral, the rest have no source: the pipeline's 25500 (16500 EI +
    # 9000 GF) − 1000 − 2000 = 22500
    assert table("source") == {None: (8, Decimal(22500), 2), "event": (1, Decimal(1000), 0),
                               "referral": (1, Decimal(2000), 1)}
    assert table("event") == {None: (9, Decimal(24500), 3), 7: (1, Decimal(1000), 0)}          # 25500 − 1000
    # officer a1 does not see P8: team B = P4 4000 + P5 5000 + P12 900 = 3, 9900, nothing signed in March
    assert table("team", zone.a1)[zone.team_b.id] == (3, Decimal(9900), 0)


def test_breakdown_rows_carry_labels(zone):
    rows = {r.key: r.label for r in kpis.breakdown(zone.manager, "cluster", MARCH).rows}
    assert rows[EI] == "电子信息" and rows[GF] == "绿色食品"
    assert {r.key: r.label for r in kpis.breakdown(zone.manager, "officer", MARCH).rows}[zone.a1.id] == "王一"
    with pytest.raises(ValueError):
        kpis.breakdown(zone.manager, "planet", MARCH)


def test_new_leads_meetings_moves_and_signings_against_the_previous_month(zone):
    changes = kpis.changes(zone.manager, MARCH)
    assert values(changes) == {
        # created in March: P2 (03-01 00:00), P1, P7, P8, P4 (03-31 23:30) = 5; not P5 (04-01 00:00, i.e.
        # 03-31 16:00 UTC) nor the deleted P10. February: P3 (02-10), P9 (02-28 23:59) = 2
        "new_leads": (5, 2),
        # March: 03-01 00:00, 03-15, 03-31 23:59:59 = 3 (not 04-01 00:00); February: 02-28 23:59 = 1
        "meetings": (3, 1),
        # March: P2 ×2, P3 ×2, P6 ×2 (→signed, back to negotiating), P7 ×2 (→signed, →lost), P8 ×1 = 9 (creations
        # are not moves); February: P6 →negotiating 02-28 23:59:59, P11 →full capacity 02-01 = 2
        "stage_moves": (9, 2),
        # signed in March and still signed or later: P2, P3, P8 = 3 (P6 fell back, P7 was lost); February: none
        # (P11 signed in January)
        "signed": (3, 0),
    }
    assert changes["new_leads"].delta == 3 and changes["new_leads"].percent == 150.0   # (5 − 2) ÷ 2
    assert changes["signed"].percent is None                                            # nothing before: no "+∞ %"
    # of the 9 moves one went back along the main path: P6 signed → negotiating (→ lost is a side state)
    assert kpis.backward_moves(zone.manager, MARCH) == 1


def test_officer_changes_leave_out_the_confidential_project(zone):
    # without P8: new leads 5 − 1, its meeting on 03-15, its one move, its signing
    assert values(kpis.changes(zone.a1, MARCH)) == {"new_leads": (4, 2), "meetings": (2, 1), "stage_moves": (8, 2),
                                                    "signed": (2, 0)}


def test_rates_for_the_manager(zone):
    rates = kpis.rates(zone.manager, MARCH, today=TODAY)
    # conversion: created in March P1, P2, P4, P7, P8 = 5; signed or later now: P2, P8 = 2 → 2/5
    assert (rates["conversion"].numerator, rates["conversion"].denominator) == (2, 5)
    assert rates["conversion"].value == Decimal("0.4") and rates["conversion"].percent == 40.0
    # 开工率: signed in March P2, P3, P8 = 3; under construction or further: P3, P8 = 2 → 2/3
    assert (rates["construction"].numerator, rates["construction"].denominator) == (2, 3)
    assert rates["construction"].percent == 66.7
    # 投产率: in production or further: P8 = 1 → 1/3
    assert (rates["production"].numerator, rates["production"].denominator) == (1, 3)
    # 资金到位率: funds P2 500 + P3 1500 + P8 2000 = 4000 ÷ planned 2000 + 3000 + 8000 = 13000
    assert (rates["funds"].numerator, rates["funds"].denominator) == (Decimal(4000), Decimal(13000))
    assert rates["funds"].percent == 30.8
    # 履约率: planned 03-01..03-20 (today): P3 03-05 on time, 03-10 late, 03-18 open; P8 03-15 early; P7 (lost)
    # 03-02 open = 5 due; met on time: 03-05 and 03-15 = 2 → 2/5 (03-25 is not due yet, 02-25 is February)
    assert (rates["milestones"].numerator, rates["milestones"].denominator) == (2, 5)
    assert rates["milestones"].percent == 40.0


def test_rates_for_an_officer(zone):
    rates = kpis.rates(zone.a1, MARCH, today=TODAY)
    assert (rates["conversion"].numerator, rates["conversion"].denominator) == (1, 4)            # P2 of P1, P2, P4, P7
    assert (rates["construction"].numerator, rates["construction"].denominator) == (1, 2)        # P3 of P2, P3
    assert (rates["production"].numerator, rates["production"].denominator) == (0, 2)
    assert rates["production"].percent == 0.0                                                    # 0, not "—"
    assert (rates["funds"].numerator, rates["funds"].denominator) == (Decimal(2000), Decimal(5000))  # 500+1500
    assert (rates["milestones"].numerator, rates["milestones"].denominator) == (1, 4)            # P8's left out


def test_milestone_rate_counts_only_what_is_due(zone):
    # on the last day of March all five of P3's March milestones plus P8's and P7's are due: 03-25 is now due too
    # and open → 2 met of 6
    rates = kpis.rates(zone.manager, MARCH, today=date(2026, 3, 31))
    assert (rates["milestones"].numerator, rates["milestones"].denominator) == (2, 6)
    # before the month began nothing of it is due: no denominator, no rate
    early = kpis.rates(zone.manager, MARCH, today=date(2026, 2, 27))
    assert early["milestones"].denominator == 0 and early["milestones"].value is None
    assert early["milestones"].drill is None


def test_an_empty_period_gives_zeros_and_no_rates(zone):
    empty = kpis.period_for("year", date(2031, 6, 1))
    result = kpis.pipeline(zone.manager, empty)
    assert all(c.current.value == 0 and c.previous.value == 0 and c.percent is None
               for c in result.changes.values())
    assert {k: (r.numerator, r.denominator, r.value, r.percent) for k, r in result.rates.items()} == {
        "conversion": (0, 0, None, None), "construction": (0, 0, None, None), "production": (0, 0, None, None),
        "funds": (0, 0, None, None), "milestones": (0, 0, None, None)}
    assert result.backward_moves == 0
    # the funnel is "now", whatever the period
    assert sum(r.projects.value for r in result.funnel) == 11


def test_a_week_and_its_midnight_boundaries(zone):
    # the week of Monday 2026-03-30: P4 (03-31 23:30) is in it, P5 (04-01 00:00) too; the meeting at 03-31
    # 23:59:59 and the one at 04-01 00:00 both
    week = kpis.period_for("week", date(2026, 4, 1))
    assert (week.start, week.end) == (date(2026, 3, 30), date(2026, 4, 5))
    assert values(kpis.changes(zone.manager, week))["new_leads"] == (2, 0)
    assert values(kpis.changes(zone.manager, week))["meetings"] == (2, 0)
    # one day, 2026-03-31: P4 but not P5 (which is 03-31 16:00 UTC, a UTC day would count it)
    day = kpis.custom_period(date(2026, 3, 31), date(2026, 3, 31))
    assert values(kpis.changes(zone.manager, day))["new_leads"] == (1, 0)
    # 2026-03-01 alone: P2, created at 00:00, and the meeting at 00:00; the day before holds P9 (02-28 23:59),
    # the February meeting and P6's move at 23:59:59
    first = kpis.custom_period(date(2026, 3, 1), date(2026, 3, 1))
    assert values(kpis.changes(zone.manager, first)) == {"new_leads": (1, 1), "meetings": (1, 1),
                                                         "stage_moves": (0, 1), "signed": (0, 0)}


def test_targets_per_cluster_and_team(zone):
    rows = {(r.kind, r.key): r for r in kpis.target_progress(zone.manager, MARCH)}
    # signed 1 January – 31 March 2026, still standing: P2 2000 (EI, A), P3 3000 (GF, A), P8 8000 (EI, B),
    # P11 1000 (GF, A, signed 01-20); P12 was signed in 2025, P6 fell back, P7 was lost
    ei, gf = rows[("cluster", EI)], rows[("cluster", GF)]
    assert (ei.target, ei.signed.value, ei.completion.percent) == (Decimal(20000), Decimal(10000), 50.0)   # 10000/20000
    assert (gf.target, gf.signed.value, gf.completion.percent) == (Decimal(5000), Decimal(4000), 80.0)     # 4000/5000
    team_a, team_b = rows[("team", zone.team_a.id)], rows[("team", zone.team_b.id)]
    assert (team_a.signed.value, team_a.completion.percent) == (Decimal(6000), 50.0)                      # 6000/12000
    assert (team_b.signed.value, team_b.completion.percent) == (Decimal(8000), 80.0)                      # 8000/10000
    assert [r.kind for r in kpis.target_progress(zone.manager, MARCH)] == ["cluster", "cluster", "team", "team"]
    # an officer of team A does not see P8: EI 2000 / 20000, team B 0 / 10000
    officer = {(r.kind, r.key): r for r in kpis.target_progress(zone.a1, MARCH)}
    assert officer[("cluster", EI)].completion.percent == 10.0
    assert officer[("team", zone.team_b.id)].completion.percent == 0.0


def test_targets_are_of_the_periods_year_and_none_means_no_completion(zone):
    # 2025 (up to 12-31): P12 900 signed 12-20 (EI, B); the 2025 EI target is 1 → 90000 %
    rows = kpis.target_progress(zone.manager, kpis.period_for("year", date(2025, 5, 5)))
    assert [(r.kind, r.key, r.signed.value, r.target) for r in rows] == [
        ("cluster", EI, Decimal(900), Decimal(1)), ("team", zone.team_b.id, Decimal(900), None)]
    assert rows[1].completion.value is None                                 # no target for team B in 2025
    # a quarter ending 03-31 takes the whole year to date; a February period only January and February: P11
    feb = {(r.kind, r.key): r.signed.value for r in kpis.target_progress(zone.manager,
                                                                           kpis.period_for("month", date(2026, 2, 1)))}
    assert feb[("cluster", GF)] == Decimal(1000) and feb[("cluster", EI)] == Decimal(0)


def test_stale_projects_and_overdue_tasks_per_officer(zone):
    rows = {r.user_id: r for r in kpis.officer_load(zone.manager)}
    # stale (no activity for 30 days, not full capacity or lost): P1 (a1, 40 days), P4 (b1, 31 days); P7 and P11
    # are idle but lost / at full capacity
    # overdue: a1's task of yesterday (the done one and tomorrow's are not), a2's timed task an hour ago, b1's of
    # three days ago
    assert {u: (r.stale.value, r.overdue_tasks.value) for u, r in rows.items()} == {
        zone.a1.id: (1, 1), zone.a2.id: (0, 1), zone.b1.id: (1, 1)}
    # an officer sees their team's task lists only: b1's overdue count is not theirs to see
    mine = {r.user_id: r for r in kpis.officer_load(zone.a1)}
    assert mine[zone.b1.id].overdue_tasks is None and mine[zone.b1.id].stale.value == 1
    assert mine[zone.a2.id].overdue_tasks.value == 1


def test_a_project_moved_back_and_signed_again_counts_once_on_its_first_signing(zone):
    from .conftest import at, build_project

    # signed 03-02, back to negotiating 03-04, signed again 03-06: signed_on stays 03-02, one signing in March
    company = zone.p1.company
    again = build_project(zone.a1, company=company, created=at(2026, 1, 2), planned=100, cluster=GF,
                          stage_path=[("signed", at(2026, 3, 2)), ("negotiating", at(2026, 3, 4)),
                                      ("signed", at(2026, 3, 6))])
    assert again.reached_signed == date(2026, 3, 2)
    assert values(kpis.changes(zone.manager, MARCH))["signed"] == (4, 0)                 # P2, P3, P8 + this one
    assert kpis.backward_moves(zone.manager, MARCH) == 2                                 # P6's and this one's


def test_pipeline_puts_it_together(zone):
    result = kpis.pipeline(zone.manager, MARCH)
    assert result.scope == "all" and kpis.pipeline(zone.a1, MARCH).scope == "visible"
    assert result.previous == kpis.period_for("month", date(2026, 2, 1))
    assert set(result.breakdowns) == set(kpis.DIMENSIONS) and set(result.rates) == set(kpis.RATES)
    assert set(result.changes) == set(kpis.CHANGES) and result.target_year == 2026
    db.session.rollback()
