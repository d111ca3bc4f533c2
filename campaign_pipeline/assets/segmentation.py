"""Segmentation: fitted preprocessor, model matrix, k-means chosen by a stated rule, labels."""

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, asset
from pydantic import Field
from sklearn.compose import ColumnTransformer

from campaign_pipeline.assets import DATA_SCIENCE, MODEL_IO, bucket_ins, fit_key, fitted_or_stored, for_each_bucket, reduced_ins
from campaign_pipeline.assets import settings_from
from campaign_pipeline.contracts import dataset_contract, validated
from campaign_pipeline.metadata import chart, rounded, table
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import ClusteredCustomers, ScaledCustomers
from campaign_pipeline.transforms.buckets import stable_sample
from campaign_pipeline.transforms.charts import k_sweep_chart
from campaign_pipeline.transforms.profiles import name_clusters, profile_clusters
from campaign_pipeline.transforms.segmentation import SEGMENT_FEATURES, SegmentationModel, SelectionRule, SweepSettings
from campaign_pipeline.transforms.segmentation import build_segment_preprocessor, fit_segmentation, to_model_matrix

SEGMENTATION = "segmentation"
DOMAIN = {"group_name": SEGMENTATION, "owners": [DATA_SCIENCE]}  # every asset of this module
RULE = SelectionRule()
SWEEP = SweepSettings()


@asset(**DOMAIN, kinds={"scikitlearn"}, io_manager_key=MODEL_IO, ins=reduced_ins("engineered_customers"))
def segment_preprocessor(engineered_customers) -> MaterializeResult[ColumnTransformer]:
    """Fitted scikit-learn ``ColumnTransformer`` for segmentation: log1p then standardise
    spend, purchases and income; standardise children. Fitted once on a stable sample of
    every customer (all of them up to ``fit_sample``), reapplied by ``scaled_customers``
    to every customer (also when the nightly job rescores new data)."""
    sample = stable_sample(engineered_customers, SWEEP.fit_sample, SWEEP.random_state)
    preprocessor = build_segment_preprocessor().fit(sample[list(SEGMENT_FEATURES)])
    return MaterializeResult(value=preprocessor, metadata={"features": list(SEGMENT_FEATURES), "fitted_rows": len(sample)})


def _scale(engineered: pd.DataFrame, preprocessor: ColumnTransformer):
    matrix = to_model_matrix(preprocessor, engineered)
    return validated(ScaledCustomers, pd.concat([engineered[["ID"]], matrix], axis=1))


@asset(
    **DOMAIN,
    kinds={"pandas", "scikitlearn", "parquet"},
    ins=bucket_ins("engineered_customers"),
    **dataset_contract("scaled_customers", ScaledCustomers),
)
def scaled_customers(context: AssetExecutionContext, engineered_customers, segment_preprocessor: ColumnTransformer):
    """The segmentation model matrix: ``ID`` plus one standardised column per behavioural
    feature (``seg__*``), from the stored ``segment_preprocessor``. Nothing derived from
    ``Response`` is in it."""
    return for_each_bucket(
        context, lambda engineered: _scale(engineered, segment_preprocessor), engineered=engineered_customers
    )


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
        SWEEP.silhouette_sample,
        description="Silhouette and other scores on a fixed sample above this many rows (memory: 8 x rows² bytes)",
    )
    fit_sample: int = Field(SWEEP.fit_sample, ge=1, description="The final k-means fits on a fixed sample above this many rows")
    random_state: int = Field(SWEEP.random_state, description="Seed of samples and the final fit")
    threads: int | None = Field(SWEEP.threads, ge=1, description="OpenMP threads for k-means; empty for every core")


@asset(
    **DOMAIN,
    kinds={"scikitlearn", "matplotlib"},
    io_manager_key=MODEL_IO,
    ins=reduced_ins("scaled_customers", "engineered_customers"),
)
def segmentation_model(
    context: AssetExecutionContext,
    config: SegmentationConfig,
    scaled_customers,
    engineered_customers,
    output_files: OutputFiles,
):  # a SegmentationModel, or KeptModel when the stored one is reused
    """Fitted k-means. k is swept over 2..10 (inertia, silhouette, Davies-Bouldin,
    Calinski-Harabasz, smallest cluster share, stability across 5 seeds) and chosen by the
    configured rule; ids are numbered by ascending centroid spend, so cluster 0 is always
    the lowest-spending kind of customer. Cluster names come from real-unit profiles.
    Fitted on a stable sample of every customer (all of them up to ``fit_sample``); a rerun
    on the same sample, rule, settings and code reuses the stored model."""
    rule = settings_from(config, SelectionRule)
    settings = settings_from(config, SweepSettings)
    matrix = stable_sample(scaled_customers, settings.fit_sample, settings.random_state).drop(columns=["ID"])
    engineered = stable_sample(engineered_customers, settings.fit_sample, settings.random_state)

    def fit() -> SegmentationModel:
        model = fit_segmentation(matrix, rule, settings)
        model.names = name_clusters(profile_clusters(engineered.assign(cluster=model.predict(matrix))))
        return model

    key = fit_key(context, [matrix, engineered], rule, settings)
    model, value, reused = fitted_or_stored(context, key, output_files.base_dir, fit)
    context.log.info(model.metrics["choice"])
    summary = {"k": model.k, **{key: value for key, value in model.metrics.items() if key != "choice"}}
    output_files.write_json("segmentation.json", {**summary, "rule": rule.describe(), "choice": model.metrics["choice"]})
    return MaterializeResult(
        value=value,
        metadata={
            "refitted": not reused,
            **rounded(summary),
            "choice": model.metrics["choice"],
            "names": {str(cluster): name for cluster, name in model.names.items()},
            "k_sweep": table(model.sweep),
            **chart(output_files, "k_sweep.png", k_sweep_chart(model.sweep, model.k), "k sweep"),
        },
    )


def _cluster(engineered: pd.DataFrame, scaled: pd.DataFrame, model: SegmentationModel):
    labels = model.predict(scaled.drop(columns=["ID"]))
    clustered = engineered.copy(deep=False)  # the engineered columns shared, not copied (170 MB at a million)
    clustered["cluster"] = labels
    clustered["cluster_name"] = pd.Series(labels).map(model.names).to_numpy()
    sizes = clustered["cluster"].value_counts().sort_index()
    return validated(ClusteredCustomers, clustered, {"cluster_sizes": {str(k): int(v) for k, v in sizes.items()}})


@asset(
    **DOMAIN,
    kinds={"pandas", "scikitlearn", "parquet"},
    ins=bucket_ins("engineered_customers", "scaled_customers"),
    **dataset_contract("clustered_customers", ClusteredCustomers),
)
def clustered_customers(
    context: AssetExecutionContext, engineered_customers, scaled_customers, segmentation_model: SegmentationModel
):
    """Engineered customers with ``cluster`` (0 = lowest typical spend) and ``cluster_name``,
    assigned by the stored ``segmentation_model`` without refitting."""
    return for_each_bucket(
        context,
        lambda engineered, scaled: _cluster(engineered, scaled, segmentation_model),
        engineered=engineered_customers,
        scaled=scaled_customers,
    )
