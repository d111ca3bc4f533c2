"""Cleaning rules for the customer table, each one explicit, configurable and counted."""

import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import (
    DISPOSITIONS,
    EDUCATION_LEVELS,
    MARITAL_STATUSES,
    PURCHASE_COLUMNS,
    RESPONSE,
    SPEND_COLUMNS,
    identical_lines,
)
from campaign_pipeline.transforms import by_distinct_value

ConflictPolicy = Literal["drop_group", "keep_first", "positive_if_any"]
MissingIncomePolicy = Literal["impute_median", "drop"]


# What became of each line of the file (customer_dispositions).
SCORED, DUPLICATE, DROPPED, REJECTED = DISPOSITIONS
COUNT_COLUMNS = (*PURCHASE_COLUMNS, "NumWebVisitsMonth")


@dataclass(frozen=True)
class CleaningRules:
    """What cleaning does. Defaults follow REFERENCE §1; each rule is counted, and every
    line it removes is listed with its reason in the dispositions.

    - Identical lines (ID included) are one customer exported twice: the first stays.
    - Rows equal on every column but ``ID`` are one customer entered twice: the first
      copy is kept. When the copies disagree on ``Response`` the label is contradictory;
      ``drop_group`` (default) removes the whole group rather than pick a side.
    - Birth years before ``min_birth_year`` are impossible ages, and customers younger than
      ``min_age_at_enrolment`` when they enrolled (``Dt_Customer``) impossible customers (a
      birth year after the snapshot is one of these): the row is dropped.
    - A spend above ``max_spend`` MU in a product family, or a purchase or visit count above
      ``max_count``, is beyond what any customer could have: the row is dropped.
    - ``income_placeholders`` (666,666) are not incomes, nor is an income above
      ``max_income`` MU a year: they become missing.
    - Missing income is imputed with the median income of the same education level
      (overall median where a level has none), and ``income_imputed`` says so.
    - Non-standard categories are mapped; values outside the known set become ``Other``.
    """

    deduplicate_ignoring_id: bool = True
    conflicting_response: ConflictPolicy = "drop_group"
    min_birth_year: int = 1901
    min_age_at_enrolment: int = 16
    max_spend: int = 100_000
    max_count: int = 1_000
    income_placeholders: tuple[float, ...] = (666666.0,)
    max_income: float = 10_000_000.0
    missing_income: MissingIncomePolicy = "impute_median"
    education_map: dict[str, str] = field(default_factory=lambda: {"2n Cycle": "Master"})
    marital_status_map: dict[str, str] = field(
        default_factory=lambda: {"Alone": "Single", "Absurd": "Other", "YOLO": "Other"}
    )
    # The income medians are fitted on a stable sample of this many customers at most.
    income_sample: int = 200_000
    sample_seed: int = 0

    def fingerprint(self) -> str:
        """The rules the income medians depend on, as text: medians fitted under other
        rules would fill incomes the rules no longer mean."""
        fields = ("min_birth_year", "min_age_at_enrolment", "max_spend", "max_count", "income_placeholders",
                  "max_income", "income_sample", "sample_seed")  # fmt: skip
        return json.dumps({name: getattr(self, name) for name in fields}, sort_keys=True)


@dataclass(frozen=True)
class CleaningCounts:
    """Counts of what each rule did, for asset metadata."""

    rows_in: int
    identical_lines_dropped: int
    duplicate_rows_dropped: int
    conflicting_response_groups: int
    conflicting_response_rows_dropped: int
    impossible_birth_years_dropped: int
    too_young_at_enrolment_dropped: int
    implausible_spend_dropped: int
    implausible_count_dropped: int
    income_placeholders_removed: int
    implausible_incomes_removed: int
    income_missing: int
    income_imputed: int
    income_missing_rows_dropped: int
    categories_mapped: dict[str, int]
    rows_out: int


class _Dispositions:
    """What becomes of each line: scored unless a rule drops it or it copies another."""

    def __init__(self, raw: pd.DataFrame):
        if not raw.index.is_unique:
            raise ValueError("clean_customers needs a frame indexed by unique line numbers")
        self.frame = pd.DataFrame(
            {
                "ID": raw["ID"].to_numpy(),
                "disposition": SCORED,
                "duplicate_of": pd.array([pd.NA] * len(raw), dtype="Int64"),
                "reason": "",
            },
            index=raw.index,
        )

    def drop(self, frame: pd.DataFrame, mask: pd.Series, reason: str) -> pd.DataFrame:
        if not mask.any():
            return frame  # most rules drop nothing: no copy of every row
        self.frame.loc[frame.index[mask.to_numpy()], ["disposition", "reason"]] = [DROPPED, reason]
        # take: a new frame, not one pandas flags as a possible view (SettingWithCopyWarning)
        return frame.take(np.flatnonzero(~mask.to_numpy()))

    def copies(self, frame: pd.DataFrame, groups: pd.Series, reason: str) -> pd.DataFrame:
        """Keep the first row of each group; the others copy it."""
        is_copy = groups.duplicated(keep="first").to_numpy()
        if not is_copy.any():
            return frame
        kept_id = frame["ID"].groupby(groups.to_numpy()).transform("first").to_numpy()
        lines = frame.index[is_copy]
        self.frame.loc[lines, ["disposition", "reason"]] = [DUPLICATE, reason]
        self.frame.loc[lines, "duplicate_of"] = kept_id[is_copy]
        return frame.take(np.flatnonzero(~is_copy))

    def table(self, rejected: pd.DataFrame | None) -> pd.DataFrame:
        """Every line in file order: those read, and those set aside as ``rejected`` (one
        ``RejectedCustomers`` row per broken value, joined here into one line each)."""
        table = self.frame.astype({"ID": "Int64"}).rename_axis("line").reset_index()
        if rejected is not None and not rejected.empty:
            lines = rejected.groupby("line", sort=False).agg(ID=("ID", "first"), reason=("reason", "; ".join))
            set_aside = lines.reset_index().assign(
                disposition=REJECTED, duplicate_of=pd.array([pd.NA] * len(lines), dtype="Int64")
            )
            table = pd.concat([table, set_aside], ignore_index=True).sort_values("line", kind="stable", ignore_index=True)
        return table[["ID", "line", "disposition", "duplicate_of", "reason"]]


