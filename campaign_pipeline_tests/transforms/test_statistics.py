"""Statistics on hand-made frames with known answers, including the small-group merge."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from campaign_pipeline.transforms.buckets import ROWS, count_by
from campaign_pipeline.transforms.statistics import (
    COUNTED,
    association_test,
    conversion_analysis,
    conversion_counts,
    format_p,
    kruskal_wallis,
    merge_small_groups,
    segment_rates,
    wilson_interval,
)


def test_wilson_interval_known_values():
    # 10 of 100: the textbook Wilson 95% interval is (0.0552, 0.1744).
    low, high = wilson_interval(10, 100)
    assert low == pytest.approx(0.0552, abs=5e-4) and high == pytest.approx(0.1744, abs=5e-4)
    low, high = wilson_interval(0, 6)
    assert low == 0 and high == pytest.approx(0.390, abs=1e-3)
    assert all(np.isnan(wilson_interval(0, 0)))


def customers(groups: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Customers per group as (size, responders), 10 interactions each."""
    rows = []
    for group, (size, responders) in groups.items():
        rows += [{"g": group, "Response": int(i < responders), "total_interactions": 10} for i in range(size)]
    frame = pd.DataFrame(rows)
    frame["conversion_rate"] = frame["Response"] / frame["total_interactions"]
    return frame


def counted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s customers counted as the analysis counts them, by segment ``g``."""
    return count_by(frame, ["g", *COUNTED])


def response_table(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.crosstab(frame["g"], frame["Response"])


def test_segment_rates_counts_and_order():
    frame = customers({"b": (40, 4), "a": (60, 30)})
    rates = segment_rates(counted(frame), "g", order=["b", "a"])
    assert rates["segment"].tolist() == ["b", "a"]
    assert rates["response_rate"].tolist() == [0.1, 0.5]
    assert rates["conversion_rate"].tolist() == pytest.approx([0.01, 0.05])


def test_small_groups_are_merged_with_their_smaller_neighbour():
    frame = customers({"<30": (2, 0), "30-39": (100, 15), "40-49": (300, 45), "50-59": (200, 30)})
    table, merges, merged_into = merge_small_groups(response_table(frame), ["<30", "30-39", "40-49", "50-59"])
    assert table.index.tolist() == ["<30+30-39", "40-49", "50-59"]
    assert merges == ["'<30' (n=2) merged with '30-39'"]
    assert table.loc["<30+30-39"].sum() == 102 and table.loc["<30+30-39", 1] == 15
    assert merged_into == {"<30": "<30+30-39", "30-39": "<30+30-39", "40-49": "40-49", "50-59": "50-59"}


def test_no_merge_when_expected_counts_suffice():
    frame = customers({"a": (100, 20), "b": (100, 30), "c": (100, 25)})
    table, merges, _ = merge_small_groups(response_table(frame), ["a", "b", "c"])
    assert merges == [] and table.index.tolist() == ["a", "b", "c"]


def test_chi_square_and_cramers_v_match_scipy():
    frame = customers({"a": (100, 10), "b": (100, 40)})
    result = association_test(counted(frame), "g", ["a", "b"])
    table = np.array([[90, 10], [60, 40]])
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.chi2 == pytest.approx(chi2) and result.p_value == pytest.approx(p_value)
    assert result.cramers_v == pytest.approx(np.sqrt(chi2 / 200))
    assert result.significant
    assert "differs significantly" in result.conclusion() and "Cramér's V = 0.346" in result.conclusion()


def test_equal_rates_are_not_significant():
    frame = customers({"a": (100, 15), "b": (100, 15), "c": (100, 16)})
    result = association_test(counted(frame), "g", ["a", "b", "c"])
    assert not result.significant and result.p_value > 0.9
    assert result.conclusion().startswith("Response does not differ significantly")


def test_p_value_formatting():
    assert format_p(0.0001) == "p < 0.001" and format_p(0.004) == "p = 0.004" and format_p(0.5) == "p = 0.50"


def test_real_file_age_effect_is_not_significant(real_csv):
    from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
    from campaign_pipeline.transforms.features import engineer_features
    from campaign_pipeline.sources.reading import read_customers

    raw, _ = read_customers(real_csv)
    cleaned, _, _ = clean_customers(raw, CleaningRules())
    analysis = conversion_analysis(conversion_counts(engineer_features(cleaned, pd.Timestamp("2014-12-31"))))
    age = analysis[analysis["dimension"].eq("age_group")].iloc[0]
    assert age["chi2_p_value"] > 0.05 and "does not differ significantly" in age["conclusion"]
    loyalty = analysis[analysis["dimension"].eq("loyalty_score")].iloc[0]
    assert loyalty["chi2_p_value"] < 0.001


def test_kruskal_wallis_from_counts_is_scipys_on_the_customers():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 900), "value": rng.integers(0, 12, 900) / 4})
    frame.loc[frame["g"].eq("c"), "value"] += 0.5  # a real shift, with many ties
    rows = frame.value_counts().rename(ROWS).reset_index()
    h, p_value = kruskal_wallis(rows["g"].to_numpy(), rows["value"].to_numpy(), rows[ROWS].to_numpy())
    expected = stats.kruskal(*(frame.loc[frame["g"].eq(g), "value"] for g in ("a", "b", "c")))
    assert h == pytest.approx(expected.statistic, rel=1e-12) and p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert all(np.isnan(kruskal_wallis(np.array(["a", "b"]), np.array([1.0, 1.0]), np.array([5, 5]))))
