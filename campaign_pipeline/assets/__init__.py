"""Asset definitions, one module per group: thin wiring around ``campaign_pipeline.transforms``.

Every asset is a plain function (inputs in, ``MaterializeResult`` out), so a test calls it
directly with ``build_asset_context()``. Each declares its group, kinds and owner here.
"""

import dataclasses
from typing import TypeVar

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import KeptModel, stored_model_path

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


def keep_last_good_model(context: AssetExecutionContext, error: InputDataError, base_dir: str) -> MaterializeResult:
    """When the data cannot train the asset's model, keep serving the last good one (so
    scoring still runs downstream) and say why; with none stored, the error stands."""
    kept = stored_model_path(base_dir, context.asset_key.to_user_string())
    if not kept.exists():
        raise error
    context.log.warning(f"{error} The last good model is kept and scores this run: {kept}")
    return MaterializeResult(
        value=KeptModel(kept),
        metadata={"refitted": False, "reason": str(error), "kept_model": MetadataValue.path(str(kept))},
    )
