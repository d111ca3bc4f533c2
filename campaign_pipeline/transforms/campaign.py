"""The campaign the contact rule runs on honest scores, in figures: what it contacts and
earns, beside contacting everyone among the same customers and every line of the file as
received, with seeded bootstrap 95% intervals. One function, so the JSON report, the asset
metadata and the campaign report can never disagree."""

import numpy as np
import pandas as pd

from campaign_pipeline.economics import RunPrices, contact_everyone
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.transforms.response import ResponseModel, business_goals
from campaign_pipeline.transforms.uncertainty import bootstrap_intervals, ranking_intervals

# Seed of every bootstrap behind a reported interval.
INTERVAL_SEED = 0


def why_not_evaluable(scored: pd.DataFrame) -> str | None:
    """Why the campaign on ``scored`` cannot be evaluated (None when it can): observed
    outcomes of both kinds are needed for ROC-AUC, PR-AUC and their intervals."""
    if RESPONSE not in scored.columns or scored[RESPONSE].isna().any():
        return "this file has no observed Response"
    if scored[RESPONSE].nunique() < 2:
        return f"every customer in this file has Response {int(scored[RESPONSE].iloc[0])}"
    return None


def campaign_figures(scored: pd.DataFrame, model: ResponseModel, run: RunPrices) -> dict:
    """Figures of the campaign that ``scored`` (labelled, with ``response_probability`` and
    ``contact``) describes, and of the model behind it."""
    prices, y = run.prices, scored[RESPONSE].to_numpy().astype(int)
    probability, contacted = scored["response_probability"].to_numpy(), scored["contact"].to_numpy()
    campaign = prices.outcome(contacted, y.astype(bool))
    same_customers = contact_everyone(scored, prices)
    as_received = run.baseline_as_received
    goals = business_goals(campaign["response_rate"], same_customers["response_rate"])
    oof_y, oof_probability = model.oof[RESPONSE].to_numpy(), model.oof["oof_probability"].to_numpy()
    ranking = ranking_intervals(oof_y, oof_probability, random_state=INTERVAL_SEED)
    money = bootstrap_intervals(y, probability, prices, random_state=INTERVAL_SEED, contacted=contacted)
    metrics = model.metrics
    return {
        "model": model.name,
        "cv_roc_auc": metrics["roc_auc"],
        "cv_roc_auc_interval": ranking["roc_auc_interval"],
        "cv_pr_auc": metrics["pr_auc"],
        "cv_pr_auc_interval": ranking["pr_auc_interval"],
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
        "evaluated_customers": len(y),
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
