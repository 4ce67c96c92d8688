"""`make soak`: many consecutive runs while batches land at random intervals; nothing lost, nothing twice.

The local stack (`make demo`'s scheduler, dag-processor, API server, triggerer) runs the DAG with the
default triggering in a throwaway Airflow home and warehouse: a run per landing, and the 5-minute
schedule with its synthetic batch. Files land every 5 to 40 s (at random, so some land while runs are
busy): good batches, batches with bad rows, and copies of earlier files (a redelivery must load nothing
twice). The data-quality DAG runs every 10 minutes instead of hourly. Afterwards: every run of both
DAGs succeeded, no event_id twice in the warehouse or the marts, every ledger row reconciles
(rows_read = loaded + duplicate + quarantined) and every loaded row is accounted for, and the
long-running processes' memory stayed flat. The figures go to BENCHMARKS.md.

    make soak                 # 50 runs, about 30 minutes
    make soak ARGS="--runs 5" # a shorter one
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil
from run import Workspace, machine, nearest_rank, replace_block

from attribution.generator import write_batch
from attribution.raw_tables import EVENTS
from attribution.settings import PROJECT_ROOT
from attribution.stack.api import AirflowClient, parse_time
from attribution.stack.environment import ADMIN_USER, BASE_URL, DAG_ID, QUALITY_DAG_ID, admin_password, airflow_env
from attribution.stack.supervisor import service_pids

LANDING_SECONDS = (5, 40)


def _services_rss(env: dict[str, str]) -> dict[str, float]:
    """Resident memory (MB) of each long-running service: its process and children (workers, gunicorn)."""
    usage = {}
    for service, pid in service_pids(env).items():
        try:
            root = psutil.Process(pid)
            usage[service] = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
        except psutil.Error:
            continue
    return usage


def _runs(api: AirflowClient, dag_id: str = DAG_ID) -> list[tuple[str, str, float | None]]:
    """(run type, state, duration in seconds) of every finished run of ``dag_id`` so far."""
    runs = []
    for run in api.runs(dag_id):
        if run["state"] not in ("success", "failed"):
            continue
        start, end = parse_time(run["start_date"]), parse_time(run["end_date"])
        runs.append((run["run_type"], run["state"], (end - start).total_seconds() if start and end else None))
    return runs


def _failed_task_logs(api: AirflowClient, dag_id: str) -> list[str]:
    """The last lines of the log of every failed task instance of ``dag_id``: why a run failed."""
    reports = []
    for run in api.runs(dag_id, state="failed"):
        for task in api.task_instances(dag_id, run["dag_run_id"]):
            if task["state"] == "failed":
                lines = api.task_log(dag_id, run["dag_run_id"], task["task_id"], task["try_number"]).splitlines()
                reports.append(f"{dag_id} {run['dag_run_id']} {task['task_id']}:\n" + "\n".join(lines[-40:]))
    return reports


def _bad_batch(directory: Path, number: int) -> Path:
    """A batch with a few good rows and a few that must be quarantined."""
    now = int(datetime.now(UTC).timestamp() * 1e6)
    lines = [",".join(EVENTS.column_names)]
    lines += [f"soak{number}-ok{i},{now},page_view,soak-user{i},{now // 10**6},,,,,,,," for i in range(5)]
    lines += [f"soak{number}-bad{i},yesterday,page_view,soak-user{i},1,,,,,,,," for i in range(3)]
    path = directory / f"soak_bad_{number}.csv"
    partial = directory / f".{path.name}.partial"
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)
    return path


def _checks(workspace: Workspace) -> tuple[dict[str, int], dict[str, int]]:
    """(counts, invariants that must be 0) of the warehouse after the soak."""
    with duckdb.connect(str(workspace.settings.warehouse_path), read_only=True) as con:

        def one(sql: str) -> int:
            return con.execute(sql).fetchone()[0]

        counts = {
            "Files in the ledger": one("select count(*) from raw.load_ledger"),
            "Events loaded": one("select count(*) from raw.streamed_events"),
            "Cost rows loaded (a restated figure is a row)": one("select count(*) from raw.ad_spend"),
            "Rows quarantined": one("select count(*) from raw.quarantined_rows"),
            "Conversions attributed": one("select count(*) from mart_first_click"),
        }
        zero = {
            "Ledger rows where rows_read <> loaded + duplicate + quarantined": one(
                """select count(*) from raw.load_ledger
                   where rows_read <> rows_loaded + rows_duplicate + rows_quarantined"""
            ),
            "Files with more than one ledger row": one(
                """select count(*) from (select file_name, checksum from raw.load_ledger
                   group by all having count(*) > 1)"""
            ),
            "Loaded event rows the ledger does not account for": one("select count(*) from raw.streamed_events")
            - one("select coalesce(sum(rows_loaded), 0) from raw.load_ledger where file_type = 'events'"),
            "Loaded cost rows the ledger does not account for": one("select count(*) from raw.ad_spend")
            - one("select coalesce(sum(rows_loaded), 0) from raw.load_ledger where file_type = 'cost'"),
            "Duplicate event_id in raw.streamed_events": one(
                "select count(*) - count(distinct event_id) from raw.streamed_events"
            ),
            "Duplicate event_id in int_events (stream + history)": one(
                "select count(*) - count(distinct event_id) from int_events"
            ),
            "Duplicate conversions in mart_first_click": one(
                "select count(*) - count(distinct conversion_id) from mart_first_click"
            ),
            "Conversions whose credits do not sum to 1 (per model)": one(
                """select count(*) from (select conversion_id, attribution_model, sum(credit) as total
                   from mart_attribution_credits group by all having abs(total - 1) > 1e-9)"""
            ),
        }
        return counts, zero


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="attribution-soak-") as directory:
        tmp = Path(directory)
        workspace = Workspace(tmp / "warehouse")
        env = airflow_env(
            workspace.env
            | {
                "AIRFLOW_HOME": str(tmp / "airflow"),
                "ATTRIBUTION_SYNTHETIC_EVENTS": "300",
                "ATTRIBUTION_HISTORY_DAYS": "2",
                "ATTRIBUTION_TASK_RETRIES": "2",
                # The hourly whole-table check every 10 minutes: a soak sees it take the writers' pool
                # between the runs' tasks several times.
                "ATTRIBUTION_QUALITY_SCHEDULE": "*/10 * * * *",
            }
        )
        stack = [sys.executable, "-m", "attribution.local_stack"]
        landed = {"good": 0, "with bad rows": 0, "redelivered": 0}
        memory: list[dict[str, float]] = []
        runs: list = []
        try:
            subprocess.run([*stack, "start"], env=env, check=True, stdout=subprocess.DEVNULL)
            api = AirflowClient.login(BASE_URL, ADMIN_USER, admin_password(env))
            outbox, number, next_landing, randomness = tmp / "outbox", 0, 0.0, random.Random(7)
            outbox.mkdir()
            while len(runs := _runs(api)) < args.runs:
                if time.monotonic() > started + args.runs * 150:
                    raise SystemExit(f"soak: only {len(runs)} runs finished in time")
                if time.monotonic() >= next_landing:
                    number += 1
                    kind = ("good", "with bad rows", "good", "redelivered")[number % 4]
                    if kind == "good":
                        batch = write_batch(outbox, 200, seed=10_000 + number, end=datetime.now(UTC))
                    elif kind == "with bad rows":
                        batch = _bad_batch(outbox, number)
                    else:  # an earlier good file, delivered again under its own name
                        batch = sorted(outbox.glob("events_*.csv"))[-1]
                    workspace.land(batch)
                    landed[kind] += 1
                    next_landing = time.monotonic() + randomness.uniform(*LANDING_SECONDS)
                if len(memory) < len(runs):  # one sample per finished run
                    memory.append(_services_rss(env))
                time.sleep(2)
            quality = _runs(api, QUALITY_DAG_ID)
            failure_logs = [log for dag_id in (DAG_ID, QUALITY_DAG_ID) for log in _failed_task_logs(api, dag_id)]
        finally:
            subprocess.run([*stack, "stop"], env=env, check=False, stdout=subprocess.DEVNULL)
        counts, zero = _checks(workspace)

    failed = sum(state != "success" for _, state, _ in runs)
    quality_failed = sum(state != "success" for _, state, _ in quality)
    durations = sorted(d for *_, d in runs if d is not None)
    types = collections.Counter(run_type for run_type, *_ in runs)
    warm, last = memory[min(4, len(memory) - 1)], memory[-1]
    growth = {s: last.get(s, 0) - warm.get(s, 0) for s in warm}
    lines = [
        f"Soak of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}: {len(runs)} runs in "
        f"{(time.monotonic() - started) / 60:.0f} min ({', '.join(f'{v} {k}' for k, v in types.items())}), default"
        f" triggering; a file landing every {LANDING_SECONDS[0]}–{LANDING_SECONDS[1]} s at random besides the"
        f" scheduled runs' own batches ({', '.join(f'{v} {k}' for k, v in landed.items())}).",
        "",
        "| Check | Value |",
        "|---|---|",
        f"| Failed runs | {failed} |",
        f"| Data-quality runs (every test, every row, every 10 min) / failed | {len(quality)} / {quality_failed} |",
        f"| Run duration p50 / p95 / max | {statistics.median(durations):.0f} / "
        f"{nearest_rank(durations, 0.95):.0f} / {durations[-1]:.0f} s |",
        *(f"| {name} | {value:,} |" for name, value in {**counts, **zero}.items()),
        *(
            f"| Memory of {s}: after run 5 / after run {len(memory)} | {warm[s]:.0f} / {last.get(s, 0):.0f} MB "
            f"({growth[s]:+.0f} MB) |"
            for s in warm
        ),
    ]
    report = "\n".join(lines)
    replace_block(args.out, "soak", report)
    print(report)
    print(*failure_logs, sep="\n\n", file=sys.stderr)
    return 1 if failed or quality_failed or any(zero.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
