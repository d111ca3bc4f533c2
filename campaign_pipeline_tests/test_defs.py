"""The asset graph is a public contract: a change to keys or lineage must change this test."""

from dagster import AssetKey

from campaign_pipeline.definitions import defs

EXPECTED_DEPENDENCIES = {
    "raw_customers": set(),
    "cleaned_customers": {"raw_customers"},
    "engineered_customers": {"cleaned_customers"},
    "segment_preprocessor": {"engineered_customers"},
    "scaled_customers": {"engineered_customers", "segment_preprocessor"},
    "segmentation_model": {"scaled_customers", "engineered_customers"},
    "clustered_customers": {"engineered_customers", "scaled_customers", "segmentation_model"},
    "response_model": {"engineered_customers", "raw_customers"},
    "scored_customers": {"clustered_customers", "response_model"},
    "retargeting_impact": {"scored_customers", "clustered_customers", "raw_customers"},
    "contact_list": {"scored_customers", "clustered_customers"},
    "conversion_analysis": {"engineered_customers"},
    "cluster_profiles": {"clustered_customers", "scaled_customers", "segmentation_model"},
    "segmentation_report": {
        "conversion_analysis",
        "cluster_profiles",
        "retargeting_impact",
        "segmentation_model",
        "raw_customers",
    },
}


def asset_graph():
    return defs.resolve_asset_graph()


def test_asset_keys_and_edges():
    graph = asset_graph()
    actual = {
        key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert actual == EXPECTED_DEPENDENCIES


CONTRACT_CHECKED = {
    "raw_customers",
    "cleaned_customers",
    "engineered_customers",
    "scaled_customers",
    "clustered_customers",
    "scored_customers",
    "retargeting_impact",
    "conversion_analysis",
    "cluster_profiles",
}


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
