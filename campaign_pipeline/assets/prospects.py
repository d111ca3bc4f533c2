"""Prospects: a demographics-only look-alike model fitted on the customers, and the prospect
file it scores, ranked by expected profit under the run's prices and budget."""


import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset

from campaign_pipeline.assets import DATA_SCIENCE, MODEL_IO, fit_key, fitted_or_stored, keep_last_good_model, reduced_ins
from campaign_pipeline.assets import settings_from
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.assets.response import ResponseModelConfig
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.economics import RunPrices, choose_contacts
from campaign_pipeline.metadata import rounded
from campaign_pipeline.resources import OutputFiles, ProspectSource
from campaign_pipeline.schemas import RESPONSE, ProspectScores
from campaign_pipeline.transforms.buckets import stable_sample
from campaign_pipeline.transforms.lookalike import LookalikeModel, LookalikeSettings, fit_lookalike_model
from campaign_pipeline.transforms.lookalike import standard_demographics
from campaign_pipeline.transforms.response import frame_sha256
from campaign_pipeline.transforms.segmentation import SegmentationModel

PROSPECTS = "prospects"
DOMAIN = {"group_name": PROSPECTS, "owners": [DATA_SCIENCE]}  # every asset of this module
NOT_REPORTED = ("source", "has_response", "date_format")  # ReadStats fields a prospect file has no use for
# Says whose figures these are wherever they are shown (REFERENCE §5).
FIGURES_OF = "the look-alike model (demographics only), out of fold; not the customer response model's figures"


class LookalikeConfig(ResponseModelConfig):
    """Cross-validation settings of the look-alike model: the response model's."""


@asset(**DOMAIN, kinds={"scikitlearn"}, io_manager_key=MODEL_IO, ins=reduced_ins("clustered_customers"))
def lookalike_model(
    context: AssetExecutionContext,
    config: LookalikeConfig,
    clustered_customers,
    segmentation_model: SegmentationModel,
    output_files: OutputFiles,
):  # a LookalikeModel, or KeptModel when it cannot refit
    """Demographics-only look-alike model (``Year_Birth``, ``Education``,
    ``Marital_Status``, ``Income``, ``Kidhome``, ``Teenhome``): a calibrated scikit-learn
    ``Pipeline`` of P(accepts), fitted on the customers with ``Response`` as target, and a
    classifier of the same demographics onto the customers' segments (names from
    ``segmentation_model``). Its metadata are its own out-of-fold figures (ROC-AUC and
    PR-AUC with seeded bootstrap 95% intervals, segment accuracy), much weaker than the
    customer model's because prospects have no purchases, recency or past campaigns. When
    the data cannot train it, the last good model is kept, like the response model; a rerun
    on the same sample, settings, segments and code reuses it."""
    settings = settings_from(config, LookalikeSettings)
    # Compared and fitted on a stable sample of every customer, stratified by Response.
    customers = stable_sample(clustered_customers, settings.cv_sample, settings.random_state, stratify=RESPONSE)
    try:
        model, value, reused = fitted_or_stored(
            context, fit_key(context, [customers], settings, segmentation_model.names), output_files.base_dir,
            lambda: fit_lookalike_model(customers, segmentation_model.names, settings, frame_sha256(customers)),
        )  # fmt: skip
    except InputDataError as error:
        return keep_last_good_model(context, error, output_files.base_dir)
    metrics = model.metrics
    context.log.info(
        f"look-alike model: out-of-fold ROC-AUC {metrics['roc_auc']:.3f} "
        f"(95% {metrics['roc_auc_interval'][0]:.3f}-{metrics['roc_auc_interval'][1]:.3f}) from demographics only"
    )
    out_of_fold = ("roc_auc", "roc_auc_interval", "pr_auc", "pr_auc_interval", "brier", "top_decile_lift", "segment_accuracy")
    figures = {
        **{f"lookalike_oof_{name}": metrics[name] for name in out_of_fold},
        "lookalike_base_response_rate": metrics["base_response_rate"],
        "lookalike_segment_majority_share": metrics["segment_majority_share"],
        "lookalike_evaluated_customers": metrics["evaluated_rows"],
    }
    segment_names = {str(k): v for k, v in model.segment_names.items()}
    metadata = {"figures_of": FIGURES_OF, "features": model.features, **rounded(figures), "segment_names": segment_names}
    return MaterializeResult(value=value, metadata={"refitted": not reused, **metadata})


@asset(**DOMAIN, kinds={"csv", "pandas", "scikitlearn", "parquet"}, **dataset_contract("prospect_scores", ProspectScores))
def prospect_scores(
    context: AssetExecutionContext,
    lookalike_model: LookalikeModel,
    campaign_prices: pd.DataFrame,
    prospect_source: ProspectSource,
):
    """Prospects (``CAMPAIGN_PROSPECTS_CSV``, or seeded synthetic prospects when unset)
    scored by the look-alike model: ``ID``, ``lookalike_probability``, ``expected_profit``
    (p x revenue - cost, MU), ``contact`` (break-even within the run's budget,
    ``economics.choose_contacts``), ``nearest_segment`` (cluster id) and ``segment_name``,
    best expected profit first. The file is read by the customer reader's rules: only the
    demographic columns are used (others ignored and reported); a missing one, ``Income``
    included, is refused naming it. Identical lines are scored once. The probabilities are
    calibrated on customers: a prospect population may respond at another base rate."""
    prospects, stats = prospect_source.load()
    prospects.attrs["source"] = stats.source
    identical = prospects.duplicated(keep="first")
    prospects = prospects.loc[~identical]
    run_prices = RunPrices.from_frame(campaign_prices)
    prices, budget = run_prices.prices, run_prices.budget
    probability = lookalike_model.predict_proba(prospects)
    segments = lookalike_model.predict_segment(prospects)
    scores = pd.DataFrame(
        {
            "ID": prospects["ID"].to_numpy(),
            "lookalike_probability": probability,
            "expected_profit": prices.expected_profit(probability),
            "contact": choose_contacts(probability, prices, budget),
            "nearest_segment": segments,
            "segment_name": lookalike_model.segment_name(segments),
        }
    )
    scores = scores.sort_values(["expected_profit", "ID"], ascending=[False, True], kind="stable").reset_index(drop=True)
    contacted = scores["contact"]
    context.log.info(f"Scored {len(scores):,} prospects from {stats.source}; {int(contacted.sum()):,} worth contacting")
    return validated(
        ProspectScores,
        scores,
        {
            "source": prospect_source.label,
            "synthetic": prospect_source.is_synthetic,
            **{f"read/{key}": value for key, value in stats.as_metadata().items() if key not in NOT_REPORTED},
            "identical_lines_scored_once": int(identical.sum()),
            "incomes_unknown_imputed": int(standard_demographics(prospects, lookalike_model.rules)["Income"].isna().sum()),
            "contact_rule": prices.contact_rule,
            "budget": budget.describe(),
            "contacted": int(contacted.sum()),
            "expected_acceptances_of_contacted": float(scores.loc[contacted, "lookalike_probability"].sum()),
            "expected_profit_of_contacted": float(scores.loc[contacted, "expected_profit"].sum()),
            "mean_lookalike_probability": float(probability.mean()),
            "segment_counts": {str(k): int(v) for k, v in scores["nearest_segment"].value_counts().sort_index().items()},
            "figures_of": FIGURES_OF,
            "lookalike_oof_roc_auc": lookalike_model.metrics["roc_auc"],
            "lookalike_oof_roc_auc_interval": lookalike_model.metrics["roc_auc_interval"],
        },
    )