def category_rules(rules: CleaningRules) -> tuple[tuple[str, dict[str, str], tuple[str, ...]], ...]:
    """(column, map of non-standard values, standard values) for each category column."""
    return (
        ("Education", rules.education_map, EDUCATION_LEVELS),
        ("Marital_Status", rules.marital_status_map, MARITAL_STATUSES),
    )


def standard_categories(values: pd.Series, mapping: dict[str, str], allowed: tuple[str, ...]) -> pd.Series:
    """Non-standard values mapped; values outside the known set become ``Other``. Each
    distinct value is looked up once (a column holds a handful)."""
    def standard(distinct: pd.Series) -> pd.Series:
        mapped = distinct.replace(mapping)
        return mapped.where(mapped.isin(allowed), "Other")

    return by_distinct_value(values, standard)


def unknown_incomes(income: pd.Series, rules: CleaningRules) -> tuple[pd.Series, pd.Series]:
    """(placeholder, implausible): incomes that mean "unknown", and incomes above ``max_income``."""
    return income.isin(rules.income_placeholders), income.gt(rules.max_income)


def duplicate_groups(frame: pd.DataFrame, ignore: tuple[str, ...] = ("ID",)) -> pd.Series:
    """A group number per row, equal for rows that match on every column but ``ignore``,
    numbered in order of first appearance (as ``groupby(sort=False).ngroup()``)."""
    columns = [c for c in frame.columns if c not in ignore]
    # Rows whose hash no other row shares are alone; only the few others are grouped
    # exactly, which is several times faster than grouping every row on every column.
    # Column by column: a frame of the columns would be a copy of them all.
    hashes = np.zeros(len(frame), dtype=np.uint64)
    for column in columns:
        hashes = hashes * np.uint64(1_000_003) ^ pd.util.hash_pandas_object(frame[column], index=False).to_numpy()
    first = np.arange(len(frame))  # each row's group, named by the position of its first row
    candidates = pd.Series(hashes).duplicated(keep=False).to_numpy()
    if candidates.any():
        positions = first[candidates]
        groups = frame.iloc[positions].groupby(columns, dropna=False, sort=False, observed=True).ngroup().to_numpy()
        first[candidates] = pd.Series(positions).groupby(groups).transform("first").to_numpy()
    return pd.Series(np.unique(first, return_inverse=True)[1], index=frame.index)


@dataclass(frozen=True)
class _Screened:
    """The rows left by the row rules, with each rule's mask, before income is imputed."""

    frame: pd.DataFrame
    identical: pd.Series
    impossible: pd.Series
    too_young: pd.Series
    big_spend: pd.Series
    big_count: pd.Series
    placeholder: pd.Series
    implausible_income: pd.Series


def _screen(raw: pd.DataFrame, rules: CleaningRules, fates: _Dispositions) -> _Screened:
    """Identical lines, impossible ages, implausible spends and counts removed; unknown
    incomes blanked."""
    frame = raw.copy()
    identical = identical_lines(frame)
    if identical.any():
        frame = fates.copies(frame, duplicate_groups(frame, ignore=()), "identical line")

    impossible = frame["Year_Birth"].lt(rules.min_birth_year)
    frame = fates.drop(frame, impossible, f"Year_Birth before {rules.min_birth_year}")
    too_young = frame["Year_Birth"].gt(frame["Dt_Customer"].dt.year - rules.min_age_at_enrolment)
    frame = fates.drop(frame, too_young, f"Year_Birth: younger than {rules.min_age_at_enrolment} at Dt_Customer")
    big_spend = frame[list(SPEND_COLUMNS)].gt(rules.max_spend).any(axis=1)
    frame = fates.drop(frame, big_spend, f"a Mnt* spend above {rules.max_spend:,} MU")
    big_count = frame[list(COUNT_COLUMNS)].gt(rules.max_count).any(axis=1)
    frame = fates.drop(frame, big_count, f"a Num* count above {rules.max_count:,}")

    placeholder, implausible_income = unknown_incomes(frame["Income"], rules)
    frame.loc[placeholder | implausible_income, "Income"] = np.nan
    return _Screened(frame, identical, impossible, too_young, big_spend, big_count, placeholder, implausible_income)


