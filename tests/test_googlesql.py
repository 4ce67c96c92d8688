"""Every statement the BigQuery target sends is valid GoogleSQL, as BigQuery's own analyzer resolves it.

The pipeline runs against the BigQuery emulator behind a recording proxy (``bigquery_recorder.py``)
through every phase a production run goes through — loads (clean, quarantined, rejected,
duplicate), a first dbt build with data and unit tests, an incremental build over new rows, a no-op
build, a full refresh, the dashboard's queries, and the GA4 staging over the `events_*` wildcard —
and ZetaSQL analyses each recorded statement against a catalog built from what was sent
(``googlesql.py``). The emulator proves the API flow; this proves the dialect.
"""

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bigquery_recorder import recording
from emulators import ANONYMOUS_GCP_CONNECTION, PROJECT, running_bigquery_emulator
from ga4_fixture import create_table_sql, current_export_rows, ga4_rows
from googlesql import GoogleSqlCatalog, analyse_records, distinct_text
from test_loader import HEADER, row

from attribution.dashboard.data import DashboardData, Filters
from attribution.dbt_cli import run_dbt
from attribution.generator import write_batch
from attribution.landing import build_reason, load_pending
from attribution.settings import DBT_PROJECT_DIR, load_settings
from attribution.warehouse import connect

pytestmark = [pytest.mark.bigquery, pytest.mark.dbt]

DATASET, GA4_DATASET = "gsql", "ga4_export"
FIXTURE = "fixture"  # the test's own set-up statements: recorded, not analysed
SHARD = "events_20261118"  # a daily table of the export, found by the `events_*` introspection
PREDICATE = "dbt_internal_dest.converted_on >= date '2026-11-01'"
PREDICATE_PROBE = f"""
{{{{ config(materialized='incremental', incremental_predicates=["{PREDICATE}"], **rebuild_rows_by('conversion_id')) }}}}
select 'c1' as conversion_id, date '2026-11-20' as converted_on
"""
MARTS = (
    "mart_first_click",
    "mart_last_click",
    "mart_attribution_daily",
    "mart_attribution_credits",
    "mart_channel_removal_effects",
)


def _land(landing: Path, name: str, content: bytes) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_bytes(content)


