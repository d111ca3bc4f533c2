"""What the per-customer datasets cost to store, apart from computing them.

Rescoring writes every dataset in ``definitions.PER_CUSTOMER_ASSETS`` as Parquet, each
checked by its pandera contract first, and the next steps read them back. This times that
work alone on a data directory the graph has materialized: for each dataset, one read
(``io_managers.read_parquet``), its contract (``contracts.contract_failures``) and one write
(``io_managers.write_parquet``, to a temporary directory), with no Dagster and no
transform; and, for scale, pyarrow's plain parse of the customer file into pandas, without
the reader's per-value rules. The sum is a floor under rescoring's time for as long as each
per-customer dataset is a checked Parquet file.

``benchmarks.run`` measures it after the first materialization of each size (key
``storage_seconds`` of ``results/<N>.json``).
"""

import statistics
import tempfile
import time
from collections.abc import Callable


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return round(statistics.median(seconds), 3)


def contract_of(dataset: str):
    """The pandera model a dataset asset is held to: ``raw_customers`` -> ``schemas.RawCustomers``."""
    from campaign_pipeline import schemas

    return getattr(schemas, dataset.title().replace("_", ""))


def _dataset_seconds(path, scratch, repeat: int) -> dict:
    from campaign_pipeline.contracts import contract_failures
    from campaign_pipeline.io_managers import read_parquet, write_parquet

    frame = read_parquet(path)
    model = contract_of(path.stem)
    if contract_failures(model, frame) is not None:
        raise RuntimeError(f"{path} breaks its {model.__name__} contract: materialize it again")
    return {
        "rows": len(frame),
        "columns": frame.shape[1],
        "read": _median_seconds(lambda: read_parquet(path), repeat),
        "contract": _median_seconds(lambda: contract_failures(model, frame), repeat),
        "write": _median_seconds(lambda: write_parquet(frame, scratch / path.name), repeat),
    }


def measure_storage(csv_path: str, data_dir: str, repeat: int = 3) -> dict:
    """Medians of ``repeat`` timings: the plain parse of ``csv_path`` and, per dataset stored
    under ``data_dir``, its rows, columns, read, contract and write seconds, with totals."""
    import pyarrow.csv as pa_csv
    from upath import UPath

    from campaign_pipeline.definitions import PER_CUSTOMER_ASSETS
    from campaign_pipeline.sources.reading import _detect_separator

    with open(csv_path, encoding="utf-8-sig") as file:
        delimiter = _detect_separator(file.readline().rstrip("\r\n"), csv_path)  # as the reader finds it
    parse = pa_csv.ParseOptions(delimiter=delimiter)
    result = {"csv_parse": _median_seconds(lambda: pa_csv.read_csv(csv_path, parse_options=parse).to_pandas(), repeat)}
    with tempfile.TemporaryDirectory(prefix="campaign-storage-") as scratch:
        datasets = {name: _dataset_seconds(UPath(data_dir) / f"{name}.parquet", UPath(scratch), repeat) for name in PER_CUSTOMER_ASSETS}
    for part in ("read", "contract", "write"):
        result[part] = round(sum(dataset[part] for dataset in datasets.values()), 3)
    result["total"] = round(result["csv_parse"] + result["read"] + result["contract"] + result["write"], 3)
    result["datasets"] = datasets
    return result
