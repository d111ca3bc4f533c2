"""Look-alike model: demographics only, honest out-of-fold figures, and the acceptance on
unseen customers of the reference file."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.sources.prospects import PROSPECT_COLUMNS
from campaign_pipeline.sources.reading import read_customers, type_customer_table
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.transforms.uncertainty import ranking_intervals
from campaign_pipeline.transforms.lookalike import (
    DEMOGRAPHIC_FEATURES,
    LookalikeSettings,
    fit_lookalike_model,
    standard_demographics,
)
from campaign_pipeline.transforms.segmentation import build_segment_preprocessor, to_model_matrix

REFERENCE_DATE = pd.Timestamp("2014-12-31")
FAST = LookalikeSettings(folds=3, resamples=200)
NAMES = {0: "Budget", 1: "Families", 2: "Comfortable", 3: "Affluent"}
ACCEPTANCE_ROC_AUC = 0.62


def clustered(raw: pd.DataFrame) -> pd.DataFrame:
    """Cleaned, engineered customers with a k-means segment (k = 4) on the segmentation matrix."""
    cleaned, _, _ = clean_customers(raw, CleaningRules())
    customers = engineer_features(cleaned, REFERENCE_DATE)
    matrix = to_model_matrix(build_segment_preprocessor().fit(customers), customers)
    return customers.assign(cluster=KMeans(4, n_init=2, random_state=0).fit_predict(matrix))


@pytest.fixture(scope="module")
def synthetic_customers(synthetic_frame) -> pd.DataFrame:
    raw, _ = type_customer_table(synthetic_frame.copy(), "synthetic", "day_first")
    return clustered(raw.reset_index(drop=True))


@pytest.fixture(scope="module")
def synthetic_model(synthetic_customers):
    return fit_lookalike_model(synthetic_customers, NAMES, FAST)


@pytest.fixture(scope="module")
def real_customers(real_csv) -> pd.DataFrame:
    raw, _ = read_customers(real_csv)
    return clustered(raw.reset_index(drop=True))


def test_acceptance_held_out_reference_customers_are_ranked(real_customers):
    """Hold out a stratified 30% of the reference file's cleaned customers, fit on the
    rest, score the held-out part with Response removed (demographics only, as a prospect
    file holds them): responders must rank above the rest, ROC-AUC >= 0.62."""
    train, held_out = train_test_split(
        real_customers, test_size=0.3, stratify=real_customers["Response"], random_state=0
    )
    model = fit_lookalike_model(train, NAMES)
    as_prospects = held_out[list(PROSPECT_COLUMNS)]  # no Response, no purchases
    probability = model.predict_proba(as_prospects)
    held_out_auc = roc_auc_score(held_out["Response"], probability)
    print(f"look-alike held-out ROC-AUC {held_out_auc:.3f}; out-of-fold on the 70% {model.metrics['roc_auc']:.3f}")
    assert held_out_auc >= ACCEPTANCE_ROC_AUC
    # Its own out-of-fold figure is honest: near the held-out one, far below the customer
    # model's 0.88-0.91 (REFERENCE §3), with an interval around it.
    low, high = model.metrics["roc_auc_interval"]
    assert 0.6 < low <= model.metrics["roc_auc"] <= high < 0.85
    assert abs(model.metrics["roc_auc"] - held_out_auc) < 0.1


def test_out_of_fold_figures_on_the_whole_reference_file(real_customers):
    model = fit_lookalike_model(real_customers, NAMES)
    metrics = model.metrics
    print(f"look-alike out-of-fold ROC-AUC {metrics['roc_auc']:.3f} {metrics['roc_auc_interval']}")
    assert 0.62 <= metrics["roc_auc"] < 0.85
    assert metrics["segment_accuracy"] > metrics["segment_majority_share"] + 0.2


def test_metrics_are_the_out_of_fold_scores(synthetic_model):
    oof, metrics = synthetic_model.oof, synthetic_model.metrics
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(oof["Response"], oof["oof_probability"]))
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(oof["Response"], oof["oof_probability"]))
    assert metrics["segment_accuracy"] == pytest.approx(np.mean(oof["cluster"] == oof["oof_segment"]))
    for key in ("roc_auc", "pr_auc"):
        low, high = metrics[f"{key}_interval"]
        assert 0 <= low <= metrics[key] <= high <= 1
    assert metrics["evaluated_rows"] == len(oof)


def test_only_demographics_are_used(synthetic_model, synthetic_customers):
    people = synthetic_customers.head(200)
    full = synthetic_model.predict_proba(people)
    only = synthetic_model.predict_proba(people[list(PROSPECT_COLUMNS)])
    scrambled = people.assign(MntWines=0, Recency=99, AcceptedCmp1=1, Response=1)
    np.testing.assert_array_equal(full, only)
    np.testing.assert_array_equal(full, synthetic_model.predict_proba(scrambled))
    assert ((full >= 0) & (full <= 1)).all()
    assert synthetic_model.features == list(DEMOGRAPHIC_FEATURES)


def test_segments_come_from_the_customers_clusters(synthetic_model, synthetic_customers):
    segments = synthetic_model.predict_segment(synthetic_customers[list(PROSPECT_COLUMNS)])
    assert set(segments) <= set(synthetic_customers["cluster"])
    assert set(synthetic_model.segment_name(segments)) <= set(NAMES.values())


def test_raw_spellings_and_placeholders_are_put_on_the_customers_footing():
    raw = pd.DataFrame(
        {
            "ID": [1, 2, 3],
            "Year_Birth": [1893, 1970, 1970],
            "Education": ["2n Cycle", "Master", "Unknown"],
            "Marital_Status": ["Alone", "YOLO", "Single"],
            "Income": [666_666.0, np.nan, 50_000.0],
            "Kidhome": [0, 1, 0],
            "Teenhome": [0, 0, 1],
        }
    )
    standard = standard_demographics(raw)
    assert standard["Education"].tolist() == ["Master", "Master", "Other"]
    assert standard["Marital_Status"].tolist() == ["Single", "Other", "Single"]
    assert standard["Income"].isna().tolist() == [True, True, False]
    assert standard["Year_Birth"].isna().tolist() == [True, False, False]


def test_placeholder_income_scores_like_a_missing_one(synthetic_model, synthetic_customers):
    person = synthetic_customers[list(PROSPECT_COLUMNS)].head(1)
    placeholder = synthetic_model.predict_proba(person.assign(Income=666_666.0))
    missing = synthetic_model.predict_proba(person.assign(Income=np.nan))
    np.testing.assert_allclose(placeholder, missing)


def test_fitting_is_seeded_and_the_model_pickles(synthetic_model, synthetic_customers):
    again = fit_lookalike_model(synthetic_customers, NAMES, FAST)
    assert again.metrics == synthetic_model.metrics
    restored = pickle.loads(pickle.dumps(synthetic_model))
    np.testing.assert_array_equal(
        restored.predict_proba(synthetic_customers), synthetic_model.predict_proba(synthetic_customers)
    )
    assert synthetic_model.card()["kind"] == "lookalike_model"


def test_cannot_be_fitted_without_both_classes_or_a_cluster(synthetic_customers):
    with pytest.raises(InputDataError, match="cannot be fitted") as caught:
        fit_lookalike_model(synthetic_customers.assign(Response=0), NAMES, FAST)
    assert caught.value.column == "Response"
    with pytest.raises(InputDataError) as caught:
        fit_lookalike_model(synthetic_customers.drop(columns="cluster"), NAMES, FAST)
    assert caught.value.column == "cluster"


def test_ranking_intervals_are_seeded_and_contain_the_point():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 * y + rng.normal(0.4, 0.2, 400), 0, 1)
    first, second = ranking_intervals(y, p, 300, 7), ranking_intervals(y, p, 300, 7)
    assert first == second
    assert first["roc_auc_interval"][0] <= roc_auc_score(y, p) <= first["roc_auc_interval"][1]
    assert first["pr_auc_interval"][0] <= average_precision_score(y, p) <= first["pr_auc_interval"][1]
