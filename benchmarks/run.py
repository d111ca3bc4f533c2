"""Time the campaign graph under Dagster against the plain reference, per input size.

    python -m benchmarks.run --customers 2240 --customers 100000 --customers 1000000

For each size: write the customers to a CSV (the real file for 2,240 when it exists),
then, each in a fresh process so that its peak RSS is its own, ``--repeat`` times in turn,

1. Dagster: materialise every asset with the project's in-process executor, as a launched
   run does (``execute_job`` on a temporary instance, so no step's output is held after its
   step, unlike ``execute_in_process``), then run the ``nightly_rescore`` job (the first
   time also ``retrain``) on the same instance and data directory;
2. the reference: ``benchmarks.reference`` on the same CSV.

After the first materialization, ``benchmarks.storage`` times storing its per-customer
datasets alone (read, contract, write; ``storage_seconds``).

Results go to ``benchmarks/results/<N>.json`` and a table is printed. With ``--partitions P``
the partitioned graph is measured instead (``benchmarks.partitioned``).

    python -m benchmarks.run --paired --csv CUSTOMERS.csv --repeats 3

Paired mode instead times two whole commands, start-up included, alternately and each in a
fresh process and temporary directory: the README's materialize command
(``dg launch --assets '*'``) and the plain one-file script ``benchmarks/plain.py`` on the
same file. Results go to ``benchmarks/results/paired-<rows>.json`` (``paired-<rows>-omp<N>.json``
when ``OMP_NUM_THREADS`` is set, which both commands inherit).
"""

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.storage import measure_storage

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


def retrain_job():
    """Every asset (``retrain`` selects them all, as the README command does); module level,
    for ``reconstructable``."""
    from campaign_pipeline.definitions import defs

    return defs.resolve_job_def("retrain")


def nightly_rescore_job():
    from campaign_pipeline.definitions import defs

    return defs.resolve_job_def("nightly_rescore")


