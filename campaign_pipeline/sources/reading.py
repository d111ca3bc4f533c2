"""Read a customer file in any of the circulating variants, or refuse it with a clear error.

Accepted (REFERENCE §1): TAB, comma or semicolon separated; LF or CRLF; UTF-8 with or
without BOM; quoted fields; stray spaces around values; columns in any order, extra
columns dropped (and reported); dates day-first with ``-``, ``/`` or ``.``, or ISO
``yyyy-mm-dd``. The day/month order is *established from the data* (a first part above
12 proves day-first) or given explicitly; it is never guessed.

The returned frame is indexed by file line number (header = line 1) so that contract
failures point at lines a user can open.

Bad lines are refused by default: the first broken rule raises :class:`InputDataError`.
Under ``quarantine`` (a :class:`Rejections` collector given to the reader) a line that
breaks a rule about one line (a value that cannot be typed, a wrong field count, an ID
that two different lines claim) is set aside with its line, column, value and reason, and
the rest is read; rules about the whole file (encoding, header, separator, the day/month
order) still refuse it. :meth:`Rejections.enforce` refuses the file when too many lines
were set aside.

:func:`iter_customer_chunks` reads a file of any size in chunks of typed lines with
bounded memory, by the same rules and with the same results as :func:`read_customers`.

The same rules read any file laid out like the customer file (a ``FileLayout``: the
columns a kind of file may hold and those it may lack); ``sources.prospects`` reads
demographics-only prospect files with them.
"""

import difflib
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import (
    INPUT_COLUMNS,
    OPTIONAL_INPUT_COLUMNS,
    RejectedCustomers,
    WholeNumber,
    identical_lines,
)
from campaign_pipeline.transforms import by_distinct_value

DateOrder = Literal["auto", "day_first", "month_first"]
BadRows = Literal["refuse", "quarantine"]

STRING_COLUMNS = ("Education", "Marital_Status")
DATE_COLUMN = "Dt_Customer"
FLOAT_COLUMNS = ("Income",)
INTEGER_COLUMNS = tuple(
    c for c in INPUT_COLUMNS if c not in (*STRING_COLUMNS, DATE_COLUMN, *FLOAT_COLUMNS)
)
SEPARATORS = {"\t": "TAB", ",": "comma", ";": "semicolon"}
REJECTED_COLUMNS: tuple[str, ...] = tuple(RejectedCustomers.to_schema().columns)

_ISO_DATE = r"(?P<year>\d{4})-(?P<first>\d{1,2})-(?P<second>\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
_PARTS_DATE = r"(?P<first>\d{1,2})(?P<sep>[-/.])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4})"
# "({sample} ...)" in a refusal's words: the values, left out of a recorded reason.
_SAMPLE = re.compile(r"\s*\([^()]*\{sample\}[^()]*\)")
# A file of nothing but a byte order mark and white space.
_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")
# pandas' words for a line with too many fields, when asked to warn rather than stop.
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


@dataclass(frozen=True)
class FileLayout:
    """What a kind of file holds: its columns in order (others are dropped and reported),
    those it may lack, and how a refusal describes the whole header. Each column is typed
    by its name: ``STRING_COLUMNS`` as text, ``DATE_COLUMN`` as a date, ``FLOAT_COLUMNS``
    as numbers that may be missing, every other one as whole numbers."""

    kind: str  # "customer", "prospect": names rows in messages
    columns: tuple[str, ...]
    optional: tuple[str, ...] = ()
    header: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.optional)


CUSTOMER_FILE = FileLayout(
    "customer",
    INPUT_COLUMNS,
    OPTIONAL_INPUT_COLUMNS,
    "the 29 columns of the customer file (Response, Z_CostContact and Z_Revenue may be absent)",
)


@dataclass(frozen=True)
class ReadStats:
    """How a file was read: everything a user needs to trust that nothing was guessed."""

    source: str
    rows: int
    date_format: str
    has_response: bool
    separator: str = "n/a"
    byte_order_mark: bool = False
    line_ending: str = "n/a"
    extra_columns_dropped: list[str] = field(default_factory=list)
    identical_lines: int = 0  # kept: cleaning counts them as duplicates of the first
    rejected_lines: int = 0  # set aside under quarantine (see Rejections)

    def as_metadata(self) -> dict:
        return asdict(self)


