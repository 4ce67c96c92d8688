"""The crucible BigQuery API emulator as a test fixture: a real server on 127.0.0.1, a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attribution.settings import PROJECT_ROOT

CRUCIBLE = PROJECT_ROOT / ".venv-emulator" / "bin" / "crucible"
PROJECT = "local-project"
# The Google provider's anonymous credentials: the connection the tests give the pipeline.
ANONYMOUS_GCP_CONNECTION = json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_emulator(directory: Path) -> Iterator[str]:
    """Start the emulator with its storage in ``directory``; yields its endpoint, stops it after."""
    if not CRUCIBLE.exists():
        raise RuntimeError("BigQuery emulator missing: run `make .venv-emulator/.synced` (make test does)")
    port = _free_port()
    log = (directory / "emulator.log").open("wb")
    process = subprocess.Popen(
        [str(CRUCIBLE), "serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port", str(port),
         "--database", str(directory / "bigquery.duckdb")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/_crucible/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"emulator did not start: {(directory / 'emulator.log').read_text()}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
