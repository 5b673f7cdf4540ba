"""Unit tests of the pipeline's stage rules (crm/projects/stages.py) and of the field rules projects use
(crm/core/fields.py: Money for amounts in 万元 and 亩, signed for funds corrections; Date)."""
from datetime import date, datetime
from decimal import Decimal

import pytest
from flask_babel import force_locale

from crm.core import fields as rules
from crm.projects import stages
from crm.projects.models import REACHED, Project
from crm.projects.services import FUNDS_FIELDS, PROJECT_FIELDS

MAIN = ["lead", "negotiating", "site_visit", "signed", "under_construction", "in_production", "full_capacity"]
SIDE = ["on_hold", "lost"]


# --- the stages themselves --------------------------------------------------------------------------------------------

def test_the_nine_stages_in_order_with_their_chinese_names():
    assert list(stages.KEYS) == MAIN + SIDE
    assert [s.name for s in stages.STAGES] == ["线索", "洽谈", "考察", "签约", "在建", "投产", "达产", "搁置", "流失"]
    assert [s.key for s in stages.STAGES if s.main] == MAIN
    assert [s.key for s in stages.STAGES if not s.main] == SIDE
    assert set(stages.BY_KEY) == set(stages.KEYS)
    # every stage has a UI label and a reached-date column on the project
    for stage in stages.STAGES:
        with force_locale("en"):
            assert str(stage.label) == stage.name_en
        assert hasattr(Project, REACHED[stage.key])


def test_open_and_signed_or_later_are_slices_of_the_main_path():
    assert stages.OPEN == tuple(MAIN[:-1])  # full capacity is done; on hold and lost are not worked in
    assert stages.SIGNED_OR_LATER == tuple(MAIN[3:])
    assert stages.NEEDS_REASON == ("lost",)


def test_order_puts_the_main_path_first_then_side_states_then_unknown_keys():
    assert [stages.order(k) for k in MAIN + SIDE] == list(range(9))
    assert stages.order("nonsense") == stages.order("") == 9
    assert sorted(reversed(MAIN + SIDE), key=stages.order) == MAIN + SIDE


def test_is_backwards_only_for_moves_back_along_the_main_path():
    # one test for the whole table (each test on PostgreSQL pays for a clean database)
    for from_key in MAIN + SIDE + [None]:
        for to_key in MAIN + SIDE:
            expected = from_key in MAIN and to_key in MAIN and MAIN.index(to_key) < MAIN.index(from_key)
            assert stages.is_backwards(from_key, to_key) is expected, (from_key, to_key)


def test_is_backwards_examples_and_unknown_keys():
    assert stages.is_backwards("signed", "negotiating")
    assert stages.is_backwards("full_capacity", "lead")
    assert not stages.is_backwards("lead", "full_capacity")  # skipping ahead is allowed and is not "back"
    assert not stages.is_backwards("signed", "on_hold") and not stages.is_backwards("on_hold", "lead")
    assert not stages.is_backwards("lost", "lead")
    # keys that are not stages (an old row, a bad request) are never "backwards", and never raise
    assert not stages.is_backwards("retired_stage", "lead")
    assert not stages.is_backwards("signed", "retired_stage")


# --- move_problems: any stage may follow any other, but not itself; lost needs a reason -------------------------------

def test_every_move_between_two_different_stages_is_allowed():
    for from_key in MAIN + SIDE + [None]:
        for to_key in MAIN + SIDE:
            problems = stages.move_problems(from_key, to_key, "客户选择了其他园区")
            assert problems == ({"stage": problems.get("stage")} if from_key == to_key else {}), (from_key, to_key)
            if from_key == to_key:
                assert problems["stage"][0]


@pytest.mark.parametrize("reason", ["", "   ", "\t\n", None])
def test_a_move_to_lost_needs_a_reason(reason):
    for from_key in MAIN + ["on_hold", None]:
        problems = stages.move_problems(from_key, "lost", reason)
        assert list(problems) == ["reason"]
        assert problems["reason"] and all(isinstance(m, str) and m for m in problems["reason"])


def test_only_lost_needs_a_reason():
    for key in MAIN + ["on_hold"]:
        assert stages.move_problems("lost" if key != "lost" else "lead", key, "") == {}


def test_an_unknown_stage_is_a_stage_error_naming_the_choices():
    for bad in ("", "Lost", "LEAD", "signed ", "签约", "unknown", None, 3, ["lead"], {"k": 1}, True):
        problems = stages.move_problems("lead", bad, "reason")
        assert list(problems) == ["stage"], bad
        message = problems["stage"][0]
        assert isinstance(message, str) and "negotiating" in message and "lost" in message


def test_same_stage_is_refused_even_with_a_reason():
    assert list(stages.move_problems("lost", "lost", "again")) == ["stage"]
    assert list(stages.move_problems("signed", "signed", "")) == ["stage"]


# --- the field rules projects use -------------------------------------------------------------------------------------

def problem(rule, raw) -> str | None:
    """The rule's message (in English) for a raw value, or None when it parses."""
    try:
        rule.parse(raw)
    except rules.FieldError as exc:
        with force_locale("en"):
            return str(exc.args[0])
    return None


# Tables of inputs are looped in one test each: every test on PostgreSQL pays for a clean database.

