"""Ingest: the customer file as read, then cleaned by explicit rules."""

from dataclasses import asdict

import pandas as pd
from dagster import AssetExecutionContext, Config, Output
from pydantic import Field

from campaign_pipeline.contracts import data_asset
from campaign_pipeline.resources import CustomerSource
from campaign_pipeline.schemas import CleanedCustomers, RawCustomers
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers

INGEST = "ingest"


@data_asset(contract=RawCustomers, group_name=INGEST, code_version="1")
def raw_customers(context: AssetExecutionContext, customer_source: CustomerSource) -> Output[pd.DataFrame]:
    """The customer file, typed: one row per customer and the 29 columns of the source.

    Reads ``CAMPAIGN_RAW_CSV`` (TAB, comma or semicolon; day-first or ISO dates, the
    day/month order established from the data, never guessed) or, when it is unset,
    the seeded synthetic sample. Anything else is refused with the file, column and
    lines to fix. Quirks are kept here; ``cleaned_customers`` handles them.
    """
    frame, stats = customer_source.load()
    frame.attrs["source"] = stats.source  # named by contract failures; never stored
    context.log.info(f"Read {stats.rows} customers from {stats.source}")
    return Output(
        frame,  # indexed by file line, so contract failures name lines; not stored
        metadata={
            "source": customer_source.label,
            "synthetic": customer_source.is_synthetic,
            "input_fingerprint": customer_source.fingerprint(),
            **{f"read/{key}": value for key, value in stats.as_metadata().items() if key != "source"},
        },
    )


class CleaningConfig(Config):
    """The cleaning rules (see ``CleaningRules``); every rule's count lands in metadata."""

    deduplicate_ignoring_id: bool = Field(True, description="Drop rows equal on every column but ID")
    conflicting_response: str = Field(
        "drop_group",
        description="Duplicate groups that disagree on Response: drop_group, keep_first or positive_if_any",
    )
    min_birth_year: int = Field(1901, description="Rows born earlier are impossible ages and are dropped")
    income_placeholders: list[float] = Field([666666.0], description="Income values that mean 'unknown'")
    missing_income: str = Field("impute_median", description="impute_median (by education) or drop")
    education_map: dict[str, str] = Field({"2n Cycle": "Master"}, description="Non-standard education levels")
    marital_status_map: dict[str, str] = Field(
        {"Alone": "Single", "Absurd": "Other", "YOLO": "Other"}, description="Non-standard marital statuses"
    )

    def rules(self) -> CleaningRules:
        return CleaningRules(
            deduplicate_ignoring_id=self.deduplicate_ignoring_id,
            conflicting_response=self.conflicting_response,  # type: ignore[arg-type]
            min_birth_year=self.min_birth_year,
            income_placeholders=tuple(self.income_placeholders),
            missing_income=self.missing_income,  # type: ignore[arg-type]
            education_map=dict(self.education_map),
            marital_status_map=dict(self.marital_status_map),
        )


@data_asset(contract=CleanedCustomers, group_name=INGEST, code_version="1")
def cleaned_customers(
    context: AssetExecutionContext, config: CleaningConfig, raw_customers: pd.DataFrame
) -> Output[pd.DataFrame]:
    """Customers after the cleaning rules, each configurable and counted in metadata.

    Rows equal on every column but ``ID`` are one customer entered twice: the first copy
    stays. Duplicate groups whose copies disagree on ``Response`` are dropped whole by
    default (the label is contradictory). Birth years before 1901 are dropped; the income
    placeholder 666,666 becomes missing and missing income is imputed with the median of
    the same education level (``income_imputed`` marks it). ``2n Cycle`` becomes Master,
    ``Alone`` Single, ``Absurd``/``YOLO`` Other.
    """
    cleaned, counts = clean_customers(raw_customers, config.rules())
    counted = asdict(counts)
    mapped = counted.pop("categories_mapped")
    context.log.info(f"Cleaning kept {counts.rows_out} of {counts.rows_in} rows")
    return Output(
        cleaned,
        metadata={
            **{f"cleaning/{key}": value for key, value in counted.items()},
            **{f"cleaning/mapped_{column}": value for column, value in mapped.items()},
        },
    )

