"""Conversion analysis: rates with 95% Wilson intervals, and tests that say whether a
difference between segments is real (chi-square with too-small groups merged, Cramér's V
as the effect size, Kruskal-Wallis on conversion rate), ending in one sentence generated
from the numbers."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import association

from campaign_pipeline.schemas import AGE_GROUPS, RESPONSE
from campaign_pipeline.transforms.buckets import ROWS, FrameSource, count_by

ALPHA = 0.05
MIN_EXPECTED = 5.0
# Segment dimensions of the conversion analysis, with their natural order where they have one.
DIMENSIONS = {
    "age_group": list(AGE_GROUPS),
    "recency_segment": ["Recent", "Medium", "Old"],
    "preferred_channel": ["store", "web", "catalog", "none"],
    "loyalty_score": None,
    "family_size": None,
}
# What the analysis counts customers by, besides their segment.
COUNTED = [RESPONSE, "total_interactions", "conversion_rate"]


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's binomtest); (nan, nan) without trials."""
    if trials == 0:
        return float("nan"), float("nan")
    interval = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def conversion_counts(customers: "pd.DataFrame | FrameSource") -> dict[str, pd.DataFrame]:
    """Per dimension of ``DIMENSIONS``, the customers counted by its segment, ``Response``,
    interactions and conversion rate (``buckets.count_by``): everything the analysis needs,
    as partial counts that add up bucket by bucket."""
    return {dimension: count_by(customers, [dimension, *COUNTED]) for dimension in DIMENSIONS}


def segment_rates(counts: pd.DataFrame, dimension: str, order: list | None = None) -> pd.DataFrame:
    """Per segment of ``counts`` (``conversion_counts``): customers, responders, response
    rate and the pooled conversion rate (responses per interaction), each with a 95% Wilson
    interval, and the mean of the per-customer conversion rate."""
    rows = counts[ROWS]
    rated = rows.where(counts["conversion_rate"].notna(), 0)
    weighted = pd.DataFrame(
        {
            dimension: counts[dimension],
            "customers": rows,
            "responders": rows * counts[RESPONSE],
            "interactions": rows * counts["total_interactions"],
            "rated": rated,
            "conversion_sum": rated * counts["conversion_rate"].fillna(0),
        }
    )
    sums = weighted.groupby(dimension, observed=True).sum()
    table = sums[["customers", "responders", "interactions"]].assign(
        conversion_rate_mean=sums["conversion_sum"] / sums["rated"].replace(0, np.nan)
    )
    if order is not None:
        table = table.reindex([level for level in order if level in table.index])
    else:
        table = table.sort_index()
    table["response_rate"] = table["responders"] / table["customers"]
    table[["response_rate_low", "response_rate_high"]] = [
        wilson_interval(r, n) for r, n in zip(table["responders"], table["customers"])
    ]
    table["conversion_rate"] = table["responders"] / table["interactions"].replace(0, np.nan)
    table[["conversion_rate_low", "conversion_rate_high"]] = [
        wilson_interval(r, n) for r, n in zip(table["responders"], table["interactions"])
    ]
    table.index = table.index.astype(str)
    return table.rename_axis("segment").reset_index().assign(dimension=dimension)


def kruskal_wallis(groups: np.ndarray, values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """``scipy.stats.kruskal`` (H with the tie correction, and its chi-square p) of samples
    given as counted values: ``counts[i]`` customers of group ``groups[i]`` have value
    ``values[i]``. NaN when a value is missing or every value is the same."""
    values, counts = np.asarray(values, dtype=float), np.asarray(counts, dtype=float)
    n = counts.sum()
    if np.isnan(values).any() or n < 2:
        return float("nan"), float("nan")
    distinct, at = np.unique(values, return_inverse=True)
    ties = np.bincount(at, weights=counts)
    mean_rank = np.cumsum(ties) - (ties - 1) / 2  # average rank of each distinct value
    _, group_at = np.unique(groups, return_inverse=True)
    rank_sums = np.bincount(group_at, weights=counts * mean_rank[at])
    sizes = np.bincount(group_at, weights=counts)
    correction = 1 - np.sum(ties**3 - ties) / (n**3 - n)
    if correction <= 0 or len(sizes) < 2:
        return float("nan"), float("nan")
    h = (12 / (n * (n + 1)) * np.sum(rank_sums**2 / sizes) - 3 * (n + 1)) / correction
    return float(h), float(stats.chi2.sf(h, len(sizes) - 1))


@dataclass
class AssociationTest:
    """Chi-square of Response by a segment dimension, after merging small groups."""

    dimension: str
    groups: dict[str, int]
    merges: list[str] = field(default_factory=list)
    chi2: float = float("nan")
    dof: int = 0
    p_value: float = float("nan")
    cramers_v: float = float("nan")
    kruskal_h: float = float("nan")
    kruskal_p: float = float("nan")
    customers: int = 0

    @property
    def significant(self) -> bool:
        return bool(self.p_value < ALPHA)

    def conclusion(self) -> str:
        if np.isnan(self.p_value):
            return (
                f"Response by {self.dimension.replace('_', ' ')} cannot be tested: it needs at least two groups "
                f"and both responders and non-responders ({self.customers} customers)."
            )
        verdict = "differs significantly" if self.significant else "does not differ significantly"
        merged = f"; merged for the test: {', '.join(self.merges)}" if self.merges else ""
        groups = ", ".join(f"{name} n={size}" for name, size in self.groups.items())
        return (
            f"Response {verdict} by {self.dimension.replace('_', ' ')} at α = {ALPHA} "
            f"(chi-square {format_p(self.p_value)}, Cramér's V = {self.cramers_v:.3f}, {self.customers} customers; "
            f"conversion rate Kruskal-Wallis {format_p(self.kruskal_p)}; groups {groups}{merged})."
        )


def format_p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}" if p_value < 0.01 else f"p = {p_value:.2f}"


