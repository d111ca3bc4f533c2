"""The campaign report: one Markdown file and one self-contained HTML page that take a
marketer from the data to the campaign, every figure from an upstream asset."""

from collections.abc import Callable

import pandas as pd
from dagster import Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from campaign_pipeline.assets import MARKETING_ANALYTICS, reduced_in, reduced_ins
from campaign_pipeline.economics import RunPrices
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.transforms import charts
from campaign_pipeline.transforms.actions import action_evidence
from campaign_pipeline.transforms.buckets import ROWS, count_by, stable_sample
from campaign_pipeline.transforms.campaign import INTERVAL_SEED, CampaignEvaluation, calibration_table
from campaign_pipeline.transforms.campaign_report import Chart, Section, holdout_size, render_html, render_markdown, why_this_k
from campaign_pipeline.transforms.impact import channel_sums, channel_summary, contact_list, recommendation_rationale
from campaign_pipeline.transforms.lookalike import LookalikeModel
from campaign_pipeline.transforms.recommendations import EVIDENCE_COLUMNS, seed_recommendations
from campaign_pipeline.transforms.response import RESPONDER_SAMPLE, ResponseModel, profit_curve
from campaign_pipeline.transforms.segmentation import SegmentationModel, scatter_points

TITLE = "Campaign report"


class CampaignReportConfig(Config):
    """The randomised hold-out the report proposes for the next campaign."""

    detectable_lift: float = Field(0.10, gt=0, lt=1, description="Absolute lift in response rate the hold-out must detect")
    power: float = Field(0.8, gt=0, lt=1, description="Chance of detecting that lift when it is real")
    alpha: float = Field(0.05, gt=0, lt=1, description="Two-sided significance level")


# What the report's figures need of every scored customer.
REPORTED_SCORES = ["ID", "response_probability", "expected_profit", "contact", RESPONSE]


