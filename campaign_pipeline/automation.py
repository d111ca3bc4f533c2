"""Jobs, schedules and the input sensor: nightly rescoring without refitting, weekly retraining."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, MAX_RETRIES_TAG

from campaign_pipeline.resources import CustomerSource
from campaign_pipeline.settings import DEFAULT_REFERENCE_DATE

# Everything that depends on the customers but not on fitting: rescoring reads the input
# again, prices it, and applies the stored preprocessor, k-means and response model.
RESCORED_ASSETS = AssetSelection.assets(
    "raw_customers",
    "rejected_customers",
    "campaign_prices",
    "income_medians",
    "cleaned_customers",
    "customer_dispositions",
    "engineered_customers",
    "scaled_customers",
    "clustered_customers",
    "cluster_profiles",
    "scored_customers",
    "campaign_evaluation",
    "retargeting_impact",
    "campaign_scenarios",
    "contact_list",
    "prospect_scores",
)

nightly_rescore = define_asset_job(
    "nightly_rescore",
    selection=RESCORED_ASSETS,
    description="Re-read the customer file and rescore it with the last fitted transformers and models (no refit).",
)
retrain = define_asset_job(
    "retrain",
    selection=AssetSelection.all(),
    description="Refit the segmentation and response models and rebuild every asset.",
)


def reference_date_run_config(reference_date: str) -> dict:
    """Run config that measures ages and tenure at ``reference_date`` (ISO)."""
    return {"ops": {"engineered_customers": {"config": {"reference_date": reference_date}}}}


# A scheduled or sensed run that fails is retried once, from failure (dagster.yaml enables
# run retries): only the failed steps, and in them only the buckets that failed, run again.
RETRIED_ONCE = {MAX_RETRIES_TAG: "1"}


def every_bucket_tags(bucket_keys: list[str] | None) -> dict[str, str]:
    """Run tags that make one run take every customer bucket (none when unpartitioned)."""
    if not bucket_keys:
        return {}
    return {ASSET_PARTITION_RANGE_START_TAG: bucket_keys[0], ASSET_PARTITION_RANGE_END_TAG: bucket_keys[-1]}


def build_schedules(
    timezone: str, reference_date: str = DEFAULT_REFERENCE_DATE, bucket_keys: list[str] | None = None
) -> list[ScheduleDefinition]:
    """Nightly rescoring at 02:00 and retraining on Sundays at 03:00, running by default,
    each over every customer bucket when the graph is partitioned. Both pass
    ``reference_date`` to ``engineered_customers`` in their run config, so a scheduled run
    never depends on the day it happens to run."""
    request = RunRequest(
        run_config=reference_date_run_config(reference_date), tags={**RETRIED_ONCE, **every_bucket_tags(bucket_keys)}
    )
    return [
        ScheduleDefinition(
            name=name,
            job=job,
            cron_schedule=cron,
            execution_timezone=timezone,
            execution_fn=lambda context, request=request: request,
            default_status=DefaultScheduleStatus.RUNNING,
            description=description,
        )
        for name, job, cron, description in (
            ("nightly_rescore_schedule", nightly_rescore, "0 2 * * *", "Rescore customers every night at 02:00."),
            ("weekly_retrain_schedule", retrain, "0 3 * * 0", "Refit the models every Sunday at 03:00."),
        )
    ]


def build_file_sensor(
    reference_date: str = DEFAULT_REFERENCE_DATE, bucket_keys: list[str] | None = None
) -> SensorDefinition:
    """``customer_file_changed``: starts ``nightly_rescore`` (at ``reference_date``, over
    every customer bucket) when the customer file's content changes."""

    @sensor(
        job=nightly_rescore,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Rescore when the customer file's content changes (the cursor is its SHA-256).",
    )
    def customer_file_changed(context: SensorEvaluationContext, customer_source: CustomerSource):
        try:
            fingerprint = customer_source.fingerprint()
        except OSError as error:
            return SkipReason(f"Cannot read the customer file: {error}")
        if context.cursor is None:
            context.update_cursor(fingerprint)
            return SkipReason("Recorded the current input; changes from now on trigger rescoring.")
        if fingerprint == context.cursor:
            return SkipReason("The customer file has not changed.")
        context.update_cursor(fingerprint)
        return RunRequest(
            run_key=fingerprint,
            run_config=reference_date_run_config(reference_date),
            tags={"input_fingerprint": fingerprint, **RETRIED_ONCE, **every_bucket_tags(bucket_keys)},
        )

    return customer_file_changed
