"""The reader accepts every circulating variant of the customer file and refuses the rest."""

import csv

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import INPUT_COLUMNS, RawCustomers, RejectedCustomers, WholeNumber
from campaign_pipeline.sources import reading
from campaign_pipeline.sources.reading import Rejections, iter_customer_chunks, read_customers
from campaign_pipeline.sources.synthetic import write_customers_csv
from campaign_pipeline_tests.harness import write_with_bad_lines


def write_variant(frame, path, sep="\t", date_format="%d-%m-%Y", line_end="\n", bom=False, quoting=csv.QUOTE_MINIMAL):
    """Write ``frame`` the way a re-save of the file would look."""
    out = frame.copy()
    if date_format:  # None keeps the date strings exactly as given
        out["Dt_Customer"] = pd.to_datetime(out["Dt_Customer"], format="%d-%m-%Y").dt.strftime(date_format)
    text = out.to_csv(sep=sep, index=False, lineterminator=line_end, quoting=quoting)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.fixture
def sample(synthetic_frame):
    # Line 3 of the file holds a date whose day is above 12, so the order is established.
    frame = synthetic_frame.head(40).copy().reset_index(drop=True)
    frame.loc[1, "Dt_Customer"] = "25-03-2013"
    return frame


@pytest.mark.parametrize(
    "sep, date_format, line_end, bom",
    [
        ("\t", "%d-%m-%Y", "\r\n", False),
        (",", "%d-%m-%Y", "\n", False),
        (";", "%d/%m/%Y", "\r\n", True),
        (",", "%d.%m.%Y", "\n", False),
        (";", "%Y-%m-%d", "\n", True),
    ],
)
def test_every_variant_reads_to_the_same_table(tmp_path, sample, sep, date_format, line_end, bom):
    reference, _ = read_customers(write_variant(sample, tmp_path / "ref.csv"))
    frame, report = read_customers(write_variant(sample, tmp_path / "v.csv", sep, date_format, line_end, bom))
    pd.testing.assert_frame_equal(frame, reference)
    assert report.byte_order_mark is bom
    assert report.line_ending == ("CRLF" if line_end == "\r\n" else "LF")
    assert frame.loc[3, "Dt_Customer"] == pd.Timestamp("2013-03-25")
    RawCustomers.validate(frame)


@pytest.mark.parametrize("sep, line_end, bom", [("\t", "\n", False), (",", "\r\n", True), (";", "\n", False)])
def test_fast_and_general_readers_give_the_same_table(tmp_path, sample, sep, line_end, bom, monkeypatch):
    path = write_variant(sample, tmp_path / "v.csv", sep=sep, line_end=line_end, bom=bom)
    assert reading._read_plain_file(path.read_bytes(), sep) is not None  # a plain file takes the fast path
    fast = read_customers(path)
    monkeypatch.setattr(reading, "_read_plain_file", lambda raw, separator: None)
    general = read_customers(path)
    pd.testing.assert_frame_equal(fast[0], general[0])
    assert fast[1] == general[1]


@pytest.mark.parametrize(
    "column, cell",
    [("NumWebVisitsMonth", cell) for cell in ("NA", "nan", "7.5", "")]
    + [("Income", cell) for cell in ("nan", "NaN", "n/a", "1_000")],  # pyarrow reads "nan" as a number
)
def test_anything_but_plain_numbers_leaves_the_fast_path(tmp_path, sample, column, cell):
    sample[column] = sample[column].astype(object)
    sample.loc[3, column] = cell
    path = write_variant(sample, tmp_path / "v.csv")
    assert reading._read_plain_file(path.read_bytes(), "\t") is None
    with pytest.raises(InputDataError) as caught:
        read_customers(path)
    assert caught.value.column == column and caught.value.lines == [5]


def test_the_fast_path_reads_income_as_numbers_with_gaps(tmp_path, sample):
    sample["Income"] = sample["Income"].astype(object)
    sample.loc[3, "Income"] = ""
    sample.loc[4, "Income"] = " 51234.5 "
    fast = reading._read_plain_file(write_variant(sample, tmp_path / "v.csv").read_bytes(), "\t")
    assert fast["Income"].dtype == "float64"
    assert np.isnan(fast.loc[3, "Income"]) and fast.loc[4, "Income"] == 51234.5


def test_columns_in_another_order_extra_columns_and_spaces(tmp_path, sample):
    shuffled = sample[list(reversed(sample.columns))].assign(Notes="x")
    shuffled["Education"] = "  " + shuffled["Education"] + " "
    frame, report = read_customers(write_variant(shuffled, tmp_path / "v.csv", sep=","))
    assert list(frame.columns) == list(INPUT_COLUMNS)
    assert report.extra_columns_dropped == ["Notes"]
    assert not frame["Education"].str.contains(" $|^ ").any()


