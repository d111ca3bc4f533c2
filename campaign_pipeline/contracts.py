"""Pandera models as Dagster types: a frame that breaks its contract fails the step before
the IO manager writes it, and the failure cases show in the UI as a table."""

import warnings

import pandas as pd
import pandera.errors as pa_errors
from dagster import BetaWarning, DagsterType, MetadataValue, TableColumn, TableRecord, TableSchema, TypeCheck
from dagster_pandera import pandera_schema_to_dagster_type

FAILURE_CASES_SHOWN = 20


def describe_failures(model_name: str, failures: pd.DataFrame) -> str:
    """One short paragraph: which checks failed on which columns and rows."""
    parts = []
    for (column, check), cases in failures.groupby(["column", "check"], dropna=False, sort=False):
        rows = cases["index"].dropna().astype(str).unique().tolist()
        values = cases["failure_case"].astype(str).unique().tolist()[:3]
        where = f"column '{column}'" if isinstance(column, str) else "the table"
        row_text = f" at row(s) {', '.join(rows[:5])}{' and more' if len(rows) > 5 else ''}" if rows else ""
        parts.append(f"{where} fails {check}{row_text} (values: {', '.join(values)})")
    return (
        f"The data breaks the {model_name} contract, so it was not written: "
        + "; ".join(parts)
        + ". Fix the input or the rule that produced these values, then rerun."
    )


def _failure_table(failures: pd.DataFrame) -> MetadataValue:
    shown = failures.head(FAILURE_CASES_SHOWN)
    columns = ["schema_context", "column", "check", "failure_case", "index"]
    return MetadataValue.table(
        records=[
            TableRecord({c: "" if pd.isna(row[c]) else str(row[c]) for c in columns})
            for _, row in shown.iterrows()
        ],
        schema=TableSchema(columns=[TableColumn(c, "string") for c in columns]),
    )


def contract_type(model) -> DagsterType:
    """The dagster-pandera type for ``model``, with failure cases attached as a table."""
    with warnings.catch_warnings():
        # The integration is marked beta; it is pinned with the Dagster family, so the
        # warning would only repeat on every load without telling users anything.
        warnings.simplefilter("ignore", BetaWarning)
        base = pandera_schema_to_dagster_type(model)
    schema = model.to_schema()

    def check(_context, value) -> TypeCheck:
        if not isinstance(value, pd.DataFrame):
            return TypeCheck(success=False, description=f"Expected a pandas DataFrame, got {type(value).__name__}.")
        try:
            schema.validate(value, lazy=True)
        except pa_errors.SchemaErrors as error:
            failures = error.failure_cases
            return TypeCheck(
                success=False,
                description=describe_failures(model.__name__, failures),
                metadata={
                    "num_failures": len(failures),
                    "failure_cases": _failure_table(failures),
                },
            )
        return TypeCheck(success=True)

    return DagsterType(
        type_check_fn=check,
        name=base.unique_name,
        description=base.description,
        metadata=base.metadata,
        typing_type=pd.DataFrame,
    )
