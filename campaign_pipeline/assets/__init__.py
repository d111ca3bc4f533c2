"""Asset definitions, one module per group: thin wiring around ``campaign_pipeline.transforms``.

Every asset is a plain function (inputs in, ``MaterializeResult`` out), so a test calls it
directly with ``build_asset_context()``. Each declares its group, kinds and owner here.
"""

import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy
import sklearn
from dagster import AssetCheckResult, AssetExecutionContext, AssetIn, AssetKey, AssetMaterialization, BoolMetadataValue
from dagster import Config, DagsterEventType, Failure, FloatMetadataValue, IntMetadataValue, JsonMetadataValue
from dagster import MaterializeResult, MetadataValue, TextMetadataValue
from upath import UPath

from campaign_pipeline.contracts import ROWS_CHECKED
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.transforms.response import frame_sha256

from campaign_pipeline.io_managers import COLUMNS, LAZY_BUCKETS, WHOLE_AS_BUCKET, Buckets, KeptModel, WrittenBuckets, bucket_path, card_path
from campaign_pipeline.io_managers import load_verified_pickle, stored_model_path
from campaign_pipeline.io_managers import release_memory, write_parquet

DATA_ENGINEERING = "team:data-engineering"
DATA_SCIENCE = "team:data-science"
MARKETING_ANALYTICS = "team:marketing-analytics"
MODEL_IO = "model_io_manager"
EVALUATION_IO = "evaluation_io_manager"  # computed figures kept for a report: evaluations/*.pkl

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


def fit_key(context: AssetExecutionContext, frames: Iterable[pd.DataFrame], *settings: Any) -> str:
    """What a fitted model is a function of: the rows and columns it is fitted on, its
    settings, the code that fits it (the asset's derived ``code_version``, which follows
    every function it calls) and the versions of the libraries that fit it."""
    assets_def = context.assets_def if context.has_assets_def else None
    code_version = assets_def.code_versions_by_key.get(context.asset_key) if assets_def else None
    libraries = {module.__name__: module.__version__ for module in (np, pd, scipy, sklearn)}
    data = [(list(frame.columns), frame_sha256(frame)) for frame in frames]
    return hashlib.sha256(repr((data, settings, code_version, sys.version, sorted(libraries.items()))).encode()).hexdigest()


Model = TypeVar("Model")


def fitted_or_stored(
    context: AssetExecutionContext, key: str, base_dir: str, fit: Callable[[], Model]
) -> tuple[Model, Model | KeptModel, bool]:
    """(model, value for the model IO manager, reused). When the stored model's card records
    ``key``, fitting again on the same rows, settings, code and libraries would give the
    same model: it is reused and its file left as it is (``KeptModel``). Otherwise ``fit()``
    runs (its errors propagate) and the model carries ``key`` onto its card."""
    stored = stored_model_path(base_dir, context.asset_key.to_user_string())
    card = card_path(stored)
    if stored.exists() and card.exists() and json.loads(card.read_text()).get("fit_key") == key:
        context.log.info(f"Reused the stored model: it was fitted on the same customers, settings and code ({stored}).")
        return load_verified_pickle(stored), KeptModel(stored), True
    model = dataclasses.replace(fit(), fit_key=key)
    return model, model, False


def reduced_in(columns: list[str] | tuple[str, ...]) -> AssetIn:
    """An input that a reduction adds up bucket by bucket (``buckets.count_by``,
    ``buckets.frames_of``): the buckets, read one bucket's ``columns`` at a time, or, in
    the unpartitioned graph, one frame of those columns."""
    return AssetIn(metadata={COLUMNS: list(columns), LAZY_BUCKETS: True})


def reduced_ins(*names: str) -> dict[str, AssetIn]:
    """Inputs a step reads only through the bucket-at-a-time reductions (``buckets.frames_of``,
    ``stable_sample``, ``count_by``), which ask for the columns they use: ``Buckets`` in
    either graph, the unpartitioned dataset being one bucket, so the step never holds every
    column of every customer (a fit's ``stable_sample`` of every column holds the table only
    while it draws the sample)."""
    return {name: AssetIn(metadata={LAZY_BUCKETS: True, WHOLE_AS_BUCKET: True}) for name in names}


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

    def bucket(key: str) -> Callable[[], Any]:
        return lambda: compute(**{name: value.frame(key) if name in partitioned else value for name, value in inputs.items()})

    return bucketed_results(context, [(key, bucket(key)) for key in reference.keys()], reference.base)