def test_quoted_fields_read_like_plain_ones(tmp_path, sample):
    reference, _ = read_customers(write_variant(sample, tmp_path / "ref.csv", sep=","))
    quoted = write_variant(sample, tmp_path / "q.csv", sep=",", quoting=csv.QUOTE_ALL)
    assert quoted.read_text().startswith('"ID","Year_Birth"')
    frame, _ = read_customers(quoted)
    pd.testing.assert_frame_equal(frame, reference)


def test_missing_response_is_a_scoring_file(tmp_path, sample):
    frame, report = read_customers(write_variant(sample.drop(columns=["Response"]), tmp_path / "v.csv"))
    assert "Response" not in frame.columns and not report.has_response


def test_index_is_the_file_line_number(tmp_path, sample):
    frame, _ = read_customers(write_variant(sample, tmp_path / "v.csv"))
    assert frame.index[0] == 2 and frame.index[-1] == len(sample) + 1


def refusal(path, **kwargs) -> InputDataError:
    with pytest.raises(InputDataError) as caught:
        read_customers(path, **kwargs)
    assert str(path) in str(caught.value)
    return caught.value


def test_empty_file_and_header_only(tmp_path, sample):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in refusal(empty).problem
    header = tmp_path / "header.csv"
    header.write_text("\t".join(sample.columns) + "\n")
    assert "no customer rows" in refusal(header).problem


def test_unknown_separator(tmp_path, sample):
    path = tmp_path / "pipes.csv"
    path.write_text(sample.to_csv(sep="|", index=False))
    assert refusal(path).lines == [1]


def test_missing_column_names_the_column_and_suggests_a_rename(tmp_path, sample):
    error = refusal(write_variant(sample.rename(columns={"Income": "Incme"}), tmp_path / "v.csv"))
    assert error.column == "Income"
    assert "'Incme' looks like 'Income'" in str(error)


def test_text_in_a_numeric_column_names_the_lines(tmp_path, sample):
    sample["MntWines"] = sample["MntWines"].astype(object)
    sample.loc[4, "MntWines"] = "lots"
    error = refusal(write_variant(sample, tmp_path / "v.csv"))
    assert error.column == "MntWines" and error.lines == [6] and "'lots'" in str(error)


def test_counts_that_are_not_whole_numbers(tmp_path, sample):
    sample["NumWebPurchases"] = sample["NumWebPurchases"].astype(float)
    sample.loc[0, "NumWebPurchases"] = 2.5
    error = refusal(write_variant(sample, tmp_path / "v.csv"))
    assert error.column == "NumWebPurchases" and error.lines == [2]


def test_whole_numbers_are_stored_lean_and_one_too_large_is_refused_not_wrapped(tmp_path, sample):
    frame, _ = read_customers(write_variant(sample, tmp_path / "ok.csv"))
    assert frame["ID"].dtype == np.int64
    assert all(frame[column].dtype == WholeNumber for column in ("Year_Birth", "Kidhome", "MntWines", "Response"))
    sample.loc[3, "MntWines"] = int(np.iinfo(WholeNumber).max) + 1
    error = refusal(write_variant(sample, tmp_path / "v.csv"))
    assert error.column == "MntWines" and error.lines == [5] and "2147483648" in str(error)
    assert "from -2,147,483,648 to 2,147,483,647" in error.expected


def test_ambiguous_day_month_order_is_refused_not_guessed(tmp_path, sample):
    sample["Dt_Customer"] = "03-04-2013"
    error = refusal(write_variant(sample, tmp_path / "v.csv"))
    assert error.column == "Dt_Customer" and "cannot be established" in error.problem
    assert "customer_source" in error.fix and "resources: customer_source: config: date_order" in error.fix
    assert "raw_customers" not in str(error)
    # ... unless the order is given explicitly.
    frame, report = read_customers(tmp_path / "v.csv", date_order="day_first")
    assert frame["Dt_Customer"].iloc[0] == pd.Timestamp("2013-04-03") and report.date_format == "dd-mm-yyyy"


def test_established_month_first_order_is_read_as_such(tmp_path, sample):
    sample["Dt_Customer"] = ["03-25-2013"] + ["04-03-2013"] * (len(sample) - 1)
    frame, report = read_customers(write_variant(sample, tmp_path / "v.csv", date_format=None))
    assert report.date_format == "mm-dd-yyyy"
    assert frame["Dt_Customer"].iloc[1] == pd.Timestamp("2013-04-03")


