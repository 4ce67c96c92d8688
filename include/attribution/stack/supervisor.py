"""The long-running services of the local stack, each in its own process group, found again through
the pid files in ``$AIRFLOW_HOME/run``; stopping one ends its children too (task runners, API workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

from attribution import dbt_worker
from attribution.settings import DBT_EXECUTABLE, PROJECT_ROOT, load_settings
from attribution.stack.environment import VENV_BIN, airflow_home

AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
SERVICES = (*AIRFLOW_SERVICES, "dashboard", "dbt-worker")
"""What `make demo` starts; `make stop` ends them. The dbt worker serves the tasks' builds (a task that
finds none starts it: its pid file is the same)."""
DASHBOARD_APP = PROJECT_ROOT / "include" / "attribution" / "dashboard" / "app.py"


def dashboard_command(environ: dict[str, str] | None = None) -> list[str]:
    """Streamlit serving the dashboard on the host and port of ATTRIBUTION_DASHBOARD_URL."""
    url = urllib.parse.urlsplit(load_settings(environ).dashboard_url)
    return [
        str(VENV_BIN / "streamlit"), "run", str(DASHBOARD_APP),
        "--server.address", url.hostname, "--server.port", str(url.port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def commands(env: dict[str, str]) -> dict[str, list[str]]:
    """The command of each service."""
    services = {
        **{name: [str(VENV_BIN / "airflow"), name] for name in AIRFLOW_SERVICES},
        "dashboard": dashboard_command(env),
    }
    if load_settings(env).dbt_process == "worker":
        socket = dbt_worker.socket_in(airflow_home(env))
        services["dbt-worker"] = [str(DBT_EXECUTABLE.parent / "python"), *dbt_worker.serve_arguments(socket)]
    return services


def pid_file(env: dict[str, str], service: str) -> Path:
    return airflow_home(env) / "run" / f"{service}.pid"  # the dbt worker's: dbt_worker.pid_path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(env: dict[str, str], service: str) -> int | None:
    """The pid of ``service`` when it runs (a stale pid file is removed)."""
    path = pid_file(env, service)
    if path.exists():
        pid = int(path.read_text())
        if _alive(pid):
            return pid
        path.unlink()
    return None


def service_pids(env: dict[str, str]) -> dict[str, int]:
    """Each running service's pid: the leader of its process group."""
    return {service: pid for service in SERVICES if (pid := running(env, service))}


def start_services(env: dict[str, str]) -> None:
    """Start every service not running yet; its output goes to ``$AIRFLOW_HOME/logs/services``."""
    logs = airflow_home(env) / "logs" / "services"
    logs.mkdir(parents=True, exist_ok=True)
    for service, command in commands(env).items():
        if running(env, service):
            print(f"{service}: already running")
            continue
        with (logs / f"{service}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it ends its children too
            )
        pid_file(env, service).parent.mkdir(exist_ok=True)
        pid_file(env, service).write_text(str(process.pid))
        print(f"{service}: started (pid {process.pid}, log {logs / f'{service}.log'})")


def stop_services(env: dict[str, str]) -> None:
    """Stop every service by its process group: SIGTERM, up to 30 s, then SIGKILL for stragglers."""
    for service in SERVICES:  # names only: stopping never depends on valid settings
        path = pid_file(env, service)
        if not path.exists():
            continue
        group = int(path.read_text())  # each service leads its own process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group (task runners, API workers)
            os.killpg(group, signal.SIGKILL)
        path.unlink(missing_ok=True)  # the dbt worker removes its own on SIGTERM
        print(f"{service}: stopped")
