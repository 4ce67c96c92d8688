"""The long-lived dbt process (include/attribution/dbt_worker.py): real dbt, a real DuckDB file, the client the
tasks run, and a worker killed mid-build, on its own and under `airflow dags test`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import DBT_ARTEFACTS, dags_test

from attribution import dbt_worker
from attribution.cosmos_config import dbt_env
from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.settings import DBT_PROJECT_DIR, PER_RUN_TEST_EXCLUDE, PROJECT_ROOT, Settings, load_settings
from attribution.stack.environment import DAG_ID, VENV_BIN
from attribution.synthetic_spend import land_demo_batch
from attribution.warehouse import connect

pytestmark = [pytest.mark.dbt]


def cosmos_copy(project: Path, into: Path) -> Path:
    """The project as Cosmos hands it to each build: a fresh directory of links to its files."""
    from cosmos.dbt.project import create_symlinks

    into.mkdir(parents=True)
    create_symlinks(project, into, ignore_dbt_packages=False)
    return into


class Client:
    """The tasks' dbt executable, run as Cosmos runs it: only the variables it is given, in the project copy."""

    def __init__(self, settings: Settings, socket: Path, tmp_path: Path):
        self.env = settings.dbt_env() | {dbt_worker.SOCKET_VARIABLE: str(socket)}
        self.socket, self.tmp_path, self.builds = socket, tmp_path, 0

    def command(self, project: Path, *args: str) -> tuple[list[str], Path]:
        self.builds += 1
        copy = cosmos_copy(project, self.tmp_path / f"build-{self.builds}")
        flags = ["--project-dir", str(copy), "--profiles-dir", str(DBT_PROJECT_DIR), "--profile", "attribution",
                 "--target", "duckdb", "--log-format", "json"]  # fmt: skip
        return [str(dbt_worker.CLIENT), *args, *flags], copy

    def run(self, project: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
        """The command's result and the target directory it wrote; its project copy is deleted, as Cosmos
        deletes it after each build."""
        command, copy = self.command(project, *args)
        result = subprocess.run(command, cwd=copy, env=self.env, capture_output=True, text=True, timeout=600)
        print(result.stdout[-5000:], result.stderr[-3000:], sep="\n")
        target = self.tmp_path / f"target-{self.builds}"
        if (copy / "target").exists():  # not after a usage error
            shutil.move(copy / "target", target)
        shutil.rmtree(copy)
        return result, target

    def start(self, project: Path, *args: str) -> tuple[subprocess.Popen, Path]:
        command, copy = self.command(project, *args)
        process = subprocess.Popen(command, cwd=copy, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
        return process, copy

    @property
    def worker_pid(self) -> int:
        return int(dbt_worker.pid_path(self.socket).read_text())


def finished_nodes(output: str) -> dict[str, str]:
    """unique_id -> status of every node dbt reported finished, from its JSON log lines (as Cosmos reads them)."""
    statuses = {}
    for line in output.splitlines():
        node = json.loads(line)["data"].get("node_info", {}) if line.startswith("{") else {}
        if node.get("node_status") in ("success", "error", "pass", "fail", "warn", "skipped"):
            statuses[node["unique_id"]] = node["node_status"]
    return statuses


def wait_until_building(pid: int, timeout: float = 120) -> None:
    """Until the worker runs a model of a build: its working directory is the build's project copy, and
    dbt has written a model's SQL to run there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        if (cwd / "target" / "run").exists():
            return
        time.sleep(0.02)
    raise AssertionError("the worker never started building")


def gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def client(settings: Settings, tmp_path: Path):
    """A warehouse holding one loaded batch, and a client of a worker of this test's own."""
    write_batch(settings.landing_path, 400, seed=5, end=datetime.now(UTC))
    load_pending(settings, connect(settings))
    socket = tmp_path / "run" / "dbt-worker.sock"
    yield Client(settings, socket, tmp_path)
    dbt_worker.stop(socket)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the dbt project that a test may edit."""
    return Path(shutil.copytree(DBT_PROJECT_DIR, tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs")))


STAGING = ("-s", "+int_events", "--resource-type", "model", "--resource-type", "seed")  # int_events, what it reads


def test_builds_share_one_parse_release_the_warehouse_and_reparse_when_the_project_changes(
    client: Client, project: Path, settings: Settings
):
    first, first_target = client.run(project, "build", *STAGING)
    assert first.returncode == 0
    assert "dbt worker: parsed the project" in first.stdout
    built = finished_nodes(first.stdout)
    assert built["model.attribution.int_events"] == "success" and built["model.attribution.stg_ga4_events"] == "success"
    results = json.loads((first_target / "run_results.json").read_text())["results"]
    assert "model.attribution.int_events" in {r["unique_id"] for r in results}  # where Cosmos reads them
    pid = client.worker_pid

    # Between builds the worker holds nothing open: another process writes the warehouse.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table raw.written_between_builds as select 1 as x")

    again, _ = client.run(project, "build", *STAGING)  # its seeds read from the project, not the deleted copy
    assert again.returncode == 0 and "parsed the project" not in again.stdout
    assert finished_nodes(again.stdout).keys() >= built.keys() - {k for k in built if k.startswith("test.")}
    assert client.worker_pid == pid

    # A changed model is a changed project: parsed again, and the build runs the new SQL.
    model = project / "models" / "intermediate" / "int_events.sql"
    model.write_text(model.read_text() + "\n-- changed after the first parse\n")
    changed, changed_target = client.run(project, "build", "-s", "int_events")
    assert changed.returncode == 0 and "parsed the project" in changed.stdout
    compiled = next((changed_target / "run").rglob("int_events.sql")).read_text()
    assert "changed after the first parse" in compiled
    assert client.worker_pid == pid

    # So is another setting the project reads (a different manifest, kept beside the first).
    client.env["ATTRIBUTION_REPORTING_IDENTITY"] = "blended"
    other, _ = client.run(project, "build", "-s", "int_events")
    assert other.returncode == 0 and "parsed the project" in other.stdout


def test_failures_keep_dbt_exit_codes_name_the_node_and_the_worker_lives_on(client: Client, project: Path):
    model = project / "models" / "intermediate" / "int_events.sql"
    model.write_text("select no_such_column from {{ ref('stg_ga4_events') }}\n")
    failed, _ = client.run(project, "build", *STAGING)
    assert failed.returncode == 1
    assert finished_nodes(failed.stdout)["model.attribution.int_events"] == "error"
    assert "no_such_column" in failed.stdout
    pid = client.worker_pid

    wrong, _ = client.run(project, "build", "--no-such-flag")
    assert wrong.returncode == 2 and "no-such-flag" in wrong.stdout + wrong.stderr
    assert client.worker_pid == pid


def test_a_worker_killed_mid_build_fails_that_build_and_the_next_build_starts_another(client: Client, project: Path):
    client.run(project, "ls", "-s", "int_events")  # a warm worker, the project parsed: next comes the build
    process, _ = client.start(project, "build", "--exclude", *PER_RUN_TEST_EXCLUDE)
    killed = client.worker_pid
    wait_until_building(killed)
    os.kill(killed, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"dbt worker (pid {killed}) ended during the build" in stderr

    after, _ = client.run(project, "build", *STAGING)
    assert after.returncode == 0 and client.worker_pid != killed
    assert finished_nodes(after.stdout)["model.attribution.int_events"] == "success"


def test_a_client_killed_mid_build_stops_its_build(client: Client, project: Path):
    """A task killed mid-build (its deadline, a user) ends its build, as a killed dbt process would."""
    client.run(project, "ls", "-s", "int_events")
    process, _ = client.start(project, "build", "--exclude", *PER_RUN_TEST_EXCLUDE)
    worker = client.worker_pid
    wait_until_building(worker)
    process.kill()
    process.communicate()
    assert gone(worker)
    assert client.run(project, "build", *STAGING)[0].returncode == 0


@pytest.mark.airflow
def test_a_run_whose_worker_dies_mid_build_fails_and_the_next_run_serves_every_conversion_once(
    airflow_home: dict[str, str], attribution_env: dict[str, str]
):
    env = {k: v for k, v in (airflow_home | attribution_env).items() if k not in DBT_ARTEFACTS}
    # Each run loads a batch landed here, as the generate task lands one, from a seed whose 300 events hold
    # purchases (the task's own seed is the clock: two of its batches hold none about one time in twelve).
    env["ATTRIBUTION_SYNTHETIC_EVENTS"] = "0"
    settings = load_settings(env)
    land_demo_batch(settings, 300, seed=2, end=datetime.now(UTC))
    socket = dbt_worker.socket_in(Path(env["AIRFLOW_HOME"]))  # the tasks' worker: the DAG's dbt_env names it
    assert dbt_env(settings)[dbt_worker.SOCKET_VARIABLE].endswith(str(socket.relative_to(env["AIRFLOW_HOME"])))
    first = subprocess.Popen([str(VENV_BIN / "airflow"), "dags", "test", DAG_ID], cwd=PROJECT_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (dbt_worker.pid_path(socket).exists() and first.poll() is None):
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()[0][-5000:]
        time.sleep(0.1)
    killed = int(dbt_worker.pid_path(socket).read_text())
    wait_until_building(killed)
    os.kill(killed, signal.SIGKILL)
    output = first.communicate(timeout=600)[0]
    print(output[-20000:])
    assert first.returncode != 0, "the run whose build died failed"
    assert f"dbt worker (pid {killed}) ended during the build" in output

    land_demo_batch(settings, 300, seed=4, end=datetime.now(UTC))
    second = dags_test(env)  # its build starts a new worker and builds what the first run loaded, too
    assert second.returncode == 0
    assert int(dbt_worker.pid_path(socket).read_text()) != killed
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        files = con.execute("select count(*), count(distinct file_name), sum(rows_read) from raw.load_ledger"
                            " where file_type = 'events'").fetchone()  # fmt: skip
        assert files == (2, 2, 600), "each run's batch loaded once"
        assert con.execute("select count(*), count(distinct event_id) from raw.streamed_events").fetchone() == (
            600,
            600,
        )
        conversions = con.execute("select count(*) from int_conversions").fetchone()[0]
        streamed = {row[0] for row in con.execute(
            "select coalesce(transaction_id, event_id) from raw.streamed_events where event_name = 'purchase'"
        ).fetchall()}  # fmt: skip
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        served = [row[0] for row in con.execute("select conversion_id from mart_first_click").fetchall()]
    assert len(served) == len(set(served)) == conversions > 0, "every conversion served once"
    assert streamed <= set(served), "both batches' purchases are served"
