"""engineered_customers, called directly."""

import pandas as pd
import pytest

from campaign_pipeline.assets.features import FeatureConfig, engineered_customers
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.settings import DEFAULT_REFERENCE_DATE


def test_engineered_customers_keeps_every_cleaned_row_and_adds_features(chain):
    result = chain["engineered_customers"]
    cleaned, engineered = chain.value("cleaned_customers"), result.value
    assert engineered["ID"].tolist() == cleaned["ID"].tolist()
    for column in ("age", "age_group", "tenure_months", "total_interactions", "customer_value_index",
                   "family_size", "recency_segment", "preferred_channel", "loyalty_score", "top_product_family"):
        assert column in engineered.columns
    assert result.metadata["reference_date"] == DEFAULT_REFERENCE_DATE
    assert result.check_results[0].passed


def test_engineered_customers_values_at_default_reference_date(chain):
    engineered = chain.value("engineered_customers")
    year = pd.Timestamp(DEFAULT_REFERENCE_DATE).year
    assert (engineered["age"] == year - engineered["Year_Birth"]).all()
    spend = engineered.filter(like="Mnt").sum(axis=1)
    assert engineered["customer_value_index"].to_numpy() == pytest.approx(spend.to_numpy())
    accepted = engineered[[f"AcceptedCmp{i}" for i in range(1, 6)]].sum(axis=1)
    assert (engineered["loyalty_score"] == accepted).all()
    assert (engineered["tenure_months"] >= 0).all()


def test_engineered_customers_age_moves_with_the_reference_date(chain, context):
    cleaned = chain.value("cleaned_customers")
    early = engineered_customers(context, config=FeatureConfig(reference_date="2015-06-30"), cleaned_customers=cleaned)
    late = engineered_customers(context, config=FeatureConfig(reference_date="2019-06-30"), cleaned_customers=cleaned)
    assert early.metadata["reference_date"] == "2015-06-30"
    assert late.metadata["reference_date"] == "2019-06-30"
    assert ((late.value["age"] - early.value["age"]) == 4).all()
    # four years are 48 whole months
    assert ((late.value["tenure_months"] - early.value["tenure_months"]) == 48).all()


def test_engineered_customers_refuses_a_reference_date_before_enrolment_naming_the_input(chain, context):
    cleaned = chain.value("cleaned_customers")
    before = (cleaned["Dt_Customer"].min() - pd.Timedelta(days=40)).date().isoformat()
    with pytest.raises(InputDataError) as raised:
        engineered_customers(context, config=FeatureConfig(reference_date=before), cleaned_customers=cleaned)
    assert raised.value.column == "Dt_Customer" and "tenure_months" not in str(raised.value)
    assert raised.value.lines == cleaned.index.tolist()  # every customer enrolled after that date