def bucketed_results(
    context: AssetExecutionContext | None, buckets: Iterable[tuple[str, Callable[[], Any]]], base: UPath
) -> Any:
    """Each bucket computed and its outputs written atomically under ``base`` as soon as
    they are, so a step over any number of buckets holds one in memory. Returns the
    results' shape (one or a tuple), with counts and checks summed over buckets and
    ``WrittenBuckets`` as values.

    A bucket that fails does not stop the others. When some fail, the step logs the
    buckets it wrote as materialized partitions, then fails naming each failed bucket and
    its error; the failed ones keep their last good files. Re-executing the run from
    failure (by hand or as a run retry) recomputes only the buckets that no run it
    resumes has written."""
    buckets = list(buckets)
    done = {key: logged for key, logged in buckets_done_before(context).items() if key in dict(buckets)}
    if len(done) == len(buckets):  # nothing failed inside the loop before: compute them all
        done = {}
    merged: list[MaterializeResult] | None = None
    written: dict[str, list[WrittenBucket]] = {}
    failed: list[tuple[str, Exception]] = []
    for key, compute in buckets:
        if key in done:
            continue
        try:
            outcome = compute()
            results = [outcome] if isinstance(outcome, MaterializeResult) else list(outcome)
            written[key] = [_write_bucket(result, base, context, key) for result in results]
            summaries = [result._replace(value=None) for result in results]  # no frame outlives its bucket
        except Exception as error:  # the other buckets still run; the step fails at the end
            failed.append((key, error))
            continue
        finally:
            outcome = results = None
            release_memory()
        merged = summaries if merged is None else [_merge(total, summary) for total, summary in zip(merged, summaries)]
    if merged is None and not failed:
        raise ValueError("No buckets to compute")
    if failed:
        _fail_naming_buckets(context, failed, written, len(buckets))
    for key, logged in done.items():  # resumed: written by an earlier run, with the figures it logged
        written[key] = [_stored_bucket(base, _asset_of(total, context), key, logged) for total in merged]
        merged = [_merge(total, _logged_bucket(total, bucket)) for total, bucket in zip(merged, written[key])]
    final = [
        result._replace(
            value=WrittenBuckets(
                {key: parts[i].path for key, parts in written.items()}, sum(parts[i].rows for parts in written.values())
            )
        )
        for i, result in enumerate(merged)
    ]
    return tuple(final) if len(final) > 1 else final[0]


class WrittenBucket(NamedTuple):
    asset_key: AssetKey
    path: UPath
    rows: int
    metadata: Mapping[str, Any]


def _asset_of(result: MaterializeResult, context: AssetExecutionContext | None) -> AssetKey:
    return result.asset_key or context.asset_key


def _write_bucket(result: MaterializeResult, base: UPath, context, key: str) -> WrittenBucket:
    asset_key = _asset_of(result, context)
    path = bucket_path(base, asset_key, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(result.value, path)
    return WrittenBucket(asset_key, path, len(result.value), result.metadata or {})


def _stored_bucket(base: UPath, asset_key: AssetKey, key: str, logged: Mapping[AssetKey, Mapping]) -> WrittenBucket:
    path = bucket_path(base, asset_key, key)
    with path.open("rb") as file:
        return WrittenBucket(asset_key, path, pq.ParquetFile(file).metadata.num_rows, logged[asset_key])


def _logged_bucket(result: MaterializeResult, bucket: WrittenBucket) -> MaterializeResult:
    """A bucket an earlier run wrote, in ``result``'s shape: its logged metadata and passed
    checks (a bucket is written only once its contract has passed) over its rows."""
    checks = [
        AssetCheckResult(asset_key=check.asset_key, check_name=check.check_name, passed=True, metadata={ROWS_CHECKED: bucket.rows})
        for check in result.check_results or []
    ]
    return result._replace(metadata=dict(bucket.metadata), check_results=checks)


def buckets_done_before(context: AssetExecutionContext | None) -> dict[str, dict[AssetKey, dict[str, Any]]]:
    """Bucket -> {asset -> metadata} for the buckets of this step that the runs this run
    re-executes wrote, for every asset of the step, before the step failed there (such a
    run logs each bucket it wrote as a materialized partition). Only runs whose inputs are
    still this run's count: the search stops at the run that last materialized an input of
    this step, and finds nothing when this run did. A step without input assets reads an
    outside source, which may have changed since: it recomputes every bucket."""
    if context is None or not context.has_partition_key_range or context.run.parent_run_id is None:
        return {}
    instance, assets = context.instance, set(context.selected_asset_keys)
    inputs = set(context.assets_def.keys_by_input_name.values())
    if not inputs:
        return {}
    logged: dict[str, dict[AssetKey, dict[str, Any]]] = {}
    run = context.run
    while True:
        materializations = [
            record.asset_materialization
            for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        ]
        if run is not context.run:
            for materialization in materializations:
                if materialization.asset_key in assets and materialization.partition:
                    figures = {name: _plain(value) for name, value in materialization.metadata.items()}
                    logged.setdefault(materialization.partition, {}).setdefault(materialization.asset_key, figures)
        if any(materialization.asset_key in inputs for materialization in materializations) or run.parent_run_id is None:
            break
        run = instance.get_run_by_id(run.parent_run_id)
    return {key: by_asset for key, by_asset in logged.items() if set(by_asset) == assets}


def _plain(value: Any) -> Any:
    """A logged metadata value as the asset gave it, so bucket figures add up again."""
    plain_types = (IntMetadataValue, FloatMetadataValue, BoolMetadataValue, TextMetadataValue, JsonMetadataValue)
    return value.value if isinstance(value, plain_types) else value


def _fail_naming_buckets(
    context, failed: list[tuple[str, Exception]], written: Mapping[str, list[WrittenBucket]], buckets: int
) -> None:
    """Log the buckets written as materialized partitions, then fail with every failed
    bucket's error (a contract failure's cases too)."""
    for key, buckets in written.items():
        for bucket in buckets:
            context.log_event(AssetMaterialization(asset_key=bucket.asset_key, partition=key, metadata=bucket.metadata))
    errors = [error for _, error in failed]
    listed = "\n".join(f"- bucket {key}: {_described(error)}" for key, error in failed)
    raise Failure(
        description=f"{len(failed)} of {buckets} customer buckets failed; the others are written "
        f"and the failed ones keep their last good files. Re-execute the run from failure to retry only these:\n{listed}",
        metadata={
            "failed_buckets": [key for key, _ in failed],
            **next((error.metadata for error in errors if isinstance(error, Failure) and error.metadata), {}),
        },
        allow_retries=not all(isinstance(error, Failure) and not error.allow_retries for error in errors),
    ) from errors[0]


def _described(error: Exception) -> str:
    return error.description if isinstance(error, Failure) and error.description else str(error)


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
