"""Asset definitions, one module per group: thin wiring around ``campaign_pipeline.transforms``.

Every asset is a plain function (inputs in, ``MaterializeResult`` out), so a test calls it
directly with ``build_asset_context()``. Each declares its group, kinds and owner here.
"""

import ctypes
import ctypes.util
import dataclasses
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import pyarrow as pa
from dagster import AssetCheckResult, AssetExecutionContext, AssetIn, Config, MaterializeResult, MetadataValue

from campaign_pipeline.errors import InputDataError
from upath import UPath

from campaign_pipeline.io_managers import COLUMNS, LAZY_BUCKETS, Buckets, KeptModel, WrittenBuckets, bucket_path, stored_model_path
from campaign_pipeline.io_managers import write_parquet

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


def columns_in(columns: list[str] | tuple[str, ...]) -> AssetIn:
    """An input read with only ``columns`` (those the dataset has): a reduction over every
    customer holds what it uses, whichever the shape of the graph."""
    return AssetIn(metadata={COLUMNS: list(columns)})


# glibc keeps the pages of freed frames for reuse; a bucket's are better handed back, so that
# a step over many buckets holds one bucket's memory, not the largest it has seen. Arrow
# allocates through the same malloc, so its Parquet buffers are handed back too.
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None
if _LIBC is not None:
    pa.set_memory_pool(pa.system_memory_pool())


def release_memory() -> None:
    """Return the memory of frames already freed to the operating system (glibc only)."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def bucket_ins(*names: str) -> dict[str, AssetIn]:
    """Inputs read bucket by bucket when they are partitioned (``io_managers.Buckets``);
    in the unpartitioned graph they arrive as frames, as ever."""
    return {name: AssetIn(metadata={LAZY_BUCKETS: True}) for name in names}


def for_each_bucket(context: AssetExecutionContext | None, compute: Callable[..., Any], **inputs: Any) -> Any:
    """``compute(**inputs)``: at once when every input is a frame; else once per bucket of
    the partitioned inputs (see ``bucketed_results``). ``compute`` returns one
    ``MaterializeResult`` (value: a frame) or a tuple of them (a multi-asset, each naming
    its asset)."""
    partitioned = {name: value for name, value in inputs.items() if isinstance(value, Buckets)}
    if not partitioned:
        return compute(**inputs)
    reference = next(iter(partitioned.values()))

    def outcomes():
        for key in reference.keys():
            frames = {name: value.frame(key) if name in partitioned else value for name, value in inputs.items()}
            yield key, compute(**frames)

    return bucketed_results(context, outcomes(), reference.base)


def bucketed_results(context: AssetExecutionContext | None, outcomes: Iterable[tuple[str, Any]], base: UPath) -> Any:
    """Each bucket's outputs written atomically under ``base`` as soon as they are computed,
    so a step over any number of buckets holds one in memory and a failure leaves the
    other buckets' last good files intact. Returns the results' shape (one or a tuple),
    with counts and checks summed over buckets and ``WrittenBuckets`` as values."""
    merged: list[MaterializeResult] | None = None
    written: list[dict[str, tuple[UPath, int]]] = []
    for key, outcome in outcomes:
        results = [outcome] if isinstance(outcome, MaterializeResult) else list(outcome)
        summaries = [result._replace(value=None) for result in results]  # no frame outlives its bucket
        if merged is None:
            merged, written = summaries, [{} for _ in results]
        else:
            merged = [_merge(total, summary) for total, summary in zip(merged, summaries)]
        for paths, result in zip(written, results):
            path = bucket_path(base, result.asset_key or context.asset_key, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_parquet(result.value, path)
            paths[key] = (path, len(result.value))
        del outcome, results
        release_memory()
    if merged is None:
        raise ValueError("No buckets to compute")
    final = [
        result._replace(value=WrittenBuckets({key: path for key, (path, _) in paths.items()}, sum(n for _, n in paths.values())))
        for result, paths in zip(merged, written)
    ]
    return tuple(final) if len(final) > 1 else final[0]


def _merge(total: MaterializeResult, result: MaterializeResult) -> MaterializeResult:
    return total._replace(
        metadata=_sum_metadata(total.metadata or {}, result.metadata or {}),
        check_results=[
            AssetCheckResult(
                asset_key=a.asset_key, check_name=a.check_name, passed=a.passed and b.passed,
                metadata=_sum_metadata(a.metadata or {}, b.metadata or {}),
            )  # fmt: skip
            for a, b in zip(total.check_results or [], result.check_results or [])
        ],
    )


def _sum_metadata(total: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """Counts and sums add up across buckets (also inside dicts); anything else is the same
    in every bucket (a source, a rule), so the first stays."""
    merged = dict(total)
    for name, value in more.items():
        before = merged.get(name)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            merged[name] = _sum_metadata(before, value)
        elif _is_number(value) and _is_number(before):
            merged[name] = before + value
        elif name not in merged:
            merged[name] = value
    return merged


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
