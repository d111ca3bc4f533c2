"""Storage: Parquet for datasets, hash-checked pickles for fitted models.

Both build on Dagster's ``UPathIOManager``, so moving from a local folder to object
storage is a change of ``base_dir`` (``s3://bucket/campaign``). Every write goes to a
temporary file next to the target and is renamed over it, so a killed run leaves the
previous file intact.
"""

import hashlib
import json
import os
import pickle
import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
    UPathIOManager,
)
from upath import UPath

PARQUET_COMPRESSION = "zstd"


def write_atomically(path: UPath, write: Callable[[Any], None]) -> None:
    """Call ``write(file)`` on a temporary sibling of ``path``, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as handle:
            write(handle)
        if temporary.protocol in ("", "file", "local"):
            os.replace(temporary.path, path.path)
        else:
            temporary.rename(path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_parquet(frame: pd.DataFrame, path: UPath) -> None:
    """Deterministic Parquet: no index, zstd, same frame gives the same bytes."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_atomically(path, lambda handle: pq.write_table(table, handle, compression=PARQUET_COMPRESSION))


def column_schema(frame: pd.DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(str(name), str(dtype)) for name, dtype in frame.dtypes.items()])


class ParquetIOManager(UPathIOManager):
    """Writes each dataset asset to ``<base>/<asset key>.parquet``."""

    extension = ".parquet"

    def dump_to_path(self, context: OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        write_parquet(obj, path)

    def load_from_path(self, context: InputContext, path: UPath) -> pd.DataFrame:
        return pd.read_parquet(path.path if path.protocol in ("", "file", "local") else path)

    def get_metadata(self, context: OutputContext, obj: pd.DataFrame) -> dict[str, Any]:
        return {
            "dagster/row_count": MetadataValue.int(len(obj)),
            "dagster/column_schema": MetadataValue.table_schema(column_schema(obj)),
        }


class ModelIntegrityError(RuntimeError):
    """A stored model does not match the hash recorded when it was written."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelIOManager(UPathIOManager):
    """Pickles a fitted object to ``<base>/<asset key>.pkl`` with a JSON card beside it.

    The card records the pickle's SHA-256 (plus whatever the object's ``card()``
    returns). Loading refuses a file whose hash differs from the card, because
    unpickling runs code: only bytes this project wrote are ever unpickled.
    """

    extension = ".pkl"

    @staticmethod
    def card_path(path: UPath) -> UPath:
        return path.with_suffix(".card.json")

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        card = {"sha256": sha256_of(data), "bytes": len(data)}
        if hasattr(obj, "card"):
            card.update(obj.card())
        write_atomically(path, lambda handle: handle.write(data))
        write_atomically(
            self.card_path(path), lambda handle: handle.write(json.dumps(card, indent=2, default=str).encode())
        )

    def load_from_path(self, context: InputContext, path: UPath) -> Any:
        data = path.read_bytes()
        card_file = self.card_path(path)
        recorded = json.loads(card_file.read_text())["sha256"] if card_file.exists() else None
        actual = sha256_of(data)
        if recorded != actual:
            raise ModelIntegrityError(
                f"The model file {path} does not match the SHA-256 recorded when it was written "
                f"({recorded or 'no card found'} expected, {actual} found), so it was not loaded. "
                "Rematerialize the model (run the retrain job) to replace it."
            )
        return pickle.loads(data)

    def get_metadata(self, context: OutputContext, obj: Any) -> dict[str, Any]:
        path = self._get_path(context)
        card = json.loads(self.card_path(path).read_text())
        return {"sha256": MetadataValue.text(card["sha256"]), "card": MetadataValue.path(str(self.card_path(path)))}


class ParquetIOManagerFactory(ConfigurableIOManagerFactory):
    """Parquet datasets under ``base_dir`` (a local folder or an object-store URL)."""

    base_dir: str

    def create_io_manager(self, context) -> ParquetIOManager:
        return ParquetIOManager(base_path=UPath(self.base_dir))


class ModelIOManagerFactory(ConfigurableIOManagerFactory):
    """Fitted transformers and models under ``<base_dir>/models``."""

    base_dir: str

    def create_io_manager(self, context) -> ModelIOManager:
        return ModelIOManager(base_path=UPath(self.base_dir) / "models")
