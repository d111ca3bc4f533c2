"""Response: the fitted, calibrated response model and the scores it gives each customer."""

from typing import Literal

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, asset
from pydantic import Field

from campaign_pipeline.assets import DATA_SCIENCE, EVALUATION_IO, MODEL_IO, bucket_ins, for_each_bucket, keep_last_good_model, reduced_in, reduced_ins
from campaign_pipeline.assets import fit_key, fitted_or_stored, settings_from
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.economics import RunPrices
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.metadata import chart, rounded, table
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import RESPONSE, SCORE_SOURCE, ScoredCustomers
from campaign_pipeline.io_managers import Buckets
from campaign_pipeline.transforms.buckets import stable_sample
from campaign_pipeline.transforms.charts import profit_curve_chart
from campaign_pipeline.transforms.impact import score_customers
from campaign_pipeline.transforms.campaign import EVALUATED_SCORES, INTERVAL_SEED, CampaignEvaluation, campaign_figures
from campaign_pipeline.transforms.campaign import evaluation_counts
from campaign_pipeline.transforms.campaign import evaluation_sample, why_not_evaluable
from campaign_pipeline.transforms.response import ModelSettings, ResponseModel, fit_response_model
from campaign_pipeline.transforms.response import RESPONDER_SAMPLE, frame_sha256, profit_curve
from campaign_pipeline.transforms.response import responder_rules

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
    threads: int | None = Field(
        MODEL.threads, ge=1, description="OpenMP threads while fitting; empty for every core, 1 on a machine other work shares"
    )


@asset(**DOMAIN, kinds={"scikitlearn", "pandas"}, io_manager_key=MODEL_IO, ins=reduced_ins("engineered_customers"))
def response_model(
    context: AssetExecutionContext,
    config: ResponseModelConfig,
    engineered_customers,
    output_files: OutputFiles,
):  # a ResponseModel, or KeptModel when it cannot refit
    """Calibrated response model: a scikit-learn ``Pipeline`` (imputation, encoding and
    scaling inside) chosen between logistic regression and gradient boosting by
    out-of-fold PR-AUC, then Brier score, and fitted on the customers it was compared on,
    each of whom keeps an out-of-fold score. Permutation importance is measured on a
    held-out fold. No prices enter the fit, so changing prices or the budget never refits
    it: ``scored_customers`` prices the scores. When the data cannot train a model (no
    ``Response``, or a single class), the last good model is kept, says so, and still
    scores the customers. Compared and fitted on a stable sample of every customer,
    stratified by ``Response`` (all of them up to ``cv_sample``). A rerun on the same
    sample, settings and code reuses the stored model (``refitted`` false): the fit would
    give the same one."""
    settings = settings_from(config, ModelSettings)
    customers = stable_sample(engineered_customers, settings.cv_sample, settings.random_state, stratify=RESPONSE)
    try:
        model, value, reused = fitted_or_stored(
            context, fit_key(context, [customers], settings), output_files.base_dir,
            lambda: fit_response_model(customers, settings, frame_sha256(customers)),
        )  # fmt: skip
    except InputDataError as error:
        return keep_last_good_model(context, error, output_files.base_dir)
    metrics = model.metrics
    context.log.info(f"{model.name}: out-of-fold ROC-AUC {metrics['roc_auc']:.3f} on {metrics['evaluated_rows']:,} customers")
    return MaterializeResult(
        value=value,
        metadata={
            "refitted": not reused,
            "model": model.name,
            **rounded({f"cv_{name}": metrics[name] for name in ("roc_auc", "roc_auc_interval", "pr_auc", "pr_auc_interval", "brier", "top_decile_lift")}),
            "trained_customers": metrics["trained_rows"],
            "model_comparison": table(model.comparison),
            "permutation_importance": table(model.importance.head(12)),
        },
    )


def _score(customers: pd.DataFrame, model: ResponseModel, run: RunPrices):
    probability, source = model.honest_scores(customers)
    scored = score_customers(customers, probability, run.prices, run.budget)
    scored[SCORE_SOURCE] = source
    return validated(
        ScoredCustomers,
        scored,
        {
            "contacted": int(scored["contact"].sum()),
            "expected_profit_of_contacted": float(scored.loc[scored["contact"], "expected_profit"].sum()),
            "model": model.name,
            "contact_rule": f"{run.prices.contact_rule}; {run.budget.describe()}",
            "score_sources": scored[SCORE_SOURCE].value_counts().to_dict(),
        },
    )


