"""The command line of the local stack: ``python -m attribution.local_stack init|run-once|start|stop|dashboard``,
behind ``make run-once``, ``make demo``, ``make stop`` and ``make dashboard``."""

from __future__ import annotations

import argparse
import subprocess
import sys

from attribution.settings import load_settings
from attribution.stack.api import AirflowClient
from attribution.stack.environment import (
    ADMIN_USER,
    BASE_URL,
    DAG_ID,
    QUALITY_DAG_ID,
    admin_password,
    airflow,
    airflow_env,
    init,
)
from attribution.stack.supervisor import dashboard_command, start_services, stop_services


def run_once() -> int:
    """Exactly one DAG run through ``airflow dags test``; the exit code is the run's outcome."""
    env = airflow_env()
    init(env)
    return airflow("dags", "test", DAG_ID, env=env, check=False, quiet=False)


def start() -> int:
    """Start the stack, unpause both DAGs, trigger a first run and wait for it; 0 when it succeeded."""
    env = airflow_env()
    init(env)
    start_services(env)
    try:
        AirflowClient.wait_healthy(BASE_URL)  # it writes the admin password when it first starts
        client = AirflowClient.login(BASE_URL, ADMIN_USER, admin_password(env))
        for dag_id in (DAG_ID, QUALITY_DAG_ID):
            client.unpause(dag_id, timeout=180)
        run_id = client.trigger(DAG_ID)
        print(f"triggered run {run_id}; waiting for it to finish…")
        state = client.wait_for_run(DAG_ID, run_id, timeout=900, interval=5)
    except TimeoutError as error:
        raise SystemExit(str(error)) from None
    print(f"run {run_id}: {state}\n")
    print(f"Airflow UI: {BASE_URL}  (user {ADMIN_USER}, password {admin_password(env)})")
    print(f"Dashboard:  {load_settings(env).dashboard_url}")
    from attribution.summary import print_summary

    print_summary(load_settings())
    print("\nThe pipeline keeps running on its schedule; `make stop` ends it.")
    return 0 if state == "success" else 1


def stop() -> int:
    stop_services(airflow_env())
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