@asset(
    group_name="analysis",
    owners=[MARKETING_ANALYTICS],
    kinds={"markdown", "html", "matplotlib"},
    ins={
        "customer_dispositions": reduced_in(["disposition", "reason"]),
        **reduced_ins("scaled_customers", "clustered_customers", "scored_customers"),
    },
)
def campaign_report(
    config: CampaignReportConfig,
    customer_dispositions,
    conversion_analysis: pd.DataFrame,
    segmentation_model: SegmentationModel,
    scaled_customers,
    clustered_customers,
    cluster_profiles: pd.DataFrame,
    retargeting_impact: pd.DataFrame,
    response_model: ResponseModel,
    scored_customers,
    campaign_evaluation: CampaignEvaluation,
    campaign_prices: pd.DataFrame,
    campaign_scenarios: pd.DataFrame,
    lookalike_model: LookalikeModel,
    prospect_scores: pd.DataFrame,
    output_files: OutputFiles,
) -> MaterializeResult:
    """``reports/campaign_report.md`` and the self-contained ``reports/campaign_report.html``
    (charts embedded, no scripts or external files), in order: the data and every cleaning
    count; conversion by segment and the age conclusion; the segments and the choice of k;
    the response model with out-of-fold figures and intervals; the campaign against
    like-for-like baselines; the what-if and budget table; the responder profile against
    seed 2's; the recommendations with their evidence; the contact-list and prospect
    summaries; and the caveats, with a randomised hold-out sized for the next campaign.
    A chart an upstream asset drew of the same input (segments, k sweep, PCA scatter,
    impact, profit curve, what-if) is taken from the file that asset saved, not drawn again,
    and the campaign's figures, intervals and responder rules are ``campaign_evaluation``'s.

    Reads the customers one bucket at a time, as partial aggregates: counts of the lines'
    dispositions for the cleaning totals, the contact list built bucket by bucket, and a
    stable sample of customers and their scores (all of them up to 100,000) for the
    recommendations' evidence."""
    run = RunPrices.from_frame(campaign_prices)

    def drawn(caption: str, file_name: str, draw: Callable[[], bytes]) -> Chart:
        # The upstream asset that reads the same input saved this very chart under the same
        # name in its own step; it is drawn here only when it is not there (the asset
        # called alone, as in a test).
        return Chart(caption, file_name, output_files.read_bytes("reports", file_name) or draw())

    figures, sample = campaign_evaluation.figures, campaign_evaluation.sample
    # The recommendations' evidence: the same stable sample of customers and of their scores.
    customers = stable_sample(
        clustered_customers, RESPONDER_SAMPLE, INTERVAL_SEED, stratify=RESPONSE, columns=list(EVIDENCE_COLUMNS)
    )
    scores = stable_sample(scored_customers, RESPONDER_SAMPLE, INTERVAL_SEED, stratify=RESPONSE, columns=REPORTED_SCORES)
    sections = [
        _data_section(count_by(customer_dispositions, ["disposition", "reason"])),
        _conversion_section(conversion_analysis, drawn),
        _segments_section(segmentation_model, scaled_customers, clustered_customers, cluster_profiles, drawn),
        _model_section(response_model, sample, run, figures),
        _campaign_section(retargeting_impact, sample, run, figures, drawn),
        _scenarios_section(campaign_scenarios, drawn),
        _responders_section(campaign_evaluation.responder_rules),
        _recommendations_section(customers, scores, lookalike_model),
        _lists_section(scored_customers, clustered_customers, prospect_scores, lookalike_model),
        _caveats_section(figures, config),
    ]
    markdown = render_markdown(TITLE, sections)
    for section in sections:
        for chart in section.charts:
            output_files.write_bytes("reports", chart.file_name, chart.png)
    markdown_path = output_files.write_text("campaign_report.md", markdown)
    html_path = output_files.write_text("campaign_report.html", render_html(TITLE, sections))
    return MaterializeResult(
        metadata={
            "markdown": MetadataValue.path(str(markdown_path)),
            "html": MetadataValue.path(str(html_path)),
            "sections": [section.title for section in sections],
            "charts": sum(len(section.charts) for section in sections),
            "report": MetadataValue.md(markdown),
        }
    )


def _data_section(dispositions: pd.DataFrame) -> Section:
    """``dispositions``: lines counted by disposition and reason (``buckets.count_by``)."""
    counts = dispositions.groupby("disposition")[ROWS].sum()
    reasons = dispositions[dispositions["disposition"] != "scored"][["disposition", "reason", ROWS]].rename(columns={ROWS: "lines"})
    return Section(
        "The data and every cleaning count",
        [
            f"The file has {int(counts.sum()):,} customer lines: {counts.get('scored', 0):,} are scored, "
            f"{counts.get('duplicate', 0):,} are copies of another line (the kept ID stands for them) and "
            f"{counts.get('dropped', 0):,} are dropped by a named rule"
            + (f" and {counts['rejected']:,} were set aside by the reader (rejected_customers)" if counts.get("rejected") else "")
            + ". Every line is listed in customer_dispositions."
        ],
        [("Lines removed, by rule", reasons)],
    )


def _conversion_section(conversion: pd.DataFrame, drawn) -> Section:
    age = conversion[conversion["dimension"].eq("age_group")]
    others = conversion[~conversion["dimension"].eq("age_group")].groupby("dimension", sort=False)["conclusion"].first()
    return Section(
        "Conversion by segment, and age",
        [age["conclusion"].iloc[0], *others.tolist()],
        [("Response by age group (95% Wilson intervals)",
          age[["segment", "customers", "responders", "response_rate", "response_rate_low", "response_rate_high"]])],
        [drawn("Response rate by segment", "conversion_by_segment.png", lambda: charts.segment_rates_chart(conversion))],
    )  # fmt: skip


