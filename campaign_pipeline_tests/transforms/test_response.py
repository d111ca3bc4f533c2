"""Response model: honest out-of-fold evaluation, the money, and scoring without Response."""

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.economics import CampaignPrices
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.sources.reading import read_customers, type_customer_table
from campaign_pipeline.transforms import response
from campaign_pipeline.transforms.response import (
    FEATURES,
    ModelSettings,
    business_goals,
    candidate_pipelines,
    cross_fit,
    fit_response_model,
    grouped_folds,
    profit_curve,
    responder_rules,
    top_decile_lift,
)

REFERENCE_DATE = pd.Timestamp("2014-12-31")
FAST = ModelSettings(folds=3)
PRICES = CampaignPrices(cost_per_contact=3, revenue_per_response=11, source="test")


def engineered(raw: pd.DataFrame) -> pd.DataFrame:
    cleaned, _, _ = clean_customers(raw, CleaningRules())
    return engineer_features(cleaned, REFERENCE_DATE)


@pytest.fixture(scope="module")
def synthetic_customers(synthetic_frame) -> pd.DataFrame:
    raw, _ = type_customer_table(synthetic_frame.copy(), "synthetic", "day_first")
    return engineered(raw.reset_index(drop=True))


@pytest.fixture(scope="module")
def real_customers(real_csv) -> pd.DataFrame:
    raw, _ = read_customers(real_csv)
    return engineered(raw.reset_index(drop=True))


def test_profit_curve_and_lift():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    score = np.linspace(1, 0, 10)
    curve = profit_curve(y, score, PRICES, points=10)
    assert curve["profit"].tolist() == [0, 8, 16, 13, 10, 7, 4, 1, -2, -5, -8]
    assert top_decile_lift(y, score) == pytest.approx(5.0)


def test_goals_are_stated_both_ways():
    goals = business_goals(contacted_rate=0.25, base_rate=0.149)
    assert goals["meets_relative_goal"] and not goals["meets_points_goal"] and not goals["meets_business_expectation"]
    assert "17.1%" in goals["statement"] and "29.9%" in goals["statement"]


def test_model_cannot_be_fitted_on_one_class(synthetic_customers):
    with pytest.raises(InputDataError, match="cannot be fitted") as caught:
        fit_response_model(synthetic_customers.assign(Response=0), FAST)
    assert caught.value.column == "Response"


def test_scoring_without_response_gives_the_same_probabilities(synthetic_customers):
    model = fit_response_model(synthetic_customers, FAST)
    with_target = model.predict_proba(synthetic_customers)
    without_target = model.predict_proba(synthetic_customers.drop(columns=["Response", "conversion_rate"]))
    np.testing.assert_allclose(with_target, without_target, rtol=0, atol=1e-12)
    assert model.name in {"logistic_regression", "gradient_boosting"}
    assert set(model.card()) >= {"features", "metrics", "training_data_sha256", "versions"}
    assert "prices" not in model.card()  # prices never enter the fit


def test_training_keys_are_pandas_hashes_of_those_columns(synthetic_customers):
    # Stored models carry keys made by hashing a frame of these columns: the column-by-column
    # hashes must be the same numbers, or a kept model would no longer find its customers.
    features = list(FEATURES)
    keys = response.training_keys(synthetic_customers, features)
    whole = pd.util.hash_pandas_object(synthetic_customers[["ID", *features, "Response"]], index=False).to_numpy()
    np.testing.assert_array_equal(keys, whole)
    assert synthetic_customers[list(response.CATEGORICAL_FEATURES)].dtypes.eq("category").all()
    changed = synthetic_customers.assign(Income=synthetic_customers["Income"] + 1)
    assert not np.any(response.training_keys(changed, features) == keys)


def test_one_pipeline_scores_every_customer_through_one_calibration(synthetic_customers):
    model = fit_response_model(synthetic_customers, FAST)
    scores = model.estimator.pipeline.decision_function(synthetic_customers[model.features])
    probability = model.predict_proba(synthetic_customers)
    np.testing.assert_array_equal(probability, model.estimator.calibration.predict(scores))
    order = np.argsort(scores, kind="stable")
    assert (np.diff(probability[order]) >= -1e-12).all() and ((probability > 0) & (probability < 1)).all()
    assert len(model.importance) == len(model.features) and model.importance["importance"].notna().all()


