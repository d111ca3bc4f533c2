"""Time the campaign graph under Dagster against the plain reference, per input size.

    python -m benchmarks.run --customers 2240 --customers 100000 --customers 1000000

For each size: write the customers to a CSV (the real file for 2,240 when it exists),
then, each in a fresh process so that its peak RSS is its own, ``--repeat`` times in turn,

1. Dagster: materialise every asset in-process on an ephemeral instance, then run the
   ``nightly_rescore`` job (the first time also ``retrain``) on the same instance and data
   directory;
2. the reference: ``benchmarks.reference`` on the same CSV.

Results go to ``benchmarks/results/<N>.json`` and a table is printed. With ``--partitions P``
the partitioned graph is measured instead (``benchmarks.partitioned``).
"""

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REAL_CSV = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"
REAL_ROWS = 2240


def _peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall seconds per step (one step per asset) from STEP_START to STEP_SUCCESS."""
    started, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 3)
    return seconds


def measure_dagster(csv_path: str, data_dir: str, with_retrain: bool = True) -> dict:
    """Full materialisation, then ``nightly_rescore`` and (``with_retrain``) ``retrain``;
    seconds and peak RSS."""
    from dagster import DagsterInstance, in_process_executor

    from campaign_pipeline.definitions import build_definitions

    defs = build_definitions(data_dir=data_dir, raw_csv=csv_path, executor=in_process_executor, timezone="UTC")
    instance = DagsterInstance.ephemeral()
    seconds = {"retrain": None}
    jobs = [("total", defs.resolve_implicit_global_asset_job_def()), ("rescore", defs.resolve_job_def("nightly_rescore"))]
    if with_retrain:
        jobs.append(("retrain", defs.resolve_job_def("retrain")))
    for name, job in jobs:
        start = time.perf_counter()
        result = job.execute_in_process(instance=instance)
        seconds[name] = round(time.perf_counter() - start, 3)
        if name == "total":
            asset_seconds = _step_seconds(instance, result.run_id)
    return {
        "total_seconds": seconds["total"],
        "rescore_seconds": seconds["rescore"],
        "retrain_seconds": seconds["retrain"],
        "asset_seconds": asset_seconds,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def measure_reference(csv_path: str, out_dir: str) -> dict:
    """The plain pandas/scikit-learn run; seconds and peak RSS."""
    from benchmarks.reference import run_reference

    start = time.perf_counter()
    run_reference(csv_path, out_dir)
    return {"reference_seconds": round(time.perf_counter() - start, 3), "reference_peak_rss_mb": round(_peak_rss_mb(), 1)}


def in_fresh_process(function, *args) -> dict:
    """Run ``function(*args)`` in a new interpreter, so its imports and peak RSS are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def machine() -> dict:
    import dagster
    import pandas
    import sklearn

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dagster": dagster.__version__,
        "pandas": pandas.__version__,
        "scikit_learn": sklearn.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def benchmark(customers: int, real_csv: Path, seed: int, repeat: int) -> dict:
    """Measure one input size and write ``results/<customers>.json``.

    The materialisation and the reference alternate ``repeat`` times (a fresh process and
    data directory each), so that a drift in the machine's speed hits both; seconds are
    medians and ``overhead_ratio`` is the median of the pair-by-pair ratios. Rescoring is
    timed after every materialisation, retraining after the first."""
    from campaign_pipeline.sources.synthetic import write_synthetic_customers

    with tempfile.TemporaryDirectory(prefix=f"campaign-bench-{customers}-") as work:
        work_dir = Path(work)
        if customers == REAL_ROWS and real_csv.is_file():
            csv_path, source = real_csv, str(real_csv)
        else:
            csv_path, source = work_dir / "customers.csv", f"synthetic (seed {seed})"
            write_synthetic_customers(csv_path, customers, seed)
        dagster_runs, reference_runs = [], []
        for attempt in range(repeat):
            dagster_runs.append(
                in_fresh_process(measure_dagster, str(csv_path), str(work_dir / f"dagster-{attempt}"), attempt == 0)
            )
            reference_runs.append(in_fresh_process(measure_reference, str(csv_path), str(work_dir / f"reference-{attempt}")))
    totals = [run["total_seconds"] for run in dagster_runs]
    rescores = [run["rescore_seconds"] for run in dagster_runs]
    references = [run["reference_seconds"] for run in reference_runs]
    ratios = [round(total / reference, 3) for total, reference in zip(totals, references)]
    first = dagster_runs[0]
    result = {
        "customers": customers,
        "source": source,
        "repeat": repeat,
        "total_seconds": statistics.median(totals),
        "rescore_seconds": statistics.median(rescores),
        "retrain_seconds": first["retrain_seconds"],
        "asset_seconds": first["asset_seconds"],
        "peak_rss_mb": max(run["peak_rss_mb"] for run in dagster_runs),
        "reference_seconds": statistics.median(references),
        "reference_peak_rss_mb": max(run["reference_peak_rss_mb"] for run in reference_runs),
        "overhead_ratio": statistics.median(ratios),
        "total_seconds_runs": totals,
        "rescore_seconds_runs": rescores,
        "reference_seconds_runs": references,
        "overhead_ratio_runs": ratios,
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{customers}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(results: list[dict]) -> None:
    """Summary per size, then seconds per asset with one column per size."""
    columns = ["customers", "total_seconds", "rescore_seconds", "retrain_seconds", "reference_seconds",
               "overhead_ratio", "peak_rss_mb", "reference_peak_rss_mb"]
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
    print()
    print(f"{'asset':<24}" + "".join(f"{result['customers']:>12}" for result in results))
    for asset in results[0]["asset_seconds"]:
        print(f"{asset:<24}" + "".join(f"{result['asset_seconds'].get(asset, float('nan')):>12.3f}" for result in results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the campaign graph under Dagster against a plain reference.")
    parser.add_argument("--customers", type=int, action="append", required=True, help="input size; repeat for several")
    parser.add_argument("--real-csv", type=Path, default=REAL_CSV, help=f"used for {REAL_ROWS} customers when it exists")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic customers")
    parser.add_argument("--repeat", type=int, default=3, help="materialisation/reference pairs per size (medians)")
    parser.add_argument(
        "--partitions", type=int, default=1, help="N >= 2: the partitioned graph in N buckets (benchmarks.partitioned)"
    )
    parser.add_argument(
        "--equal-up-to", type=int, default=1_000_000, help="with --partitions: compare with the unpartitioned graph up to this size"
    )
    args = parser.parse_args(argv)
    if args.partitions > 1:
        from benchmarks.partitioned import benchmark_partitioned

        for customers in args.customers:
            result = benchmark_partitioned(customers, args.partitions, args.seed, args.repeat, args.equal_up_to)
            print(json.dumps({key: value for key, value in result.items() if not key.endswith("asset_seconds")}, indent=2))
        return 0
    print_table([benchmark(customers, args.real_csv, args.seed, args.repeat) for customers in args.customers])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
