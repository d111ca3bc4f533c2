"""Features: the engineered columns of REFERENCE §2 at one explicit reference date."""

import pandas as pd
from dagster import AssetExecutionContext, Config, asset
from pydantic import Field

from campaign_pipeline.assets import DATA_ENGINEERING, bucket_ins, for_each_bucket
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.schemas import EngineeredCustomers
from campaign_pipeline.settings import DEFAULT_REFERENCE_DATE
from campaign_pipeline.transforms.features import engineer_features


DOMAIN = {"group_name": "features", "owners": [DATA_ENGINEERING]}  # every asset of this module


class FeatureConfig(Config):
    """The snapshot date that ages and tenure are measured at."""

    reference_date: str = Field(
        DEFAULT_REFERENCE_DATE,
        description="ISO date of the data snapshot; the default is the reference file's (its Recency is consistent with it). "
        "Scheduled runs set it in their run config (CAMPAIGN_REFERENCE_DATE).",
    )


@asset(
    **DOMAIN,
    kinds={"pandas", "pandera", "parquet"},
    ins=bucket_ins("cleaned_customers"),
    **dataset_contract("engineered_customers", EngineeredCustomers),
)
def engineered_customers(context: AssetExecutionContext, config: FeatureConfig, cleaned_customers):
    """Cleaned customers plus engineered features: ``age``/``age_group``, ``tenure_months``,
    ``total_interactions``, ``conversion_rate`` (reporting only: derived from Response),
    ``customer_value_index`` (total spend, MU), ``family_size``, ``recency_segment``,
    ``income_per_capita``, ``preferred_channel``, ``loyalty_score`` (campaigns 1-5
    accepted) and ``top_product_family``. Dates are measured at the configured
    reference date, never today."""
    reference_date = pd.Timestamp(config.reference_date)
    metadata = {"reference_date": reference_date.date().isoformat()}
    return for_each_bucket(
        context,
        lambda cleaned: validated(EngineeredCustomers, engineer_features(cleaned, reference_date), metadata),
        cleaned=cleaned_customers,
    )
