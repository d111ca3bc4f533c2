"""raw_customers and cleaned_customers, called directly."""

import hashlib

import pandas as pd
import pytest
from dagster import DagsterInstance, Failure, materialize

from campaign_pipeline.assets.ingest import (
    CleaningConfig,
    cleaned_customers,
    income_medians,
    raw_customers,
)
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import ParquetIOManagerFactory
from campaign_pipeline.resources import CustomerSource, OutputFiles
from campaign_pipeline.schemas import INPUT_COLUMNS
from campaign_pipeline.sources.synthetic import generate_customers, write_customers_csv
from campaign_pipeline_tests.harness import checksums, write_with_bad_lines

CUSTOMERS, SEED = 600, 3


def test_raw_customers_synthetic_is_indexed_by_file_line_with_29_columns(chain):
    result = chain["raw_customers"]
    frame = result.value
    assert len(INPUT_COLUMNS) == 29
    assert list(frame.columns) == list(INPUT_COLUMNS)
    assert frame.index.name == "line"
    assert list(frame.index) == list(range(2, 2 + CUSTOMERS))
    assert result.metadata["synthetic"] is True
    assert result.metadata["source"] == f"synthetic sample ({CUSTOMERS} customers, seed {SEED})"
    assert result.metadata["input_fingerprint"] == f"synthetic:{CUSTOMERS}:{SEED}"
    assert result.metadata["read/rows"] == CUSTOMERS
    assert [check.passed for check in result.check_results] == [True]
    assert result.check_results[0].check_name == "contract"


def test_raw_customers_is_the_seeded_sample(chain):
    expected = generate_customers(CUSTOMERS, SEED)
    frame = chain.value("raw_customers")
    assert frame["ID"].tolist() == expected["ID"].tolist()
    assert frame["Recency"].tolist() == expected["Recency"].tolist()


