"""Cleaning rules for the customer table, each one explicit, configurable and counted."""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import EDUCATION_LEVELS, MARITAL_STATUSES, RESPONSE

ConflictPolicy = Literal["drop_group", "keep_first", "positive_if_any"]
MissingIncomePolicy = Literal["impute_median", "drop"]


@dataclass(frozen=True)
class CleaningRules:
    """What cleaning does. Defaults follow REFERENCE §1.

    - Rows equal on every column but ``ID`` are one customer entered twice: the first
      copy is kept. When the copies disagree on ``Response`` the label is contradictory;
      ``drop_group`` (default) removes the whole group rather than pick a side.
    - Birth years before ``min_birth_year`` are impossible ages: the row is dropped.
    - ``income_placeholders`` (666,666) are not incomes: they become missing.
    - Missing income is imputed with the median income of the same education level
      (overall median where a level has none), and ``income_imputed`` says so.
    - Non-standard categories are mapped; values outside the known set become ``Other``.
    """

    deduplicate_ignoring_id: bool = True
    conflicting_response: ConflictPolicy = "drop_group"
    min_birth_year: int = 1901
    income_placeholders: tuple[float, ...] = (666666.0,)
    missing_income: MissingIncomePolicy = "impute_median"
    education_map: dict[str, str] = field(default_factory=lambda: {"2n Cycle": "Master"})
    marital_status_map: dict[str, str] = field(
        default_factory=lambda: {"Alone": "Single", "Absurd": "Other", "YOLO": "Other"}
    )


@dataclass(frozen=True)
class CleaningCounts:
    """Counts of what each rule did, for asset metadata."""

    rows_in: int
    duplicate_rows_dropped: int
    conflicting_response_groups: int
    conflicting_response_rows_dropped: int
    impossible_birth_years_dropped: int
    income_placeholders_removed: int
    income_missing: int
    income_imputed: int
    income_missing_rows_dropped: int
    categories_mapped: dict[str, int]
    rows_out: int


def duplicate_groups(frame: pd.DataFrame, ignore: tuple[str, ...] = ("ID",)) -> pd.Series:
    """A group number per row, equal for rows that match on every column but ``ignore``."""
    columns = [c for c in frame.columns if c not in ignore]
    return pd.Series(
        frame.groupby(columns, dropna=False, sort=False, observed=True).ngroup().to_numpy(), index=frame.index
    )


def clean_customers(raw: pd.DataFrame, rules: CleaningRules, source: str = "the customer file") -> tuple[pd.DataFrame, CleaningCounts]:
    """Apply ``rules`` to a frame that satisfies ``RawCustomers``."""
    frame = raw.copy()
    rows_in = len(frame)

    impossible = frame["Year_Birth"].lt(rules.min_birth_year)
    frame = frame.loc[~impossible]

    placeholder = frame["Income"].isin(rules.income_placeholders)
    frame.loc[placeholder, "Income"] = np.nan
    missing = frame["Income"].isna()
    if missing.all():
        raise InputDataError(
            "Income is missing in every row, so it can be neither imputed nor used",
            source=source,
            column="Income",
            expected="at least some customers with a known income",
        )
    dropped_for_income = 0
    if rules.missing_income == "drop":
        dropped_for_income = int(missing.sum())
        frame = frame.loc[~missing]
        frame["income_imputed"] = False
    else:
        frame["income_imputed"] = missing
        by_level = frame.groupby("Education")["Income"].transform("median")
        frame["Income"] = frame["Income"].fillna(by_level).fillna(frame["Income"].median())

    mapped: dict[str, int] = {}
    for column, mapping, allowed in (
        ("Education", rules.education_map, EDUCATION_LEVELS),
        ("Marital_Status", rules.marital_status_map, MARITAL_STATUSES),
    ):
        standard = frame[column].replace(mapping)
        standard = standard.where(standard.isin(allowed), "Other")
        mapped[column] = int(standard.ne(frame[column]).sum())
        frame[column] = pd.Categorical(standard, categories=list(allowed))

    # Last, so that rows made equal by the rules above (a mapped category, a filled
    # income) count as the duplicates they are.
    conflicting_groups = conflicting_rows = duplicates = 0
    if rules.deduplicate_ignoring_id:
        comparable = frame.drop(columns=[RESPONSE], errors="ignore")
        groups = duplicate_groups(comparable)
        if RESPONSE in frame.columns and rules.conflicting_response != "keep_first":
            spread = frame[RESPONSE].groupby(groups).agg(["min", "max"])
            conflicted = spread.index[spread["min"] != spread["max"]]
            conflicting_groups = len(conflicted)
            in_conflict = groups.isin(conflicted)
            if rules.conflicting_response == "drop_group":
                conflicting_rows = int(in_conflict.sum())
                frame, groups = frame.loc[~in_conflict], groups.loc[~in_conflict]
            else:  # positive_if_any: one copy responded, so the customer did
                frame.loc[in_conflict, RESPONSE] = 1
        is_copy = groups.duplicated(keep="first")
        duplicates = int(is_copy.sum())
        frame = frame.loc[~is_copy]

    frame = frame.reset_index(drop=True)
    counts = CleaningCounts(
        rows_in=rows_in,
        duplicate_rows_dropped=duplicates,
        conflicting_response_groups=conflicting_groups,
        conflicting_response_rows_dropped=conflicting_rows,
        impossible_birth_years_dropped=int(impossible.sum()),
        income_placeholders_removed=int(placeholder.sum()),
        income_missing=int(missing.sum()),
        income_imputed=int(frame["income_imputed"].sum()),
        income_missing_rows_dropped=dropped_for_income,
        categories_mapped=mapped,
        rows_out=len(frame),
    )
    return frame, counts
