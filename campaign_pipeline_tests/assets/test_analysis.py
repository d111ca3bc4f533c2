"""conversion_analysis, cluster_profiles and segmentation_report, called directly."""

import pytest

from campaign_pipeline.assets.analysis import conversion_analysis
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.resources import OutputFiles

DIMENSIONS = {"age_group", "recency_segment", "preferred_channel", "loyalty_score", "family_size"}


def test_conversion_analysis_covers_every_dimension(chain):
    result = chain["conversion_analysis"]
    rates, engineered = result.value, chain.value("engineered_customers")
    assert set(rates["dimension"]) == DIMENSIONS
    for dimension, rows in rates.groupby("dimension"):
        assert rows["customers"].sum() == len(engineered), dimension
        assert rows["responders"].sum() == int(engineered["Response"].sum()), dimension
    assert (rates["response_rate"] == rates["responders"] / rates["customers"]).all()
    assert (rates["response_rate_low"] <= rates["response_rate"]).all()
    assert (rates["response_rate"] <= rates["response_rate_high"]).all()
    assert result.check_results[0].passed


def test_conversion_analysis_age_statistics_in_metadata(chain):
    result = chain["conversion_analysis"]
    age = result.value[result.value["dimension"] == "age_group"].iloc[0]
    assert result.metadata["age_chi2_p_value"] == pytest.approx(age["chi2_p_value"], abs=1e-3)
    assert 0 <= result.metadata["age_chi2_p_value"] <= 1
    assert result.metadata["age_conclusion"] == age["conclusion"]
    assert "age group" in result.metadata["age_conclusion"]
    assert (chain.base_dir / "reports" / "conversion_by_segment.png").stat().st_size > 0


def test_conversion_analysis_needs_response(chain, context, tmp_path):
    engineered = chain.value("engineered_customers").drop(columns=["Response"])
    with pytest.raises(InputDataError) as raised:
        conversion_analysis(context, engineered_customers=engineered, output_files=OutputFiles(base_dir=str(tmp_path)))
    assert raised.value.column == "Response"
    assert "'Response'" in str(raised.value)


def test_cluster_profiles_one_row_per_cluster(chain):
    result = chain["cluster_profiles"]
    profiles, model = result.value, chain.value("segmentation_model")
    clustered = chain.value("clustered_customers")
    assert len(profiles) == model.k
    assert sorted(profiles["cluster"]) == list(range(model.k))
    assert dict(zip(profiles["cluster"], profiles["name"])) == model.names
    sizes = clustered["cluster"].value_counts()
    assert dict(zip(profiles["cluster"], profiles["customers"])) == {int(k): int(v) for k, v in sizes.items()}
    income = clustered.groupby("cluster")["Income"].mean()
    assert profiles.set_index("cluster")["income_MU"].to_numpy() == pytest.approx(income.sort_index().to_numpy())
    assert result.check_results[0].passed
    assert (chain.base_dir / "reports" / "cluster_pca.png").stat().st_size > 0


def test_segmentation_report_names_the_recommended_cluster(chain):
    result = chain["segmentation_report"]
    path = chain.base_dir / "reports" / "segmentation_report.md"
    text = path.read_text()
    impact = chain.value("retargeting_impact")
    recommended = impact.loc[impact["recommended"], "name"].iloc[0]
    assert recommended in text
    assert result.metadata["path"].path == str(path)
    assert result.metadata["report"].md_str == text
    assert chain["conversion_analysis"].metadata["age_conclusion"] in text
    for name in chain.value("segmentation_model").names.values():
        assert name in text