def _segments_section(model: SegmentationModel, scaled, clustered, profiles: pd.DataFrame, drawn) -> Section:
    def scatter() -> bytes:
        coordinates, labels = scatter_points(model, scaled, clustered)
        return charts.pca_scatter_chart(coordinates, labels, model.names, model.pca.explained_variance_ratio_)

    return Section(
        "The segments and the choice of k",
        [f"Rule: {model.metrics.get('choice', '')}.", why_this_k(model.sweep, model.k, model.rule.k_min)],
        [("Segments in real units", profiles[["cluster", "name", "customers", "share", "income_MU", "spend_MU",
                                             "recency_days", "children", "top_product_family"]])],
        [
            drawn("Elbow and silhouette by k", "k_sweep.png", lambda: charts.k_sweep_chart(model.sweep, model.k)),
            drawn("Segments on two principal components", "cluster_pca.png", scatter),
        ],
    )  # fmt: skip


def _interval(figures: dict, name: str, spec: str) -> str:
    low, high = figures[f"{name}_interval"]
    return f"{format(figures[name], spec)} (95% interval {format(low, spec)} to {format(high, spec)})"


def _model_section(model: ResponseModel, sample: pd.DataFrame | None, run: RunPrices, figures: dict | None) -> Section:
    section = Section("The response model", tables=[("Candidates, out of fold", model.comparison)])
    if figures is None:
        section.paragraphs.append("The campaign cannot be evaluated on this file (no observed Response of both kinds): the model's figures are those of its last training.")
        return section
    section.paragraphs.append(
        f"{model.name}, out of fold on {figures['cv_evaluated_customers']:,} customers: ROC-AUC "
        f"{_interval(figures, 'cv_roc_auc', '.3f')}, PR-AUC {_interval(figures, 'cv_pr_auc', '.3f')}, Brier "
        f"{figures['cv_brier']:.3f}. Every score below is honest: out of fold for the customers the model was "
        "trained on, out of sample for the rest."
    )
    y, probability = sample[RESPONSE].to_numpy().astype(int), sample["response_probability"].to_numpy()
    section.charts.append(Chart("Calibration of the honest scores", "calibration.png",
                                charts.calibration_chart(calibration_table(y, probability), run.prices.break_even_probability)))  # fmt: skip
    return section


def _campaign_section(impact: pd.DataFrame, sample: pd.DataFrame | None, run: RunPrices, figures: dict | None, drawn) -> Section:
    section = Section("The campaign against like-for-like baselines", [recommendation_rationale(impact)])
    section.tables.append(("Per cluster (targeted profit with its 95% interval)",
                           impact[["cluster", "name", "customers", "response_rate", "expected_profit", "targeted_customers",
                                   "targeted_profit", "targeted_profit_low", "targeted_profit_high", "recommended"]]))  # fmt: skip
    section.charts.append(drawn("Retargeting impact per cluster", "retargeting_impact.png", lambda: charts.impact_chart(impact)))
    if figures is not None:
        section.paragraphs.append(
            f"Rule: {figures['contact_rule']}; {figures['budget']}. Contacting the {figures['contacted']:,} customers it "
            f"picks: response {_interval(figures, 'contacted_response_rate', '.1%')}, profit "
            f"{_interval(figures, 'campaign_profit', ',.0f')} MU. Contacting all {figures['evaluated_customers']:,} of the "
            f"same customers: {figures['baseline_profit_same_customers']:,.0f} MU. Every line of the file as received "
            f"({figures['baseline_lines_as_received']:,} lines, copies included): {figures['baseline_profit_as_received']:,.0f} MU. "
            + figures["goal_statement"]
        )

        def curve_chart() -> bytes:
            y, probability = sample[RESPONSE].to_numpy().astype(int), sample["response_probability"].to_numpy()
            customers = figures["evaluated_customers"]
            curve = profit_curve(y, probability, run.prices, customers=customers)
            return charts.profit_curve_chart(curve, figures["contacted"] / customers, figures["campaign_profit"])

        section.charts.append(drawn("Profit by share of customers contacted", "profit_curve.png", curve_chart))
    return section


