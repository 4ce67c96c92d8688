"""`dbt build` of the whole project, unit tests included, on a real DuckDB warehouse."""

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import DBT_TARGET

from attribution.dbt_cli import run_dbt
from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.settings import Settings
from attribution.synthetic_spend import land_demo_batch
from attribution.warehouse import connect

pytestmark = pytest.mark.dbt

ATTRIBUTION_MODELS = (
    "first_click",
    "last_click",
    "last_non_direct_click",
    "linear",
    "position_based",
    "time_decay",
    "data_driven",
)


def dbt(settings_env: dict[str, str], *args: str) -> int:
    return run_dbt(list(args), environ={**os.environ, **settings_env})


@pytest.fixture
def loaded(settings: Settings, attribution_env: dict[str, str]) -> Settings:
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for i in range(3):
        write_batch(settings.landing_path, 3_000, seed=100 + i, end=end + timedelta(minutes=5 * i))
    load_pending(settings, connect(settings))
    return settings


def test_build_with_unit_tests_on_an_empty_warehouse(settings: Settings, attribution_env: dict[str, str]):
    connect(settings).ensure_schema()
    assert dbt(attribution_env, "build") == 0


def test_build_on_loaded_batches_and_marts_reconcile(loaded: Settings, attribution_env: dict[str, str]):
    assert dbt(attribution_env, "build") == 0
    with duckdb.connect(str(loaded.warehouse_path), read_only=True) as con:
        conversions, revenue = con.execute("select count(*), sum(revenue) from int_conversions").fetchone()
        assert conversions > 5
        models = [
            m for (m,) in con.execute("select distinct attribution_model from mart_attribution_credits").fetchall()
        ]
        assert sorted(models) == sorted(ATTRIBUTION_MODELS)
        for model in models:
            n, attributed = con.execute(
                "select count(distinct conversion_id), sum(attributed_revenue) from mart_attribution_credits"
                " where attribution_model = ?",
                [model],
            ).fetchone()
            assert n == conversions
            assert attributed == pytest.approx(float(revenue))
            daily = con.execute(
                "select sum(conversions), sum(revenue) from mart_attribution_daily where attribution_model = ?",
                [model],
            ).fetchone()
            assert daily[0] == pytest.approx(conversions)
            assert daily[1] == pytest.approx(float(revenue))
        differing = con.execute("""
            select count(*) from mart_first_click f join mart_last_click l using (conversion_id)
            where f.ga_session_id <> l.ga_session_id
        """).fetchone()[0]
        assert differing > 0, "multi-touch journeys give first and last click different sessions"


WITHOUT_UNIT_TESTS = ("--exclude", "resource_type:unit_test")


def test_each_build_tests_the_rows_it_wrote_and_the_quality_check_every_row(
    loaded: Settings, attribution_env: dict[str, str]
):
    assert dbt(attribution_env, "build", *WITHOUT_UNIT_TESTS) == 0
    with duckdb.connect(str(loaded.warehouse_path)) as con:
        # A conversion written by an earlier build, twice (its watermark is behind the newest build's).
        con.execute("""
            insert into int_conversions
            select * replace (_events_loaded_at - interval 1 hour as _events_loaded_at)
            from int_conversions order by conversion_id limit 1
        """)
    test = ("test", "-s", "unique_int_conversions_conversion_id")
    assert dbt(attribution_env, *test) == 0, "an old row is the hourly check's, not the build's"
    assert dbt(attribution_env, *test, "--vars", "{whole_table_tests: true}") == 1
    with duckdb.connect(str(loaded.warehouse_path)) as con:
        # The same duplicate among the newest build's rows: the build's own check finds it.
        con.execute("""
            update int_conversions set _events_loaded_at = (select max(_events_loaded_at) from int_conversions)
        """)
    assert dbt(attribution_env, *test) == 1


def test_the_hourly_check_between_a_runs_load_and_its_build_finds_nothing_missing(
    loaded: Settings, attribution_env: dict[str, str]
):
    """The data-quality DAG takes the writers' pool whenever it is free, also between a run's load and
    its build: conversions and spend loaded but not built yet are not lost ones."""
    # Batches and the cost files of their paid clicks, as the demo lands them: the second file restates
    # the first's days and adds its own.
    land_demo_batch(loaded, 3_000, seed=199, end=datetime(2026, 11, 20, 12, 30, tzinfo=UTC))
    load_pending(loaded, connect(loaded))
    assert dbt(attribution_env, "build", *WITHOUT_UNIT_TESTS) == 0
    land_demo_batch(loaded, 3_000, seed=200, end=datetime(2026, 11, 20, 13, tzinfo=UTC))
    report, cost = load_pending(loaded, connect(loaded))
    assert cost.file_name.startswith("cost/") and cost.rows_loaded > 0
    with duckdb.connect(str(loaded.warehouse_path), read_only=True) as con:
        unbuilt = con.execute(
            "select count(*) from stg_streamed_events where file_name = ? and event_name = 'purchase'",
            [report.file_name],
        ).fetchone()[0]
    assert unbuilt > 0
    whole = ("--vars", "{whole_table_tests: true}")
    assert dbt(attribution_env, "test", *WITHOUT_UNIT_TESTS, *whole) == 0
    with duckdb.connect(str(loaded.warehouse_path)) as con:  # a conversion the build did lose
        con.execute(
            "delete from mart_first_click where conversion_id = (select min(conversion_id) from mart_first_click)"
        )
    assert dbt(attribution_env, "test", "-s", "assert_marts_reconcile_with_staging", *whole) == 1
    with duckdb.connect(str(loaded.warehouse_path)) as con:  # spend the build did lose
        con.execute("delete from mart_unmatched_spend where spend > 0")
    assert dbt(attribution_env, "test", "-s", "assert_spend_reconciles", *whole) == 1


