"""Bootstrap intervals: sklearn-equal weighted ranking scores, intervals around their
points, determinism, the full-size scaling above the sample size, and cluster profits."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from campaign_pipeline.economics import CampaignPrices
from campaign_pipeline.transforms.uncertainty import (
    INTERVAL_KEYS,
    _placed,
    bootstrap_intervals,
    cluster_profit_intervals,
    weighted_ranking_scores,
)

PRICES = CampaignPrices(cost_per_contact=3, revenue_per_response=11, source="test")


def scored(n: int, seed: int = 0, decimals: int | None = 3) -> tuple[np.ndarray, np.ndarray]:
    """Responses drawn from calibrated probabilities; rounding makes tied scores."""
    rng = np.random.default_rng(seed)
    probability = 1 / (1 + np.exp(-(1.5 * rng.normal(size=n) - 2)))
    y = (rng.random(n) < probability).astype(int)
    return y, (np.round(probability, decimals) if decimals is not None else probability)


def strict(function, *args, **kwargs):
    """Call with every warning an error: no interval may need extending to its point."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def million():
    y, probability = scored(1_000_000, seed=7)
    return y, probability, strict(bootstrap_intervals, y, probability, PRICES, sample=20_000)


@pytest.mark.parametrize(
    "n, seed, decimals",
    [(50, 0, None), (500, 1, 1), (2240, 2, 3), (2240, 3, 2), (5000, 4, None), (300, 5, 0)],
)
def test_unit_weights_equal_sklearn(n, seed, decimals):
    y, probability = scored(n, seed, decimals)
    auc, ap = weighted_ranking_scores(y, probability)
    assert abs(auc[0] - roc_auc_score(y, probability)) <= 1e-12
    assert abs(ap[0] - average_precision_score(y, probability)) <= 1e-12


def test_resample_counts_equal_sklearn_sample_weight():
    y, probability = scored(1000, seed=3, decimals=2)
    counts = np.random.default_rng(0).multinomial(1000, np.full(1000, 1e-3), size=5)
    auc, ap = weighted_ranking_scores(y, probability, counts)
    for row, weights in enumerate(counts):
        assert abs(auc[row] - roc_auc_score(y, probability, sample_weight=weights)) <= 1e-12
        assert abs(ap[row] - average_precision_score(y, probability, sample_weight=weights)) <= 1e-12


@pytest.mark.parametrize("n, seed, sample", [(150, 0, 20_000), (2240, 1, 20_000), (2240, 2, 20_000), (8000, 3, 3000)])
def test_intervals_contain_their_point_estimates(n, seed, sample):
    y, probability = scored(n, seed)
    intervals = strict(bootstrap_intervals, y, probability, PRICES, sample=sample, random_state=seed)
    outcome = PRICES.outcome(PRICES.worth_contacting(probability), y.astype(bool))
    points = {
        "cv_roc_auc_interval": roc_auc_score(y, probability),
        "cv_pr_auc_interval": average_precision_score(y, probability),
        "contacted_response_rate_interval": outcome["response_rate"],
        "campaign_profit_interval": outcome["profit"],
    }
    assert list(intervals) == list(INTERVAL_KEYS)
    for key, point in points.items():
        low, high = intervals[key]
        assert low < point < high, key
    assert intervals.details["extended_to_point"] == []
    assert intervals.details["resampled_rows"] == n if n <= sample else abs(intervals.details["resampled_rows"] - sample) <= 4


def test_same_inputs_same_intervals_and_the_seed_matters():
    y, probability = scored(2240, seed=1)
    first = bootstrap_intervals(y, probability, PRICES, random_state=4)
    assert first == bootstrap_intervals(y, probability, PRICES, random_state=4)
    assert first != bootstrap_intervals(y, probability, PRICES, random_state=5)
    cluster = np.arange(2240) % 3
    assert cluster_profit_intervals(cluster, probability, PRICES) == cluster_profit_intervals(cluster, probability, PRICES)


def test_more_customers_give_a_narrower_profit_interval_relative_to_the_profit():
    """The profit is a sum, so its interval widens like sqrt(n) while the profit grows like n:
    relative to the profit (and per customer) it narrows, as the rate and AUC intervals do."""
    widths = {}
    for n in (2240, 20_000):
        y, probability = scored(n, seed=11)
        intervals = bootstrap_intervals(y, probability, PRICES)
        profit = intervals.details["point_estimates"]["campaign_profit_interval"]
        low, high = intervals["campaign_profit_interval"]
        widths[n] = ((high - low) / profit, np.diff(intervals["contacted_response_rate_interval"])[0])
    assert widths[20_000][0] < widths[2240][0] / 2
    assert widths[20_000][1] < widths[2240][1] / 2


def test_million_rows_scale_money_to_the_full_size(million):
    y, probability, intervals = million
    contacted = PRICES.worth_contacting(probability)
    full_profit = PRICES.outcome(contacted, y.astype(bool))["profit"]
    low, high = intervals["campaign_profit_interval"]
    assert intervals.details["resampled_rows"] < 21_000
    assert low < full_profit < high
    # Around the full-size profit, nowhere near the 20,000-row sample's own (~1/50th).
    assert low > 0.95 * full_profit and high < 1.05 * full_profit
    # Its width is the full table's bootstrap spread (sqrt(n) x sd of per-customer profit),
    # not the sample's spread scaled by n/m (which is sqrt(50) ~ 7x wider).
    money = np.where(contacted, y * PRICES.revenue_per_response - PRICES.cost_per_contact, 0.0)
    expected_width = 2 * 1.96 * np.sqrt(len(y)) * money.std()
    assert 0.85 < (high - low) / expected_width < 1.15
    rate = PRICES.outcome(contacted, y.astype(bool))["response_rate"]
    rate_low, rate_high = intervals["contacted_response_rate_interval"]
    assert rate_low < rate < rate_high
    expected_rate_width = 2 * 1.96 * np.sqrt(rate * (1 - rate) / contacted.sum())
    assert 0.85 < (rate_high - rate_low) / expected_rate_width < 1.15


