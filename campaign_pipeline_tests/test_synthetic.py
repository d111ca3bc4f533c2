"""The synthetic generator reproduces the reference file's schema, rates and quirks."""

import pandas as pd
import pytest

from campaign_pipeline.synthetic import COLUMNS, generate_customers, main, write_customers_csv


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return generate_customers(20_000, seed=3)


def test_schema_and_types(synthetic_frame):
    assert tuple(synthetic_frame.columns) == COLUMNS and len(COLUMNS) == 29
    assert len(synthetic_frame) == 2240 and synthetic_frame["ID"].is_unique
    assert synthetic_frame["Income"].dtype == "float64"
    assert synthetic_frame["Dt_Customer"].str.fullmatch(r"\d{2}-\d{2}-\d{4}").all()


def test_same_seed_same_frame_other_seed_differs():
    pd.testing.assert_frame_equal(generate_customers(500, 7), generate_customers(500, 7))
    assert not generate_customers(500, 7).equals(generate_customers(500, 8))


def test_quirks_at_the_reference_rates(large):
    n = len(large)
    assert 0.006 < large["Income"].isna().mean() < 0.016
    assert large["Income"].eq(666666).sum() >= round(n / 2240)  # copies may repeat one
    assert large["Income"].between(150_000, 200_000).sum() >= 40
    assert round(n * 3 / 2240) <= large["Year_Birth"].isin([1893, 1899, 1900]).sum() <= round(n * 3 / 2240) * 1.3
    assert {"Alone", "Absurd", "YOLO", "2n Cycle", "Basic"} <= set(large["Marital_Status"]) | set(large["Education"])
    copies = large.drop(columns=["ID", "Response"]).duplicated().mean()
    assert 0.06 < copies < 0.10
    conflicting = large.drop(columns=["ID"]).groupby(
        [c for c in large.columns if c not in ("ID", "Response")], dropna=False
    )["Response"].nunique()
    assert (conflicting > 1).sum() > 0
    assert large["Z_CostContact"].eq(3).all() and large["Z_Revenue"].eq(11).all()


def test_planted_response_signal(large):
    assert 0.12 < large["Response"].mean() < 0.20
    accepted_any = large[[f"AcceptedCmp{i}" for i in range(1, 6)]].sum(axis=1) > 0
    assert large.loc[accepted_any, "Response"].mean() > 3 * large.loc[~accepted_any, "Response"].mean()
    spend = large.filter(like="Mnt").sum(axis=1)
    assert spend.corr(large["Income"].fillna(large["Income"].median()).clip(upper=200_000)) > 0.5


def test_csv_is_written_like_the_reference_file(tmp_path, synthetic_frame):
    path = tmp_path / "c.csv"
    write_customers_csv(synthetic_frame, path)
    data = path.read_bytes()
    assert data.count(b"\r\n") == len(synthetic_frame) + 1 and b"\t" in data.split(b"\r\n")[0]
    back = pd.read_csv(path, sep="\t")
    assert back.shape == synthetic_frame.shape
    days = back["Dt_Customer"].str.slice(0, 2).astype(int)
    assert (days > 12).any()


def test_command_line_writes_the_requested_rows(tmp_path):
    out = tmp_path / "s.csv"
    assert main(["--customers", "321", "--seed", "2", "--out", str(out)]) == 0
    assert len(pd.read_csv(out, sep="\t")) == 321
