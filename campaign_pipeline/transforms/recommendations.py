"""Seed 2's four recommendations (REFERENCE §3), each generated from the numbers with its
figure, its n and its 95% interval, and a verdict on whether the data supports it.

The seed recommends (1) targeted e-mail marketing to customers with high campaign acceptance
and interaction, (2) look-alike targeting of new customers, (3) product personalisation on
meat and sweets, (4) channel optimisation. What each row measures, and when it counts as
supported:

* ``targeted email``: response rate among the customers the model would contact (honest
  scores: out of fold, or from a model that never saw them) against everyone, both with 95%
  Wilson intervals. Supported if the contacted rate's lower bound beats the overall rate.
* ``look-alike targeting``: the demographics-only model's out-of-fold ROC-AUC and interval,
  when given (``prospects_auc``); never the customer model's. Supported if the lower bound
  is above 0.5; the verdict says how far below the customer model's ROC-AUC it is.
* ``product focus: meat and sweets``: the seed's rule (meat spend > 16 MU and sweets >= 1 MU)
  as a difference in response rate against everyone else, with Newcombe's hybrid score
  interval (method 10, built from the two Wilson intervals). Supported if the interval
  lies above 0.
* ``channel optimisation``: response rate by reach channel (``actions.reach_channel``);
  supported if the best channel's Wilson interval lies above the interval of every other
  channel with at least ``MIN_CHANNEL_CUSTOMERS`` customers (smaller ones are named, not
  compared: their intervals are too wide to separate anything).

Every customer in the pilot was contacted (REFERENCE §5): (1), (3) and (4) are response rates
among contacted customers, so "supported" means the data shows the association the
recommendation rests on, not that the action causes extra acceptances. The verdicts say so.

On the reference file (2,016 customers after cleaning; the project's response model, out of
fold, ROC-AUC 0.905; a demographics-only logistic regression for the look-alike), all four are
supported, each as an association:

* targeted email: 333 contacted respond at 56.2% (50.8-61.4%) against 14.6% (13.1-16.2%);
  only 58% of them are best reached by email, the rest by catalogue mail.
* look-alike: ROC-AUC 0.708 (0.677-0.741), 0.20 below the customer model's 0.905.
* meat > 16 and sweets >= 1: 1,308 customers at 17.6% against 708 at 9.0%, +8.5 points
  (+5.5 to +11.4); these customers also spend more on everything.
* channel: catalogue mail 21.9% (18.6-25.5%, n=548) clears email 12.1% (10.5-13.9%,
  n=1,435); in-store offer (n=3) is too small to compare.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.transforms.actions import DETAIL_COLUMNS, REACH_CHANNELS, reach_channel
from campaign_pipeline.transforms.statistics import wilson_interval
from campaign_pipeline.transforms.uncertainty import ranking_intervals

RECOMMENDATIONS = ("targeted email", "look-alike targeting", "product focus: meat and sweets", "channel optimisation")
COLUMNS = ("recommendation", "measure", "evidence", "figure", "n", "interval_low", "interval_high", "supported", "verdict")
# What the recommendations and ``actions.action_evidence`` read of each customer, so that a
# caller holding many customers loads these columns only.
EVIDENCE_COLUMNS = (*DETAIL_COLUMNS, "NumStorePurchases")
MEAT_ABOVE = 16  # MU, the seed's "meat > 16"
SWEETS_AT_LEAST = 1  # MU, the seed's "sweets >= 1"
MIN_CHANNEL_CUSTOMERS = 30
CAUSAL_CAVEAT = "an association among customers who were all contacted, not the effect of the action (no control group)"


def newcombe_difference(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float, float]:
    """Difference of two proportions ``a - b`` with Newcombe's hybrid score 95% interval
    (method 10: from the two Wilson intervals). NaNs when either group is empty."""
    if n_a == 0 or n_b == 0:
        return float("nan"), float("nan"), float("nan")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    (low_a, high_a), (low_b, high_b) = wilson_interval(successes_a, n_a), wilson_interval(successes_b, n_b)
    difference = p_a - p_b
    low = difference - np.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + np.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return float(difference), float(low), float(high)


def seed_recommendations(
    customers: pd.DataFrame,
    scored: pd.DataFrame,
    prospects_auc: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """One row per seed-2 recommendation (``RECOMMENDATIONS`` order), columns ``COLUMNS``:
    what is measured, one sentence of evidence, the figure, its n and 95% interval, whether
    the data supports it and why. ``customers`` are the engineered (or clustered) customers,
    ``scored`` the honest scores (``ID``, ``response_probability``, ``contact``,
    ``Response``); ``prospects_auc`` is the look-alike model's (ROC-AUC, low, high)."""
    if RESPONSE not in scored.columns:
        scored = scored.assign(**{RESPONSE: np.nan})
    if RESPONSE not in customers.columns:
        customers = customers.assign(**{RESPONSE: np.nan})
    labelled, customers = scored[scored[RESPONSE].notna()], customers[customers[RESPONSE].notna()]
    rows = [
        _targeted_email(labelled, customers),
        _look_alike(labelled, prospects_auc),
        _product_focus(customers),
        _channel_optimisation(customers),
    ]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["n"] = table["n"].astype("int64")
    table["supported"] = table["supported"].astype(bool)
    return table


