"""Feature formulas on a hand-made customer with known answers."""

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import WholeNumber
from campaign_pipeline.transforms.features import engineer_features, whole_months_between

REFERENCE = pd.Timestamp("2014-12-31")


def customer(**overrides) -> dict:
    row = {
        "ID": 1, "Year_Birth": 1970, "Education": "PhD", "Marital_Status": "Married", "Income": 60000.0,
        "Kidhome": 1, "Teenhome": 1, "Dt_Customer": pd.Timestamp("2013-06-15"), "Recency": 45,
        "MntWines": 100, "MntFruits": 10, "MntMeatProducts": 200, "MntFishProducts": 5,
        "MntSweetProducts": 0, "MntGoldProds": 15, "NumDealsPurchases": 2, "NumWebPurchases": 3,
        "NumCatalogPurchases": 1, "NumStorePurchases": 6, "NumWebVisitsMonth": 4, "AcceptedCmp3": 1,
        "AcceptedCmp4": 0, "AcceptedCmp5": 1, "AcceptedCmp1": 0, "AcceptedCmp2": 0, "Complain": 0,
        "Z_CostContact": 3, "Z_Revenue": 11, "Response": 1, "income_imputed": False,
    }
    row.update(overrides)
    return row


def engineer(*rows) -> pd.DataFrame:
    return engineer_features(pd.DataFrame(list(rows)), REFERENCE)


def test_known_customer():
    out = engineer(customer()).iloc[0]
    assert out["age"] == 44 and out["age_group"] == "40-49"
    assert out["tenure_months"] == 18
    assert out["total_purchases"] == 12 and out["total_interactions"] == 16
    assert out["conversion_rate"] == pytest.approx(1 / 16)
    assert out["customer_value_index"] == 330
    assert out["children"] == 2 and out["family_size"] == 4
    assert out["income_per_capita"] == pytest.approx(15000)
    assert out["recency_segment"] == "Medium"
    assert out["preferred_channel"] == "store"
    assert out["loyalty_score"] == 2
    assert out["top_product_family"] == "meat"


def test_derived_whole_numbers_are_stored_lean_and_a_total_too_large_is_refused_by_name():
    out = engineer(customer())
    assert all(out[column].dtype == WholeNumber for column in ("age", "tenure_months", "customer_value_index", "loyalty_score"))
    huge = int(np.iinfo(WholeNumber).max) // 2 + 1  # each fits; their sum does not
    with pytest.raises(InputDataError) as refused:
        engineer(customer(), customer(ID=2, MntWines=huge, MntMeatProducts=huge))
    assert refused.value.column == "customer_value_index" and refused.value.lines == [1]
    assert "max_spend" in refused.value.fix


@pytest.mark.parametrize("recency, segment", [(0, "Recent"), (30, "Recent"), (31, "Medium"), (90, "Medium"), (91, "Old")])
def test_recency_segment_edges(recency, segment):
    assert engineer(customer(Recency=recency)).iloc[0]["recency_segment"] == segment


@pytest.mark.parametrize("year, group", [(1985, "<30"), (1984, "30-39"), (1965, "40-49"), (1955, "50-59"), (1954, "60+")])
def test_age_group_edges(year, group):
    assert engineer(customer(Year_Birth=year)).iloc[0]["age_group"] == group


def test_single_adult_and_no_interaction_and_no_purchase():
    zero = {c: 0 for c in ("NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumWebVisitsMonth")}
    out = engineer(customer(Marital_Status="Single", Kidhome=0, Teenhome=0, **zero)).iloc[0]
    assert out["family_size"] == 1
    assert out["conversion_rate"] == 1.0  # no interaction: the response itself
    assert out["preferred_channel"] == "none"


def test_channel_ties_follow_the_stated_order():
    out = engineer(customer(NumWebPurchases=5, NumCatalogPurchases=5, NumStorePurchases=5)).iloc[0]
    assert out["preferred_channel"] == "store"


def test_scoring_file_without_response_has_empty_conversion():
    row = customer()
    del row["Response"]
    assert np.isnan(engineer(row).iloc[0]["conversion_rate"])


def test_whole_months_counts_completed_months():
    starts = pd.Series(pd.to_datetime(["2014-12-31", "2014-11-30", "2014-12-01", "2013-01-01"]))
    assert whole_months_between(starts, REFERENCE).tolist() == [0, 1, 0, 23]