def merge_small_groups(table: pd.DataFrame, order: list) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Merge ordered groups of ``table`` (customers by group, as text, and Response) until
    every expected count is at least ``MIN_EXPECTED``: the smallest offending group joins
    its smaller neighbour. Returns the merged table in its final order, the merges made,
    and the merged group of every group (groups not in ``order`` are left out)."""
    order = [str(level) for level in order if str(level) in set(table.index)]
    counts = table.reindex(order).fillna(0)
    merged_into = {name: name for name in order}
    merges: list[str] = []
    while len(order) > 2:
        current = counts.reindex(order)
        expected = stats.contingency.expected_freq(current.to_numpy())
        small = [order[i] for i in np.flatnonzero(expected.min(axis=1) < MIN_EXPECTED)]
        if not small:
            break
        sizes = current.sum(axis=1)
        victim = min(small, key=lambda level: sizes[level])
        position = order.index(victim)
        neighbours = [order[i] for i in (position - 1, position + 1) if 0 <= i < len(order)]
        target = min(neighbours, key=lambda level: sizes[level])
        first, second = sorted([victim, target], key=order.index)
        merged_name = f"{first}+{second}"
        counts.loc[merged_name] = counts.loc[victim] + counts.loc[target]
        merged_into = {name: merged_name if group in (victim, target) else group for name, group in merged_into.items()}
        order[order.index(first)] = merged_name
        order.remove(second)
        merges.append(f"'{victim}' (n={int(sizes[victim])}) merged with '{target}'")
    return counts.reindex(order), merges, merged_into


def association_test(counts: pd.DataFrame, dimension: str, order: list[str]) -> AssociationTest:
    """Chi-square of Response x ``dimension`` (small groups merged), Cramér's V, and
    Kruskal-Wallis of conversion rate across the same groups, from ``counts``
    (``conversion_counts``)."""
    names = counts[dimension].astype(str)
    table = counts.pivot_table(index=names, columns=RESPONSE, values=ROWS, aggfunc="sum", fill_value=0, observed=True)
    table, merges, merged_into = merge_small_groups(table, order)
    group = names.map(merged_into)
    in_groups = group.notna().to_numpy()
    sizes = counts[ROWS][in_groups].groupby(group[in_groups]).sum()
    result = AssociationTest(
        dimension=dimension,
        groups={str(level): int(sizes.get(level, 0)) for level in table.index},
        merges=merges,
        customers=int(counts[ROWS].sum()),
    )
    if table.shape[0] < 2 or table.shape[1] < 2:
        return result
    chi2, p_value, dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
    result.chi2, result.p_value, result.dof = float(chi2), float(p_value), int(dof)
    result.cramers_v = float(association(table.to_numpy(), method="cramer"))
    if all(sizes.get(level, 0) for level in table.index):
        result.kruskal_h, result.kruskal_p = kruskal_wallis(
            group[in_groups].to_numpy(), counts["conversion_rate"][in_groups].to_numpy(), counts[ROWS][in_groups].to_numpy()
        )
    return result


def conversion_analysis(counts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rates per segment for every dimension in ``DIMENSIONS``, each row carrying its
    dimension's test (chi-square p, Cramér's V, Kruskal-Wallis p, merges, conclusion),
    from the customers' ``conversion_counts``."""
    parts = []
    for dimension, order in DIMENSIONS.items():
        counted = counts[dimension]
        rates = segment_rates(counted, dimension, order)
        test = association_test(counted, dimension, order or sorted(counted[dimension].dropna().unique()))
        parts.append(
            rates.assign(
                chi2_p_value=test.p_value,
                cramers_v=test.cramers_v,
                kruskal_p_value=test.kruskal_p,
                significant=test.significant,
                test_merges="; ".join(test.merges),
                conclusion=test.conclusion(),
            )
        )
    columns = ["dimension", "segment"]
    table = pd.concat(parts, ignore_index=True)
    return table[columns + [c for c in table.columns if c not in columns]]
