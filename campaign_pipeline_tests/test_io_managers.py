"""The Parquet and model IO managers: round trips, atomic writes, metadata, hash checks."""

import pandas as pd
import pytest
from dagster import build_input_context, build_output_context
from upath import UPath

from campaign_pipeline.io_managers import (
    ModelIntegrityError,
    ModelIOManager,
    ParquetIOManager,
    write_parquet,
)


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


def test_same_frame_gives_identical_bytes(tmp_path, frame):
    write_parquet(frame, UPath(tmp_path / "a.parquet"))
    write_parquet(frame.copy(), UPath(tmp_path / "b.parquet"))
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


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
