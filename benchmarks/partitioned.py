"""The partitioned graph at scale: ``python -m benchmarks.run --customers N --partitions P``.

In fresh processes, on one synthetic file (streamed to disk by the generator):

1. the whole partitioned graph, retrain included, in one run over every bucket (what
   ``dg launch --assets '*' --partition-range`` does), then nightly rescoring of every
   bucket; seconds and the process's peak RSS (with the in-process executor every step
   runs in that one process, so it is the largest single process);
2. where the unpartitioned graph fits (up to ``--equal-up-to`` customers), the
   unpartitioned graph on the same file, and the per-customer comparison of the two:
   same cluster and contact decision, probabilities within 1e-9, read bucket by bucket.

Writes ``benchmarks/results/partitioned-<N>.json``.
"""

import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.run import RESULTS, _peak_rss_mb, _step_seconds, in_fresh_process, machine

EQUAL_TOLERANCE = 1e-9
PER_CUSTOMER_STEPS = ("raw_customers", "cleaned_customers", "engineered_customers", "scaled_customers",
                      "clustered_customers", "scored_customers")  # fmt: skip


def measure_partitioned(csv_path: str, data_dir: str, partitions: int) -> dict:
    """Whole graph, then nightly rescoring, each over every bucket in one run."""
    from dagster import DagsterInstance
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from campaign_pipeline.definitions import build_definitions
    from campaign_pipeline.transforms.buckets import bucket_keys

    keys = bucket_keys(partitions)
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    defs = build_definitions(data_dir=data_dir, raw_csv=csv_path, partitions=partitions)
    instance = DagsterInstance.ephemeral()
    seconds, steps = {}, {}
    for name, job in (("total", defs.resolve_implicit_global_asset_job_def()), ("rescore", defs.resolve_job_def("nightly_rescore"))):
        start = time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=tags)
        seconds[name] = round(time.perf_counter() - start, 3)
        steps[name] = _step_seconds(instance, result.run_id)
    per_customer = sum(steps["rescore"].get(step, 0.0) for step in PER_CUSTOMER_STEPS)
    return {
        "total_seconds": seconds["total"],
        "rescore_seconds": seconds["rescore"],
        "seconds_per_partition": round(per_customer / partitions, 3),
        "asset_seconds": steps["total"],
        "rescore_asset_seconds": steps["rescore"],
        "max_process_rss_mb": round(_peak_rss_mb(), 1),
    }


def measure_unpartitioned(csv_path: str, data_dir: str) -> dict:
    from dagster import DagsterInstance

    from campaign_pipeline.definitions import build_definitions

    defs = build_definitions(data_dir=data_dir, raw_csv=csv_path)
    start = time.perf_counter()
    defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=DagsterInstance.ephemeral())
    return {"total_seconds": round(time.perf_counter() - start, 3), "max_process_rss_mb": round(_peak_rss_mb(), 1)}


def compare_per_customer(partitioned_dir: str, unpartitioned_dir: str) -> dict:
    """The scores of both shapes, customer by customer (one bucket in memory at a time)."""
    import numpy as np
    import pandas as pd

    whole = pd.read_parquet(Path(unpartitioned_dir) / "scored_customers.parquet")
    compared, worst, same = 0, 0.0, True
    for bucket in sorted((Path(partitioned_dir) / "scored_customers").glob("*.parquet")):
        part = pd.read_parquet(bucket)
        expected = whole.loc[part.index]
        same &= bool((part["cluster"] == expected["cluster"]).all() and (part["contact"] == expected["contact"]).all())
        worst = max(worst, float(np.abs(part["response_probability"] - expected["response_probability"]).max()))
        compared += len(part)
    equal = same and worst <= EQUAL_TOLERANCE and compared == len(whole)
    return {"unpartitioned_equal": equal, "customers_compared": compared, "max_probability_difference": worst}


def benchmark_partitioned(customers: int, partitions: int, seed: int, repeat: int, equal_up_to: int) -> dict:
    from campaign_pipeline.sources.synthetic import write_synthetic_customers

    with tempfile.TemporaryDirectory(prefix=f"campaign-partitioned-{customers}-") as work:
        work_dir = Path(work)
        csv_path = work_dir / "customers.csv"
        write_synthetic_customers(csv_path, customers, seed)
        runs = [
            in_fresh_process(measure_partitioned, str(csv_path), str(work_dir / f"partitioned-{attempt}"), partitions)
            for attempt in range(repeat)
        ]
        equality: dict = {"unpartitioned_equal": None}
        unpartitioned = None
        if customers <= equal_up_to:
            unpartitioned = in_fresh_process(measure_unpartitioned, str(csv_path), str(work_dir / "unpartitioned"))
            equality = compare_per_customer(str(work_dir / "partitioned-0"), str(work_dir / "unpartitioned"))
    result = {
        "customers": customers,
        "partitions": partitions,
        "source": f"synthetic (seed {seed})",
        "repeat": repeat,
        "total_seconds": statistics.median(run["total_seconds"] for run in runs),
        "rescore_seconds": statistics.median(run["rescore_seconds"] for run in runs),
        "max_process_rss_mb": max(run["max_process_rss_mb"] for run in runs),
        "seconds_per_partition": statistics.median(run["seconds_per_partition"] for run in runs),
        **equality,
        "unpartitioned": unpartitioned,
        "asset_seconds": runs[0]["asset_seconds"],
        "rescore_asset_seconds": runs[0]["rescore_asset_seconds"],
        "total_seconds_runs": [run["total_seconds"] for run in runs],
        "rescore_seconds_runs": [run["rescore_seconds"] for run in runs],
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"partitioned-{customers}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
