"""The PostgreSQL instance config (``deploy/postgres/dagster.yaml``) against a real server.

The fixture starts a throwaway PostgreSQL server of its own (``initdb`` and ``pg_ctl`` from
``/usr/lib/postgresql/*/bin``, data and socket in a temporary directory, a free port on
127.0.0.1, password authentication over TCP), loads the repository's instance config with
``DAGSTER_HOME`` pointed at it, materializes the whole graph and reads the run and the
materializations back from the database. Without PostgreSQL binaries it skips; in CI
(``CI`` set) it fails instead.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from campaign_pipeline.definitions import build_definitions
from campaign_pipeline_tests.harness import free_port, unavailable

pytestmark = pytest.mark.postgres

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_HOME = REPO_ROOT / "deploy" / "postgres"
SERVER_USER = "postgres"  # the OS account the server runs as when the tests run as root
DB_USER, DB_PASSWORD, DB_NAME = "dagster", "throwaway-test-password", "campaign_dagster"
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    environment: dict[str, str]  # the DAGSTER_PG_* variables deploy/postgres/dagster.yaml reads



def _postgres_bin() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates = [c for c in candidates if (c / "pg_ctl").is_file()]
    candidates.sort(key=lambda c: int(c.parent.name) if c.parent.name.isdigit() else 0)
    if candidates:
        return candidates[-1]
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(on_path[0]).parent if all(on_path) else None


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its commands as ``postgres``."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        unavailable(f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL as")
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVER_USER, "--"]
    return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups", "--"]


def _run(command: list[str], log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS + 30)
    if result.returncode != 0:
        server_log = log.read_text() if log and log.is_file() else ""
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}\n{server_log}"
        )


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[Server]:
    """A PostgreSQL server of this test module's own, stopped and deleted afterwards."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        unavailable(
            "PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin/initdb): "
            "install the Debian package 'postgresql' (.ci/run does)"
        )
    prefix = _as_server_user()
    # Not under pytest's tmp_path: its parents are private to root, and the server user must reach it.
    root = Path(tempfile.mkdtemp(prefix="campaign-pg-"))
    data, sockets, log, password_file = root / "data", root / "sockets", root / "server.log", root / "password"
    sockets.mkdir()
    password_file.write_text(DB_PASSWORD + "\n")
    if prefix:
        account = pwd.getpwnam(SERVER_USER)
        for path in (root, sockets, password_file):
            os.chown(path, account.pw_uid, account.pw_gid)
    pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _run(
            [
                *prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", DB_USER, f"--pwfile={password_file}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync",
            ]
        )  # fmt: skip
        password_file.unlink()
        # A free port can be taken between the probe and the start: try a few.
        for attempt in range(3):
            port = free_port()
            options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
            try:
                _run([*pg_ctl, "-l", str(log), "-w", "-t", str(START_TIMEOUT_SECONDS), "-o", options, "start"], log)
                started = True
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        # Over TCP with the password, as Dagster will connect.
        connection = psycopg2.connect(
            host="127.0.0.1", port=port, user=DB_USER, password=DB_PASSWORD, dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DB_NAME}")
        connection.close()
        yield Server(
            host="127.0.0.1",
            port=port,
            environment={
                "DAGSTER_PG_HOST": "127.0.0.1",
                "DAGSTER_PG_PORT": str(port),
                "DAGSTER_PG_USERNAME": DB_USER,
                "DAGSTER_PG_PASSWORD": DB_PASSWORD,
                "DAGSTER_PG_DB": DB_NAME,
            },
        )
    finally:
        if started:
            _run([*pg_ctl, "-m", "fast", "-w", "stop"], log)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_home(postgres_server, monkeypatch, tmp_path) -> Server:
    """``DAGSTER_HOME`` at the repository's PostgreSQL config, its variables set; the working
    directory a temporary one, so compute logs and artifacts (relative paths) stay out of the repo."""
    monkeypatch.setenv("DAGSTER_HOME", str(POSTGRES_HOME))
    for name, value in postgres_server.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return postgres_server


def test_the_config_selects_postgres_storage(postgres_home):
    with DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert f":{postgres_home.port}/{DB_NAME}" in instance.run_storage.postgres_url
        # Runs queue one at a time: what serialises writers when the data lives on object storage.
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_whole_graph_materializes_and_reads_back_from_postgres(postgres_home, tmp_path):
    defs = build_definitions(data_dir=str(tmp_path / "data"))
    job = defs.resolve_implicit_global_asset_job_def()
    with DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        result = job.execute_in_process(instance=instance)
        assert result.success
        run_id = result.run_id
        materialized = {event.asset_key for event in result.get_asset_materialization_events()}
        assert AssetKey("retargeting_impact") in materialized

    # A second instance from the same config, nothing shared in memory with the first.
    with DagsterInstance.from_config(str(POSTGRES_HOME)) as reread:
        assert isinstance(reread.run_storage, PostgresRunStorage)
        run = reread.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        for key in materialized:
            latest = reread.get_latest_materialization_event(key)
            assert latest is not None and latest.run_id == run_id, key.to_user_string()
        raw = reread.get_latest_materialization_event(AssetKey("raw_customers"))
        assert raw.asset_materialization.metadata["synthetic"].value is True

    # And in the database itself, read without Dagster.
    connection = psycopg2.connect(
        host=postgres_home.host, port=postgres_home.port, user=DB_USER, password=DB_PASSWORD, dbname=DB_NAME
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cursor.fetchall() == [("SUCCESS",)]
            cursor.execute(
                "SELECT count(DISTINCT asset_key) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                (run_id, "ASSET_MATERIALIZATION"),
            )
            assert cursor.fetchone()[0] == len(materialized)
    finally:
        connection.close()
