"""Materialize the whole graph into a temporary directory, on synthetic data and the real file."""

import json
import shutil
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


FITTED = ("segmentation_model", "response_model", "lookalike_model")


def refitted(result) -> dict[str, bool]:
    return {name: result.asset_materializations_for_node(name)[0].metadata["refitted"].value for name in FITTED}


def test_a_rerun_reuses_the_models_fitted_on_the_same_input_and_nothing_changes(synthetic_run, tmp_path):
    data_dir, first = synthetic_run
    assert refitted(first) == dict.fromkeys(FITTED, True)
    shutil.copytree(data_dir, tmp_path, dirs_exist_ok=True)
    rerun = materialize_all(tmp_path)
    assert refitted(rerun) == dict.fromkeys(FITTED, False)
    assert checksums(tmp_path) == checksums(data_dir)
    # A setting of the response model's fit refits it, and only it.
    changed = materialize_all(tmp_path, run_config={"ops": {"response_model": {"config": {"folds": 4}}}})
    assert refitted(changed) == {"segmentation_model": False, "response_model": True, "lookalike_model": False}
    card = json.loads((tmp_path / "models" / "response_model.card.json").read_text())
    assert card["fit_key"] != json.loads((data_dir / "models" / "response_model.card.json").read_text())["fit_key"]


def test_refused_input_fails_the_run_and_keeps_the_previous_files(synthetic_run, tmp_path):
    data_dir, _ = synthetic_run
    assert materialize_all(tmp_path).success
    before = checksums(tmp_path)
    # Customers enrolled after the reference date: refused naming the input column, not tenure.
    result = materialize_all(
        tmp_path,
        run_config={"ops": {"engineered_customers": {"config": {"reference_date": "2012-01-01"}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "engineered_customers"
    error = str(failure.event_specific_data.error)
    assert "Dt_Customer" in error and "enrolled after the reference date 2012-01-01" in error
    assert "tenure_months" not in error
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
    assert_honest_and_complete(tmp_path, lines=2240)


def assert_honest_and_complete(data_dir: Path, lines: int) -> None:
    """Issue 14's acceptance on a labelled file: honest scores whose contacts earn the
    reported profit, one disposition per line, one contact per person, intervals."""
    model = json.loads((data_dir / "reports" / "response_model.json").read_text())
    scored = pd.read_parquet(data_dir / "scored_customers.parquet")
    assert (scored["score_source"] == "out_of_fold").all()  # below cv_sample, trained on everyone
    contacted = scored[scored["contact"]]
    observed = contacted["Response"].sum() * 11 - len(contacted) * 3
    assert abs(observed - model["campaign_profit"]) <= 1
    assert model["baseline_profit_same_customers"] == scored["Response"].sum() * 11 - len(scored) * 3
    for name in ("cv_roc_auc", "cv_pr_auc", "contacted_response_rate", "campaign_profit"):
        low, high = model[f"{name}_interval"]
        assert low <= model[name] <= high, name
    dispositions = pd.read_parquet(data_dir / "customer_dispositions.parquet")
    assert len(dispositions) == lines and dispositions["line"].tolist() == list(range(2, lines + 2))
    assert set(dispositions.loc[dispositions["disposition"] == "scored", "ID"]) == set(scored["ID"])
    # Nobody is contacted twice: at most one ID of a duplicate group is in the contact list.
    contacts = pd.read_csv(data_dir / "exports" / "contact_list.csv")
    groups = dispositions["duplicate_of"].fillna(dispositions["ID"]).astype("int64")
    in_list = dispositions["ID"].isin(contacts["ID"]) & dispositions["disposition"].ne("dropped")
    assert not groups[in_list].duplicated().any()
    impact = pd.read_parquet(data_dir / "retargeting_impact.parquet")
    assert (impact["targeted_profit_low"] <= impact["targeted_profit"]).all()
    assert (impact["targeted_profit"] <= impact["targeted_profit_high"]).all()


@pytest.mark.parametrize(
    "column, value, rule",
    [("Income", 1e12, "cleaning/implausible_incomes_removed"), ("Year_Birth", 2016, "cleaning/too_young_at_enrolment_dropped")],
)
def test_an_implausible_value_is_handled_by_a_named_rule(tmp_path, synthetic_frame, column, value, rule):
    from campaign_pipeline.sources.synthetic import write_customers_csv

    frame = synthetic_frame.copy()
    frame.loc[10, column] = value
    write_customers_csv(frame, tmp_path / "customers.csv")
    result = materialize_all(tmp_path / "data", raw_csv=str(tmp_path / "customers.csv"))
    assert result.success
    cleaning = result.asset_materializations_for_node("cleaned_customers")[0]
    assert cleaning.metadata[rule].value == 1
    engineered = pd.read_parquet(tmp_path / "data" / "engineered_customers.parquet")
    line = 12  # frame row 10 is the file's line 12
    if line in engineered.index:
        assert engineered.loc[line, column] != value
    assert (engineered[column] != value).all()
    assert_honest_and_complete(tmp_path / "data", lines=len(frame))


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