def _marts(warehouse) -> dict[str, list[tuple]]:
    def rounded(value):
        return round(float(value), 9) if isinstance(value, float) else str(value)

    return {
        mart: sorted(
            tuple(rounded(v) for k, v in r.items() if k != "_events_loaded_at")
            for r in warehouse.query(f"select * from `{PROJECT}.{DATASET}.{mart}`")
        )
        for mart in MARTS
    }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):
    """The pipeline's BigQuery traffic through every phase: (records, marts incremental, marts refreshed)."""
    tmp = tmp_path_factory.mktemp("googlesql")
    with (
        running_bigquery_emulator(tmp) as emulator,
        recording(emulator) as (endpoint, recorder),
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", ANONYMOUS_GCP_CONNECTION)
        env = {
            "ATTRIBUTION_TARGET": "bigquery",
            "ATTRIBUTION_BQ_PROJECT": PROJECT,
            "ATTRIBUTION_BQ_DATASET": DATASET,
            "ATTRIBUTION_BQ_API_ENDPOINT": endpoint,
            "ATTRIBUTION_BQ_TOKEN": "emulator-accepts-any-token",
            "ATTRIBUTION_LANDING_DIR": str(tmp / "landing"),
            "ATTRIBUTION_GA4_SOURCE": f"{PROJECT}.{GA4_DATASET}",
            "ATTRIBUTION_GA4_TABLE": "events_fixture",  # the emulator has no wildcard tables
        }
        settings = load_settings(env)
        dbt_env = {**os.environ, **env}
        paths = [f"--log-path={tmp / 'logs'}", f"--target-path={tmp / 'target'}"]  # not the shared dbt/target

        def dbt(*args: str, environ: dict = dbt_env) -> int:
            return run_dbt([*args, *paths], environ=environ)

        end = datetime(2026, 11, 20, 12, tzinfo=UTC)
        recorder.phase = FIXTURE
        export = connect(load_settings({**env, "ATTRIBUTION_BQ_DATASET": GA4_DATASET, "ATTRIBUTION_GA4_SOURCE": ""}))
        export.ensure_schema()  # creates the export's dataset
        history = ga4_rows(300, seed=3, end=end) + current_export_rows(end)
        export.query(create_table_sql(f"`{PROJECT}.{GA4_DATASET}.events_fixture`", history))
        # A daily shard: over `events_*`, stg_ga4_events reads the newer fields the newest shard has.
        export.query(create_table_sql(f"`{PROJECT}.{GA4_DATASET}.{SHARD}`", current_export_rows(end)))

        recorder.phase = "loader"
        batch = write_batch(tmp / "gen", 400, seed=5, end=end)
        _land(settings.landing_path, "a_batch.csv", batch.read_bytes())
        mixed = [HEADER, row("ok1"), row("bad", ts="x"), row("p", name="purchase", transaction="T1", revenue="-1")]
        _land(settings.landing_path, "b_mixed.csv", ("\n".join(mixed) + "\n").encode())
        _land(settings.landing_path, "c_empty.csv", b"")
        _land(settings.landing_path, "d_again.csv", batch.read_bytes())  # all duplicates
        assert [r.status for r in load_pending(settings, connect(settings))] == [
            "loaded", "loaded", "rejected", "loaded"
        ]  # fmt: skip
        connect(settings).quarantined_records("b_mixed.csv")

        recorder.phase = "first build (seeds, models, data tests, unit tests)"
        assert dbt("build") == 0

        recorder.phase = "loader"
        later = write_batch(tmp / "gen", 400, seed=6, end=end + timedelta(minutes=5))
        _land(settings.landing_path, later.name, later.read_bytes())
        load_pending(settings, connect(settings))
        # Whether anything was loaded since the marts were last served (the load task asks): it was. The
        # emulator gives the credits view no modification time, so here the answer is "nothing published
        # yet"; either way the run builds, and the ledger's query goes through the analyzer.
        assert build_reason(connect(settings))
        assert connect(settings).last_loaded_at() is not None
        recorder.phase = "incremental build"
        assert dbt("build", "--exclude", "resource_type:unit_test") == 0
        incremental = _marts(connect(settings))
        recorder.phase = "no-op build"
        assert dbt("run") == 0
        recorder.phase = "full refresh"
        assert dbt("build", "--full-refresh", "--exclude", "resource_type:unit_test") == 0
        refreshed = _marts(connect(settings))

        # No model of ours sets incremental_predicates yet; a probe model in a copy of the project does.
        recorder.phase = "rebuild MERGE with incremental_predicates"
        probe = tmp / "probe"
        shutil.copytree(DBT_PROJECT_DIR, probe, ignore=shutil.ignore_patterns("target", "logs"))
        (probe / "models" / "predicate_probe.sql").write_text(PREDICATE_PROBE)
        for _ in range(2):  # built, then merged
            assert dbt("run", "--select", "predicate_probe", "--project-dir", str(probe)) == 0

        recorder.phase = "dashboard"
        data = DashboardData(settings)
        first, last = data.date_range()
        filters = Filters(first, last, channels=tuple(data.channels()[:2]))
        data.daily(filters), data.by_campaign(filters), data.live_events(20), data.health()
        connect(settings).publish()

        # Production reads the export through the `events_*` wildcard, pruned by `_TABLE_SUFFIX`. The
        # emulator refuses wildcard tables, after the proxy has recorded the statement as sent.
        recorder.phase = "GA4 staging over events_*"
        wildcard = {**dbt_env, "ATTRIBUTION_GA4_TABLE": "events_*"}
        assert dbt("run", "--select", "stg_ga4_events", environ=wildcard) != 0, "the emulator has no wildcards"
        (tmp / "statements.json").write_text(json.dumps(recorder.records, indent=1))  # to read when one fails
        yield recorder.records, incremental, refreshed


@pytest.fixture(scope="module")
def catalog() -> GoogleSqlCatalog:
    catalog = GoogleSqlCatalog(PROJECT)
    catalog.seed_ga4_export(PROJECT, GA4_DATASET, ["events_fixture", "events_*"])
    return catalog


@pytest.fixture(scope="module")
def analysis(recorded, catalog):
    records, _, _ = recorded
    return analyse_records(records, catalog, skip_phases=[FIXTURE])


def _sent(records, phase_prefix: str = "") -> list[str]:
    return [r["sql"] for r in records if r["kind"] == "query" and r["phase"].startswith(phase_prefix)]


def test_the_capture_holds_every_kind_of_statement_the_target_sends(recorded, analysis):
    """The analysis cannot pass vacuously: what it must have seen is there, as sent."""
    records, _, _ = recorded
    sent = [" ".join(distinct_text(sql).lower().split()) for sql in _sent(records)]
    ledger = f"insert into `{PROJECT}.{DATASET}.load_ledger`"
    assert any(s.startswith(ledger) for s in sent), "the ledger insert"
    wildcard = [s for s in sent if f"`{GA4_DATASET}`.`events_*`" in s and "_table_suffix between" in s]
    assert wildcard, "the wildcard"
    newer_fields = ("collected_traffic_source.manual_source", "cross_channel_campaign.default_channel_group")
    assert all(field in wildcard[0] for field in newer_fields), "the newer export fields its newest shard has"
    merges = [s for s in sent if "merge into" in s]
    assert any("dbt_is_marker" in s for s in merges), "the rebuild MERGE of rebuild_rows_by models"
    assert any("when matched then update set" in s for s in merges), "dbt's own MERGE"
    assert any(f"and ({PREDICATE})" in s for s in merges), "a rebuild MERGE keeps the model's incremental_predicates"
    models = {
        path.stem for path in (DBT_PROJECT_DIR / "models").rglob("*.sql")
    }  # every model's DDL: created as a table or view under its own name
    ddl = [f"create or replace {kind} `{PROJECT}`.`{DATASET}`.`{{}}`" for kind in ("table", "view")]
    created = {m for m in models if any(d.format(m) in s for s in sent for d in ddl)}
    assert created == models
    for phase in ("loader", "first build", "incremental build", "no-op build", "full refresh", "dashboard"):
        assert _sent(records, phase), f"no statement recorded in phase {phase!r}"
    unit_tests = [s for s in _sent(records, "first build") if '"node_id": "unit_test.' in s]
    assert unit_tests, "dbt unit tests' statements"
    assert [r for r in records if r["kind"] == "unreadable"] == [], "every jobs and tables request was read"
    loads = {r["phase"].split(" (")[0] for r in records if r["kind"] == "load"}
    assert loads >= {"loader", "first build"}, "the loader's staging loads and dbt's seed load"


def test_every_statement_sent_is_valid_googlesql(analysis):
    print(f"analysed {analysis.analysed} statements, {len(analysis.distinct)} distinct")
    assert not analysis.rejections and not analysis.consequences, analysis.report()


def test_the_incremental_marts_equal_a_full_refresh_on_bigquery(recorded):
    _, incremental, refreshed = recorded
    assert incremental["mart_first_click"], "conversions to compare"
    assert incremental == refreshed


def test_the_analyzer_rejects_what_bigquery_rejects(analysis, catalog):
    """The check can fail: after the replay, the catalog knows the raw tables, and the analyzer refuses
    the view BigQuery refused (a CTE named like the column it selects) and a column the export lacks."""
    streamed = f"`{PROJECT}`.`{DATASET}`.`streamed_events`"
    shadowing = f"create view `{PROJECT}`.`{DATASET}`.v as (with source as (select * from {streamed})"
    [message] = catalog.analyse(f"{shadowing} select nullif(source, '') as source from source)", None)
    assert "No matching signature for function NULLIF" in message and "STRUCT<event_id STRING" in message
    assert catalog.analyse("select cast(1 as  bigint), cast(2 as decimal)", None) == [], "aliases BigQuery accepts"
    [message] = catalog.analyse(f"select gclid from `{PROJECT}`.`{GA4_DATASET}`.`events_*`", None)
    assert "Unrecognized name: gclid" in message
    documented = "_table_suffix, collected_traffic_source.gclid, session_traffic_source_last_click"
    assert catalog.analyse(f"select {documented} from `{PROJECT}`.`{GA4_DATASET}`.`events_*`", None) == []
