"""Every statement the BigQuery target sends is valid GoogleSQL, as BigQuery's own analyzer resolves it.

The pipeline runs against the BigQuery emulator behind a recording proxy (``bigquery_recorder.py``)
through every phase a production run goes through (``bigquery_pipeline.py``: loads, a first dbt build
with data and unit tests, a compile for `events_*`, an incremental build over new rows, a day of GA4's
streaming export handed over to its daily table, a no-op build, a full refresh, the dashboard's queries,
the GA4 staging over the `events_*` wildcard), and ZetaSQL analyses each recorded statement against a
catalog built from what was sent (``googlesql.py``). The emulator proves the API flow; this proves the
dialect.
"""

import pytest
from bigquery_pipeline import DATASET, FIXTURE, GA4_DATASET, GROUP, PREDICATE, BigQueryPipeline
from emulators import PROJECT
from googlesql import GoogleSqlCatalog, analyse_records, distinct_text
from intraday_fixture import EXPORT_DAY

from attribution.settings import DBT_PROJECT_DIR

pytestmark = [pytest.mark.bigquery, pytest.mark.dbt, GROUP]


@pytest.fixture(scope="module")
def recorded(bigquery_pipeline: BigQueryPipeline):
    """The pipeline's BigQuery traffic through every phase: (records, marts incremental, marts refreshed)."""
    marts = bigquery_pipeline.marts
    whole = "bigquery, every column"
    return bigquery_pipeline.records, marts["after handover"][whole], marts["full refresh"][whole]


def _sent(records, phase_prefix: str = "") -> list[str]:
    return [r["sql"] for r in records if r["kind"] == "query" and r["phase"].startswith(phase_prefix)]


@pytest.fixture(scope="module")
def catalog() -> GoogleSqlCatalog:
    catalog = GoogleSqlCatalog(PROJECT)
    catalog.seed_ga4_export(PROJECT, GA4_DATASET, ["events_fixture", "events_*", f"events_intraday_{EXPORT_DAY}"])
    return catalog


@pytest.fixture(scope="module")
def analysis(recorded, catalog):
    records, _, _ = recorded
    return analyse_records(records, catalog, skip_phases=[FIXTURE])


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
    intraday = [s for s in _sent(records, "intraday append") if f"events_intraday_{EXPORT_DAY}" in s]
    assert intraday, "the intraday table read"
    handover = _sent(records, "handover")
    assert any("replace (" in s and "true as is_removed" in s for s in handover), "the handover's removed rows"
    assert any("when matched then delete" in s and "int_removed_events" in s for s in handover), "the pre-hooks"
    stitched = [s for s in _sent(records, "incremental build") if "when matched then delete" in s]
    assert any("left_journeys" in s and "int_device_identities" in s for s in stitched), "journeys left (blended)"
    phases = ("loader", "first build", "compile", "incremental build", "intraday append", "handover",
              "no-op build", "full refresh", "dashboard")  # fmt: skip
    for phase in phases:
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
