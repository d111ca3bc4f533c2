"""Scores, contact decisions and the money impact of retargeting each cluster."""

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from campaign_pipeline.economics import Budget, CampaignPrices, choose_contacts
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.transforms.actions import DETAIL_COLUMNS, feature_product, reach_channel
from campaign_pipeline.transforms.buckets import FrameSource, frames_of, stable_sample
from campaign_pipeline.transforms.profiles import MIX_COLUMNS, ClusterSums, segment_mix
from campaign_pipeline.transforms.campaign import INTERVAL_SEED
from campaign_pipeline.transforms.uncertainty import BOOTSTRAP_SAMPLE, MIN_CLUSTER_ROWS, cluster_profit_intervals

RECOMMENDATION_RULE = (
    "the cluster with the largest positive targeted profit (contacting only its customers "
    "whose expected profit is positive); ties go to the larger cluster"
)


def score_customers(
    clustered: pd.DataFrame, probability: np.ndarray, prices: CampaignPrices, budget: Budget = Budget()
) -> pd.DataFrame:
    """Per customer: probability, decile (1 = best 10%), expected profit and the contact
    decision of ``economics.choose_contacts`` (break-even, within the budget)."""
    scored = pd.DataFrame(
        {
            "ID": clustered["ID"].to_numpy(),
            "cluster": clustered["cluster"].to_numpy(),
            "cluster_name": clustered["cluster_name"].to_numpy(),
            "response_probability": probability,
        },
        index=clustered.index,
    )
    # Rank first so that ties cannot make deciles uneven or unstable.
    rank = scored["response_probability"].rank(method="first", ascending=False)
    scored["decile"] = ((rank.to_numpy() - 1) * 10 // len(scored) + 1).astype("int64")
    scored["expected_profit"] = prices.expected_profit(scored["response_probability"])
    scored["contact"] = choose_contacts(scored["response_probability"].to_numpy(), prices, budget)
    scored[RESPONSE] = clustered[RESPONSE].astype(float).to_numpy() if RESPONSE in clustered.columns else np.nan
    return scored


def retargeting_table(scored: "pd.DataFrame | FrameSource", profile: pd.DataFrame, prices: CampaignPrices) -> pd.DataFrame:
    """One row per cluster: size, observed and predicted response, money for contacting
    everyone and for contacting only the customers worth it, and the recommendation. Adds
    up per-bucket sums, so it holds one bucket (and two columns of every customer for the
    intervals) at a time."""
    cost, revenue = prices.cost_per_contact, prices.revenue_per_response
    table = _cluster_score_sums(scored, prices)
    table["share"] = table["customers"] / table["customers"].sum()
    table["contact_cost"] = table["customers"] * cost
    table["expected_revenue"] = table["expected_responders"] * revenue
    table["expected_profit"] = table["expected_revenue"] - table["contact_cost"]
    table["targeted_cost"] = table["targeted_customers"] * cost
    table["targeted_revenue"] = table["targeted_expected_responders"] * revenue
    table["targeted_profit"] = table["targeted_revenue"] - table["targeted_cost"]
    # The intervals resample a stable sample of the scores (every customer up to
    # BOOTSTRAP_SAMPLE), placed around the whole table's sums when it is a sample.
    scores = stable_sample(scored, BOOTSTRAP_SAMPLE, INTERVAL_SEED, stratify="cluster", columns=["cluster", "response_probability"], floor=MIN_CLUSTER_ROWS)
    population = table[["customers", "worth_profit"]].rename(columns={"worth_profit": "profit"})
    sampled = len(scores) < table["customers"].sum()
    intervals = cluster_profit_intervals(scores["cluster"].to_numpy(), scores["response_probability"].to_numpy(), prices,
                                         random_state=INTERVAL_SEED, population=population if sampled else None)  # fmt: skip
    table = table.drop(columns="worth_profit")
    table["targeted_profit_low"] = [intervals[cluster][0] for cluster in table.index]
    table["targeted_profit_high"] = [intervals[cluster][1] for cluster in table.index]
    total = table["targeted_profit"].sum()
    table["share_of_expected_profit"] = table["targeted_profit"] / total if total > 0 else 0.0
    best = table.sort_values(["targeted_profit", "customers"], ascending=False).index[0]
    table["recommended"] = table.index == best
    table = table.reset_index().rename(columns={"index": "cluster"})
    table = table.merge(profile, on="cluster", how="left")
    table["targeted_customers"] = table["targeted_customers"].astype("int64")
    table["customers"] = table["customers"].astype("int64")
    return table


def _cluster_score_sums(scored: "pd.DataFrame | FrameSource", prices: CampaignPrices) -> pd.DataFrame:
    """Per cluster, summed over the buckets: name, customers, observed response rate, mean
    score, expected responders, the contacted customers with their expected responders,
    and the expected profit of everyone worth contacting (``worth_profit``, budget or not)."""
    parts = []
    for frame in frames_of(scored, ["cluster", "cluster_name", "response_probability", "contact", RESPONSE]):
        response = frame[RESPONSE] if RESPONSE in frame.columns else pd.Series(np.nan, index=frame.index)
        contacted = frame["response_probability"].where(frame["contact"])
        sums = pd.DataFrame({"cluster": frame["cluster"], "customers": 1, "responders": response, "labelled": response.notna(),
                             "expected_responders": frame["response_probability"], "targeted_customers": frame["contact"],
                             "targeted_expected_responders": contacted.fillna(0.0),
                             "worth_profit": prices.expected_profit(frame["response_probability"]).where(
                                 prices.worth_contacting(frame["response_probability"]), 0.0)}).groupby("cluster").sum()  # fmt: skip
        parts.append(sums.assign(name=frame.groupby("cluster")["cluster_name"].first()))
    combined = pd.concat(parts)
    table = combined.drop(columns=["name"]).groupby(level=0).sum()
    table.insert(0, "name", combined.groupby(level=0)["name"].first())
    table["response_rate"] = table["responders"] / table["labelled"].replace(0, np.nan)
    table["mean_score"] = table["expected_responders"] / table["customers"]
    return table[["name", "customers", "response_rate", "mean_score", "expected_responders", "targeted_customers",
                  "targeted_expected_responders", "worth_profit"]].rename_axis(None)  # fmt: skip


def recommendation_rationale(table: pd.DataFrame) -> str:
    """Why the recommended cluster, in numbers."""
    row = table[table["recommended"]].iloc[0]
    if row["targeted_profit"] <= 0:
        return (
            "No cluster has a customer whose expected profit is positive at this cost and revenue, "
            f"so no retargeting is worth it; '{row['name']}' (cluster {row['cluster']}) loses least."
        )
    return (
        f"Recommended: cluster {row['cluster']} '{row['name']}' ({row['customers']} customers, "
        f"{row['share']:.0%} of the base). Contacting its {row['targeted_customers']} customers with "
        f"positive expected profit is expected to bring {row['targeted_expected_responders']:.0f} "
        f"acceptances and {row['targeted_profit']:,.0f} MU profit (95% interval {row['targeted_profit_low']:,.0f} "
        f"to {row['targeted_profit_high']:,.0f}), "
        f"{row['share_of_expected_profit']:.0%} of the targeted profit over all clusters "
        f"(contacting the whole cluster: {row['expected_profit']:,.0f} MU). Rule: {RECOMMENDATION_RULE}."
    )


# The order of the contact list: best expected profit first, then by ID.
CONTACT_ORDER = {"by": ["expected_profit", "ID"], "ascending": [False, True]}


# What a contact list shows of each scored customer it contacts.
LISTED_SCORES = ["ID", "cluster", "cluster_name", "response_probability", "expected_profit"]


def contact_list(scored: "pd.DataFrame | FrameSource", clustered: "pd.DataFrame | FrameSource") -> Iterator[pd.DataFrame]:
    """The contact list, one bucket's contacts at a time, each in ``CONTACT_ORDER``: one
    row per customer to contact, how to reach them (``actions.reach_channel``, a way of
    reaching a person, never the channel they buy in) and what to feature
    (``actions.feature_product``), e.g. "email, feature meat". ``buckets.merge_sorted``
    merges the buckets' lists into one."""
    buckets = zip(frames_of(scored, ["contact", *LISTED_SCORES]), frames_of(clustered, list(DETAIL_COLUMNS)), strict=True)
    for bucket_scored, bucket_clustered in buckets:
        contacts = _bucket_contacts(bucket_scored, bucket_clustered)
        yield contacts.sort_values(**CONTACT_ORDER, kind="stable").reset_index(drop=True)


def _bucket_contacts(scored: pd.DataFrame, clustered: pd.DataFrame) -> pd.DataFrame:
    details = pd.DataFrame(
        {
            "ID": clustered["ID"].to_numpy(),
            "reach_channel": reach_channel(clustered).astype(str).to_numpy(),  # plain text in the export
            "feature_product": feature_product(clustered).astype(str).to_numpy(),
        }
    )
    contacts = scored.loc[scored["contact"], LISTED_SCORES]
    contacts = contacts.merge(details, on="ID", how="left")
    contacts["suggested_action"] = contacts["reach_channel"] + ", feature " + contacts["feature_product"]
    return contacts


def channel_sums(contacts: pd.DataFrame) -> pd.DataFrame:
    """Contacts, expected acceptances and expected profit per reach channel: the partial
    aggregate of one bucket's contacts."""
    return contacts.groupby("reach_channel").agg(
        contacts=("ID", "size"),
        expected_responders=("response_probability", "sum"),
        expected_profit=("expected_profit", "sum"),
    )


def channel_summary(partials: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """``channel_sums`` of every bucket added up, the most profitable reach channel first."""
    partials = list(partials)
    summary = partials[0] if len(partials) == 1 else pd.concat(partials).groupby(level=0).sum()
    return summary.sort_values("expected_profit", ascending=False).reset_index()


PROFILE_MEANS = {"Income": "mean_income", "customer_value_index": "mean_spend", "Recency": "mean_recency_days"}


def impact_profile(clustered: "pd.DataFrame | FrameSource") -> pd.DataFrame:
    """Per cluster, in real units: mean income and spend (MU), mean recency (days), channel
    mix and top product family; the profile columns of the retargeting table. Reads one
    bucket at a time."""
    sums = ClusterSums(clustered, [*PROFILE_MEANS, *MIX_COLUMNS])
    means = sums.means(list(PROFILE_MEANS)).rename(columns=PROFILE_MEANS).rename_axis("cluster")
    mix = segment_mix(sums).drop(columns=["response_rate"], errors="ignore")
    return means.reset_index().merge(mix, on="cluster")
