"""The synthetic generator: the reference file's schema, format, quirk rates and the
planted response signal, reproducibly; files of any size written chunk by chunk, with
the same rows as the frame; bad lines planted where the manifest says."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pytest

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import INPUT_COLUMNS, RawCustomers
from campaign_pipeline.sources.reading import read_customers, type_customer_table
from campaign_pipeline.sources.synthetic import (
    BAD_LINE_COLUMNS,
    BAD_LINE_RULES,
    CHUNK_ROWS,
    bad_lines_path,
    chunk_sizes,
    generate_customers,
    iter_customer_chunks,
    main,
    read_bad_lines,
    write_customers_csv,
    write_synthetic_customers,
)

CAMPAIGNS = [f"AcceptedCmp{i}" for i in range(1, 6)]
SPEND = [c for c in INPUT_COLUMNS if c.startswith("Mnt")]


@pytest.fixture(scope="module")
def reference_sized() -> pd.DataFrame:
    return generate_customers(2240, seed=0)


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return generate_customers(20_000, seed=3)


MULTI_CHUNK = 250_000  # three chunks


@pytest.fixture(scope="module")
def multi_chunk() -> pd.DataFrame:
    return generate_customers(MULTI_CHUNK, seed=4)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """The multi-chunk customers written by the command, in another process."""
    path = tmp_path_factory.mktemp("streamed") / "customers.csv"
    command = [sys.executable, "-m", "campaign_pipeline.sources.synthetic", "--customers", str(MULTI_CHUNK),
               "--seed", "4", "--out", str(path)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return path


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


@pytest.mark.parametrize("sample", ["large", "multi_chunk"])
def test_value_quirks_at_the_reference_rates(sample, request):
    large = request.getfixturevalue(sample)
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


@pytest.mark.parametrize("sample", ["large", "multi_chunk"])
def test_repeated_customers_under_new_ids(sample, request):
    large = request.getfixturevalue(sample)
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


def test_command_line_writes_the_requested_rows(tmp_path, capsys):
    out = tmp_path / "customers.csv"
    assert main(["--customers", "321", "--seed", "2", "--out", str(out)]) == 0
    assert len(pd.read_csv(out, sep="\t")) == 321
    printed = capsys.readouterr().out
    assert f"Wrote 321 synthetic customers (seed 2) to {out} in " in printed and printed.rstrip().endswith(" s")
    assert main(["--customers", "321", "--seed", "2", "--out", str(out), "--bad-lines", "7"]) == 0
    assert f"7 bad lines listed in {bad_lines_path(out)}" in capsys.readouterr().out
    assert len(read_bad_lines(out)) == 7
    for wrong in (["--customers", "0"], ["--customers", "5", "--bad-lines", "6"], ["--bad-lines", "-1"]):
        with pytest.raises(SystemExit):
            main([*wrong, "--out", str(out)])


def test_module_runs_as_a_command(tmp_path):
    out = tmp_path / "customers.csv"
    command = [sys.executable, "-m", "campaign_pipeline.sources.synthetic", "--customers", "50", "--seed", "1", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t"), generate_customers(50, seed=1))


def test_rejects_an_empty_request():
    with pytest.raises(ValueError):
        generate_customers(0)


def test_chunks_are_nearly_equal_and_a_sample_up_to_a_chunk_is_one():
    assert chunk_sizes(2240) == [2240] and chunk_sizes(CHUNK_ROWS) == [CHUNK_ROWS]
    assert chunk_sizes(CHUNK_ROWS + 1) == [50_001, 50_000]
    assert chunk_sizes(MULTI_CHUNK) == [83_334, 83_333, 83_333]
    assert chunk_sizes(10_000_000) == [CHUNK_ROWS] * 100


def test_frame_is_its_chunks(multi_chunk):
    chunks = list(iter_customer_chunks(MULTI_CHUNK, seed=4))
    assert [len(chunk) for chunk in chunks] == chunk_sizes(MULTI_CHUNK)
    pd.testing.assert_frame_equal(pd.concat(chunks), multi_chunk)
    assert multi_chunk.index.equals(pd.RangeIndex(MULTI_CHUNK))


def test_ids_stay_unique_across_chunks(multi_chunk):
    assert multi_chunk["ID"].is_unique and multi_chunk["ID"].min() >= 0
    assert 3 * MULTI_CHUNK < multi_chunk["ID"].max() < 7 * MULTI_CHUNK


def test_repeats_copy_a_customer_of_their_own_chunk(multi_chunk):
    chunk = np.repeat(np.arange(3), chunk_sizes(MULTI_CHUNK))
    others = [c for c in INPUT_COLUMNS if c not in ("ID", "Response")]
    groups = multi_chunk.groupby(others, dropna=False).ngroup()
    chunks_per_group = pd.Series(chunk).groupby(groups.to_numpy()).nunique()
    assert chunks_per_group.eq(1).all()
    assert len(chunks_per_group) < 0.95 * MULTI_CHUNK  # repeats are there


def test_streamed_file_is_the_frame_written(streamed, multi_chunk, tmp_path):
    in_memory = tmp_path / "in_memory.csv"
    write_customers_csv(multi_chunk, in_memory)
    assert streamed.read_bytes() == in_memory.read_bytes()
    assert not bad_lines_path(streamed).exists()


def test_streamed_file_is_the_same_on_every_run(streamed, tmp_path):
    again = tmp_path / "again.csv"
    assert write_synthetic_customers(again, MULTI_CHUNK, seed=4).empty
    assert again.read_bytes() == streamed.read_bytes()
    assert not again.with_name("again.csv.partial").exists()


def test_streamed_file_reads_as_the_frame(streamed, multi_chunk):
    read, stats = read_customers(streamed)
    lines = pd.RangeIndex(2, 2 + MULTI_CHUNK, name="line")
    expected, _ = type_customer_table(multi_chunk.set_axis(lines), "frame", "day_first")
    pd.testing.assert_frame_equal(read, expected)
    assert stats.rows == MULTI_CHUNK and stats.date_format == "dd-mm-yyyy"


BAD_SAMPLE, BAD_LINES = 6000, 14


@pytest.fixture(scope="module")
def clean_and_bad(tmp_path_factory) -> tuple[list[str], list[str], pd.DataFrame]:
    """The lines of a clean file and of the same file with bad lines, and the manifest."""
    folder = tmp_path_factory.mktemp("bad_lines")
    write_synthetic_customers(folder / "clean.csv", BAD_SAMPLE, seed=9)
    returned = write_synthetic_customers(folder / "bad.csv", BAD_SAMPLE, seed=9, bad_lines=BAD_LINES)
    manifest = read_bad_lines(folder / "bad.csv")
    pd.testing.assert_frame_equal(manifest, returned)
    lines = [(folder / name).read_bytes().decode().split("\r\n") for name in ("clean.csv", "bad.csv")]
    return lines[0], lines[1], manifest


def test_manifest_lists_exactly_the_spoiled_lines(clean_and_bad):
    clean, bad, manifest = clean_and_bad
    assert tuple(manifest.columns) == BAD_LINE_COLUMNS and len(manifest) == BAD_LINES
    differing = [number for number, (a, b) in enumerate(zip(clean, bad), start=1) if a != b]
    assert len(clean) == len(bad) and differing == manifest["line"].tolist()
    for row in manifest.itertuples():
        fields = dict(zip(INPUT_COLUMNS, bad[row.line - 1].split("\t")))
        original = dict(zip(INPUT_COLUMNS, clean[row.line - 1].split("\t")))
        assert fields[row.column] == row.value != original[row.column]
        del fields[row.column], original[row.column]
        assert fields == original  # only that field is spoiled
    assert {(rule.column, rule.rule, rule.stage) for rule in BAD_LINE_RULES} == set(
        manifest[["column", "rule", "stage"]].itertuples(index=False, name=None)
    )
    # Scattered over the whole file, not bunched at its start.
    assert manifest["line"].min() < BAD_SAMPLE / 4 and manifest["line"].max() > 3 * BAD_SAMPLE / 4


def test_bad_lines_depend_on_the_seed_only(clean_and_bad, tmp_path):
    _, bad, manifest = clean_and_bad
    again = write_synthetic_customers(tmp_path / "again.csv", BAD_SAMPLE, seed=9, bad_lines=BAD_LINES)
    pd.testing.assert_frame_equal(again, manifest)
    assert (tmp_path / "again.csv").read_bytes().decode().split("\r\n") == bad
    other = write_synthetic_customers(tmp_path / "other.csv", BAD_SAMPLE, seed=10, bad_lines=BAD_LINES)
    assert other["line"].tolist() != manifest["line"].tolist()


def test_each_bad_line_alone_is_refused_for_its_rule(clean_and_bad, tmp_path):
    clean, bad, manifest = clean_and_bad
    path = tmp_path / "one_bad_line.csv"
    for row in manifest.itertuples():
        lines = list(clean)
        lines[row.line - 1] = bad[row.line - 1]
        path.write_bytes("\r\n".join(lines).encode())
        if row.stage == "reading":
            with pytest.raises(InputDataError) as refused:
                read_customers(path)
            error = refused.value
            assert (error.column, error.lines) == (row.column, [row.line])
            assert row.rule in str(error) and f"column '{row.column}', line {row.line}:" in str(error)
        else:
            frame, _ = read_customers(path)
            with pytest.raises(pa_errors.SchemaErrors) as refused:
                RawCustomers.validate(frame, lazy=True)
            cases = refused.value.failure_cases
            assert cases[["column", "check", "index"]].values.tolist() == [[row.column, row.rule, row.line]]
            assert str(cases["failure_case"].item()) == row.value


def test_a_file_with_bad_lines_is_refused_at_one_of_them(clean_and_bad, tmp_path):
    _, bad, manifest = clean_and_bad
    path = tmp_path / "bad.csv"
    path.write_bytes("\r\n".join(bad).encode())
    with pytest.raises(InputDataError) as refused:
        read_customers(path)
    planted = manifest[manifest["column"].eq(refused.value.column)]
    assert refused.value.lines == planted["line"].tolist()


def test_no_bad_lines_removes_an_old_manifest(tmp_path):
    path = tmp_path / "customers.csv"
    write_synthetic_customers(path, 300, seed=1, bad_lines=3)
    assert len(read_bad_lines(path)) == 3
    write_synthetic_customers(path, 300, seed=1)
    assert not bad_lines_path(path).exists()
    with pytest.raises(ValueError):
        write_synthetic_customers(path, 300, seed=1, bad_lines=301)
