"""The one ``Definitions`` object of the project, composed once by ``build_definitions``.

Environment variables choose where things are, never what the code does:

- ``CAMPAIGN_RAW_CSV``: the customer file; unset means the seeded synthetic sample.
- ``CAMPAIGN_PROSPECTS_CSV``: the look-alike prospects (demographics only); unset means
  prospects from the synthetic generator, with the customer sample's seed.
- ``CAMPAIGN_DATA_DIR``: where Parquet, models, reports and exports go (default ``data``;
  any ``universal-pathlib`` URL such as ``s3://bucket/campaign`` works).
- ``CAMPAIGN_TIMEZONE``: timezone of the nightly and weekly schedules (default ``UTC``).
- ``CAMPAIGN_REFERENCE_DATE``: the ISO date scheduled and sensor-started runs measure ages
  and tenure at (their run config sets ``engineered_customers.reference_date``); default
  the reference file's snapshot, ``settings.DEFAULT_REFERENCE_DATE``.
- ``CAMPAIGN_PARTITIONS``: unset (or 1) for the unpartitioned graph; N >= 2 partitions
  the per-customer assets into N customer buckets (see ``PER_CUSTOMER_ASSETS``).
- ``CAMPAIGN_EXECUTOR``: ``in_process`` (default; fastest on small machines because every
  step would otherwise re-import pandas and scikit-learn), ``multiprocess``, ``celery``
  (each step a task for Celery workers; needs the ``celery`` extra, a persistent
  ``DAGSTER_HOME`` and workers started as in ``docs/scaling.md``) or ``k8s`` (a Kubernetes
  Job per step; needs the ``k8s`` extra). The optional packages are imported only when chosen.
- ``CAMPAIGN_CELERY_BROKER``: the Celery broker, also its result backend (default
  ``redis://127.0.0.1:6379/0``); the workers must be started against the same one.
"""

import gc
import os
from datetime import date

from dagster import (
    AssetsDefinition,
    BackfillPolicy,
    Definitions,
    StaticPartitionsDefinition,
    EnvVar,
    ExecutorDefinition,
    in_process_executor,
    load_assets_from_modules,
    multiprocess_executor,
)

from campaign_pipeline.assets import (
    analysis,
    campaign_report,
    economics,
    features,
    impact,
    ingest,
    prospects,
    response,
    segmentation,
)
from campaign_pipeline.automation import build_file_sensor, build_schedules, nightly_rescore, retrain
from campaign_pipeline.code_versions import with_derived_code_versions
from campaign_pipeline.io_managers import ModelIOManagerFactory, ParquetIOManagerFactory
from campaign_pipeline.resources import CampaignEconomics, CustomerSource, OutputFiles, ProspectSource
from campaign_pipeline.settings import DATA_DIR_ENV, DEFAULT_DATA_DIR, DEFAULT_REFERENCE_DATE
from campaign_pipeline.transforms.buckets import bucket_keys

CELERY_BROKER_ENV = "CAMPAIGN_CELERY_BROKER"
DEFAULT_CELERY_BROKER = "redis://127.0.0.1:6379/0"
ASSET_MODULES = [ingest, economics, features, segmentation, response, impact, analysis, prospects, campaign_report]
# What the partitioned graph splits into customer buckets: every dataset with a row per
# customer, from the file as read to the scores. Fitted objects and reductions are not.
PER_CUSTOMER_ASSETS = (
    "raw_customers",
    "rejected_customers",
    "cleaned_customers",
    "customer_dispositions",
    "engineered_customers",
    "scaled_customers",
    "clustered_customers",
    "scored_customers",
)


def customer_buckets_partitions(count: int) -> StaticPartitionsDefinition:
    """``count`` customer buckets, ``00`` to ``count - 1`` (``transforms.buckets``)."""
    return StaticPartitionsDefinition(bucket_keys(count))


def partitioned(assets: list[AssetsDefinition], buckets: StaticPartitionsDefinition | None) -> list[AssetsDefinition]:
    """The per-customer assets split into ``buckets``. Every asset runs a range of buckets
    in one run (a single-run backfill), so ``dg launch --partition-range`` materializes
    the whole graph, each partitioned step reading and writing one bucket at a time."""
    if buckets is None:
        return assets

    def split(asset: AssetsDefinition) -> AssetsDefinition:
        if any(key.to_user_string() in PER_CUSTOMER_ASSETS for key in asset.keys):
            asset = asset.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=buckets))
        return asset.with_attributes(backfill_policy=BackfillPolicy.single_run())

    return [split(asset) for asset in assets]


