"""Helpers that turn frames and charts into metadata the Dagster UI renders inline."""

import base64

import numpy as np
import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from campaign_pipeline.resources import OutputFiles

_TABLE_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def table(frame: pd.DataFrame, decimals: int = 3) -> MetadataValue:
    """A frame as a metadata table (numbers rounded for reading)."""
    columns = [TableColumn(str(c), _TABLE_TYPES.get(frame[c].dtype.kind, "string")) for c in frame.columns]
    records = []
    for row in frame.itertuples(index=False):
        record = {}
        for column, value in zip(frame.columns, row):
            if isinstance(value, (float, np.floating)):
                record[str(column)] = None if np.isnan(value) else round(float(value), decimals)
            elif isinstance(value, (np.integer,)):
                record[str(column)] = int(value)
            elif isinstance(value, (bool, np.bool_)):
                record[str(column)] = bool(value)
            else:
                record[str(column)] = str(value)
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
