"""Google Cloud emulators as test fixtures: real servers on 127.0.0.1, each on a free port, stopped after.

- BigQuery: ``crucible-emulator``; clients get its endpoint (``ATTRIBUTION_BQ_API_ENDPOINT``).
- Cloud Storage: ``gcp-storage-emulator``, in memory; clients find it through ``STORAGE_EMULATOR_HOST``,
  the variable Google's storage library honours.

Both live in the test-only environment ``.venv-emulator`` (``requirements-emulator.txt``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from attribution.settings import PROJECT_ROOT

EMULATOR_BIN = PROJECT_ROOT / ".venv-emulator" / "bin"
PROJECT = "local-project"
# The Google provider's anonymous credentials: the connection the tests give the pipeline.
ANONYMOUS_GCP_CONNECTION = json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serving(name: str, command: list[str], ready_path: str, log_path: Path) -> Iterator[str]:
    """Run ``command`` (with ``{port}`` filled in) until ``ready_path`` answers; yields the endpoint."""
    if not (EMULATOR_BIN / command[0]).exists():
        raise RuntimeError(f"{name} emulator missing: run `make .venv-emulator/.synced` (make test does)")
    port = _free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(EMULATOR_BIN / command[0]), *(arg.format(port=port) for arg in command[1:])],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(endpoint + ready_path, timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} emulator did not start: {log_path.read_text()}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def running_bigquery_emulator(directory: Path) -> AbstractContextManager[str]:
    """The BigQuery emulator with its storage in ``directory``; yields its API endpoint."""
    command = ["crucible", "serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port", "{port}",
               "--database", str(directory / "bigquery.duckdb")]  # fmt: skip
    return _serving("BigQuery", command, "/_crucible/health", directory / "bigquery-emulator.log")


def running_gcs_emulator(directory: Path, bucket: str) -> AbstractContextManager[str]:
    """The Cloud Storage emulator with ``bucket`` created; yields the value for ``STORAGE_EMULATOR_HOST``."""
    command = ["gcp-storage-emulator", "start", "--host", "127.0.0.1", "--port", "{port}", "--in-memory",
               "--default-bucket", bucket]  # fmt: skip
    return _serving("Cloud Storage", command, f"/storage/v1/b/{bucket}", directory / "gcs-emulator.log")