class Rejections:
    """What becomes of a line that breaks a rule about one line.

    ``refuse`` (the default): the first such line raises :class:`InputDataError`, naming
    the file, column, lines and what was expected. ``quarantine``: each broken value is
    recorded as a ``RejectedCustomers`` row (line, ID when it could be read, column, value,
    reason) and its line is left out, so that the rest can be read; :meth:`enforce` then
    refuses the file, with the first rule's message, when too many lines were set aside.
    One collector gathers a file's rejections from every rule and every chunk."""

    def __init__(self, bad_rows: BadRows = "refuse"):
        if bad_rows not in ("refuse", "quarantine"):
            raise InputDataError(
                f"unknown bad_rows '{bad_rows}'",
                source="the customer_source resource configuration",
                expected="refuse or quarantine",
            )
        self.bad_rows = bad_rows
        self.first_error: InputDataError | None = None
        self._parts: list[pd.DataFrame] = []

    @property
    def quarantining(self) -> bool:
        return self.bad_rows == "quarantine"

    def reject(
        self,
        values: pd.Series,
        mask: pd.Series,
        problem: str,
        source: str,
        column: str | None,
        expected: str,
        fix: str | None = None,
    ) -> None:
        """The lines where ``mask`` holds break a rule: raise, or record them. ``{sample}``
        in ``problem`` becomes the first few offending values; a recorded reason leaves the
        value out (it has its own column), so that lines breaking one rule share one reason."""
        lines, sample = _bad(values, mask)
        error = InputDataError(
            problem.format(sample=sample), source=source, column=column, lines=lines, expected=expected, fix=fix
        )
        if not self.quarantining:
            raise error
        self.first_error = self.first_error or error
        bad = values[mask.to_numpy()]
        self._record(
            bad.index.to_numpy(),
            column or "",
            ["" if pd.isna(v) else str(v) for v in bad],
            f"{_SAMPLE.sub('', problem).format(sample='the value')}; expected {expected}",
        )

    def add_contract_failures(self, frame: pd.DataFrame, failures: pd.DataFrame, model_name: str, source: str) -> None:
        """Record the row-level failure cases of a pandera contract (``failures`` as
        ``contracts.contract_failures`` gives them) for the lines of ``frame``."""
        if failures.empty:
            return
        for (column, check), cases in failures.groupby(["column", "check"], sort=False):
            cells = pd.Series(cases["failure_case"].to_numpy(), index=cases["index"].astype("int64").to_numpy())
            self.reject(
                cells, pd.Series(True, index=cells.index), f"values that break the {model_name} contract: {check} ({{sample}})",
                source, str(column), f"values that satisfy {check}",
            )  # fmt: skip
        self.name_ids(frame["ID"])

    def name_ids(self, ids: pd.Series) -> None:
        """Fill in the ID of recorded lines from ``ids`` (by line), where it is not yet known."""
        if not self._parts:
            return
        table = self._table()
        unknown = table["ID"].isna()
        table.loc[unknown, "ID"] = ids.reindex(table.loc[unknown, "line"]).to_numpy()
        self._parts = [table]

    def lines(self) -> np.ndarray:
        """The lines set aside so far, in order."""
        return np.unique(np.concatenate([part["line"].to_numpy() for part in self._parts])) if self._parts else np.array([], dtype="int64")

    def table(self) -> pd.DataFrame:
        """The ``RejectedCustomers`` rows, in file order (empty, with its columns, when none)."""
        return self._table().sort_values("line", kind="stable").reset_index(drop=True)

    def enforce(self, data_lines: int, max_bad_fraction: float, setting: str) -> None:
        """Refuse the file, with the first broken rule's message and the fraction, when more
        than ``max_bad_fraction`` of its ``data_lines`` were set aside (``setting`` names
        where the limit is configured)."""
        rejected = len(self.lines())
        if not rejected or rejected <= max_bad_fraction * data_lines:
            return
        first = self.first_error
        raise InputDataError(
            f"{first.problem}; {rejected:,} of {data_lines:,} lines ({rejected / data_lines:.4%}) break a rule, "
            f"more than {setting} ({max_bad_fraction:g}) allows, so nothing was written",
            source=first.source,
            column=first.column,
            lines=first.lines,
            expected=first.expected,
            fix=f"Fix the file, or raise {setting} if the business accepts losing that share of lines.",
        )

    def _record(self, lines, column: str, values: list[str], reason: str) -> None:
        self._parts.append(
            pd.DataFrame(
                {
                    "line": np.asarray(lines, dtype="int64"),
                    "ID": pd.array([pd.NA] * len(lines), dtype="Int64"),
                    "column": column,
                    "value": pd.Series(values, dtype=object),
                    "reason": reason,
                }
            )
        )

    def _table(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in
                                 zip(REJECTED_COLUMNS, ("int64", "Int64", object, object, object))})  # fmt: skip
        return pd.concat(self._parts, ignore_index=True)[list(REJECTED_COLUMNS)]


def read_customers(
    path: str | Path, date_order: DateOrder = "auto", rejections: Rejections | None = None
) -> tuple[pd.DataFrame, ReadStats]:
    """Read and type a customer file; raise :class:`InputDataError` for anything else, or
    (``rejections`` quarantining) set the bad lines aside there."""
    return read_table(path, CUSTOMER_FILE, date_order, rejections)


