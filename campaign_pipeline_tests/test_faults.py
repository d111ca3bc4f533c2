"""Faults: a killed writer, a failed run, a rerun, a transient I/O error, unsafe paths."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from dagster import DagsterInstance, asset, materialize
from upath import UPath

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import ParquetIOManagerFactory, write_parquet
from campaign_pipeline.resources import OutputFiles
from campaign_pipeline_tests.harness import checksums, materialize_all

KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from upath import UPath
    from campaign_pipeline.io_managers import write_atomically

    def slow_write(handle):
        handle.write(b"PAR1" + b"x" * 1_000_000)
        handle.flush()
        print("half written", flush=True)
        time.sleep(60)

    write_atomically(UPath(sys.argv[1]), slow_write)
    """
)


def test_a_killed_write_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "scored_customers.parquet"
    previous = pd.DataFrame({"ID": range(1000), "score": [i / 1000 for i in range(1000)]})
    write_parquet(previous, UPath(target))

    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "half written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    pd.testing.assert_frame_equal(pd.read_parquet(target), previous)
    strays = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(strays) == 1  # the killed writer's temporary, never the target
    write_parquet(previous, UPath(target))  # the next write of that file clears it
    assert [p.name for p in tmp_path.iterdir()] == ["scored_customers.parquet"]


def test_rerun_after_a_failure_equals_a_clean_run(tmp_path):
    failed_then_fixed, clean = tmp_path / "a", tmp_path / "b"
    bad_config = {"ops": {"engineered_customers": {"config": {"reference_date": "2012-01-01"}}}}
    assert not materialize_all(failed_then_fixed, run_config=bad_config, raise_on_error=False).success
    assert materialize_all(failed_then_fixed).success
    assert materialize_all(clean).success
    assert checksums(failed_then_fixed) == checksums(clean)


def test_transient_io_errors_are_retried_but_data_errors_are_not(tmp_path, monkeypatch):
    import campaign_pipeline.io_managers as io_managers

    monkeypatch.setattr(io_managers, "TRANSIENT_FIRST_DELAY_SECONDS", 0.01)
    failures_left = [1]

    class FullDiskOnce(io_managers.pq.ParquetWriter):  # as a full disk or a dropped network mount might
        def write_table(self, *args, **kwargs):
            if failures_left[0]:
                failures_left[0] -= 1
                raise OSError(28, "No space left on device")
            return super().write_table(*args, **kwargs)

    monkeypatch.setattr(io_managers.pq, "ParquetWriter", FullDiskOnce)
    attempts = {"good": 0, "bad": 0}

    @asset
    def good() -> pd.DataFrame:
        attempts["good"] += 1
        return pd.DataFrame({"x": [1, 2]})

    @asset
    def bad() -> pd.DataFrame:
        attempts["bad"] += 1
        raise InputDataError("broken", source="test.csv", column="x")

    resources = {"io_manager": ParquetIOManagerFactory(base_dir=str(tmp_path))}
    result = materialize([good], resources=resources, instance=DagsterInstance.ephemeral())
    # The write was retried; the computation ran once.
    assert result.success and attempts["good"] == 1 and failures_left == [0]
    assert pd.read_parquet(tmp_path / "good.parquet")["x"].tolist() == [1, 2]
    assert not list(tmp_path.glob(".good.parquet.*"))  # no temporary left behind

    result = materialize([bad], resources=resources, instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success and attempts["bad"] == 1
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error.cause.cls_name == "InputDataError" and "test.csv" in error.cause.message


def test_export_names_cannot_climb_out_of_the_data_directory(tmp_path):
    store = OutputFiles(base_dir=str(tmp_path / "data"))
    with pytest.raises(InputDataError, match="climbs out of the data directory"):
        store.path("exports", "../../etc/contacts.csv")
    inside = store.path("exports", "contacts.csv")
    assert str(inside).startswith(str(tmp_path / "data"))
    chosen = tmp_path / "elsewhere" / "contacts.csv"
    assert str(store.path("exports", str(chosen))) == str(chosen)  # absolute: on purpose