def test_sampled_ranking_intervals_match_the_full_bootstrap_width():
    y, probability = scored(20_000, seed=5)
    full = bootstrap_intervals(y, probability, PRICES, resamples=400)
    sampled = bootstrap_intervals(y, probability, PRICES, resamples=400, sample=4000)
    assert sampled.details["resampled_rows"] < 4100
    for key in INTERVAL_KEYS:
        ratio = np.diff(sampled[key])[0] / np.diff(full[key])[0]
        assert 0.75 < ratio < 1.33, (key, ratio)


def targeted_expected_profit(cluster, probability):
    value = np.where(PRICES.worth_contacting(probability), PRICES.expected_profit(probability), 0.0)
    return {int(label): value[cluster == label].sum() for label in np.unique(cluster)}


@pytest.mark.parametrize("n", [2240, 1_000_000])
def test_cluster_intervals_contain_each_clusters_targeted_expected_profit(n, million):
    probability = million[1][:n] if n == 1_000_000 else scored(n, seed=2)[1]
    cluster = np.random.default_rng(3).choice([0, 1, 2, 5], size=n, p=[0.5, 0.3, 0.195, 0.005])
    probability = probability.copy()
    probability[:100], cluster[:100] = 0.0, 9  # cluster 9: nobody worth contacting
    intervals = strict(cluster_profit_intervals, cluster, probability, PRICES)
    points = targeted_expected_profit(cluster, probability)
    assert set(intervals) == set(points)
    assert intervals[9] == [0.0, 0.0]
    for label, point in points.items():
        low, high = intervals[label]
        if point:
            assert low < point < high, label
    if n == 1_000_000:  # the small cluster 5 is sampled at a floor, its interval still about its point
        low, high = intervals[5]
        assert high - low < 0.2 * points[5]


def test_nobody_contacted_gives_zero_rate_and_profit():
    y, probability = scored(500, seed=1)
    intervals = bootstrap_intervals(y, probability * 0.1, PRICES)
    assert intervals["contacted_response_rate_interval"] == [0.0, 0.0]
    assert intervals["campaign_profit_interval"] == [0.0, 0.0]
    assert intervals["cv_roc_auc_interval"][0] < intervals["cv_roc_auc_interval"][1]


def test_single_class_is_refused():
    with pytest.raises(ValueError, match="both responders and non-responders"):
        bootstrap_intervals(np.zeros(100, dtype=int), np.linspace(0, 1, 100), PRICES)


def test_single_class_resamples_are_skipped_and_counted():
    y = np.zeros(40, dtype=int)
    y[-1] = 1
    probability = np.linspace(0.0, 0.9, 40)
    intervals = strict(bootstrap_intervals, y, probability, PRICES)
    skipped = intervals.details["auc_resamples_skipped"]
    assert 250 < skipped < 500  # (39/40)^40 ~ 36% of draws miss the one responder
    low, high = intervals["cv_roc_auc_interval"]
    assert 0.0 <= low <= 1.0 == high


def test_a_point_outside_its_percentile_interval_is_extended_with_a_warning():
    extended = []
    with pytest.warns(RuntimeWarning, match="excludes the point"):
        interval = _placed("rate", 0.1, np.linspace(0.2, 0.4, 100), 0.1, 1.0, 0.95, (0, 1), extended)
    assert interval[0] == 0.1 and interval[1] == pytest.approx(0.395, abs=0.001)
    assert extended == ["rate"]
    # Floating-point rounding is closed without a warning.
    extended = []
    low, high = strict(_placed, "auc", 1.0, np.full(10, 1 - 1e-16), 1.0, 1.0, 0.95, (0, 1), extended)
    assert low <= 1.0 == high and extended == []


def test_intervals_of_a_fixed_sample_are_placed_around_the_whole_population():
    """A caller holding a stable sample of 20,000 of 200,000 customers, and the whole
    table's sums, gets the intervals of resampling the whole table: around the whole
    campaign's figures, about as wide as when the function samples the full arrays itself."""
    n, sample = 200_000, 20_000
    y, probability = scored(n, seed=3, decimals=None)
    cluster = np.arange(n) % 4
    contacted = PRICES.worth_contacting(probability)
    whole = bootstrap_intervals(y, probability, PRICES, contacted=contacted)
    rows = np.sort(np.random.default_rng(8).choice(n, sample, replace=False))
    outcome = PRICES.outcome(contacted, y.astype(bool))
    placed = bootstrap_intervals(y[rows], probability[rows], PRICES, contacted=contacted[rows], population=(n, outcome))
    for key in ("contacted_response_rate_interval", "campaign_profit_interval"):
        low, high = placed[key]
        full_low, full_high = whole[key]
        point = outcome["profit"] if key == "campaign_profit_interval" else outcome["response_rate"]
        assert low <= point <= high
        assert (high - low) == pytest.approx(full_high - full_low, rel=0.25)
    value = np.where(contacted, PRICES.expected_profit(probability), 0.0)
    population = pd.DataFrame({"customers": np.bincount(cluster), "profit": np.bincount(cluster, weights=value)})
    by_cluster = cluster_profit_intervals(cluster[rows], probability[rows], PRICES, population=population)
    full = cluster_profit_intervals(cluster, probability, PRICES)
    for label, (low, high) in by_cluster.items():
        assert low <= population.loc[label, "profit"] <= high
        assert (high - low) == pytest.approx(full[label][1] - full[label][0], rel=0.25)
