"""The partitioned graph at scale: ``python -m benchmarks.run --customers N --partitions P``.

In fresh processes, on one synthetic file (streamed to disk by the generator):

1. the whole partitioned graph, retrain included, in one run over every bucket (what
   ``dg launch --assets '*' --partition-range`` does), then, in another process, nightly
   rescoring of every bucket; seconds and each process's peak RSS (with the in-process
   executor every step runs in that one process, so it is the largest single process);
2. where the unpartitioned graph fits (up to ``--equal-up-to`` customers), the
   unpartitioned graph on the same file, and the per-customer comparison of the two:
   same cluster and contact decision, probabilities within 1e-9, read bucket by bucket.

Writes ``benchmarks/results/partitioned-<N>.json``.
"""

import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.run import RESULTS, _peak_rss_mb, _step_seconds, in_fresh_process, machine

EQUAL_TOLERANCE = 1e-9
PER_CUSTOMER_STEPS = ("raw_customers", "cleaned_customers", "engineered_customers", "scaled_customers",
                      "clustered_customers", "scored_customers")  # fmt: skip


def measure_partitioned(csv_path: str, data_dir: str, partitions: int, job_name: str, executor: str = "in_process") -> dict:
    """One run over every bucket: the whole graph (``job_name`` empty: ``retrain``, every
    asset) or a job; seconds,
    seconds per step and the largest single process's peak RSS. With ``in_process`` every
    step runs in this process; with ``multiprocess`` each step runs in a process of its
    own (as on Celery workers or Kubernetes pods), and the largest of them counts."""
    from dagster import DagsterInstance, execute_job, reconstructable
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from campaign_pipeline.transforms.buckets import bucket_keys

    keys = bucket_keys(partitions)
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    os.environ.update({"CAMPAIGN_RAW_CSV": csv_path, "CAMPAIGN_DATA_DIR": data_dir, "CAMPAIGN_PARTITIONS": str(partitions),
                       "CAMPAIGN_EXECUTOR": executor, "BENCHMARK_JOB": job_name})  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="campaign-instance-") as home, DagsterInstance.local_temp(home) as instance:
        start = time.perf_counter()
        result = execute_job(reconstructable(benchmarked_job), instance=instance, tags=tags, raise_on_error=True)
        seconds = round(time.perf_counter() - start, 3)
        steps = _step_seconds(instance, result.run_id)
    per_customer = sum(steps.get(step, 0.0) for step in PER_CUSTOMER_STEPS)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "seconds_per_partition": round(per_customer / partitions, 3),
        "asset_seconds": steps,
        "max_process_rss_mb": round(max(_peak_rss_mb(), children), 1),
    }


def benchmarked_job():
    """The job a benchmark run executes, built from the environment (``reconstructable``
    rebuilds it in every step process); the whole graph is the ``retrain`` job."""
    from campaign_pipeline.definitions import defs

    return defs.resolve_job_def(os.environ.get("BENCHMARK_JOB") or "retrain")


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


def benchmark_partitioned(
    customers: int, partitions: int, seed: int, repeat: int, equal_up_to: int, executor: str = "in_process"
) -> dict:
    from campaign_pipeline.sources.synthetic import write_synthetic_customers

    with tempfile.TemporaryDirectory(prefix=f"campaign-partitioned-{customers}-") as work:
        work_dir = Path(work)
        csv_path = work_dir / "customers.csv"
        write_synthetic_customers(csv_path, customers, seed)
        runs = []
        for attempt in range(repeat):
            data_dir = str(work_dir / f"partitioned-{attempt}")
            total = in_fresh_process(measure_partitioned, str(csv_path), data_dir, partitions, "")
            rescore = in_fresh_process(measure_partitioned, str(csv_path), data_dir, partitions, "nightly_rescore", executor)
            runs.append({"total": total, "rescore": rescore})
        equality: dict = {"unpartitioned_equal": None}
        unpartitioned = None
        if customers <= equal_up_to:
            unpartitioned = in_fresh_process(measure_unpartitioned, str(csv_path), str(work_dir / "unpartitioned"))
            equality = compare_per_customer(str(work_dir / "partitioned-0"), str(work_dir / "unpartitioned"))
    result = {
        "customers": customers,
        "partitions": partitions,
        "rescore_executor": executor,
        "source": f"synthetic (seed {seed})",
        "repeat": repeat,
        "total_seconds": statistics.median(run["total"]["seconds"] for run in runs),
        "rescore_seconds": statistics.median(run["rescore"]["seconds"] for run in runs),
        # Nightly rescoring in its own process; the whole graph's (retrain included) beside it.
        "max_process_rss_mb": max(run["rescore"]["max_process_rss_mb"] for run in runs),
        "total_max_process_rss_mb": max(run["total"]["max_process_rss_mb"] for run in runs),
        "seconds_per_partition": statistics.median(run["rescore"]["seconds_per_partition"] for run in runs),
        **equality,
        "unpartitioned": unpartitioned,
        "asset_seconds": runs[0]["total"]["asset_seconds"],
        "rescore_asset_seconds": runs[0]["rescore"]["asset_seconds"],
        "total_seconds_runs": [run["total"]["seconds"] for run in runs],
        "rescore_seconds_runs": [run["rescore"]["seconds"] for run in runs],
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"partitioned-{customers}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