def read_table(
    path: str | Path, layout: FileLayout, date_order: DateOrder = "auto", rejections: Rejections | None = None
) -> tuple[pd.DataFrame, ReadStats]:
    """Read and type a file laid out as ``layout``; raise :class:`InputDataError` for
    anything else, or (``rejections`` quarantining) set the bad lines aside there."""
    rejections = rejections or Rejections()
    source = str(path)
    raw = Path(path).read_bytes()
    if _BLANK.fullmatch(raw):
        raise InputDataError(
            "the file is empty", source=source, expected=f"a header line and one line per {layout.kind}"
        )
    # Only the header is decoded here: the whole file is decoded (and its UTF-8 checked
    # line by line) when the fast parser declines it, which invalid UTF-8 makes it do.
    end = raw.find(b"\n")
    first_line = raw[: end if end >= 0 else len(raw)]
    header_line, has_bom = _decode(first_line, source)
    header_line = header_line.rstrip("\r")
    try:
        separator = _detect_separator(header_line, source, layout)
    except InputDataError:
        _decode(raw, source)  # a file that is not UTF-8 is refused for that first
        raise
    frame, ragged = _parse_rows(raw, separator, source, rejections, first_line=2)
    del raw  # parsed: the file's bytes are not held while the table is typed (100 MB a million customers)
    typed, stats = type_table(frame, source, layout, date_order, rejections)
    return typed, replace(
        stats,
        rejected_lines=stats.rejected_lines + ragged,
        separator=SEPARATORS[separator],
        byte_order_mark=has_bom,
        line_ending="CRLF" if first_line.endswith(b"\r") and end >= 0 else "LF",
    )


def _parse_rows(
    raw: bytes, separator: str, source: str, rejections: Rejections, first_line: int, physical_line: int = 2
) -> tuple[pd.DataFrame, int]:
    """The rows of ``raw`` (a header line, then rows; the first of them on line
    ``physical_line`` of the file), untyped and indexed by file line, the first row being
    line ``first_line``. A line with too many fields is refused, or set aside under
    quarantine: how many were comes back too. Bytes that are not UTF-8 are refused."""
    frame = _read_plain_file(raw, separator)
    skipped: list[tuple[int, str]] = []
    if frame is None:
        text, _ = _decode(raw, source, line_offset=physical_line - 2)
        frame, skipped = _read_any_file(text, separator, source)
    offset = first_line - 2  # line 2 of ``text`` is line ``first_line`` of the file
    skipped_lines = [line + offset for line, _ in skipped]
    frame.index = pd.Index(_line_numbers(first_line, len(frame), skipped_lines), name="line")
    if skipped:
        rejections.reject(
            pd.Series([reason for _, reason in skipped], index=skipped_lines), pd.Series(True, index=skipped_lines),
            "a line with the wrong number of fields ({sample})", source, None,
            f"the same number of {SEPARATORS[separator]}-separated fields on every line",
        )  # fmt: skip
    return frame, len(skipped)


def _line_numbers(first_line: int, rows: int, skipped: list[int]) -> np.ndarray:
    """The file lines of ``rows`` parsed rows, numbered from ``first_line``, around the
    ``skipped`` lines the parser left out."""
    numbers = np.arange(first_line, first_line + rows + len(skipped))
    return numbers[~np.isin(numbers, skipped)]


def _read_plain_file(raw: bytes, separator: str) -> pd.DataFrame | None:
    """The common case fast: pyarrow's multithreaded parser, when every integer column is
    plain integers (spaces around them allowed, as in the other reader). None for anything
    else (blank lines, which would shift the line numbers; text, decimals or gaps in an
    integer column; a ragged line), so that ``_read_any_file`` and the checks after it read
    the file and name the lines."""
    if b"\n\n" in raw or b"\n\r\n" in raw:
        return None
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    # Text columns stay text, and only an empty cell is missing ("NA" or "nan" is refused
    # as text later, as the other reader does).
    end = body.find(b"\n")
    header = body[: end if end >= 0 else len(body)].decode("utf-8").rstrip("\r").split(separator)
    named = {name.strip().strip('"'): name.strip('"') for name in header}
    as_text = {named[name]: pa.string() for name in (*STRING_COLUMNS, DATE_COLUMN) if name in named}
    # Numbers that may be missing (an empty cell): parsed here too, which pyarrow does
    # several times faster than pandas from text.
    as_numbers = {named[name]: pa.float64() for name in FLOAT_COLUMNS if name in named}
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            parse_options=pa_csv.ParseOptions(delimiter=separator),
            convert_options=pa_csv.ConvertOptions(
                column_types=as_text | as_numbers, null_values=[""], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    for name, column in zip(table.column_names, table.columns):
        if name in as_numbers:
            # pyarrow reads the text "nan" as a number; the other reader refuses it as text.
            if pa_compute.any(pa_compute.is_nan(column)).as_py():
                return None
        elif name not in as_text and not (pa.types.is_integer(column.type) and column.null_count == 0):
            return None
    return table.to_pandas(self_destruct=True, split_blocks=True)  # each column let go once converted: the table is not held twice


def _read_any_file(text: str, separator: str, source: str) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """pandas' parser, for any file the fast path declines. Lines with too many fields are
    left out: (their line in ``text``, what is wrong) come back too."""
    try:
        # Columns the parser reads cleanly as numbers arrive typed (fast on large files);
        # any column with something else in it arrives as text, for the checks below to
        # name the lines. Empty cells stay "" rather than becoming NaN, so that they are
        # reported too, and low_memory=False types each column as a whole.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=separator,
                keep_default_na=False,
                skipinitialspace=True,
                skip_blank_lines=True,
                low_memory=False,
                on_bad_lines="warn",  # a line with too many fields is named (or set aside) below
            )
    except pd.errors.ParserError as error:
        raise InputDataError(
            f"the file cannot be split into columns ({error})",
            source=source,
            expected=f"the same number of {SEPARATORS[separator]}-separated fields on every line",
        ) from error
    skipped = [
        (int(match[1]), f"{match[3]} fields where the header has {match[2]}")
        for warning in caught
        for match in _SKIPPED_LINE.finditer(str(warning.message))
    ]
    return frame, skipped