@asset(
    **DOMAIN,
    kinds={"pandas", "scikitlearn", "parquet"},
    ins=bucket_ins("clustered_customers"),
    **dataset_contract("scored_customers", ScoredCustomers),
)
def scored_customers(
    context: AssetExecutionContext, clustered_customers, response_model: ResponseModel, campaign_prices: pd.DataFrame
):
    """Per customer: calibrated ``response_probability``, ``decile`` (1 = top 10%),
    ``expected_profit`` (MU) and ``contact``: break-even (p x revenue > cost), best expected
    profits first within the run's budget. The probability is honest: out of fold for the
    labelled customers the model was trained on (``score_source`` ``out_of_fold``), the
    stored model's (no refit) for every other customer (``model``), as when the nightly job
    rescores a new or unlabelled file. ``campaign_evaluation`` prices the campaign these
    contacts make."""
    run = RunPrices.from_frame(campaign_prices)
    if isinstance(clustered_customers, Buckets) and run.budget.limit(run.prices) is not None:
        raise InputDataError(
            "a contact budget ranks every customer at once, which the partitioned graph does not do",
            source="campaign_economics",
            expected="no campaign_economics.max_contacts or campaign_economics.budget_mu with CAMPAIGN_PARTITIONS; "
            "campaign_scenarios prices budgets on the partitioned scores",
        )
    return for_each_bucket(context, lambda customers: _score(customers, response_model, run), customers=clustered_customers)


@asset(
    **DOMAIN,
    kinds={"pandas", "matplotlib"},
    io_manager_key=EVALUATION_IO,
    ins={
        "scored_customers": reduced_in(EVALUATED_SCORES),
        **reduced_ins("clustered_customers"),
    },
)
def campaign_evaluation(
    context: AssetExecutionContext,
    scored_customers,
    clustered_customers,
    response_model: ResponseModel,
    campaign_prices: pd.DataFrame,
    output_files: OutputFiles,
) -> MaterializeResult:
    """On a labelled file this is where the model meets the money:
    ``reports/response_model.json`` gets the campaign the scored contacts make (so their
    observed profit is ``campaign_profit``) beside contacting everyone among the same
    customers and every line of the file as received, with seeded bootstrap 95%
    intervals, the profit curve and the responder profile against the seed's. On an
    unlabelled file it says why there is nothing to evaluate and leaves the file as it was.
    Reduced bucket by bucket: totals from counts by contact and ``Response``, intervals and
    the curve from a stable sample of the scores (``transforms.campaign``). Its value, a
    ``CampaignEvaluation``, is what ``campaign_report`` shows."""
    run = RunPrices.from_frame(campaign_prices)
    counts = evaluation_counts(scored_customers)
    reason = why_not_evaluable(counts)
    if reason is not None:
        context.log.info(f"The campaign is not evaluated: {reason}; reports/response_model.json is left as it was.")
        return MaterializeResult(value=CampaignEvaluation(not_evaluated=reason), metadata={"campaign_evaluated": f"no: {reason}"})
    sample = evaluation_sample(scored_customers)
    evaluation, metadata = _campaign_report(context, counts, sample, clustered_customers, response_model, run, output_files)
    return MaterializeResult(value=evaluation, metadata=metadata)


def _campaign_report(context, counts, sample, customers, model: ResponseModel, run: RunPrices, output_files):
    """The campaign the contact rule runs on these honest scores, written to
    ``reports/response_model.json``: the ``CampaignEvaluation``, and its figures as metadata."""
    summary = campaign_figures(counts, sample, model, run)
    y, probability = sample[RESPONSE].to_numpy().astype(int), sample["response_probability"].to_numpy()
    curve = profit_curve(y, probability, run.prices, customers=summary["evaluated_customers"])
    # The responder tree grows on a stable sample (all customers up to RESPONDER_SAMPLE).
    grown_on = stable_sample(customers, RESPONDER_SAMPLE, INTERVAL_SEED, stratify=RESPONSE)
    rules = responder_rules(grown_on, run.prices.break_even_probability, INTERVAL_SEED, sample=RESPONDER_SAMPLE)
    output_files.write_json("response_model.json", {**summary, "model_comparison": model.comparison.to_dict("records")})
    context.log.info(f"Campaign: contact {summary['contacted']:,}, profit {summary['campaign_profit']:,.0f} MU")
    return CampaignEvaluation(summary, sample, rules), {
        **rounded(summary),
        "responder_rules_vs_seed_profile": table(rules),
        **chart(
            output_files,
            "profit_curve.png",
            profit_curve_chart(curve, summary["contacted"] / summary["evaluated_customers"], summary["campaign_profit"]),
            "profit curve",
        ),
    }
