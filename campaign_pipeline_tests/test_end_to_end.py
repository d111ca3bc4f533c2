"""Materialize the whole graph into a temporary directory, on synthetic data and the real file."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from upath import UPath

from campaign_pipeline.io_managers import load_verified_pickle
from campaign_pipeline_tests.harness import CONTRACT_CHECKED, checksums, materialize_all

DATASETS = sorted(CONTRACT_CHECKED)


def model_contacts(data_dir: Path) -> int:
    return int(pd.read_parquet(data_dir / "scored_customers.parquet")["contact"].sum())


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("synthetic")
    result = materialize_all(data_dir)
    return data_dir, result


def test_synthetic_default_materializes_every_asset(synthetic_run):
    data_dir, result = synthetic_run
    assert result.success
    for name in DATASETS:
        assert (data_dir / f"{name}.parquet").is_file(), name
    raw = pd.read_parquet(data_dir / "raw_customers.parquet")
    assert len(raw) == 2240
    materialization = result.asset_materializations_for_node("raw_customers")[0]
    assert materialization.metadata["synthetic"].value is True
    impact = pd.read_parquet(data_dir / "retargeting_impact.parquet")
    clustered = pd.read_parquet(data_dir / "clustered_customers.parquet")
    assert impact["customers"].sum() == len(clustered)
    assert impact["recommended"].sum() == 1


def test_same_input_gives_identical_parquet(synthetic_run, tmp_path):
    data_dir, _ = synthetic_run
    assert materialize_all(tmp_path).success
    first, second = checksums(data_dir), checksums(tmp_path)
    for name in DATASETS:
        assert first[f"{name}.parquet"] == second[f"{name}.parquet"], name


def test_contract_break_fails_the_run_and_keeps_the_previous_file(synthetic_run, tmp_path):
    data_dir, _ = synthetic_run
    assert materialize_all(tmp_path).success
    before = checksums(tmp_path)
    # A reference date before enrolment makes tenure negative: EngineeredCustomers refuses it.
    result = materialize_all(
        tmp_path,
        run_config={"ops": {"engineered_customers": {"config": {"reference_date": "2012-01-01"}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "engineered_customers"
    assert "tenure_months" in str(failure.event_specific_data.error)
    assert checksums(tmp_path) == before


def test_real_file_end_to_end(real_csv, tmp_path):
    result = materialize_all(tmp_path, raw_csv=str(real_csv))
    assert result.success
    raw = pd.read_parquet(tmp_path / "raw_customers.parquet")
    assert raw.shape == (2240, 29)
    cleaned = pd.read_parquet(tmp_path / "cleaned_customers.parquet")
    assert not cleaned.drop(columns=["ID"]).duplicated().any()
    assert cleaned["Year_Birth"].min() >= 1901
    impact = pd.read_parquet(tmp_path / "retargeting_impact.parquet")
    clustered = pd.read_parquet(tmp_path / "clustered_customers.parquet")
    assert impact["cluster"].is_unique and impact["customers"].sum() == len(clustered)
    assert impact["recommended"].sum() == 1

    segmentation = json.loads((tmp_path / "reports" / "segmentation.json").read_text())
    assert 4 <= segmentation["k"] <= 8
    assert segmentation["silhouette"] >= 0.35
    assert segmentation["min_cluster_share"] >= 0.05
    assert segmentation["stability_ari"] >= 0.90
    report = (tmp_path / "reports" / "segmentation_report.md").read_text()
    assert "Response does not differ significantly by age group" in report and "Cramér's V" in report
    for chart in ("k_sweep.png", "cluster_pca.png", "retargeting_impact.png", "conversion_by_segment.png"):
        assert (tmp_path / "reports" / chart).stat().st_size > 10_000, chart
    model = json.loads((tmp_path / "reports" / "response_model.json").read_text())
    assert model["cv_roc_auc"] >= 0.88 and model["cv_pr_auc"] >= 0.60
    assert model["contacted_response_rate"] >= 0.45
    assert model["campaign_profit"] >= 1000 and model["baseline_profit_as_received"] == -3046
    assert model["baseline_lines_as_received"] == 2240 and model["evaluated_customers"] == len(clustered)
    assert model["baseline_profit_same_customers"] > model["baseline_profit_as_received"]
    contacts = pd.read_csv(tmp_path / "exports" / "contact_list.csv")
    assert len(contacts) == model_contacts(tmp_path) and contacts["ID"].is_unique
    profiles = pd.read_parquet(tmp_path / "cluster_profiles.parquet")
    assert profiles["name"].is_unique and {"income_MU", "spend_MU", "recency_days"} <= set(profiles.columns)


def test_nightly_rescore_scores_a_file_without_response_with_the_stored_models(tmp_path, synthetic_frame):
    from campaign_pipeline.sources.synthetic import write_customers_csv

    with_response, without_response = tmp_path / "with.csv", tmp_path / "without.csv"
    write_customers_csv(synthetic_frame, with_response)
    write_customers_csv(synthetic_frame.drop(columns=["Response"]), without_response)
    data_dir = tmp_path / "data"
    assert materialize_all(data_dir, raw_csv=str(with_response)).success
    models_before = {k: v for k, v in checksums(data_dir).items() if k.startswith("models/")}
    trained_scores = pd.read_parquet(data_dir / "scored_customers.parquet")

    assert materialize_all(data_dir, raw_csv=str(without_response), job="nightly_rescore").success
    first = checksums(data_dir)
    assert {k: v for k, v in first.items() if k.startswith("models/")} == models_before  # nothing refitted
    rescored = pd.read_parquet(data_dir / "scored_customers.parquet")
    assert rescored["Response"].isna().all()
    # Trained in the run: out-of-fold scores. Rescored without Response: the stored model's.
    assert (trained_scores["score_source"] == "out_of_fold").all()
    assert (rescored["score_source"] == "model").all()
    model = load_verified_pickle(UPath(data_dir) / "models" / "response_model.pkl")
    clustered = pd.read_parquet(data_dir / "clustered_customers.parquet")
    assert (rescored["ID"].to_numpy() == clustered["ID"].to_numpy()).all()
    assert np.abs(rescored["response_probability"].to_numpy() - model.predict_proba(clustered)).max() < 1e-12
    both = trained_scores.merge(rescored, on="ID", suffixes=("_trained", "_rescored"))
    assert len(both) == len(trained_scores)
    assert (both["cluster_trained"] == both["cluster_rescored"]).all()
    contacts = pd.read_csv(data_dir / "exports" / "contact_list.csv")
    assert len(contacts) == rescored["contact"].sum() and contacts["ID"].is_unique

    # Unchanged input: byte-identical scores.
    assert materialize_all(data_dir, raw_csv=str(without_response), job="nightly_rescore").success
    assert checksums(data_dir)["scored_customers.parquet"] == first["scored_customers.parquet"]


def test_terminal_report_prints_the_figures_the_assets_wrote(synthetic_run, capsys, tmp_path):
    from campaign_pipeline.summary import main

    data_dir, _ = synthetic_run
    assert main(["--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    impact = pd.read_parquet(data_dir / "retargeting_impact.parquet")
    best = impact.loc[impact["recommended"]].iloc[0]
    assert f"Retarget cluster {best['cluster']} ({best['name']})" in printed
    assert f"{best['targeted_profit']:,.0f} MU" in printed
    assert all(name in printed for name in impact["name"])
    model = json.loads((data_dir / "reports" / "response_model.json").read_text())
    assert f"ROC-AUC {model['cv_roc_auc']:.3f}" in printed and f"{model['baseline_profit_same_customers']:,.0f} MU" in printed
    assert f"{model['baseline_profit_as_received']:,.0f} MU" in printed

    assert main(["--data-dir", str(tmp_path / "never_materialized")]) == 1
    assert "materialize the assets first" in capsys.readouterr().err
