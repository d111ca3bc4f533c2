"""Ingest: the customer file as read, then cleaned by explicit rules."""

import tempfile
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MaterializeResult, asset, multi_asset
from pydantic import Field
from upath import UPath

from campaign_pipeline.assets import DATA_ENGINEERING, bucket_ins, bucketed_results, for_each_bucket
from campaign_pipeline.assets import reduced_ins, settings_from
from campaign_pipeline.contracts import dataset_outs, split_by_contract, validated
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import release_memory
from campaign_pipeline.resources import CustomerSource, OutputFiles
from campaign_pipeline.schemas import CleanedCustomers, CustomerDispositions, RawCustomers, RejectedCustomers
from campaign_pipeline.transforms.buckets import spill_into_buckets, stable_sample
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers, income_medians as fit_income_medians

INGEST = "ingest"
DOMAIN = {"group_name": INGEST, "owners": [DATA_ENGINEERING]}  # every asset of this module
RULES = CleaningRules()


RAW_DESCRIPTION = """The customer file, typed: one row per customer and the 29 columns of the source.

Reads ``CAMPAIGN_RAW_CSV`` (TAB, comma or semicolon; day-first or ISO dates, the
day/month order established from the data, never guessed) or, when it is unset, the
seeded synthetic sample. Anything else is refused with the file, column and lines to fix;
under ``customer_source.bad_rows: quarantine`` a bad line is set aside in
``rejected_customers`` instead. Quirks are kept here; ``cleaned_customers`` handles them.
In the partitioned graph each customer goes to the bucket of its duplicate key
(``transforms.buckets``), so copies of one customer share a bucket."""
REJECTED_DESCRIPTION = """Lines of the customer file set aside under ``customer_source.bad_rows: quarantine``:
one row per broken value (``line``, ``ID`` when it could be read, ``column``, ``value``,
``reason``), for a reading rule (a value that cannot be typed, a wrong field count, an ID
two different lines claim) or the ``RawCustomers`` contract. Empty when refusing (the
default) or when nothing is bad. The run is refused instead when more than
``customer_source.max_bad_fraction`` of the lines would be set aside."""


@multi_asset(
    **dataset_outs(
        DOMAIN,
        raw_customers=(RawCustomers, RAW_DESCRIPTION, {"csv", "pandas", "parquet"}),
        rejected_customers=(RejectedCustomers, REJECTED_DESCRIPTION, {"pandas", "pandera", "parquet"}),
    )
)
def raw_customers(context: AssetExecutionContext, customer_source: CustomerSource, output_files: OutputFiles):
    """The reading step: the typed customer file, and the lines it set aside."""
    partitions = context.assets_def.partitions_def
    if partitions is not None:
        return _split_into_buckets(context, customer_source, output_files, partitions.get_partition_keys())
    rejections = customer_source.rejections()
    frame, stats = customer_source.load(rejections)
    frame = _contract_passing(frame, rejections, stats.source)
    rejections.enforce(stats.rows + stats.rejected_lines, customer_source.max_bad_fraction, "customer_source.max_bad_fraction")
    frame.attrs["source"] = stats.source  # named by contract failures; never stored
    context.log.info(f"Read {len(frame)} customers from {stats.source}; {rejections.lines().size} lines set aside")
    return _read_results(customer_source, frame, rejections.table(), _read_metadata(customer_source, stats))


def _contract_passing(frame: pd.DataFrame, rejections, source: str) -> pd.DataFrame:
    """Under quarantine, the rows that meet the RawCustomers contract (the others set aside)."""
    if not rejections.quarantining:
        return frame
    passing, failures = split_by_contract(RawCustomers, frame)
    rejections.add_contract_failures(frame, failures, RawCustomers.__name__, source)
    return passing


def _read_metadata(customer_source: CustomerSource, stats) -> dict:
    return {
        "source": customer_source.label,
        "synthetic": customer_source.is_synthetic,
        "input_fingerprint": customer_source.fingerprint(),
        **{f"read/{key}": value for key, value in stats.as_metadata().items() if key != "source"},
    }


