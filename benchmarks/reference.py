"""The whole graph without Dagster: the assets' transform calls, in graph order, with their
default configuration, writing the same Parquet files (and models, charts, report, exports).

Only the wiring of ``campaign_pipeline/assets/*.py`` is copied; pandera contracts, asset
metadata and the IO managers are left out, so the difference in time is the orchestration.

    python -m benchmarks.reference CUSTOMERS.csv OUT_DIR
"""

import pickle
import sys
from pathlib import Path

import pandas as pd

from campaign_pipeline.economics import contact_everyone, resolve_prices
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.transforms.charts import (
    impact_chart,
    k_sweep_chart,
    pca_scatter_chart,
    profit_curve_chart,
    segment_rates_chart,
)
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
from campaign_pipeline.settings import DEFAULT_REFERENCE_DATE
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.transforms.impact import (
    channel_summary,
    contact_list,
    impact_profile,
    recommendation_rationale,
    retargeting_table,
    score_customers,
)
from campaign_pipeline.transforms.profiles import name_clusters, profile_clusters, profile_table
from campaign_pipeline.sources.reading import read_customers
from campaign_pipeline.transforms.markdown import segmentation_report_markdown
from campaign_pipeline.transforms.response import (
    ModelSettings,
    business_goals,
    fit_response_model,
    frame_sha256,
    holdout_importance,
    profit_curve,
    responder_rules,
)
from campaign_pipeline.transforms.segmentation import (
    SEGMENT_FEATURES,
    SelectionRule,
    SweepSettings,
    build_segment_preprocessor,
    fit_segmentation,
    to_model_matrix,
)
from campaign_pipeline.transforms.statistics import conversion_analysis

def run_reference(csv_path: str | Path, out_dir: str | Path) -> None:
    """Compute every asset of the graph from ``csv_path`` into ``out_dir``."""
    out = Path(out_dir)
    for folder in ("models", "reports", "exports"):
        (out / folder).mkdir(parents=True, exist_ok=True)

    def parquet(name: str, frame: pd.DataFrame) -> None:
        frame.to_parquet(out / f"{name}.parquet", index=False, compression="zstd")

    def model(name: str, obj) -> None:
        (out / "models" / f"{name}.pkl").write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def report(name: str, data: bytes) -> None:
        (out / "reports" / name).write_bytes(data)

    raw, _ = read_customers(csv_path)
    parquet("raw_customers", raw)
    cleaned, _ = clean_customers(raw, CleaningRules())
    parquet("cleaned_customers", cleaned)
    engineered = engineer_features(cleaned, pd.Timestamp(DEFAULT_REFERENCE_DATE))
    parquet("engineered_customers", engineered)

    preprocessor = build_segment_preprocessor().fit(engineered[list(SEGMENT_FEATURES)])
    model("segment_preprocessor", preprocessor)
    scaled = pd.concat([engineered[["ID"]], to_model_matrix(preprocessor, engineered)], axis=1)
    parquet("scaled_customers", scaled)
    matrix = scaled.drop(columns=["ID"])
    segmentation = fit_segmentation(matrix, SelectionRule(), SweepSettings())
    labels = segmentation.predict(matrix)
    segmentation.names = name_clusters(profile_clusters(engineered.assign(cluster=labels)))
    report("k_sweep.png", k_sweep_chart(segmentation.sweep, segmentation.k))
    model("segmentation_model", segmentation)
    clustered = engineered.assign(cluster=labels, cluster_name=pd.Series(labels).map(segmentation.names).to_numpy())
    parquet("clustered_customers", clustered)

    prices = resolve_prices(engineered)
    settings = ModelSettings()
    response = fit_response_model(engineered, prices, settings, frame_sha256(engineered))
    everyone = contact_everyone(raw, prices)
    business_goals(response.metrics["oof_response_rate"], everyone["response_rate"])
    y, probability = response.oof[RESPONSE].to_numpy(), response.oof["oof_probability"].to_numpy()
    curve = profit_curve(y, probability, prices)
    holdout_importance(response, engineered, settings)
    responder_rules(engineered, response.threshold, settings.random_state)
    report("profit_curve.png", profit_curve_chart(curve, response.metrics["oof_contacted"] / len(y), response.metrics["oof_profit"]))
    model("response_model", response)
    scored = score_customers(clustered, response.predict_proba(clustered), prices)
    parquet("scored_customers", scored)

    impact = retargeting_table(scored, impact_profile(clustered), prices)
    recommendation_rationale(impact)
    report("retargeting_impact.png", impact_chart(impact))
    parquet("retargeting_impact", impact)
    contacts = contact_list(scored, clustered)
    (out / "exports" / "contact_list.csv").write_bytes(contacts.to_csv(index=False).encode())
    (out / "exports" / "contact_list_by_channel.csv").write_bytes(channel_summary(contacts).to_csv(index=False).encode())

    rates = conversion_analysis(engineered)
    report("conversion_by_segment.png", segment_rates_chart(rates))
    parquet("conversion_analysis", rates)
    profiles = profile_table(clustered, segmentation.names)
    coordinates, rows = segmentation.project(scaled)
    scatter = pca_scatter_chart(coordinates, labels[rows], segmentation.names, segmentation.pca.explained_variance_ratio_)
    report("cluster_pca.png", scatter)
    parquet("cluster_profiles", profiles)
    baseline = contact_everyone(raw, prices)
    report("segmentation_report.md", segmentation_report_markdown(rates, profiles, impact, segmentation, baseline).encode())


if __name__ == "__main__":
    run_reference(sys.argv[1], sys.argv[2])
