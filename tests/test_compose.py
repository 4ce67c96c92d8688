"""docker-compose.yaml checked by docker-compose itself (`config` needs no Docker engine), its invariants,
`make env`'s secrets and the Dockerfile's shape."""

import re
import stat
from pathlib import Path

import pytest
import yaml
from compose import compose_config
from cryptography.fernet import Fernet

from attribution.compose_env import write_env
from attribution.settings import PROJECT_ROOT

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init"}  # fmt: skip
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "dashboard"}


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    write_env(tmp_path / "generated.env", PROJECT_ROOT / ".env.example")
    return tmp_path / "generated.env"


@pytest.fixture
def config(tmp_path: Path, env_file: Path) -> dict:
    result = compose_config(tmp_path / "project", env_file.read_text())
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.debian
def test_every_service_is_there_and_has_a_healthcheck(config):
    assert set(config["services"]) == SERVICES
    for name, service in config["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


@pytest.mark.debian
def test_the_airflow_services_share_one_distributed_configuration(config, env_file: Path):
    secrets = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line and line[0] != "#")
    for name in AIRFLOW_SERVICES | {"dashboard"}:
        service = config["services"][name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__CORE__FERNET_KEY"] == secrets["AIRFLOW_FERNET_KEY"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == secrets["AIRFLOW_JWT_SECRET"]
        assert secrets["POSTGRES_PASSWORD"] in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        mounted = {volume.split(":")[1] for volume in service["volumes"]}
        for folder in ("dags", "include", "plugins", "dbt/models", "dbt/macros", "data"):
            assert f"/opt/airflow/project/{folder}" in mounted, f"{name} lacks {folder}"
        assert "/opt/airflow/logs" in mounted
        assert service["user"] == "50000:0" or name == "airflow-init"
        if name != "airflow-init":
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert config["services"]["airflow-worker"]["command"] == "celery worker"


@pytest.mark.debian
def test_both_stacks_notice_a_task_ending_within_a_second(config, tmp_path: Path):
    # A task's supervisor checks for its process's exit only when its wait times out: at Airflow's
    # default of 5 s, a skipped task (generate, in every run a landing starts) held up load that long.
    from attribution.stack.environment import airflow_env

    # And an idle scheduler sleeps 1 s by default before it queues the next task: 0.2 s in both.
    quick = {"AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1", "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2"}
    assert airflow_env({"AIRFLOW_HOME": str(tmp_path)}).items() >= quick.items()
    for name in AIRFLOW_SERVICES:
        assert config["services"][name]["environment"].items() >= quick.items()


@pytest.mark.debian
def test_ports_are_published_on_localhost_only(config):
    published = {name: service.get("ports", []) for name, service in config["services"].items()}
    assert published.pop("airflow-apiserver") == ["127.0.0.1:8080:8080/tcp"]
    assert published.pop("dashboard") == ["127.0.0.1:8501:8501/tcp"]
    assert all(not ports for ports in published.values()), published


@pytest.mark.debian
def test_without_make_env_compose_refuses_to_start(tmp_path: Path):
    result = compose_config(tmp_path, (PROJECT_ROOT / ".env.example").read_text())
    assert result.returncode != 0 and "run make env" in result.stderr


@pytest.mark.debian
def test_the_target_switches_to_bigquery_by_environment(tmp_path: Path, env_file: Path):
    text = env_file.read_text().replace("ATTRIBUTION_TARGET=duckdb", "ATTRIBUTION_TARGET=bigquery")
    result = compose_config(tmp_path, text + "ATTRIBUTION_BQ_PROJECT=acme-analytics\n")
    assert result.returncode == 0, result.stderr
    worker = yaml.safe_load(result.stdout)["services"]["airflow-worker"]["environment"]
    assert worker["ATTRIBUTION_TARGET"] == "bigquery" and worker["ATTRIBUTION_BQ_PROJECT"] == "acme-analytics"


def test_make_env_generates_real_secrets_once(tmp_path: Path):
    target = tmp_path / ".env"
    generated = write_env(target, PROJECT_ROOT / ".env.example")
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "POSTGRES_PASSWORD"} <= set(generated)
    Fernet(generated["AIRFLOW_FERNET_KEY"].encode())  # a usable key
    assert len(generated["AIRFLOW_JWT_SECRET"]) >= 48
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    before = target.read_text()
    assert write_env(target, PROJECT_ROOT / ".env.example") == {} and target.read_text() == before
    assert write_env(tmp_path / "other.env", PROJECT_ROOT / ".env.example") != generated, "fresh every time"


def test_the_dockerfile_installs_the_locks_exactly_on_the_locked_airflow_and_runs_unprivileged():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    locked = re.search(r"^apache-airflow==(\S+)$", (PROJECT_ROOT / "requirements.lock").read_text(), re.M).group(1)
    assert f"ARG AIRFLOW_IMAGE=apache/airflow:{locked}-python3.11\nFROM ${{AIRFLOW_IMAGE}}" in dockerfile
    # Both locks installed as written (`uv pip sync`, no resolution), by the uv that `make setup` uses,
    # bytecode compiled as `make setup` compiles it.
    sync = re.search(r"^SYNC := (.+)$", (PROJECT_ROOT / "Makefile").read_text(), re.M).group(1)
    for step in (f"uv {sync} requirements.lock", f"uv {sync} requirements-dbt.lock", "dbt_cli parse",
                 "docs generate"):  # fmt: skip
        assert step in dockerfile
    assert "pip install -r" not in dockerfile
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (PROJECT_ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"ARG UV_VERSION={uv_version}\n" in dockerfile
    assert [line for line in dockerfile.splitlines() if line.startswith("USER")][-1] == "USER airflow"
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".venv-dbt", "data", ".airflow"} <= set(ignored)
