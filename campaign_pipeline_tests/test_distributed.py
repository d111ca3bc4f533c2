"""Steps on a real distributed engine: Dagster's ``celery_executor`` with a Redis broker and two
Celery workers on 127.0.0.1 (``conftest.start_celery_workers``).

A job runs from the command line with ``CAMPAIGN_EXECUTOR=celery``; the instance's event log
shows that every step started in a worker's pool process and none in the run's own process,
and that both workers took steps. The same command with ``CAMPAIGN_EXECUTOR=in_process`` on a
copy of the same data directory gives byte-identical files. Without redis-server or
dagster-celery it skips; in CI (``CI`` set) it fails instead.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from campaign_pipeline.transforms.buckets import bucket_keys
from campaign_pipeline_tests.harness import checksums, materialize_all, persistent_home

pytestmark = pytest.mark.distributed

RUN_TIMEOUT_SECONDS = 900


def execute_job(job: str, environment: dict[str, str], cli_args: tuple[str, ...]) -> int:
    """``dagster job execute`` with ``environment`` added to ours; the run's process id."""
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-j", job,
               "-m", "campaign_pipeline.definitions", *cli_args]  # fmt: skip
    run = subprocess.Popen(
        command, env={**os.environ, **environment}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output, _ = run.communicate(timeout=RUN_TIMEOUT_SECONDS)
    assert run.returncode == 0, output[-5000:]
    return run.pid


def step_pids(instance: DagsterInstance, run_id: str) -> tuple[set[int], dict[str, int]]:
    """The process ids of a run's RUN_START event and of each step's STEP_START event."""
    events = [
        record.event_log_entry.dagster_event
        for record in instance.get_records_for_run(run_id).records
        if record.event_log_entry.is_dagster_event
    ]
    run_start = {event.pid for event in events if event.event_type == DagsterEventType.RUN_START}
    return run_start, {event.step_key: event.pid for event in events if event.event_type == DagsterEventType.STEP_START}


BUCKETS = 2
EVERY_BUCKET = json.dumps({ASSET_PARTITION_RANGE_START_TAG: bucket_keys(BUCKETS)[0], ASSET_PARTITION_RANGE_END_TAG: bucket_keys(BUCKETS)[-1]})


# Partitioned nightly rescoring: every customer bucket in one run, as the schedule asks for it.
@pytest.mark.parametrize(
    ("job", "extra_environment", "cli_args"),
    [("nightly_rescore", {"CAMPAIGN_PARTITIONS": str(BUCKETS)}, ("--tags", EVERY_BUCKET))],
)
def test_steps_run_in_celery_workers_and_give_the_in_process_bytes(
    tmp_path, start_celery_workers, job, extra_environment, cli_args
):
    trained = tmp_path / "trained"
    partitions = int(extra_environment.get("CAMPAIGN_PARTITIONS", 1))
    # the fitted models nightly rescoring reads
    assert materialize_all(trained, job="retrain", partitions=partitions).success
    on_celery, in_process = tmp_path / "on_celery", tmp_path / "in_process"
    shutil.copytree(trained, on_celery)
    shutil.copytree(trained, in_process)
    home = persistent_home(tmp_path / "home")
    # The seeded synthetic sample, whatever the calling shell sets: an empty path means unset.
    environment = {"DAGSTER_HOME": str(home), "CAMPAIGN_RAW_CSV": "", "CAMPAIGN_PROSPECTS_CSV": "",
                   "CAMPAIGN_DATA_DIR": str(on_celery), "CAMPAIGN_EXECUTOR": "celery", **extra_environment}  # fmt: skip
    workers = start_celery_workers(environment)

    celery_pid = execute_job(job, {**environment, "CAMPAIGN_CELERY_BROKER": workers.broker}, cli_args)
    with DagsterInstance.from_config(str(home)) as instance:
        [celery_run] = instance.get_runs()
        in_process_pid = execute_job(
            job, {**environment, "CAMPAIGN_DATA_DIR": str(in_process), "CAMPAIGN_EXECUTOR": "in_process"}, cli_args
        )
        in_process_run = next(run for run in instance.get_runs() if run.run_id != celery_run.run_id)
        assert celery_run.status == in_process_run.status == DagsterRunStatus.SUCCESS
        run_start, on_workers = step_pids(instance, celery_run.run_id)
        in_process_start, in_one_process = step_pids(instance, in_process_run.run_id)

    # The run's own process is the command's; every step started in a worker's pool process.
    assert run_start == {celery_pid}
    assert set(on_workers) == set(in_one_process) and on_workers
    assert set(on_workers.values()) <= workers.task_pids and celery_pid not in on_workers.values()
    # The job has steps that can run side by side: both workers took some.
    assert len(set(on_workers.values())) == len(workers.task_pids) == 2
    # The reference: every step in the run's process.
    assert in_process_start == set(in_one_process.values()) == {in_process_pid}

    assert checksums(on_celery) == checksums(in_process)
    if partitions > 1:  # every bucket of every per-customer dataset was rewritten by the run
        assert {path for path in checksums(on_celery) if path.startswith("scored_customers/")} == {
            f"scored_customers/{key}.parquet" for key in bucket_keys(partitions)
        }
    print(f"run process {celery_pid}; steps in worker processes {sorted(workers.task_pids)}: {on_workers}")