def type_customer_table(
    frame: pd.DataFrame, source: str, date_order: DateOrder = "auto", rejections: Rejections | None = None
) -> tuple[pd.DataFrame, ReadStats]:
    """Check and type a customer table whose cells are text (as read) or already numbers
    (as generated). The index should be the file line numbers."""
    return type_table(frame, source, CUSTOMER_FILE, date_order, rejections)


def type_table(
    frame: pd.DataFrame,
    source: str,
    layout: FileLayout,
    date_order: DateOrder = "auto",
    rejections: Rejections | None = None,
) -> tuple[pd.DataFrame, ReadStats]:
    """Check and type a table laid out as ``layout`` whose cells are text (as read) or
    already numbers (as generated). The index should be the file line numbers. Bad lines
    are refused, or set aside in ``rejections`` when it quarantines."""
    rejections = rejections or Rejections()
    typed, date_format, extra = _type_rows(frame, source, layout, date_order, rejections)
    typed, identical = _set_aside_conflicting_ids(typed, source, layout.kind, rejections)
    stats = ReadStats(
        source=source,
        rows=len(typed),
        date_format=date_format,
        has_response="Response" in typed.columns,
        extra_columns_dropped=extra,
        identical_lines=identical,
        rejected_lines=int(np.isin(rejections.lines(), frame.index).sum()),
    )
    return typed, stats


def _type_rows(
    frame: pd.DataFrame, source: str, layout: FileLayout, dates: "DateOrder | DateReading", rejections: Rejections
) -> tuple[pd.DataFrame, str, list[str]]:
    """The typed rows that break no rule about one line, the date format and the extra
    columns. ``dates`` is the day/month order, or how the whole file's dates read."""
    names = [str(c).strip() for c in frame.columns]
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)  # only then: renaming copies every row
    extra = _check_columns(frame, source, layout)
    if frame.empty:
        raise InputDataError(
            f"the file has a header but no {layout.kind} rows", source=source, expected=f"one line per {layout.kind}"
        )
    typed = pd.DataFrame(index=frame.index)
    date_format = ""
    for column in (c for c in layout.columns if c in frame.columns):
        values = _as_text(frame[column], column)
        if column in STRING_COLUMNS:
            typed[column] = _text(values, column, source, rejections)
        elif column == DATE_COLUMN:
            typed[column], date_format = _parse_dates(values, source, dates, rejections)
        elif column in FLOAT_COLUMNS:
            typed[column] = _numbers(values, column, source, True, rejections)
        elif column == "ID":
            before = rejections.lines()
            typed[column] = _whole_numbers(values, column, source, rejections)
            unreadable_ids = np.setdiff1d(rejections.lines(), before)
        else:
            typed[column] = _whole_numbers(values, column, source, rejections)
    if rejections.quarantining:
        rejections.name_ids(typed["ID"].drop(index=unreadable_ids, errors="ignore"))
        typed = typed.loc[~typed.index.isin(rejections.lines())]
    return typed, date_format, extra


def _as_text(values: pd.Series, column: str) -> pd.Series:
    """Cells as the typing rules take them: text stripped of spaces, or numbers as parsed."""
    if column in (*STRING_COLUMNS, DATE_COLUMN) and values.dtype != object:
        values = values.astype(str)  # text that happens to look like numbers
    if values.dtype == object:
        values = by_distinct_value(values, lambda distinct: distinct.str.strip())
    return values


def _decode(raw: bytes, source: str, line_offset: int = 0) -> tuple[str, bool]:
    """``raw`` as text, and whether it starts with a byte order mark; line N of ``raw`` is
    line N + ``line_offset`` of the file."""
    has_bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8-sig"), has_bom
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1 + line_offset
        raise InputDataError(
            f"byte {raw[error.start]:#x} is not valid UTF-8",
            source=source,
            lines=[line],
            expected="a UTF-8 text file",
            fix="Re-save the file as UTF-8 (CSV UTF-8 in spreadsheet programs).",
        ) from error


def _detect_separator(header_line: str, source: str, layout: FileLayout = CUSTOMER_FILE) -> str:
    required = layout.required
    names = {sep: {name.strip().strip('"') for name in header_line.split(sep)} for sep in SEPARATORS}
    found = {sep: len(set(required) & cols) for sep, cols in names.items()}
    best = max(found, key=found.get)
    if found[best] < len(required) // 2:
        raise InputDataError(
            f"the header does not split into the {layout.kind} columns with any known separator "
            f"(header starts {header_line[:60]!r})",
            source=source,
            lines=[1],
            expected="a header separated by TAB, comma or semicolon naming columns such as "
            + ", ".join(required[:4]),
        )
    return best


