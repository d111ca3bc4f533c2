"""Reach channels, products to feature and their evidence: every suggested channel is a way
of reaching someone."""

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.schemas import CHANNELS, ContactList
from campaign_pipeline.sources.reading import read_customers
from campaign_pipeline.transforms.actions import (
    REACH_CHANNELS,
    REACH_RULES,
    action_evidence,
    feature_product,
    reach_channel,
)
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.transforms.impact import channel_sums, channel_summary, contact_list
from campaign_pipeline.transforms.statistics import wilson_interval

SPEND = dict.fromkeys(("MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"), 0)


def customer(web=0, catalogue=0, store=0, visits=0, response=0, **spend) -> dict:
    return {
        "NumWebPurchases": web, "NumCatalogPurchases": catalogue, "NumStorePurchases": store,
        "NumWebVisitsMonth": visits, "NumDealsPurchases": 0, "Response": response, **SPEND, **spend,
    }


# One customer per branch of the rule, and its expected reach channel.
CASES = [
    (customer(web=2, catalogue=5, store=4, visits=3), "catalogue mail"),
    (customer(web=3, catalogue=3, store=9), "catalogue mail"),  # a tie goes to the catalogue
    (customer(catalogue=1), "catalogue mail"),
    (customer(web=4, catalogue=1, store=9, visits=7), "email"),
    (customer(web=1), "email"),
    (customer(store=6, visits=5), "web banner / site offer"),
    (customer(store=6), "in-store offer"),
    (customer(), "in-store offer"),
]


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, index=pd.RangeIndex(10, 10 + len(rows)))


def test_reach_rule_one_case_per_branch():
    customers = frame([row for row, _ in CASES])
    channel = reach_channel(customers)
    assert channel.tolist() == [expected for _, expected in CASES]
    assert channel.index.equals(customers.index)
    assert list(channel.cat.categories) == list(REACH_CHANNELS)


def test_reach_channels_are_ways_of_reaching_people_not_buying_channels():
    assert tuple(REACH_RULES) == REACH_CHANNELS
    assert not set(REACH_CHANNELS) & set(CHANNELS)  # never "store", "web", "catalog" or "none"
    rng = np.random.default_rng(0)
    random = pd.DataFrame(
        {column: rng.integers(0, 4, 500) for column in
         ("NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumWebVisitsMonth")}
    )
    assert reach_channel(random).isin(REACH_CHANNELS).all()


def test_feature_product_is_the_largest_spend_and_falls_back_on_the_most_responsive_family():
    customers = frame(
        [
            customer(response=1, MntMeatProducts=50, MntWines=10),
            customer(response=1, MntMeatProducts=40, MntSweetProducts=45),
            customer(response=0, MntWines=30, MntGoldProds=30),  # a tie goes to the first family
            customer(response=0),  # no spend: meat correlates most with Response here
        ]
    )
    assert feature_product(customers).tolist() == ["meat", "sweets", "wines", "meat"]
    assert feature_product(customers.drop(columns="Response")).tolist()[-1] == "wines"


def test_action_evidence_counts_rates_and_wilson_intervals():
    rows = [customer(catalogue=4, response=r) for r in (1, 1, 0, 0)] + [customer(web=2, response=r) for r in (1, 0, 0)]
    evidence = action_evidence(frame(rows))
    assert evidence["reach_channel"].tolist() == list(REACH_CHANNELS)  # every channel, even empty ones
    by = evidence.set_index("reach_channel")
    assert by.loc["catalogue mail", ["customers", "responders"]].tolist() == [4, 2]
    assert by.loc["email", "response_rate"] == pytest.approx(1 / 3)
    assert (by.loc["email", "response_rate_low"], by.loc["email", "response_rate_high"]) == pytest.approx(
        wilson_interval(1, 3)
    )
    assert by.loc["in-store offer", "customers"] == 0 and np.isnan(by.loc["in-store offer", "response_rate"])
    assert by["share"].sum() == pytest.approx(1.0)
    assert by.loc["catalogue mail", "mean_catalogue_purchases"] == 4
    unlabelled = action_evidence(frame(rows).drop(columns="Response"))
    assert unlabelled["customers"].sum() == 7 and unlabelled["response_rate"].isna().all()


def test_contact_list_suggests_a_reach_channel_and_a_product():
    clustered = frame(
        [customer(web=5, MntMeatProducts=90), customer(catalogue=6, MntWines=200), customer(store=3, visits=4, MntSweetProducts=9)]
    ).assign(ID=[7, 8, 9], cluster=0, cluster_name="all")
    scored = pd.DataFrame(
        {"ID": [7, 8, 9], "cluster": 0, "cluster_name": "all", "response_probability": [0.6, 0.5, 0.4],
         "expected_profit": [3.6, 2.5, 1.4], "contact": True}
    )
    (contacts,) = contact_list(scored, clustered)  # one frame: one bucket
    assert contacts["suggested_action"].tolist() == [
        "email, feature meat", "catalogue mail, feature wines", "web banner / site offer, feature sweets",
    ]
    assert contacts["reach_channel"].isin(REACH_CHANNELS).all()
    ContactList.validate(contacts)
    by_channel = channel_summary([channel_sums(contacts.head(1)), channel_sums(contacts.tail(2))])
    assert set(by_channel["reach_channel"]) == set(contacts["reach_channel"])
    assert by_channel["contacts"].sum() == 3 and by_channel["expected_profit"].sum() == pytest.approx(7.5)
    with pytest.raises(Exception, match="isin"):
        ContactList.validate(contacts.assign(reach_channel="store"))


def test_reach_channel_evidence_on_the_reference_file(real_csv):
    raw, _ = read_customers(real_csv)
    cleaned, _, _ = clean_customers(raw.reset_index(drop=True), CleaningRules())
    customers = engineer_features(cleaned, pd.Timestamp("2014-12-31"))
    evidence = action_evidence(customers).set_index("reach_channel")
    print(evidence.to_string())
    assert evidence["customers"].sum() == len(customers)
    assert reach_channel(customers).isin(REACH_CHANNELS).all()
    # Catalogue buyers respond more than web buyers, beyond the intervals (module docstring).
    assert evidence.loc["catalogue mail", "response_rate_low"] > evidence.loc["email", "response_rate_high"]
    assert evidence.loc["email", "customers"] > evidence.loc["catalogue mail", "customers"] > 300
