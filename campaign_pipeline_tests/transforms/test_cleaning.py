"""Cleaning rules on hand-made frames with known answers."""

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import CleanedCustomers, WholeNumber, identical_lines
from campaign_pipeline.transforms.cleaning import CleaningRules, clean_customers, duplicate_groups
from campaign_pipeline.sources.reading import type_customer_table


@pytest.fixture
def raw(synthetic_frame) -> pd.DataFrame:
    # Distinct rows only, so each test plants exactly the quirks it checks.
    frame = synthetic_frame.drop_duplicates(subset=[c for c in synthetic_frame.columns if c not in ("ID", "Response")])
    frame = frame[frame["Year_Birth"].ge(1901) & frame["Income"].notna() & frame["Income"].ne(666666)]
    frame = frame[frame["Marital_Status"].isin(["Single", "Married"]) & frame["Education"].isin(["PhD", "Master"])]
    frame = frame.head(12).reset_index(drop=True)
    typed, _ = type_customer_table(frame, "test", "day_first")
    return typed.reset_index(drop=True)


def copy_of(raw, row, new_id, **changes):
    copy = raw.iloc[[row]].assign(ID=new_id, **changes)
    return pd.concat([raw, copy], ignore_index=True)


def test_clean_table_passes_unchanged(raw):
    cleaned, report, _ = clean_customers(raw, CleaningRules())
    assert report.rows_out == len(raw) == len(cleaned)
    assert not cleaned["income_imputed"].any()
    CleanedCustomers.validate(cleaned)


def test_duplicates_ignoring_id_keep_the_first(raw):
    frame = copy_of(raw, 3, 999_001)
    cleaned, report, _ = clean_customers(frame, CleaningRules())
    assert report.duplicate_rows_dropped == 1 and 999_001 not in cleaned["ID"].to_numpy()


@pytest.mark.parametrize(
    "policy, rows_out, response",
    [("drop_group", 11, None), ("keep_first", 12, "first"), ("positive_if_any", 12, 1)],
)
def test_duplicates_that_disagree_on_response(raw, policy, rows_out, response):
    frame = copy_of(raw, 3, 999_001, Response=1 - raw.loc[3, "Response"])
    cleaned, report, _ = clean_customers(frame, CleaningRules(conflicting_response=policy))
    assert report.rows_out == rows_out
    if policy != "keep_first":
        assert report.conflicting_response_groups == 1
    if response is not None:
        kept = cleaned.loc[cleaned["ID"].eq(raw.loc[3, "ID"]), "Response"].item()
        assert kept == (raw.loc[3, "Response"] if response == "first" else response)


def test_impossible_birth_years_are_dropped(raw):
    raw.loc[[0, 5], "Year_Birth"] = np.array([1893, 1900], dtype=WholeNumber)
    cleaned, report, _ = clean_customers(raw, CleaningRules())
    assert report.impossible_birth_years_dropped == 2 and cleaned["Year_Birth"].min() >= 1901


def test_income_placeholder_and_missing_are_imputed_by_education(raw):
    raw.loc[0, "Income"] = 666666.0
    raw.loc[1, "Income"] = np.nan
    cleaned, report, _ = clean_customers(raw, CleaningRules())
    assert report.income_placeholders_removed == 1 and report.income_imputed == 2
    for row in (0, 1):
        level = raw.loc[row, "Education"]
        known = raw.loc[raw["Education"].eq(level) & ~raw.index.isin([0, 1]), "Income"]
        assert cleaned.loc[row, "Income"] == pytest.approx(known.median())
    assert cleaned["income_imputed"].sum() == 2


def test_missing_income_can_drop_rows(raw):
    raw.loc[2, "Income"] = np.nan
    cleaned, report, _ = clean_customers(raw, CleaningRules(missing_income="drop"))
    assert report.income_missing_rows_dropped == 1 and len(cleaned) == len(raw) - 1


def test_all_income_missing_is_a_clear_error(raw):
    raw["Income"] = np.nan
    with pytest.raises(InputDataError) as caught:
        clean_customers(raw, CleaningRules(), source="customers.csv")
    assert caught.value.column == "Income" and "customers.csv" in str(caught.value)


