"""The money rules of ``campaign_pipeline.economics``: break-even, expected profit, the one
contact rule, the observed outcome, where prices come from and the contact-everyone baseline."""

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.economics import Budget, CampaignPrices, RunPrices, ScoreSummary, budget_depth, contact_everyone, price_run
from campaign_pipeline.economics import resolve_prices, scenario_table
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.transforms.buckets import count_by

PRICES = CampaignPrices(cost_per_contact=3, revenue_per_response=11, source="test")


def test_break_even_is_cost_over_revenue():
    assert PRICES.break_even_probability == pytest.approx(3 / 11)
    assert PRICES.break_even_probability == pytest.approx(0.2727, abs=1e-4)


def test_expected_profit_is_vectorised():
    probability = np.array([0.0, 3 / 11, 0.5, 1.0])
    np.testing.assert_allclose(PRICES.expected_profit(probability), [-3.0, 0.0, 2.5, 8.0], atol=1e-12)
    series = PRICES.expected_profit(pd.Series([0.1, 0.9], index=[7, 8]))
    assert list(series.index) == [7, 8] and series.tolist() == pytest.approx([-1.9, 6.9])
    assert PRICES.expected_profit(0.5) == pytest.approx(2.5)


def test_worth_contacting_only_above_break_even():
    at = PRICES.break_even_probability
    probability = np.array([at - 1e-9, at, at + 1e-9, 0.0, 1.0])
    assert PRICES.worth_contacting(probability).tolist() == [False, False, True, False, True]
    # The same decision as the rule in words, p x revenue > cost, on a grid of scores.
    grid = np.linspace(0, 1, 10_001)
    np.testing.assert_array_equal(PRICES.worth_contacting(grid), grid * 11 > 3)


def test_contact_rule_in_words():
    assert PRICES.contact_rule == "contact when p x 11 > 3, i.e. p > 0.273"
    assert CampaignPrices(2.5, 10).contact_rule == "contact when p x 10 > 2.5, i.e. p > 0.250"


def test_outcome_counts_and_money():
    contacted = np.array([True, True, True, False])
    responded = np.array([True, False, False, True])
    outcome = PRICES.outcome(contacted, responded)
    assert outcome == {"contacted": 3, "responders": 1, "response_rate": 1 / 3, "cost": 9, "revenue": 11, "profit": 2}
    nobody = PRICES.outcome(np.zeros(4, dtype=bool), responded)
    assert nobody == {"contacted": 0, "responders": 0, "response_rate": 0.0, "cost": 0, "revenue": 0, "profit": 0}


def test_prices_come_from_the_file_columns():
    customers = pd.DataFrame({"Z_CostContact": [3, 3, 3], "Z_Revenue": [11, 11, 11]})
    prices = resolve_prices(customers)
    assert (prices.cost_per_contact, prices.revenue_per_response) == (3.0, 11.0)
    assert isinstance(prices.cost_per_contact, float)
    assert "Z_CostContact" in prices.source and "Z_Revenue" in prices.source
    assert prices.as_metadata()["cost_per_contact_mu"] == 3.0


def test_overrides_win_and_say_so():
    customers = pd.DataFrame({"Z_CostContact": [3, 3], "Z_Revenue": [11, 11]})
    prices = resolve_prices(customers, cost_override=4)
    assert (prices.cost_per_contact, prices.revenue_per_response) == (4.0, 11.0)
    assert "campaign_economics.cost_per_contact" in prices.source and "Z_Revenue" in prices.source
    # Overrides price a file that lacks the columns.
    both = resolve_prices(pd.DataFrame({"ID": [1]}), cost_override=2, revenue_override=9)
    assert (both.cost_per_contact, both.revenue_per_response) == (2.0, 9.0)


def test_a_column_that_is_not_constant_is_refused_with_the_setting_to_change():
    customers = pd.DataFrame({"Z_CostContact": [3, 4], "Z_Revenue": [11, 11]})
    with pytest.raises(InputDataError, match="found 2 different values") as caught:
        resolve_prices(customers)
    assert caught.value.column == "Z_CostContact"
    assert "campaign_economics" in caught.value.fix and "cost_per_contact" in caught.value.fix
    assert "resources: campaign_economics: config: cost_per_contact" in str(caught.value)


def test_an_absent_column_is_refused():
    with pytest.raises(InputDataError, match="column absent") as caught:
        resolve_prices(pd.DataFrame({"Z_CostContact": [3]}))
    assert caught.value.column == "Z_Revenue" and "revenue_per_response" in caught.value.fix


