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


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's binomtest); (nan, nan) without trials."""
    if trials == 0:
        return float("nan"), float("nan")
    interval = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def segment_rates(customers: pd.DataFrame, dimension: str, order: list | None = None) -> pd.DataFrame:
    """Per segment: customers, responders, response rate and the pooled conversion rate
    (responses per interaction), each with a 95% Wilson interval, and the mean of the
    per-customer conversion rate."""
    grouped = customers.groupby(dimension, observed=True)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "responders": grouped[RESPONSE].sum(),
            "interactions": grouped["total_interactions"].sum(),
            "conversion_rate_mean": grouped["conversion_rate"].mean(),
        }
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


def merge_small_groups(
    labels: pd.Series, response: pd.Series, order: list
) -> tuple[pd.Series, list[str], list[str]]:
    """Merge ordered groups until every expected count of the Response table is at least
    ``MIN_EXPECTED``: the smallest offending group joins its smaller neighbour.
    Returns the merged labels (categorical in that order), the merges made and the final
    order of groups."""
    # Work on the distinct labels and a small count table; the rows are touched twice.
    codes, uniques = pd.factorize(labels, use_na_sentinel=False)
    names = [str(level) for level in uniques]
    order = [str(level) for level in order if str(level) in set(names)]
    counts = pd.crosstab(codes, np.asarray(response)).rename(index=dict(enumerate(names))).reindex(order).fillna(0)
    merged_into = {name: name for name in names}
    merges: list[str] = []
    while len(order) > 2:
        table = counts.reindex(order)
        expected = stats.contingency.expected_freq(table.to_numpy())
        small = [order[i] for i in np.flatnonzero(expected.min(axis=1) < MIN_EXPECTED)]
        if not small:
            break
        sizes = table.sum(axis=1)
        victim = min(small, key=lambda level: sizes[level])
        position = order.index(victim)
        neighbours = [order[i] for i in (position - 1, position + 1) if 0 <= i < len(order)]
        target = min(neighbours, key=lambda level: sizes[level])
        first, second = sorted([victim, target], key=order.index)
        merged_name = f"{first}+{second}"
        counts.loc[merged_name] = counts.loc[victim] + counts.loc[target]
        merged_into = {
            name: merged_name if group in (victim, target) else group for name, group in merged_into.items()
        }
        order[order.index(first)] = merged_name
        order.remove(second)
        merges.append(f"'{victim}' (n={int(sizes[victim])}) merged with '{target}'")
    position = {group: i for i, group in enumerate(order)}
    group_codes = np.array([position.get(merged_into[name], -1) for name in names])[codes]
    return pd.Series(pd.Categorical.from_codes(group_codes, categories=order), index=labels.index), merges, order


def association_test(customers: pd.DataFrame, dimension: str, order: list[str]) -> AssociationTest:
    """Chi-square of Response x ``dimension`` (small groups merged), Cramér's V, and
    Kruskal-Wallis of conversion rate across the same groups."""
    labels, merges, groups = merge_small_groups(customers[dimension], customers[RESPONSE], order)
    table = pd.crosstab(labels, customers[RESPONSE]).reindex(groups)
    result = AssociationTest(
        dimension=dimension,
        groups={str(level): int(size) for level, size in labels.value_counts().reindex(table.index).items()},
        merges=merges,
        customers=int(len(customers)),
    )
    if table.shape[0] < 2 or table.shape[1] < 2:
        return result
    chi2, p_value, dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
    by_group = customers["conversion_rate"].groupby(labels, observed=True).apply(np.asarray)
    samples = [by_group[level] for level in table.index]
    kruskal = stats.kruskal(*samples) if all(len(s) for s in samples) else None
    result.chi2, result.p_value, result.dof = float(chi2), float(p_value), int(dof)
    result.cramers_v = float(association(table.to_numpy(), method="cramer"))
    if kruskal is not None:
        result.kruskal_h, result.kruskal_p = float(kruskal.statistic), float(kruskal.pvalue)
    return result


def conversion_analysis(customers: pd.DataFrame) -> pd.DataFrame:
    """Rates per segment for every dimension in ``DIMENSIONS``, each row carrying its
    dimension's test (chi-square p, Cramér's V, Kruskal-Wallis p, merges, conclusion)."""
    parts = []
    for dimension, order in DIMENSIONS.items():
        rates = segment_rates(customers, dimension, order)
        test = association_test(customers, dimension, order or sorted(customers[dimension].unique()))
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
