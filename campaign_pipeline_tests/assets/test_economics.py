"""campaign_prices, called directly."""

import pytest
from dagster import MaterializeResult

from campaign_pipeline.assets.economics import campaign_prices
from campaign_pipeline.economics import RunPrices
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.resources import CampaignEconomics


def test_campaign_prices_come_from_the_files_z_columns(chain):
    result = chain["campaign_prices"]
    raw = chain.value("raw_customers")
    assert set(raw["Z_CostContact"]) == {3} and set(raw["Z_Revenue"]) == {11}
    frame = result.value
    assert len(frame) == 1
    assert frame.loc[0, "cost_per_contact"] == 3.0
    assert frame.loc[0, "revenue_per_response"] == 11.0
    assert result.metadata["cost_per_contact_mu"] == 3.0
    assert result.metadata["revenue_per_response_mu"] == 11.0
    assert "Z_CostContact" in result.metadata["prices_source"]
    assert "Z_Revenue" in result.metadata["prices_source"]
    assert result.metadata["contact_rule"] == "contact when p x 11 > 3, i.e. p > 0.273"


def test_campaign_prices_baseline_is_contacting_every_line(chain):
    raw = chain.value("raw_customers")
    run = RunPrices.from_frame(chain.value("campaign_prices"))
    responders = int(raw["Response"].sum())
    assert run.baseline_as_received["contacted"] == len(raw)
    assert run.baseline_as_received["responders"] == responders
    assert run.baseline_as_received["profit"] == pytest.approx(responders * 11 - len(raw) * 3)
    assert chain["campaign_prices"].metadata["baseline_as_received_profit_mu"] == pytest.approx(
        responders * 11 - len(raw) * 3
    )


def test_campaign_prices_override_from_the_resource(chain):
    raw = chain.value("raw_customers")
    result = campaign_prices(raw_customers=raw, campaign_economics=CampaignEconomics(cost_per_contact=4.0))
    assert isinstance(result, MaterializeResult)
    run = RunPrices.from_frame(result.value)
    assert run.prices.cost_per_contact == 4.0
    assert run.prices.revenue_per_response == 11.0
    assert "campaign_economics.cost_per_contact" in run.prices.source
    assert run.baseline_as_received["cost"] == pytest.approx(4.0 * len(raw))
    assert result.metadata["contact_rule"] == "contact when p x 11 > 4, i.e. p > 0.364"


def test_campaign_prices_round_trip_through_run_prices(chain):
    frame = chain.value("campaign_prices")
    run = RunPrices.from_frame(frame)
    assert run.prices.cost_per_contact == 3.0
    assert run.prices.revenue_per_response == 11.0
    assert run.prices.break_even_probability == pytest.approx(3 / 11)
    again = run.to_frame()
    assert again.columns.tolist() == frame.columns.tolist()
    assert again.iloc[0].tolist() == frame.iloc[0].tolist()
    assert RunPrices.from_frame(again) == run


def test_campaign_prices_refuses_a_file_without_a_constant_cost(chain, context):
    raw = chain.value("raw_customers").copy()
    raw.loc[raw.index[0], "Z_CostContact"] = 5
    with pytest.raises(InputDataError) as raised:
        # An explicit context (on the shared instance): without one, Dagster makes its own
        # ephemeral instance, whose SQLite connections complain at exit after a raise.
        campaign_prices(context, raw_customers=raw, campaign_economics=CampaignEconomics())
    assert raised.value.column == "Z_CostContact"
    # ...and the override is the documented way out
    result = campaign_prices(raw_customers=raw, campaign_economics=CampaignEconomics(cost_per_contact=3.0))
    assert result.value.loc[0, "cost_per_contact"] == 3.0


def test_campaign_prices_without_response_has_no_baseline(chain):
    raw = chain.value("raw_customers").drop(columns=["Response"])
    result = campaign_prices(raw_customers=raw, campaign_economics=CampaignEconomics())
    assert RunPrices.from_frame(result.value).baseline_as_received is None
    assert result.metadata["baseline_as_received_profit_mu"] == "no Response in the file"
