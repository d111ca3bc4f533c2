"""Customer buckets and the samples fitted objects learn from, the same in either shape.

In the partitioned graph each customer lives in one of N buckets, chosen by a hash of the
columns that cleaning never changes and that every duplicate shares (``BUCKET_COLUMNS``:
all input columns but ``ID``, ``Response``, ``Income`` and the two categories, which
cleaning may map or blank). Copies of one customer therefore always meet in one bucket,
so deduplication inside a bucket is deduplication of the whole file, whatever cleaning
rules are configured.

Fitted objects learn from a *stable sample*: the rows whose file line has the smallest
seeded hash (per ``Response`` class in proportion, when stratified). Which rows are picked
depends only on the lines, the seed and the class counts, never on how the rows are split
into buckets, so the partitioned and the unpartitioned graph fit the same objects, and
every per-customer result agrees between them.
"""

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from campaign_pipeline.schemas import COST_COLUMN, INPUT_COLUMNS, RESPONSE, REVENUE_COLUMN

# Cleaning may blank an income or map a category, so two copies of one customer can
# differ there before cleaning; they never differ anywhere else.
NOT_BUCKETED = ("ID", RESPONSE, "Income", "Education", "Marital_Status", COST_COLUMN, REVENUE_COLUMN)
BUCKET_COLUMNS = tuple(c for c in INPUT_COLUMNS if c not in NOT_BUCKETED)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def bucket_keys(count: int) -> list[str]:
    """``count`` partition keys, zero-padded so that they sort in bucket order."""
    if count < 2:
        raise ValueError(f"A partitioned graph needs at least 2 buckets, not {count}")
    width = len(str(count - 1))
    return [f"{bucket:0{width}d}" for bucket in range(count)]


def customer_buckets(customers: pd.DataFrame, count: int) -> np.ndarray:
    """The bucket (0..count-1) of each row, from ``BUCKET_COLUMNS`` (see the module)."""
    hashed = pd.util.hash_pandas_object(customers[list(BUCKET_COLUMNS)], index=False).to_numpy()
    return (hashed % np.uint64(count)).astype(np.int64)


def spill_into_buckets(chunks: Iterable[pd.DataFrame], count: int, wanted: Iterable[int], folder: Path) -> dict[int, Path]:
    """One streaming pass: each chunk's rows appended to the Parquet file of their bucket
    in ``folder`` (only the ``wanted`` buckets are kept), so memory holds one chunk.
    Returns the file of every wanted bucket, in chunk order (file-line order)."""
    wanted = sorted(set(wanted))
    writers: dict[int, pq.ParquetWriter] = {}
    paths = {bucket: folder / f"{bucket}.parquet" for bucket in wanted}
    schema: pa.Schema | None = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=True)
            # One schema for every chunk: a column that happens to be empty in a chunk
            # must not change its type.
            schema = schema or table.schema
            table = table.cast(schema)
            bucket = customer_buckets(chunk, count)
            for number in wanted:
                if number not in writers:
                    writers[number] = pq.ParquetWriter(paths[number], schema)
                writers[number].write_table(table.filter(pa.array(bucket == number)))
    finally:
        for writer in writers.values():
            writer.close()
    return {number: path for number, path in paths.items() if number in writers}