def test_non_standard_categories_are_mapped(raw):
    raw.loc[0:3, "Marital_Status"] = ["Alone", "YOLO", "Absurd", "Bachelor"]
    raw.loc[0:1, "Education"] = ["2n Cycle", "Doctorate"]
    cleaned, report, _ = clean_customers(raw, CleaningRules())
    assert cleaned.loc[0:3, "Marital_Status"].tolist() == ["Single", "Other", "Other", "Other"]
    assert cleaned.loc[0:1, "Education"].tolist() == ["Master", "Other"]
    assert report.categories_mapped == {"Education": 2, "Marital_Status": 4}


def test_duplicate_groups_are_numbered_as_pandas_numbers_groups():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"ID": np.arange(3_000), "a": rng.integers(0, 4, 3_000), "b": rng.choice([1.5, np.nan], 3_000),
                          "c": pd.Categorical(rng.choice(["x", "y"], 3_000))})  # fmt: skip
    expected = frame.drop(columns=["ID"]).groupby(["a", "b", "c"], dropna=False, sort=False, observed=True).ngroup()
    np.testing.assert_array_equal(duplicate_groups(frame).to_numpy(), expected.to_numpy())
    assert duplicate_groups(frame, ignore=()).nunique() == len(frame)


def test_duplicate_groups_ignore_id_only():
    frame = pd.DataFrame({"ID": [1, 2, 3], "a": [1, 1, 2], "b": [np.nan, np.nan, np.nan]})
    groups = duplicate_groups(frame)
    assert groups[0] == groups[1] != groups[2]


def test_identical_lines_are_found_among_lines_that_share_an_id():
    frame = pd.DataFrame({"ID": [1, 2, 1, 3, 2, 1], "a": [5, 6, 5, 7, 9, 5], "b": [np.nan, 1.0, np.nan, 2.0, 1.0, np.nan]})
    for keep in ("first", False):
        pd.testing.assert_series_equal(identical_lines(frame, keep=keep), frame.duplicated(keep=keep))


def test_real_file_cleaning_counts(real_csv):
    from campaign_pipeline.sources.reading import read_customers

    raw, _ = read_customers(real_csv)
    cleaned, report, _ = clean_customers(raw, CleaningRules())
    assert report.impossible_birth_years_dropped == 3
    assert report.income_placeholders_removed == 1
    assert report.conflicting_response_groups == 19
    assert not cleaned.drop(columns=["ID"]).duplicated().any()
    CleanedCustomers.validate(cleaned)


def test_spends_and_counts_beyond_any_customer_are_dropped_and_listed(raw):
    frame = raw.copy()
    frame.loc[2, "MntWines"] = 250_000
    frame.loc[5, "NumWebVisitsMonth"] = 5_000
    cleaned, report, dispositions = clean_customers(frame, CleaningRules())
    assert report.implausible_spend_dropped == 1 and report.implausible_count_dropped == 1
    assert len(cleaned) == len(raw) - 2
    reasons = dispositions.set_index("line")["reason"]
    assert "Mnt" in reasons[2] and "Num" in reasons[5]


def test_dispositions_name_the_kept_copy_of_every_duplicate(raw):
    frame = pd.concat([copy_of(raw, 3, 999_001), raw.iloc[[7]]], ignore_index=True)  # a copy, and an identical line
    cleaned, report, dispositions = clean_customers(frame, CleaningRules())
    assert len(dispositions) == len(frame) and dispositions["line"].tolist() == frame.index.tolist()
    duplicates = dispositions[dispositions["disposition"] == "duplicate"].set_index("ID")
    assert duplicates.loc[999_001, "duplicate_of"] == raw.loc[3, "ID"]
    assert duplicates.loc[raw.loc[7, "ID"], "duplicate_of"] == raw.loc[7, "ID"]
    assert report.identical_lines_dropped == 1 and report.duplicate_rows_dropped == 1
    assert (dispositions["disposition"] == "scored").sum() == len(cleaned) == len(raw)
