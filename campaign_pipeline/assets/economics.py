"""Economics: the prices a run uses, resolved once from the file as received."""

import pandas as pd
from dagster import MaterializeResult, asset

from campaign_pipeline.assets import MARKETING_ANALYTICS, reduced_in
from campaign_pipeline.metadata import rounded
from campaign_pipeline.resources import CampaignEconomics
from campaign_pipeline.schemas import COST_COLUMN, RESPONSE, REVENUE_COLUMN
from campaign_pipeline.transforms.buckets import count_by


PRICING_COLUMNS = [RESPONSE, COST_COLUMN, REVENUE_COLUMN]
DOMAIN = {"group_name": "economics", "owners": [MARKETING_ANALYTICS]}  # every asset of this module


@asset(**DOMAIN, kinds={"pandas", "parquet"}, ins={"raw_customers": reduced_in(PRICING_COLUMNS)})
def campaign_prices(raw_customers, campaign_economics: CampaignEconomics) -> MaterializeResult[pd.DataFrame]:
    """Cost per contact and revenue per response (MU) for this run: the file's constant
    ``Z_CostContact``/``Z_Revenue`` unless the ``campaign_economics`` resource overrides
    them; the optional budget (``max_contacts``, ``budget_mu``); and the observed result of
    contacting every line of the file as received. The scores, the impact, the scenarios
    and the reports all price with this one-row table (``RunPrices.from_frame``); the
    response model does not, so changing prices or the budget never refits it. Read as
    counts of the distinct (``Response``, price) values, added up bucket by bucket."""
    priced = campaign_economics.price(count_by(raw_customers, PRICING_COLUMNS))
    baseline = priced.baseline_as_received
    return MaterializeResult(
        value=priced.to_frame(),
        metadata={
            **priced.prices.as_metadata(),
            "contact_rule": priced.prices.contact_rule,
            "budget": priced.budget.describe(),
            "baseline_as_received_profit_mu": rounded(baseline["profit"]) if baseline else "no Response in the file",
        },
    )