def line_hash(lines: np.ndarray, seed: int) -> np.ndarray:
    """SplitMix64 of each line number and the seed: a fixed, well-mixed order of lines."""
    with np.errstate(over="ignore"):
        z = (np.asarray(lines, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class FrameSource(Protocol):
    """Buckets of one dataset that can be read one at a time (``io_managers.Buckets``)."""

    def keys(self) -> Iterable[str]: ...

    def frame(self, key: str, columns: list[str] | None = None) -> pd.DataFrame: ...


def frames_of(data: "pd.DataFrame | FrameSource", columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Each bucket of ``data`` in turn (a frame is one bucket)."""
    if isinstance(data, pd.DataFrame):
        yield data if columns is None else data[[c for c in columns if c in data.columns]]
        return
    for key in data.keys():
        yield data.frame(key, columns)


ROWS = "rows"  # the count column of ``count_by``


def count_by(data: "pd.DataFrame | FrameSource", columns: list[str]) -> pd.DataFrame:
    """How many rows of ``data`` share each combination of ``columns`` (those it has; a
    missing value is a value too), in column ``rows``, sorted by the combinations. Read
    one bucket at a time: each bucket's counts are a partial aggregate, and they add up."""
    partials, present = [], []
    for frame in frames_of(data, columns):
        present = list(frame.columns)
        if present:
            partials.append(frame.value_counts(dropna=False, sort=False).rename(ROWS))
        else:
            partials.append(pd.Series([len(frame)], name=ROWS))
    if not present:
        return pd.DataFrame({ROWS: [int(sum(int(partial.sum()) for partial in partials))]})
    counts = pd.concat(partials).groupby(level=list(range(len(present))), dropna=False, sort=True, observed=True).sum()
    return counts[counts > 0].reset_index().astype({ROWS: "int64"})  # no unobserved categories


def _quotas(class_counts: Mapping[object, int], size: int, floor: int) -> dict[object, int]:
    """Rows to draw per class: ``size`` split in proportion to the class counts, at least
    ``floor`` (or the whole class)."""
    total = sum(class_counts.values())
    return {label: min(count, max(floor, round(size * count / total))) for label, count in sorted(class_counts.items())}


def _labels(frame: pd.DataFrame, strata: list[str]) -> object:
    """Each row's class: its value of the one stratum column, or its values of several
    joined into one text (a scalar, so that classes compare and sort)."""
    present = [column for column in strata if column in frame.columns]
    if not present:
        return 0
    if len(present) == 1:
        return frame[present[0]].to_numpy()
    # The text is made once per combination, not once per row.
    groups = frame.groupby(present, sort=False, dropna=False, observed=True)
    texts = np.array(["|".join(map(str, combination)) for combination in groups.size().index], dtype=object)
    return texts[groups.ngroup().to_numpy()]


def stable_sample(
    data: "pd.DataFrame | FrameSource",
    size: int,
    seed: int,
    stratify: str | list[str] | None = None,
    columns: list[str] | None = None,
    floor: int = 1,
) -> pd.DataFrame:
    """The rows of ``data`` (a frame indexed by file line, or its buckets) whose line hash
    is smallest: ``size`` of them, in each class of ``stratify`` (a column, or the
    combinations of several) in proportion, at least ``floor`` of each (or all of them;
    every row when there are no more), with ``columns`` (all by default). Sorted by line.
    Reads one bucket at a time."""
    strata = [stratify] if isinstance(stratify, str) else list(stratify or [])
    labels = strata or ["ID"]  # a column, so that Parquet restores the line index
    counts: dict[object, int] = {}
    candidates: list[pd.DataFrame] = []
    for frame in frames_of(data, labels):
        if len(frame) == 0:
            continue
        keys = pd.DataFrame(
            {"line": frame.index.to_numpy(), "order": line_hash(frame.index.to_numpy(), seed),
             "label": _labels(frame, strata)}  # fmt: skip
        )
        for label, count in keys["label"].value_counts().items():
            counts[label] = counts.get(label, 0) + int(count)
        # No bucket can contribute more than ``size`` (or ``floor``) rows of a class.
        candidates.append(keys.iloc[_smallest_per_label(keys, max(size, floor))])
    if not candidates:
        return next(frames_of(data)).iloc[0:0] if isinstance(data, pd.DataFrame) else pd.DataFrame()
    pool = pd.concat(candidates, ignore_index=True).sort_values("order")
    quotas = _quotas(counts, size, floor) if sum(counts.values()) > size else counts
    chosen = pd.concat([pool[pool["label"].eq(label)].head(quota) for label, quota in quotas.items()])
    wanted = np.sort(chosen["line"].to_numpy())
    picked = [frame.loc[frame.index.intersection(wanted)] for frame in frames_of(data, columns)]
    return pd.concat(picked).sort_index() if len(picked) > 1 else picked[0].sort_index()


def _smallest_per_label(keys: pd.DataFrame, count: int) -> np.ndarray:
    """Positions of the ``count`` rows of each label with the smallest ``order`` (all of a
    label's rows when it has no more): a partial sort, as only those can be chosen. Line
    hashes of distinct lines never tie (SplitMix64 is a bijection), so the rows are those a
    full sort would put first."""
    codes = pd.factorize(keys["label"])[0]
    order = keys["order"].to_numpy()
    picked = []
    for code in range(codes.max() + 1):
        rows = np.flatnonzero(codes == code)
        if len(rows) > count:
            rows = rows[np.argpartition(order[rows], count - 1)[:count]]
        picked.append(rows)
    return np.concatenate(picked)


def merge_sorted(paths: list[Path], by: list[str], ascending: list[bool], rows: int = 500_000) -> Iterator[pd.DataFrame]:
    """The rows of Parquet files, each already sorted by ``by`` (``ascending``), merged
    into that order a chunk at a time: about ``rows`` rows are held at once, however many
    the files have. At least one (maybe empty) chunk."""
    batch = max(1_000, rows // max(len(paths), 1))
    readers = [pq.ParquetFile(path).iter_batches(batch_size=batch) for path in paths]
    buffers = [_next_frame(reader) for reader in readers]
    merged_any = False
    while live := [number for number, frame in enumerate(buffers) if frame is not None]:
        # Every row up to the smallest of the buffers' last rows is final.
        lasts = pd.concat([buffers[number].tail(1) for number in live])
        bound = lasts.sort_values(by, ascending=ascending, kind="stable").iloc[0]
        parts = []
        for number in live:
            frame = buffers[number]
            final = _up_to(frame, bound, by, ascending)
            parts.append(frame[final])
            rest = frame[~final]
            buffers[number] = rest if len(rest) else _next_frame(readers[number])
        merged_any = True
        yield pd.concat(parts).sort_values(by, ascending=ascending, kind="stable").reset_index(drop=True)
    if not merged_any:
        yield pd.read_parquet(paths[0]).iloc[0:0] if paths else pd.DataFrame()


def _next_frame(reader: Iterator[pa.RecordBatch]) -> pd.DataFrame | None:
    for batch in reader:
        if batch.num_rows:
            return batch.to_pandas()
    return None


def _up_to(frame: pd.DataFrame, bound: pd.Series, by: list[str], ascending: list[bool]) -> np.ndarray:
    """Rows of ``frame`` that come no later than ``bound`` in the order of ``by``."""
    before, equal = np.zeros(len(frame), dtype=bool), np.ones(len(frame), dtype=bool)
    for column, rising in zip(by, ascending):
        values = frame[column].to_numpy()
        earlier = values < bound[column] if rising else values > bound[column]
        before |= equal & earlier
        equal &= values == bound[column]
    return before | equal
