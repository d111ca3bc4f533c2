"""The bad-input matrix from the command line: every refused file exits non-zero, names the
column or lines, and changes no file under the data directory. See docs/reliability.md."""

import hashlib
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaign_pipeline.io_managers import DirectoryLock
from campaign_pipeline.sources.synthetic import generate_customers, write_customers_csv
from campaign_pipeline.sources.reading import read_customers
from campaign_pipeline_tests.harness import checksums, materialize_all, persistent_home

SMALL = 400


def dagster_cli(*args: str, raw_csv: Path, data_dir: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAMPAIGN_RAW_CSV": str(raw_csv), "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    command = [str(Path(sys.executable).parent / "dagster"), *args, "-m", "campaign_pipeline.definitions"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _run_window(output: str) -> tuple[datetime, datetime]:
    """First STEP_START and last STEP_SUCCESS times of a run's console log."""
    stamp = r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) .*"
    starts = re.findall(stamp + "STEP_START", output, flags=re.M)
    ends = re.findall(stamp + "STEP_SUCCESS", output, flags=re.M)
    parse = lambda text: datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: E731
    return parse(starts[0]), parse(ends[-1])


def materialize_cli(raw_csv: Path, data_dir: Path, home: Path) -> subprocess.CompletedProcess:
    return dagster_cli("asset", "materialize", "--select", "*", raw_csv=raw_csv, data_dir=data_dir, home=home)


@pytest.fixture(scope="module")
def good_frame() -> pd.DataFrame:
    return generate_customers(SMALL, seed=11)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, good_frame):
    """A data directory holding the outputs of a good run: the 'last good outputs'."""
    root = tmp_path_factory.mktemp("trained")
    csv = root / "good.csv"
    write_customers_csv(good_frame, csv)
    assert materialize_all(root / "data", raw_csv=str(csv)).success
    return root / "data"


def _text(frame: pd.DataFrame) -> str:
    buffer = frame.to_csv(sep="\t", index=False, lineterminator="\n", float_format="%.0f")
    return buffer


def empty(frame):
    return ""


def header_only(frame):
    return "\t".join(frame.columns) + "\n"


def unknown_separator(frame):
    return frame.to_csv(sep="|", index=False)


def missing_column(frame):
    return _text(frame.drop(columns=["Recency"]))


def text_in_numeric(frame):
    frame = frame.astype({"MntWines": object})
    frame.loc[3, "MntWines"] = "n/a"
    return _text(frame)


def negative_amount(frame):
    frame.loc[5, "MntMeatProducts"] = -40
    return _text(frame)


def fractional_count(frame):
    frame = frame.astype({"NumStorePurchases": object})
    frame.loc[7, "NumStorePurchases"] = "2.5"
    return _text(frame)


def count_too_large(frame):
    frame.loc[4, "MntGoldProds"] = 3_000_000_000  # more than 32 bits hold: refused, never wrapped
    return _text(frame)


def mixed_dates(frame):
    frame.loc[9, "Dt_Customer"] = "2013-05-20"
    return _text(frame)


def ambiguous_dates(frame):
    frame["Dt_Customer"] = "05-06-2013"
    return _text(frame)


def duplicate_ids(frame):
    frame.loc[12, "ID"] = frame.loc[2, "ID"]
    return _text(frame)


def all_income_missing(frame):
    frame["Income"] = np.nan
    return _text(frame)


