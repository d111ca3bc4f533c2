"""Actions a marketer can take: a way of reaching each customer and a product to feature.

The file records how customers *buy* (``NumStorePurchases``, ``NumWebPurchases``,
``NumCatalogPurchases``, ``NumDealsPurchases``) and how often they visited the web site
(``NumWebVisitsMonth``). It records no e-mail address, postal opt-in or cost per channel
(``Z_CostContact`` is one constant), so a way of *reaching* someone is inferred from the
touchpoints the customer is known to use, and "store" (where they buy) is never offered as a
way to contact them.

``REACH_CHANNELS`` (the closed vocabulary, in ``schemas.py`` so the contact-list contract
can check it without an import cycle) and the rule, first match wins:

1. ``catalogue mail``: bought from the catalogue at least once and at least as often as on
   the web. They order from printed mail, so printed mail reaches them.
2. ``email``: bought on the web. An online purchase needs an account, hence an address, and
   an e-mail link lands where they already buy remotely.
3. ``web banner / site offer``: visited the site last month without buying on the web or from
   the catalogue. The site is the one remote touchpoint seen: show the offer there.
4. ``in-store offer``: none of the above (store and deal purchases only, or no activity at
   all). The till is the only known touchpoint.

Evidence on the reference file (2,240 lines, 2,016 customers after cleaning, reference date
2014-12-31; response rate with 95% Wilson interval, from ``action_evidence``):

============================  =========  ==========  ====================
reach channel                 customers  responders  response rate
============================  =========  ==========  ====================
catalogue mail                      548         120  21.9% (18.6-25.5%)
email                             1,435         174  12.1% (10.5-13.9%)
web banner / site offer              30           0   0.0% (0.0-11.4%)
in-store offer                        3           0   0.0% (0.0-56.1%)
============================  =========  ==========  ====================

Response rises with catalogue purchases (>= 1: 18.6%, >= 5: 27.9%, >= 7: 30.4%) and with web
purchases (>= 5: 21.5%), but not with web visits (correlation with Response -0.01; >= 7
visits: 15.3% against 14.6% overall): visiting is not responding, which is why a visit alone
earns only a site offer. The 33 customers who bought neither on the web nor from the
catalogue never responded (0 of 33, Wilson 0-10.4%). These are response rates among
customers who were *all* contacted (by a channel the file does not record), not the effect
of a channel: which channel works better needs a randomised test (REFERENCE §5).

Product to feature (``feature_product``): the family with the customer's largest spend
(the engineered ``top_product_family``; ties in the order of ``SPEND_COLUMNS``). A marketer
features what the customer already buys. Two alternatives were measured and rejected:
spend relative to the base's mean per family sends 29% of customers to gold (587), because
small amounts in a cheap family look large; one family for everyone "that best separates
responders" does not personalise (meat and wines correlate with Response almost equally,
0.247 and 0.245). It is used only for a customer with no spend at all: the family whose spend
correlates most with Response in the data at hand (meat on the reference file), else the
first family. On the reference file: wines 1,384, meat 403, gold 149, fish 53, sweets 15,
fruits 12; 6 customers have no spend.
"""

import numpy as np
import pandas as pd

from campaign_pipeline.schemas import (
    PRODUCT_FAMILIES,
    REACH_CHANNELS,
    RESPONSE,
    SPEND_COLUMNS,
)
from campaign_pipeline.transforms.statistics import wilson_interval

__all__ = ["DETAIL_COLUMNS", "REACH_CHANNELS", "REACH_RULES", "action_evidence", "feature_product", "reach_channel"]

# What ``reach_channel`` and ``feature_product`` read of each customer, so that a caller
# holding many customers loads only these.
DETAIL_COLUMNS = ("ID", "NumWebPurchases", "NumCatalogPurchases", "NumWebVisitsMonth", *SPEND_COLUMNS, RESPONSE)

# Why each reach channel is chosen, in words, for the report (keys in REACH_CHANNELS order).
REACH_RULES = {
    "catalogue mail": "bought from the catalogue at least once and at least as often as on the web",
    "email": "bought on the web (an online account), more often than from the catalogue",
    "web banner / site offer": "visited the web site last month, no web or catalogue purchase",
    "in-store offer": "no web visit, web or catalogue purchase: store and deal purchases only, or none",
}


