"""Test tiers by what a test needs: a test that starts heavy machinery carries that machinery's marker.

``make test-fast`` runs the tests with none of these markers (pure Python, DuckDB in process, the
DAG parsed in process, the dashboard through Streamlit's AppTest); ``make test`` runs all but compose.
The markers are enforced, not trusted: every process a test starts (its fixtures' too) is checked
against the marker it needs, so a test that starts dbt without ``@pytest.mark.dbt`` fails, in either
target, instead of quietly making the fast tier slow.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

MARKERS = {
    "dbt": "runs dbt (the dbt environment)",
    "airflow": "runs Airflow itself: airflow dags test, db migrate, the scheduler, the API server",
    "bigquery": "runs the BigQuery or Cloud Storage emulator (the emulator environment) or ZetaSQL's analyzer",
    "browser": "drives headless Chromium (Debian's package)",
    "debian": "needs a test-only Debian package: docker-compose resolving the compose file",
    "compose": "builds the image and runs docker-compose.yaml in a Docker engine (make test-compose only)",
}
# The compose tier is outside make test and may start anything the others may.
_COVERS_ALL = "compose"
HEAVY = tuple(MARKERS)
FAST_TIER = "not (" + " or ".join(HEAVY) + ")"

# What a started program needs: by its name, or by a module or environment it runs from.
_PROGRAMS = {
    "airflow": "airflow", "dbt": "dbt", "dbt-worker-client": "dbt", "sqlfluff": "dbt", "crucible": "bigquery",
    "gcp-storage-emulator": "bigquery", "chromium": "browser", "chromedriver": "browser",
    "docker-compose": "debian", "docker": "compose", "dockerd": "compose", "containerd": "compose",
    "debootstrap": "compose",
}  # fmt: skip
_MODULES = {"attribution.local_stack": "airflow", "attribution.dbt_cli": "dbt"}
_ENVIRONMENTS = {".venv-dbt": "dbt", ".venv-emulator": "bigquery"}

_current: pytest.Item | None = None


def needed_marker(args) -> str | None:
    """The marker a command needs, or None for a light one (git, make, uv, a Python helper …)."""
    argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    argv = [os.fsdecode(a) for a in argv]
    if not argv:
        return None
    program = Path(argv[0])
    for part, marker in _ENVIRONMENTS.items():
        if part in program.parts:
            return marker
    if "-m" in argv[:-1] and (marker := _MODULES.get(argv[argv.index("-m") + 1])):
        return marker
    return _PROGRAMS.get(program.name)


def require(marker: str, what: str) -> None:
    """Fail the running test unless it carries ``marker``: it is about to use ``what``."""
    if _current is None or _current.get_closest_marker(_COVERS_ALL) is not None:
        return
    if _current.get_closest_marker(marker) is None:
        pytest.fail(
            f"{_current.nodeid} uses {what} without @pytest.mark.{marker} ({MARKERS[marker]}): mark it, "
            "so that make test-fast leaves it out",
            pytrace=False,
        )


_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]


def _checked_execute_child(self, args, *rest, **kwargs):
    if marker := needed_marker(args):
        require(marker, f"`{args if isinstance(args, str) else ' '.join(map(os.fsdecode, args))}`")
    return _execute_child(self, args, *rest, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    subprocess.Popen._execute_child = _checked_execute_child  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Setup, call and teardown of ``item`` (module fixtures it starts included) run under its markers."""
    global _current
    outer, _current = _current, item
    try:
        return (yield)
    finally:
        _current = outer
