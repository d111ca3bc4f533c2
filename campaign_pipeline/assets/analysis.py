"""Analysis: conversion by segment with honest statistics, cluster profiles in real units,
and the segmentation report that ties the numbers and charts together for a marketer."""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from campaign_pipeline.assets import MARKETING_ANALYTICS, reduced_in, reduced_ins
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.economics import RunPrices, contact_everyone
from campaign_pipeline.errors import require_column
from campaign_pipeline.metadata import chart, table
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import RESPONSE, ClusterProfiles, ConversionAnalysis
from campaign_pipeline.transforms.buckets import count_by
from campaign_pipeline.transforms.charts import pca_scatter_chart, segment_rates_chart
from campaign_pipeline.transforms.profiles import profile_table
from campaign_pipeline.transforms.markdown import segmentation_report_markdown
from campaign_pipeline.transforms.segmentation import SegmentationModel, scatter_points
from campaign_pipeline.transforms.statistics import COUNTED, DIMENSIONS, conversion_counts
from campaign_pipeline.transforms.statistics import conversion_analysis as analyse_conversion

ANALYSIS = "analysis"
DOMAIN = {"group_name": ANALYSIS, "owners": [MARKETING_ANALYTICS]}  # every asset of this module


@asset(
    **DOMAIN,
    kinds={"pandas", "scipy", "matplotlib"},
    ins={"engineered_customers": reduced_in([*COUNTED, *DIMENSIONS])},
    **dataset_contract("conversion_analysis", ConversionAnalysis),
)
def conversion_analysis(context: AssetExecutionContext, engineered_customers, output_files: OutputFiles):
    """Response by age group, recency segment, preferred channel, loyalty score and family
    size: customers, responders, response rate and conversion rate (responses per
    interaction) with 95% Wilson intervals. Per dimension: chi-square of Response with
    groups whose expected counts are below 5 merged (and the merge reported), Cramér's V,
    Kruskal-Wallis on conversion rate, and a one-sentence conclusion at α = 0.05. Reduced
    bucket by bucket from counts of the customers (``statistics.conversion_counts``)."""
    counts = conversion_counts(engineered_customers)
    require_column(
        counts["age_group"],
        RESPONSE,
        "conversion cannot be analysed without the observed response",
        source="engineered_customers",
        expected="a customer file with Response to analyse; scoring-only files skip this asset",
    )
    rates = analyse_conversion(counts)
    age = rates[rates["dimension"].eq("age_group")].iloc[0]
    context.log.info(age["conclusion"])
    conclusions = rates.groupby("dimension", sort=False)["conclusion"].first()
    return validated(
        ConversionAnalysis,
        rates,
        {
            "age_conclusion": age["conclusion"],
            "age_chi2_p_value": float(age["chi2_p_value"]),
            "age_cramers_v": float(age["cramers_v"]),
            "age_kruskal_p_value": float(age["kruskal_p_value"]),
            "conclusions": "\n".join(f"- {text}" for text in conclusions),
            "segments": table(
                rates[["dimension", "segment", "customers", "responders", "response_rate", "response_rate_low",
                       "response_rate_high", "conversion_rate", "conversion_rate_mean"]]
            ),
            **chart(output_files, "conversion_by_segment.png", segment_rates_chart(rates), "response by segment"),
        },
    )


@asset(
    **DOMAIN,
    kinds={"pandas", "parquet", "matplotlib"},
    ins=reduced_ins("clustered_customers", "scaled_customers"),
    **dataset_contract("cluster_profiles", ClusterProfiles),
)
def cluster_profiles(clustered_customers, scaled_customers, segmentation_model: SegmentationModel, output_files: OutputFiles):
    """Per cluster, in real units and beside the overall value: size and share; mean
    income and spend (MU), recency (days), web visits, children, tenure (months) and
    campaigns accepted, each flagged when the difference is real (Mann-Whitney p < 0.01,
    effect >= 0.2); channel mix, top product family and response rate. With a 2-D PCA
    scatter coloured by the chosen model's labels."""
    profiles = profile_table(clustered_customers, segmentation_model.names)
    coordinates, labels = scatter_points(segmentation_model, scaled_customers, clustered_customers)
    explained = segmentation_model.pca.explained_variance_ratio_
    scatter = pca_scatter_chart(coordinates, labels, segmentation_model.names, explained)
    return validated(
        ClusterProfiles,
        profiles,
        {
            "profiles": table(profiles, decimals=2),
            **chart(output_files, "cluster_pca.png", scatter, "PCA scatter"),
        },
    )


@asset(**DOMAIN, kinds={"markdown"}, ins={"scored_customers": reduced_in([RESPONSE])})
def segmentation_report(
    conversion_analysis: pd.DataFrame,
    cluster_profiles: pd.DataFrame,
    retargeting_impact: pd.DataFrame,
    segmentation_model: SegmentationModel,
    scored_customers,
    campaign_prices: pd.DataFrame,
    output_files: OutputFiles,
) -> MaterializeResult:
    """``reports/segmentation_report.md``: the age conclusion, the conversion analysis, the
    choice of k, the cluster profiles and the retargeting recommendation, with the charts,
    every number taken from the upstream assets."""
    run_prices = RunPrices.from_frame(campaign_prices)
    text = segmentation_report_markdown(
        conversion_analysis,
        cluster_profiles,
        retargeting_impact,
        segmentation_model,
        same_customers=contact_everyone(count_by(scored_customers, [RESPONSE]), run_prices.prices),
        as_received=run_prices.baseline_as_received,
    )
    path = output_files.write_text("segmentation_report.md", text)
    return MaterializeResult(metadata={"path": MetadataValue.path(str(path)), "report": MetadataValue.md(text)})
