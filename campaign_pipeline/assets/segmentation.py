"""Segmentation: fitted preprocessor, model matrix, k-means chosen by a stated rule, labels."""

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, asset
from pydantic import Field
from sklearn.compose import ColumnTransformer

from campaign_pipeline.assets import DATA_SCIENCE, MODEL_IO, settings_from
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.metadata import chart, rounded, table
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import ClusteredCustomers, ScaledCustomers
from campaign_pipeline.transforms.charts import k_sweep_chart
from campaign_pipeline.transforms.profiles import name_clusters, profile_clusters
from campaign_pipeline.transforms.segmentation import SEGMENT_FEATURES, SegmentationModel, SelectionRule, SweepSettings
from campaign_pipeline.transforms.segmentation import build_segment_preprocessor, fit_segmentation, to_model_matrix

SEGMENTATION = "segmentation"
DOMAIN = {"group_name": SEGMENTATION, "owners": [DATA_SCIENCE]}  # every asset of this module
RULE = SelectionRule()
SWEEP = SweepSettings()


@asset(**DOMAIN, kinds={"scikitlearn"}, io_manager_key=MODEL_IO)
def segment_preprocessor(engineered_customers: pd.DataFrame) -> MaterializeResult[ColumnTransformer]:
    """Fitted scikit-learn ``ColumnTransformer`` for segmentation: log1p then standardise
    spend, purchases and income; standardise children. Fitted here once, reapplied by
    ``scaled_customers`` (also when the nightly job rescores new data)."""
    preprocessor = build_segment_preprocessor().fit(engineered_customers[list(SEGMENT_FEATURES)])
    return MaterializeResult(
        value=preprocessor, metadata={"features": list(SEGMENT_FEATURES), "fitted_rows": len(engineered_customers)}
    )


@asset(**DOMAIN, kinds={"pandas", "scikitlearn", "parquet"}, **dataset_contract("scaled_customers", ScaledCustomers))
def scaled_customers(
    engineered_customers: pd.DataFrame, segment_preprocessor: ColumnTransformer
):
    """The segmentation model matrix: ``ID`` plus one standardised column per behavioural
    feature (``seg__*``), from the stored ``segment_preprocessor``. Nothing derived from
    ``Response`` is in it."""
    matrix = to_model_matrix(segment_preprocessor, engineered_customers)
    return validated(ScaledCustomers, pd.concat([engineered_customers[["ID"]], matrix], axis=1))


class SegmentationConfig(Config):
    """How k is swept and chosen; defaults are ``SelectionRule``'s and ``SweepSettings``'s."""

    k_min: int = Field(RULE.k_min, ge=2, description="Smallest k the rule may choose")
    k_max: int = Field(RULE.k_max, ge=2, description="Largest k the rule may choose")
    min_cluster_share: float = Field(
        RULE.min_cluster_share, ge=0, le=1, description="Every cluster must hold at least this share"
    )
    min_stability: float = Field(
        RULE.min_stability, ge=-1, le=1, description="Mean pairwise adjusted Rand index across seeds"
    )
    silhouette_tolerance: float = Field(
        RULE.silhouette_tolerance, description="Prefer the smallest k this close to the best silhouette"
    )
    force_k: int | None = Field(RULE.force_k, description="Skip the rule and use this k")
    sweep_sample: int = Field(SWEEP.sweep_sample, ge=1, description="The k sweep fits on a fixed sample above this many rows")
    silhouette_sample: int = Field(
        SWEEP.silhouette_sample, description="Silhouette and other scores on a fixed sample above this many rows"
    )
    fit_sample: int = Field(SWEEP.fit_sample, ge=1, description="The final k-means fits on a fixed sample above this many rows")
    random_state: int = Field(SWEEP.random_state, description="Seed of samples and the final fit")
    threads: int = Field(SWEEP.threads, ge=1, description="OpenMP threads for k-means")


@asset(**DOMAIN, kinds={"scikitlearn", "matplotlib"}, io_manager_key=MODEL_IO)
def segmentation_model(
    context: AssetExecutionContext,
    config: SegmentationConfig,
    scaled_customers: pd.DataFrame,
    engineered_customers: pd.DataFrame,
    output_files: OutputFiles,
) -> MaterializeResult[SegmentationModel]:
    """Fitted k-means. k is swept over 2..10 (inertia, silhouette, Davies-Bouldin,
    Calinski-Harabasz, smallest cluster share, stability across 5 seeds) and chosen by the
    configured rule; ids are numbered by ascending centroid spend, so cluster 0 is always
    the lowest-spending kind of customer. Cluster names come from real-unit profiles."""
    rule = settings_from(config, SelectionRule)
    settings = settings_from(config, SweepSettings)
    matrix = scaled_customers.drop(columns=["ID"])
    model = fit_segmentation(matrix, rule, settings)
    labelled = engineered_customers.assign(cluster=model.predict(matrix))
    model.names = name_clusters(profile_clusters(labelled))
    context.log.info(model.metrics["choice"])
    summary = {"k": model.k, **{key: value for key, value in model.metrics.items() if key != "choice"}}
    output_files.write_json("segmentation.json", {**summary, "rule": rule.describe(), "choice": model.metrics["choice"]})
    return MaterializeResult(
        value=model,
        metadata={
            **rounded(summary),
            "choice": model.metrics["choice"],
            "names": {str(cluster): name for cluster, name in model.names.items()},
            "k_sweep": table(model.sweep),
            **chart(output_files, "k_sweep.png", k_sweep_chart(model.sweep, model.k), "k sweep"),
        },
    )


@asset(**DOMAIN, kinds={"pandas", "scikitlearn", "parquet"}, **dataset_contract("clustered_customers", ClusteredCustomers))
def clustered_customers(
    engineered_customers: pd.DataFrame,
    scaled_customers: pd.DataFrame,
    segmentation_model: SegmentationModel,
):
    """Engineered customers with ``cluster`` (0 = lowest typical spend) and ``cluster_name``,
    assigned by the stored ``segmentation_model`` without refitting."""
    labels = segmentation_model.predict(scaled_customers.drop(columns=["ID"]))
    clustered = engineered_customers.assign(
        cluster=labels, cluster_name=pd.Series(labels).map(segmentation_model.names).to_numpy()
    )
    sizes = clustered["cluster"].value_counts().sort_index()
    return validated(
        ClusteredCustomers, clustered, {"cluster_sizes": {str(k): int(v) for k, v in sizes.items()}}
    )
