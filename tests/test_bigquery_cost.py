"""BigQuery cost discipline: incremental models read only recent days of the big inputs.

On BigQuery a query pays for every byte it scans, so an incremental build that reads the GA4 export
or the streamed table whole costs as much as a full rebuild, on every run. BigQuery skips data only
for a constant filter on what the input is split by: the `events_*` shards' `_TABLE_SUFFIX`, the
streamed table's partition column (a bound computed by a subquery does not prune). So the project is built
on the emulator, making `is_incremental()` true; a batch is loaded after it, for the next build to
read; then the project is compiled for the production `events_*` wildcard (``bigquery_pipeline.py``;
the emulator has no wildcard tables, compiling reads none), and the compiled SQL of every incremental model that reads
either input is checked: directly or through views, because a view is no copy and reading it scans
what it reads.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from bigquery_pipeline import GA4_DATASET, GROUP, BigQueryPipeline
from emulators import PROJECT

from attribution.warehouse import connect

pytestmark = [pytest.mark.bigquery, pytest.mark.dbt, GROUP]

GA4_SOURCE = "source.attribution.ga4.events"
STREAMED_SOURCE = "source.attribution.raw.streamed_events"
DBT_PROJECT = Path(__file__).parents[1] / "dbt" / "dbt_project.yml"


def lower_bounds(sql: str, column: str) -> list[str]:
    """Constant lower bounds on ``column`` outside comments: `>= '20261117'`, `between date '2026-11-17' and …`."""
    code = re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.DOTALL)
    bound = rf"\b{re.escape(column)}\s*(?:>=|>|between)\s*(?:date\s*|cast\(\s*)?'(\d{{4}}-?\d{{2}}-?\d{{2}})'"
    return re.findall(bound, code, re.IGNORECASE)


def incremental_readers(manifest: dict, source_id: str) -> dict[str, list[str]]:
    """Incremental models that read ``source_id`` directly or through views: name -> the relations they read it by."""
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    views = {k for k, n in models.items() if n["config"]["materialized"] in ("view", "ephemeral")}
    by = {source_id}  # the source and the views over it
    for _ in views:  # each pass adds the views one level further down
        by |= {k for k in views if by & set(models[k]["depends_on"]["nodes"])}
    relations = {**manifest["sources"], **manifest["nodes"]}
    return {
        n["name"]: [relations[k]["relation_name"] for k in sorted(by & set(n["depends_on"]["nodes"]))]
        for n in models.values()
        if n["config"]["materialized"] == "incremental" and by & set(n["depends_on"]["nodes"])
    }


def excerpt(sql: str, relations: list[str]) -> str:
    """The lines of ``sql`` that read one of ``relations`` and the two after each, numbered."""
    lines = sql.splitlines()
    shown = sorted({i + k for i, line in enumerate(lines) if any(r in line for r in relations) for k in range(3)})
    return "\n".join(f"{i + 1:4} | {lines[i]}" for i in shown if i < len(lines)) or sql


SMALL_READERS = {"int_device_identities": "one row per logged-in device and per journey it left"}
"""Incremental readers that need no partitions of their own: their rows are few, whatever the history."""


def cost_problems(node: dict, relations: list[str], column: str) -> list[str]:
    """Why an incremental model's compiled SQL scans its input whole, or is no partitioned table (empty: neither)."""
    sql = node["compiled_code"]
    problems = []
    if not lower_bounds(sql, column):
        read = ", ".join(relations)
        problems.append(f"no constant lower bound on {column} where it reads {read}:\n{excerpt(sql, relations)}")
    if not node["config"].get("partition_by") and node["name"] not in SMALL_READERS:
        problems.append("the table itself is not partitioned (config partition_by)")
    return [f"{node['name']}: {problem}" for problem in problems]


