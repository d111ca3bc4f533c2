"""How dataset assets meet their pandera contracts.

A dataset asset declares its contract with ``**dataset_contract(name, Model)`` in its
``@asset`` call (the ``contract`` asset check and the column schema the UI shows before
the first materialization) and ends its body with ``return validated(Model, frame,
metadata)``.

Why a helper called in the body, and not a pandera Dagster type or a blocking check:

- the frame is validated *before* the IO manager writes it, so a frame that breaks its
  contract is never stored (a blocking asset check runs only after the write);
- the ``contract`` check passes with the rows checked; on a broken frame the step fails
  with one short paragraph naming the columns, rows (file lines for ``raw_customers``) and
  values, and the failure cases as a table, so the check shows as failed with the step;
- the asset stays a plain function: it takes its inputs and returns a
  ``MaterializeResult``, so a test calls it directly with ``build_asset_context()``.

Bad input raises :class:`~campaign_pipeline.errors.InputDataError` from the transforms as
it is, with its file, column and lines. Nothing is retried at the asset level; transient
storage errors are retried where they happen, in the IO layer
(:func:`campaign_pipeline.io_managers.write_atomically`).
"""

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pandera.errors as pa_errors
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetOut,
    BetaWarning,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)
from dagster_pandera import pandera_schema_to_dagster_type

from campaign_pipeline.metadata import rounded

CONTRACT_CHECK = "contract"
ROWS_CHECKED = "rows_checked"  # the contract check's count, summed over buckets
FAILURE_CASES_SHOWN = 20


def describe_failures(
    model_name: str,
    failures: pd.DataFrame,
    row_label: str = "row",
    source: str = "",
    check_descriptions: dict[str, str] | None = None,
) -> str:
    """One short paragraph: which checks failed on which columns and rows (file lines when
    the frame is indexed by line, as ``raw_customers`` is)."""
    parts = []
    for (context, column, check), cases in failures.groupby(
        ["schema_context", "column", "check"], dropna=False, sort=False
    ):
        rows = cases["index"].dropna().astype(str).unique().tolist()
        values = cases["failure_case"].astype(str).unique().tolist()[:3]
        where = f"column '{column}'" if context == "Column" else "the table"
        check = (check_descriptions or {}).get(str(check), str(check))
        row_text = f" at {row_label}(s) {', '.join(rows[:5])}{' and more' if len(rows) > 5 else ''}" if rows else ""
        parts.append(f"{where} fails {check}{row_text} (values: {', '.join(values)})")
    origin = f" from {source}" if source else ""
    return (
        f"The data{origin} breaks the {model_name} contract, so it was not written: "
        + "; ".join(parts)
        + ". Fix the input or the rule that produced these values, then rerun."
    )


def failure_table(failures: pd.DataFrame) -> MetadataValue:
    """The first failure cases as a table: column, check, value and row, never whole rows."""
    shown = failures.head(FAILURE_CASES_SHOWN)
    columns = ["column", "check", "failure_case", "index"]
    return MetadataValue.table(
        records=[
            TableRecord({c: "" if pd.isna(row[c]) else str(row[c]) for c in columns}) for _, row in shown.iterrows()
        ],
        schema=TableSchema(columns=[TableColumn(c, "string") for c in columns]),
    )


def contract_failures(model, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The pandera failure cases of ``frame`` against ``model``, or None when it passes."""
    try:
        model.validate(frame, lazy=True, inplace=True)  # nothing is coerced, so no copy is needed
    except pa_errors.SchemaErrors as error:
        return error.failure_cases
    finally:
        # pandera caches a ``.pandera`` accessor on the frame that refers back to it: a cycle
        # that keeps the frame alive after its step until Python's full collection runs.
        frame.__dict__.pop("pandera", None)
    return None


def split_by_contract(model, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rows of ``frame`` that break no row-level rule of ``model``, the failure cases of
    the rows left out). A failure tied to no row (a missing column, a wrong type, a check on
    the whole table) leaves the frame as it is: ``validated`` then refuses all of it."""
    failures = contract_failures(model, frame)
    if failures is None or failures["index"].isna().any():
        return frame, pd.DataFrame(columns=["column", "check", "failure_case", "index"])
    return frame.loc[~frame.index.isin(failures["index"])], failures


def require_contract(model, frame: pd.DataFrame) -> pd.DataFrame:
    """For outputs outside the IO manager (exports): fail, without retry, when ``frame``
    breaks ``model``."""
    failures = contract_failures(model, frame)
    if failures is not None:
        description = describe_failures(model.__name__, failures)
        raise Failure(description=description, metadata={"failure_cases": failure_table(failures)}, allow_retries=False)
    return frame


def column_schema(model) -> TableSchema:
    """The pandera model as a Dagster table schema (names, types, descriptions, checks)."""
    with warnings.catch_warnings():
        # The integration is marked beta; it is pinned with the Dagster family, so the
        # warning would only repeat on every load without telling users anything.
        warnings.simplefilter("ignore", BetaWarning)
        return pandera_schema_to_dagster_type(model).metadata["schema"].value


def dataset_contract(name: str, model) -> dict[str, Any]:
    """``@asset`` arguments for a dataset held to ``model``: its ``contract`` check and its
    column schema (names, types, descriptions, checks) in the UI."""
    return {
        "check_specs": [
            AssetCheckSpec(CONTRACT_CHECK, asset=name, description=f"The output satisfies the {model.__name__} pandera contract")
        ],
        "metadata": {"dagster/column_schema": column_schema(model)},
    }


def dataset_outs(domain: Mapping[str, Any], **outputs: tuple[Any, str, set[str]]) -> dict[str, Any]:
    """``@multi_asset`` arguments for datasets written by one step, each ``name=(model,
    description, kinds)`` with its ``contract`` check and column schema, in ``domain``'s
    group and owners."""
    return {
        "outs": {
            name: AssetOut(**domain, kinds=kinds, description=description, metadata=dataset_contract(name, model)["metadata"])
            for name, (model, description, kinds) in outputs.items()
        },
        "check_specs": [spec for name, (model, _, _) in outputs.items() for spec in dataset_contract(name, model)["check_specs"]],
    }


def validated(
    model, frame: pd.DataFrame, metadata: Mapping[str, Any] | None = None, asset_key: str | None = None
) -> MaterializeResult:
    """``frame`` as the asset's value, with the passed ``contract`` check and ``metadata``
    (figures rounded for reading). When ``frame`` breaks ``model`` the step fails without
    retry, with the failure cases: nothing is written. ``asset_key`` names which asset of a
    multi-asset the frame is."""
    failures = contract_failures(model, frame)
    if failures is None:
        return MaterializeResult(
            asset_key=asset_key,
            value=frame,
            metadata=rounded(metadata or {}),
            check_results=[
                AssetCheckResult(
                    asset_key=asset_key, check_name=CONTRACT_CHECK, passed=True, metadata={ROWS_CHECKED: len(frame)}
                )
            ],
        )
    description = describe_failures(
        model.__name__,
        failures,
        frame.index.name or "row",
        frame.attrs.get("source", ""),
        {check.name: f"'{check.description}'" for check in model.to_schema().checks if check.description},
    )
    details = {"num_failures": len(failures), "failure_cases": failure_table(failures)}
    raise Failure(description=description, metadata=details, allow_retries=False)
