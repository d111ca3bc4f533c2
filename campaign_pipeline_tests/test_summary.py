"""The terminal summary and the settings it shares: the data directory is resolved in one
place, and an object-store URL reads like a folder (fsspec's ``memory://`` stands in for
``s3://``)."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from upath import UPath

from campaign_pipeline.settings import DATA_DIR_ENV, DEFAULT_DATA_DIR, data_dir
from campaign_pipeline.summary import main, summarise

IMPACT = pd.DataFrame(
    {
        "cluster": [0, 1],
        "name": ["Loyal big spenders", "Young families"],
        "customers": [600, 1400],
        "response_rate": [0.31, 0.08],
        "expected_profit": [1200.0, -2500.0],
        "targeted_customers": [310, 40],
        "targeted_profit": [1500.0, 60.0],
        "targeted_profit_low": [1200.0, 10.0],
        "targeted_profit_high": [1800.0, 110.0],
        "recommended": [True, False],
    }
)
SEGMENTATION = {"choice": "k=2 by the selection rule"}
MODEL = {
    "model": "logistic_regression",
    "evaluated_customers": 2000,
    "cv_evaluated_customers": 2000,
    "cv_roc_auc": 0.9012,
    "cv_pr_auc": 0.65,
    "cv_brier": 0.08,
    "top_decile_lift": 4.2,
    "contact_rule": "contact when p x 11 > 3, i.e. p > 0.273",
    "contacted": 350,
    "contacted_responders": 170,
    "contacted_response_rate": 170 / 350,
    "campaign_profit": 820.0,
    "cv_roc_auc_interval": [0.88, 0.92],
    "cv_pr_auc_interval": [0.6, 0.7],
    "contacted_response_rate_interval": [0.44, 0.53],
    "campaign_profit_interval": [600.0, 1040.0],
    "baseline_profit_same_customers": -2814,
    "baseline_lines_as_received": 2240,
    "baseline_profit_as_received": -3046,
    "goal_statement": "Goal statement.",
}


@pytest.fixture
def object_store():
    base = UPath("memory://campaign-summary-test")
    (base / "reports").mkdir(parents=True, exist_ok=True)
    with (base / "retargeting_impact.parquet").open("wb") as handle:
        IMPACT.to_parquet(handle, index=False)
    (base / "reports" / "segmentation.json").write_text(json.dumps(SEGMENTATION))
    (base / "reports" / "response_model.json").write_text(json.dumps(MODEL))
    try:
        yield base
    finally:
        base.fs.rm(base.path, recursive=True)


def test_summary_reads_an_object_store_url(object_store, capsys):
    assert main(["--data-dir", str(object_store)]) == 0
    printed = capsys.readouterr().out
    assert "Retarget cluster 0 (Loyal big spenders)" in printed and "1,500 MU" in printed
    assert "ROC-AUC 0.901" in printed and "-3,046 MU" in printed and "Young families" in printed
    assert summarise(object_store) == printed.rstrip("\n")


def test_summary_of_an_empty_object_store_asks_for_a_materialization(capsys):
    assert main(["--data-dir", "memory://campaign-summary-nothing"]) == 1
    assert "materialize the assets first" in capsys.readouterr().err


def test_the_data_directory_is_resolved_in_one_place():
    assert data_dir({}) == DEFAULT_DATA_DIR == "data"
    assert data_dir({DATA_DIR_ENV: ""}) == "data"
    assert data_dir({DATA_DIR_ENV: "s3://bucket/campaign"}) == "s3://bucket/campaign"


def test_the_plain_layer_imports_no_dagster():
    code = (
        "import sys, campaign_pipeline.settings, campaign_pipeline.economics, campaign_pipeline.summary; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'dagster'], 'dagster imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
