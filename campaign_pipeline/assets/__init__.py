"""Asset definitions, one module per group: thin wiring around ``campaign_pipeline.transforms``.

Every asset is a plain function (inputs in, ``MaterializeResult`` out), so a test calls it
directly with ``build_asset_context()``. Each declares its group, kinds and owner here.
"""

import dataclasses
from typing import TypeVar

from dagster import Config

DATA_ENGINEERING = "team:data-engineering"
DATA_SCIENCE = "team:data-science"
MARKETING_ANALYTICS = "team:marketing-analytics"
MODEL_IO = "model_io_manager"

Settings = TypeVar("Settings")


def settings_from(config: Config, settings_type: type[Settings]) -> Settings:
    """The transform's settings dataclass, filled from the asset's ``Config`` fields of the
    same names (lists become the dataclass's tuples). The defaults live in the dataclass;
    the ``Config`` takes them from there."""
    values = {}
    for field in dataclasses.fields(settings_type):
        if hasattr(config, field.name):
            value = getattr(config, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return settings_type(**values)