@pytest.fixture(scope="module")
def built(bigquery_pipeline: BigQueryPipeline):
    """The project built on the emulator, a batch loaded after it, then compiled for `events_*`:
    (manifest, settings, GA4 rows, first event day of that batch, first day of the sessions it continues)."""
    pipeline = bigquery_pipeline
    return pipeline.compiled, pipeline.settings, pipeline.history, pipeline.first_new_day, pipeline.first_seen_day


def test_the_readers_are_found_and_compiled_as_incremental_builds(built):
    manifest, _, _, _, _ = built
    ga4, streamed = (incremental_readers(manifest, source) for source in (GA4_SOURCE, STREAMED_SOURCE))
    assert set(ga4) >= {"stg_ga4_events"}
    assert {r for relations in ga4.values() for r in relations} == {f"`{PROJECT}`.`{GA4_DATASET}`.`events_*`"}
    # The later models read their inputs' rebuilt rows (by _events_loaded_at), not the events.
    assert set(streamed) == {"int_sessions", "int_conversions", "int_device_identities"}
    for name in {**ga4, **streamed}:
        node = manifest["nodes"][f"model.attribution.{name}"]
        assert node["relation_name"] in node["compiled_code"], f"{name}: compiled as a full build, not incremental"


def test_ga4_export_readers_read_only_the_recent_shards(built):
    manifest, _, history, _, _ = built
    readers = incremental_readers(manifest, GA4_SOURCE)
    problems = []
    for name, relations in readers.items():
        node = manifest["nodes"][f"model.attribution.{name}"]
        problems += cost_problems(node, relations, "_table_suffix")
        # Incremental: from a day the table gives (its newest less the reload days), not var ga4_first_day.
        days = lower_bounds(node["compiled_code"], "_table_suffix")
        if days and not "00000000" < min(days) <= max(row["event_date"] for row in history):
            problems.append(f"{name}: reads the export from day {min(days)}, not from a recent day")
    assert not problems, "\n\n".join(problems)


def test_streamed_table_readers_read_only_the_recent_partitions(built):
    manifest, settings, _, first_new, first_seen = built
    table = connect(settings).client.get_table(f"{PROJECT}.{settings.bq_dataset}.streamed_events")
    column = table.time_partitioning.field  # as the loader partitions it
    readers = incremental_readers(manifest, STREAMED_SOURCE)
    problems = []
    for name, relations in readers.items():
        problems += cost_problems(manifest["nodes"][f"model.attribution.{name}"], relations, column)
    assert not problems, "\n\n".join(problems)
    # From the first day of the events loaded since the build.
    first_days = {name: min(lower_bounds(manifest["nodes"][f"model.attribution.{name}"]["compiled_code"], column))
                  for name in readers}  # fmt: skip
    assert first_days == dict.fromkeys(readers, first_new.isoformat())
    assert set(readers) == {"int_conversions", "int_device_identities", "int_sessions"}
    # int_sessions reads the older events of the sessions those continue from those sessions' first
    # day (a day after every event when they continue none), not the whole lookback before it.
    sessions = lower_bounds(manifest["nodes"]["model.attribution.int_sessions"]["compiled_code"], column)
    seen = first_seen.isoformat() if first_seen else "9999-12-31"
    assert sorted(sessions) == sorted([first_new.isoformat(), seen])


def test_the_live_feed_ranks_only_the_recent_partitions(built):
    """mart_live_events is rebuilt every run: it reads the streamed table from a constant day, the
    newest first_event_date in the ledger less var live_events_days, never the whole table."""
    manifest, settings, _, _, _ = built
    [ledger] = connect(settings).query(
        f"select max(first_event_date) as day from `{PROJECT}.{settings.bq_dataset}.load_ledger`"
    )
    days = yaml.safe_load(DBT_PROJECT.read_text())["vars"]["live_events_days"]
    node = manifest["nodes"]["model.attribution.mart_live_events"]
    assert lower_bounds(node["compiled_code"], "event_date") == [(ledger["day"] - timedelta(days=days)).isoformat()]
