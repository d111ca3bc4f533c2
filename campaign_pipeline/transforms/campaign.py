"""The campaign the contact rule runs on honest scores, in figures: what it contacts and
earns, beside contacting everyone among the same customers and every line of the file as
received, with seeded bootstrap 95% intervals. One function, so the JSON report, the asset
metadata and the campaign report can never disagree.

The figures are reduced bucket by bucket: counts of the customers by ``contact`` and
``Response`` give every total, and a stable sample of the scores (every customer up to
``BOOTSTRAP_SAMPLE``) gives the intervals and the curves."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from campaign_pipeline.economics import RunPrices, contact_everyone
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.transforms.buckets import ROWS, FrameSource, count_by, stable_sample
from campaign_pipeline.transforms.response import ResponseModel, business_goals
from campaign_pipeline.transforms.uncertainty import BOOTSTRAP_SAMPLE, INTERVAL_SEED, bootstrap_intervals

EVALUATED_SCORES = ["response_probability", "contact", RESPONSE]
EVALUATION_COUNTS = ["contact", RESPONSE]


@dataclass(frozen=True)
class CampaignEvaluation:
    """What ``campaign_evaluation`` found, kept for the campaign report to show rather than
    compute again: the campaign's figures (``campaign_figures``), the ``evaluation_sample``
    of scores behind its intervals and curves, and the responder rules; or, on a file that
    cannot be evaluated, why not (``why_not_evaluable``) and nothing else."""

    figures: dict | None = None
    sample: pd.DataFrame | None = None
    responder_rules: pd.DataFrame | None = None
    not_evaluated: str | None = None


def evaluation_counts(scored: "pd.DataFrame | FrameSource") -> pd.DataFrame:
    """The scored customers counted by ``contact`` and ``Response`` (``buckets.count_by``)."""
    return count_by(scored, EVALUATION_COUNTS)


def evaluation_sample(scored: "pd.DataFrame | FrameSource") -> pd.DataFrame:
    """The stable sample of the scores the intervals and curves use: every customer up to
    ``BOOTSTRAP_SAMPLE``, else that many, in proportion by ``Response`` and ``contact``."""
    return stable_sample(scored, BOOTSTRAP_SAMPLE, INTERVAL_SEED, stratify=EVALUATION_COUNTS, columns=EVALUATED_SCORES)


def why_not_evaluable(counts: pd.DataFrame) -> str | None:
    """Why the campaign cannot be evaluated (None when it can), from the customers or their
    counts by ``Response``: observed outcomes of both kinds are needed for ROC-AUC, PR-AUC
    and their intervals."""
    if RESPONSE not in counts.columns or counts[RESPONSE].isna().any():
        return "this file has no observed Response"
    if counts[RESPONSE].nunique() < 2:
        return f"every customer in this file has Response {int(counts[RESPONSE].iloc[0])}"
    return None


def campaign_outcome(counts: pd.DataFrame, run: RunPrices) -> dict:
    """The observed result of the contacts, from ``evaluation_counts``."""
    contacted = counts[counts["contact"].astype(bool)]
    return run.prices.outcome_of_counts(int(contacted[ROWS].sum()), int(contacted.loc[contacted[RESPONSE].eq(1), ROWS].sum()))


def campaign_figures(counts: pd.DataFrame, sample: pd.DataFrame, model: ResponseModel, run: RunPrices) -> dict:
    """Figures of the campaign whose labelled customers ``counts`` (``evaluation_counts``)
    and ``sample`` (``evaluation_sample``) describe, and of the model behind it."""
    prices, customers = run.prices, int(counts[ROWS].sum())
    campaign = campaign_outcome(counts, run)
    same_customers = contact_everyone(counts, prices)
    as_received = run.baseline_as_received
    goals = business_goals(campaign["response_rate"], same_customers["response_rate"])
    money = bootstrap_intervals(
        sample[RESPONSE].to_numpy().astype(int), sample["response_probability"].to_numpy(), prices,
        random_state=INTERVAL_SEED, contacted=sample["contact"].to_numpy(), population=(customers, campaign),
    )  # fmt: skip
    metrics = model.metrics
    return {
        "model": model.name,
        "cv_roc_auc": metrics["roc_auc"],
        "cv_roc_auc_interval": metrics["roc_auc_interval"],
        "cv_pr_auc": metrics["pr_auc"],
        "cv_pr_auc_interval": metrics["pr_auc_interval"],
        "cv_brier": metrics["brier"],
        "top_decile_lift": metrics["top_decile_lift"],
        "cv_evaluated_customers": metrics["evaluated_rows"],
        "contact_rule": prices.contact_rule,
        "contact_threshold": prices.break_even_probability,
        "budget": run.budget.describe(),
        "contacted": campaign["contacted"],
        "contacted_responders": campaign["responders"],
        "contacted_response_rate": campaign["response_rate"],
        "contacted_response_rate_interval": money["contacted_response_rate_interval"],
        "campaign_cost": campaign["cost"],
        "campaign_revenue": campaign["revenue"],
        "campaign_profit": campaign["profit"],
        "campaign_profit_interval": money["campaign_profit_interval"],
        "evaluated_customers": customers,
        "baseline_profit_same_customers": same_customers["profit"],
        "baseline_response_rate_same_customers": same_customers["response_rate"],
        "baseline_profit_as_received": as_received["profit"] if as_received else None,
        "baseline_lines_as_received": as_received["contacted"] if as_received else None,
        "goal_statement": goals["statement"],
        "business_expectation": goals["business_expectation"],
        "meets_business_expectation": goals["meets_business_expectation"],
    }


def calibration_table(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against observed response rate, by decile of score."""
    order = pd.qcut(pd.Series(probability).rank(method="first"), bins, labels=False)
    frame = pd.DataFrame({"bin": order, "predicted": probability, "observed": y})
    return frame.groupby("bin").agg(predicted=("predicted", "mean"), observed=("observed", "mean"), customers=("observed", "size")).reset_index()