def test_mixed_date_formats_are_refused(tmp_path, sample):
    path = write_variant(sample, tmp_path / "v.csv")
    text = path.read_text().splitlines()
    fields = text[5].split("\t")
    fields[7] = "2013-01-20"
    text[5] = "\t".join(fields)
    path.write_text("\n".join(text) + "\n")
    error = refusal(path)
    assert "mixed date formats" in error.problem and error.lines == [6]


def test_dates_that_contradict_each_other_are_refused(tmp_path, sample):
    sample.loc[5, "Dt_Customer"] = "03-25-2013"  # only month-first, while line 3 is only day-first
    error = refusal(write_variant(sample, tmp_path / "v.csv", date_format=None))
    assert error.lines == [7]


def test_duplicate_ids_with_different_data_are_refused(tmp_path, sample):
    sample.loc[7, "ID"] = sample.loc[2, "ID"]
    error = refusal(write_variant(sample, tmp_path / "v.csv"))
    assert error.column == "ID" and error.lines == [4, 9]


def test_identical_lines_are_kept_and_counted_for_cleaning(tmp_path, sample):
    doubled = pd.concat([sample, sample.iloc[[0]]], ignore_index=True)
    frame, report = read_customers(write_variant(doubled, tmp_path / "v.csv"))
    assert len(frame) == len(doubled) and report.identical_lines == 1
    assert frame.index[-1] == len(doubled) + 1 and frame.iloc[-1].equals(frame.iloc[0])


def test_non_ascii_text_is_kept(tmp_path, sample):
    sample.loc[0, "Marital_Status"] = "Célibataire"
    frame, _ = read_customers(write_variant(sample, tmp_path / "v.csv"))
    assert frame.loc[2, "Marital_Status"] == "Célibataire"


def test_not_utf8_is_refused_with_its_line(tmp_path, sample):
    path = write_variant(sample, tmp_path / "v.csv")
    path.write_bytes(path.read_bytes().replace(b"Graduation", b"Gradua\xe7ao", 1))
    error = refusal(path)
    assert error.lines and error.lines[0] >= 2


def test_real_file_reads_as_documented(real_csv):
    frame, report = read_customers(real_csv)
    assert frame.shape == (2240, 29)
    assert report.separator == "TAB" and report.line_ending == "CRLF" and report.date_format == "dd-mm-yyyy"
    assert frame["Dt_Customer"].min() == pd.Timestamp("2012-07-30")
    assert frame["Dt_Customer"].max() == pd.Timestamp("2014-06-29")
    assert frame["Income"].isna().sum() == 24
    RawCustomers.validate(frame)


@pytest.fixture
def bad_file(tmp_path, synthetic_frame):
    """300 customers with unique IDs and nine bad lines of different kinds; the same file
    without them, and {line: reason words}."""
    frame = synthetic_frame.drop_duplicates(subset="ID").head(300).reset_index(drop=True)
    good = tmp_path / "good.csv"
    write_customers_csv(frame, good)
    bad = tmp_path / "bad.csv"
    return bad, good, write_with_bad_lines(frame, bad)


def test_quarantine_sets_aside_exactly_the_bad_lines_with_their_reasons(bad_file):
    bad, good, expected = bad_file
    rejections = Rejections("quarantine")
    frame, stats = read_customers(bad, rejections=rejections)
    rejected = rejections.table()
    RejectedCustomers.validate(rejected)
    assert sorted(rejected["line"].unique()) == sorted(expected)
    for line, words in expected.items():
        assert rejected.loc[rejected["line"].eq(line), "reason"].str.contains(words, regex=False).all(), (line, words)
    assert rejected.loc[rejected["line"].eq(40), "value"].tolist() == ["31-02-2013"]
    # The ID is given wherever the line's ID could be read.
    assert rejected["ID"].notna().sum() == len(rejected) - 1  # the ragged line is not read at all
    # Every other line reads exactly as it does in the file without the bad ones.
    reference, _ = read_customers(good)
    pd.testing.assert_frame_equal(frame, reference.drop(index=list(expected)))
    assert stats.rows == 300 - len(expected) and stats.rejected_lines == len(expected)


def test_refusing_is_the_default_and_too_many_bad_lines_refuse_with_the_first_rule(bad_file, tmp_path):
    bad, _, expected = bad_file
    assert refusal(bad).lines == [120]  # the ragged line, the first bad line met
    rejections = Rejections("quarantine")
    read_customers(bad, rejections=rejections)
    rejections.enforce(300, len(expected) / 300, "customer_source.max_bad_fraction")  # at the limit: accepted
    with pytest.raises(InputDataError) as caught:
        rejections.enforce(300, 0.01, "customer_source.max_bad_fraction")
    message = str(caught.value)
    assert str(bad) in message and "customer_source.max_bad_fraction (0.01)" in message
    assert f"{len(expected)} of 300 lines (3.0000%)" in message
    assert caught.value.lines == [120] and "fields on every line" in caught.value.expected  # the first bad line met


