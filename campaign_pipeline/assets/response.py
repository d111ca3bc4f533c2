"""Response: the fitted, calibrated response model and the scores it gives each customer."""

from typing import Literal

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from campaign_pipeline.assets import DATA_SCIENCE, MODEL_IO, settings_from
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.economics import RunPrices, contact_everyone
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import KeptModel, stored_model_path
from campaign_pipeline.metadata import chart, rounded, table
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import RESPONSE, SCORE_SOURCE, ScoredCustomers
from campaign_pipeline.transforms.charts import profit_curve_chart
from campaign_pipeline.transforms.impact import score_customers
from campaign_pipeline.transforms.uncertainty import bootstrap_intervals
from campaign_pipeline.transforms.response import ModelSettings, ResponseModel, business_goals, fit_response_model
from campaign_pipeline.transforms.response import frame_sha256, holdout_importance, profit_curve, responder_rules

RESPONSE_GROUP = "response"
DOMAIN = {"group_name": RESPONSE_GROUP, "owners": [DATA_SCIENCE]}  # every asset of this module
MODEL = ModelSettings()


class ResponseModelConfig(Config):
    """Cross-validation and calibration settings of the response model; defaults are ``ModelSettings``'s."""

    folds: int = Field(MODEL.folds, ge=2, description="Stratified folds (customers equal but for ID share a fold)")
    random_state: int = Field(MODEL.random_state, description="Seed of folds, samples and models")
    calibration: Literal["sigmoid", "isotonic"] = Field(MODEL.calibration, description="Calibration of probabilities")
    cv_sample: int = Field(
        MODEL.cv_sample, ge=1, description="Compare and fit the models on a fixed stratified sample above this many rows"
    )
    threads: int = Field(
        MODEL.threads, ge=1, description="OpenMP threads while fitting (1 avoids oversubscribing small machines)"
    )


@asset(**DOMAIN, kinds={"scikitlearn", "matplotlib", "json"}, io_manager_key=MODEL_IO)
def response_model(
    context: AssetExecutionContext,
    config: ResponseModelConfig,
    engineered_customers: pd.DataFrame,
    campaign_prices: pd.DataFrame,
    output_files: OutputFiles,
):  # a ResponseModel, or KeptModel when it cannot refit
    """Calibrated response model: a scikit-learn ``Pipeline`` (imputation, encoding and
    scaling inside) chosen between logistic regression and gradient boosting by
    out-of-fold PR-AUC then profit. The contact rule is break-even, p x revenue > cost.
    The campaign simulation uses honest scores only (out of fold for the customers it was
    trained on) and stands beside contacting everyone among the same customers and the
    file as received; permutation importance is
    measured on a held-out fold; a depth-3 tree's rules stand beside the seed's profile of
    responders. When the data cannot train a model (no ``Response``, or a single class),
    the last good model is kept, says so, and still scores the customers."""
    run_prices = RunPrices.from_frame(campaign_prices)
    prices = run_prices.prices
    settings = settings_from(config, ModelSettings)
    try:
        model = fit_response_model(engineered_customers, prices, settings, frame_sha256(engineered_customers))
    except InputDataError as error:
        kept = stored_model_path(output_files.base_dir, "response_model")
        if not kept.exists():
            raise
        # Keep serving the last good model so that scoring still runs downstream.
        context.log.warning(f"{error} The last good model is kept and scores this run: {kept}")
        return MaterializeResult(
            value=KeptModel(kept),
            metadata={"refitted": False, "reason": str(error), "kept_model": MetadataValue.path(str(kept))},
        )
    # The campaign as the contact rule would run it, on honest scores: out of fold for the
    # customers the model was trained on, out of sample for any others. scored_customers
    # gives every customer the same score, so its contacts earn exactly this profit.
    probability, _ = model.honest_scores(engineered_customers)
    y = engineered_customers[RESPONSE].to_numpy().astype(int)
    campaign = prices.outcome(prices.worth_contacting(probability), y.astype(bool))
    as_received = run_prices.baseline_as_received
    same_customers = contact_everyone(engineered_customers, prices)
    metrics = model.metrics
    goals = business_goals(campaign["response_rate"], same_customers["response_rate"])
    summary = {
        "model": model.name,
        "cv_roc_auc": metrics["roc_auc"],
        "cv_pr_auc": metrics["pr_auc"],
        "cv_brier": metrics["brier"],
        "top_decile_lift": metrics["top_decile_lift"],
        "contact_rule": prices.contact_rule,
        "contact_threshold": model.threshold,
        "contacted": campaign["contacted"],
        "contacted_responders": campaign["responders"],
        "contacted_response_rate": campaign["response_rate"],
        "campaign_cost": campaign["cost"],
        "campaign_revenue": campaign["revenue"],
        "campaign_profit": campaign["profit"],
        "evaluated_customers": len(y),
        **_intervals(model, y, probability, prices, settings.random_state),
        "baseline_profit_same_customers": same_customers["profit"],
        "baseline_response_rate_same_customers": same_customers["response_rate"],
        "baseline_profit_as_received": as_received["profit"],
        "baseline_lines_as_received": as_received["contacted"],
        "cv_evaluated_customers": metrics["evaluated_rows"],
        "goal_statement": goals["statement"],
        "business_expectation": goals["business_expectation"],
        "meets_business_expectation": goals["meets_business_expectation"],
    }
    curve = profit_curve(y, probability, prices)
    importance = holdout_importance(model, engineered_customers, settings)
    rules = responder_rules(engineered_customers, model.threshold, settings.random_state)
    output_files.write_json("response_model.json", {**summary, "model_comparison": model.comparison.to_dict("records")})
    context.log.info(
        f"{model.name}: OOF ROC-AUC {summary['cv_roc_auc']:.3f}, profit {summary['campaign_profit']:,.0f} MU"
    )
    return MaterializeResult(
        value=model,
        metadata={
            "refitted": True,
            **rounded(summary),
            "model_comparison": table(model.comparison),
            "permutation_importance": table(importance.head(12)),
            "responder_rules_vs_seed_profile": table(rules),
            **chart(
                output_files,
                "profit_curve.png",
                profit_curve_chart(curve, summary["contacted"] / len(y), summary["campaign_profit"]),
                "profit curve",
            ),
        },
    )