def test_money_parses_amounts_in_wan_yuan():
    for raw, expected in (
        ("1200", Decimal("1200.00")), ("1,200.5", Decimal("1200.50")), (" 88 ", Decimal("88.00")),
        ("１２３．４", Decimal("123.40")),  # full-width digits from a Chinese IME
        (0, Decimal("0.00")), (12, Decimal("12.00")), (12.345, Decimal("12.34")), (Decimal("7.005"), Decimal("7.00")),
        ("999999999999", Decimal("999999999999.00")), ("1e3", Decimal("1000.00")), ("", None), (None, None),
    ):
        assert rules.Money().parse(raw) == expected, raw


def test_money_refuses_what_is_not_a_finite_number():
    for raw in ("abc", "12万", "1.2.3", "NaN", "nan", "-NaN", "sNaN", "Infinity", "-inf", "inf", float("nan"),
                float("inf"), True, False, [1], {"a": 1}, "0x10"):
        assert problem(rules.Money(), raw) == "Enter an amount in 10,000 yuan.", raw


def test_money_refuses_huge_amounts():
    """Too large is a field message, never an exception the page would turn into a 500 (decimal.Overflow)."""
    for raw in ("1000000000000", "1e13", "99999999999999999999999999999999999", "1E+999999999", "-1E+999999999"):
        assert problem(rules.Money(signed=True), raw) == "The amount is too large.", raw
    for raw in ("1000000000000", "1e13", "99999999999999999999999999999999999", "1E+999999999"):
        assert problem(rules.Money(), raw) == "The amount is too large.", raw


def test_money_is_never_negative_unless_signed():
    for raw in ("-1", "-0.01", -5, "－3", "-1E+999999999"):
        assert problem(rules.Money(), raw) == "The amount cannot be negative.", raw
    for raw in ("-1", "-0.01", -5, "－3"):
        assert rules.Money(signed=True).parse(raw) < 0


def test_signed_money_still_has_a_size_limit_both_ways():
    signed = rules.Money(signed=True)
    assert signed.parse("-999999999999") == Decimal("-999999999999.00")
    for raw in ("-1000000000000", "1000000000000"):
        with pytest.raises(rules.FieldError):
            signed.parse(raw)
    assert "minimum" not in signed.schema() and rules.Money().schema()["minimum"] == 0


def test_money_in_mu_speaks_of_area():
    land = rules.Money(unit="mu", maximum=Decimal("1000000"))
    assert land.parse("350.5") == Decimal("350.50")
    with pytest.raises(rules.FieldError) as by_area:
        land.parse("lots")
    with pytest.raises(rules.FieldError) as by_amount:
        rules.Money().parse("lots")
    with force_locale("en"):
        assert "mu" in str(by_area.value.args[0])
        assert "10,000 yuan" in str(by_amount.value.args[0])
    with pytest.raises(rules.FieldError):
        land.parse("1000001")
    assert land.schema()["description"] == "亩" and rules.Money().schema()["description"] == "万元"


def test_date_parses_iso_days():
    for raw, expected in (
        ("2024-03-05", date(2024, 3, 5)), (" 2024-03-05 ", date(2024, 3, 5)), ("２０２４-０３-０５", date(2024, 3, 5)),
        (date(2023, 1, 2), date(2023, 1, 2)), (datetime(2023, 1, 2, 15, 30), date(2023, 1, 2)),
        ("1990-01-01", date(1990, 1, 1)), ("2100-12-31", date(2100, 12, 31)), ("", None), (None, None),
    ):
        assert rules.Date().parse(raw) == expected, raw


def test_date_refuses_other_shapes_and_implausible_years():
    for raw in ("2024-02-30", "2024/03/05", "05.03.2024", "yesterday", 20240305, 1.5, True,
                ["2024-03-05"]):
        assert problem(rules.Date(), raw) == "Enter a date as YYYY-MM-DD.", raw
    for raw in ("1989-12-31", "2101-01-01"):
        assert problem(rules.Date(), raw) == "Enter a date between 1990 and 2100.", raw
    assert problem(rules.Date(), "0001-01-01") is not None


def test_project_and_funds_fields_use_these_rules():
    money = ("planned_investment", "fixed_asset_investment", "expected_output", "expected_tax")
    for name in money:
        assert isinstance(PROJECT_FIELDS[name], rules.Money) and not PROJECT_FIELDS[name].signed
    assert PROJECT_FIELDS["land_mu"].unit == "mu"
    assert isinstance(PROJECT_FIELDS["planned_start"], rules.Date)
    assert isinstance(PROJECT_FIELDS["planned_production"], rules.Date)
    assert FUNDS_FIELDS["amount"].signed and FUNDS_FIELDS["amount"].required
    assert FUNDS_FIELDS["received_on"].required
    # a whole form of bad values gives one message per field and no values for them
    result = rules.clean(PROJECT_FIELDS, {"company_id": "x", "name": "", "planned_investment": "-1",
                                          "fixed_asset_investment": "NaN", "jobs": "1.5", "land_mu": "-2",
                                          "planned_start": "2024-13-01", "confidential": "maybe"})
    assert set(result.errors) == {"company_id", "name", "planned_investment", "fixed_asset_investment", "jobs",
                                  "land_mu", "planned_start", "confidential"}
    assert not set(result.errors) & set(result.values)
