"""`docker compose up` for real (`make test-compose`): the project's image built from its Dockerfile, the
real docker-compose.yaml run in a Docker engine of the test's own, with only image names overridden.

What it proves: the Dockerfile builds and installs exactly the lock files; every service of the
compose file starts and passes its own healthcheck in the order compose gives them; the CeleryExecutor
runs the pipeline end to end in containers (a run triggered through the REST API with a JWT, then
batches landed from the host starting runs by themselves); the dashboard container serves the figures
of the marts; the files the containers write to the mounted volumes belong to the host user; `down -v`
leaves no container, network or volume, and the host's networking is as it was.

What it cannot prove: the official images' exact contents. Nothing can be pulled here, so Airflow's,
PostgreSQL's and Redis's images are stand-ins built from Debian's packages (tests/docker/standins/).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow_rest import (
    a_run_with_nothing_new_skips_its_build,
    run_to_success,
    runs_on_landing,
)
from browser import chromium, open_dashboard
from conftest import click_figures_from_marts
from docker_engine import PROJECT_IMAGE, DockerEngine, HostState

from attribution.compose_env import read_env, write_env
from attribution.settings import PROJECT_ROOT, load_settings
from attribution.stack.api import AirflowClient
from attribution.stack.environment import DAG_ID

pytestmark = [pytest.mark.compose, pytest.mark.timeout(2400)]  # a cold first build takes minutes

PROJECT = "attribution-compose-test"
API, DASHBOARD = "http://127.0.0.1:8080", "http://127.0.0.1:8501"
SERVICES = ("postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
            "airflow-triggerer", "dashboard")  # fmt: skip
# The host user the containers write as (`make env` writes the caller's uid). As root, an ordinary user's
# uid, neither root nor the image's own 50000, so an arbitrary uid's permissions are what is tested.
HOST_UID = os.getuid() or 1000


@dataclass
class ComposeStack:
    engine: DockerEngine
    work: Path
    env: dict[str, str]
    dotenv: dict[str, str]

    @property
    def data(self) -> Path:
        return self.work / "data"

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        files = ("--file", str(self.work / "docker-compose.yaml"), "--file", str(self.work / "standins.yaml"))
        compose = shutil.which("docker-compose") or "/usr/bin/docker-compose"
        command = [compose, "--project-name", PROJECT, *files, *args]
        return subprocess.run(command, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout)

    def client(self) -> AirflowClient:
        """The REST API as the admin user of the stack's .env."""
        return AirflowClient.login(API, self.dotenv["AIRFLOW_ADMIN_USER"], self.dotenv["AIRFLOW_ADMIN_PASSWORD"])

    def health(self) -> dict[str, str]:
        """Service → its running container's health, or ``exited:<code>`` for a container that ended."""
        ids = self.compose("ps", "--quiet").stdout.split()
        template = (
            '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}} '
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
        )
        lines = self.engine.docker("inspect", "--format", template, *ids).stdout.splitlines() if ids else []
        health = {}
        for service, status, code, healthcheck in (line.split(" ") for line in lines if line):
            health[service] = healthcheck if status == "running" else f"{status}:{code}"
        return health

    def wait_healthy(self, timeout: float = 600) -> None:
        """Until every service passes its own healthcheck and airflow-init has exited with 0."""
        deadline, health = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            health = self.health()
            if set(health) >= {*SERVICES, "airflow-init"} and set(health.values()) == {"healthy", "exited:0"}:
                return
            time.sleep(5)
        raise AssertionError(f"not healthy after {timeout:.0f} s: {health}")


@pytest.fixture(scope="module")
def engine():
    engine = DockerEngine()
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
    assert HostState.read() == engine.before, "the engine left the host changed"


@pytest.fixture(scope="module")
def images(engine: DockerEngine) -> dict[str, float]:
    seconds = engine.build_images()
    print("image builds:", {step: round(value, 1) for step, value in seconds.items()})
    print(f"{PROJECT_IMAGE}: {engine.image_size(PROJECT_IMAGE) / 1e9:.2f} GB")
    return seconds


