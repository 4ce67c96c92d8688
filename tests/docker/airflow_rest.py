"""What the compose test asks of a stack's runs, through the project's Airflow REST client."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from attribution.stack.api import AirflowClient, wait
from attribution.stack.environment import DAG_ID


def run_to_success(client: AirflowClient, conf: dict, timeout: float = 900) -> str:
    """Trigger a run with ``conf``, wait for it to end, require success; its run id."""
    run_id = client.trigger(DAG_ID, conf)
    state = client.wait_for_run(DAG_ID, run_id, timeout)
    assert state == "success", failed_tasks(client, run_id)
    return run_id


def wait_idle(client: AirflowClient, landing: Path) -> list[dict]:
    """Until no run is queued or running and nothing waits in the landing; every run so far."""

    def idle() -> list[dict] | None:
        every = client.runs(DAG_ID)
        done = all(r["state"] in ("success", "failed") for r in every)
        return every if done and not any(landing.glob("*.csv")) else None

    return wait("the pipeline to go idle", idle, timeout=600, interval=2)


def runs_on_landing(client: AirflowClient, landing: Path) -> None:
    """A batch that lands starts a run by itself; batches that land while it is busy wait together for one
    next run. The triggerer watches the landing (no schedule fires in this test: .env sets a yearly one)."""
    from attribution.generator import write_batch

    seen = {r["dag_run_id"] for r in wait_idle(client, landing)}
    outbox = landing.parent / "outbox"
    batches = [write_batch(outbox, 50, seed=seed, end=datetime.now(UTC)) for seed in (11, 12, 13, 14)]

    def land(batch: Path) -> None:
        batch.replace(landing / batch.name)  # the same file system: an atomic rename, as producers land

    land(batches[0])
    first = wait(
        "a run started by the landing", lambda: [r for r in client.runs(DAG_ID) if r["dag_run_id"] not in seen], 120
    )
    assert [r["run_type"] for r in first] == ["asset_triggered"], first
    run_id = first[0]["dag_run_id"]
    wait("its load", lambda: client.task_states(DAG_ID, run_id).get("load") == "success", timeout=300)
    for batch in batches[1:]:  # while its dbt build runs
        land(batch)
    assert client.run(DAG_ID, run_id)["state"] == "running"
    new_runs = [r for r in wait_idle(client, landing) if r["dag_run_id"] not in seen]
    assert {(r["run_type"], r["state"]) for r in new_runs} == {("asset_triggered", "success")}, new_runs
    files = [sorted(f["file_name"] for f in loaded(client, r["dag_run_id"])) for r in new_runs]
    assert sorted(b.name for b in batches[1:]) in files, f"landed while a run was busy, loaded together: {files}"
    names = {batch.name for batch in batches}
    assert [name for name in ledger_files(landing.parent) if name in names] == sorted(names), "each loaded once"


def loaded(client: AirflowClient, run_id: str) -> list[dict]:
    """The files a run's load task loaded (its return value; none when it skipped the build)."""
    value = client.return_value(DAG_ID, run_id, "load")
    return value["files"] if value else []


def ledger_files(data: Path) -> list[str]:
    """The file names in the load ledger of the serving snapshot, one per ledger row."""
    import duckdb

    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        return [name for (name,) in con.execute("select file_name from load_ledger order by file_name").fetchall()]


def a_run_with_nothing_new_skips_its_build(client: AirflowClient) -> None:
    run_id = run_to_success(client, {"synthetic_events": 0}, timeout=600)
    states = client.task_states(DAG_ID, run_id)
    assert (states["load"], states["dbt.dbt_producer_watcher"], states["publish"]) == ("success", "skipped", "skipped")


def failed_tasks(client: AirflowClient, run_id: str) -> list:
    return [(t["task_id"], t["state"]) for t in client.task_instances(DAG_ID, run_id) if t["state"] != "success"]
