"""The one module tests share: the expected asset graph, whole-graph runs and checksums,
and what tests need from the machine (a reference file, a browser, a database, a server
on a free loopback port, or a Celery broker with workers). Test modules never import from
each other."""

import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from campaign_pipeline.definitions import build_definitions
from campaign_pipeline.transforms.buckets import bucket_keys

EXPECTED_DEPENDENCIES = {
    "raw_customers": set(),
    "rejected_customers": set(),
    "campaign_prices": {"raw_customers"},
    "income_medians": {"raw_customers"},
    "cleaned_customers": {"raw_customers", "rejected_customers", "income_medians"},
    "customer_dispositions": {"raw_customers", "rejected_customers", "income_medians"},
    "engineered_customers": {"cleaned_customers"},
    "segment_preprocessor": {"engineered_customers"},
    "scaled_customers": {"engineered_customers", "segment_preprocessor"},
    "segmentation_model": {"scaled_customers", "engineered_customers"},
    "clustered_customers": {"engineered_customers", "scaled_customers", "segmentation_model"},
    "response_model": {"engineered_customers"},
    "scored_customers": {"clustered_customers", "response_model", "campaign_prices"},
    "campaign_evaluation": {"scored_customers", "clustered_customers", "response_model", "campaign_prices"},
    "retargeting_impact": {"scored_customers", "clustered_customers", "campaign_prices"},
    "contact_list": {"scored_customers", "clustered_customers"},
    "campaign_scenarios": {"scored_customers", "campaign_prices"},
    "lookalike_model": {"clustered_customers", "segmentation_model"},
    "prospect_scores": {"lookalike_model", "campaign_prices"},
    "campaign_report": {
        "customer_dispositions",
        "conversion_analysis",
        "segmentation_model",
        "scaled_customers",
        "clustered_customers",
        "cluster_profiles",
        "retargeting_impact",
        "response_model",
        "scored_customers",
        "campaign_evaluation",
        "campaign_prices",
        "campaign_scenarios",
        "lookalike_model",
        "prospect_scores",
    },
    "conversion_analysis": {"engineered_customers"},
    "cluster_profiles": {"clustered_customers", "scaled_customers", "segmentation_model"},
    "segmentation_report": {
        "conversion_analysis",
        "cluster_profiles",
        "retargeting_impact",
        "segmentation_model",
        "scored_customers",
        "campaign_prices",
    },
}

# Datasets held to a pandera contract, each with a `contract` asset check.
CONTRACT_CHECKED = {
    "raw_customers",
    "rejected_customers",
    "cleaned_customers",
    "customer_dispositions",
    "engineered_customers",
    "scaled_customers",
    "clustered_customers",
    "scored_customers",
    "retargeting_impact",
    "campaign_scenarios",
    "prospect_scores",
    "conversion_analysis",
    "cluster_profiles",
}

EXPECTED_SCHEDULES = {"nightly_rescore_schedule": "RUNNING", "weekly_retrain_schedule": "RUNNING"}
EXPECTED_SENSORS = {"customer_file_changed": "RUNNING"}


def materialize_all(
    data_dir: Path,
    raw_csv: str = "",
    run_config: dict | None = None,
    raise_on_error: bool = True,
    job: str = "",
    partitions: int = 1,
    buckets: tuple[str, str] | None = None,
):
    """Every asset (or ``job``) in one in-process run. With ``partitions`` > 1 the run takes
    the range ``buckets`` (first, last) of customer buckets, all of them by default, as
    ``dg launch --partition-range`` does."""
    defs = build_definitions(data_dir=str(data_dir), raw_csv=raw_csv, partitions=partitions)
    job_def = defs.resolve_job_def(job) if job else defs.resolve_implicit_global_asset_job_def()
    tags = {}
    if partitions > 1:
        first, last = buckets or (bucket_keys(partitions)[0], bucket_keys(partitions)[-1])
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    return job_def.execute_in_process(
        run_config=run_config or {}, instance=DagsterInstance.ephemeral(), raise_on_error=raise_on_error, tags=tags
    )


# Reading-rule breaks scattered through a customer file by ``write_with_bad_lines``: data
# row (0-based) -> (column, cell written, words of the reason the reader gives).
BAD_CELLS = {
    3: ("MntWines", "lots", "text where a number belongs"),
    38: ("Dt_Customer", "31-02-2013", "do not exist"),
    75: ("Recency", "", "empty value"),
    158: ("NumWebPurchases", "2.5", "whole numbers"),
    198: ("Dt_Customer", "2013-05-20", "mixed date formats"),
    278: ("Education", "", "empty value"),
}
RAGGED_ROW = 118  # gets one field too many
CLASHING_ROWS = (228, 258)  # the second takes the first's ID, with different data


def write_with_bad_lines(frame, path: Path) -> dict[int, str]:
    """Write ``frame`` (unique IDs, at least 300 rows) as the customer file, with a handful
    of lines that break reading rules of different kinds; returns {file line: words of its
    reason}. File line = data row + 2."""
    frame = frame.astype(object).copy()
    for row, (column, cell, _) in BAD_CELLS.items():
        frame.loc[frame.index[row], column] = cell
    first, second = (frame.index[row] for row in CLASHING_ROWS)
    frame.loc[second, "ID"] = frame.loc[first, "ID"]
    text = frame.to_csv(sep="\t", index=False, lineterminator="\r\n", float_format="%.0f").split("\r\n")
    text[RAGGED_ROW + 1] += "\textra"
    path.write_text("\r\n".join(text))
    expected = {row + 2: words for row, (_, _, words) in BAD_CELLS.items()}
    expected[RAGGED_ROW + 2] = "wrong number of fields"
    expected.update({row + 2: "several lines with different data" for row in CLASHING_ROWS})
    return expected