def _row(recommendation, measure, evidence, figure, n, low, high, supported, verdict) -> dict:
    return dict(zip(COLUMNS, (recommendation, measure, evidence, float(figure), int(n), float(low), float(high),
                              bool(supported), verdict)))


def _untestable(recommendation: str, measure: str, why: str, n: int = 0) -> dict:
    return _row(recommendation, measure, why, np.nan, n, np.nan, np.nan, False, f"Not supported: {why}.")


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _targeted_email(labelled: pd.DataFrame, customers: pd.DataFrame) -> dict:
    name, measure = RECOMMENDATIONS[0], "response rate among the customers the model contacts"
    contacted = labelled[labelled["contact"].astype(bool)]
    if labelled.empty or contacted.empty:
        why = "no labelled customer" if labelled.empty else "the model contacts nobody"
        return _untestable(name, measure, f"cannot be measured: {why}", len(contacted))
    responders, n = int(contacted[RESPONSE].sum()), len(contacted)
    overall_responders, overall_n = int(labelled[RESPONSE].sum()), len(labelled)
    rate, overall = responders / n, overall_responders / overall_n
    low, high = wilson_interval(responders, n)
    overall_low, overall_high = wilson_interval(overall_responders, overall_n)
    channels = reach_channel(customers.set_index("ID").reindex(contacted["ID"]).dropna(subset=["NumWebPurchases"]))
    email_share = float((channels == "email").mean()) if len(channels) else float("nan")
    evidence = (
        f"The {n} customers the model would contact responded at {_pct(rate)} (95% {_pct(low)}-{_pct(high)}) "
        f"against {_pct(overall)} ({_pct(overall_low)}-{_pct(overall_high)}) over all {overall_n}; "
        f"{_pct(email_share)} of them are reachable by email."
    )
    supported = low > overall
    verdict = (
        f"{'Supported' if supported else 'Not supported'}: the contacted rate's lower bound {_pct(low)} is "
        f"{'above' if supported else 'not above'} the overall {_pct(overall)}"
        f" ({rate / overall:.1f}x the base rate); {CAUSAL_CAVEAT}."
        if overall > 0
        else f"Not supported: nobody responded among the {overall_n} customers."
    )
    return _row(name, measure, evidence, rate, n, low, high, supported, verdict)


def _customer_model_auc(labelled: pd.DataFrame) -> tuple[float, float, float]:
    """ROC-AUC of the honest scores with its seeded bootstrap interval; NaNs on one class."""
    y = labelled[RESPONSE].astype(int).to_numpy()
    if len(y) == 0 or y.min() == y.max():
        return float("nan"), float("nan"), float("nan")
    probability = labelled["response_probability"].to_numpy()
    low, high = ranking_intervals(y, probability)["roc_auc_interval"]
    return float(roc_auc_score(y, probability)), float(low), float(high)


def _look_alike(labelled: pd.DataFrame, prospects_auc) -> dict:
    name, measure = RECOMMENDATIONS[1], "out-of-fold ROC-AUC of the demographics-only (look-alike) model"
    if prospects_auc is None:
        return _untestable(
            name, measure, "no look-alike model was evaluated (prospects have demographics only; "
            "pass its out-of-fold ROC-AUC)", len(labelled)
        )
    auc, low, high = (float(value) for value in prospects_auc)
    customer_auc, customer_low, customer_high = _customer_model_auc(labelled)
    comparison = (
        f"the customer model ranks at {customer_auc:.3f} ({customer_low:.3f}-{customer_high:.3f})"
        if np.isfinite(customer_auc)
        else "the customer model's ROC-AUC is not available"
    )
    evidence = f"A model on demographics alone ranks responders at ROC-AUC {auc:.3f} (95% {low:.3f}-{high:.3f}); {comparison}."
    supported = low > 0.5
    gap = f", {customer_auc - auc:.3f} below the customer model" if np.isfinite(customer_auc) else ""
    strength = "weak" if auc < 0.7 else "moderate" if auc < 0.8 else "good"
    verdict = (
        f"{'Supported' if supported else 'Not supported'}: the lower bound {low:.3f} is "
        f"{'above' if supported else 'not above'} 0.5 (chance); the ranking is {strength}{gap}, so "
        + (
            "look-alike prospects can be ranked, far less sharply than customers."
            if supported
            else "demographics alone do not tell prospects who will respond."
        )
    )
    return _row(name, measure, evidence, auc, len(labelled), low, high, supported, verdict)


