"""Read a customer file in any of the circulating variants, or refuse it with a clear error.

Accepted (REFERENCE §1): TAB, comma or semicolon separated; LF or CRLF; UTF-8 with or
without BOM; quoted fields; stray spaces around values; columns in any order, extra
columns dropped (and reported); dates day-first with ``-``, ``/`` or ``.``, or ISO
``yyyy-mm-dd``. The day/month order is *established from the data* (a first part above
12 proves day-first) or given explicitly; it is never guessed.

The returned frame is indexed by file line number (header = line 1) so that contract
failures point at lines a user can open.

The same rules read any file laid out like the customer file (a ``FileLayout``: the
columns a kind of file may hold and those it may lack); ``sources.prospects`` reads
demographics-only prospect files with them.
"""

import difflib
import io
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import INPUT_COLUMNS, OPTIONAL_INPUT_COLUMNS

DateOrder = Literal["auto", "day_first", "month_first"]

STRING_COLUMNS = ("Education", "Marital_Status")
DATE_COLUMN = "Dt_Customer"
FLOAT_COLUMNS = ("Income",)
INTEGER_COLUMNS = tuple(
    c for c in INPUT_COLUMNS if c not in (*STRING_COLUMNS, DATE_COLUMN, *FLOAT_COLUMNS)
)
SEPARATORS = {"\t": "TAB", ",": "comma", ";": "semicolon"}

_ISO_DATE = r"(?P<year>\d{4})-(?P<first>\d{1,2})-(?P<second>\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
_PARTS_DATE = r"(?P<first>\d{1,2})(?P<sep>[-/.])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4})"


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

    def as_metadata(self) -> dict:
        return asdict(self)


def read_customers(path: str | Path, date_order: DateOrder = "auto") -> tuple[pd.DataFrame, ReadStats]:
    """Read and type a customer file; raise :class:`InputDataError` for anything else."""
    return read_table(path, CUSTOMER_FILE, date_order)


def read_table(
    path: str | Path, layout: FileLayout, date_order: DateOrder = "auto"
) -> tuple[pd.DataFrame, ReadStats]:
    """Read and type a file laid out as ``layout``; raise :class:`InputDataError` for
    anything else."""
    source = str(path)
    raw = Path(path).read_bytes()
    text, has_bom = _decode(raw, source)
    if not text.strip():
        raise InputDataError(
            "the file is empty", source=source, expected=f"a header line and one line per {layout.kind}"
        )
    header_line = text.split("\n", 1)[0].rstrip("\r")
    separator = _detect_separator(header_line, source, layout)
    frame = _read_plain_file(raw, separator)
    if frame is None:
        frame = _read_any_file(text, separator, source)
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
    typed, stats = type_table(frame, source, layout, date_order)
    return typed, replace(
        stats,
        separator=SEPARATORS[separator],
        byte_order_mark=has_bom,
        line_ending="CRLF" if "\r\n" in text[: len(header_line) + 2] else "LF",
    )


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
    header = body.split(b"\n", 1)[0].decode("utf-8").rstrip("\r").split(separator)
    text_columns = (*STRING_COLUMNS, DATE_COLUMN, *FLOAT_COLUMNS)
    as_text = {name.strip('"'): pa.string() for name in header if name.strip().strip('"') in text_columns}
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            parse_options=pa_csv.ParseOptions(delimiter=separator),
            convert_options=pa_csv.ConvertOptions(column_types=as_text, null_values=[""], strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    for name, column in zip(table.column_names, table.columns):
        if name not in as_text and not (pa.types.is_integer(column.type) and column.null_count == 0):
            return None
    return table.to_pandas()


def _read_any_file(text: str, separator: str, source: str) -> pd.DataFrame:
    """pandas' parser, for any file the fast path declines."""
    try:
        # Columns the parser reads cleanly as numbers arrive typed (fast on large files);
        # any column with something else in it arrives as text, for the checks below to
        # name the lines. Empty cells stay "" rather than becoming NaN, so that they are
        # reported too, and low_memory=False types each column as a whole.
        frame = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=True,
            low_memory=False,
        )
    except pd.errors.ParserError as error:
        raise InputDataError(
            f"the file cannot be split into columns ({error})",
            source=source,
            expected=f"the same number of {SEPARATORS[separator]}-separated fields on every line",
        ) from error
    return frame


