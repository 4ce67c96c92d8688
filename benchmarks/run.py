"""`make bench`: the pipeline's performance, every figure against a baseline measured in the same run.

These machines are noisy, so no figure stands alone: each is a median over repeats, set beside a
baseline doing the comparable plain work in the same run, measurements of the two interleaved. Prints
a table and writes BENCHMARKS.md (the targets and what the figures mean are in that file's text).

    make bench                       # everything, about 12 minutes on 2 cores
    make bench ARGS="--only parse"   # one group: parse, run, scaling, load, freshness
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa

from attribution import dbt_worker
from attribution.ga4_export import SCHEMA
from attribution.generator import write_batch
from attribution.history import FLAT_SCHEMA, export_shape_sql, history_events, insert_events
from attribution.landing import load_pending
from attribution.settings import (
    DBT_EXECUTABLE,
    DBT_MANIFEST_PATH,
    DBT_PROJECT_DIR,
    GA4_HISTORY_TABLE,
    PER_RUN_TEST_EXCLUDE,
    PROJECT_ROOT,
    load_settings,
)
from attribution.stack.api import AirflowClient, parse_time
from attribution.stack.environment import ADMIN_USER, BASE_URL, DAG_ID, admin_password, airflow_env
from attribution.stack.supervisor import service_pids
from attribution.warehouse import connect

BATCH_EVENTS = 1_000
SMALL_HISTORY_DAYS, SMALL_HISTORY_PER_DAY = 5, 10_000  # 50 k events
LARGE_HISTORY_COPIES = 10  # 10 copies of 500 k events: 5 M
LOAD_EVENTS = 200_000
DATA_DRIVEN_MODELS = (
    "int_channel_paths",
    "int_channel_states",
    "int_channel_transitions",
    "int_channel_removal_effects",
    "int_data_driven_credits",
    "mart_channel_removal_effects",
)
ON_DEMAND_USD_PER_TIB = 6.25  # BigQuery on-demand list price, US multi-region
GROUPS = ("parse", "run", "scaling", "load", "freshness", "ga4", "ga4-freshness")


@dataclass
class Figure:
    name: str
    value: float
    baseline: float
    unit: str
    target: str
    met: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def nearest_rank(samples: list[float], share: float) -> float:
    """The ``share`` percentile by nearest rank (with few samples, p95 is the largest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _check(args: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{' '.join(args[:4])}… failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


class Workspace:
    """An isolated warehouse and landing directory; ``copy`` clones one with its files."""

    def __init__(self, root: Path):
        self.root = root
        self.worker_socket = root.parent / "run" / "dbt-worker.sock"  # one dbt worker for every workspace
        (root / "landing").mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "ATTRIBUTION_DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "ATTRIBUTION_LANDING_DIR": str(root / "landing"),
            "ATTRIBUTION_HISTORY_DAYS": "0",
            "ATTRIBUTION_SYNTHETIC_EVENTS": "0",
            "ATTRIBUTION_TASK_RETRIES": "0",
        }
        self.settings = load_settings(self.env)
        self.build_seconds: list[float] = []

    def copy(self, root: Path) -> Workspace:
        shutil.copytree(self.root, root)
        return Workspace(root)

    def keep(self) -> None:
        """Set this state aside; ``restore`` brings it back at the same path, so dbt's partial parsing
        stays valid between repeats (a new warehouse path is a new profile: a full parse, 5 s)."""
        shutil.copytree(self.root, self.root.with_name(f"{self.root.name}.kept"))

    def restore(self) -> None:
        shutil.rmtree(self.root)
        shutil.copytree(self.root.with_name(f"{self.root.name}.kept"), self.root)

    def land(self, batch: Path) -> None:
        """Land a copy of ``batch`` as a producer should: written under a dot-name, then renamed."""
        partial = self.settings.landing_path / f".{batch.name}.partial"
        shutil.copy(batch, partial)
        partial.replace(self.settings.landing_path / batch.name)

    def load(self) -> None:
        """The load script: a fresh interpreter doing what the pipeline's load task does: load what has
        landed, note what changed in the GA4 export (so a build reads only what changed there)."""
        probe = "from attribution.landing import load_pending, note_export_changes;"
        probe += "from attribution.settings import load_settings; from attribution.warehouse import connect;"
        probe += "s = load_settings(); w = connect(s); load_pending(s, w); note_export_changes(s, w)"
        _check([sys.executable, "-c", probe], self.env)

    def load_and_build(self, *dbt_flags: str, plain: bool = False) -> float:
        """Seconds the load script and one `dbt build` take together: through the dbt worker, as the
        pipeline builds, or ``plain``, a dbt process of its own."""
        started = time.perf_counter()
        self.load()
        loaded = time.perf_counter()
        self.dbt_build(*dbt_flags, plain=plain)
        self.build_seconds.append(time.perf_counter() - loaded)
        return time.perf_counter() - started

    @property
    def dbt_target(self) -> Path:
        """Its own dbt target directory: partial parsing per warehouse, as the DAG's (Cosmos's cache) has."""
        return self.root.with_name(f"{self.root.name}.dbt-target")

    def dbt_build(self, *flags: str, plain: bool = False) -> None:
        """A `dbt build` with the pipeline's dbt environment and selection (its data tests in, unit tests
        out): through the dbt worker the pipeline's tasks use, or ``plain``, dbt itself in a process of its own."""
        env = self.env | self.settings.dbt_env() | {dbt_worker.SOCKET_VARIABLE: str(self.worker_socket)}
        dbt = DBT_EXECUTABLE if plain else dbt_worker.CLIENT
        command = [str(dbt), "build", "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path",
                   str(self.dbt_target), "--exclude", *PER_RUN_TEST_EXCLUDE]  # fmt: skip
        _check([*command, *flags], env, DBT_PROJECT_DIR)

    def data_driven_share(self) -> tuple[float, float, set[str]]:
        """Of the last build: seconds of the data-driven models and their data tests, seconds of all its
        nodes (dbt's own timings, summed: two threads overlap them), and the relations those nodes read."""
        manifest = json.loads(DBT_MANIFEST_PATH.read_text())  # the project's (a build through the worker writes none)
        results = json.loads((self.dbt_target / "run_results.json").read_text())["results"]
        data_driven = {f"model.attribution.{name}" for name in DATA_DRIVEN_MODELS}
        ours, every, reads = 0.0, 0.0, set()
        for result in results:
            node = manifest["nodes"].get(result["unique_id"], {"resource_type": "exposure", "depends_on": {}})
            every += result["execution_time"]
            if result["unique_id"] in data_driven or node.get("attached_node") in data_driven:  # its data tests
                ours += result["execution_time"]
                parents = node["depends_on"].get("nodes", [])
                reads |= {p.rsplit(".", 1)[-1] for p in parents if p.startswith("model.")}
        return ours, every, reads


def _batch(directory: Path, events: int, seed: int, end: datetime) -> Path:
    return write_batch(directory, events, seed=seed, end=end)


def _seed_large_history(workspace: Workspace, end: datetime) -> int:
    """5 M GA4 history events fast: 500 k generated once, then 9 earlier copies of them (the same users
    returning every 5 days, each copy with its own sessions, transactions and times)."""
    connect(workspace.settings).ensure_schema()
    span_days = 5
    flat = pa.Table.from_pylist(list(history_events(span_days, 100_000, end=end)), schema=FLAT_SCHEMA)
    shift = f"(k * {span_days * 86_400})"
    copies = f"""
        select * replace (
            event_timestamp - {shift} * 1000000 as event_timestamp,
            ga_session_id - {shift} as ga_session_id,
            event_id || '-' || k as event_id,
            case when transaction_id <> '' then transaction_id || '-' || k else transaction_id end as transaction_id
        )
        from flat, range({LARGE_HISTORY_COPIES}) as copy_number(k)
    """
    columns = ", ".join(name for name, _ in SCHEMA)
    with duckdb.connect(str(workspace.settings.warehouse_path)) as con:
        con.register("flat", flat)
        con.execute(f"create temp view copies as {copies}")
        con.execute(f"insert into raw.{GA4_HISTORY_TABLE} ({columns}) {export_shape_sql('copies')}")
        return con.execute(f"select count(*) from raw.{GA4_HISTORY_TABLE}").fetchone()[0]


def _seed_small_history(workspace: Workspace, end: datetime) -> int:
    connect(workspace.settings).ensure_schema()
    with duckdb.connect(str(workspace.settings.warehouse_path)) as con:
        return insert_events(con, "raw", history_events(SMALL_HISTORY_DAYS, SMALL_HISTORY_PER_DAY, end=end))


# --- parse ----------------------------------------------------------------------------------------
_PARSE_PROBE = """
import sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - started
assert not bag.import_errors and bag.dags, bag.import_errors
print(elapsed)
"""
_TRIVIAL_DAG = """
from datetime import datetime
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def trivial():
    @task
    def hello():
        return 1

    hello()

trivial()
"""


def bench_parse(tmp: Path, repeats: int = 5) -> list[Figure]:
    trivial = tmp / "trivial_dag.py"
    trivial.write_text(_TRIVIAL_DAG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")} | {"AIRFLOW_HOME": str(tmp)}
    samples: dict[Path, list[float]] = {trivial: [], PROJECT_ROOT / "dags" / "attribution_pipeline.py": []}
    for _ in range(repeats):
        for dag_file, times in samples.items():  # interleaved, each in a fresh interpreter
            times.append(float(_check([sys.executable, "-c", _PARSE_PROBE, str(dag_file)], env).stdout.split()[-1]))
    ours, baseline = _median(samples[PROJECT_ROOT / "dags" / "attribution_pipeline.py"]), _median(samples[trivial])
    return [Figure("DAG file parse", ours, baseline, "s", "≤ trivial DAG + 1.0 s", ours - baseline <= 1.0,
                   f"+{ours - baseline:.2f} s over a one-task DAG")]  # fmt: skip


# --- the real scheduler: one DAG run vs load script + dbt build, and freshness --------------------
class PeakMemory:
    """Peak resident memory of processes and all their children, sampled every 0.2 s."""

    def __init__(self, pids: list[int]):
        self.roots, self.peak, self._stop = [psutil.Process(pid) for pid in pids], 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                with contextlib.suppress(psutil.Error):
                    total += sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class SchedulerStack:
    """`make demo`'s stack (API server, scheduler, dag-processor, triggerer, dashboard; LocalExecutor) on a
    copy of a workspace, with default settings: runs start when a batch lands, and on the cron schedule.
    What its runs did comes from Airflow's REST API."""

    def __init__(self, tmp: Path, base: Workspace):
        self.workspace = base.copy(tmp / "scheduled")
        self.env = airflow_env(self.workspace.env | {"AIRFLOW_HOME": str(tmp / "airflow-scheduler")})
        self.warehouse = connect(self.workspace.settings)

    def __enter__(self) -> SchedulerStack:
        _check([sys.executable, "-m", "attribution.local_stack", "start"], self.env)  # awaits a first run
        self.api = AirflowClient.login(BASE_URL, ADMIN_USER, admin_password(self.env))
        self.wait_idle()
        return self

    def __exit__(self, *_) -> None:
        _check([sys.executable, "-m", "attribution.local_stack", "stop"], self.env)

    def service_pids(self) -> list[int]:
        return list(service_pids(self.env).values())

    def wait_idle(self, timeout: float = 600) -> None:
        """Until no run is queued or running and no batch waits in the landing."""
        deadline = time.monotonic() + timeout
        while self.api.active_runs() or any(p.suffix == ".csv" for p in self.workspace.settings.landing_path.iterdir()):
            if time.monotonic() > deadline:
                raise SystemExit("the scheduler left a run going or a batch waiting")
            time.sleep(0.5)

    def runs_since(self, since: datetime) -> list[dict]:
        """Runs queued after ``since``: run type, state, and their tasks' start and end."""
        runs = []
        for run in self.api.runs(DAG_ID):
            if (queued := parse_time(run["queued_at"])) is None or queued <= since:
                continue
            tasks = {t["task_id"]: (parse_time(t["start_date"]), parse_time(t["end_date"]), t["state"])
                     for t in self.api.task_instances(DAG_ID, run["dag_run_id"]) if t["start_date"]}  # fmt: skip
            runs.append({"type": run["run_type"], "state": run["state"], "queued": queued, "tasks": tasks})
        return sorted(runs, key=lambda r: r["queued"])


def _producer_state(run: dict) -> str | None:
    """State of the run's dbt build; None when it never started."""
    return run["tasks"].get("dbt.dbt_producer_watcher", (None, None, None))[2]


def bench_run(tmp: Path, stack: SchedulerStack, baseline: Workspace, end: datetime,
              repeats: int = 3) -> list[Figure]:  # fmt: skip
    """The same 1 k-event batches land in the stack's workspace (a run starts for each) and, interleaved,
    in a copy of it loaded by the load script and built by a plain `dbt build`."""
    runs, baselines, baseline.build_seconds, memory = [], [], [], PeakMemory(stack.service_pids())
    for i in range(repeats):
        batch = _batch(tmp / f"run-batch-{i}", BATCH_EVENTS, seed=20 + i, end=end + timedelta(minutes=i))
        landed = datetime.now(UTC)
        stack.workspace.land(batch)
        stack.wait_idle()
        # The run that built it, the first to build: a cron tick may have started one too, which then
        # found nothing new, or built again when its load came between this build and its publish.
        run = next((r for r in stack.runs_since(landed) if _producer_state(r) not in (None, "skipped")), None)
        if run is None:
            raise SystemExit(f"no run built {batch.name}")
        if run["state"] != "success":
            raise SystemExit(f"the run for {batch.name} ended {run['state']}")
        tasks = run["tasks"]
        first_start = min(start for start, _, _ in tasks.values())
        published = tasks["publish"][1]
        producer_start, producer_end, _ = tasks["dbt.dbt_producer_watcher"]
        runs.append({
            "span": (published - first_start).total_seconds(),
            "start": (first_start - landed).total_seconds(),
            "producer": (producer_end - producer_start).total_seconds(),
            "watchers after publish": max(end for _, end, _ in tasks.values()) > published,
            "type": run["type"],
        })  # fmt: skip
        baseline.land(batch)
        baselines.append(baseline.load_and_build(plain=True))
    peak = memory.stop()
    run, base = _median([r["span"] for r in runs]), _median(baselines)
    producer, plain_build = _median([r["producer"] for r in runs]), _median(baseline.build_seconds)
    types = ", ".join(sorted({r["type"] for r in runs}))
    return [
        Figure("One DAG run under the scheduler (load + every model + tests + publish)", run, base, "s",
               "≤ 1.3 × load script + dbt build", run <= 1.3 * base,
               f"its first task's start to publish's end; {types} runs, the first task started"
               f" {_median([r['start'] for r in runs]):.1f} s after the landing; dbt build: {producer:.1f} s in"
               f" the producer task vs {plain_build:.1f} s plain"),
        Figure("Peak memory of the stack while runs go", peak / 2**20, 0, "MB", "reported", True,
               "every service of `make demo` and the task processes and dbt they start"),
    ]  # fmt: skip


def bench_dbt_start(workspace: Workspace, repeats: int = 3) -> list[Figure]:
    """A build with nothing new to build: what reaching dbt costs. Through the worker (started and the
    project parsed before the first sample, as the stack starts it) against a dbt process of its own."""
    workspace.dbt_build()
    worker, process = [], []
    for _ in range(repeats):
        for plain, samples in ((False, worker), (True, process)):
            started = time.perf_counter()
            workspace.dbt_build(plain=plain)
            samples.append(time.perf_counter() - started)
    return [Figure("A build with nothing new: through the dbt worker vs a dbt process", _median(worker),
                   _median(process), "s", "reported", True,
                   "`dbt build` of the pipeline's selection on the 50 k history, marts built; the dbt process"
                   " with partial parsing, as Cosmos runs it")]  # fmt: skip


def _conversion_ids(batch: Path) -> set[str]:
    with duckdb.connect() as con:
        rows = con.execute(
            f"""select coalesce(nullif(transaction_id, ''), event_id) from read_csv('{batch}', all_varchar=true)
                where event_name = 'purchase'"""
        ).fetchall()
    return {row[0] for row in rows}


def bench_freshness(tmp: Path, stack: SchedulerStack, files: int = 12) -> list[Figure]:
    """300-event batches land at random intervals (2 to 20 s, so some land while a run is busy); each file's
    freshness is the time from its landing to all its conversions being in the serving snapshot."""
    randomness = random.Random(5)
    pending: dict[str, tuple[float, set[str]]] = {}
    freshness: list[float] = []
    since, landed_count, seed, next_landing = datetime.now(UTC), 0, 100, time.monotonic()
    deadline = time.monotonic() + files * 20 + 300
    while (landed_count < files or pending) and time.monotonic() < deadline:
        if landed_count < files and time.monotonic() >= next_landing:
            seed += 1
            batch = _batch(tmp / "freshness-batches", 300, seed=seed, end=datetime.now(UTC))
            if ids := _conversion_ids(batch):
                stack.workspace.land(batch)
                pending[batch.name] = (time.monotonic(), ids)
                landed_count += 1
            next_landing = time.monotonic() + randomness.uniform(2, 20)
        if pending and stack.workspace.settings.snapshot_path.exists():
            wanted = ", ".join(f"'{i}'" for i in set().union(*(ids for _, ids in pending.values())))
            seen = {r["conversion_id"] for r in stack.warehouse.query_served(
                f"select conversion_id from mart_last_click where conversion_id in ({wanted})")}  # fmt: skip
            for name, (landed, ids) in list(pending.items()):
                if ids <= seen:
                    freshness.append(time.monotonic() - landed)
                    del pending[name]
        time.sleep(0.25)
    if pending or not freshness:
        raise SystemExit(f"freshness: {len(pending)} files never reached the snapshot")
    stack.wait_idle()
    runs = stack.runs_since(since)
    built = [r for r in runs if _producer_state(r) == "success"]
    failed = [r for r in runs if r["state"] != "success"]
    if failed:
        raise SystemExit(f"freshness: {len(failed)} runs failed")
    ordered = sorted(freshness)
    p95 = nearest_rank(ordered, 0.95)
    return [Figure(f"Freshness p95, runs on landing ({len(ordered)} files)", p95, 30, "s", "≤ 30 s", p95 <= 30,
                   f"landing to served; median {_median(ordered):.0f} s, max {ordered[-1]:.0f} s; {len(built)} runs"
                   f" built them ({len(runs)} runs in all)")]  # fmt: skip


# --- cost grows with the batch, not the history -------------------------------------------------
def bench_scaling(tmp: Path, small: Workspace, batch: Path, end: datetime, repeats: int = 3) -> list[Figure]:
    large = Workspace(tmp / "history-5m")
    events = _seed_large_history(large, end - timedelta(minutes=30))
    large.land(_batch(tmp / "first-batch", BATCH_EVENTS, seed=1, end=end - timedelta(minutes=20)))
    full = [large.load_and_build()]  # the first build is a full build
    large.keep()
    small_samples, incremental, data_driven, every_node = [], [], [], []
    for _ in range(repeats):  # the same batch on the small and the large history, interleaved
        small.restore()
        small.land(batch)
        small_samples.append(small.load_and_build())
        large.restore()
        large.land(batch)
        incremental.append(large.load_and_build())
        ours, every, reads = large.data_driven_share()
        data_driven.append(ours)
        every_node.append(every)
    reads.add("int_data_driven_credits")  # read through the credits view by mart_attribution_daily and tests
    read_bytes = sum(bigquery_bytes(large.settings.warehouse_path, relation) for relation in sorted(reads))
    large.restore()
    large.land(batch)
    full.append(large.load_and_build("--full-refresh"))
    small.restore()
    on_large, on_small, full_refresh = _median(incremental), _median(small_samples), _median(full)
    return [
        Figure(f"1 k batch on {events / 1e6:.0f} M events of history", on_large, on_small, "s",
               "≤ 1.5 × the same batch on 50 k", on_large <= 1.5 * on_small, "load + dbt build, incremental"),
        Figure("Incremental run vs full refresh, 5 M history", on_large, full_refresh, "s", "≤ 0.2 ×",
               on_large <= 0.2 * full_refresh, "load + dbt build vs load + dbt build --full-refresh"),
        Figure("Data-driven model in that incremental run", _median(data_driven), _median(every_node), "s",
               "reported", True, f"its {len(DATA_DRIVEN_MODELS)} models and their data tests vs every node of the"
               " build, dbt's node times summed (2 threads overlap them)"),
        Figure("Data-driven model's BigQuery read per run, 5 M history", read_bytes / 2**20, 0, "MiB", "reported",
               True, f"at most: every column of {', '.join(sorted(reads))}, whole, in BigQuery's data sizes;"
               f" ${read_bytes / 2**40 * ON_DEMAND_USD_PER_TIB:.4f} a run on demand"),
    ]  # fmt: skip


def bigquery_bytes(warehouse: Path, relation: str) -> int:
    """What BigQuery bills to read every column of ``relation`` whole: its documented data sizes (STRING
    2 + UTF-8 bytes, BOOL 1, NUMERIC 16, other scalars 8, NULL 0) over the rows the warehouse holds."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns where table_name = ?", [relation]
        ).fetchall()
        sizes = [
            f"sum(2 + strlen({name}))" if kind == "VARCHAR"
            else f"count({name})" if kind == "BOOLEAN"
            else f"16 * count({name})" if kind.startswith("DECIMAL")
            else f"8 * count({name})"
            for name, kind in columns
        ]  # fmt: skip
        total = " + ".join(f"coalesce({size}, 0)" for size in sizes)
        return int(con.execute(f"select {total} from {relation}").fetchone()[0])


# --- reading GA4's export -------------------------------------------------------------------------
REAL_EXPORT_ROWS = PROJECT_ROOT / "tests" / "fixtures" / "ga4_public_sample_subset.parquet"

# The columns stg_ga4_events reads, in BigQuery's data sizes (STRING 2 + UTF-8 bytes, INT64 and FLOAT64
# 8, NULL 0; of event_params the key, string_value and int_value leaves). The sample predates
# collected_traffic_source and session_traffic_source_last_click: they weigh nothing here.
READ_BYTES_PER_EVENT_SQL = """
select avg(
    (2 + strlen(event_date)) + 8 + (2 + strlen(event_name))
    + coalesce(list_sum(list_transform(event_params, lambda p: 2 + strlen(p.key)
        + coalesce(2 + strlen(p.value.string_value), 0) + case when p.value.int_value is null then 0 else 8 end)), 0)
    + coalesce(2 + strlen(user_pseudo_id), 0)
    + coalesce(2 + strlen(traffic_source.name), 0) + coalesce(2 + strlen(traffic_source.medium), 0)
    + coalesce(2 + strlen(traffic_source.source), 0)
    + coalesce(2 + strlen(ecommerce.transaction_id), 0) + case when ecommerce.purchase_revenue is null then 0 else 8 end
    + coalesce(2 + strlen(device.category), 0) + coalesce(2 + strlen(geo.country), 0)
) from read_parquet(?)
"""
NEWER_FIELDS_ALLOWANCE = 1.33
"""Headroom on the measured size for what a current export adds: the newer fields and parameters."""


def bench_ga4_cost() -> list[Figure]:
    """What the streaming export path costs a day at 1 M events a day with the default settings."""
    from attribution.ga4_watch import streaming_cost_per_day
    from attribution.settings import Settings

    [(measured,)] = duckdb.execute(READ_BYTES_PER_EVENT_SQL, [str(REAL_EXPORT_ROWS)]).fetchall()
    per_event = measured * NEWER_FIELDS_ALLOWANCE
    interval = Settings().ga4_intraday_interval_seconds
    cost = streaming_cost_per_day(1_000_000, per_event, interval, usd_per_tib=ON_DEMAND_USD_PER_TIB)
    return [
        Figure("GA4 export columns read per event (real public-sample rows)", measured, 0, "bytes", "reported", True,
               f"BigQuery's data sizes of the columns stg_ga4_events reads; {per_event:.0f} bytes with"
               f" {NEWER_FIELDS_ALLOWANCE}x headroom for a current export's newer fields"),
        Figure("Streaming export read per day, 1 M events/day, defaults", cost.usd, 0, "USD", "< $5 a day",
               cost.usd < 5, f"{cost.intraday_bytes / 2**30:.0f} GiB of intraday reads (one per {interval} s at"
               f" most) and {cost.daily_bytes / 2**30:.0f} GiB of daily reads, on-demand"),
    ]  # fmt: skip


# --- freshness from GA4's streaming export, on the emulator-backed BigQuery target -----------------
def _test_helpers():
    """The emulator and export fixtures of the test suite (tests/), which the bench reuses."""
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    import emulators
    import ga4_fixture

    return emulators, ga4_fixture


def bench_ga4_freshness(tmp: Path, end: datetime, appends: int = 10) -> list[Figure]:
    """Intraday appends and landed CSV batches, one at a time, on the BigQuery target against the
    emulator: each one's freshness is the time from its rows being in the export table (or the file
    landing) to its conversion being in the click marts. A run is what the DAG's does, minus the
    scheduler: the export watcher's poll (GA4ExportTrigger, every second here) or the landing, the load
    task (load_pending and the export's change noted), the same `dbt build`."""
    import asyncio

    from attribution.ga4_watch import note_changes
    from attribution.generator import generate_events
    from attribution.triggering import GA4ExportTrigger

    emulators, fixture = _test_helpers()
    (tmp / "ga4-freshness").mkdir()
    with emulators.running_bigquery_emulator(tmp / "ga4-freshness") as endpoint:
        env = {
            **os.environ,
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": emulators.ANONYMOUS_GCP_CONNECTION,
            "ATTRIBUTION_TARGET": "bigquery",
            "ATTRIBUTION_BQ_PROJECT": emulators.PROJECT,
            "ATTRIBUTION_BQ_DATASET": "bench",
            "ATTRIBUTION_BQ_API_ENDPOINT": endpoint,
            "ATTRIBUTION_BQ_TOKEN": "emulator-accepts-any-token",
            "ATTRIBUTION_LANDING_DIR": str(tmp / "ga4-freshness" / "landing"),
            "ATTRIBUTION_GA4_SOURCE": f"{emulators.PROJECT}.ga4_export",
            "ATTRIBUTION_GA4_TABLE": "events_fixture",  # the emulator has no wildcard tables
        }
        saved = dict(os.environ)  # the watcher reads its settings from the environment, as in the triggerer
        os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW_CONN", "ATTRIBUTION_"))})
        settings = load_settings(env)
        warehouse = connect(settings)
        export = connect(load_settings({**env, "ATTRIBUTION_BQ_DATASET": "ga4_export", "ATTRIBUTION_GA4_SOURCE": ""}))
        export.ensure_schema()
        day = (end - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        history = [fixture.export_row(e) for e in generate_events(300, seed=3, end=day - timedelta(hours=1))]
        export.query(fixture.create_table_sql(f"`{emulators.PROJECT}.ga4_export.events_fixture`", history))
        settings.landing_path.mkdir(parents=True, exist_ok=True)
        load_pending(settings, warehouse)
        target = tmp / "ga4-freshness" / "dbt-target"
        dbt_env = env | settings.dbt_env()
        build = [str(DBT_EXECUTABLE), "build", "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
                 "--exclude", *PER_RUN_TEST_EXCLUDE]  # fmt: skip
        _check(build, dbt_env, DBT_PROJECT_DIR)

        def served(mart: str, ids: set[str]) -> bool:
            wanted = ", ".join(f"'{i}'" for i in ids)
            rows = warehouse.query(f"select count(*) as n from `{emulators.PROJECT}.bench.{mart}`"
                                   f" where conversion_id in ({wanted})")  # fmt: skip
            return rows[0]["n"] == len(ids)

        intraday = f"`{emulators.PROJECT}.ga4_export.events_intraday_{day:%Y%m%d}`"
        loop = asyncio.new_event_loop()
        watch = GA4ExportTrigger(poll_seconds=1.0).run()
        fired = loop.create_task(anext(watch))
        loop.run_until_complete(asyncio.sleep(1.5))  # its first poll, the baseline
        streamed: list[float] = []
        for number in range(appends):
            at = day + timedelta(hours=1 + number)
            user, transaction = f"bench-user-{number}", f"B-{number}"
            rows = [fixture.export_row({"event_timestamp": int(at.timestamp() * 1e6) + offset, "event_name": name,
                                        "user_pseudo_id": user, "ga_session_id": 1000 + number, "source": "google",
                                        "medium": "cpc", "transaction_id": transaction if name == "purchase" else "",
                                        "purchase_revenue": "25" if name == "purchase" else ""})
                    for offset, name in ((0, "session_start"), (1_000_000, "purchase"))]  # fmt: skip
            statements = ([fixture.create_table_sql(intraday, rows)] if number == 0
                          else fixture.append_to_table_sql(intraday, rows))  # fmt: skip
            for sql in statements:
                export.query(sql)
            appended = time.monotonic()
            loop.run_until_complete(asyncio.wait_for(fired, 30))
            fired = loop.create_task(anext(watch))
            note_changes(warehouse, 1, datetime.now(UTC).replace(tzinfo=None))
            _check(build, dbt_env, DBT_PROJECT_DIR)
            if not served("mart_first_click", {transaction}):
                raise SystemExit(f"ga4 freshness: {transaction} not served after its run")
            streamed.append(time.monotonic() - appended)
        fired.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(fired)
        loop.close()
        os.environ.clear()
        os.environ.update(saved)

        landed: list[float] = []
        for number in range(appends):
            batch = _batch(tmp / "ga4-freshness-batches", 300, seed=200 + number, end=datetime.now(UTC))
            ids = _conversion_ids(batch)
            shutil.copy(batch, settings.landing_path / batch.name)
            landing = time.monotonic()
            load_pending(settings, warehouse)
            _check(build, dbt_env, DBT_PROJECT_DIR)
            if ids and not served("mart_last_click", ids):
                raise SystemExit(f"ga4 freshness: {batch.name} not served after its run")
            landed.append(time.monotonic() - landing)
    streamed, landed = sorted(streamed), sorted(landed)
    return [
        Figure(f"Freshness from an intraday append, BigQuery target on the emulator ({appends} appends)",
               nearest_rank(streamed, 0.95), nearest_rank(landed, 0.95), "s", "reported", True,
               f"p50 {_median(streamed):.0f} s, p95 {nearest_rank(streamed, 0.95):.0f} s; baseline: a landed CSV on"
               f" the same target, p50 {_median(landed):.0f} s, p95 {nearest_rank(landed, 0.95):.0f} s; the"
               " export watched every second (300 s by default), no scheduler"),
    ]  # fmt: skip


# --- load throughput ------------------------------------------------------------------------------
def bench_load(tmp: Path, end: datetime, repeats: int = 3) -> list[Figure]:
    big = _batch(tmp / "load-file", LOAD_EVENTS, seed=7, end=end)
    ours, raw = [], []
    for i in range(repeats):
        workspace = Workspace(tmp / f"load-{i}")
        workspace.land(big)
        warehouse = connect(workspace.settings)
        warehouse.ensure_schema()
        started = time.perf_counter()
        load_pending(workspace.settings, warehouse)
        ours.append(time.perf_counter() - started)
        # Opened, written and closed, as the loader's warehouse is: both end with the rows on disk.
        started = time.perf_counter()
        with duckdb.connect(str(tmp / f"raw-{i}.duckdb")) as con:
            con.execute(f"create table events as select * from read_csv('{big}')")
        raw.append(time.perf_counter() - started)
        shutil.rmtree(workspace.root), (tmp / f"raw-{i}.duckdb").unlink()
    rate, raw_rate = LOAD_EVENTS / _median(ours), LOAD_EVENTS / _median(raw)
    size = big.stat().st_size / 2**20
    return [Figure(f"Load throughput ({LOAD_EVENTS // 1000} k events, {size:.0f} MB)", rate, raw_rate,
                   "events/s", "≥ 0.5 × DuckDB read_csv", rate >= 0.5 * raw_rate,
                   "validate, deduplicate, quarantine, ledger, one transaction")]  # fmt: skip


# --- report ---------------------------------------------------------------------------------------
def _number(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _row(figure: Figure) -> str:
    baseline = _number(figure.baseline) if figure.baseline else ""
    ratio = f"{figure.ratio:.2f}×" if figure.baseline else ""
    met = "yes" if figure.met else "**no**"
    cells = [figure.name, f"{_number(figure.value)} {figure.unit}", baseline, ratio, figure.target, met, figure.note]
    return "| " + " | ".join(cells) + " |"


def machine() -> str:
    return f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB"


def replace_block(path: Path, name: str, body: str) -> None:
    """Write ``body`` between the ``<!-- name:start/end -->`` markers of ``path`` (the prose around stays)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text)


def write_report(figures: list[Figure], path: Path, seconds: float) -> str:
    table = "\n".join(
        ["| Figure | Value | Baseline | Ratio | Target | Met | Notes |", "|---|---|---|---|---|---|---|"]
        + [_row(f) for f in figures]
    )
    header = f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; `make bench` took {seconds / 60:.1f} min"
    replace_block(path, "bench", f"{header}\n\n{table}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=GROUPS, action="append", help="run only these groups")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    groups = args.only or list(GROUPS)
    started = time.perf_counter()
    end = datetime.now(UTC)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="attribution-bench-") as directory, contextlib.ExitStack() as cleanup:
        tmp = Path(directory)
        cleanup.callback(dbt_worker.stop, tmp / "run" / "dbt-worker.sock")  # the workspaces' dbt worker
        os.environ["AIRFLOW_HOME"] = str(tmp / "airflow")
        if "parse" in groups:
            figures += bench_parse(tmp)
        if {"run", "scaling", "freshness"} & set(groups):
            small = Workspace(tmp / "history-50k")
            _seed_small_history(small, end - timedelta(minutes=30))
            small.land(_batch(tmp / "first-batch", BATCH_EVENTS, seed=1, end=end - timedelta(minutes=20)))
            small.load_and_build()
            small.keep()
            batch = _batch(tmp / "batch", BATCH_EVENTS, seed=2, end=end)
            if "run" in groups:
                figures += bench_dbt_start(small)
            if {"run", "freshness"} & set(groups):
                os.environ["AIRFLOW_HOME"] = str(tmp / "airflow-scheduler")
                with SchedulerStack(tmp, small) as stack:
                    if "run" in groups:
                        figures += bench_run(tmp, stack, small.copy(tmp / "run-baseline"), end)
                    if "freshness" in groups:
                        figures += bench_freshness(tmp, stack)
            if "scaling" in groups:
                figures += bench_scaling(tmp, small, batch, end)
        if "load" in groups:
            figures += bench_load(tmp, end)
        if "ga4" in groups:
            figures += bench_ga4_cost()
        if "ga4-freshness" in groups:
            figures += bench_ga4_freshness(tmp, end)
    table = write_report(figures, args.out, time.perf_counter() - started)
    print(table)
    print(f"\nwritten to {args.out.relative_to(PROJECT_ROOT) if args.out.is_relative_to(PROJECT_ROOT) else args.out}")
    print(json.dumps({f.name: round(f.ratio, 3) for f in figures if f.baseline}, indent=1))
    print(f"targets met: {sum(f.met for f in figures)} of {len(figures)} (BENCHMARKS.md explains the rest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
