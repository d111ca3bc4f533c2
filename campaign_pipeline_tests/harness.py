"""Helpers for the tests that need something from the machine: a reference file, a browser,
a database or a server on a free loopback port."""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def unavailable(message: str) -> None:
    """Skip locally; in CI (``CI`` set) whatever the test needs must be there, so fail."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(server: subprocess.Popen, url: str, log: Path, timeout_seconds: float) -> None:
    """Poll ``<url>/server_info`` until it answers; fail with the server's log if it exits
    or ``timeout_seconds`` pass."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=5)
            return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
