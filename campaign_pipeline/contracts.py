"""How assets meet their pandera contracts and report bad input.

``data_asset`` wraps ``@asset`` so that every asset:

- validates a dataset output against its pandera model *before* the IO manager writes it:
  a frame that breaks the contract is never stored, the ``contract`` asset check fails
  with the failure cases as a table, and the step fails with one short paragraph naming
  the columns, rows and values;
- turns :class:`InputDataError` (bad input, a model that cannot be fitted) into a Dagster
  ``Failure`` that is not retried: the same input would fail the same way;
- retries anything else (a transient I/O error) under one ``RetryPolicy``.

Each dataset asset's column schema, with descriptions and checks, comes from the pandera
model through dagster-pandera, so the UI shows it before the first materialization.
"""

import functools
import inspect
import warnings
from collections.abc import Callable

import pandas as pd
import pandera.errors as pa_errors
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    BetaWarning,
    Backoff,
    Failure,
    MetadataValue,
    Output,
    RetryPolicy,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from dagster_pandera import pandera_schema_to_dagster_type

from campaign_pipeline.errors import InputDataError

CONTRACT_CHECK = "contract"
FAILURE_CASES_SHOWN = 20
# Transient storage errors get two more tries; data errors raise Failure(allow_retries=False).
TRANSIENT_RETRY = RetryPolicy(max_retries=2, delay=1.0, backoff=Backoff.EXPONENTIAL)


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
    return None


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


def _input_failure(error: InputDataError) -> Failure:
    return Failure(
        description=str(error),
        metadata={"column": error.column or "", "lines": MetadataValue.json(error.lines[:50])},
        allow_retries=False,
    )


def _adopt_signature(wrapper: Callable, compute: Callable, keep_return: bool) -> None:
    """Give Dagster the wrapped function's parameters (inputs, config, resources); a
    checked asset yields events, so its return annotation is dropped."""
    del wrapper.__wrapped__
    signature = inspect.signature(compute)
    if not keep_return:
        signature = signature.replace(return_annotation=inspect.Signature.empty)
        wrapper.__annotations__ = {k: v for k, v in compute.__annotations__.items() if k != "return"}
    wrapper.__signature__ = signature


def data_asset(*, contract=None, **asset_kwargs) -> Callable:
    """``@asset`` with the contract check, clear input errors and the retry policy.

    The decorated function returns a DataFrame, or ``Output``/``MaterializeResult``.
    """

    def decorator(compute: Callable):
        if contract is None:

            @functools.wraps(compute)
            def run(*args, **kwargs):
                try:
                    return compute(*args, **kwargs)
                except InputDataError as error:
                    raise _input_failure(error) from error

            _adopt_signature(run, compute, keep_return=True)
            return asset(retry_policy=TRANSIENT_RETRY, **asset_kwargs)(run)

        name = asset_kwargs.get("name", compute.__name__)
        metadata = {**asset_kwargs.pop("metadata", {}), "dagster/column_schema": column_schema(contract)}
        spec = AssetCheckSpec(
            CONTRACT_CHECK, asset=name, description=f"The output satisfies the {contract.__name__} pandera contract"
        )

        @functools.wraps(compute)
        def run_checked(*args, **kwargs):
            try:
                result = compute(*args, **kwargs)
            except InputDataError as error:
                raise _input_failure(error) from error
            output = result if isinstance(result, Output) else Output(result)
            failures = contract_failures(contract, output.value)
            if failures is None:
                yield AssetCheckResult(check_name=CONTRACT_CHECK, passed=True, metadata={"rows_checked": len(output.value)})
                yield output
                return
            frame = output.value
            description = describe_failures(
                contract.__name__,
                failures,
                frame.index.name or "row",
                frame.attrs.get("source", ""),
                {check.name: f"'{check.description}'" for check in contract.to_schema().checks if check.description},
            )
            details = {"num_failures": len(failures), "failure_cases": failure_table(failures)}
            yield AssetCheckResult(
                check_name=CONTRACT_CHECK,
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=description,
                metadata=details,
            )
            raise Failure(description=description, metadata=details, allow_retries=False)

        _adopt_signature(run_checked, compute, keep_return=False)
        return asset(retry_policy=TRANSIENT_RETRY, check_specs=[spec], metadata=metadata, **asset_kwargs)(run_checked)

    return decorator
