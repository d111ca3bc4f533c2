"""The lineage, checks and automation as the web UI serves them: a real webserver on a free
port, queried over GraphQL, no mocks. The expectations are spelled out in the tests (the asset graph and its checks in
``test_defs.py``, automation here), so adding or removing an asset, edge, check, schedule or
sensor fails until the tests change with it."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from campaign_pipeline_tests.harness import free_port, wait_until_serving
from campaign_pipeline_tests.harness import (
    CONTRACT_CHECKED,
    EXPECTED_DEPENDENCIES,
    EXPECTED_SCHEDULES,
    EXPECTED_SENSORS,
)

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    description
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        schedules { name scheduleState { status } }
        sensors { name sensorState { status } }
      }
    }
  }
}
"""


def _post(url: str, query: str) -> dict:
    request = urllib.request.Request(url, data=json.dumps({"query": query}).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """The webserver as the README starts it, with the repository's dagster.yaml, on a free
    port and with no host given, so the default bind address is what is tested."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPOSITORY_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    command = [str(Path(sys.executable).parent / "dagster-webserver"), "-p", str(port),
               "-m", "campaign_pipeline.definitions"]  # fmt: skip
    log = home / "webserver.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=home, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url, log, timeout_seconds=120)
        yield url, log
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_every_asset_and_edge_is_served(webserver):
    url, _ = webserver
    nodes = _post(f"{url}/graphql", QUERY)["assetNodes"]
    served = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert served == EXPECTED_DEPENDENCIES
    assert all(n["groupName"] not in (None, "default") and n["description"] for n in nodes)


def test_asset_checks_sit_under_their_assets(webserver):
    url, _ = webserver
    nodes = _post(f"{url}/graphql", QUERY)["assetNodes"]
    served = {
        "/".join(n["assetKey"]["path"]): {c["name"] for c in n["assetChecksOrError"]["checks"]}
        for n in nodes
        if n["assetChecksOrError"]["checks"]
    }
    assert served == {name: {"contract"} for name in CONTRACT_CHECKED}


def test_schedules_and_sensor_are_running_by_default(webserver):
    url, _ = webserver
    (repository,) = _post(f"{url}/graphql", QUERY)["repositoriesOrError"]["nodes"]
    assert {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]} == EXPECTED_SCHEDULES
    assert {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]} == EXPECTED_SENSORS


def test_binds_to_loopback_by_default(webserver):
    url, log = webserver
    assert url in log.read_text()
    assert "0.0.0.0" not in log.read_text()
