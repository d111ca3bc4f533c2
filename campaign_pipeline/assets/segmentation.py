"""Segmentation: fitted preprocessor, model matrix, k-means chosen by a stated rule, labels."""

import pandas as pd
from dagster import AssetExecutionContext, Config, Output
from pydantic import Field
from sklearn.compose import ColumnTransformer

from campaign_pipeline.contracts import data_asset
from campaign_pipeline.metadata import chart, table
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import ClusteredCustomers, ScaledCustomers
from campaign_pipeline.transforms.charts import k_sweep_chart
from campaign_pipeline.transforms.profiles import name_clusters, profile_clusters
from campaign_pipeline.transforms.segmentation import (
    SEGMENT_FEATURES,
    SegmentationModel,
    SelectionRule,
    SweepSettings,
    build_segment_preprocessor,
    fit_segmentation,
    to_model_matrix,
)

SEGMENTATION = "segmentation"
MODEL_IO = "model_io_manager"


@data_asset(group_name=SEGMENTATION, code_version="1", io_manager_key=MODEL_IO)
def segment_preprocessor(engineered_customers: pd.DataFrame) -> Output[ColumnTransformer]:
    """Fitted scikit-learn ``ColumnTransformer`` for segmentation: log1p then standardise
    spend, purchases and income; standardise children. Fitted here once, reapplied by
    ``scaled_customers`` (also when the nightly job rescores new data)."""
    preprocessor = build_segment_preprocessor().fit(engineered_customers[list(SEGMENT_FEATURES)])
    return Output(preprocessor, metadata={"features": list(SEGMENT_FEATURES), "fitted_rows": len(engineered_customers)})


@data_asset(contract=ScaledCustomers, group_name=SEGMENTATION, code_version="1")
def scaled_customers(engineered_customers: pd.DataFrame, segment_preprocessor: ColumnTransformer) -> pd.DataFrame:
    """The segmentation model matrix: ``ID`` plus one standardised column per behavioural
    feature (``seg__*``), from the stored ``segment_preprocessor``. Nothing derived from
    ``Response`` is in it."""
    matrix = to_model_matrix(segment_preprocessor, engineered_customers)
    return pd.concat([engineered_customers[["ID"]], matrix], axis=1)


class SegmentationConfig(Config):
    """How k is swept and chosen (see ``SelectionRule``)."""

    k_min: int = Field(4, description="Smallest k the rule may choose")
    k_max: int = Field(8, description="Largest k the rule may choose")
    min_cluster_share: float = Field(0.05, description="Every cluster must hold at least this share")
    min_stability: float = Field(0.9, description="Mean pairwise adjusted Rand index across seeds")
    silhouette_tolerance: float = Field(0.02, description="Prefer the smallest k this close to the best silhouette")
    force_k: int | None = Field(None, description="Skip the rule and use this k")
    sweep_sample: int = Field(10_000, description="The k sweep fits on a fixed sample above this many rows")
    silhouette_sample: int = Field(5_000, description="Silhouette and other scores on a fixed sample above this many rows")
    fit_sample: int = Field(200_000, description="The final k-means fits on a fixed sample above this many rows")
    random_state: int = Field(0, description="Seed of samples and the final fit")
    threads: int = Field(1, ge=1, description="OpenMP threads for k-means")


@data_asset(group_name=SEGMENTATION, code_version="1", io_manager_key=MODEL_IO)
def segmentation_model(
    context: AssetExecutionContext,
    config: SegmentationConfig,
    scaled_customers: pd.DataFrame,
    engineered_customers: pd.DataFrame,
    output_files: OutputFiles,
) -> Output[SegmentationModel]:
    """Fitted k-means. k is swept over 2..10 (inertia, silhouette, Davies-Bouldin,
    Calinski-Harabasz, smallest cluster share, stability across 5 seeds) and chosen by the
    configured rule; ids are numbered by ascending centroid spend, so cluster 0 is always
    the lowest-spending kind of customer. Cluster names come from real-unit profiles."""
    rule = SelectionRule(
        k_min=config.k_min,
        k_max=config.k_max,
        min_cluster_share=config.min_cluster_share,
        min_stability=config.min_stability,
        silhouette_tolerance=config.silhouette_tolerance,
        force_k=config.force_k,
    )
    settings = SweepSettings(
        sweep_sample=config.sweep_sample,
        silhouette_sample=config.silhouette_sample,
        fit_sample=config.fit_sample,
        random_state=config.random_state,
        threads=config.threads,
    )
    matrix = scaled_customers.drop(columns=["ID"])
    model = fit_segmentation(matrix, rule, settings)
    labelled = engineered_customers.assign(cluster=model.predict(matrix))
    model.names = name_clusters(profile_clusters(labelled))
    context.log.info(model.metrics["choice"])
    summary = {"k": model.k, **{key: value for key, value in model.metrics.items() if key != "choice"}}
    output_files.write_json("segmentation.json", {**summary, "rule": rule.describe(), "choice": model.metrics["choice"]})
    return Output(
        model,
        metadata={
            **summary,
            "choice": model.metrics["choice"],
            "names": {str(cluster): name for cluster, name in model.names.items()},
            "k_sweep": table(model.sweep),
            **chart(output_files, "k_sweep.png", k_sweep_chart(model.sweep, model.k), "k sweep"),
        },
    )


@data_asset(contract=ClusteredCustomers, group_name=SEGMENTATION, code_version="1")
def clustered_customers(
    engineered_customers: pd.DataFrame, scaled_customers: pd.DataFrame, segmentation_model: SegmentationModel
) -> Output[pd.DataFrame]:
    """Engineered customers with ``cluster`` (0 = lowest typical spend) and ``cluster_name``,
    assigned by the stored ``segmentation_model`` without refitting."""
    labels = segmentation_model.predict(scaled_customers.drop(columns=["ID"]))
    clustered = engineered_customers.assign(
        cluster=labels, cluster_name=pd.Series(labels).map(segmentation_model.names).to_numpy()
    )
    sizes = clustered["cluster"].value_counts().sort_index()
    return Output(clustered, metadata={"cluster_sizes": {str(k): int(v) for k, v in sizes.items()}})