def build_definitions(
    data_dir: str | EnvVar = DEFAULT_DATA_DIR,
    raw_csv: str | EnvVar = "",
    prospects_csv: str | EnvVar = "",
    executor: ExecutorDefinition = in_process_executor,
    timezone: str = "UTC",
    reference_date: str = DEFAULT_REFERENCE_DATE,
    partitions: int = 1,
) -> Definitions:
    """Assets, resources and executor, unpartitioned or with the per-customer assets in
    ``partitions`` customer buckets; tests call this with a temporary ``data_dir``."""
    buckets = customer_buckets_partitions(partitions) if partitions > 1 else None
    assets = partitioned(list(load_assets_from_modules(ASSET_MODULES)), buckets)
    return Definitions(
        assets=with_derived_code_versions(assets),
        resources={
            "io_manager": ParquetIOManagerFactory(base_dir=data_dir),
            "model_io_manager": ModelIOManagerFactory(base_dir=data_dir),
            "evaluation_io_manager": ModelIOManagerFactory(base_dir=data_dir, folder="evaluations"),
            "output_files": OutputFiles(base_dir=data_dir),
            "customer_source": CustomerSource(path=raw_csv),
            "prospect_source": ProspectSource(path=prospects_csv),
            "campaign_economics": CampaignEconomics(),
        },
        executor=executor,
        jobs=[nightly_rescore, retrain],
        schedules=build_schedules(timezone, reference_date, buckets and buckets.get_partition_keys()),
        sensors=[build_file_sensor(reference_date, buckets and buckets.get_partition_keys())],
    )


def _from_env(name: str, default: str) -> EnvVar | str:
    """Bind to the environment variable when it is set, so the UI shows where a value came from."""
    return EnvVar(name) if os.environ.get(name) else default


def _celery_executor() -> ExecutorDefinition:
    from dagster_celery import celery_executor

    # Redis serves as broker and result backend alike, so one setting names both.
    broker = {"env": CELERY_BROKER_ENV} if os.environ.get(CELERY_BROKER_ENV) else DEFAULT_CELERY_BROKER
    return celery_executor.configured({"broker": broker, "backend": broker}, name="celery")


def _k8s_executor() -> ExecutorDefinition:
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor


EXECUTORS = {
    "in_process": lambda: in_process_executor,
    "multiprocess": lambda: multiprocess_executor,
    "celery": _celery_executor,
    "k8s": _k8s_executor,
}


def _executor_from_env() -> ExecutorDefinition:
    choice = os.environ.get("CAMPAIGN_EXECUTOR", "in_process")
    if choice not in EXECUTORS:
        raise ValueError(f"CAMPAIGN_EXECUTOR must be one of {sorted(EXECUTORS)}, not {choice!r}")
    return EXECUTORS[choice]()


def _reference_date_from_env() -> str:
    value = os.environ.get("CAMPAIGN_REFERENCE_DATE") or DEFAULT_REFERENCE_DATE
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"CAMPAIGN_REFERENCE_DATE must be an ISO date such as {DEFAULT_REFERENCE_DATE}, not {value!r}") from None
    return value


def _partitions_from_env() -> int:
    value = os.environ.get("CAMPAIGN_PARTITIONS") or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"CAMPAIGN_PARTITIONS must be a whole number of customer buckets (2 or more), not {value!r}")
    return int(value)


defs = build_definitions(
    data_dir=_from_env(DATA_DIR_ENV, DEFAULT_DATA_DIR),
    raw_csv=_from_env("CAMPAIGN_RAW_CSV", ""),
    prospects_csv=_from_env("CAMPAIGN_PROSPECTS_CSV", ""),
    executor=_executor_from_env(),
    timezone=os.environ.get("CAMPAIGN_TIMEZONE", "UTC"),
    reference_date=_reference_date_from_env(),
    partitions=_partitions_from_env(),
)
# Everything loaded to build the definitions lives as long as the process: frozen, out of
# the collector's way (see the package's docstring).
gc.freeze()