def _product_focus(customers: pd.DataFrame) -> dict:
    name = RECOMMENDATIONS[2]
    measure = f"response-rate difference, meat > {MEAT_ABOVE} MU and sweets >= {SWEETS_AT_LEAST} MU vs the rest"
    if customers.empty:
        return _untestable(name, measure, "cannot be measured: no labelled customer")
    focus = (customers["MntMeatProducts"] > MEAT_ABOVE) & (customers["MntSweetProducts"] >= SWEETS_AT_LEAST)
    response = customers[RESPONSE].astype(int)
    r_in, n_in = int(response[focus].sum()), int(focus.sum())
    r_out, n_out = int(response[~focus].sum()), int((~focus).sum())
    if n_in == 0 or n_out == 0:
        return _untestable(name, measure, "cannot be measured: one side of the meat-and-sweets split is empty", n_in)
    difference, low, high = newcombe_difference(r_in, n_in, r_out, n_out)
    evidence = (
        f"Customers with meat > {MEAT_ABOVE} MU and sweets >= {SWEETS_AT_LEAST} MU ({n_in}) responded at "
        f"{_pct(r_in / n_in)}, the other {n_out} at {_pct(r_out / n_out)}: a difference of "
        f"{difference * 100:+.1f} points (95% {low * 100:+.1f} to {high * 100:+.1f})."
    )
    supported = low > 0
    verdict = (
        f"{'Supported' if supported else 'Not supported'}: the interval "
        f"{'lies above 0' if supported else 'does not lie above 0'}; {CAUSAL_CAVEAT}, and meat and sweets "
        "buyers also spend more on everything."
    )
    return _row(name, measure, evidence, difference, n_in, low, high, supported, verdict)


def _channel_optimisation(customers: pd.DataFrame) -> dict:
    name, measure = RECOMMENDATIONS[3], "response rate of the best reach channel"
    if customers.empty:
        return _untestable(name, measure, "cannot be measured: no labelled customer")
    channel = reach_channel(customers).astype(str)
    groups = customers[RESPONSE].astype(int).groupby(channel)
    stats = pd.DataFrame({"n": groups.size(), "responders": groups.sum()}).reindex(
        [c for c in REACH_CHANNELS if c in set(channel)]
    )
    stats["rate"] = stats["responders"] / stats["n"]
    stats[["low", "high"]] = [wilson_interval(r, n) for r, n in zip(stats["responders"], stats["n"])]
    compared = stats[stats["n"] >= MIN_CHANNEL_CUSTOMERS]
    small = stats[stats["n"] < MIN_CHANNEL_CUSTOMERS]
    if len(compared) < 2:
        return _untestable(
            name, measure, f"cannot be measured: fewer than two reach channels with {MIN_CHANNEL_CUSTOMERS}+ customers",
            len(customers),
        )
    best = compared["rate"].idxmax()
    others = compared.drop(index=best)
    row = compared.loc[best]
    listing = "; ".join(
        f"{label} {_pct(s['rate'])} ({_pct(s['low'])}-{_pct(s['high'])}, n={int(s['n'])})" for label, s in stats.iterrows()
    )
    evidence = f"Response rate by reach channel: {listing}."
    supported = bool((row["low"] > others["high"]).all())
    runner_up = others["high"].idxmax()
    skipped = (
        f" Not compared (fewer than {MIN_CHANNEL_CUSTOMERS} customers): {', '.join(small.index)}." if len(small) else ""
    )
    verdict = (
        f"{'Supported' if supported else 'Not supported'}: {best}'s interval ({_pct(row['low'])}-{_pct(row['high'])}) "
        f"{'lies above' if supported else 'overlaps'} every other channel's (highest upper bound {_pct(others.loc[runner_up, 'high'])}, "
        f"{runner_up}); {CAUSAL_CAVEAT}: test the channels on a randomised split.{skipped}"
    )
    return _row(name, measure, evidence, row["rate"], row["n"], row["low"], row["high"], supported, verdict)
