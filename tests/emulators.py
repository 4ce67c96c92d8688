"""Google Cloud emulators as test fixtures: real servers on 127.0.0.1, each on a free port, stopped after.

- BigQuery: ``crucible-emulator``; clients get its endpoint (``ATTRIBUTION_BQ_API_ENDPOINT``).
- Cloud Storage: ``gcp-storage-emulator``, in memory; clients find it through ``STORAGE_EMULATOR_HOST``,
  the variable Google's storage library honours.

Both live in the test-only environment ``.venv-emulator`` (``requirements-emulator.txt``).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

from servers import serving

from attribution.settings import PROJECT_ROOT

EMULATOR_BIN = PROJECT_ROOT / ".venv-emulator" / "bin"
PROJECT = "local-project"
# The Google provider's anonymous credentials: the connection the tests give the pipeline.
ANONYMOUS_GCP_CONNECTION = json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}})


def _serving(name: str, command: list[str], ready_path: str, log_path: Path) -> AbstractContextManager[str]:
    if not (EMULATOR_BIN / command[0]).exists():
        raise RuntimeError(f"{name} emulator missing: run `make .venv-emulator/.synced` (make test does)")
    return serving(f"{name} emulator", [str(EMULATOR_BIN / command[0]), *command[1:]], ready_path, log_path)


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