def type_customer_table(
    frame: pd.DataFrame, source: str, date_order: DateOrder = "auto"
) -> tuple[pd.DataFrame, ReadStats]:
    """Check and type a customer table whose cells are text (as read) or already numbers
    (as generated). The index should be the file line numbers."""
    return type_table(frame, source, CUSTOMER_FILE, date_order)


def type_table(
    frame: pd.DataFrame, source: str, layout: FileLayout, date_order: DateOrder = "auto"
) -> tuple[pd.DataFrame, ReadStats]:
    """Check and type a table laid out as ``layout`` whose cells are text (as read) or
    already numbers (as generated). The index should be the file line numbers."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    extra = _check_columns(frame, source, layout)
    if frame.empty:
        raise InputDataError(
            f"the file has a header but no {layout.kind} rows", source=source, expected=f"one line per {layout.kind}"
        )
    typed = pd.DataFrame(index=frame.index)
    date_format = ""
    for column in (c for c in layout.columns if c in frame.columns):
        values = frame[column]
        if column in (*STRING_COLUMNS, DATE_COLUMN) and values.dtype != object:
            values = values.astype(str)  # text that happens to look like numbers
        if values.dtype == object:
            values = values.str.strip()
        if column in STRING_COLUMNS:
            typed[column] = _text(values, column, source)
        elif column == DATE_COLUMN:
            typed[column], date_format = _parse_dates(values, source, date_order)
        elif column in FLOAT_COLUMNS:
            typed[column] = _numbers(values, column, source, allow_missing=True)
        else:
            typed[column] = _whole_numbers(values, column, source)

    identical = _refuse_conflicting_ids(typed, source, layout.kind)
    stats = ReadStats(
        source=source,
        rows=len(typed),
        date_format=date_format,
        has_response="Response" in typed.columns,
        extra_columns_dropped=extra,
        identical_lines=identical,
    )
    return typed, stats


def _decode(raw: bytes, source: str) -> tuple[str, bool]:
    has_bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8-sig"), has_bom
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
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
    sample = ", ".join(repr(v) for v in values[mask].head(3))
    return lines, sample


def _refuse(values: pd.Series, mask: pd.Series, problem: str, source: str, column: str, expected: str) -> None:
    """Raise :class:`InputDataError` at the lines where ``mask`` holds; ``{sample}`` in
    ``problem`` becomes the first few offending values."""
    lines, sample = _bad(values, mask)
    raise InputDataError(problem.format(sample=sample), source=source, column=column, lines=lines, expected=expected)


def _text(values: pd.Series, column: str, source: str) -> pd.Series:
    empty = values.eq("")
    if empty.any():
        lines, _ = _bad(values, empty)
        raise InputDataError("empty value", source=source, column=column, lines=lines, expected="a category name")
    return values.astype(object)


def _numbers(values: pd.Series, column: str, source: str, allow_missing: bool) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        numbers, not_numeric = values, pd.Series(False, index=values.index)
    else:
        numbers = pd.to_numeric(values.where(values.ne("")), errors="coerce")
        not_numeric = numbers.isna() & values.ne("")
    if not_numeric.any():
        _refuse(values, not_numeric, "text where a number belongs ({sample})", source, column, "a number")
    if not allow_missing and numbers.isna().any():
        lines, _ = _bad(values, numbers.isna())
        raise InputDataError("empty value", source=source, column=column, lines=lines, expected="a number")
    return numbers.astype("float64")


def _whole_numbers(values: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64")  # typed by a parser or the generator: whole and complete
    numbers = _numbers(values, column, source, allow_missing=False)
    fractional = numbers.ne(np.floor(numbers))
    if fractional.any():
        _refuse(values, fractional, "counts must be whole numbers ({sample})", source, column, "an integer")
    return numbers.astype("int64")


def _parse_dates(values: pd.Series, source: str, date_order: DateOrder) -> tuple[pd.Series, str]:
    # A file has a few hundred distinct dates: parse those once and map them back.
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(uniques, dtype=object)

    def on_lines(mask: pd.Series) -> pd.Series:
        return pd.Series(mask.to_numpy()[codes], index=values.index)

    iso = distinct.str.extract(f"^{_ISO_DATE}$")
    parts = distinct.str.extract(f"^{_PARTS_DATE}$")
    is_iso, is_parts = iso["year"].notna(), parts["year"].notna()
    unreadable = ~(is_iso | is_parts)
    if unreadable.any():
        _refuse(
            values, on_lines(unreadable), "unreadable date(s) ({sample})", source, DATE_COLUMN,
            "dd-mm-yyyy (with -, / or .) or yyyy-mm-dd",
        )  # fmt: skip
    separators = parts.loc[is_parts, "sep"].unique().tolist()
    if is_iso.any() and is_parts.any():
        minority = is_iso if on_lines(is_iso).sum() <= on_lines(is_parts).sum() else is_parts
    elif len(separators) > 1:
        minority = parts["sep"].ne(parts["sep"].mode().iloc[0])
    else:
        minority = None
    if minority is not None:
        _refuse(
            values, on_lines(minority), "mixed date formats in one file ({sample} differ from the rest)", source,
            DATE_COLUMN, "one date format for the whole file",
        )  # fmt: skip
    if is_iso.all():
        year, day, month, fmt = iso["year"], iso["second"], iso["first"], "yyyy-mm-dd"
    else:
        first, second = parts["first"].astype(int), parts["second"].astype(int)
        order = _establish_day_month_order(first, second, values, on_lines, source, date_order)
        sep = separators[0]
        year = parts["year"]
        if order == "day_first":
            day, month, fmt = first, second, f"dd{sep}mm{sep}yyyy"
        else:
            day, month, fmt = second, first, f"mm{sep}dd{sep}yyyy"
    distinct_dates = pd.to_datetime(
        pd.DataFrame({"year": year.astype(int), "month": month.astype(int), "day": day.astype(int)}),
        errors="coerce",
    )
    impossible = distinct_dates.isna()
    if impossible.any():
        _refuse(
            values, on_lines(impossible), f"date(s) that do not exist when read as {fmt} ({{sample}})", source,
            DATE_COLUMN, f"real calendar dates in {fmt}",
        )  # fmt: skip
    dates = pd.Series(distinct_dates.to_numpy()[codes], index=values.index)
    return dates.astype("datetime64[ns]"), fmt


def _establish_day_month_order(
    first: pd.Series, second: pd.Series, values: pd.Series, on_lines, source: str, date_order: DateOrder
) -> str:
    proves_day_first, proves_month_first = first.gt(12), second.gt(12)
    if proves_day_first.any() and proves_month_first.any():
        lines, sample = _bad(values, on_lines(proves_month_first))
        raise InputDataError(
            f"dates disagree on day/month order: some can only be day-first, others ({sample}) only month-first",
            source=source,
            column=DATE_COLUMN,
            lines=lines,
            expected="one day/month order for the whole file",
        )
    evidence = "day_first" if proves_day_first.any() else "month_first" if proves_month_first.any() else None
    if date_order != "auto":
        if evidence and evidence != date_order:
            lines, sample = _bad(values, on_lines(proves_day_first | proves_month_first))
            raise InputDataError(
                f"dates such as {sample} contradict the configured date_order '{date_order}'",
                source=source,
                column=DATE_COLUMN,
                lines=lines,
                expected=f"dates in {date_order.replace('_', '-')} order",
            )
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


def _refuse_conflicting_ids(frame: pd.DataFrame, source: str, kind: str = "customer") -> int:
    """Identical lines are one customer exported twice: they stay, for cleaning to count
    as duplicates of the first (every line is accounted for). The same ID with *different*
    data cannot be resolved without guessing: refuse. Returns the identical lines."""
    identical = frame.duplicated(keep="first")
    distinct = frame.loc[~identical]
    clashing = distinct["ID"].duplicated(keep=False)
    if clashing.any():
        ids = distinct.loc[clashing, "ID"]
        first_id = ids.iloc[0]
        raise InputDataError(
            f"{ids.nunique()} {kind} ID(s) appear on several lines with different data "
            f"(e.g. ID {first_id})",
            source=source,
            column="ID",
            lines=ids.index.tolist(),
            expected=f"one line per {kind} ID",
            fix="Remove or merge the conflicting lines, or give them distinct IDs.",
        )
    return int(identical.sum())