def _check_columns(frame: pd.DataFrame, source: str, layout: FileLayout = CUSTOMER_FILE) -> list[str]:
    duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise InputDataError(
            f"column(s) {', '.join(duplicated)} appear more than once in the header",
            source=source,
            lines=[1],
            expected="each column once",
        )
    missing = [c for c in layout.required if c not in frame.columns]
    extra = [c for c in frame.columns if c not in layout.columns]
    if missing:
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, extra, n=1, cutoff=0.6)
            if close:
                hints.append(f"'{close[0]}' looks like '{name}'")
        raise InputDataError(
            f"required column(s) missing: {', '.join(missing)}",
            source=source,
            column=missing[0],
            lines=[1],
            expected=layout.header,
            fix=("Rename the columns: " + "; ".join(hints) + ".") if hints else None,
        )
    return extra


def _bad(values: pd.Series, mask: pd.Series) -> tuple[list[int], str]:
    lines = values.index[mask.to_numpy()].tolist()
    sample = ", ".join(repr(v) for v in values[mask.to_numpy()].head(3))
    return lines, sample


def _text(values: pd.Series, column: str, source: str, rejections: Rejections) -> pd.Series:
    empty = values.eq("")
    if empty.any():
        rejections.reject(values, empty, "empty value", source, column, "a category name")
    return values.astype(object)


def _numbers(values: pd.Series, column: str, source: str, allow_missing: bool, rejections: Rejections) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        numbers, not_numeric = values, pd.Series(False, index=values.index)
    else:
        numbers = pd.to_numeric(values.where(values.ne("")), errors="coerce")
        not_numeric = numbers.isna() & values.ne("")
    if not_numeric.any():
        rejections.reject(values, not_numeric, "text where a number belongs ({sample})", source, column, "a number")
    missing = numbers.isna() & ~not_numeric
    if not allow_missing and missing.any():
        rejections.reject(values, missing, "empty value", source, column, "a number")
    return numbers.astype("float64")


def _whole_numbers(values: pd.Series, column: str, source: str, rejections: Rejections) -> pd.Series:
    """``values`` as whole numbers: int64 for the ID, ``WholeNumber`` for every other column."""
    if pd.api.types.is_integer_dtype(values):
        numbers, usable = values, None  # typed by a parser or the generator: whole and complete
    else:
        numbers = _numbers(values, column, source, False, rejections)
        fractional = numbers.notna() & numbers.ne(np.floor(numbers))
        if fractional.any():
            rejections.reject(values, fractional, "counts must be whole numbers ({sample})", source, column, "an integer")
        usable = numbers.notna() & ~fractional
    dtype = np.int64 if column == "ID" else WholeNumber
    bounds = np.iinfo(dtype)
    too_large = numbers.notna() & ~numbers.between(bounds.min, bounds.max)
    if too_large.any():
        rejections.reject(
            values, too_large, "a number too large to store ({sample})", source, column,
            f"a whole number from {bounds.min:,} to {bounds.max:,}",
        )  # fmt: skip
        usable = ~too_large if usable is None else usable & ~too_large
    # Cells set aside above hold a stand-in; their lines are left out of the table.
    return (numbers if usable is None else numbers.where(usable, 0)).astype(dtype)


@dataclass(frozen=True)
class DateReading:
    """How a file's dates read, decided once from its distinct values (a file has a few
    hundred): each value's date (NaT where a rule rejects it), the rules broken (which
    values, the problem with a ``{sample}`` slot, what was expected) in the order they are
    checked, and the format."""

    values: pd.Index
    dates: np.ndarray
    problems: tuple[tuple[np.ndarray, str, str], ...]
    date_format: str

    def on_lines(self, values: pd.Series, source: str, rejections: Rejections) -> pd.Series:
        """The dates of ``values`` (text, indexed by line); lines with a rejected value are
        refused or set aside."""
        codes = self.values.get_indexer(values.fillna(""))
        if (codes < 0).any():
            raise InputDataError(
                "the file changed while it was being read", source=source, column=DATE_COLUMN,
                lines=values.index[codes < 0].tolist()[:10], expected="a file that stays as it is during the run",
            )  # fmt: skip
        for mask, problem, expected in self.problems:
            broken = mask[codes]
            if broken.any():
                rejections.reject(values, pd.Series(broken, index=values.index), problem, source, DATE_COLUMN, expected)
        return pd.Series(self.dates[codes], index=values.index).astype("datetime64[ns]")


def _parse_dates(
    values: pd.Series, source: str, dates: "DateOrder | DateReading", rejections: Rejections
) -> tuple[pd.Series, str]:
    if not isinstance(dates, DateReading):
        distinct, counts = _distinct_dates(values)
        dates = read_dates(distinct, counts, source, dates, rejections.bad_rows)
    return dates.on_lines(values, source, rejections), dates.date_format


