"""The Airflow REST API (JWT) as the compose test drives it: trigger runs, wait for them, read what they did."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from attribution.local_stack import DAG_ID


def wait(what: str, check, timeout: float = 120, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if result := check():
                return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def request(url: str, token: str | None = None, body: dict | None = None, method: str | None = None) -> dict:
    """One JSON call to the API server: ``body`` is sent as JSON, the answer decoded."""
    outgoing = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    outgoing.add_header("Content-Type", "application/json")
    if token:
        outgoing.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(outgoing, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def login(api: str, user: str, password: str) -> str:
    """A JWT from the API server, once it answers."""
    wait("the API server", lambda: request(f"{api}/api/v2/monitor/health"), timeout=180, interval=2)
    return request(f"{api}/auth/token", body={"username": user, "password": password})["access_token"]


def unpause(api: str, token: str, dag_id: str = DAG_ID) -> None:
    """Unpause ``dag_id`` once the DAG processor has parsed it (compose creates DAGs paused)."""
    wait(f"{dag_id} to be parsed", lambda: request(f"{api}/api/v2/dags/{dag_id}", token), timeout=300, interval=2)
    request(f"{api}/api/v2/dags/{dag_id}", token, {"is_paused": False}, method="PATCH")


def run_url(api: str, run_id: str) -> str:
    return f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run_id)}"


def run_to_success(api: str, token: str, conf: dict, timeout: float = 900) -> str:
    """Trigger a run with ``conf``, wait for it to end, require success; its run id."""
    run = request(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", token, {"logical_date": None, "conf": conf})
    url = run_url(api, run["dag_run_id"])
    state = wait("the run", lambda: (s := request(url, token)["state"]) in ("success", "failed") and s, timeout, 2)
    assert state == "success", failed_tasks(url, token)
    return run["dag_run_id"]


def runs(api: str, token: str) -> list[dict]:
    return request(f"{api}/api/v2/dags/{DAG_ID}/dagRuns?limit=100", token)["dag_runs"]


def wait_idle(api: str, token: str, landing: Path) -> list[dict]:
    """Until no run is queued or running and nothing waits in the landing; every run so far."""

    def idle() -> list[dict] | None:
        every = runs(api, token)
        done = all(r["state"] in ("success", "failed") for r in every)
        return every if done and not any(landing.glob("*.csv")) else None

    return wait("the pipeline to go idle", idle, timeout=600, interval=2)


def task_states(api: str, token: str, run_id: str) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in request(f"{run_url(api, run_id)}/taskInstances", token)["task_instances"]}


def runs_on_landing(api: str, token: str, landing: Path) -> None:
    """A batch that lands starts a run by itself; batches that land while it is busy wait together for one
    next run. The triggerer watches the landing (no schedule fires in this test: .env sets a yearly one)."""
    from attribution.generator import write_batch

    seen = {r["dag_run_id"] for r in wait_idle(api, token, landing)}
    outbox = landing.parent / "outbox"
    batches = [write_batch(outbox, 50, seed=seed, end=datetime.now(UTC)) for seed in (11, 12, 13, 14)]

    def land(batch: Path) -> None:
        batch.replace(landing / batch.name)  # the same file system: an atomic rename, as producers land

    land(batches[0])
    first = wait("a run started by the landing", lambda: [r for r in runs(api, token) if r["dag_run_id"] not in seen])
    assert [r["run_type"] for r in first] == ["asset_triggered"], first
    run_id = first[0]["dag_run_id"]
    wait("its load", lambda: task_states(api, token, run_id).get("load") == "success", timeout=300)
    for batch in batches[1:]:  # while its dbt build runs
        land(batch)
    assert request(run_url(api, run_id), token)["state"] == "running"
    new_runs = [r for r in wait_idle(api, token, landing) if r["dag_run_id"] not in seen]
    assert {(r["run_type"], r["state"]) for r in new_runs} == {("asset_triggered", "success")}, new_runs
    files = [sorted(f["file_name"] for f in loaded(api, token, r["dag_run_id"])) for r in new_runs]
    assert sorted(b.name for b in batches[1:]) in files, f"landed while a run was busy, loaded together: {files}"
    names = {batch.name for batch in batches}
    assert [name for name in ledger_files(landing.parent) if name in names] == sorted(names), "each loaded once"


def loaded(api: str, token: str, run_id: str) -> list[dict]:
    """The files a run's load task loaded (its return value; none when it skipped the build)."""
    url = f"{run_url(api, run_id)}/taskInstances/load/xcomEntries/return_value?deserialize=true&stringify=false"
    value = request(url, token)["value"]
    return value["files"] if value else []


def ledger_files(data: Path) -> list[str]:
    """The file names in the load ledger of the serving snapshot, one per ledger row."""
    import duckdb

    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        return [name for (name,) in con.execute("select file_name from load_ledger order by file_name").fetchall()]


def a_run_with_nothing_new_skips_its_build(api: str, token: str) -> None:
    run_id = run_to_success(api, token, {"synthetic_events": 0}, timeout=600)
    states = task_states(api, token, run_id)
    assert (states["load"], states["dbt.dbt_producer_watcher"], states["publish"]) == ("success", "skipped", "skipped")


def failed_tasks(run_url: str, token: str) -> list:
    instances = request(f"{run_url}/taskInstances", token)["task_instances"]
    return [(t["task_id"], t["state"]) for t in instances if t["state"] != "success"]
