"""Defaults shared across layers, written once: every layer imports them from here.

No Dagster here. The Dagster layer binds these defaults to its config fields and
resources; the plain layer and the terminal summary use them directly.
"""

import os
from collections.abc import Mapping

# The reference file's snapshot date: its Recency values are consistent with it
# (Dt_Customer + Recency never passes it), while max(Dt_Customer) is not.
DEFAULT_REFERENCE_DATE = "2014-12-31"

# Where Parquet, models, reports and exports go: a folder or a universal-pathlib URL
# (``s3://bucket/campaign``, ``memory://...``).
DATA_DIR_ENV = "CAMPAIGN_DATA_DIR"
DEFAULT_DATA_DIR = "data"


def data_dir(environ: Mapping[str, str] = os.environ) -> str:
    """The data directory: ``$CAMPAIGN_DATA_DIR`` when set (and not empty), else ``data``."""
    return environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR

# The embedded default input: the synthetic sample's size (the reference file's) and seed.
SYNTHETIC_CUSTOMERS = 2240
SYNTHETIC_SEED = 0
