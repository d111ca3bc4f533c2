"""Economics: the prices a run uses, resolved once from the file as received."""

import pandas as pd
from dagster import MaterializeResult, asset

from campaign_pipeline.assets import MARKETING_ANALYTICS
from campaign_pipeline.metadata import rounded
from campaign_pipeline.resources import CampaignEconomics


DOMAIN = {"group_name": "economics", "owners": [MARKETING_ANALYTICS]}  # every asset of this module


@asset(**DOMAIN, kinds={"pandas", "parquet"})
def campaign_prices(raw_customers: pd.DataFrame, campaign_economics: CampaignEconomics) -> MaterializeResult[pd.DataFrame]:
    """Cost per contact and revenue per response (MU) for this run: the file's constant
    ``Z_CostContact``/``Z_Revenue`` unless the ``campaign_economics`` resource overrides
    them; with the observed result of contacting every line of the file as received. The
    response model, the scores, the impact and the reports all price with this one-row
    table (``RunPrices.from_frame``)."""
    priced = campaign_economics.price(raw_customers)
    baseline = priced.baseline_as_received
    return MaterializeResult(
        value=priced.to_frame(),
        metadata={
            **priced.prices.as_metadata(),
            "contact_rule": priced.prices.contact_rule,
            "baseline_as_received_profit_mu": rounded(baseline["profit"]) if baseline else "no Response in the file",
        },
    )
