"""The partitioned graph (CAMPAIGN_PARTITIONS) against the unpartitioned one: the same
customers, fitted objects and per-customer results, bucket by bucket."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, build_schedule_context, build_sensor_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, MAX_RETRIES_TAG

from campaign_pipeline.definitions import PER_CUSTOMER_ASSETS, build_definitions
from campaign_pipeline.resources import CustomerSource
from campaign_pipeline.settings import DEFAULT_REFERENCE_DATE
from campaign_pipeline.sources.synthetic import generate_customers, write_customers_csv, write_synthetic_customers
from campaign_pipeline.transforms.buckets import bucket_keys
from campaign_pipeline_tests.harness import checksums, materialize_all, persistent_home

BUCKETS = 3
FITTED = ("segment_preprocessor", "segmentation_model", "response_model")


def read_buckets(data_dir: Path, name: str) -> pd.DataFrame:
    parts = sorted((data_dir / name).glob("*.parquet"))
    assert [part.stem for part in parts] == bucket_keys(BUCKETS)
    return pd.concat([pd.read_parquet(part) for part in parts]).sort_index(kind="stable")


def copy_of_clean_run(source: Path, target: Path) -> dict[str, str]:
    """Every file of the clean run in ``source`` copied under ``target``; their checksums."""
    before = checksums(source)
    for relative in before:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes((source / relative).read_bytes())
    return before


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def customer_file(tmp_path_factory) -> Path:
    """A file with the generator's planted quirks: duplicates (some disagreeing on
    Response), placeholder and missing incomes, odd categories."""
    path = tmp_path_factory.mktemp("input") / "customers.csv"
    write_customers_csv(generate_customers(1500, 21), path)
    return path


@pytest.fixture(scope="module")
def both_shapes(customer_file, tmp_path_factory) -> tuple[Path, Path]:
    whole, split = tmp_path_factory.mktemp("unpartitioned"), tmp_path_factory.mktemp("partitioned")
    assert materialize_all(whole, raw_csv=str(customer_file)).success
    assert materialize_all(split, raw_csv=str(customer_file), partitions=BUCKETS).success
    return whole, split


def test_only_per_customer_assets_are_partitioned():
    graph = build_definitions(partitions=BUCKETS).resolve_asset_graph()
    partitioned = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).partitions_def}
    assert partitioned == set(PER_CUSTOMER_ASSETS)
    keys = graph.get(next(iter(graph.get_all_asset_keys()))).partitions_def
    unpartitioned = build_definitions().resolve_asset_graph()
    assert not any(unpartitioned.get(key).partitions_def for key in unpartitioned.get_all_asset_keys())
    assert keys is None or keys.get_partition_keys() == bucket_keys(BUCKETS)


def test_the_schedules_cover_every_bucket():
    every_bucket = {ASSET_PARTITION_RANGE_START_TAG: bucket_keys(BUCKETS)[0], ASSET_PARTITION_RANGE_END_TAG: bucket_keys(BUCKETS)[-1]}
    for schedule in build_definitions(partitions=BUCKETS).schedules:
        (request,) = schedule.evaluate_tick(build_schedule_context()).run_requests
        assert every_bucket.items() <= request.tags.items()
        assert request.tags[MAX_RETRIES_TAG] == "1"
        assert request.run_config == {"ops": {"engineered_customers": {"config": {"reference_date": DEFAULT_REFERENCE_DATE}}}}
    (request,) = build_definitions().schedules[0].evaluate_tick(build_schedule_context()).run_requests
    assert ASSET_PARTITION_RANGE_START_TAG not in request.tags


def test_the_file_sensor_rescores_every_bucket_when_the_file_changes(customer_file):
    (sensor,) = build_definitions(partitions=BUCKETS).sensors
    source = CustomerSource(path=str(customer_file))
    request = sensor(build_sensor_context(cursor="an older fingerprint", resources={"customer_source": source}))
    assert isinstance(request, RunRequest) and request.job_name in (None, "nightly_rescore")
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == bucket_keys(BUCKETS)[0]
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == bucket_keys(BUCKETS)[-1]
    assert request.tags[MAX_RETRIES_TAG] == "1"


def test_the_instance_retries_failed_runs_from_failure(tmp_path, monkeypatch):
    """The schedules' and the sensor's runs carry dagster/max_retries; the repository's
    instance (DAGSTER_HOME=$PWD) has the daemon retry them, from failure."""
    (tmp_path / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    monkeypatch.chdir(tmp_path)  # its storage paths are relative
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 0  # only runs that ask for retries get them
        assert instance.run_retries_retry_on_asset_or_op_failure


def test_both_shapes_fit_the_same_objects(both_shapes):
    whole, split = both_shapes
    for name in FITTED:
        assert sha256(whole / "models" / f"{name}.pkl") == sha256(split / "models" / f"{name}.pkl"), name
    assert sha256(whole / "income_medians.parquet") == sha256(split / "income_medians.parquet")


@pytest.mark.parametrize("name", PER_CUSTOMER_ASSETS)
def test_both_shapes_give_the_same_per_customer_results(both_shapes, name):
    whole, split = both_shapes
    expected = pd.read_parquet(whole / f"{name}.parquet")
    actual = read_buckets(split, name)
    if name == "customer_dispositions":  # indexed by position, one row per line
        expected, actual = (frame.sort_values("line", ignore_index=True) for frame in (expected, actual))
    # Deciles rank the customers of one bucket in the partitioned graph.
    columns = [column for column in expected.columns if column != "decile"]
    pd.testing.assert_frame_equal(actual[columns], expected[columns], check_exact=False, rtol=0, atol=1e-9)


REDUCTIONS = ("campaign_prices", "conversion_analysis", "cluster_profiles", "retargeting_impact", "campaign_scenarios")


@pytest.mark.parametrize("name", REDUCTIONS)
def test_both_shapes_reduce_to_the_same_cluster_level_results(both_shapes, name):
    whole, split = both_shapes
    expected, actual = pd.read_parquet(whole / f"{name}.parquet"), pd.read_parquet(split / f"{name}.parquet")
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-9)


def test_both_shapes_evaluate_and_list_the_same_campaign(both_shapes):
    whole, split = both_shapes
    assert (split / "exports" / "contact_list.csv").read_bytes() == (whole / "exports" / "contact_list.csv").read_bytes()
    expected, actual = (json.loads((shape / "reports" / "response_model.json").read_text()) for shape in (whole, split))
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), key


def test_the_scores_agree_customer_by_customer(both_shapes):
    whole, split = both_shapes
    expected, actual = pd.read_parquet(whole / "scored_customers.parquet"), read_buckets(split, "scored_customers")
    assert actual.index.equals(expected.index) and len(actual) > 1000
    assert (actual["cluster"] == expected["cluster"]).all()
    assert (actual["contact"] == expected["contact"]).all() and actual["contact"].any()
    assert np.abs(actual["response_probability"] - expected["response_probability"]).max() <= 1e-9


def test_copies_of_a_customer_share_a_bucket(both_shapes):
    whole, split = both_shapes
    dispositions = pd.read_parquet(whole / "customer_dispositions.parquet")
    copies = dispositions[dispositions["disposition"] == "duplicate"]
    assert len(copies) > 0
    bucket_of_line = {}
    for part in sorted((split / "raw_customers").glob("*.parquet")):
        bucket_of_line.update({line: part.stem for line in pd.read_parquet(part, columns=["ID"]).index})
    raw = pd.read_parquet(whole / "raw_customers.parquet", columns=["ID"])
    line_of_kept = {customer: line for line, customer in raw["ID"].items()}
    for copy in copies.itertuples():
        assert bucket_of_line[copy.line] == bucket_of_line[line_of_kept[copy.duplicate_of]]


def test_a_rerun_of_one_bucket_is_byte_identical(both_shapes, customer_file, tmp_path):
    rerun = tmp_path / "rerun"
    # A copy of the clean run's files in which bucket 01 of every per-customer dataset is lost.
    before = copy_of_clean_run(both_shapes[1], rerun)
    lost = bucket_keys(BUCKETS)[1]
    for name in PER_CUSTOMER_ASSETS:
        (rerun / name / f"{lost}.parquet").unlink()
    result = materialize_all(rerun, raw_csv=str(customer_file), partitions=BUCKETS, job="nightly_rescore", buckets=(lost, lost))
    assert result.success
    after = checksums(rerun)
    for name in PER_CUSTOMER_ASSETS:
        for key in bucket_keys(BUCKETS):
            relative = f"{name}/{key}.parquet"
            assert after[relative] == before[relative], relative


FAILING_THEN_RESUMED = textwrap.dedent(
    """
    import json, sys
    from dagster import AssetKey, DagsterInstance, ReexecutionOptions, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
    import campaign_pipeline.assets as assets

    failing, first, last = sys.argv[1:4]
    written, broken = [], [True]
    write = assets.write_parquet

    def flaky(frame, path):  # bucket `failing` of scored_customers fails while `broken`
        if path.parent.name == "scored_customers":
            if broken[0] and path.stem == failing:
                raise OSError("the worker lost its disk")
            written.append(path.stem)
        write(frame, path)

    assets.write_parquet = flaky
    job = ReconstructableRepository.for_module("campaign_pipeline.definitions", "defs").get_reconstructable_job("nightly_rescore")
    tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    with DagsterInstance.get() as instance:
        with execute_job(job, instance, tags=tags) as failed:
            failed_run = failed.run_id
            error = next(event for event in failed.all_events if event.is_step_failure).step_failure_data.error.message
        first_written, written[:] = sorted(written), []
        materialized = sorted(instance.get_materialized_partitions(AssetKey("scored_customers")))
        broken[0] = False
        # as the UI and run retries do, the re-execution keeps the parent run's tags (its range)
        resume = ReexecutionOptions.from_failure(failed_run, instance)
        with execute_job(job, instance, tags=tags, reexecution_options=resume) as resumed:
            print(json.dumps({"failed_success": failed.success, "error": error, "first_written": first_written,
                              "materialized": materialized,
                              "resumed_success": resumed.success, "resumed_written": sorted(written),
                              "resumed_errors": [event.step_failure_data.error.to_string()
                                                 for event in resumed.all_events if event.is_step_failure]}))
    """
)


def test_a_rerun_from_failure_recomputes_only_the_buckets_that_failed(both_shapes, customer_file, tmp_path):
    data_dir = tmp_path / "data"
    before = copy_of_clean_run(both_shapes[1], data_dir)
    keys = bucket_keys(BUCKETS)
    failing = keys[1]
    home = persistent_home(tmp_path / "home")
    environment = {**os.environ, "DAGSTER_HOME": str(home), "CAMPAIGN_DATA_DIR": str(data_dir),
                   "CAMPAIGN_RAW_CSV": str(customer_file), "CAMPAIGN_PARTITIONS": str(BUCKETS)}  # fmt: skip
    script = subprocess.run(
        [sys.executable, "-c", FAILING_THEN_RESUMED, failing, keys[0], keys[-1]],
        env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert script.returncode == 0, script.stderr[-3000:]
    outcome = json.loads(script.stdout.strip().splitlines()[-1])
    # The failing bucket fails its step, naming it; the other buckets are written all the same
    # and show as materialized partitions, the failed one as not.
    assert not outcome["failed_success"]
    assert f"bucket {failing}: the worker lost its disk" in outcome["error"]
    assert outcome["first_written"] == [key for key in keys if key != failing]
    assert outcome["materialized"] == [key for key in keys if key != failing]
    # Resuming from failure recomputes only the failed bucket and gives a clean run's bytes.
    assert outcome["resumed_success"], outcome["resumed_errors"]
    assert outcome["resumed_written"] == [failing]
    after = checksums(data_dir)
    assert {r: d for r, d in after.items() if r.endswith(".parquet")} == {r: d for r, d in before.items() if r.endswith(".parquet")}


QUARANTINE_LINES = 100_000
PLANTED = 50


@pytest.fixture(scope="module")
def file_with_bad_lines(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The generator's file with ``PLANTED`` lines each breaking one reading or contract rule,
    scattered through it, and its manifest of those lines."""
    path = tmp_path_factory.mktemp("bad_input") / "customers.csv"
    return path, write_synthetic_customers(path, QUARANTINE_LINES, seed=4, bad_lines=PLANTED)


