"""Shared fixtures: every test gets its own warehouse, landing directory and Airflow home."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

# Airflow reads AIRFLOW_HOME when first imported: point it at a throwaway home before any test does.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
from attribution.settings import PROJECT_ROOT, Settings, load_settings
from attribution.stack.environment import DAG_ID, VENV_BIN

PY = Path(sys.executable)
# The tests' own dbt commands write their artefacts to a directory of this process (a worker's, when
# tests run in parallel), never to the project's dbt/target, the manifest Cosmos renders the DAG from.
# Airflow commands run without these (see `run`): Cosmos's dbt keeps its own target directory.
DBT_ARTEFACTS = ("DBT_TARGET_PATH", "DBT_LOG_PATH")
DBT_TARGET = Path(tempfile.mkdtemp(prefix="dbt-target-"))
atexit.register(shutil.rmtree, DBT_TARGET, ignore_errors=True)
os.environ["DBT_TARGET_PATH"] = str(DBT_TARGET)
os.environ["DBT_LOG_PATH"] = str(DBT_TARGET / "logs")
# The test tiers and their enforcement; the BigQuery pipeline session that three test files share.
pytest_plugins = ["tiers", "bigquery_pipeline"]


@pytest.fixture
def attribution_env(tmp_path: Path) -> dict[str, str]:
    """ATTRIBUTION_* variables for an isolated embedded warehouse under tmp_path."""
    return {
        "ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "warehouse" / "warehouse.duckdb"),
        "ATTRIBUTION_LANDING_DIR": str(tmp_path / "landing"),
        "ATTRIBUTION_TASK_RETRIES": "0",
        "ATTRIBUTION_HISTORY_DAYS": "0",  # tests that want history ask for it
    }


@pytest.fixture
def settings(attribution_env: dict[str, str]) -> Settings:
    return load_settings(attribution_env)


@pytest.fixture(scope="session", autouse=True)
def _stop_dbt_workers(tmp_path_factory: pytest.TempPathFactory):
    """The dbt workers the tests' runs started (one per Airflow home: its ``run/dbt-worker.pid``), stopped
    by their pids when the session ends."""
    yield
    from attribution import dbt_worker

    for home in (tmp_path_factory.getbasetemp(), Path(os.environ["AIRFLOW_HOME"])):
        for pid_file in home.rglob("dbt-worker.pid"):
            dbt_worker.stop(pid_file.with_suffix(".sock"))


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated Airflow home (SQLite) shared by the end-to-end tests; returns its environment."""
    from attribution.stack.environment import airflow_env, init

    env = airflow_env({**os.environ, "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow"))})
    init(env)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command from the project root and capture its output (shown when a test fails)."""
    env = {name: value for name, value in env.items() if name not in DBT_ARTEFACTS}
    result = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    print(result.stdout[-20000:], result.stderr[-20000:], sep="\n")
    return result


def dags_test(env: dict[str, str], conf: dict | None = None, dag_id: str = DAG_ID):
    """One run as the trigger form would start it (params in the run's conf)."""
    args = [str(VENV_BIN / "airflow"), "dags", "test", dag_id]
    if conf:
        args += ["--conf", json.dumps(conf)]
    return run(args, env)


def run_once(env: dict[str, str]):
    """One run exactly as `make run-once` starts it."""
    return run([str(VENV_BIN / "python"), "-m", "attribution.local_stack", "run-once"], env)


def click_figures_from_marts(settings: Settings) -> dict[str, str]:
    """First/last-click figures as the dashboard must show them: straight from the served marts."""
    shown = {}
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        for label, mart in (("First-click", "mart_first_click"), ("Last-click", "mart_last_click")):
            conversions, revenue = con.execute(f"select count(*), sum(revenue) from {mart}").fetchone()
            shown[f"{label} conversions"] = f"{conversions:,.0f}"
            shown[f"{label} revenue"] = f"${float(revenue):,.2f}"
    return shown


# Scheduling on two workers (make test: --dist loadgroup --no-loadscope-reorder). A test file stays on one
# worker (its module fixtures are built once), files sharing a session fixture carry one xdist_group,
# and the longest groups start first so that both workers finish together. The order is measured
# (`make test`'s durations); a file missing from it only starts later.
LONGEST_FIRST = (
    "bigquery_pipeline",
    "test_alerts",
    "test_incremental",
    "test_dbt_project",
    "test_ga4_rules",
    "test_intraday",
    "test_airflow_ui",
    "test_pipeline_e2e",
    "test_dbt_worker",
    "test_data_driven",
    "test_dashboard",
    "test_history",
)


@pytest.hookimpl(tryfirst=True)  # before xdist names each test's group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.get_closest_marker("xdist_group").args[0], len(rank)))
    if getattr(config.option, "loadgroup", False):
        # xdist 3.8 names a test's group by assigning ``item._nodeid``, which pytest 9 no longer reads
        # (a node's id is ``item._id``): without this, every test is its own group, files split across
        # the workers and the shared BigQuery session is built on both.
        from _pytest.nodeid import coerce_node_id

        for item in items:
            if "@" not in item.nodeid:
                item._id = coerce_node_id(f"{item.nodeid}@{item.get_closest_marker('xdist_group').args[0]}")
