"""The Parquet and model IO managers: round trips, atomic writes, metadata, hash checks, and
the data directory's lock."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import build_input_context, build_output_context
from upath import UPath

from campaign_pipeline import io_managers
from campaign_pipeline.io_managers import (
    LOCK_FILE,
    WHOLE_AS_BUCKET,
    Buckets,
    DirectoryLock,
    ModelIntegrityError,
    ModelIOManager,
    ParquetIOManager,
    write_parquet,
)
from campaign_pipeline.schemas import WholeNumber


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": [3, 1, 2],
            "name": ["a", "b", None],
            "value": [1.5, float("nan"), 3.0],
            "when": pd.to_datetime(["2013-01-02", "2014-05-06", "2012-12-31"]),
            "flag": [True, False, True],
        }
    )


def round_trip(manager, key, obj):
    output = build_output_context(asset_key=key)
    manager.handle_output(output, obj)
    loaded = manager.load_input(build_input_context(asset_key=key, upstream_output=output))
    return output, loaded


def test_parquet_round_trip_and_metadata(tmp_path, frame):
    manager = ParquetIOManager(base_path=UPath(tmp_path))
    output, loaded = round_trip(manager, "some_customers", frame)
    pd.testing.assert_frame_equal(loaded, frame)
    assert (tmp_path / "some_customers.parquet").is_file()
    metadata = output.get_logged_metadata()
    assert metadata["dagster/row_count"].value == 3
    assert [c.name for c in metadata["dagster/column_schema"].value.columns] == list(frame.columns)
    assert metadata["path"].value.endswith("some_customers.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["some_customers.parquet"]  # no temporary left


def test_an_unpartitioned_dataset_can_arrive_as_one_bucket_read_column_by_column(tmp_path, frame):
    manager = ParquetIOManager(base_path=UPath(tmp_path))
    output = build_output_context(asset_key="some_customers")
    manager.handle_output(output, frame)
    lazy = build_input_context(asset_key="some_customers", upstream_output=output, definition_metadata={WHOLE_AS_BUCKET: True})
    buckets = manager.load_input(lazy)
    assert isinstance(buckets, Buckets) and buckets.keys() == ["all"]
    pd.testing.assert_frame_equal(buckets.frame("all", ["value", "ID"]), frame[["value", "ID"]])
    pd.testing.assert_frame_equal(buckets.concat(), frame)
    missing = build_input_context(asset_key="not_there", definition_metadata={WHOLE_AS_BUCKET: True})
    with pytest.raises(FileNotFoundError, match="not_there is not stored"):
        manager.load_input(missing)


def test_same_frame_gives_identical_bytes(tmp_path, frame):
    write_parquet(frame, UPath(tmp_path / "a.parquet"))
    write_parquet(frame.copy(), UPath(tmp_path / "b.parquet"))
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_integers_are_delta_encoded_and_the_rest_dictionary_encoded(tmp_path, frame):
    lean = frame.assign(count=np.array([7, 0, 2], dtype=WholeNumber)).rename_axis("line")
    write_parquet(lean, UPath(tmp_path / "lean.parquet"))
    columns = pq.ParquetFile(tmp_path / "lean.parquet").metadata.row_group(0)
    encodings = {columns.column(i).path_in_schema: columns.column(i).encodings for i in range(columns.num_columns)}
    for integer in ("ID", "count", "line"):
        assert "DELTA_BINARY_PACKED" in encodings[integer] and "RLE_DICTIONARY" not in encodings[integer], integer
    for other in ("name", "value", "when"):
        assert "RLE_DICTIONARY" in encodings[other], other
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "lean.parquet"), lean)


def test_a_frame_is_written_a_row_group_at_a_time(tmp_path, frame, monkeypatch):
    monkeypatch.setattr(io_managers, "PARQUET_ROW_GROUP", 2)
    # "later" has nothing but gaps in the first row group: its type comes from the rest.
    tall = pd.concat([frame] * 3, ignore_index=True).assign(later=[None, None, "x", None, "y", "z", None, None, "w"])
    for stored in (tall, tall.rename_axis("line")):
        write_parquet(stored, UPath(tmp_path / "tall.parquet"))
        assert pq.ParquetFile(tmp_path / "tall.parquet").metadata.num_row_groups == 5
        assert pq.read_schema(tmp_path / "tall.parquet").field("later").type == "string"
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "tall.parquet"), stored)


def test_failed_write_keeps_the_previous_file(tmp_path, frame):
    target = UPath(tmp_path / "x.parquet")
    write_parquet(frame, target)
    before = (tmp_path / "x.parquet").read_bytes()
    unwritable = frame.assign(bad=[object(), object(), object()])
    with pytest.raises(Exception):
        write_parquet(unwritable, target)
    assert (tmp_path / "x.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_model_round_trip_writes_a_card(tmp_path):
    manager = ModelIOManager(base_path=UPath(tmp_path))
    output, loaded = round_trip(manager, "fitted", {"weights": [1, 2, 3]})
    assert loaded == {"weights": [1, 2, 3]}
    assert (tmp_path / "fitted.card.json").is_file()
    assert len(output.get_logged_metadata()["sha256"].value) == 64


def test_tampered_model_is_not_loaded(tmp_path):
    manager = ModelIOManager(base_path=UPath(tmp_path))
    output = build_output_context(asset_key="fitted")
    manager.handle_output(output, {"weights": [1, 2, 3]})
    (tmp_path / "fitted.pkl").write_bytes((tmp_path / "fitted.pkl").read_bytes() + b"\x00")
    with pytest.raises(ModelIntegrityError, match="does not match the SHA-256"):
        manager.load_input(build_input_context(asset_key="fitted", upstream_output=output))


def test_object_storage_round_trip(frame):
    """A remote base path (fsspec's in-memory file system standing in for ``s3://``): both
    managers write and read back through the URL, and no temporary is left behind."""
    base = UPath("memory://campaign-io-test")
    try:
        _, loaded = round_trip(ParquetIOManager(base_path=base), "some_customers", frame)
        pd.testing.assert_frame_equal(loaded, frame)
        _, model = round_trip(ModelIOManager(base_path=base / "models"), "fitted", {"weights": [1, 2, 3]})
        assert model == {"weights": [1, 2, 3]}
        assert sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) == [
            "models/fitted.card.json",
            "models/fitted.pkl",
            "some_customers.parquet",
        ]
    finally:
        base.fs.rm(base.path, recursive=True)


# Each DirectoryLock opens the lock file anew, and flock locks belong to an open file, so two
# locks in this one process contend exactly as two processes would.
SHORT_WAIT = 1.0


def test_steps_of_one_run_pass_while_a_process_of_their_run_holds_the_lock(tmp_path):
    first = DirectoryLock(tmp_path, SHORT_WAIT, run_id="run-a", whole_run=False, run_in_progress=lambda run: True)
    first.acquire()
    second = DirectoryLock(tmp_path, SHORT_WAIT, run_id="run-a", whole_run=False, run_in_progress=lambda run: True)
    second.acquire()  # no wait: a sibling step of the same run
    other = DirectoryLock(tmp_path, SHORT_WAIT, run_id="run-b")
    messages = []
    with pytest.raises(TimeoutError, match="Another run has held the lock"):
        other.acquire(on_wait=messages.append)
    assert messages == [f"Another run is writing to {tmp_path}; waiting for it to finish."]
    second.release()
    first.release()


def test_another_run_waits_between_the_steps_of_a_run_until_it_is_over(tmp_path):
    in_progress = {"run-a"}
    step = DirectoryLock(tmp_path, SHORT_WAIT, run_id="run-a", whole_run=False)
    step.acquire()
    step.release()  # between two steps of run-a: nobody holds the flock, the record stays
    assert (tmp_path / LOCK_FILE).read_text() == "run-a steps"
    other = DirectoryLock(tmp_path, SHORT_WAIT, run_id="run-b", run_in_progress=in_progress.__contains__)
    with pytest.raises(TimeoutError, match="Run run-a, whose steps run in other processes"):
        other.acquire()
    in_progress.clear()  # the instance reports run-a finished
    other.acquire()
    assert (tmp_path / LOCK_FILE).read_text() == "run-b run"
    other.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # a whole run leaves no id for a step to pass on


def test_a_whole_run_whose_process_died_does_not_block_the_next(tmp_path):
    # As a killed run leaves it: its record, but the kernel released its flock.
    (tmp_path / LOCK_FILE).write_text("run-a run")
    nxt = DirectoryLock(tmp_path, SHORT_WAIT, run_id="run-b", run_in_progress=lambda run: True)
    nxt.acquire()
    nxt.release()
