"""lookalike_model and prospect_scores, called directly on the shared chain's customers."""

import pandas as pd
import pytest
from dagster import build_asset_context

from campaign_pipeline.assets.prospects import LookalikeConfig, lookalike_model, prospect_scores
from campaign_pipeline.economics import Budget, CampaignPrices, RunPrices
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.resources import OutputFiles, ProspectSource
from campaign_pipeline.schemas import ProspectScores
from campaign_pipeline.sources.prospects import PROSPECT_COLUMNS, generate_prospects

SCORE_COLUMNS = ["ID", "lookalike_probability", "expected_profit", "contact", "nearest_segment", "segment_name"]
PROSPECTS, SEED = 400, 11


@pytest.fixture(scope="module")
def model_result(chain, instance, tmp_path_factory):
    return lookalike_model(
        build_asset_context(instance=instance),
        config=LookalikeConfig(folds=3),
        clustered_customers=chain.value("clustered_customers"),
        segmentation_model=chain.value("segmentation_model"),
        output_files=OutputFiles(base_dir=str(tmp_path_factory.mktemp("lookalike"))),
    )


def score(context, model_result, chain, source: ProspectSource, prices: pd.DataFrame | None = None):
    return prospect_scores(
        context,
        lookalike_model=model_result.value,
        campaign_prices=chain.value("campaign_prices") if prices is None else prices,
        prospect_source=source,
    )


def write(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False, float_format="%.0f")
    return str(path)


def test_lookalike_model_reports_its_own_out_of_fold_figures(model_result, chain):
    metadata = model_result.metadata
    assert "look-alike model" in metadata["figures_of"] and "not the customer response model" in metadata["figures_of"]
    low, high = metadata["lookalike_oof_roc_auc_interval"]
    assert 0 <= low <= metadata["lookalike_oof_roc_auc"] <= high <= 1
    assert metadata["lookalike_oof_pr_auc_interval"][0] <= metadata["lookalike_oof_pr_auc"]
    assert metadata["features"] == [c for c in PROSPECT_COLUMNS if c != "ID"]
    assert metadata["segment_names"] == {str(k): v for k, v in chain.value("segmentation_model").names.items()}


def test_synthetic_prospects_are_scored_and_ranked(context, model_result, chain):
    result = score(context, model_result, chain, ProspectSource(synthetic_prospects=PROSPECTS, synthetic_seed=SEED))
    scores = result.value
    assert list(scores.columns) == SCORE_COLUMNS
    assert len(scores) == PROSPECTS
    assert set(scores["ID"]) == set(generate_prospects(PROSPECTS, SEED)["ID"])
    assert scores["expected_profit"].is_monotonic_decreasing
    prices = RunPrices.from_frame(chain.value("campaign_prices")).prices
    pd.testing.assert_series_equal(
        scores["expected_profit"], prices.expected_profit(scores["lookalike_probability"]), check_names=False
    )
    assert (scores["contact"] == prices.worth_contacting(scores["lookalike_probability"])).all()  # no budget set
    names = chain.value("segmentation_model").names
    assert (scores["segment_name"] == scores["nearest_segment"].map(names)).all()
    assert [check.passed for check in result.check_results] == [True]
    assert result.metadata["synthetic"] is True and result.metadata["contacted"] == int(scores["contact"].sum())
    ProspectScores.validate(scores)


def test_a_file_with_only_the_demographic_columns_is_scored(context, model_result, chain, tmp_path):
    prospects = generate_prospects(150, seed=4)
    assert list(prospects.columns) == list(PROSPECT_COLUMNS)
    path = write(prospects, tmp_path / "prospects.csv")
    scores = score(context, model_result, chain, ProspectSource(path=path)).value
    assert sorted(scores["ID"]) == sorted(prospects["ID"])
    assert scores["lookalike_probability"].between(0, 1).all()


def test_extra_columns_are_ignored(context, model_result, chain, tmp_path):
    prospects = generate_prospects(150, seed=4)
    plain = score(context, model_result, chain, ProspectSource(path=write(prospects, tmp_path / "plain.csv")))
    extended = prospects.assign(Response=1, MntWines=5000, Note="call back")[["Note", *prospects.columns, "Response", "MntWines"]]
    extra = score(context, model_result, chain, ProspectSource(path=write(extended, tmp_path / "extra.csv")))
    pd.testing.assert_frame_equal(plain.value, extra.value)
    assert extra.metadata["read/extra_columns_dropped"] == ["Note", "Response", "MntWines"]


def test_a_file_without_income_is_refused_naming_it(context, model_result, chain, tmp_path):
    path = write(generate_prospects(50, seed=4).drop(columns="Income"), tmp_path / "no_income.csv")
    with pytest.raises(InputDataError, match="Income") as caught:
        score(context, model_result, chain, ProspectSource(path=path))
    assert caught.value.column == "Income"
    assert "required column(s) missing: Income" in str(caught.value) and path in str(caught.value)


def test_a_missing_file_is_refused(context, model_result, chain, tmp_path):
    with pytest.raises(InputDataError, match="does not exist.*CAMPAIGN_PROSPECTS_CSV"):
        score(context, model_result, chain, ProspectSource(path=str(tmp_path / "absent.csv")))


def test_identical_lines_are_scored_once(context, model_result, chain, tmp_path):
    prospects = generate_prospects(60, seed=4)
    doubled = pd.concat([prospects, prospects.head(5)])
    result = score(context, model_result, chain, ProspectSource(path=write(doubled, tmp_path / "doubled.csv")))
    assert len(result.value) == 60 and result.metadata["identical_lines_scored_once"] == 5


def test_cheaper_contacts_reach_more_prospects(context, model_result, chain):
    source = ProspectSource(synthetic_prospects=PROSPECTS, synthetic_seed=SEED)
    run = RunPrices.from_frame(chain.value("campaign_prices"))
    cheap = RunPrices(CampaignPrices(0.5, run.prices.revenue_per_response, "test"), run.baseline_as_received)
    base = score(context, model_result, chain, source).value
    more = score(context, model_result, chain, source, cheap.to_frame()).value
    assert more["contact"].sum() >= base["contact"].sum()
    assert more["contact"].sum() == (more["lookalike_probability"] > 0.5 / run.prices.revenue_per_response).sum()


def test_the_budget_limits_contacts_to_the_best(context, model_result, chain):
    source = ProspectSource(synthetic_prospects=PROSPECTS, synthetic_seed=SEED)
    run = RunPrices.from_frame(chain.value("campaign_prices"))
    cheap = CampaignPrices(0.5, run.prices.revenue_per_response, "test")
    budgeted = RunPrices(cheap, run.baseline_as_received, Budget(max_contacts=7)).to_frame()
    result = score(context, model_result, chain, source, budgeted)
    assert result.value["contact"].tolist() == [True] * 7 + [False] * (PROSPECTS - 7)
    assert result.metadata["budget"] == "at most 7 contacts"