def _intervals(model: ResponseModel, y, probability, prices, random_state: int) -> dict[str, list[float]]:
    """Seeded bootstrap 95% intervals: ROC-AUC and PR-AUC on the out-of-fold scores they
    are measured on, the contacted response rate and the campaign profit on every
    customer's honest score."""
    oof = bootstrap_intervals(
        model.oof[RESPONSE].to_numpy(), model.oof["oof_probability"].to_numpy(), prices, random_state=random_state
    )
    campaign = bootstrap_intervals(y, probability, prices, random_state=random_state)
    return {
        "cv_roc_auc_interval": oof["cv_roc_auc_interval"],
        "cv_pr_auc_interval": oof["cv_pr_auc_interval"],
        "contacted_response_rate_interval": campaign["contacted_response_rate_interval"],
        "campaign_profit_interval": campaign["campaign_profit_interval"],
    }


@asset(**DOMAIN, kinds={"pandas", "scikitlearn", "parquet"}, **dataset_contract("scored_customers", ScoredCustomers))
def scored_customers(
    clustered_customers: pd.DataFrame,
    response_model: ResponseModel,
    campaign_prices: pd.DataFrame,
):
    """Per customer: calibrated ``response_probability``, ``decile`` (1 = top 10%),
    ``expected_profit`` (MU) and ``contact`` (expected profit > 0), with ``cluster``. The
    probability is honest: out of fold for the labelled customers the model was trained on
    (``score_source`` ``out_of_fold``), the stored model's (no refit) for every other
    customer (``model``), as when the nightly job rescores a new or unlabelled file."""
    probability, source = response_model.honest_scores(clustered_customers)
    scored = score_customers(clustered_customers, probability, RunPrices.from_frame(campaign_prices).prices)
    scored[SCORE_SOURCE] = source
    return validated(
        ScoredCustomers,
        scored,
        {
            "contacted": int(scored["contact"].sum()),
            "expected_profit_of_contacted": float(scored.loc[scored["contact"], "expected_profit"].sum()),
            "score_sources": scored[SCORE_SOURCE].value_counts().to_dict(),
            "model": response_model.name,
        },
    )
