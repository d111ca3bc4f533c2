"""Property-based tests of the reader, the cleaning rules and the feature formulas, with a
fixed, bounded example budget (derandomized, so CI runs the same examples every time)."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upath import UPath

from campaign_pipeline.io_managers import write_parquet
from campaign_pipeline.sources.synthetic import generate_customers, write_customers_csv
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.sources.reading import read_customers, type_customer_table

BUDGET = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SIZES = st.integers(min_value=1, max_value=120)
SEEDS = st.integers(min_value=0, max_value=10_000)
REFERENCE = pd.Timestamp("2014-12-31")


def typed(n: int, seed: int) -> pd.DataFrame:
    """As the reader gives it: indexed by file line."""
    frame = generate_customers(n, seed)
    frame.index = pd.RangeIndex(2, 2 + n, name="line")
    return type_customer_table(frame, "synthetic", "day_first")[0]


@BUDGET
@given(n=SIZES, seed=SEEDS, separator=st.sampled_from(["\t", ",", ";"]), date_format=st.sampled_from(
    ["%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d"]), crlf=st.booleans())
def test_reader_returns_the_same_table_for_every_variant(tmp_path_factory, n, seed, separator, date_format, crlf):
    frame = generate_customers(n, seed)
    frame.loc[0, "Dt_Customer"] = "28-02-2013"  # one unambiguous date establishes the order
    path = tmp_path_factory.mktemp("variant") / "c.csv"
    variant = frame.assign(Dt_Customer=pd.to_datetime(frame["Dt_Customer"], format="%d-%m-%Y").dt.strftime(date_format))
    variant.to_csv(path, sep=separator, index=False, lineterminator="\r\n" if crlf else "\n", float_format="%.0f")
    read, report = read_customers(path)
    expected, _ = type_customer_table(frame, "x", "day_first")
    pd.testing.assert_frame_equal(read.reset_index(drop=True), expected.reset_index(drop=True))
    assert report.rows == len(read)


@BUDGET
@given(n=SIZES, seed=SEEDS, policy=st.sampled_from(["drop_group", "keep_first", "positive_if_any"]))
def test_cleaning_never_adds_rows_and_every_row_traces_to_an_input_id(n, seed, policy):
    raw = typed(n, seed)
    cleaned, report, _ = clean_customers(raw, CleaningRules(conflicting_response=policy))
    assert len(cleaned) <= len(raw) and report.rows_out == len(cleaned)
    assert set(cleaned["ID"]) <= set(raw["ID"])
    assert not cleaned.drop(columns=["ID"]).duplicated().any() or policy == "keep_first"
    assert cleaned["Year_Birth"].ge(1901).all() and cleaned["Income"].notna().all()


@BUDGET
@given(n=SIZES, seed=SEEDS, days=st.integers(min_value=0, max_value=4000))
def test_features_are_finite_and_in_range(n, seed, days):
    cleaned, _, _ = clean_customers(typed(n, seed), CleaningRules())
    features = engineer_features(cleaned, REFERENCE + pd.Timedelta(days=days))
    numeric = features.select_dtypes("number").drop(columns=["conversion_rate"])
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    assert features["conversion_rate"].between(0, 1).all()
    assert (features["tenure_months"] >= 0).all() and (features["family_size"] >= 1).all()
    assert (features["total_interactions"] >= features["total_purchases"]).all()


@BUDGET
@given(n=SIZES, seed=SEEDS)
def test_written_parquet_reads_back_equal(tmp_path_factory, n, seed):
    cleaned, _, _ = clean_customers(typed(n, seed), CleaningRules())
    path = tmp_path_factory.mktemp("parquet") / "x.parquet"
    write_parquet(cleaned, UPath(path))
    pd.testing.assert_frame_equal(pd.read_parquet(path), cleaned)


def test_csv_written_by_the_generator_reads_back(tmp_path):
    frame = generate_customers(300, 4)
    write_customers_csv(frame, tmp_path / "c.csv")
    read, report = read_customers(tmp_path / "c.csv")
    assert len(read) == 300 and read["ID"].nunique() == 300 - report.identical_lines