def ingest_buckets(data_dir: Path, csv: Path, **policy):
    """raw_customers and rejected_customers of every bucket, in one run, under ``policy``."""
    defs = build_definitions(data_dir=str(data_dir), partitions=BUCKETS)
    job = defs.resolve_implicit_global_asset_job_def()
    keys = bucket_keys(BUCKETS)
    source = {"path": str(csv), "bad_rows": "quarantine", **policy}
    return job.execute_in_process(
        run_config={"resources": {"customer_source": {"config": source}}},
        asset_selection=[AssetKey("raw_customers"), AssetKey("rejected_customers")],
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_quarantine_sets_aside_exactly_the_bad_lines_of_a_large_file(file_with_bad_lines, tmp_path):
    csv, manifest = file_with_bad_lines
    assert ingest_buckets(tmp_path, csv).success
    rejected = read_buckets(tmp_path, "rejected_customers")
    assert sorted(rejected["line"].unique()) == sorted(manifest["line"])
    assert (rejected["reason"] != "").all()
    by_line = rejected.groupby("line")["column"].agg(set)
    for bad in manifest.itertuples():
        assert bad.column in by_line[bad.line], bad
    raw = read_buckets(tmp_path, "raw_customers")
    assert len(raw) + len(manifest) == QUARANTINE_LINES and not raw.index.isin(manifest["line"]).any()


def test_too_many_bad_lines_refuse_a_large_file_and_write_nothing(file_with_bad_lines, tmp_path):
    csv, manifest = file_with_bad_lines
    result = ingest_buckets(tmp_path, csv, max_bad_fraction=0.00001)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert str(csv) in failure and "customer_source.max_bad_fraction" in failure
    assert f"{PLANTED} of {QUARANTINE_LINES:,}".replace(",", "") in failure.replace(",", "")
    assert not (tmp_path / "raw_customers").exists() and not (tmp_path / "rejected_customers").exists()


KILLED_IN_A_BUCKET = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import campaign_pipeline.assets as assets
    from campaign_pipeline.io_managers import write_atomically
    from campaign_pipeline_tests.harness import materialize_all

    written = assets.write_parquet

    def stalling(frame, path):
        if path.parent.name == "scored_customers" and path.stem == sys.argv[3]:
            def half(handle):
                handle.write(b"PAR1" + b"x" * 100_000)
                handle.flush()
                print("half written", flush=True)
                time.sleep(300)
            write_atomically(path, half)
        written(frame, path)

    assets.write_parquet = stalling
    materialize_all(Path(sys.argv[1]), raw_csv=sys.argv[2], partitions=int(sys.argv[4]), job="nightly_rescore")
    """
)


def test_a_step_killed_inside_a_bucket_leaves_every_bucket_file_whole(both_shapes, customer_file, tmp_path):
    data_dir = tmp_path / "data"
    before = copy_of_clean_run(both_shapes[1], data_dir)
    killed = bucket_keys(BUCKETS)[1]
    run = subprocess.Popen(
        [sys.executable, "-c", KILLED_IN_A_BUCKET, str(data_dir), str(customer_file), killed, str(BUCKETS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert run.stdout.readline().strip() == "half written"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    # Every dataset file is a whole file: the run's new one or the last good one (the same
    # input gives the same bytes); the killed write is only a stray temporary.
    after = checksums(data_dir)
    for relative, digest in before.items():
        if relative.endswith(".parquet"):
            assert after[relative] == digest, relative
    assert [path.name for path in (data_dir / "scored_customers").iterdir() if path.name.endswith(".tmp")]
    # Rerunning only the killed bucket finishes the job, byte for byte.
    assert materialize_all(data_dir, raw_csv=str(customer_file), partitions=BUCKETS, job="nightly_rescore",
                           buckets=(killed, killed)).success  # fmt: skip
    final = checksums(data_dir)
    assert {r: d for r, d in final.items() if r.endswith(".parquet")} == {r: d for r, d in before.items() if r.endswith(".parquet")}
