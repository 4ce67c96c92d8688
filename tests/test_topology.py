"""The docker compose topology, exercised without Docker.

Postgres and Redis run as local processes (Debian's packages, installed by `make test`); every Airflow
service then runs with the command and the environment that `docker-compose config` resolves from
docker-compose.yaml, service hostnames mapped to 127.0.0.1 and container paths to local ones:
airflow-init's script, the API server, scheduler, DAG processor, a Celery worker and the triggerer.
A run of the pipeline is triggered through the REST API (JWT) and must succeed; the services'
healthcheck commands must pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from compose import compose_config
from servers import free_port

from attribution.compose_env import write_env
from attribution.local_stack import DAG_ID, VENV_BIN
from attribution.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/15/bin"))
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer")  # fmt: skip


def _as_postgres(command: list[str]) -> list[str]:
    """Postgres refuses to run as root: as root, run it as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


def _wait(what: str, check, timeout: float = 120, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if result := check():
                return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class Stack:
    """Processes started in their own groups, all stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.processes = logs, {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.processes.items()}

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _request(url: str, token: str | None = None, body: dict | None = None, method: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def test_the_compose_services_run_the_pipeline_natively(tmp_path: Path):
    secrets = tmp_path / ".env"
    write_env(secrets, PROJECT_ROOT / ".env.example")
    # Only landings start runs here (a yearly schedule), so the runs the test counts are the landings'.
    secrets.write_text(f"{secrets.read_text()}ATTRIBUTION_SCHEDULE=0 0 1 1 *\n")
    dotenv = dict(line.split("=", 1) for line in secrets.read_text().splitlines() if "=" in line and line[0] != "#")
    resolved = compose_config(tmp_path / "compose", secrets.read_text())
    assert resolved.returncode == 0, resolved.stderr
    services = yaml.safe_load(resolved.stdout)["services"]

    pg_port, redis_port, api_port = free_port(), free_port(), free_port()
    home, data = tmp_path / "airflow", tmp_path / "data"
    for volume in (home / "secrets", home / "logs", data):  # compose's volumes and bind mounts
        volume.mkdir(parents=True)
    # Container names and paths → this machine (longest paths first).
    mapping = [
        ("@postgres/", f"@127.0.0.1:{pg_port}/"), ("redis:6379", f"127.0.0.1:{redis_port}"),
        ("airflow-apiserver:8080", f"127.0.0.1:{api_port}"), ("localhost:8080", f"127.0.0.1:{api_port}"),
        ("/opt/airflow/project/data", str(data)), ("/opt/airflow/project", str(PROJECT_ROOT)),
        ("/opt/airflow/secrets", str(home / "secrets")), ("/opt/airflow/logs", str(home / "logs")),
    ]  # fmt: skip

    def native(value: str) -> str:
        for container, local in mapping:
            value = value.replace(container, local)
        return value.replace("$$", "$")  # `config` prints compose's escaped dollars

    def service_env(name: str) -> dict[str, str]:
        env = {key: native(str(value)) for key, value in services[name]["environment"].items()}
        return {
            "PATH": f"{VENV_BIN}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AIRFLOW_HOME": str(home),  # the image's /opt/airflow
            **env,
            "AIRFLOW__API__HOST": "127.0.0.1",  # the container's 0.0.0.0:8080, published on loopback
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",  # as in a container: $HOSTNAME
        }

    stack = Stack(tmp_path / "logs")
    pgroot = None
    try:
        # Postgres (the compose service's user, password and database) and Redis, as local processes.
        # Outside pytest's private temp dir, which the postgres user cannot enter.
        pgroot = Path(tempfile.mkdtemp(prefix="attribution-pg-"))
        pgdata, pwfile = pgroot / "data", pgroot / "pw"
        pwfile.write_text(dotenv["POSTGRES_PASSWORD"])
        if os.getuid() == 0:
            for path in (pgroot, pwfile):
                shutil.chown(path, user="postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", "airflow", f"--pwfile={pwfile}",
                                     "--auth=scram-sha-256"]), check=True, capture_output=True)  # fmt: skip
        stack.start("postgres", _as_postgres([str(PG_BIN / "postgres"), "-D", str(pgdata), "-p", str(pg_port),
                                              "-c", "listen_addresses=127.0.0.1", "-k", str(pgdata)]))  # fmt: skip
        pg_env = {**os.environ, "PGPASSWORD": dotenv["POSTGRES_PASSWORD"]}
        _wait("postgres", lambda: subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(pg_port)],
                                                 capture_output=True).returncode == 0)  # fmt: skip
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "airflow", "airflow"],
                       env=pg_env, check=True)  # fmt: skip
        stack.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"])  # fmt: skip

        # airflow-init: its script as compose runs it (migrate, admin password, pool).
        init = services["airflow-init"]
        entrypoint = init["entrypoint"] if isinstance(init["entrypoint"], list) else shlex.split(init["entrypoint"])
        script = subprocess.run(
            [*entrypoint, *(native(arg) for arg in init["command"])],
            env=service_env("airflow-init"), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert script.returncode == 0, script.stdout[-3000:] + script.stderr[-3000:]

        for name in AIRFLOW_SERVICES:
            command = services[name]["command"]
            stack.start(name, [str(VENV_BIN / "airflow"), *shlex.split(native(command))], env=service_env(name),
                        cwd=home)  # fmt: skip

        api = f"http://127.0.0.1:{api_port}"
        _wait("the API server", lambda: _request(f"{api}/api/v2/monitor/health"), timeout=180, interval=2)
        login = {"username": dotenv["AIRFLOW_ADMIN_USER"], "password": dotenv["AIRFLOW_ADMIN_PASSWORD"]}
        token = _request(f"{api}/auth/token", body=login)["access_token"]
        _wait(f"{DAG_ID} to be parsed", lambda: _request(f"{api}/api/v2/dags/{DAG_ID}", token), 180, 2)
        _request(f"{api}/api/v2/dags/{DAG_ID}", token, {"is_paused": False}, method="PATCH")
        run = _request(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", token,
                       {"logical_date": None, "conf": {"synthetic_events": 200}})  # fmt: skip
        run_url = f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run['dag_run_id'])}"
        state = _wait("the run", lambda: (s := _request(run_url, token)["state"]) in ("success", "failed") and s,
                      timeout=900, interval=5)  # fmt: skip
        assert state == "success", _failed_tasks(run_url, token)
        assert all(stack.alive().values()), stack.alive()

        # Each Airflow service's own healthcheck command passes here too (the dashboard's URL,
        # /_stcore/health, is what the browser tests wait on).
        for name in AIRFLOW_SERVICES:
            test = services[name]["healthcheck"]["test"]
            shell = test[0] == "CMD-SHELL"
            argv = ["bash", "-c", native(test[1])] if shell else [native(a) for a in test[1:]]
            env = {**service_env(name), "HOSTNAME": socket.gethostname()}
            check = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            assert check.returncode == 0, f"{name} healthcheck: {check.stdout[-2000:]} {check.stderr[-2000:]}"

        _runs_on_landing(api, token, data / "landing")
        _a_run_with_nothing_new_skips_its_build(api, token)
        assert all(stack.alive().values()), stack.alive()
    finally:
        stack.stop()
        if pgroot:
            shutil.rmtree(pgroot, ignore_errors=True)


def _runs(api: str, token: str) -> list[dict]:
    return _request(f"{api}/api/v2/dags/{DAG_ID}/dagRuns?limit=100", token)["dag_runs"]


def _wait_idle(api: str, token: str, landing: Path) -> list[dict]:
    """Until no run is queued or running and nothing waits in the landing; every run so far."""

    def idle() -> list[dict] | None:
        runs = _runs(api, token)
        return (
            runs if not any(landing.glob("*.csv")) and all(r["state"] in ("success", "failed") for r in runs) else None
        )

    return _wait("the pipeline to go idle", idle, timeout=600, interval=2)


def _task_states(api: str, token: str, run_id: str) -> dict[str, str]:
    url = f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run_id)}/taskInstances"
    return {t["task_id"]: t["state"] for t in _request(url, token)["task_instances"]}


def _runs_on_landing(api: str, token: str, landing: Path) -> None:
    """A batch that lands starts a run by itself; batches that land while it is busy wait together for one
    next run. The triggerer watches the landing (no schedule fires in this test: .env sets a yearly one)."""
    from attribution.generator import write_batch

    seen = {r["dag_run_id"] for r in _wait_idle(api, token, landing)}
    outbox = landing.parent / "outbox"
    batches = [write_batch(outbox, 50, seed=seed, end=datetime.now(UTC)) for seed in (11, 12, 13, 14)]

    def land(batch: Path) -> None:
        batch.replace(landing / batch.name)  # the same file system: an atomic rename, as producers land

    land(batches[0])
    first = _wait("a run started by the landing", lambda: [r for r in _runs(api, token) if r["dag_run_id"] not in seen])
    assert [r["run_type"] for r in first] == ["asset_triggered"], first
    run_id = first[0]["dag_run_id"]
    _wait("its load", lambda: _task_states(api, token, run_id).get("load") == "success", timeout=300)
    for batch in batches[1:]:  # while its dbt build runs
        land(batch)
    assert _request(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run_id)}", token)["state"] == "running"
    runs = [r for r in _wait_idle(api, token, landing) if r["dag_run_id"] not in seen]
    assert {(r["run_type"], r["state"]) for r in runs} == {("asset_triggered", "success")}, runs
    loaded = [sorted(f["file_name"] for f in _loaded(api, token, r["dag_run_id"])) for r in runs]
    assert sorted(b.name for b in batches[1:]) in loaded, f"landed while a run was busy, loaded together: {loaded}"
    names = {batch.name for batch in batches}
    assert [name for name in _ledger_files(landing.parent) if name in names] == sorted(names), "each loaded once"


def _loaded(api: str, token: str, run_id: str) -> list[dict]:
    """The files a run's load task loaded (its return value; none when it skipped the build)."""
    url = (f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run_id)}/taskInstances/load/xcomEntries/"
           "return_value?deserialize=true&stringify=false")  # fmt: skip
    value = _request(url, token)["value"]
    return value["files"] if value else []


def _ledger_files(data: Path) -> list[str]:
    """The file names in the load ledger of the serving snapshot, one per ledger row."""
    import duckdb

    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        return [name for (name,) in con.execute("select file_name from load_ledger order by file_name").fetchall()]


def _a_run_with_nothing_new_skips_its_build(api: str, token: str) -> None:
    body = {"logical_date": None, "conf": {"synthetic_events": 0}}
    run = _request(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", token, body)
    run_url = f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run['dag_run_id'])}"
    state = _wait("the run", lambda: (s := _request(run_url, token)["state"]) in ("success", "failed") and s, 600, 2)
    assert state == "success", _failed_tasks(run_url, token)
    states = _task_states(api, token, run["dag_run_id"])
    assert (states["load"], states["dbt.dbt_producer_watcher"], states["publish"]) == ("success", "skipped", "skipped")


def _failed_tasks(run_url: str, token: str) -> list:
    instances = _request(f"{run_url}/taskInstances", token)["task_instances"]
    return [(t["task_id"], t["state"]) for t in instances if t["state"] != "success"]
