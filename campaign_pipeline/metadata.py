"""Helpers that turn frames and charts into metadata the Dagster UI renders inline."""

import base64
from typing import Any

import numpy as np
import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from campaign_pipeline.resources import OutputFiles

_TABLE_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}
FIGURE_DECIMALS = 3


def rounded(value: Any, decimals: int = FIGURE_DECIMALS) -> Any:
    """Metadata for people: floats (also inside dicts and lists) rounded to ``decimals``
    decimals, or significant digits below 1, and numpy scalars made plain, so the UI never
    shows a 16-digit float. MetadataValues pass as they are."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        # Decimals for figures of 1 and more, significant digits below (a small p-value keeps its size).
        return round(float(value), decimals) if abs(value) >= 1 else float(f"{value:.{decimals}g}")
    if isinstance(value, np.integer):
        return int(value)
    if type(value) is dict:  # MetadataValues are records: never taken apart
        return {key: rounded(item, decimals) for key, item in value.items()}
    if type(value) in (list, tuple):
        return [rounded(item, decimals) for item in value]
    return value


def table(frame: pd.DataFrame, decimals: int = 3) -> MetadataValue:
    """A frame as a metadata table (numbers rounded for reading)."""
    columns = [TableColumn(str(c), _TABLE_TYPES.get(frame[c].dtype.kind, "string")) for c in frame.columns]
    records = []
    for row in frame.itertuples(index=False):
        record = {}
        for column, value in zip(frame.columns, row):
            plain = rounded(value, decimals)
            record[str(column)] = plain if isinstance(plain, (int, float, bool)) or plain is None else str(plain)
        records.append(TableRecord(record))
    return MetadataValue.table(records=records, schema=TableSchema(columns=columns))


def chart(reports: OutputFiles, name: str, png: bytes, title: str) -> dict[str, MetadataValue]:
    """Save ``png`` under ``reports/`` and return metadata that shows it inline."""
    path = reports.write_bytes("reports", name, png)
    encoded = base64.b64encode(png).decode()
    return {
        title: MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})"),
        f"{title} file": MetadataValue.path(str(path)),
    }
