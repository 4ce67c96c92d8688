"""The local Airflow stack behind ``make demo`` / ``make stop`` / ``make run-once``.

A project-local ``AIRFLOW_HOME`` (``.airflow/``), SQLite metadata, LocalExecutor with bounded
parallelism, and one process group per service so ``stop`` leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from attribution.settings import DBT_PROJECT_DIR, PROJECT_ROOT, load_settings

DAG_ID = "attribution_pipeline"
QUALITY_DAG_ID = "attribution_data_quality"  # every data test on every row, hourly
HOST, PORT = "127.0.0.1", 8080
BASE_URL = f"http://{HOST}:{PORT}"
ADMIN_USER = "admin"
VENV_BIN = Path(sys.executable).parent
DASHBOARD_APP = PROJECT_ROOT / "include" / "attribution" / "dashboard" / "app.py"


def dashboard_command(environ: dict[str, str] | None = None) -> list[str]:
    """Streamlit serving the dashboard on the host and port of ATTRIBUTION_DASHBOARD_URL."""
    url = urllib.parse.urlsplit(load_settings(environ).dashboard_url)
    return [
        str(VENV_BIN / "streamlit"), "run", str(DASHBOARD_APP),
        "--server.address", url.hostname, "--server.port", str(url.port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
    ]  # fmt: skip


AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
SERVICES = (*AIRFLOW_SERVICES, "dashboard")
"""What `make demo` starts, each in its own process group; `make stop` ends them."""


def services(env: dict[str, str]) -> dict[str, list[str]]:
    """The command of each service."""
    return {
        **{name: [str(VENV_BIN / "airflow"), name] for name in AIRFLOW_SERVICES},
        "dashboard": dashboard_command(env),
    }


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


def _airflow(*args: str, env: dict[str, str], check: bool = True, quiet: bool = True) -> int:
    out = subprocess.DEVNULL if quiet else None
    result = subprocess.run([str(VENV_BIN / "airflow"), *args], env=env, stdout=out, check=False)
    if check and result.returncode:
        raise SystemExit(f"airflow {' '.join(args)} failed with exit code {result.returncode}")
    return result.returncode


def init(env: dict[str, str]) -> None:
    """Migrate the metadata database and create the DuckDB writer pool (idempotent)."""
    _airflow("db", "migrate", env=env)
    _airflow("pools", "set", "duckdb_writer", "1", "DuckDB allows one writer at a time", env=env)


def run_once() -> int:
    """Exactly one DAG run through ``airflow dags test``; the exit code is the run's outcome."""
    env = airflow_env()
    init(env)
    return _airflow("dags", "test", DAG_ID, env=env, check=False, quiet=False)


# --- the long-running stack -------------------------------------------------------------------
def _pid_file(env: dict[str, str], service: str) -> Path:
    return airflow_home(env) / "run" / f"{service}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _running(env: dict[str, str], service: str) -> int | None:
    path = _pid_file(env, service)
    if path.exists():
        pid = int(path.read_text())
        if _alive(pid):
            return pid
        path.unlink()
    return None


def _request(method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        BASE_URL + path, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _wait(what: str, check, timeout: float, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            result = None
        if result:
            return result
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def admin_password(env: dict[str, str]) -> str:
    generated = airflow_home(env) / "simple_auth_manager_passwords.json.generated"
    return json.loads(generated.read_text())[ADMIN_USER]


def start() -> int:
    env = airflow_env()
    init(env)
    logs = airflow_home(env) / "logs" / "services"
    logs.mkdir(parents=True, exist_ok=True)
    for service, command in services(env).items():
        if _running(env, service):
            print(f"{service}: already running")
            continue
        with (logs / f"{service}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `stop` ends its children too
            )
        _pid_file(env, service).parent.mkdir(exist_ok=True)
        _pid_file(env, service).write_text(str(process.pid))
        print(f"{service}: started (pid {process.pid}, log {logs / f'{service}.log'})")

    _wait("the API server", lambda: _request("GET", "/api/v2/monitor/health"), timeout=180)
    password = admin_password(env)
    token = _request("POST", "/auth/token", body={"username": ADMIN_USER, "password": password})["access_token"]
    for dag_id in (DAG_ID, QUALITY_DAG_ID):
        _wait(f"{dag_id} to be parsed", lambda d=dag_id: _request("GET", f"/api/v2/dags/{d}", token), timeout=180)
        _request("PATCH", f"/api/v2/dags/{dag_id}", token, {"is_paused": False})
    run = _request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", token, {"logical_date": None})
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run['dag_run_id'])}"
    print(f"triggered run {run['dag_run_id']}; waiting for it to finish…")
    state = _wait(
        "the first run",
        lambda: (s := _request("GET", run_path, token)["state"]) in ("success", "failed") and s,
        timeout=900,
        interval=5,
    )
    print(f"run {run['dag_run_id']}: {state}\n")
    print(f"Airflow UI: {BASE_URL}  (user {ADMIN_USER}, password {password})")
    print(f"Dashboard:  {load_settings(env).dashboard_url}")
    from attribution.summary import print_summary

    print_summary(load_settings())
    print("\nThe pipeline keeps running on its schedule; `make stop` ends it.")
    return 0 if state == "success" else 1


def stop() -> int:
    env = airflow_env()
    for service in SERVICES:  # names only: stopping never depends on valid settings
        pid_file = _pid_file(env, service)
        if not pid_file.exists():
            continue
        group = int(pid_file.read_text())  # each service leads its own process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group (task runners, API workers)
            os.killpg(group, signal.SIGKILL)
        pid_file.unlink()
        print(f"{service}: stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attribution.local_stack")
    parser.add_argument("command", choices=("init", "run-once", "start", "stop", "dashboard"))
    command = parser.parse_args(argv).command
    if command == "init":
        init(airflow_env())
        return 0
    if command == "dashboard":  # in the foreground, until Ctrl-C
        env = airflow_env()
        return subprocess.call(dashboard_command(env), env=env)
    return {"run-once": run_once, "start": start, "stop": stop}[command]()


if __name__ == "__main__":
    sys.exit(main())