def _read_results(customer_source: CustomerSource, customers: pd.DataFrame, set_aside: pd.DataFrame, metadata: dict):
    return (
        # indexed by file line, so contract failures name lines; the attrs are not stored
        validated(RawCustomers, customers, metadata, asset_key="raw_customers"),
        validated(
            RejectedCustomers,
            set_aside,
            {"bad_rows": customer_source.bad_rows, "lines": set_aside["line"].nunique(), "values": len(set_aside)},
            asset_key="rejected_customers",
        ),
    )


def _split_into_buckets(context, customer_source: CustomerSource, output_files: OutputFiles, all_keys: list[str]):
    """The file read once, in chunks, each chunk's customers appended to the spill file of
    their bucket; only when the whole file has been accepted are the buckets of this run
    checked and written, one at a time."""
    rejections = customer_source.rejections()
    chunks, final_stats = customer_source.chunks(rejections)
    wanted = {all_keys.index(key): key for key in context.partition_keys}
    with tempfile.TemporaryDirectory(prefix="campaign-buckets-") as folder:
        passing = (_contract_passing(chunk, rejections, customer_source.label) for chunk in chunks)
        spilled = spill_into_buckets(passing, len(all_keys), wanted, Path(folder))
        release_memory()
        stats = final_stats()
        rejections.enforce(
            stats.rows + stats.rejected_lines, customer_source.max_bad_fraction, "customer_source.max_bad_fraction"
        )
        rejected = rejections.table()
        # A rejected line has no trustworthy values to hash; its line number places it.
        rejected_bucket = rejected["line"].to_numpy() % len(all_keys)
        context.log.info(f"Read {stats.rows} customers from {stats.source} into {len(all_keys)} buckets")
        metadata = _read_metadata(customer_source, stats)

        def bucket(number: int):
            if number not in spilled:
                raise InputDataError("the customer file has no lines", source=stats.source, expected="customers")
            customers = pd.read_parquet(spilled[number])
            customers.attrs["source"] = stats.source
            set_aside = rejected[rejected_bucket == number].reset_index(drop=True)
            return _read_results(customer_source, customers, set_aside, metadata if number == min(wanted) else {})

        buckets = [(key, lambda number=number: bucket(number)) for number, key in sorted(wanted.items())]
        return bucketed_results(context, buckets, UPath(output_files.base_dir))


class CleaningConfig(Config):
    """The cleaning rules; defaults are ``CleaningRules``'s, every rule's count lands in metadata."""

    deduplicate_ignoring_id: bool = Field(RULES.deduplicate_ignoring_id, description="Drop rows equal on every column but ID")
    conflicting_response: str = Field(
        RULES.conflicting_response,
        description="Duplicate groups that disagree on Response: drop_group, keep_first or positive_if_any",
    )
    min_birth_year: int = Field(RULES.min_birth_year, description="Rows born earlier are impossible ages and are dropped")
    income_placeholders: list[float] = Field(
        list(RULES.income_placeholders), description="Income values that mean 'unknown'"
    )
    missing_income: str = Field(RULES.missing_income, description="impute_median (by education) or drop")
    education_map: dict[str, str] = Field(RULES.education_map, description="Non-standard education levels")
    marital_status_map: dict[str, str] = Field(RULES.marital_status_map, description="Non-standard marital statuses")


def _rules_from(config: CleaningConfig) -> CleaningRules:
    return settings_from(config, CleaningRules)


