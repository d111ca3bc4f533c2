"""Prospect files: demographics only, read by the customer reader's rules, refused clearly."""

import pandas as pd
import pytest

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import RawCustomers, WholeNumber
from campaign_pipeline.sources.prospects import (
    PROSPECT_COLUMNS,
    generate_prospects,
    read_prospects,
    type_prospect_table,
)
from campaign_pipeline.sources.synthetic import generate_customers

DEMOGRAPHICS = ["ID", "Year_Birth", "Education", "Marital_Status", "Income", "Kidhome", "Teenhome"]


@pytest.fixture(scope="module")
def prospects() -> pd.DataFrame:
    return generate_prospects(300, seed=5)


def write(frame: pd.DataFrame, path, sep="\t", line_end="\n", bom=False):
    text = frame.to_csv(sep=sep, index=False, lineterminator=line_end, float_format="%.0f")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_prospect_columns_are_the_customer_files_demographics():
    assert list(PROSPECT_COLUMNS) == DEMOGRAPHICS
    assert set(PROSPECT_COLUMNS) <= set(RawCustomers.to_schema().columns)


def test_synthetic_prospects_are_the_customers_demographics_under_other_ids():
    prospects, customers = generate_prospects(500, seed=2), generate_customers(500, seed=2)
    assert list(prospects.columns) == DEMOGRAPHICS
    pd.testing.assert_frame_equal(prospects.drop(columns="ID"), customers[DEMOGRAPHICS[1:]])
    assert prospects["ID"].is_unique
    assert not set(prospects["ID"]) & set(customers["ID"])
    assert prospects["ID"].min() > customers["ID"].max()
    pd.testing.assert_frame_equal(prospects, generate_prospects(500, seed=2))  # seeded


@pytest.mark.parametrize(
    "sep, line_end, bom", [("\t", "\r\n", False), (",", "\n", True), (";", "\r\n", False)]
)
def test_every_variant_reads_to_the_same_typed_table(tmp_path, prospects, sep, line_end, bom):
    frame, stats = read_prospects(write(prospects, tmp_path / "p.csv", sep, line_end, bom))
    assert list(frame.columns) == DEMOGRAPHICS
    assert frame.index.name == "line" and frame.index[0] == 2
    assert stats.rows == len(prospects) and stats.byte_order_mark is bom
    assert stats.line_ending == ("CRLF" if line_end == "\r\n" else "LF")
    expected = prospects.set_axis(pd.RangeIndex(2, 2 + len(prospects), name="line"))
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert frame["Income"].dtype == "float64" and frame["Kidhome"].dtype == WholeNumber


def test_quotes_and_stray_spaces_are_accepted(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        'ID,Year_Birth,Education,Marital_Status,Income,Kidhome,Teenhome\n'
        '"1", 1970 ,"PhD", Single ,"52000",0,1\n'
        '2,1980,Graduation,Married,,1,0\n'
    )
    frame, _ = read_prospects(path)
    assert frame.loc[2, "Education"] == "PhD" and frame.loc[2, "Marital_Status"] == "Single"
    assert frame.loc[2, "Income"] == 52000.0 and pd.isna(frame.loc[3, "Income"])


def test_extra_columns_are_ignored_and_reported(tmp_path, prospects):
    extended = prospects.assign(Response=1, Dt_Customer="01-01-2013", Note="x")
    frame, stats = read_prospects(write(extended, tmp_path / "p.csv"))
    assert list(frame.columns) == DEMOGRAPHICS
    assert stats.extra_columns_dropped == ["Response", "Dt_Customer", "Note"]
    assert stats.has_response is False


@pytest.mark.parametrize("column", DEMOGRAPHICS)
def test_a_missing_column_is_refused_naming_it(tmp_path, prospects, column):
    with pytest.raises(InputDataError, match=f"required column\\(s\\) missing: {column}") as error:
        read_prospects(write(prospects.drop(columns=column), tmp_path / "p.csv"))
    assert error.value.column == column and error.value.lines == [1]


def test_a_misspelt_column_gets_a_rename_hint(tmp_path, prospects):
    with pytest.raises(InputDataError, match="'income' looks like 'Income'"):
        read_prospects(write(prospects.rename(columns={"Income": "income"}), tmp_path / "p.csv"))


def test_text_in_a_number_column_names_column_and_line(tmp_path, prospects):
    bad = prospects.astype({"Kidhome": object})
    bad.loc[4, "Kidhome"] = "two"
    with pytest.raises(InputDataError, match="text where a number belongs") as error:
        read_prospects(write(bad, tmp_path / "p.csv"))
    assert error.value.column == "Kidhome" and error.value.lines == [6]


def test_an_empty_category_names_column_and_line(tmp_path, prospects):
    bad = prospects.copy()
    bad.loc[0, "Education"] = ""
    with pytest.raises(InputDataError, match="empty value") as error:
        read_prospects(write(bad, tmp_path / "p.csv", sep=","))
    assert error.value.column == "Education" and error.value.lines == [2]


def test_one_id_with_different_data_is_refused(tmp_path, prospects):
    bad = prospects.copy()
    bad.loc[1, "ID"] = bad.loc[0, "ID"]
    with pytest.raises(InputDataError, match="prospect ID\\(s\\) appear on several lines") as error:
        read_prospects(write(bad, tmp_path / "p.csv"))
    assert error.value.lines == [2, 3]


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "the file is empty"),
        (b"ID\tYear_Birth\tEducation\tMarital_Status\tIncome\tKidhome\tTeenhome\n", "no prospect rows"),
        (b"a|b|c\n1|2|3\n", "does not split into the prospect columns"),
        (b"ID,Year_Birth\n\xff,1\n", "not valid UTF-8"),
    ],
)
def test_unreadable_files_are_refused_clearly(tmp_path, content, problem):
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    with pytest.raises(InputDataError, match=problem) as error:
        read_prospects(path)
    assert str(path) in str(error.value)


def test_generated_frames_type_like_read_files(prospects):
    frame, stats = type_prospect_table(prospects.set_axis(pd.RangeIndex(2, 2 + len(prospects), name="line")), "memory")
    assert list(frame.columns) == DEMOGRAPHICS and stats.rows == len(prospects)