REFUSED = {
    "empty file": (empty, "empty"),
    "header only": (header_only, "no customer rows"),
    "unknown separator": (unknown_separator, "line 1"),
    "missing required column": (missing_column, "Recency"),
    "text in a numeric column": (text_in_numeric, "MntWines"),
    "negative amount": (negative_amount, "line(s) 7"),
    "count not a whole number": (fractional_count, "NumStorePurchases"),
    "count too large to store": (count_too_large, "MntGoldProds"),
    "mixed date formats": (mixed_dates, "line 11"),
    "day/month order not established": (ambiguous_dates, "cannot be established"),
    "duplicate ID with different data": (duplicate_ids, "ID"),
    "all Income missing": (all_income_missing, "Income"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_input_exits_non_zero_names_the_place_and_changes_nothing(case, trained, good_frame, tmp_path):
    make, expected_text = REFUSED[case]
    csv = tmp_path / "bad.csv"
    csv.write_text(make(good_frame.copy()))
    before = checksums(trained)
    result = materialize_cli(csv, trained, tmp_path)
    assert result.returncode != 0, case
    output = result.stdout + result.stderr
    assert expected_text in output, output[-3000:]
    assert str(csv) in output
    assert checksums(trained) == before


def test_all_response_equal_keeps_the_last_good_model_and_still_scores(trained, good_frame, tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run(["cp", "-r", str(trained), str(data_dir)], check=True)
    model_files = {k: v for k, v in checksums(data_dir).items() if k.startswith("models/response_model")}
    csv = tmp_path / "one_class.csv"
    write_customers_csv(good_frame.assign(Response=0), csv)
    result = materialize_cli(csv, data_dir, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "the model cannot be fitted" in result.stdout + result.stderr
    assert {k: v for k, v in checksums(data_dir).items() if k.startswith("models/response_model")} == model_files
    scored = pd.read_parquet(data_dir / "scored_customers.parquet")
    assert scored["response_probability"].between(0, 1).all() and scored["Response"].eq(0).all()


def test_one_customer_is_scored_by_the_nightly_job_but_cannot_retrain(trained, good_frame, tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run(["cp", "-r", str(trained), str(data_dir)], check=True)
    csv = tmp_path / "one.csv"
    write_customers_csv(good_frame.dropna().head(1), csv)
    nightly = dagster_cli("job", "execute", "-j", "nightly_rescore", raw_csv=csv, data_dir=data_dir, home=tmp_path)
    assert nightly.returncode == 0, nightly.stdout[-3000:]
    scored = pd.read_parquet(data_dir / "scored_customers.parquet")
    assert len(scored) == 1 and scored["decile"].item() == 1
    retrain = dagster_cli("job", "execute", "-j", "retrain", raw_csv=csv, data_dir=data_dir, home=tmp_path)
    assert retrain.returncode != 0 and "too few to fit segments" in retrain.stdout + retrain.stderr


def test_a_million_rows_are_read(tmp_path):
    csv = tmp_path / "million.csv"
    write_customers_csv(generate_customers(1_000_000, seed=5), csv)
    frame, report = read_customers(csv)
    assert len(frame) == 1_000_000 and frame["ID"].nunique() == 1_000_000 - report.identical_lines
    assert frame["Dt_Customer"].notna().all() and report.date_format == "dd-mm-yyyy"


def _read_output(run: subprocess.Popen, waiting: threading.Event) -> str:
    """All of ``run``'s output; sets ``waiting`` once it reports waiting for the lock."""
    lines = []
    for line in run.stdout:
        lines.append(line)
        if "waiting for it to finish" in line:
            waiting.set()
    return "".join(lines)


def test_two_overlapping_nightly_runs_do_not_interleave(trained, good_frame, tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run(["cp", "-r", str(trained), str(data_dir)], check=True)
    csv = tmp_path / "good.csv"
    write_customers_csv(good_frame, csv)
    # The instance's databases exist before the runs start: two runs creating them at once race.
    home = persistent_home(tmp_path / "home")
    env = {**os.environ, "CAMPAIGN_RAW_CSV": str(csv), "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-j", "nightly_rescore",
               "-m", "campaign_pipeline.definitions"]  # fmt: skip
    # Hold the lock as a third writer would, so that both runs must start while it is held.
    lock = DirectoryLock(data_dir, timeout_seconds=60)
    lock.acquire()
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    # Release only once both runs report that they wait (start-up time varies with load).
    waiting = [threading.Event() for _ in runs]
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        readers = [pool.submit(_read_output, run, event) for run, event in zip(runs, waiting)]
        for event in waiting:
            event.wait(timeout=300)
        lock.release()
        outputs = [reader.result(timeout=600) for reader in readers]
    assert all(run.wait(timeout=60) == 0 for run in runs), "\n\n".join(output[-6000:] for output in outputs)
    assert all("waiting for it to finish" in output for output in outputs)
    # One run's writes all come before the other's: their step windows do not overlap.
    windows = sorted(_run_window(output) for output in outputs)
    assert windows[0][1] <= windows[1][0]
    single = tmp_path / "single"
    subprocess.run(["cp", "-r", str(trained), str(single)], check=True)
    assert materialize_all(single, raw_csv=str(csv), job="nightly_rescore").success
    assert hashlib.sha256((data_dir / "scored_customers.parquet").read_bytes()).digest() == hashlib.sha256(
        (single / "scored_customers.parquet").read_bytes()
    ).digest()
