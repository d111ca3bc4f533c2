"""response_model and scored_customers, called directly."""

import json

import numpy as np
import pytest

from campaign_pipeline.assets.response import (
    campaign_evaluation,
    ResponseModelConfig,
    response_model,
    scored_customers,
)
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.transforms.response import ResponseModel

COST, REVENUE = 3.0, 11.0


def rescore(chain, context, tmp_path, clustered=None, campaign_prices=None):
    """scored_customers on the chain's model, with other customers or prices."""
    return scored_customers(
        context,
        clustered_customers=chain.value("clustered_customers") if clustered is None else clustered,
        response_model=chain.value("response_model"),
        campaign_prices=chain.value("campaign_prices") if campaign_prices is None else campaign_prices,
    )


def test_response_model_has_out_of_fold_metrics(chain):
    result = chain["response_model"]
    model = result.value
    assert isinstance(model, ResponseModel)
    assert 0.5 < model.metrics["roc_auc"] <= 1.0
    assert 0.0 < model.metrics["pr_auc"] <= 1.0
    assert 0.0 <= model.metrics["brier"] < 0.25
    assert model.metrics["evaluated_rows"] == len(chain.value("engineered_customers"))
    # out-of-fold scores: one per evaluated customer, all probabilities
    assert len(model.oof) == model.metrics["evaluated_rows"]
    assert model.oof["oof_probability"].between(0, 1).all()
    assert result.metadata["refitted"] is True
    assert result.metadata["model"] == model.name


def test_response_model_profit_follows_the_prices(chain):
    written = json.loads((chain.base_dir / "reports" / "response_model.json").read_text())
    assert written["campaign_cost"] == pytest.approx(written["contacted"] * COST)
    assert written["campaign_revenue"] == pytest.approx(written["contacted_responders"] * REVENUE)
    assert written["campaign_profit"] == pytest.approx(written["campaign_revenue"] - written["campaign_cost"])
    oof = chain.value("response_model").oof
    contacted = oof["oof_probability"] * REVENUE > COST
    assert int(contacted.sum()) == written["contacted"]  # every customer of this sample is trained on
    assert int(oof.loc[contacted, "Response"].sum()) == written["contacted_responders"]


def test_scored_customers_earn_exactly_the_campaign_profit_of_the_model_report(chain):
    scored = chain.value("scored_customers")
    written = json.loads((chain.base_dir / "reports" / "response_model.json").read_text())
    assert (scored["score_source"] == "out_of_fold").all()  # trained on every one of them
    contacted = scored[scored["contact"]]
    observed = contacted["Response"].sum() * REVENUE - len(contacted) * COST
    assert observed == pytest.approx(written["campaign_profit"], abs=1)
    everyone = scored["Response"].sum() * REVENUE - len(scored) * COST
    assert written["baseline_profit_same_customers"] == pytest.approx(everyone)


def test_scored_customers_write_the_model_and_campaign_report(chain):
    model = chain.value("response_model")
    report = chain.base_dir / "reports" / "response_model.json"
    written = json.loads(report.read_text())
    assert written["model"] == model.name
    assert written["cv_roc_auc"] == pytest.approx(model.metrics["roc_auc"])
    assert written["contacted"] == int(chain.value("scored_customers")["contact"].sum())
    assert written["baseline_lines_as_received"] == len(chain.value("raw_customers"))
    assert {row["model"] for row in written["model_comparison"]} >= {model.name}
    assert (chain.base_dir / "reports" / "profit_curve.png").stat().st_size > 0


def test_response_model_without_response_and_no_kept_model_raises(chain, context, tmp_path):
    engineered = chain.value("engineered_customers").drop(columns=["Response"])
    with pytest.raises(InputDataError) as raised:
        response_model(
            context,
            config=ResponseModelConfig(),
            engineered_customers=engineered,
            output_files=OutputFiles(base_dir=str(tmp_path)),
        )
    assert raised.value.column == "Response"
    assert not (tmp_path / "reports" / "response_model.json").exists()