OVERALL = "*"  # the income_medians row for levels without a known income


def income_medians(raw: pd.DataFrame, rules: CleaningRules) -> pd.DataFrame:
    """The median known income of each education level (as written in the file) and
    overall (``OVERALL``), over the rows the row rules keep: what ``impute_median`` fills
    missing incomes with. Fitted once (on a stable sample at scale) and reapplied to every
    bucket, so each customer's imputed income is the same in either shape of the graph."""
    known = _screen(raw, rules, _Dispositions(raw)).frame
    by_level = known.groupby("Education", observed=True)["Income"].median().dropna()
    overall = pd.Series({OVERALL: known["Income"].median()})
    medians = pd.concat([by_level, overall]).rename_axis("Education").rename("median_income").reset_index()
    return medians.astype({"Education": str, "median_income": float})


def clean_customers(
    raw: pd.DataFrame,
    rules: CleaningRules,
    source: str = "the customer file",
    medians: pd.DataFrame | None = None,
    rejected: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, CleaningCounts, pd.DataFrame]:
    """Apply ``rules`` to a frame that satisfies ``RawCustomers``, indexed by file line,
    imputing missing incomes from ``medians`` (``income_medians``; by default those of
    ``raw`` itself). Returns the cleaned customers (still indexed by line), the counts, and
    one row per input line saying what became of it (``ID``, ``line``, ``disposition``,
    ``duplicate_of``, ``reason``), the lines set aside by the reader (``rejected``, as
    ``RejectedCustomers``) included."""
    fates = _Dispositions(raw)
    rows_in = len(raw)
    medians = income_medians(raw, rules) if medians is None else medians
    screened = _screen(raw, rules, fates)
    frame = screened.frame
    missing = frame["Income"].isna()
    if missing.all() and medians["median_income"].isna().all():
        raise InputDataError(
            "Income is missing in every row, so it can be neither imputed nor used",
            source=source,
            column="Income",
            expected="at least some customers with a known income",
        )
    dropped_for_income = 0
    if rules.missing_income == "drop":
        dropped_for_income = int(missing.sum())
        frame = fates.drop(frame, missing, "Income missing (missing_income: drop)")
        frame["income_imputed"] = False
    else:
        frame["income_imputed"] = missing
        lookup = medians.set_index("Education")["median_income"]
        by_level = frame["Education"].astype(str).map(lookup.drop(OVERALL, errors="ignore"))
        frame["Income"] = frame["Income"].fillna(by_level).fillna(lookup.get(OVERALL, np.nan))

    mapped: dict[str, int] = {}
    for column, mapping, allowed in category_rules(rules):
        standard = standard_categories(frame[column], mapping, allowed)
        mapped[column] = int(standard.ne(frame[column]).sum())
        frame[column] = pd.Categorical(standard, categories=list(allowed))

    # Last, so that rows made equal by the rules above (a mapped category, a filled
    # income) count as the duplicates they are.
    conflicting_groups = conflicting_rows = duplicates = 0
    if rules.deduplicate_ignoring_id:
        groups = duplicate_groups(frame.drop(columns=[RESPONSE], errors="ignore"))
        if RESPONSE in frame.columns and rules.conflicting_response != "keep_first":
            spread = frame[RESPONSE].groupby(groups).agg(["min", "max"])
            conflicted = spread.index[spread["min"] != spread["max"]]
            conflicting_groups = len(conflicted)
            in_conflict = groups.isin(conflicted)
            if rules.conflicting_response == "drop_group":
                conflicting_rows = int(in_conflict.sum())
                frame = fates.drop(frame, in_conflict, "copies disagree on Response (conflicting_response: drop_group)")
                groups = groups.loc[~in_conflict]
            else:  # positive_if_any: one copy responded, so the customer did
                frame.loc[in_conflict, RESPONSE] = 1
        duplicates = int(groups.duplicated(keep="first").sum())
        frame = fates.copies(frame, groups, "equal on every column but ID")

    counts = CleaningCounts(
        rows_in=rows_in,
        identical_lines_dropped=int(screened.identical.sum()),
        duplicate_rows_dropped=duplicates,
        conflicting_response_groups=conflicting_groups,
        conflicting_response_rows_dropped=conflicting_rows,
        impossible_birth_years_dropped=int(screened.impossible.sum()),
        too_young_at_enrolment_dropped=int(screened.too_young.sum()),
        implausible_spend_dropped=int(screened.big_spend.sum()),
        implausible_count_dropped=int(screened.big_count.sum()),
        income_placeholders_removed=int(screened.placeholder.sum()),
        implausible_incomes_removed=int(screened.implausible_income.sum()),
        income_missing=int(missing.sum()),
        income_imputed=int(frame["income_imputed"].sum()),
        income_missing_rows_dropped=dropped_for_income,
        categories_mapped=mapped,
        rows_out=len(frame),
    )
    return frame, counts, fates.table(rejected)
