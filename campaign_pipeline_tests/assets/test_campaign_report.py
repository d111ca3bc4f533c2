"""campaign_report, called directly on the shared chain: the sections in order, a
self-contained HTML page, and a browser that shows every section and loads every image."""

import re

import pytest
from dagster import build_asset_context

from campaign_pipeline.assets.campaign_report import CampaignReportConfig, campaign_report
from campaign_pipeline.assets.prospects import LookalikeConfig, lookalike_model, prospect_scores
from campaign_pipeline.resources import OutputFiles, ProspectSource
from campaign_pipeline.transforms.campaign_report import holdout_size

SECTIONS = [
    "The data and every cleaning count",
    "Conversion by segment, and age",
    "The segments and the choice of k",
    "The response model",
    "The campaign against like-for-like baselines",
    "What-if: prices and budgets",
    "The responder profile against seed 2's",
    "Seed 2's recommendations, with their evidence",
    "The contact list and the prospects",
    "Caveats",
]


@pytest.fixture(scope="module")
def report(chain, instance, tmp_path_factory):
    context = build_asset_context(instance=instance)
    lookalike = lookalike_model(
        context,
        config=LookalikeConfig(folds=3),
        clustered_customers=chain.value("clustered_customers"),
        segmentation_model=chain.value("segmentation_model"),
        output_files=OutputFiles(base_dir=str(tmp_path_factory.mktemp("lookalike"))),
    ).value
    prospects = prospect_scores(
        context,
        lookalike_model=lookalike,
        campaign_prices=chain.value("campaign_prices"),
        prospect_source=ProspectSource(synthetic_prospects=300, synthetic_seed=5),
    ).value
    base_dir = tmp_path_factory.mktemp("campaign_report")
    result = campaign_report(
        config=CampaignReportConfig(),
        lookalike_model=lookalike,
        prospect_scores=prospects,
        output_files=OutputFiles(base_dir=str(base_dir)),
        **{name: chain.value(name) for name in (
            "customer_dispositions", "conversion_analysis", "segmentation_model", "scaled_customers",
            "clustered_customers", "cluster_profiles", "retargeting_impact", "response_model", "scored_customers",
            "campaign_evaluation", "campaign_prices", "campaign_scenarios")},
    )  # fmt: skip
    return base_dir / "reports", result


def test_the_report_has_every_section_in_order(report):
    folder, result = report
    markdown = (folder / "campaign_report.md").read_text()
    positions = [markdown.index(f"## {title}") for title in SECTIONS]
    assert positions == sorted(positions)
    assert result.metadata["sections"] == SECTIONS
    assert "response among the contacted, not uplift" in markdown and "customers per arm" in markdown
    assert "k below 4 is excluded" in markdown and "elbow" in markdown


def test_the_html_is_self_contained_with_at_least_six_charts(report):
    folder, _ = report
    page = (folder / "campaign_report.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) >= 6 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page


def test_holdout_size_matches_the_two_proportion_formula():
    # 50% against 60%, alpha 0.05 two-sided, power 0.8: the textbook answer is 385-388 per arm.
    assert 380 <= holdout_size(0.5, 0.1) <= 390
    assert holdout_size(0.5, 0.05) > holdout_size(0.5, 0.1)


@pytest.mark.browser
def test_a_browser_shows_every_section_and_loads_every_image(report, browser):
    folder, _ = report
    page = browser.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((folder / "campaign_report.html").as_uri())
    headings = page.locator("h2").all_inner_texts()
    assert headings == SECTIONS
    images = page.locator("img")
    assert images.count() >= 6
    for index in range(images.count()):
        loaded = images.nth(index).evaluate("image => image.complete && image.naturalWidth > 0")
        assert loaded, images.nth(index).get_attribute("alt")
    assert all(url.startswith(("file://", "data:")) for url in requests), requests
    page.close()