def test_contact_everyone_with_and_without_response():
    table = pd.DataFrame({"ID": [1, 2, 3, 4, 5], "Response": [1, 0, 0, 1, 0]})
    everyone = contact_everyone(table, PRICES)
    assert everyone == {"contacted": 5, "responders": 2, "response_rate": 0.4, "cost": 15, "revenue": 22, "profit": 7}
    assert contact_everyone(table["Response"], PRICES) == everyone
    assert contact_everyone(table.drop(columns=["Response"]), PRICES) is None


def test_pricing_from_counts_equals_pricing_from_the_lines():
    received = pd.DataFrame(
        {"Z_CostContact": [3] * 6, "Z_Revenue": [11] * 6, "Response": [1, 0, None, 1, 0, 0], "ID": range(6)}
    )
    counted = count_by(received, ["Response", "Z_CostContact", "Z_Revenue"])
    assert len(counted) == 3  # one row per distinct (Response, cost, revenue)
    assert price_run(counted) == price_run(received)
    assert price_run(counted).baseline_as_received["contacted"] == 5  # the unlabelled line is not counted
    varying = count_by(received.assign(Z_Revenue=[11, 11, 12, 11, 11, 11]), ["Response", "Z_CostContact", "Z_Revenue"])
    with pytest.raises(InputDataError, match="2 different values"):
        price_run(varying)


def test_contact_everyone_on_the_reference_prices_matches_the_seed():
    # REFERENCE §3: 2,240 customers, 334 responders: cost 6,720, revenue 3,674, profit -3,046.
    table = pd.DataFrame({"Response": [1] * 334 + [0] * (2240 - 334)})
    everyone = contact_everyone(table, PRICES)
    assert (everyone["cost"], everyone["revenue"], everyone["profit"]) == (6720, 3674, -3046)


def test_run_prices_round_trip_through_their_one_row_table():
    received = pd.DataFrame({"Z_CostContact": [3, 3, 3], "Z_Revenue": [11, 11, 11], "Response": [1, 0, 0]})
    priced = price_run(received)
    assert priced.baseline_as_received == {
        "contacted": 3, "responders": 1, "response_rate": 1 / 3, "cost": 9.0, "revenue": 11.0, "profit": 2.0
    }
    assert RunPrices.from_frame(priced.to_frame()) == priced
    unlabelled = price_run(received.drop(columns=["Response"]), cost_override=2.0)
    assert unlabelled.baseline_as_received is None and unlabelled.prices.cost_per_contact == 2.0
    assert RunPrices.from_frame(unlabelled.to_frame()) == unlabelled


def test_scenarios_from_bucket_summaries_equal_the_brute_force_campaign():
    rng = np.random.default_rng(11)
    lines = rng.permutation(np.arange(2, 3002))
    scores = pd.DataFrame(
        {"response_probability": rng.random(3000).round(2), "Response": rng.integers(0, 2, 3000)}, index=lines
    )  # rounded: many ties, which a budget breaks by file line
    grid = [CampaignPrices(3, 11), CampaignPrices(1.5, 11), CampaignPrices(6, 16.5)]
    budgets = [Budget(), Budget(max_contacts=100), Budget(max_contacts=5000), Budget(budget_mu=301.0)]
    depth = budget_depth(grid, budgets)
    parts = [ScoreSummary.of(scores.iloc[k::3], grid, depth) for k in range(3)]
    table = scenario_table(ScoreSummary.combined(parts, depth), grid, budgets)
    ranked = scores.sort_index().sort_values("response_probability", ascending=False, kind="stable")
    for row in table.itertuples():
        price = CampaignPrices(row.cost_per_contact, row.revenue_per_response)
        budget = Budget(None if pd.isna(row.max_contacts) else int(row.max_contacts), None if pd.isna(row.budget_mu) else row.budget_mu)
        worth = ranked[price.worth_contacting(ranked["response_probability"])]
        chosen = worth.head(budget.limit(price)) if budget.limit(price) is not None else worth
        assert row.contacted == len(chosen)
        assert row.expected_acceptances == pytest.approx(chosen["response_probability"].sum())
        assert row.observed_profit == pytest.approx(price.outcome_of_counts(len(chosen), int(chosen["Response"].sum()))["profit"])
    unlabelled = ScoreSummary.of(scores.assign(Response=np.nan), grid, depth)
    assert scenario_table(unlabelled, grid, budgets)["observed_profit"].isna().all()
