"""Schedules and the input sensor, evaluated with Dagster's own test contexts."""

from dagster import DagsterInstance, RunRequest, SkipReason, build_schedule_context, build_sensor_context

from campaign_pipeline.automation import build_file_sensor, build_schedules
from campaign_pipeline.definitions import defs
from campaign_pipeline.resources import CustomerSource


def test_schedules_run_by_default_at_their_hours():
    nightly, weekly = build_schedules("Europe/Lisbon")
    assert nightly.cron_schedule == "0 2 * * *" and nightly.job_name == "nightly_rescore"
    assert weekly.cron_schedule == "0 3 * * 0" and weekly.job_name == "retrain"
    assert nightly.execution_timezone == "Europe/Lisbon"
    assert nightly.default_status.value == "RUNNING" and weekly.default_status.value == "RUNNING"
    request = nightly.evaluate_tick(build_schedule_context(instance=DagsterInstance.ephemeral())).run_requests[0]
    assert isinstance(request, RunRequest)


def test_scheduled_and_sensor_runs_carry_the_reference_date_in_their_run_config(tmp_path):
    expected = {"ops": {"engineered_customers": {"config": {"reference_date": "2015-06-30"}}}}
    for schedule in build_schedules("UTC", reference_date="2015-06-30"):
        request = schedule.evaluate_tick(build_schedule_context(instance=DagsterInstance.ephemeral())).run_requests[0]
        assert request.run_config == expected
    path = tmp_path / "customers.csv"
    path.write_text("a\n1\n")
    sensor = build_file_sensor(reference_date="2015-06-30")
    context = build_sensor_context(cursor="an older fingerprint", resources={"customer_source": CustomerSource(path=str(path))})
    assert sensor(context).run_config == expected


def test_sensor_triggers_only_when_the_content_changes(tmp_path):
    sensor = build_file_sensor()
    path = tmp_path / "customers.csv"
    path.write_text("a\n1\n")
    source = CustomerSource(path=str(path))

    first = build_sensor_context(cursor=None, resources={"customer_source": source})
    assert isinstance(sensor(first), SkipReason)
    cursor = first.cursor
    assert len(cursor) == 64

    # Same bytes, even rewritten: no run.
    path.write_text("a\n1\n")
    unchanged = build_sensor_context(cursor=cursor, resources={"customer_source": source})
    assert isinstance(sensor(unchanged), SkipReason) and unchanged.cursor == cursor

    path.write_text("a\n2\n")
    changed = build_sensor_context(cursor=cursor, resources={"customer_source": source})
    request = sensor(changed)
    assert isinstance(request, RunRequest) and request.run_key == changed.cursor != cursor


def test_missing_file_is_skipped_with_a_reason(tmp_path):
    sensor = build_file_sensor()
    context = build_sensor_context(cursor="abc", resources={"customer_source": CustomerSource(path=str(tmp_path / "gone.csv"))})
    result = sensor(context)
    assert isinstance(result, SkipReason) and "Cannot read" in result.skip_message


def test_jobs_are_defined():
    assert {job.name for job in defs.jobs} >= {"nightly_rescore", "retrain"}
    assert defs.resolve_sensor_def("customer_file_changed").job_name == "nightly_rescore"
