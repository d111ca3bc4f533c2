"""The whole asset chain built ONCE per session by calling each asset function directly
(no job, no IO manager) on a small synthetic sample; the per-module tests assert on each
asset's own result. Small resource/config helpers live here too (test modules never
import from each other)."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dagster import DagsterInstance, MaterializeResult, build_asset_context

from campaign_pipeline.assets.analysis import (
    cluster_profiles,
    conversion_analysis,
    segmentation_report,
)
from campaign_pipeline.assets.economics import campaign_prices
from campaign_pipeline.assets.features import FeatureConfig, engineered_customers
from campaign_pipeline.assets.impact import (
    ContactListConfig,
    ScenarioConfig,
    campaign_scenarios,
    contact_list,
    retargeting_impact,
)
from campaign_pipeline.assets.ingest import (
    CleaningConfig,
    cleaned_customers,
    income_medians,
    raw_customers,
)
from campaign_pipeline.assets.response import (
    ResponseModelConfig,
    campaign_evaluation,
    response_model,
    scored_customers,
)
from campaign_pipeline.assets.segmentation import (
    SegmentationConfig,
    clustered_customers,
    scaled_customers,
    segment_preprocessor,
    segmentation_model,
)
from campaign_pipeline.sources.reading import Rejections
from campaign_pipeline.resources import CampaignEconomics, CustomerSource, OutputFiles

SAMPLE_CUSTOMERS = 600
SAMPLE_SEED = 3
FORCED_K = 3


@dataclass
class Chain:
    """Every asset's ``MaterializeResult`` from one direct-call run, and where files went."""

    base_dir: Path
    output_files: OutputFiles
    source: CustomerSource
    results: dict[str, MaterializeResult] = field(default_factory=dict)

    def __getitem__(self, name: str) -> MaterializeResult:
        return self.results[name]

    def value(self, name: str):
        return self.results[name].value


def sample_source(**overrides) -> CustomerSource:
    return CustomerSource(synthetic_customers=SAMPLE_CUSTOMERS, synthetic_seed=SAMPLE_SEED, **overrides)


def build_chain(base_dir: Path, instance: DagsterInstance) -> Chain:
    return _build_chain(base_dir, build_asset_context(instance=instance))


def _build_chain(base_dir: Path, context) -> Chain:
    output_files = OutputFiles(base_dir=str(base_dir))
    chain = Chain(base_dir=base_dir, output_files=output_files, source=sample_source())
    r = chain.results
    r["raw_customers"], r["rejected_customers"] = raw_customers(
        context, customer_source=chain.source, output_files=output_files
    )
    raw = r["raw_customers"].value
    r["campaign_prices"] = campaign_prices(raw_customers=raw, campaign_economics=CampaignEconomics())
    prices = r["campaign_prices"].value
    r["income_medians"] = income_medians(config=CleaningConfig(), raw_customers=raw)
    r["cleaned_customers"], r["customer_dispositions"] = cleaned_customers(
        context,
        config=CleaningConfig(),
        raw_customers=raw,
        rejected_customers=r["rejected_customers"].value,
        income_medians=r["income_medians"].value,
    )
    r["engineered_customers"] = engineered_customers(
        context, config=FeatureConfig(), cleaned_customers=r["cleaned_customers"].value
    )
    engineered = r["engineered_customers"].value
    r["segment_preprocessor"] = segment_preprocessor(engineered_customers=engineered)
    r["scaled_customers"] = scaled_customers(
        context,
        engineered_customers=engineered, segment_preprocessor=r["segment_preprocessor"].value
    )
    scaled = r["scaled_customers"].value
    r["segmentation_model"] = segmentation_model(
        context,
        config=SegmentationConfig(force_k=FORCED_K),
        scaled_customers=scaled,
        engineered_customers=engineered,
        output_files=output_files,
    )
    model = r["segmentation_model"].value
    r["clustered_customers"] = clustered_customers(
        context,
        engineered_customers=engineered, scaled_customers=scaled, segmentation_model=model
    )
    clustered = r["clustered_customers"].value
    r["response_model"] = response_model(
        context,
        config=ResponseModelConfig(),
        engineered_customers=engineered,
        output_files=output_files,
    )
    r["scored_customers"] = scored_customers(
        context, clustered_customers=clustered, response_model=r["response_model"].value, campaign_prices=prices
    )
    scored = r["scored_customers"].value
    r["campaign_evaluation"] = campaign_evaluation(
        context,
        scored_customers=scored,
        clustered_customers=clustered,
        response_model=r["response_model"].value,
        campaign_prices=prices,
        output_files=output_files,
    )
    r["retargeting_impact"] = retargeting_impact(
        context,
        scored_customers=scored,
        clustered_customers=clustered,
        campaign_prices=prices,
        output_files=output_files,
    )
    r["campaign_scenarios"] = campaign_scenarios(
        context, config=ScenarioConfig(), scored_customers=scored, campaign_prices=prices, output_files=output_files
    )
    r["contact_list"] = contact_list(
        config=ContactListConfig(), scored_customers=scored, clustered_customers=clustered, output_files=output_files
    )
    r["conversion_analysis"] = conversion_analysis(
        context, engineered_customers=engineered, output_files=output_files
    )
    r["cluster_profiles"] = cluster_profiles(
        clustered_customers=clustered, scaled_customers=scaled, segmentation_model=model, output_files=output_files
    )
    r["segmentation_report"] = segmentation_report(
        conversion_analysis=r["conversion_analysis"].value,
        cluster_profiles=r["cluster_profiles"].value,
        retargeting_impact=r["retargeting_impact"].value,
        segmentation_model=model,
        scored_customers=r["scored_customers"].value,
        campaign_prices=prices,
        output_files=output_files,
    )
    return chain


@pytest.fixture(scope="session")
def instance():
    """One ephemeral instance for every direct call. A context built without one makes its
    own, and after an asset raises its SQLite connections complain at interpreter exit."""
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture(scope="session")
def chain(tmp_path_factory, instance) -> Chain:
    """The assets, each called directly once, in dependency order."""
    return build_chain(tmp_path_factory.mktemp("asset_chain"), instance)


@pytest.fixture
def context(instance):
    """A fresh asset context for one test's direct calls, on the shared instance."""
    return build_asset_context(instance=instance)


@pytest.fixture
def clean():
    """``cleaned_customers`` of a raw frame under a cleaning config, with the income medians
    fitted on that frame first, as the graph does."""

    def clean_with(context, config: CleaningConfig, raw, rejected=None):
        medians = income_medians(config=config, raw_customers=raw).value
        rejected = Rejections().table() if rejected is None else rejected
        return cleaned_customers(
            context, config=config, raw_customers=raw, rejected_customers=rejected, income_medians=medians
        )

    return clean_with