def test_ga4_history_reads_only_recent_export_days_again_and_never_duplicates(
    settings: Settings, attribution_env: dict[str, str], tmp_path
):
    from ga4_fixture import ga4_rows, insert_into_duckdb

    connect(settings).ensure_schema()
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    history = ga4_rows(600, seed=5, end=end)
    insert_into_duckdb(settings.warehouse_path, history, tmp_path)
    assert dbt(attribution_env, "build", *WITHOUT_UNIT_TESTS) == 0

    def ga4_events() -> int:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return con.execute("select count(*) from int_events where event_origin = 'ga4'").fetchone()[0]

    assert ga4_events() == len(history)
    newest = max(row["event_date"] for row in history)
    recent = [row for row in history if row["event_date"] == newest]
    # GA4 rewrites a recent day: the same events again, plus late ones. A day far older than the
    # reload window (var ga4_reload_days) also appears: incremental runs do not read it, a full refresh does.
    late = [row | {"event_timestamp": row["event_timestamp"] + 1} for row in recent[:5]]
    year = 365 * 86_400 * 1_000_000
    ancient = [
        row | {"event_date": "20251120", "event_timestamp": row["event_timestamp"] - year} for row in history[:7]
    ]
    insert_into_duckdb(settings.warehouse_path, recent + late + ancient, tmp_path)
    assert dbt(attribution_env, "build", *WITHOUT_UNIT_TESTS) == 0
    assert ga4_events() == len(history) + len(late)
    assert dbt(attribution_env, "build", "--full-refresh", *WITHOUT_UNIT_TESTS) == 0
    assert ga4_events() == len(history) + len(late) + len(ancient)


def test_every_model_and_column_is_documented(settings: Settings, attribution_env: dict[str, str]):
    connect(settings).ensure_schema()
    assert dbt(attribution_env, "build", *WITHOUT_UNIT_TESTS) == 0
    assert dbt(attribution_env, "docs", "generate") == 0  # the catalog: the columns each relation really has
    target = DBT_TARGET
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if not node["description"].strip():
            undocumented.append(node["name"])
        documented = {name.lower() for name, column in node["columns"].items() if column["description"].strip()}
        actual = {name.lower() for name in catalog["nodes"][unique_id]["columns"]}
        undocumented += [f"{node['name']}.{column}" for column in sorted(actual - documented)]
    assert undocumented == []


_CTE = re.compile(r"(?:\bwith\b|,)\s*(?:recursive\s+)?([a-z_][a-z0-9_]*)\s+as\s*\(", re.IGNORECASE)
_COMMENTS = re.compile(r"--[^\n]*|\{#.*?#\}|/\*.*?\*/", re.DOTALL)


def cte_names(sql: str) -> set[str]:
    return {name.lower() for name in _CTE.findall(_COMMENTS.sub("", sql))}


def test_cte_names_never_shadow_a_column(attribution_env: dict[str, str], tmp_path: Path):
    """No CTE is named like a column of what its model reads or writes. GoogleSQL resolves such a name
    to the CTE's whole row (a STRUCT), not the column: `with source as (…) select nullif(source, '')`
    fails on BigQuery while DuckDB and the emulator accept it."""
    assert dbt(attribution_env, "parse", "--target-path", str(tmp_path / "target")) == 0  # the models as they are
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    ga4_export = (Path(__file__).parent / "ga4_export_schema.sql").read_text()
    documented_ga4 = set(re.findall(r"^  ([a-z_]+) ", ga4_export, re.MULTILINE))
    relations = {**manifest["nodes"], **manifest["sources"]}

    def columns(unique_id: str) -> set[str]:
        node = relations[unique_id]
        names = {name.lower() for name in node.get("columns", {})}
        return names | (documented_ga4 if unique_id == "source.attribution.ga4.events" else set())

    assert cte_names("with source as (select 1), renamed as (select 2) select 3") == {"source", "renamed"}
    shadowing = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "test", "snapshot", "analysis") or "raw_code" not in node:
            continue
        visible = columns(unique_id) if node["resource_type"] == "model" else set()
        for read in node["depends_on"]["nodes"]:
            visible |= columns(read) if read in relations else set()
        clashes = sorted(cte_names(node["raw_code"]) & visible)
        shadowing += [f"{node['original_file_path']}: CTE {name}" for name in clashes]
    assert shadowing == []