@pytest.fixture(scope="module")
def stack(engine: DockerEngine, images, tmp_path_factory):
    for port in (8080, 8501):  # the compose file publishes these on 127.0.0.1
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.fail(f"127.0.0.1:{port} is taken (is `make demo` running? `make stop`)")
    work = tmp_path_factory.mktemp("compose")
    work.chmod(0o755)
    # The real compose file and the checkout it mounts, seen from a directory of the test's own (its .env).
    for name in ("docker-compose.yaml", "dags", "include", "plugins", "dbt"):
        (work / name).symlink_to(PROJECT_ROOT / name)
    shutil.copy(Path(__file__).parent / "docker-compose.standins.yaml", work / "standins.yaml")
    write_env(work / ".env", PROJECT_ROOT / ".env.example")
    # Only landings and the test's own trigger start runs (a yearly schedule): the runs it counts are those.
    # A week of history: the dashboard's default 30 days span every conversion.
    text = (work / ".env").read_text().replace("AIRFLOW_UID=50000", f"AIRFLOW_UID={HOST_UID}")
    (work / ".env").write_text(f"{text}ATTRIBUTION_SCHEDULE=0 0 1 1 *\nATTRIBUTION_HISTORY_DAYS=7\n")
    for volume in ("data", "logs"):  # as a user makes them before `up`
        (work / volume).mkdir()
        os.chown(work / volume, HOST_UID, 0)
    dotenv = read_env(work / ".env")
    env = {**engine.env, "ATTRIBUTION_IMAGE": PROJECT_IMAGE, "ATTRIBUTION_DATA_DIR": str(work / "data"),
           "AIRFLOW_LOGS_DIR": str(work / "logs")}  # fmt: skip
    stack = ComposeStack(engine, work, env, dotenv)
    try:
        started = time.monotonic()
        up = stack.compose("up", "--detach", "--no-build")
        assert up.returncode == 0, up.stderr[-5000:] + stack.compose("logs", "--tail", "40").stdout[-20000:]
        stack.wait_healthy()
        print(f"compose up to every service healthy: {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        (PROJECT_ROOT / "test-artifacts").mkdir(exist_ok=True)
        (PROJECT_ROOT / "test-artifacts" / "compose.log").write_text(stack.compose("logs", "--no-color").stdout)
        down = stack.compose("down", "--volumes", "--remove-orphans")
        assert down.returncode == 0, down.stderr
        label = f"label=com.docker.compose.project={PROJECT}"
        for kind in ("container", "network", "volume"):
            left = engine.docker(kind, "ls", *(["--all"] if kind == "container" else []), "--quiet", "--filter", label)
            assert not left.stdout.strip(), f"`down -v` left {kind}s: {left.stdout}"
        shutil.rmtree(work, ignore_errors=True)


def test_every_service_passes_its_healthcheck(stack: ComposeStack):
    health = stack.health()
    assert {service: health[service] for service in SERVICES} == dict.fromkeys(SERVICES, "healthy")
    assert health["airflow-init"] == "exited:0"


def test_a_run_through_the_rest_api_succeeds_and_the_dashboard_serves_its_figures(stack: ComposeStack, tmp_path):
    client = stack.client()
    client.unpause(DAG_ID)
    run_id = run_to_success(client, {"synthetic_events": 300})
    assert client.task_states(DAG_ID, run_id)["publish"] == "success"

    # The published snapshot, read from the host through the mounted volume, is what the page shows.
    settings = load_settings({"ATTRIBUTION_DUCKDB_PATH": str(stack.data / "warehouse.duckdb")})
    expected = click_figures_from_marts(settings)
    assert expected["Last-click conversions"] != "0"
    with chromium(tmp_path / "chromium") as driver:
        shown = open_dashboard(driver, DASHBOARD)
    assert {label: shown[label] for label in expected} == expected


def test_files_the_containers_write_to_the_mounts_belong_to_the_host_user(stack: ComposeStack):
    # Before the test below lands batches of its own from the host: everything here is the containers'.
    written = [path for volume in (stack.data, stack.logs) for path in volume.rglob("*")]
    assert any(path.suffix == ".duckdb" for path in written) and any(path.suffix == ".log" for path in written)
    foreign = [path for path in written if path.stat().st_uid != HOST_UID]
    assert not foreign, f"not owned by uid {HOST_UID}: {foreign[:10]}"


def test_batches_landed_from_the_host_start_runs_in_the_containers(stack: ComposeStack):
    client = stack.client()
    runs_on_landing(client, stack.data / "landing")
    a_run_with_nothing_new_skips_its_build(client)
