"""The ``dg`` command line from the repository root, as the README runs it: ``dg check defs``
passes and ``dg list defs --json`` lists every asset of ``defs`` with its dependencies, its
kinds and its owners."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_pipeline.definitions import defs

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).parent / "dg"


@pytest.fixture(scope="module")
def dg(tmp_path_factory):
    """Runs ``dg`` from the repository root with a temporary instance and data directory."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CAMPAIGN_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        # This checkout's package, whichever one the virtualenv was installed from.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])),
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(DG), *args], cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    return run


@pytest.fixture(scope="module")
def listed(dg) -> dict:
    result = dg("list", "defs", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_assets_listed(listed_assets: list[dict]) -> None:
    """Every asset of ``defs`` is listed once, with its dependencies, at least one kind and
    at least one owner."""
    expected = {
        spec.key.to_user_string(): {dep.asset_key.to_user_string() for dep in spec.deps}
        for spec in defs.resolve_all_asset_specs()
    }
    by_key = {asset["asset_key"]: asset for asset in listed_assets}
    assert len(by_key) == len(listed_assets), "an asset is listed twice"
    assert by_key.keys() == expected.keys()
    for key, deps in expected.items():
        assert set(by_key[key]["dependency_keys"]) == deps, key
    missing = sorted(key for key, asset in by_key.items() if not asset["kinds"] or not asset["owners"])
    assert not missing, f"assets without kinds or owners: {', '.join(missing)}"


def test_dg_check_defs_passes(dg):
    result = dg("check", "defs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_lists_every_asset(listed):
    assert_assets_listed(listed["assets"])
    assert {job["name"] for job in listed["jobs"]} >= {"nightly_rescore", "retrain"}
