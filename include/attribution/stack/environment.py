"""The Airflow environment of the local stack: a project-local ``AIRFLOW_HOME`` (``.airflow/``), SQLite
metadata, LocalExecutor with bounded parallelism, and the variables every Airflow command runs with."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from attribution.settings import DBT_PROJECT_DIR, PROJECT_ROOT

DAG_ID = "attribution_pipeline"
QUALITY_DAG_ID = "attribution_data_quality"  # every data test on every row, hourly
HOST, PORT = "127.0.0.1", 8080
BASE_URL = f"http://{HOST}:{PORT}"
ADMIN_USER = "admin"
VENV_BIN = Path(sys.executable).parent


def airflow_home(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")


def airflow_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow command of the local stack runs with (caller's values win)."""
    env = dict(os.environ if environ is None else environ)
    home = airflow_home(env)
    home.mkdir(parents=True, exist_ok=True)
    secret_file = home / "jwt_secret"
    if not secret_file.exists():  # shared by api-server and workers, generated once per home
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Airflow defaults to 32 worker processes; two cores want a handful.
        "AIRFLOW__CORE__PARALLELISM": "4",
        # A task's supervisor notices its process has exited only when its wait times out, after up to
        # this many seconds (default 5): a skipped or failed task ends that late, and every task holds
        # its worker slot that long. 1 s costs a heartbeat a second per running task.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # After a loop with nothing to do the scheduler sleeps this long (default 1 s): a task's end waits
        # up to that long for the next task to be queued, at every step of a run.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{BASE_URL}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__API__BASE_URL": BASE_URL,
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(PORT),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    # Cosmos reports usage to a public endpoint by default: not from here.
    defaults["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
    # Cosmos's plugin serves the dbt docs that `make setup` generates (Browse → dbt docs (attribution)).
    defaults["AIRFLOW__COSMOS__DBT_DOCS_PROJECTS"] = json.dumps(
        {"attribution": {"dir": str(DBT_PROJECT_DIR / "target"), "name": "dbt docs (attribution)"}}
    )
    return env | defaults | {k: v for k, v in env.items() if k.startswith("AIRFLOW__")}


def airflow(*args: str, env: dict[str, str], check: bool = True, quiet: bool = True) -> int:
    """One ``airflow`` command of this environment; its exit code (with ``check``, non-zero stops us)."""
    out = subprocess.DEVNULL if quiet else None
    result = subprocess.run([str(VENV_BIN / "airflow"), *args], env=env, stdout=out, check=False)
    if check and result.returncode:
        raise SystemExit(f"airflow {' '.join(args)} failed with exit code {result.returncode}")
    return result.returncode


def init(env: dict[str, str]) -> None:
    """Migrate the metadata database and create the DuckDB writer pool (idempotent)."""
    airflow("db", "migrate", env=env)
    airflow("pools", "set", "duckdb_writer", "1", "DuckDB allows one writer at a time", env=env)


def admin_password(env: dict[str, str]) -> str:
    """The password the API server generated for the admin user of this home."""
    generated = airflow_home(env) / "simple_auth_manager_passwords.json.generated"
    return json.loads(generated.read_text())[ADMIN_USER]