def _distinct_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The distinct date texts of ``values`` and the lines holding each."""
    counts = values.fillna("").value_counts(sort=False)
    return pd.Series(counts.index, dtype=object), counts.to_numpy()


def read_dates(
    distinct: pd.Series, counts: np.ndarray, source: str, date_order: DateOrder, bad_rows: BadRows = "refuse"
) -> DateReading:
    """Decide how a file's dates read from its distinct date texts and the number of lines
    holding each. Refusing, checking stops at the first broken rule (the lines are named
    when the reading is applied to them); quarantining, the values that break a rule are
    left out of the later rules (a minority format or day/month order is the one set
    aside). A day/month order that cannot be established refuses the file either way."""
    distinct = distinct.reset_index(drop=True)
    usable = np.ones(len(distinct), dtype=bool)
    problems: list[tuple[np.ndarray, str, str]] = []
    nat = np.full(len(distinct), np.datetime64("NaT"), dtype="datetime64[ns]")

    def broken(mask, problem: str, expected: str) -> bool:
        """Record a rule broken by ``mask``; True when checking stops here (refusing)."""
        mask = np.asarray(mask, dtype=bool) & usable
        if not mask.any():
            return False
        problems.append((mask, problem, expected))
        usable[mask] = False
        return bad_rows == "refuse"

    def reading(dates: np.ndarray = nat, date_format: str = "") -> DateReading:
        return DateReading(pd.Index(distinct), dates, tuple(problems), date_format)

    iso = distinct.str.extract(f"^{_ISO_DATE}$")
    parts = distinct.str.extract(f"^{_PARTS_DATE}$")
    is_iso, is_parts = iso["year"].notna().to_numpy(), parts["year"].notna().to_numpy()
    if broken(~(is_iso | is_parts), "unreadable date(s) ({sample})", "dd-mm-yyyy (with -, / or .) or yyyy-mm-dd"):
        return reading()
    separators = parts.loc[is_parts, "sep"]
    if is_iso.any() and is_parts.any():
        minority = is_iso if counts[is_iso].sum() <= counts[is_parts].sum() else is_parts
    elif separators.nunique() > 1:
        most = pd.Series(counts[is_parts], index=separators.to_numpy()).groupby(level=0).sum().idxmax()
        minority = is_parts & parts["sep"].ne(most).to_numpy()
    else:
        minority = None
    if minority is not None and broken(
        minority, "mixed date formats in one file ({sample} differ from the rest)", "one date format for the whole file"
    ):
        return reading()
    if not usable.any():
        return reading()
    if is_iso[usable].all():
        year, day, month, fmt = iso["year"], iso["second"], iso["first"], "yyyy-mm-dd"
    else:
        first = pd.to_numeric(parts["first"]).fillna(0).to_numpy()
        second = pd.to_numeric(parts["second"]).fillna(0).to_numpy()
        order = _establish_day_month_order(first, second, counts, usable, broken, date_order, bad_rows, source)
        if order is None:
            return reading()
        sep = parts.loc[usable, "sep"].iloc[0]
        year = parts["year"]
        if order == "day_first":
            day, month, fmt = parts["first"], parts["second"], f"dd{sep}mm{sep}yyyy"
        else:
            day, month, fmt = parts["second"], parts["first"], f"mm{sep}dd{sep}yyyy"
    # Values set aside above get a stand-in date, then NaT.
    stand_in = lambda part: pd.to_numeric(part).where(usable, 1).astype(int)
    dates = pd.to_datetime(
        pd.DataFrame({"year": stand_in(year), "month": stand_in(month), "day": stand_in(day)}), errors="coerce"
    ).to_numpy(dtype="datetime64[ns]")
    broken(np.isnat(dates), f"date(s) that do not exist when read as {fmt} ({{sample}})", f"real calendar dates in {fmt}")
    dates[~usable] = np.datetime64("NaT")
    return reading(dates, fmt)


def _establish_day_month_order(
    first: np.ndarray,
    second: np.ndarray,
    counts: np.ndarray,
    usable: np.ndarray,
    broken,
    date_order: DateOrder,
    bad_rows: BadRows,
    source: str,
) -> str | None:
    """The day/month order of the usable date values, or None when a value that breaks a
    rule stops the checking (see ``read_dates``)."""
    proves_day_first, proves_month_first = (first > 12) & usable, (second > 12) & usable
    if proves_day_first.any() and proves_month_first.any():
        if bad_rows == "refuse" or counts[proves_month_first].sum() <= counts[proves_day_first].sum():
            odd, problem = proves_month_first, "some can only be day-first, others ({sample}) only month-first"
        else:
            odd, problem = proves_day_first, "most can only be month-first, others ({sample}) only day-first"
        if broken(odd, f"dates disagree on day/month order: {problem}", "one day/month order for the whole file"):
            return None
        proves_day_first, proves_month_first = proves_day_first & usable, proves_month_first & usable
    evidence = "day_first" if proves_day_first.any() else "month_first" if proves_month_first.any() else None
    if date_order != "auto":
        if evidence and evidence != date_order and broken(
            proves_day_first | proves_month_first,
            f"dates such as {{sample}} contradict the configured date_order '{date_order}'",
            f"dates in {date_order.replace('_', '-')} order",
        ):
            return None
        return date_order
    if evidence is None:
        raise InputDataError(
            "the day/month order cannot be established: no date has a part above 12, "
            "so 03-04-2013 could be 3 April or 4 March",
            source=source,
            column=DATE_COLUMN,
            expected="a file with at least one unambiguous date, or an explicit order",
            fix=(
                "Set 'date_order' on the customer_source resource to 'day_first' or 'month_first' "
                "(run configuration: resources: customer_source: config: date_order: day_first)."
            ),
        )
    return evidence


def _set_aside_conflicting_ids(
    frame: pd.DataFrame, source: str, kind: str, rejections: Rejections
) -> tuple[pd.DataFrame, int]:
    """Identical lines are one customer exported twice: they stay, for cleaning to count
    as duplicates of the first (every line is accounted for). The same ID with *different*
    data cannot be resolved without guessing: refuse, or set aside every line of that ID.
    Returns the rows kept and how many are identical to an earlier one."""
    identical = identical_lines(frame)
    distinct_ids = frame["ID"][~identical.to_numpy()]
    clashing = distinct_ids.duplicated(keep=False)
    if clashing.any():
        ids = distinct_ids[clashing]
        every_line = frame["ID"].isin(ids) if rejections.quarantining else frame.index.isin(ids.index)
        rejections.reject(
            frame["ID"], pd.Series(every_line, index=frame.index),
            f"{ids.nunique()} {kind} ID(s) appear on several lines with different data (e.g. ID {ids.iloc[0]})",
            source, "ID", f"one line per {kind} ID", "Remove or merge the conflicting lines, or give them distinct IDs.",
        )  # fmt: skip
        rejections.name_ids(frame["ID"])
        frame = frame.loc[~frame["ID"].isin(ids)]
        identical = identical_lines(frame)
    return frame, int(identical.sum())


def _repeated_values(values: np.ndarray) -> np.ndarray:
    """The values found more than once (NaN, an unreadable ID, counts as one value): by
    sorting in place, a fraction of a hash table's memory at ten million lines."""
    values.sort()
    repeated = np.unique(values[1:][values[1:] == values[:-1]])
    return np.append(repeated, np.nan) if np.isnan(values).sum() > 1 else repeated


