"""Prospects: people who are not customers yet, known by their demographics only.

A prospect file holds the customer file's leading columns, up to enrolment: ``ID``,
``Year_Birth``, ``Education``, ``Marital_Status``, ``Income``, ``Kidhome`` and
``Teenhome``. Any other column is ignored (and reported in ``ReadStats``). It is read by
the customer reader's rules (``reading.read_table``): TAB, comma or semicolon; LF or CRLF;
UTF-8 with or without BOM; quoted fields; stray spaces; errors naming the file, column
and lines. A missing required column (``Income`` included) is refused, naming it.

No Dagster here: the ``ProspectSource`` resource chooses the file or the synthetic
default and calls these functions.
"""

from pathlib import Path

import pandas as pd

from campaign_pipeline.schemas import INPUT_COLUMNS
from campaign_pipeline.sources.reading import FileLayout, ReadStats, read_table, type_table
from campaign_pipeline.sources.synthetic import generate_customers

# Who a person is before they buy anything: the customer file's columns before enrolment.
PROSPECT_COLUMNS: tuple[str, ...] = INPUT_COLUMNS[: INPUT_COLUMNS.index("Dt_Customer")]
PROSPECT_FILE = FileLayout(
    "prospect",
    PROSPECT_COLUMNS,
    header="the demographic columns " + ", ".join(PROSPECT_COLUMNS) + " (other columns are ignored)",
)
# Synthetic prospect IDs are moved up by max(this, 100 x n): synthetic customer IDs stay
# near 0..5n (random gaps of mean 5), so no prospect shares an ID with a customer.
PROSPECT_ID_OFFSET = 10_000_000


def read_prospects(path: str | Path) -> tuple[pd.DataFrame, ReadStats]:
    """The typed prospect table (``PROSPECT_COLUMNS``), indexed by file line number;
    :class:`~campaign_pipeline.errors.InputDataError` for anything the reader refuses."""
    return read_table(path, PROSPECT_FILE)


def type_prospect_table(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, ReadStats]:
    """Check and type a prospect table already in memory (index = file line numbers)."""
    return type_table(frame, source, PROSPECT_FILE)


def generate_prospects(n: int = 2240, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic prospects: the demographic columns of ``generate_customers(n, seed)``
    (with its quirks: blank incomes, placeholders, impossible birth years, odd marital
    statuses), IDs moved up by ``max(PROSPECT_ID_OFFSET, 100 x n)``, far above any ID the
    generator gives customers, so they cannot collide with a synthetic customer's."""
    customers = generate_customers(n, seed)
    prospects = customers[list(PROSPECT_COLUMNS)].copy()
    prospects["ID"] = prospects["ID"] + max(PROSPECT_ID_OFFSET, 100 * n)
    return prospects
