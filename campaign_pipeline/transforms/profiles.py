"""Cluster profiles in real units, each beside the overall value, and names built only
from differences that are real (Mann-Whitney U of the cluster against everyone else,
p < 0.01, and at least a small effect: |rank-biserial| >= 0.2)."""

import numpy as np
import pandas as pd
from scipy import stats

from campaign_pipeline.schemas import CHANNEL_PURCHASE_COLUMNS, PRODUCT_FAMILIES, RESPONSE, SPEND_COLUMNS

# measure -> (column, unit, word when higher, word when lower)
PROFILE_MEASURES = {
    "income": ("Income", "MU", "affluent", "budget"),
    "spend": ("customer_value_index", "MU", "high-spend", "low-spend"),
    "purchases": ("total_purchases", "purchases", "frequent", "occasional"),
    "recency": ("Recency", "days", "lapsed", "recently active"),
    "web_visits": ("NumWebVisitsMonth", "visits/month", "web-browsing", "offline"),
    "children": ("children", "children", "families with children", "households without children"),
    "tenure": ("tenure_months", "months", "long-standing", "newer"),
    "loyalty": ("loyalty_score", "campaigns accepted", "campaign-responsive", "campaign-averse"),
}
# Order in which real differences are used to name a cluster: what marketers segment on.
NAMING_ORDER = ("spend", "income", "children", "loyalty", "purchases", "web_visits", "recency", "tenure")
SIGNIFICANCE = 0.01
MIN_EFFECT = 0.2


def _difference(values: pd.Series, in_cluster: pd.Series) -> tuple[float, float]:
    """(p-value, rank-biserial effect) of the cluster against the rest."""
    inside, outside = values[in_cluster], values[~in_cluster]
    if inside.nunique() + outside.nunique() <= 2 and inside.eq(outside.iloc[0]).all():
        return 1.0, 0.0
    result = stats.mannwhitneyu(inside, outside, alternative="two-sided")
    effect = 2 * result.statistic / (len(inside) * len(outside)) - 1
    return float(result.pvalue), float(effect)


def profile_clusters(clustered: pd.DataFrame) -> pd.DataFrame:
    """One row per cluster and measure: the cluster's mean, the overall mean, the
    difference's p-value and effect, and whether it is real."""
    rows = []
    for cluster, members in clustered.groupby("cluster", sort=True):
        in_cluster = clustered["cluster"].eq(cluster)
        for measure, (column, unit, _, _) in PROFILE_MEASURES.items():
            p_value, effect = _difference(clustered[column], in_cluster)
            rows.append(
                {
                    "cluster": int(cluster),
                    "measure": measure,
                    "unit": unit,
                    "cluster_mean": float(members[column].mean()),
                    "overall_mean": float(clustered[column].mean()),
                    "p_value": p_value,
                    "effect": effect,
                    "real_difference": bool(p_value < SIGNIFICANCE and abs(effect) >= MIN_EFFECT),
                }
            )
    return pd.DataFrame.from_records(rows)


def name_clusters(profile: pd.DataFrame) -> dict[int, str]:
    """A short, unique descriptive name per cluster from its two strongest real differences
    in ``NAMING_ORDER`` (a third is added when two names would collide)."""
    words: dict[int, list[str]] = {}
    for cluster, rows in profile.groupby("cluster"):
        real = rows[rows["real_difference"]].set_index("measure")
        ranked = [m for m in NAMING_ORDER if m in real.index]
        words[int(cluster)] = [
            PROFILE_MEASURES[m][2] if real.loc[m, "effect"] > 0 else PROFILE_MEASURES[m][3] for m in ranked
        ]

    def phrase(parts: list[str]) -> str:
        if not parts:
            return "typical customers"
        nouns = [p for p in parts if p.startswith(("families", "households"))]
        adjectives = [p for p in parts if p not in nouns]
        return " ".join([*adjectives, nouns[0] if nouns else "customers"])

    names: dict[int, str] = {}
    for length in (2, 3, len(NAMING_ORDER)):
        names = {cluster: phrase(parts[:length]) for cluster, parts in words.items()}
        if len(set(names.values())) == len(names):
            break
    seen: dict[str, int] = {}
    for cluster in sorted(names):
        base = names[cluster]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            names[cluster] = f"{base} ({seen[base]})"
    return names


def segment_mix(clustered: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: share of purchases by channel and the top product family by spend."""
    channel_columns = list(CHANNEL_PURCHASE_COLUMNS.values())
    purchases = clustered.groupby("cluster")[channel_columns].sum()
    mix = purchases.div(purchases.sum(axis=1).replace(0, np.nan), axis=0).fillna(0)
    mix.columns = [f"{channel}_purchase_share" for channel in CHANNEL_PURCHASE_COLUMNS]
    spend = clustered.groupby("cluster")[list(SPEND_COLUMNS)].sum()
    mix["top_product_family"] = spend.idxmax(axis=1).map(PRODUCT_FAMILIES)
    mix["top_product_share_of_spend"] = spend.max(axis=1) / spend.sum(axis=1).replace(0, np.nan)
    if RESPONSE in clustered.columns:
        mix["response_rate"] = clustered.groupby("cluster")[RESPONSE].mean()
    return mix.reset_index()