class CustomerChunks:
    """A customer file read in chunks of typed lines, in bounded memory: iterate for frames
    indexed by file line which, concatenated, equal what :func:`read_customers` returns,
    with the same lines set aside in ``rejections`` (quarantine) or the same kind of
    refusal naming the true file lines (refuse). A consumer commits nothing before the
    iteration ends: a bad line in a late chunk refuses the whole file. ``stats`` then sums
    the chunks' :class:`ReadStats`.

    Three reads keep memory bounded (by ``chunk_lines``, plus 8 bytes a line for the ID
    check) and the results exact: the first establishes what needs the whole file (the
    day/month order and each date text's reading, decided once from the distinct dates;
    the IDs on more than one line); the second types only the lines of those IDs, to set
    aside (or refuse) an ID two different lines claim before any chunk is given out; the
    third types and yields the chunks."""

    def __init__(self, path: str | Path, date_order: DateOrder, rejections: Rejections, chunk_lines: int):
        if chunk_lines < 1:
            raise ValueError("chunk_lines must be at least 1")
        self.path = Path(path)
        self.source = str(path)
        self.date_order = date_order
        self.rejections = rejections
        self.chunk_lines = chunk_lines
        self._stats: ReadStats | None = None

    @property
    def stats(self) -> ReadStats:
        """The whole file's reading stats, summed over the chunks, once they are all read."""
        if self._stats is None:
            raise RuntimeError("the stats are known once every chunk has been read")
        return self._stats

    def __iter__(self) -> Iterator[pd.DataFrame]:
        header, has_bom, separator = self._header()
        layout, scratch = CUSTOMER_FILE, Rejections("quarantine")
        # Read 1: the whole file's dates and the IDs found on more than one line.
        date_counts, ids, lines = pd.Series(dtype="int64"), [], 0
        for frame, _ in self._frames(header, separator, scratch if self.rejections.quarantining else self.rejections):
            frame = frame.rename(columns=lambda c: str(c).strip())
            _check_columns(frame, self.source, layout)
            distinct, counts = _distinct_dates(_as_text(frame[DATE_COLUMN], DATE_COLUMN))
            date_counts = date_counts.add(pd.Series(counts, index=distinct.to_numpy()), fill_value=0).astype("int64")
            ids.append(pd.to_numeric(_as_text(frame["ID"], "ID"), errors="coerce").to_numpy(dtype="float64"))
            lines += len(frame)
        if not lines:  # refused as the whole-file reader refuses a header without rows
            _type_rows(self._parse_header(header, separator), self.source, layout, self.date_order, self.rejections)
        dates = read_dates(
            pd.Series(date_counts.index, dtype=object), date_counts.to_numpy(), self.source, self.date_order,
            self.rejections.bad_rows,
        )  # fmt: skip
        repeated = _repeated_values(np.concatenate(ids))
        del ids
        # Read 2: lines sharing an ID, typed together to tell copies from clashes.
        identical, clash = self._shared_ids(header, separator, dates, repeated) if len(repeated) else (np.array([]), None)
        # Read 3: the chunks.
        totals = {"rows": 0, "identical_lines": 0, "rejected_lines": 0}
        has_response, extra = False, []
        next_line = 2
        for frame, ragged in self._frames(header, separator, self.rejections):
            first, next_line = next_line, next_line + len(frame) + ragged
            typed = None
            if len(frame):  # a block may hold only blank or ragged lines
                typed, _, extra = _type_rows(frame, self.source, layout, dates, self.rejections)
                totals["rows"] += len(typed)
                totals["identical_lines"] += int(typed.index.isin(identical).sum())
                has_response = "Response" in typed.columns
            set_aside = self.rejections.lines()
            totals["rejected_lines"] += int(((set_aside >= first) & (set_aside < next_line)).sum())
            if typed is not None:
                yield typed
        if clash is not None:
            raise clash
        self._stats = ReadStats(
            source=self.source,
            date_format=dates.date_format,
            has_response=has_response,
            separator=SEPARATORS[separator],
            byte_order_mark=has_bom,
            line_ending="CRLF" if header.endswith(b"\r\n") else "LF",
            extra_columns_dropped=extra,
            **totals,
        )

    def _header(self) -> tuple[bytes, bool, str]:
        """The header line (without byte order mark), whether there was one, the separator."""
        with open(self.path, "rb") as handle:
            raw = handle.readline()
            blank = not raw.strip() and not any(block.strip() for block in iter(lambda: handle.read(1 << 20), b""))
        text, has_bom = _decode(raw, self.source)
        if blank:
            raise InputDataError(
                "the file is empty", source=self.source, expected="a header line and one line per customer"
            )
        separator = _detect_separator(text.rstrip("\r\n"), self.source)
        return raw[3:] if has_bom else raw, has_bom, separator

    def _parse_header(self, header: bytes, separator: str) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(header), sep=separator, skipinitialspace=True)

    def _frames(self, header: bytes, separator: str, rejections: Rejections) -> Iterator[tuple[pd.DataFrame, int]]:
        """Each block of lines, parsed as the whole-file reader parses a file and indexed by
        file line, with how many ragged lines it set aside."""
        next_line = 2
        for physical_line, block in self._blocks():
            raw = header + block
            frame, ragged = _parse_rows(raw, separator, self.source, rejections, next_line, physical_line)
            next_line += len(frame) + ragged
            yield frame, ragged

    def _blocks(self) -> Iterator[tuple[int, bytes]]:
        """(physical line of its first line, bytes) for blocks of ``chunk_lines`` lines after
        the header; a block runs on while a quoted field is open, so no field is cut."""
        with open(self.path, "rb") as handle:
            handle.readline()
            line = 2
            while True:
                block = [next_line for _, next_line in zip(range(self.chunk_lines), handle)]
                if not block:
                    return
                quotes = sum(part.count(b'"') for part in block)
                while quotes % 2:
                    more = handle.readline()
                    if not more:
                        break
                    block.append(more)
                    quotes += more.count(b'"')
                yield line, b"".join(block)
                line += len(block)

    def _shared_ids(
        self, header: bytes, separator: str, dates: DateReading, repeated: np.ndarray
    ) -> tuple[np.ndarray, InputDataError | None]:
        """The lines identical to an earlier one, and (refusing) the error for an ID claimed
        by different lines, from the lines of the IDs in ``repeated``; quarantining, those
        lines are set aside in ``rejections`` now, before any chunk is given out."""
        scratch, shared = Rejections("quarantine"), []
        for frame, _ in self._frames(header, separator, scratch):
            frame = frame.rename(columns=lambda c: str(c).strip())
            ids = pd.to_numeric(_as_text(frame["ID"], "ID"), errors="coerce")
            lines = frame.loc[ids.isin(repeated).to_numpy()]
            if len(lines):
                shared.append(_type_rows(lines, self.source, CUSTOMER_FILE, dates, scratch)[0])
        typed = pd.concat(shared)
        try:
            kept, _ = _set_aside_conflicting_ids(typed, self.source, "customer", self.rejections)
        except InputDataError as clash:  # refusing: raised after the chunks, as the whole-file reader checks it last
            return np.array([]), clash
        return kept.index[kept.duplicated(keep="first")].to_numpy(), None


def iter_customer_chunks(
    path: str | Path,
    *,
    chunk_lines: int = 100_000,
    date_order: DateOrder = "auto",
    rejections: Rejections | None = None,
) -> CustomerChunks:
    """The customer file in chunks of at most about ``chunk_lines`` typed lines, indexed by
    file line, read by :func:`read_customers`' rules in bounded memory (see
    :class:`CustomerChunks`); bad lines are refused, or set aside in ``rejections`` when it
    quarantines. After the iteration, ``.stats`` holds the whole file's :class:`ReadStats`."""
    return CustomerChunks(path, date_order, rejections or Rejections(), chunk_lines)