def test_customers_are_scored_a_chunk_at_a_time_with_the_same_probabilities(synthetic_customers, monkeypatch):
    model = fit_response_model(synthetic_customers, FAST)
    whole = model.estimator.predict_proba(synthetic_customers[model.features])[:, 1]
    monkeypatch.setattr(response, "SCORING_CHUNK", 7)  # many chunks and a short last one
    np.testing.assert_allclose(model.predict_proba(synthetic_customers), whole, rtol=0, atol=1e-12)
    assert model.metrics["roc_auc_interval"][0] <= model.metrics["roc_auc"] <= model.metrics["roc_auc_interval"][1]


@pytest.mark.parametrize("candidate", ["logistic_regression", "gradient_boosting"])
def test_importance_on_the_prepared_rows_is_scikit_learns_on_the_features(synthetic_customers, candidate):
    from sklearn.inspection import permutation_importance

    features = synthetic_customers[list(FEATURES)]
    y = synthetic_customers["Response"].to_numpy().astype(int)
    folds = grouped_folds(features, y, np.arange(len(y)), 3, 0)
    evidence = cross_fit(candidate_pipelines()[candidate], features, y, folds, "sigmoid")
    ours = response.holdout_importance(evidence, features, y, FAST)
    test = folds[0][1]
    theirs = permutation_importance(evidence.fold_pipelines[0], features.iloc[test], y[test],
                                    scoring="average_precision", n_repeats=5, random_state=FAST.random_state)  # fmt: skip
    expected = pd.Series(theirs.importances_mean, index=features.columns)
    np.testing.assert_allclose(ours.set_index("feature")["importance"], expected[ours["feature"]], rtol=0, atol=1e-12)
    assert ours["importance"].abs().max() > 0


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_out_of_fold_scores_never_saw_their_own_label(synthetic_customers, method):
    features = synthetic_customers[list(FEATURES)]
    y = synthetic_customers["Response"].to_numpy().astype(int)
    folds = grouped_folds(features, y, np.arange(len(y)), 3, 0)
    pipeline = candidate_pipelines()["logistic_regression"]
    evidence = cross_fit(pipeline, features, y, folds, method)
    held_out = folds[0][1]
    flipped = y.copy()
    flipped[held_out] = 1 - flipped[held_out]
    again = cross_fit(pipeline, features, flipped, folds, method)
    np.testing.assert_array_equal(again.scores[held_out], evidence.scores[held_out])
    assert not np.array_equal(again.scores[folds[1][1]], evidence.scores[folds[1][1]])
    assert ((evidence.probability >= 0) & (evidence.probability <= 1)).all()


def test_rules_sit_beside_the_seed_profile(synthetic_customers):
    rules = responder_rules(synthetic_customers, break_even=3 / 11)
    assert {"tree (depth 3)", "seed profile"} == set(rules["source"])
    seed = rules[rules["source"].eq("seed profile")]
    assert len(seed) == 7 and seed["rule"].iloc[-1] == "all seed conditions together"
    tree = rules[rules["source"].eq("tree (depth 3)")]
    assert (tree["response_rate"] >= 3 / 11).all()


def test_real_file_meets_the_targets_out_of_fold(real_customers):
    model = fit_response_model(real_customers, ModelSettings())
    metrics = model.metrics
    assert metrics["roc_auc"] >= 0.88 and metrics["pr_auc"] >= 0.60
    probability, source = model.honest_scores(real_customers)
    assert (source == "out_of_fold").all()
    campaign = PRICES.outcome(PRICES.worth_contacting(probability), real_customers["Response"].to_numpy().astype(bool))
    assert campaign["response_rate"] >= 0.45 and campaign["profit"] >= 1000
    # Above these, REFERENCE §3 warns of leakage.
    assert metrics["roc_auc"] <= 0.93 and campaign["profit"] <= 1500


def test_shuffled_response_leaves_nothing_to_learn(real_customers):
    shuffled = real_customers.assign(
        Response=np.random.default_rng(0).permutation(real_customers["Response"].to_numpy())
    )
    model = fit_response_model(shuffled, ModelSettings())
    assert abs(model.metrics["roc_auc"] - 0.5) <= 0.05
