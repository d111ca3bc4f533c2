"""Seed 2's four recommendations generated from the numbers, with figure, n, interval and verdict."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from campaign_pipeline.sources.reading import read_customers
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.transforms.actions import action_evidence
from campaign_pipeline.transforms.recommendations import (
    COLUMNS,
    EVIDENCE_COLUMNS,
    RECOMMENDATIONS,
    newcombe_difference,
    seed_recommendations,
)
from campaign_pipeline.transforms.statistics import wilson_interval


def test_newcombe_difference_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10.
    difference, low, high = newcombe_difference(56, 70, 48, 80)
    assert difference == pytest.approx(0.2)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    assert np.isnan(newcombe_difference(1, 0, 1, 2)[0])


def hand_made(n_focus_responders: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """100 customers. 60 buy meat and sweets (n_focus_responders respond), 40 do not (4
    respond). The 40 catalogue buyers are the first 40; the model contacts the first 20."""
    ids = np.arange(100)
    focus = ids < 60
    response = np.zeros(100, dtype=int)
    response[:n_focus_responders] = 1
    response[60:64] = 1
    customers = pd.DataFrame(
        {
            "ID": ids,
            "Response": response,
            "MntMeatProducts": np.where(focus, 100, 5),
            "MntSweetProducts": np.where(focus, 10, 0),
            "NumCatalogPurchases": np.where(ids < 40, 5, 0),
            "NumWebPurchases": np.where(ids < 40, 1, 3),
            "NumWebVisitsMonth": 4,
            "NumStorePurchases": 5,
        }
    )
    scored = pd.DataFrame(
        {
            "ID": ids[::-1],  # a different order: joined on ID
            "response_probability": np.linspace(0.0, 0.9, 100),
            "contact": ids[::-1] < 20,
            "Response": response[::-1].astype(float),
            "score_source": "out_of_fold",
        }
    )
    return customers, scored


def test_recommendations_on_a_hand_made_frame():
    customers, scored = hand_made()
    table = seed_recommendations(customers, scored, prospects_auc=(0.56, 0.47, 0.65))
    assert table.columns.tolist() == list(COLUMNS) and table["recommendation"].tolist() == list(RECOMMENDATIONS)
    rows = table.set_index("recommendation")

    email = rows.loc["targeted email"]  # 20 contacted, all responders, against 34 / 100
    assert (email["figure"], email["n"]) == (1.0, 20)
    assert (email["interval_low"], email["interval_high"]) == pytest.approx(wilson_interval(20, 20))
    assert email["supported"] and "34.0%" in email["evidence"] and "0.0% of them are reachable by email" in email["evidence"]

    look_alike = rows.loc["look-alike targeting"]
    assert not look_alike["supported"] and look_alike["figure"] == 0.56 and "not above 0.5" in look_alike["verdict"]
    assert "customer model ranks at" in look_alike["evidence"]

    product = rows.loc["product focus: meat and sweets"]  # 30/60 against 4/40
    assert product["n"] == 60 and product["figure"] == pytest.approx(0.5 - 0.1)
    assert (product["interval_low"], product["interval_high"]) == pytest.approx(newcombe_difference(30, 60, 4, 40)[1:])
    assert product["supported"]

    channel = rows.loc["channel optimisation"]  # catalogue mail 30/40, email 4/60
    assert channel["figure"] == pytest.approx(0.75) and channel["n"] == 40 and channel["supported"]
    assert "catalogue mail" in channel["verdict"] and "randomised" in channel["verdict"]
    assert all(table["verdict"].str.startswith(("Supported", "Not supported")))


def test_a_weak_difference_is_not_supported_and_says_so():
    customers, scored = hand_made(n_focus_responders=6)  # 6/60 against 4/40: no difference
    table = seed_recommendations(customers, scored, prospects_auc=(0.70, 0.66, 0.74)).set_index("recommendation")
    product = table.loc["product focus: meat and sweets"]
    assert product["figure"] == pytest.approx(0.0) and product["interval_low"] < 0 < product["interval_high"]
    assert not product["supported"] and product["verdict"].startswith("Not supported")
    assert table.loc["look-alike targeting", "supported"]


def test_without_a_look_alike_model_or_response_nothing_is_claimed():
    customers, scored = hand_made()
    table = seed_recommendations(customers, scored).set_index("recommendation")
    assert not table.loc["look-alike targeting", "supported"] and np.isnan(table.loc["look-alike targeting", "figure"])
    unlabelled = seed_recommendations(customers.drop(columns="Response"), scored.assign(Response=np.nan))
    assert not unlabelled["supported"].any() and unlabelled["figure"].isna().all()
    assert unlabelled["verdict"].str.startswith("Not supported").all()


def out_of_fold(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """Out-of-fold probabilities of a plain logistic regression: honest scores whose API
    does not move with the project's response model."""
    model = make_pipeline(
        make_column_transformer((StandardScaler(), numeric), (OneHotEncoder(handle_unknown="ignore"), categorical)),
        LogisticRegression(max_iter=2000),
    )
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_predict(model, frame[numeric + categorical], frame["Response"], cv=folds, method="predict_proba")[:, 1]


def test_recommendations_on_the_reference_file(real_csv):
    from sklearn.metrics import roc_auc_score

    raw, _ = read_customers(real_csv)
    cleaned, _, _ = clean_customers(raw.reset_index(drop=True), CleaningRules())
    customers = engineer_features(cleaned, pd.Timestamp("2014-12-31"))
    behaviour = ["Income", "Recency", "tenure_months", "loyalty_score", "total_purchases", "customer_value_index",
                 "NumCatalogPurchases", "NumWebPurchases", "NumStorePurchases", "NumWebVisitsMonth", "children"]
    probability = out_of_fold(customers, behaviour, ["Education", "Marital_Status"])
    scored = pd.DataFrame(
        {"ID": customers["ID"], "response_probability": probability, "contact": probability * 11 > 3,
         "Response": customers["Response"].astype(float), "score_source": "out_of_fold"}
    )
    demographic = out_of_fold(customers, ["Income", "age", "Kidhome", "Teenhome"], ["Education", "Marital_Status"])
    look_alike_auc = roc_auc_score(customers["Response"], demographic)
    table = seed_recommendations(customers, scored, prospects_auc=(look_alike_auc, look_alike_auc - 0.03, look_alike_auc + 0.03))
    with pd.option_context("display.width", 250, "display.max_colwidth", 80):
        print(table.drop(columns=["evidence", "verdict"]).to_string())
    for row in table.itertuples():
        print(f"- {row.recommendation}: {row.evidence} {row.verdict}")
    rows = table.set_index("recommendation")
    assert rows.loc["targeted email", "supported"] and rows.loc["targeted email", "figure"] > 0.45
    assert rows.loc["product focus: meat and sweets", "supported"]
    assert rows.loc["product focus: meat and sweets", "n"] > 1000
    assert 0.55 < rows.loc["look-alike targeting", "figure"] < 0.8  # far weaker than the customer model
    assert rows.loc["channel optimisation", "evidence"].startswith("Response rate by reach channel")
    assert (table["interval_low"] <= table["figure"]).all() and (table["figure"] <= table["interval_high"]).all()
    # EVIDENCE_COLUMNS is all they read: the campaign report loads only those.
    evidence = customers[list(EVIDENCE_COLUMNS)]
    auc = (look_alike_auc, look_alike_auc - 0.03, look_alike_auc + 0.03)
    pd.testing.assert_frame_equal(seed_recommendations(evidence, scored, prospects_auc=auc), table)
    pd.testing.assert_frame_equal(action_evidence(evidence), action_evidence(customers))
