"""retargeting_impact, campaign_scenarios and contact_list, called directly."""

import json

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.assets.impact import ContactListConfig, contact_list
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline.schemas import REACH_CHANNELS

COST, REVENUE = 3.0, 11.0


def test_retargeting_impact_one_row_per_cluster_summing_to_the_customers(chain):
    result = chain["retargeting_impact"]
    impact, clustered = result.value, chain.value("clustered_customers")
    assert sorted(impact["cluster"]) == list(range(chain.value("segmentation_model").k))
    assert impact["customers"].sum() == len(clustered)
    sizes = clustered["cluster"].value_counts()
    assert dict(zip(impact["cluster"], impact["customers"])) == {int(k): int(v) for k, v in sizes.items()}
    assert impact["share"].sum() == pytest.approx(1.0)
    assert result.check_results[0].passed


def test_retargeting_impact_recommends_exactly_the_best_targeted_cluster(chain):
    impact = chain.value("retargeting_impact")
    recommended = impact[impact["recommended"]]
    assert len(recommended) == 1
    assert recommended["targeted_profit"].iloc[0] == impact["targeted_profit"].max()
    assert recommended["targeted_profit"].iloc[0] > 0
    name = recommended["name"].iloc[0]
    assert name in chain["retargeting_impact"].metadata["recommendation"]


def test_retargeting_impact_money_matches_the_scores(chain):
    impact = chain.value("retargeting_impact").set_index("cluster")
    scored = chain.value("scored_customers")
    for cluster, rows in scored.groupby("cluster"):
        targeted = rows[rows["contact"]]
        assert impact.loc[cluster, "targeted_customers"] == len(targeted)
        assert impact.loc[cluster, "targeted_profit"] == pytest.approx(targeted["expected_profit"].sum())
        assert impact.loc[cluster, "contact_cost"] == pytest.approx(len(rows) * COST)
        assert impact.loc[cluster, "expected_profit"] == pytest.approx(
            rows["response_probability"].sum() * REVENUE - len(rows) * COST
        )
    metadata = chain["retargeting_impact"].metadata
    assert metadata["total_targeted_customers"] == int(scored["contact"].sum())
    assert metadata["cost_per_contact_mu"] == COST and metadata["revenue_per_response_mu"] == REVENUE
    assert (chain.base_dir / "reports" / "retargeting_impact.png").stat().st_size > 0


def test_contact_list_export_is_exactly_the_contacted_customers(chain):
    result = chain["contact_list"]
    path = chain.base_dir / "exports" / "contact_list.csv"
    exported = pd.read_csv(path, float_precision="round_trip")
    scored = chain.value("scored_customers")
    contacted = scored[scored["contact"]]
    assert sorted(exported["ID"]) == sorted(contacted["ID"])
    assert exported["ID"].is_unique
    assert (exported["expected_profit"] > 0).all()
    assert exported["expected_profit"].is_monotonic_decreasing  # best first
    by_id = contacted.set_index("ID")
    assert (exported["cluster_name"].to_numpy() == by_id.loc[exported["ID"], "cluster_name"].to_numpy()).all()
    for column in ("response_probability", "expected_profit"):  # written to the last bit
        assert (exported[column].to_numpy() == by_id.loc[exported["ID"], column].to_numpy()).all()
    assert result.metadata["dagster/row_count"] == len(contacted)
    assert result.metadata["path"].path == str(path)
    by_channel = pd.read_csv(chain.base_dir / "exports" / "contact_list_by_channel.csv")
    assert by_channel["contacts"].sum() == len(contacted)
    # Every suggested channel is a way of reaching someone, never where they buy.
    assert exported["reach_channel"].isin(REACH_CHANNELS).all() and set(by_channel["reach_channel"]) <= set(REACH_CHANNELS)
    assert (exported["suggested_action"] == exported["reach_channel"] + ", feature " + exported["feature_product"]).all()


def test_contact_list_file_name_from_config(chain, tmp_path):
    files = OutputFiles(base_dir=str(tmp_path))
    result = contact_list(
        config=ContactListConfig(file_name="crm.csv"),
        scored_customers=chain.value("scored_customers"),
        clustered_customers=chain.value("clustered_customers"),
        output_files=files,
    )
    assert (tmp_path / "exports" / "crm.csv").is_file()
    assert (tmp_path / "exports" / "crm_by_channel.csv").is_file()
    assert result.metadata["dagster/row_count"] == int(chain.value("scored_customers")["contact"].sum())


def test_contact_list_refuses_a_name_climbing_out_of_the_data_dir(chain, tmp_path):
    with pytest.raises(InputDataError, match="climbs out"):
        contact_list(
            config=ContactListConfig(file_name="../escape.csv"),
            scored_customers=chain.value("scored_customers"),
            clustered_customers=chain.value("clustered_customers"),
            output_files=OutputFiles(base_dir=str(tmp_path / "data")),
        )
    assert not (tmp_path / "data" / "escape.csv").exists() and not (tmp_path / "escape.csv").exists()


def test_campaign_scenarios_at_the_runs_prices_without_budget_are_the_main_result(chain):
    scenarios, scored = chain.value("campaign_scenarios"), chain.value("scored_customers")
    written = json.loads((chain.base_dir / "reports" / "response_model.json").read_text())
    main = scenarios[
        scenarios["cost_per_contact"].eq(3) & scenarios["revenue_per_response"].eq(11)
        & scenarios["max_contacts"].isna() & scenarios["budget_mu"].isna()
    ]  # fmt: skip
    assert len(main) == 1
    assert main["contacted"].item() == scored["contact"].sum() == written["contacted"]
    assert main["observed_profit"].item() == pytest.approx(written["campaign_profit"])
    assert main["expected_profit"].item() == pytest.approx(scored.loc[scored["contact"], "expected_profit"].sum())


def test_campaign_scenarios_obey_prices_and_budgets(chain):
    scenarios = chain.value("campaign_scenarios")
    for (_, _, _), rows in scenarios.groupby(
        ["revenue_per_response", scenarios["max_contacts"].fillna(-1), scenarios["budget_mu"].fillna(-1)]
    ):
        contacted = rows.sort_values("cost_per_contact")["contacted"].to_numpy()
        assert (np.diff(contacted) <= 0).all()  # a dearer contact never contacts more
    limited = scenarios[scenarios["max_contacts"].notna()]
    assert (limited["contacted"] <= limited["max_contacts"]).all()
    spent = scenarios[scenarios["budget_mu"].notna()]
    assert (spent["contacted"] * spent["cost_per_contact"] <= spent["budget_mu"] + 1e-9).all()
    assert chain["campaign_scenarios"].check_results[0].passed