def checksums(data_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file()
    }


def unavailable(message: str) -> None:
    """Skip locally; in CI (``CI`` set) whatever the test needs must be there, so fail."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], processes: Mapping[subprocess.Popen, Path], timeout_seconds: float) -> None:
    """Poll ``ready()`` every second until it is true; fail with a process's log (the
    values of ``processes``) if that process exits, or with all of them after ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        for process, log in processes.items():
            assert process.poll() is None, log.read_text()[-3000:]
        if ready():
            return
        assert time.monotonic() < deadline, "\n".join(log.read_text()[-3000:] for log in processes.values())
        time.sleep(1)


def wait_until_serving(server: subprocess.Popen, url: str, log: Path, timeout_seconds: float) -> None:
    """Poll ``<url>/server_info`` until it answers; fail with the server's log if it exits
    or ``timeout_seconds`` pass."""

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=5)
            return True
        except OSError:
            return False

    wait_until(answers, {server: log}, timeout_seconds)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's whole group (it was started with ``start_new_session``), then
    SIGKILL for whatever has not gone after 15 s."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # The leader may have exited before its children: make sure none of the group is left.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def persistent_home(directory: Path) -> Path:
    """A ``DAGSTER_HOME`` whose runs and event logs persist in SQLite under it (absolute
    paths), so that processes other than the run's, such as Celery workers, share its instance.
    Its databases are created here, once: processes creating them at the same moment race."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(
        f"storage:\n  sqlite:\n    base_dir: {directory / 'storage'}\ntelemetry:\n  enabled: false\n"
    )
    DagsterInstance.from_config(str(directory)).dispose()
    return directory


@dataclass(frozen=True)
class CeleryWorkers:
    broker: str
    names: frozenset[str]  # as Celery reports them: <name>@<host>
    task_pids: frozenset[int]  # the workers' pool processes, where the tasks (Dagster steps) run


REDIS_START_TIMEOUT_SECONDS = 30
WORKER_START_TIMEOUT_SECONDS = 180


@contextmanager
def celery_workers(directory: Path, environment: Mapping[str, str], count: int = 2) -> Iterator[CeleryWorkers]:
    """A throwaway Redis broker on a free port of 127.0.0.1 (no persistence) and ``count``
    Celery workers of one pool process each, started as ``docs/scaling.md`` says with
    ``environment`` added to ours (``DAGSTER_HOME``, ``CAMPAIGN_DATA_DIR``...: a worker loads
    the definitions from its own environment, so it must be the run's). Each runs in a
    process group of its own, stopped whole on leaving."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        unavailable("redis-server not found: apt-get install redis-server (.ci/run does)")
    if importlib.util.find_spec("dagster_celery") is None or importlib.util.find_spec("redis") is None:
        unavailable("dagster-celery or redis is not installed: pip install -e '.[celery]'")
    from celery import Celery

    directory.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen] = []

    def start(command: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        with log.open("w") as output:
            process = subprocess.Popen(
                command, cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        started.append(process)
        return process

    try:
        port = free_port()
        broker = f"redis://127.0.0.1:{port}/0"
        redis_log = directory / "redis.log"
        redis_process = start(
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(directory)],
            redis_log,
        )  # fmt: skip
        wait_until(lambda: "Ready to accept connections" in redis_log.read_text(), {redis_process: redis_log},
                   REDIS_START_TIMEOUT_SECONDS)  # fmt: skip

        config = directory / "celery.yaml"
        config.write_text(f"execution:\n  config:\n    broker: {broker}\n    backend: {broker}\n")
        bin_dir = Path(sys.executable).parent  # `dagster-celery worker start` runs `celery` from PATH
        env = {**os.environ, **environment, "CAMPAIGN_CELERY_BROKER": broker,
               "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
        workers = {}
        for number in range(1, count + 1):
            log = directory / f"worker-{number}.log"
            command = [str(bin_dir / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
                       "-i", "campaign_pipeline.definitions", "-n", f"campaign-{number}", "--", "--concurrency=1"]  # fmt: skip
            workers[start(command, log, env)] = log

        app = Celery(broker=broker, backend=broker)
        try:
            replies: dict = {}

            def all_answer() -> bool:
                replies.update(app.control.inspect(timeout=1).ping() or {})
                return len(replies) == count

            wait_until(all_answer, workers, WORKER_START_TIMEOUT_SECONDS)
            stats = app.control.inspect(timeout=5).stats() or {}
        finally:
            app.close()
        assert len(stats) == count, stats
        yield CeleryWorkers(
            broker=broker,
            names=frozenset(stats),
            task_pids=frozenset(pid for worker in stats.values() for pid in worker["pool"]["processes"]),
        )
    finally:
        for process in reversed(started):
            stop_group(process)


CHROMIUM = os.environ.get("CAMPAIGN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def system_chromium():
    """The system Chromium, headless, driven by Playwright (never ``playwright install``):
    a generator for a fixture to yield from."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[dev]'")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"Chromium not found at {CHROMIUM}: apt-get install chromium, or set CAMPAIGN_CHROMIUM")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Error as error:
            unavailable(f"Chromium at {CHROMIUM} did not start: {error}")
        yield launched
        launched.close()