def _scenarios_section(scenarios: pd.DataFrame, drawn) -> Section:
    return Section(
        "What-if: prices and budgets",
        ["The break-even campaign at other prices and budgets, on the same honest scores, with no refit "
         "(campaign_scenarios; change its grid in the launchpad)."],
        [("Scenarios", scenarios)],
        [drawn("Expected profit by cost per contact", "campaign_scenarios.png", lambda: charts.scenario_chart(scenarios))],
    )  # fmt: skip


def _responders_section(rules: pd.DataFrame | None) -> Section:
    if rules is None:
        return Section("The responder profile against seed 2's", ["This file has no observed Response of both kinds to profile."])
    return Section(
        "The responder profile against seed 2's",
        ["Leaves of a depth-3 tree whose response rate clears break-even, beside each of the seed's conditions."],
        [("Rules, coverage and response", rules)],
    )


def _recommendations_section(customers: pd.DataFrame, scored: pd.DataFrame, lookalike: LookalikeModel) -> Section:
    metrics = lookalike.metrics
    table = seed_recommendations(customers, scored, (metrics["roc_auc"], *metrics["roc_auc_interval"]))
    unsupported = table.loc[~table["supported"], "recommendation"].tolist()
    return Section(
        "Seed 2's recommendations, with their evidence",
        [
            *table["verdict"].tolist(),
            "Not supported by the data: " + (", ".join(unsupported) if unsupported else "none") + ".",
        ],
        [("Recommendations", table.drop(columns=["verdict"])), ("How to reach customers: response by reach channel",
                                                               action_evidence(customers))],
    )  # fmt: skip


def _lists_section(scored, customers, prospects: pd.DataFrame, lookalike: LookalikeModel) -> Section:
    by_channel = channel_summary(channel_sums(contacts) for contacts in contact_list(scored, customers))
    metrics = lookalike.metrics
    low, high = metrics["roc_auc_interval"]
    chosen = prospects[prospects["contact"]]
    return Section(
        "The contact list and the prospects",
        [
            f"Contact list: {int(by_channel['contacts'].sum()):,} customers, expected profit "
            f"{by_channel['expected_profit'].sum():,.0f} MU.",
            f"Prospects: {len(prospects):,} scored by the demographics-only look-alike model (its own out-of-fold "
            f"ROC-AUC {metrics['roc_auc']:.3f}, 95% interval {low:.3f} to {high:.3f}, much weaker than the customer "
            f"model); {len(chosen):,} clear break-even, expected profit {chosen['expected_profit'].sum():,.0f} MU.",
        ],
        [("Contact list by reach channel", by_channel),
         ("Top prospects", prospects.head(10))],
    )  # fmt: skip


def _caveats_section(figures: dict | None, config: CampaignReportConfig) -> Section:
    paragraphs = [
        "The pilot contacted every customer, so these data measure response among the contacted, not uplift (the "
        "acceptances a contact causes): there was no untreated group. The model ranks who responds; it cannot say "
        "who responds because they were contacted.",
        "Associations in the recommendations are among customers who were all contacted; they are not effects of "
        "the actions.",
    ]
    if figures is not None:
        base = figures["contacted_response_rate"]
        per_arm = holdout_size(max(base - config.detectable_lift, 0.01), config.detectable_lift, config.alpha, config.power)
        paragraphs.append(
            f"Proposal: hold out a random share of the next campaign's target list. To detect a lift of "
            f"{config.detectable_lift:.0%} points in response (contacted {base:.1%} against a hold-out "
            f"{max(base - config.detectable_lift, 0.01):.1%}) with {config.power:.0%} power at a two-sided "
            f"{config.alpha:.0%} level takes {per_arm:,} customers per arm (two-proportion test)."
        )
    return Section("Caveats", paragraphs)