@asset(**DOMAIN, kinds={"pandas", "parquet"}, ins=reduced_ins("raw_customers"))
def income_medians(config: CleaningConfig, raw_customers) -> MaterializeResult:
    """The median known income per education level (and overall, ``*``) that cleaning fills
    missing incomes with: fitted on a stable sample of every customer
    (``transforms.buckets.stable_sample``; all of them up to ``income_sample`` rows), then
    reapplied to each bucket, so an imputed income does not depend on the bucket. Its
    config is the cleaning rules; ``cleaned_customers`` refuses medians fitted with other
    rules."""
    rules = _rules_from(config)
    sample = stable_sample(raw_customers, rules.income_sample, rules.sample_seed)
    medians = fit_income_medians(sample, rules).assign(rules=rules.fingerprint())
    return MaterializeResult(
        value=medians,
        metadata={"fitted_rows": len(sample), "medians": {row.Education: row.median_income for row in medians.itertuples()}},
    )


CLEANED_DESCRIPTION = """Customers after the cleaning rules, each configurable and counted in metadata,
indexed by their line in the file.

Identical lines, and rows equal on every column but ``ID``, are one customer entered
twice: the first copy stays. Duplicate groups whose copies disagree on ``Response`` are
dropped whole by default (the label is contradictory). Impossible birth years (and
customers too young at enrolment, such as a birth year after the snapshot), and spends or
counts beyond any customer's are dropped; income placeholders and implausible incomes
become missing, and missing income is imputed with the median of the same education level
(``income_imputed`` marks it). Non-standard education levels and marital statuses are
mapped to standard ones."""
DISPOSITIONS_DESCRIPTION = """One row per line of the input file: ``ID``, ``line``, ``disposition`` (``scored``,
``duplicate``, ``dropped`` or ``rejected`` by the reader under quarantine), ``duplicate_of`` (the ID kept for a duplicate, which stands
for it in scores and the contact list) and ``reason`` (the rule that removed the line).
Nobody is left out silently, and nobody is contacted twice."""


@multi_asset(
    **dataset_outs(
        DOMAIN,
        cleaned_customers=(CleanedCustomers, CLEANED_DESCRIPTION, {"pandas", "pandera", "parquet"}),
        customer_dispositions=(CustomerDispositions, DISPOSITIONS_DESCRIPTION, {"pandas", "pandera", "parquet"}),
    ),
    ins={**bucket_ins("raw_customers", "rejected_customers"), "income_medians": AssetIn()},
)
def cleaned_customers(
    context: AssetExecutionContext,
    config: CleaningConfig,
    raw_customers,
    rejected_customers,
    income_medians: pd.DataFrame,
):
    """The cleaning step: the cleaned customers and what became of every line of the file."""
    rules = _rules_from(config)
    fitted_with = set(income_medians["rules"])
    if fitted_with != {rules.fingerprint()}:
        raise InputDataError(
            "the stored income_medians were fitted with other cleaning rules than this step's",
            source="income_medians",
            column="Income",
            expected="the same cleaning config for income_medians and cleaned_customers; rematerialize income_medians",
        )
    medians = income_medians.drop(columns=["rules"])
    return for_each_bucket(
        context,
        lambda raw, rejected: _clean(context, rules, raw, rejected, medians),
        raw=raw_customers,
        rejected=rejected_customers,
    )


def _clean(context, rules: CleaningRules, raw: pd.DataFrame, rejected: pd.DataFrame, medians: pd.DataFrame):
    cleaned, counts, dispositions = clean_customers(raw, rules, medians=medians, rejected=rejected)
    counted = asdict(counts)
    mapped = counted.pop("categories_mapped")
    context.log.info(f"Cleaning kept {counts.rows_out} of {counts.rows_in} lines")
    return (
        validated(
            CleanedCustomers,
            cleaned,
            {
                **{f"cleaning/{key}": value for key, value in counted.items()},
                **{f"cleaning/mapped_{column}": value for column, value in mapped.items()},
            },
            asset_key="cleaned_customers",
        ),
        validated(
            CustomerDispositions,
            dispositions,
            {f"lines/{name}": int(count) for name, count in dispositions["disposition"].value_counts().items()},
            asset_key="customer_dispositions",
        ),
    )
