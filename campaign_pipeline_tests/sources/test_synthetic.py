"""The synthetic generator: the reference file's schema, format, quirk rates and the
planted response signal, reproducibly."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.schemas import INPUT_COLUMNS
from campaign_pipeline.sources.synthetic import generate_customers, main, write_customers_csv

CAMPAIGNS = [f"AcceptedCmp{i}" for i in range(1, 6)]
SPEND = [c for c in INPUT_COLUMNS if c.startswith("Mnt")]


@pytest.fixture(scope="module")
def reference_sized() -> pd.DataFrame:
    return generate_customers(2240, seed=0)


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return generate_customers(20_000, seed=3)


def test_columns_and_types_match_the_file(reference_sized):
    assert INPUT_COLUMNS == tuple(reference_sized.columns) and len(INPUT_COLUMNS) == 29
    assert len(reference_sized) == 2240
    text_columns = {"Education", "Marital_Status", "Dt_Customer"}
    for column in INPUT_COLUMNS:
        if column in text_columns:
            assert reference_sized[column].dtype == object
            assert reference_sized[column].map(type).eq(str).all(), column
        elif column == "Income":
            assert reference_sized[column].dtype == np.float64
        else:
            assert reference_sized[column].dtype == np.int64, column
    assert reference_sized["Dt_Customer"].str.fullmatch(r"\d{2}-\d{2}-\d{4}").all()


def test_values_stay_in_the_file_ranges(large):
    enrolled = pd.to_datetime(large["Dt_Customer"], format="%d-%m-%Y")
    assert enrolled.min() >= pd.Timestamp("2012-07-30") and enrolled.max() <= pd.Timestamp("2014-06-29")
    assert large["Recency"].between(0, 99).all() and large["Recency"].nunique() == 100
    assert large[["Kidhome", "Teenhome"]].isin([0, 1, 2]).all().all()
    assert (large[SPEND] >= 0).all().all() and large[CAMPAIGNS + ["Complain", "Response"]].isin([0, 1]).all().all()
    usual = large["Year_Birth"][large["Year_Birth"] > 1900]
    assert usual.between(1940, 1996).all() and abs(usual.mean() - 1969) < 1.5
    assert set(large["Education"]) == {"Graduation", "PhD", "Master", "2n Cycle", "Basic"}
    assert 0.45 < large["Education"].eq("Graduation").mean() < 0.55


def test_same_seed_same_frame_and_bytes_other_seed_differs(tmp_path):
    first, again = generate_customers(3000, seed=7), generate_customers(3000, seed=7)
    pd.testing.assert_frame_equal(first, again)
    write_customers_csv(first, tmp_path / "a.csv")
    write_customers_csv(again, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert not first.equals(generate_customers(3000, seed=8))


def test_ids_are_unique_and_spread_like_the_file():
    frame = generate_customers(100_000, seed=1)
    assert frame["ID"].is_unique and frame["ID"].min() >= 0
    assert 3 * len(frame) < frame["ID"].max() < 7 * len(frame)  # the file: 2,240 IDs in 0..11191
    assert not frame["ID"].is_monotonic_increasing


def test_value_quirks_at_the_reference_rates(large):
    n = len(large)
    income = large["Income"]
    assert income.isna().sum() == round(n * 24 / 2240)
    assert income.eq(666_666).sum() == round(n / 2240)
    assert income.between(150_000, 200_000).sum() == round(n * 7 / 2240)
    impossible = large["Year_Birth"][large["Year_Birth"] < 1940]
    assert len(impossible) == round(n * 3 / 2240) and set(impossible) == {1893, 1899, 1900}
    marital = large["Marital_Status"].value_counts()
    assert [marital["Alone"], marital["Absurd"], marital["YOLO"]] == [round(n * c / 2240) for c in (3, 2, 2)]
    assert large["Z_CostContact"].eq(3).all() and large["Z_Revenue"].eq(11).all()
    assert 0.004 < large["Complain"].mean() < 0.016


def test_placeholder_income_appears_from_a_thousand_customers():
    assert generate_customers(1000, seed=0)["Income"].eq(666_666).sum() == 1


def test_repeated_customers_under_new_ids(large):
    without_id = large.drop(columns=["ID"])
    assert 0.07 < without_id.duplicated().mean() < 0.095  # the file: 182 of 2,240
    others = [c for c in INPUT_COLUMNS if c not in ("ID", "Response")]
    responses = large.groupby(others, dropna=False)["Response"]
    groups = responses.size().gt(1).sum()
    conflicting = responses.nunique().gt(1).sum()
    assert 0.05 < conflicting / groups < 0.16  # the file: 19 of 193 groups
    # Repeats copy ordinary customers, so the quirk counts stay exact.
    repeated = large[large.drop(columns=["ID", "Response"]).duplicated(keep=False)]
    assert repeated["Income"].notna().all() and repeated["Year_Birth"].gt(1900).all()


def test_planted_response_signal(large):
    assert 0.12 < large["Response"].mean() < 0.18
    accepted_any = large[CAMPAIGNS].sum(axis=1) > 0
    assert 0.15 < accepted_any.mean() < 0.28
    assert large.loc[accepted_any, "Response"].mean() > 0.3
    assert large.loc[~accepted_any, "Response"].mean() < 0.12
    assert large["AcceptedCmp2"].mean() < 0.03
    by_recency = large.groupby(large["Recency"] < 30)["Response"].mean()
    assert by_recency[True] > 1.5 * by_recency[False]
    by_teens = large.groupby(large["Teenhome"] > 0)["Response"].mean()
    assert by_teens[False] > 1.5 * by_teens[True]


def test_behaviour_forms_distinct_segments(large):
    spend = large[SPEND].sum(axis=1)
    income = large["Income"].where(large["Income"] < 150_000)
    assert np.log1p(spend).corr(income) > 0.7
    children = large["Kidhome"] + large["Teenhome"]
    affluent_small = spend[(children == 0) & (income > 70_000)].median()
    families = spend[(children >= 2) & (income < 45_000)].median()
    assert affluent_small > 10 * families
    assert income[large["Education"] == "Basic"].median() < 0.6 * income.median()
    assert large[SPEND].sum().idxmax() == "MntWines" and large[SPEND].sum().nlargest(2).index[1] == "MntMeatProducts"


def test_csv_is_written_like_the_reference_file(tmp_path, reference_sized):
    path = tmp_path / "customers.csv"
    write_customers_csv(reference_sized, path)
    data = path.read_bytes()
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == len(reference_sized) + 2
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert lines[0].decode().split("\t") == list(INPUT_COLUMNS)
    assert b"\t\t" in data  # blank incomes are empty fields
    back = pd.read_csv(path, sep="\t")
    pd.testing.assert_frame_equal(back, reference_sized)
    days, months = back["Dt_Customer"].str.slice(0, 2).astype(int), back["Dt_Customer"].str.slice(3, 5).astype(int)
    assert (days > 12).any() and months.between(1, 12).all()


def test_command_line_writes_the_requested_rows(tmp_path):
    out = tmp_path / "customers.csv"
    assert main(["--customers", "321", "--seed", "2", "--out", str(out)]) == 0
    assert len(pd.read_csv(out, sep="\t")) == 321
    with pytest.raises(SystemExit):
        main(["--customers", "0", "--out", str(out)])


def test_module_runs_as_a_command(tmp_path):
    out = tmp_path / "customers.csv"
    command = [sys.executable, "-m", "campaign_pipeline.sources.synthetic", "--customers", "50", "--seed", "1", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t"), generate_customers(50, seed=1))


def test_rejects_an_empty_request():
    with pytest.raises(ValueError):
        generate_customers(0)