def test_raw_customers_reads_a_csv_file(tmp_path, context):
    source_frame = generate_customers(50, 11)
    path = tmp_path / "customers.csv"
    write_customers_csv(source_frame, path)
    result, rejected = raw_customers(
        context, customer_source=CustomerSource(path=str(path)), output_files=OutputFiles(base_dir=str(tmp_path))
    )
    frame = result.value
    assert rejected.value.empty and rejected.metadata["bad_rows"] == "refuse"
    assert result.metadata["synthetic"] is False
    assert result.metadata["source"] == str(path)
    assert result.metadata["input_fingerprint"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.metadata["read/separator"] == "TAB"
    assert len(frame) == 50
    assert list(frame.index) == list(range(2, 52))
    assert frame["ID"].tolist() == source_frame["ID"].tolist()
    assert frame["MntWines"].tolist() == source_frame["MntWines"].tolist()
    assert result.check_results[0].passed


def test_raw_customers_refuses_text_in_recency_naming_column_and_line(tmp_path, context):
    source_frame = generate_customers(30, 5).astype({"Recency": object})
    source_frame.loc[6, "Recency"] = "soon"  # 7th data row: file line 8
    path = tmp_path / "broken.csv"
    write_customers_csv(source_frame, path)
    with pytest.raises(InputDataError) as raised:
        raw_customers(context, customer_source=CustomerSource(path=str(path)), output_files=OutputFiles(base_dir=str(tmp_path)))
    error = raised.value
    assert error.column == "Recency"
    assert error.lines == [8]
    assert "'Recency'" in str(error) and "line 8" in str(error)


def test_raw_customers_refuses_a_missing_file(tmp_path, context):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(InputDataError, match="does not exist"):
        raw_customers(context, customer_source=CustomerSource(path=str(missing)), output_files=OutputFiles(base_dir=str(tmp_path)))


def test_cleaned_customers_drops_impossible_birth_years(chain):
    result = chain["cleaned_customers"]
    raw, cleaned = chain.value("raw_customers"), result.value
    metadata = result.metadata
    impossible = raw["Year_Birth"] < CleaningConfig().min_birth_year
    assert impossible.sum() >= 1  # the sample has at least one, or the test proves nothing
    assert metadata["cleaning/impossible_birth_years_dropped"] == int(impossible.sum())
    assert cleaned["Year_Birth"].min() >= CleaningConfig().min_birth_year
    assert metadata["cleaning/rows_in"] == len(raw)
    assert metadata["cleaning/rows_out"] == len(cleaned)
    assert len(cleaned) < len(raw)
    assert cleaned["ID"].is_unique
    assert result.check_results[0].passed


def test_cleaned_customers_counts_follow_the_config(chain, context, clean):
    raw = chain.value("raw_customers")
    strict, _ = clean(context, CleaningConfig(min_birth_year=1950), raw)
    default_dropped = chain["cleaned_customers"].metadata["cleaning/impossible_birth_years_dropped"]
    strict_dropped = strict.metadata["cleaning/impossible_birth_years_dropped"]
    assert strict_dropped > default_dropped
    assert strict.value["Year_Birth"].min() >= 1950
    assert len(strict.value) < len(chain.value("cleaned_customers"))


def test_cleaned_customers_imputes_missing_income(chain):
    cleaned = chain.value("cleaned_customers")
    metadata = chain["cleaned_customers"].metadata
    assert cleaned["Income"].notna().all()
    assert int(cleaned["income_imputed"].sum()) == metadata["cleaning/income_imputed"]


def test_cleaned_customers_fails_the_contract_on_negative_recency(chain, context, clean):
    raw = chain.value("raw_customers").copy()
    raw.loc[raw.index[0], "Recency"] = -5
    with pytest.raises(Failure) as raised:
        clean(context, CleaningConfig(), raw)
    assert "CleanedCustomers" in raised.value.description
    assert "'Recency'" in raised.value.description
    assert "-5" in raised.value.description


def test_customer_dispositions_account_for_every_line(chain):
    raw, cleaned = chain.value("raw_customers"), chain.value("cleaned_customers")
    result = chain["customer_dispositions"]
    dispositions = result.value
    assert dispositions["line"].tolist() == raw.index.tolist()  # one row per line, in file order
    scored = dispositions[dispositions["disposition"] == "scored"]
    assert scored["line"].tolist() == cleaned.index.tolist() and scored["ID"].tolist() == cleaned["ID"].tolist()
    duplicates = dispositions[dispositions["disposition"] == "duplicate"]
    assert len(duplicates) > 0 and duplicates["duplicate_of"].isin(cleaned["ID"]).all()
    dropped = dispositions[dispositions["disposition"] == "dropped"]
    assert (dropped["reason"] != "").all() and dropped["reason"].str.contains("Year_Birth").any()
    assert result.metadata["lines/scored"] == len(cleaned) and result.check_results[0].passed


def test_implausible_values_are_handled_by_named_rules(chain, context, clean):
    raw = chain.value("raw_customers").copy()
    income_line, birth_line = raw.index[3], raw.index[4]
    raw.loc[income_line, "Income"] = 1e12
    raw.loc[birth_line, "Year_Birth"] = 2016  # after the reference date, and after enrolment
    cleaned, dispositions = clean(context, CleaningConfig(), raw)
    assert cleaned.metadata["cleaning/implausible_incomes_removed"] == 1
    assert cleaned.value.loc[income_line, "Income"] < 1e6 and cleaned.value.loc[income_line, "income_imputed"]
    assert cleaned.metadata["cleaning/too_young_at_enrolment_dropped"] == 1
    assert birth_line not in cleaned.value.index
    fate = dispositions.value.set_index("line").loc[birth_line]
    assert fate["disposition"] == "dropped" and "Year_Birth" in fate["reason"]


def materialize_ingest(data_dir, source: CustomerSource):
    """raw_customers, rejected_customers, income_medians, cleaned_customers and customer_dispositions
    through the Parquet IO manager, as a run writes them."""
    return materialize(
        [raw_customers, income_medians, cleaned_customers],
        resources={
            "io_manager": ParquetIOManagerFactory(base_dir=str(data_dir)),
            "customer_source": source,
            "output_files": OutputFiles(base_dir=str(data_dir)),
        },
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_quarantine_materializes_the_rest_and_lists_every_bad_line(tmp_path):
    frame = generate_customers(320, 9).drop_duplicates(subset="ID").head(300).reset_index(drop=True)
    frame.loc[97, "MntMeatProducts"] = -40  # breaks the RawCustomers contract on line 99
    csv = tmp_path / "bad.csv"
    expected = {**write_with_bad_lines(frame, csv), 99: "RawCustomers contract: greater_than_or_equal_to(0)"}
    data_dir = tmp_path / "data"
    source = CustomerSource(path=str(csv), bad_rows="quarantine", max_bad_fraction=0.05)
    assert materialize_ingest(data_dir, source).success
    rejected = pd.read_parquet(data_dir / "rejected_customers.parquet")
    assert sorted(rejected["line"].unique()) == sorted(expected)
    for line, words in expected.items():
        assert rejected.loc[rejected["line"].eq(line), "reason"].str.contains(words, regex=False).all(), (line, words)
    contract = rejected[rejected["line"].eq(99)]
    assert contract[["column", "value"]].values.tolist() == [["MntMeatProducts", "-40"]]
    assert contract["ID"].tolist() == [frame.loc[97, "ID"]]
    raw = pd.read_parquet(data_dir / "raw_customers.parquet")
    assert len(raw) == 300 - len(expected) and not raw.index.isin(list(expected)).any()
    dispositions = pd.read_parquet(data_dir / "customer_dispositions.parquet")
    assert dispositions["line"].tolist() == list(range(2, 302))  # one row per data line of the file
    set_aside = dispositions[dispositions["disposition"].eq("rejected")]
    assert sorted(set_aside["line"]) == sorted(expected) and set_aside["reason"].ne("").all()


def test_too_many_bad_lines_refuse_the_file_and_write_nothing(tmp_path):
    frame = generate_customers(320, 9).drop_duplicates(subset="ID").head(300).reset_index(drop=True)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    write_customers_csv(frame, good)
    expected = write_with_bad_lines(frame, bad)
    data_dir = tmp_path / "data"
    assert materialize_ingest(data_dir, CustomerSource(path=str(good), bad_rows="quarantine")).success
    before = checksums(data_dir)
    assert set(before) >= {"raw_customers.parquet", "rejected_customers.parquet", "customer_dispositions.parquet"}
    limit = len(expected) / 300 / 2
    result = materialize_ingest(data_dir, CustomerSource(path=str(bad), bad_rows="quarantine", max_bad_fraction=limit))
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert str(bad) in failure and "line 120" in failure and "customer_source.max_bad_fraction" in failure
    assert f"{len(expected)} of 300 lines" in failure
    assert checksums(data_dir) == before
