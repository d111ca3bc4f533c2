"""The asset graph is a public contract: a change to keys or lineage must change this test."""

import importlib.util
import subprocess
import sys

import pytest
from dagster import AssetKey

from campaign_pipeline.definitions import DEFAULT_CELERY_BROKER, PER_CUSTOMER_ASSETS, _executor_from_env, defs
from campaign_pipeline.io_managers import COLUMNS, WHOLE_AS_BUCKET
from campaign_pipeline_tests.harness import CONTRACT_CHECKED, EXPECTED_DEPENDENCIES, unavailable

def asset_graph():
    return defs.resolve_asset_graph()


def test_asset_keys_and_edges():
    graph = asset_graph()
    actual = {
        key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert actual == EXPECTED_DEPENDENCIES


def test_every_dataset_has_a_contract_check():
    checks = {key.asset_key.to_user_string() for key in asset_graph().asset_check_keys if key.name == "contract"}
    assert checks == CONTRACT_CHECKED


def test_every_asset_has_a_group_code_version_and_description():
    graph = asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name and node.group_name != "default", key
        assert node.code_version, key
        assert node.description and len(node.description) > 40, key


def test_definitions_load_with_in_process_executor():
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "in_process"
    assert defs.resolve_asset_graph().get(AssetKey("retargeting_impact")).group_name == "impact"


@pytest.mark.parametrize("broker", ["redis://broker.internal:6379/1", ""])
def test_celery_executor_uses_the_broker_setting_as_broker_and_backend(monkeypatch, broker):
    if importlib.util.find_spec("dagster_celery") is None:
        unavailable("dagster-celery is not installed: pip install -e '.[celery]'")
    monkeypatch.setenv("CAMPAIGN_EXECUTOR", "celery")
    monkeypatch.setenv("CAMPAIGN_CELERY_BROKER", broker)
    executor = _executor_from_env()
    config = executor.config_schema.resolve_config({}).value["config"]
    assert executor.name == "celery"
    assert config["broker"] == config["backend"] == (broker or DEFAULT_CELERY_BROKER)


def test_an_unknown_executor_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("CAMPAIGN_EXECUTOR", "dask")
    with pytest.raises(ValueError, match=r"one of \['celery', 'in_process', 'k8s', 'multiprocess'\], not 'dask'"):
        _executor_from_env()


FITTED = {"segment_preprocessor", "segmentation_model", "response_model", "lookalike_model"}


def test_prices_and_budgets_never_reach_a_fit():
    """What-if runs rematerialize campaign_prices and what depends on it: never a model."""
    graph = asset_graph()
    downstream = {key.to_user_string() for key in graph.get(AssetKey("campaign_prices")).child_keys}
    frontier = set(downstream)
    while frontier:
        children = {c.to_user_string() for k in frontier for c in graph.get(AssetKey(k)).child_keys}
        frontier = children - downstream
        downstream |= children
    assert downstream.isdisjoint(FITTED)
    assert {"scored_customers", "campaign_scenarios", "prospect_scores", "campaign_report"} <= downstream


def test_nightly_rescoring_refits_nothing():
    selected = {key.to_user_string() for key in defs.resolve_job_def("nightly_rescore").asset_layer.executable_asset_keys}
    assert selected.isdisjoint(FITTED) and {"scored_customers", "prospect_scores"} <= selected


def test_only_per_customer_steps_hold_a_whole_per_customer_table():
    # A fit or a reduction reads the customers as lazy buckets (assets.reduced_ins, the
    # unpartitioned dataset being one) or only the columns it names (assets.reduced_in), so
    # it never holds every column of every customer while it works; only the steps that
    # compute a row per customer take whole frames.
    whole = set()
    for assets_def in set(defs.get_repository_def().assets_defs_by_key.values()):
        if any(key.to_user_string() in PER_CUSTOMER_ASSETS for key in assets_def.keys):
            continue
        for name, key in assets_def.keys_by_input_name.items():
            metadata = assets_def.node_def.input_def_named(name).metadata or {}
            if key.to_user_string() in PER_CUSTOMER_ASSETS and not (metadata.get(WHOLE_AS_BUCKET) or metadata.get(COLUMNS)):
                whole.add((assets_def.key.to_user_string(), key.to_user_string()))
    assert whole == set()


def test_what_loading_the_definitions_leaves_is_out_of_the_collectors_way():
    # Dagster, pandas, scikit-learn and the assets live as long as the process; frozen
    # (gc.freeze), the collector's full passes, the interpreter's last ones at exit among
    # them, skip them. In a fresh interpreter, as dg and a code server load them.
    probe = "import gc, campaign_pipeline.definitions; print(gc.get_freeze_count(), len(gc.get_objects()))"
    shown = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    frozen, tracked = map(int, shown.split())
    assert frozen > 100_000
    assert tracked < frozen // 100