def test_refusing_names_the_first_broken_rule_as_before(tmp_path, sample):
    sample["Recency"] = sample["Recency"].astype(object)
    sample.loc[[4, 9], "Recency"] = ["soon", "later"]
    error = refusal(write_variant(sample, tmp_path / "v.csv"))
    assert error.column == "Recency" and error.lines == [6, 11]
    assert "text where a number belongs ('soon', 'later')" in str(error)


def test_a_minority_date_order_is_set_aside_under_quarantine(tmp_path, sample):
    sample.loc[5, "Dt_Customer"] = "03-25-2013"  # only month-first; line 3 and others day-first
    sample.loc[6, "Dt_Customer"] = "26-03-2013"
    rejections = Rejections("quarantine")
    frame, _ = read_customers(write_variant(sample, tmp_path / "v.csv", date_format=None), rejections=rejections)
    assert rejections.table()["line"].tolist() == [7] and 7 not in frame.index
    assert frame.loc[8, "Dt_Customer"] == pd.Timestamp("2013-03-26")



def read_in_chunks(path, chunk_lines, **kwargs):
    chunks = iter_customer_chunks(path, chunk_lines=chunk_lines, **kwargs)
    frames = list(chunks)
    return frames, chunks.stats


def test_chunks_add_up_to_the_whole_file_even_when_the_date_order_shows_late(tmp_path, synthetic_frame):
    frame = synthetic_frame.head(400).copy()
    frame["Dt_Customer"] = "03-04-2013"  # ambiguous everywhere ...
    frame.loc[frame.index[-1], "Dt_Customer"] = "04-25-2013"  # ... but the last line proves month-first
    frame = pd.concat([frame, frame.iloc[[5, 77]]], ignore_index=True)  # two identical lines
    path = write_variant(frame, tmp_path / "v.csv", date_format=None)
    whole, whole_stats = read_customers(path)
    frames, stats = read_in_chunks(path, 37)
    assert len(frames) == 11 and all(len(chunk) <= 37 for chunk in frames)
    pd.testing.assert_frame_equal(pd.concat(frames), whole)
    assert stats == whole_stats and stats.date_format == "mm-dd-yyyy" and stats.identical_lines == 2
    assert whole.loc[2, "Dt_Customer"] == pd.Timestamp("2013-03-04")


def test_chunks_set_aside_the_same_lines_as_the_whole_file(bad_file):
    bad, _, expected = bad_file
    whole_rejections, chunk_rejections = Rejections("quarantine"), Rejections("quarantine")
    whole, whole_stats = read_customers(bad, rejections=whole_rejections)
    frames, stats = read_in_chunks(bad, 23, rejections=chunk_rejections)
    pd.testing.assert_frame_equal(pd.concat(frames), whole)
    pd.testing.assert_frame_equal(chunk_rejections.table(), whole_rejections.table())
    assert sorted(chunk_rejections.table()["line"].unique()) == sorted(expected)
    assert stats == whole_stats


def test_a_bad_line_in_a_late_chunk_is_refused_with_its_file_line(tmp_path, sample, synthetic_frame):
    frame = synthetic_frame.head(100).astype({"Recency": object}).reset_index(drop=True)
    frame.loc[65, "Recency"] = "soon"  # file line 67, in the 7th chunk of 10 lines
    path = write_variant(frame, tmp_path / "v.csv")
    chunks = iter_customer_chunks(path, chunk_lines=10)
    given = []
    with pytest.raises(InputDataError) as caught:
        for chunk in chunks:
            given.append(chunk)
    assert len(given) == 6 and str(caught.value) == str(refusal(path))
    assert caught.value.lines == [67] and caught.value.column == "Recency"


def test_an_id_claimed_by_different_lines_is_refused_by_the_chunks_as_by_the_whole_file(tmp_path, sample):
    sample.loc[37, "ID"] = sample.loc[2, "ID"]
    path = write_variant(sample, tmp_path / "v.csv")
    with pytest.raises(InputDataError) as caught:
        read_in_chunks(path, 10)
    assert str(caught.value) == str(refusal(path)) and caught.value.lines == [4, 39]


def test_chunk_stats_are_known_after_the_iteration(tmp_path, sample):
    chunks = iter_customer_chunks(write_variant(sample, tmp_path / "v.csv"), chunk_lines=10)
    with pytest.raises(RuntimeError, match="once every chunk"):
        chunks.stats
    assert sum(len(chunk) for chunk in chunks) == chunks.stats.rows == len(sample)