def measure_dagster(csv_path: str, data_dir: str, with_retrain: bool = True) -> dict:
    """Full materialisation, then ``nightly_rescore`` and (``with_retrain``) ``retrain``;
    seconds and peak RSS.

    The jobs run as a launched run does (``execute_job`` with the project's default
    in-process executor, on the definitions the environment configures), not with
    ``execute_in_process``, which keeps every step's output in memory for its result."""
    from dagster import DagsterInstance, execute_job, reconstructable

    os.environ.update(
        {"CAMPAIGN_RAW_CSV": csv_path, "CAMPAIGN_DATA_DIR": data_dir, "CAMPAIGN_PARTITIONS": "1", "CAMPAIGN_EXECUTOR": "in_process"}
    )
    seconds = {"retrain": None}
    jobs = [("total", retrain_job), ("rescore", nightly_rescore_job)]
    if with_retrain:
        jobs.append(("retrain", retrain_job))
    with tempfile.TemporaryDirectory(prefix="campaign-bench-home-") as home, DagsterInstance.local_temp(home) as instance:
        for name, job in jobs:
            start = time.perf_counter()
            with execute_job(reconstructable(job), instance=instance) as result:
                if not result.success:
                    raise RuntimeError(f"the {name} run failed: {result.get_failed_step_keys()}")
            seconds[name] = round(time.perf_counter() - start, 3)
            if name == "total":
                asset_seconds = _step_seconds(instance, result.run_id)
                materialize_peak = _peak_rss_mb()  # the process has run nothing else yet
    return {
        "total_seconds": seconds["total"],
        "rescore_seconds": seconds["rescore"],
        "retrain_seconds": seconds["retrain"],
        "asset_seconds": asset_seconds,
        "materialize_peak_rss_mb": round(materialize_peak, 1),
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
            if attempt == 0:
                storage = in_fresh_process(measure_storage, str(csv_path), str(work_dir / "dagster-0"))
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
        "materialize_peak_rss_mb": max(run["materialize_peak_rss_mb"] for run in dagster_runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in dagster_runs),
        "storage_seconds": storage,
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


def _timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``command`` from the repository root; wall seconds and the peak RSS (MB) of its
    process tree. Fails, with the command's output, when it exits non-zero."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read()
    # wait4 rather than wait: its rusage is this child's (and its descendants') alone.
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode:
        raise RuntimeError(f"{shlex.join(command)} exited with {process.returncode}:\n{output.decode(errors='replace')}")
    return round(seconds, 3), round(usage.ru_maxrss / 1024, 1)


def _data_rows(csv_path: Path) -> int:
    """Customers in the file: non-blank lines after the header."""
    with csv_path.open("rb") as file:
        return sum(1 for line in file if line.strip()) - 1


def paired(csv_path: Path, repeat: int) -> dict:
    """Time the README's materialize command against ``benchmarks/plain.py`` on ``csv_path``,
    alternately ``repeat`` times, each run a fresh process with fresh DAGSTER_HOME and output
    directories; write ``results/paired-<rows>.json``."""
    csv_path = csv_path.resolve()
    rows = _data_rows(csv_path)
    bin_dir = Path(sys.executable).parent
    project_command = [str(bin_dir / "dg"), "launch", "--assets", "*"]
    runs, load = {"project": [], "plain": []}, []
    with tempfile.TemporaryDirectory(prefix=f"campaign-paired-{rows}-") as work:
        work_dir = Path(work)
        for attempt in range(repeat):
            home = work_dir / f"dagster-home-{attempt}"
            home.mkdir()
            # As the repository's dagster.yaml, but with storage inside this fresh home.
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            project_env = {
                "DAGSTER_HOME": str(home),
                "CAMPAIGN_RAW_CSV": str(csv_path),
                "CAMPAIGN_DATA_DIR": str(work_dir / f"project-{attempt}"),
            }
            plain_command = [sys.executable, "benchmarks/plain.py", str(csv_path), str(work_dir / f"plain-{attempt}")]
            for name, command, env in (("project", project_command, os.environ | project_env), ("plain", plain_command, None)):
                load.append(round(os.getloadavg()[0], 2))
                runs[name].append(_timed(command, env))
    project_seconds = [seconds for seconds, _ in runs["project"]]
    plain_seconds = [seconds for seconds, _ in runs["plain"]]
    result = {
        "rows": rows,
        "csv": str(csv_path),
        "repeat": repeat,
        "commands": {
            "project": f"DAGSTER_HOME=<tmp>/dagster-home-N CAMPAIGN_RAW_CSV={csv_path} CAMPAIGN_DATA_DIR=<tmp>/project-N "
            + shlex.join(project_command),
            "plain": shlex.join(plain_command[:-1]) + " <tmp>/plain-N",
        },
        "project_seconds_runs": project_seconds,
        "plain_seconds_runs": plain_seconds,
        "project_seconds": statistics.median(project_seconds),
        "plain_seconds": statistics.median(plain_seconds),
        "ratio": round(statistics.median(project_seconds) / statistics.median(plain_seconds), 3),
        "ratio_runs": [round(project / plain, 3) for project, plain in zip(project_seconds, plain_seconds)],
        # Other processes on a shared machine slow both, scikit-learn's OpenMP threads most.
        "load_average_before_runs": load,
        "project_peak_rss_mb": max(rss for _, rss in runs["project"]),
        "plain_peak_rss_mb": max(rss for _, rss in runs["plain"]),
        "machine": machine(),
    }
    # OMP_NUM_THREADS, when set, reaches both commands; kept apart from the default-threads figures.
    threads = os.environ.get("OMP_NUM_THREADS")
    result["omp_num_threads"] = threads
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"paired-{rows}" + (f"-omp{threads}" if threads else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(results: list[dict]) -> None:
    """Summary per size, then seconds per asset with one column per size."""
    columns = ["customers", "total_seconds", "rescore_seconds", "retrain_seconds", "reference_seconds",
               "overhead_ratio", "materialize_peak_rss_mb", "peak_rss_mb", "reference_peak_rss_mb"]
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
    print()
    print("storing the per-customer datasets alone (seconds): customers | csv_parse | read | contract | write | total")
    for result in results:
        storage = result["storage_seconds"]
        print(" | ".join(str(value) for value in (result["customers"], *(storage[key] for key in ("csv_parse", "read", "contract", "write", "total")))))
    print()
    print(f"{'asset':<24}" + "".join(f"{result['customers']:>12}" for result in results))
    for asset in results[0]["asset_seconds"]:
        print(f"{asset:<24}" + "".join(f"{result['asset_seconds'].get(asset, float('nan')):>12.3f}" for result in results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the campaign graph under Dagster against a plain reference.")
    parser.add_argument("--customers", type=int, action="append", help="input size; repeat for several")
    parser.add_argument("--real-csv", type=Path, default=REAL_CSV, help=f"used for {REAL_ROWS} customers when it exists")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic customers")
    parser.add_argument("--repeat", "--repeats", type=int, default=3, help="pairs of runs per size (medians)")
    parser.add_argument("--paired", action="store_true", help="time the README's materialize command against benchmarks/plain.py")
    parser.add_argument("--csv", type=Path, help="the customer file of --paired")
    parser.add_argument(
        "--partitions", type=int, default=1, help="N >= 2: the partitioned graph in N buckets (benchmarks.partitioned)"
    )
    parser.add_argument(
        "--rescore-executor", default="in_process", choices=["in_process", "multiprocess"],
        help="with --partitions: how nightly rescoring runs its steps (multiprocess: a process per step)",
    )
    parser.add_argument(
        "--equal-up-to", type=int, default=1_000_000, help="with --partitions: compare with the unpartitioned graph up to this size"
    )
    args = parser.parse_args(argv)
    if args.paired:
        if args.csv is None or args.customers:
            parser.error("--paired takes --csv (and no --customers)")
        result = paired(args.csv, args.repeat)
        print(json.dumps({key: result[key] for key in ("rows", "project_seconds_runs", "plain_seconds_runs", "ratio")}))
        return 0
    if not args.customers:
        parser.error("--customers is required (or --paired --csv FILE)")
    if args.partitions > 1:
        from benchmarks.partitioned import benchmark_partitioned

        for customers in args.customers:
            result = benchmark_partitioned(
                customers, args.partitions, args.seed, args.repeat, args.equal_up_to, args.rescore_executor
            )
            print(json.dumps({key: value for key, value in result.items() if not key.endswith("asset_seconds")}, indent=2))
        return 0
    print_table([benchmark(customers, args.real_csv, args.seed, args.repeat) for customers in args.customers])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