def test_scored_customers_contact_is_positive_expected_profit(chain):
    result = chain["scored_customers"]
    scored = result.value
    assert scored["ID"].tolist() == chain.value("clustered_customers")["ID"].tolist()
    assert scored["response_probability"].between(0, 1).all()
    assert np.allclose(scored["expected_profit"], scored["response_probability"] * REVENUE - COST)
    assert (scored["contact"] == (scored["expected_profit"] > 0)).all()
    assert 0 < scored["contact"].sum() < len(scored)  # the rule splits the base
    assert result.metadata["contacted"] == int(scored["contact"].sum())
    assert result.metadata["expected_profit_of_contacted"] == pytest.approx(
        scored.loc[scored["contact"], "expected_profit"].sum(), rel=1e-3
    )
    assert result.check_results[0].passed


def test_scored_customers_the_model_was_trained_on_get_their_out_of_fold_scores(chain):
    scored = chain.value("scored_customers")
    oof = chain.value("response_model").oof.set_index("ID")["oof_probability"]
    assert np.allclose(scored["response_probability"], oof.loc[scored["ID"]].to_numpy())
    assert (scored["cluster"].to_numpy() == chain.value("clustered_customers")["cluster"].to_numpy()).all()


def test_a_changed_customer_is_scored_by_the_stored_model(chain, context, tmp_path):
    clustered = chain.value("clustered_customers").copy()
    clustered.loc[clustered.index[0], "Recency"] += 1  # no longer the row the model was trained on
    result = rescore(chain, context, tmp_path, clustered=clustered)
    sources = result.value["score_source"]
    assert sources.iloc[0] == "model" and (sources.iloc[1:] == "out_of_fold").all()
    expected = chain.value("response_model").predict_proba(clustered.iloc[[0]])[0]
    assert result.value["response_probability"].iloc[0] == pytest.approx(expected)


def test_scored_customers_deciles_rank_the_scores(chain):
    scored = chain.value("scored_customers")
    assert set(scored["decile"]) == set(range(1, 11))
    counts = scored["decile"].value_counts()
    assert counts.max() - counts.min() <= 1
    by_decile = scored.groupby("decile")["response_probability"]
    assert (by_decile.min().iloc[:-1].to_numpy() >= by_decile.max().iloc[1:].to_numpy()).all()


def test_scored_customers_work_without_response(chain, context, tmp_path):
    clustered = chain.value("clustered_customers").drop(columns=["Response"])
    result = rescore(chain, context, tmp_path, clustered=clustered)
    assert result.value["Response"].isna().all()
    assert (result.value["score_source"] == "model").all()  # nightly rescoring of an unlabelled file
    expected = chain.value("response_model").predict_proba(chain.value("clustered_customers"))
    assert np.allclose(result.value["response_probability"], expected)


def test_a_budget_contacts_the_best_expected_profits_first(chain, context, tmp_path):
    from campaign_pipeline.economics import Budget, RunPrices

    run = RunPrices.from_frame(chain.value("campaign_prices"))
    budgeted = RunPrices(run.prices, run.baseline_as_received, Budget(max_contacts=20)).to_frame()
    result = rescore(chain, context, tmp_path, campaign_prices=budgeted)
    scored = result.value
    assert scored["contact"].sum() == 20
    unbudgeted = chain.value("scored_customers")
    assert scored.loc[scored["contact"], "response_probability"].min() >= (
        unbudgeted.loc[unbudgeted["contact"] & ~scored["contact"], "response_probability"].max()
    )
    campaign_evaluation(
        context,
        scored_customers=scored,
        clustered_customers=chain.value("clustered_customers"),
        response_model=chain.value("response_model"),
        campaign_prices=budgeted,
        output_files=OutputFiles(base_dir=str(tmp_path)),
    )
    written = json.loads((tmp_path / "reports" / "response_model.json").read_text())
    assert written["contacted"] == 20 and written["budget"] == "at most 20 contacts"
