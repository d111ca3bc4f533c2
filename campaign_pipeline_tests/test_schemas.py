"""Contracts accept good frames and reject bad ones with failure cases a user can act on."""

import gc
import weakref

import pandas as pd
import pandera.errors as pa_errors
import pytest
from dagster import DagsterInstance, asset, materialize

from campaign_pipeline.contracts import (
    FAILURE_CASES_SHOWN,
    contract_failures,
    dataset_contract,
    describe_failures,
    failure_table,
    validated,
)
from campaign_pipeline.schemas import RawCustomers, RetargetingImpact
from campaign_pipeline.sources.reading import type_customer_table


@pytest.fixture
def raw(synthetic_frame) -> pd.DataFrame:
    typed, _ = type_customer_table(synthetic_frame.head(50).copy(), "test", "day_first")
    return typed


def test_good_raw_frame_passes(raw):
    assert contract_failures(RawCustomers, raw) is None


@pytest.mark.parametrize("broken", [False, True])
def test_a_checked_frame_goes_with_its_last_reference(raw, broken):
    # With the cyclic collector off, a frame kept alive by a reference cycle would stay.
    frame = raw.assign(MntWines=-1) if broken else raw.copy()
    alive = weakref.ref(frame)
    gc.disable()
    try:
        assert (contract_failures(RawCustomers, frame) is None) is not broken
        del frame
        assert alive() is None
    finally:
        gc.enable()


def test_negative_spend_fails_with_the_row_and_value(raw):
    raw.loc[raw.index[4], "MntWines"] = -7
    failures = contract_failures(RawCustomers, raw)
    assert len(failures) == 1 and failures["column"].item() == "MntWines"
    text = describe_failures("RawCustomers", failures)
    assert "MntWines" in text and "-7" in text and str(raw.index[4]) in text


def test_checked_asset_fails_its_check_and_writes_nothing(raw, tmp_path):
    from campaign_pipeline.io_managers import ParquetIOManagerFactory

    broken = raw.copy()
    broken.loc[broken.index[0], "Recency"] = -1

    @asset(**dataset_contract("customers_under_test", RawCustomers))
    def customers_under_test():
        return validated(RawCustomers, broken)

    result = materialize(
        [customers_under_test],
        resources={"io_manager": ParquetIOManagerFactory(base_dir=str(tmp_path))},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert not [check for check in result.get_asset_check_evaluations() if check.passed]
    failure = result.get_step_failure_events()[0].step_failure_data
    assert "Recency" in failure.user_failure_data.description
    assert failure.user_failure_data.metadata["failure_cases"].value.records[0].data["column"] == "Recency"
    assert [p.name for p in tmp_path.iterdir()] == [".campaign.lock"]  # nothing written but the lock


def test_missing_column_and_wrong_type_fail(raw):
    with pytest.raises(pa_errors.SchemaErrors):
        RawCustomers.validate(raw.drop(columns=["Recency"]), lazy=True)
    with pytest.raises(pa_errors.SchemaErrors):
        RawCustomers.validate(raw.assign(Recency=raw["Recency"].astype(float)), lazy=True)


@pytest.mark.parametrize(
    "education", [[7], [b"PhD"], [None], [float("nan")], [7, None]], ids=["number", "bytes", "None", "nan", "number and None"]
)
def test_a_text_column_names_each_value_that_is_not_text(raw, education):
    # Text checks a column in one pass and falls back to pandera's per-value check to name the rows.
    rows = raw.index[3 : 3 + len(education)]
    raw["Education"] = raw["Education"].astype(object)
    raw.loc[rows, "Education"] = pd.Series(education, index=rows, dtype=object)
    failures = contract_failures(RawCustomers, raw)
    assert sorted(failures["index"]) == list(rows)
    assert set(failures["column"]) == {"Education"}
    missing = [value is None or value != value for value in education]
    assert list(failures.sort_values("index")["check"]) == ["not_nullable" if gap else "dtype('str')" for gap in missing]


def test_scoring_file_without_response_is_valid(raw):
    RawCustomers.validate(raw.drop(columns=["Response"]))


def test_retargeting_needs_exactly_one_recommendation():
    row = {
        "cluster": 0, "name": "a", "customers": 10, "share": 0.5, "response_rate": 0.1, "mean_score": 0.1,
        "expected_responders": 1.0, "contact_cost": 30.0, "expected_revenue": 11.0, "expected_profit": -19.0,
        "targeted_customers": 1, "targeted_expected_responders": 0.5, "targeted_cost": 3.0,
        "targeted_revenue": 5.5, "targeted_profit": 2.5, "targeted_profit_low": 0.0, "targeted_profit_high": 5.0,
        "share_of_expected_profit": 1.0, "recommended": True,
    }
    good = pd.DataFrame([row, {**row, "cluster": 1, "recommended": False, "share_of_expected_profit": 0.0}])
    RetargetingImpact.validate(good)
    with pytest.raises(pa_errors.SchemaError):
        RetargetingImpact.validate(good.assign(recommended=True))


def test_failure_description_is_one_paragraph():
    failures = pd.DataFrame(
        {"schema_context": ["Column", "Column"], "column": ["Income", "Income"],
         "check": ["greater_than_or_equal_to(0)"] * 2, "failure_case": [-1, -2], "index": [5, 9]}
    )
    text = describe_failures("RawCustomers", failures, "line", "customers.csv")
    assert "\n" not in text and "column 'Income'" in text and "line(s) 5, 9" in text
    assert "RawCustomers" in text and "customers.csv" in text


def test_failures_show_cells_never_whole_customer_rows(raw):
    broken = raw.assign(MntWines=-1, Recency=-5)
    failures = contract_failures(RawCustomers, broken)
    table = failure_table(failures).value
    assert len(table.records) == FAILURE_CASES_SHOWN < len(failures)
    assert [column.name for column in table.schema.columns] == ["column", "check", "failure_case", "index"]
    text = describe_failures("RawCustomers", failures)
    assert "and more" in text and len(text) < 1000
    # Nothing from the customers' other columns leaks into the message.
    assert str(broken["Income"].dropna().iloc[0]) not in text
