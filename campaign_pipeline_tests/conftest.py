"""Shared fixtures: small customer tables written in the file's own format, and the
real reference file when it is available."""

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest

from campaign_pipeline.sources.synthetic import generate_customers, write_customers_csv
from campaign_pipeline_tests.harness import CeleryWorkers, celery_workers, system_chromium, unavailable

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REAL_CSV = REPO_ROOT.parent / "shared" / "data" / "marketing_campaign.csv"


def real_csv_path() -> Path | None:
    """The reference file: ``CAMPAIGN_REAL_CSV`` or ``../shared/data``; None if absent."""
    configured = os.environ.get("CAMPAIGN_REAL_CSV")
    path = Path(configured) if configured else DEFAULT_REAL_CSV
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def real_csv() -> Path:
    """Skips where the reference file is missing; in CI (``CI`` set) a missing file fails."""
    path = real_csv_path()
    if path is None:
        unavailable("reference file not found: set CAMPAIGN_REAL_CSV or place it at ../shared/data/marketing_campaign.csv")
    return path


@pytest.fixture(scope="session")
def synthetic_frame() -> pd.DataFrame:
    return generate_customers(2240, seed=0)


@pytest.fixture
def synthetic_csv(tmp_path, synthetic_frame) -> Path:
    path = tmp_path / "customers.csv"
    write_customers_csv(synthetic_frame, path)
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium (tests that use it carry the ``browser`` marker)."""
    yield from system_chromium()


@pytest.fixture
def start_celery_workers(tmp_path) -> Iterator[Callable[[Mapping[str, str]], CeleryWorkers]]:
    """``start_celery_workers(environment)``: a throwaway Redis broker and two Celery workers
    whose environment adds ``environment`` (``harness.celery_workers``), all stopped after the
    test. Skips without redis-server or dagster-celery; in CI (``CI`` set) fails instead."""
    with ExitStack() as stack:
        yield lambda environment: stack.enter_context(celery_workers(tmp_path / "celery", environment))
