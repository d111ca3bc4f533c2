"""Defaults shared across layers, each written once (no Dagster import)."""

# The reference file's snapshot: its Recency values are consistent with this date.
DEFAULT_REFERENCE_DATE = "2014-12-31"
