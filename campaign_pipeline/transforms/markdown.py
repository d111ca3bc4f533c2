"""The segmentation report as Markdown: every number comes from an asset's table."""

import numpy as np
import pandas as pd

from campaign_pipeline.transforms.impact import RECOMMENDATION_RULE, recommendation_rationale
from campaign_pipeline.transforms.profiles import PROFILE_MEASURES
from campaign_pipeline.transforms.segmentation import SegmentationModel


def format_cell(value) -> str:
    """A table cell for people: three decimals below 1, whole numbers above; missing is empty."""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return f"{value:,.3f}" if abs(value) < 1 else f"{value:,.0f}"
    return "" if value is pd.NA or value is None else str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _real_differences(profiles: pd.DataFrame) -> list[str]:
    lines = []
    for row in profiles.itertuples(index=False):
        row = row._asdict()
        facts = []
        for measure, (_, unit, _, _) in PROFILE_MEASURES.items():
            column = f"{measure}_{unit}" if unit in ("MU", "days", "months") else measure
            if row.get(f"{column}_is_different"):
                facts.append(f"{measure.replace('_', ' ')} {row[column]:,.1f} {unit} vs {row[f'{column}_overall']:,.1f} overall")
        stated = "; ".join(facts) if facts else "no difference from the overall base passes the test"
        lines.append(f"- **{row['cluster']}: {row['name']}** ({row['customers']} customers): {stated}.")
    return lines


def segmentation_report_markdown(
    conversion: pd.DataFrame,
    profiles: pd.DataFrame,
    impact: pd.DataFrame,
    model: SegmentationModel,
    same_customers: dict | None,
    as_received: dict | None,
) -> str:
    """``same_customers`` and ``as_received``: the observed result of contacting every
    scored customer, and every line of the file as received (None without Response)."""
    age = conversion[conversion["dimension"].eq("age_group")]
    others = conversion[~conversion["dimension"].eq("age_group")].groupby("dimension", sort=False)["conclusion"].first()
    profile_view = profiles[
        ["cluster", "name", "customers", "share", "income_MU", "income_MU_overall", "spend_MU", "spend_MU_overall",
         "recency_days", "recency_days_overall", "children", "loyalty", "top_product_family"]
    ]
    impact_view = impact[
        ["cluster", "name", "customers", "response_rate", "mean_score", "expected_profit", "targeted_customers",
         "targeted_profit", "targeted_profit_low", "targeted_profit_high", "share_of_expected_profit", "recommended"]
    ]
    metrics = model.metrics
    lines = [
        "# Segmentation and retargeting report",
        "",
        "## Does conversion differ by age?",
        "",
        age["conclusion"].iloc[0],
        "",
        markdown_table(age[["segment", "customers", "responders", "response_rate", "response_rate_low", "response_rate_high", "conversion_rate"]]),
        "",
        "Conversion rate is responses per interaction (web visits plus purchases); rates carry 95% Wilson intervals.",
        "",
        "Other segment dimensions:",
        "",
        *[f"- {text}" for text in others],
        "",
        "![Response by segment](conversion_by_segment.png)",
        "",
        "## Segments",
        "",
        f"Chosen k = {model.k}: {metrics.get('choice', '')}. Silhouette {metrics.get('silhouette', float('nan')):.3f}, "
        f"smallest cluster {metrics.get('min_cluster_share', float('nan')):.1%} of customers, "
        f"stability (mean adjusted Rand index across 5 seeds) {metrics.get('stability_ari', float('nan')):.3f}. "
        f"Features: {', '.join(name.removeprefix('seg__') for name in model.feature_names)}; nothing derived from Response.",
        "",
        "![k sweep](k_sweep.png)",
        "",
        "Profiles in real units (money in MU, recency in days), each beside the overall value:",
        "",
        markdown_table(profile_view),
        "",
        "Differences that are real (Mann-Whitney U against the rest, p < 0.01 and effect >= 0.2):",
        "",
        *_real_differences(profiles),
        "",
        "![Segments on two principal components](cluster_pca.png)",
        "",
        "## Retargeting",
        "",
        recommendation_rationale(impact),
        "",
        markdown_table(impact_view),
        "",
        "targeted_profit_low and _high: seeded bootstrap 95% interval (1,000 resamples of the customers).",
        "",
        f"Over all clusters: contacting everyone is expected to make {impact['expected_profit'].sum():,.0f} MU; "
        f"contacting only the {int(impact['targeted_customers'].sum())} customers with positive expected profit, "
        f"{impact['targeted_profit'].sum():,.0f} MU. Rule for the recommendation: {RECOMMENDATION_RULE}.",
        "",
        (
            f"Baseline, observed, like for like: contacting all {same_customers['contacted']:,} of these customers "
            f"brought {same_customers['responders']:,} acceptances and {same_customers['profit']:,.0f} MU. "
            f"Contacting every line of the file as received ({as_received['contacted']:,} lines, duplicates "
            f"included): {as_received['profit']:,.0f} MU."
            if same_customers and as_received
            else "The file has no Response column, so there is no observed baseline."
        ),
        "",
        "![Retargeting impact](retargeting_impact.png)",
        "",
    ]
    return "\n".join(lines)