def reach_channel(customers: pd.DataFrame) -> pd.Series:
    """The way to reach each customer, one of ``REACH_CHANNELS`` (rule in the module
    docstring); an ordered categorical with the customers' index. Needs no Response."""
    web = customers["NumWebPurchases"].to_numpy()
    catalogue = customers["NumCatalogPurchases"].to_numpy()
    visits = customers["NumWebVisitsMonth"].to_numpy()
    codes = np.select(
        [(catalogue > 0) & (catalogue >= web), web > 0, visits > 0],
        [0, 1, 2],
        default=3,
    )
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=list(REACH_CHANNELS), ordered=True),
        index=customers.index,
        name="reach_channel",
    )


def feature_product(customers: pd.DataFrame) -> pd.Series:
    """The product family to feature: the customer's largest spend; a customer with no
    spend gets the family whose spend correlates most with Response here (the first
    family without Response). Plain strings, the customers' index."""
    spend = customers[list(SPEND_COLUMNS)]
    families = [PRODUCT_FAMILIES[column] for column in SPEND_COLUMNS]
    values = spend.to_numpy()
    product = pd.Series(np.asarray(families, dtype=object)[values.argmax(axis=1)], index=customers.index)
    no_spend = values.max(axis=1) <= 0
    if no_spend.any():
        product[no_spend] = _most_responsive_family(customers)
    return product.rename("feature_product")


def _most_responsive_family(customers: pd.DataFrame) -> str:
    if RESPONSE not in customers.columns or customers[RESPONSE].isna().all():
        return PRODUCT_FAMILIES[SPEND_COLUMNS[0]]
    columns = customers[[*SPEND_COLUMNS, RESPONSE]]  # before the rows: not a copy of every column
    labelled = columns[columns[RESPONSE].notna().to_numpy()]
    spend = labelled[list(SPEND_COLUMNS)]
    varying = spend.loc[:, spend.min() < spend.max()]  # a constant column has no correlation
    if varying.empty or labelled[RESPONSE].nunique() < 2:
        return PRODUCT_FAMILIES[SPEND_COLUMNS[0]]
    return PRODUCT_FAMILIES[varying.corrwith(labelled[RESPONSE].astype(float)).idxmax()]


def action_evidence(customers: pd.DataFrame) -> pd.DataFrame:
    """Per reach channel, in ``REACH_CHANNELS`` order (every channel, even an empty one):
    the rule, customers, share, responders, response rate with its 95% Wilson interval, and
    the mean web visits and web / catalogue / store purchases that the rule reads. Without
    Response the response columns are empty."""
    channel = reach_channel(customers)
    labelled = RESPONSE in customers.columns and customers[RESPONSE].notna().any()
    frame = pd.DataFrame(
        {
            "reach_channel": channel,
            "responded": customers[RESPONSE].astype(float) if labelled else np.nan,
            "web_visits_month": customers["NumWebVisitsMonth"],
            "web_purchases": customers["NumWebPurchases"],
            "catalogue_purchases": customers["NumCatalogPurchases"],
            "store_purchases": customers["NumStorePurchases"],
        }
    )
    grouped = frame.groupby("reach_channel", observed=False)
    table = grouped[["web_visits_month", "web_purchases", "catalogue_purchases", "store_purchases"]].mean()
    table = table.add_prefix("mean_")
    table.insert(0, "customers", grouped.size().astype("int64"))
    table.insert(1, "share", table["customers"] / max(len(frame), 1))
    rows = []
    for name in REACH_CHANNELS:
        known = frame.loc[frame["reach_channel"] == name, "responded"].dropna()
        responders, n = int(known.sum()), len(known)
        low, high = wilson_interval(responders, n) if labelled else (np.nan, np.nan)
        rows.append(
            {
                "responders": responders if labelled else pd.NA,
                "response_rate": responders / n if labelled and n else np.nan,
                "response_rate_low": low,
                "response_rate_high": high,
            }
        )
    response = pd.DataFrame(rows, index=list(REACH_CHANNELS))
    response["responders"] = response["responders"].astype("Int64")
    table = table.reindex(list(REACH_CHANNELS)).join(response)
    table.insert(0, "rule", [REACH_RULES[name] for name in REACH_CHANNELS])
    table.index = table.index.astype(str)
    columns = ["reach_channel", "rule", "customers", "share", "responders", "response_rate",
               "response_rate_low", "response_rate_high"]
    table = table.rename_axis("reach_channel").reset_index()
    return table[columns + [c for c in table.columns if c not in columns]]
