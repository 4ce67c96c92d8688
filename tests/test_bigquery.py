"""The BigQuery target against a real BigQuery API emulator: loader, dbt, marts and a whole DAG run."""

import dataclasses
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from bigquery_pipeline import GROUP, BigQueryPipeline, table
from emulators import ANONYMOUS_GCP_CONNECTION, PROJECT, running_bigquery_emulator, running_gcs_emulator
from ga4_fixture import append_to_table_sql, create_table_sql
from intraday_fixture import EXPORT_DAY, ONLY_INTRADAY, PURCHASES, daily_rows, intraday_appends
from test_loader import HEADER, row
from test_triggering import Watch

from attribution.ga4_watch import note_changes
from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.settings import Settings, load_settings
from attribution.triggering import GA4ExportTrigger
from attribution.warehouse import connect

pytestmark = [pytest.mark.bigquery, pytest.mark.dbt, GROUP]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_bigquery_emulator(tmp_path_factory.mktemp("bigquery")) as endpoint:
        yield endpoint


BUCKET = "attribution-events"


@pytest.fixture(scope="module")
def gcs_emulator(tmp_path_factory):
    with running_gcs_emulator(tmp_path_factory.mktemp("gcs"), BUCKET) as host:
        yield host


@pytest.fixture
def bq_settings(emulator, tmp_path: Path, monkeypatch) -> Settings:
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", ANONYMOUS_GCP_CONNECTION)
    dataset = f"t_{os.urandom(4).hex()}"  # one dataset per test: tests stay independent
    return load_settings(
        {
            "ATTRIBUTION_TARGET": "bigquery",
            "ATTRIBUTION_BQ_PROJECT": PROJECT,
            "ATTRIBUTION_BQ_DATASET": dataset,
            "ATTRIBUTION_BQ_API_ENDPOINT": emulator,
            "ATTRIBUTION_LANDING_DIR": str(tmp_path / "landing"),
            "ATTRIBUTION_GA4_SOURCE": "",  # no GA4 history unless a test creates one
        }
    )


def _ddb_settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "duck" / "w.duckdb"),
            "ATTRIBUTION_LANDING_DIR": str(tmp_path / "duck" / "landing"),
        }
    )


def _land(settings: Settings, files: dict[str, bytes]) -> None:
    for name, content in files.items():  # a cost file's name is cost/<name>
        (settings.landing_path / name).parent.mkdir(parents=True, exist_ok=True)
        (settings.landing_path / name).write_bytes(content)


def _outcome(settings: Settings) -> tuple:
    warehouse = connect(settings)
    table = (lambda name: f"`{PROJECT}.{settings.bq_dataset}.{name}`") if settings.target == "bigquery" else (
        lambda name: f"raw.{name}"
    )  # fmt: skip
    ledger = warehouse.query(
        f"select file_name, rows_read, rows_loaded, rows_duplicate, rows_quarantined, status, error, first_event_date,"
        f" file_type from {table('load_ledger')}"
    )
    quarantine = warehouse.query(f"select file_name, line_number, reason, raw_record from {table('quarantined_rows')}")
    events = warehouse.query(
        f"select event_id, event_timestamp, user_pseudo_id, ga_session_id, user_id, source, campaign, transaction_id,"
        f" purchase_revenue, event_date from {table('streamed_events')}"
    )

    spend = warehouse.query(
        f"select date, utm_source, utm_medium, utm_campaign, utm_id, cost, clicks, impressions, currency, _batch_file"
        f" from {table('ad_spend')}"
    )

    def normalise(rows):  # NUMERIC and DECIMAL(18, 6) print differently: compare values
        return sorted(tuple(str(v.normalize() if isinstance(v, Decimal) else v) for v in r.values()) for r in rows)

    return normalise(ledger), normalise(quarantine), normalise(events), normalise(spend)


COST_HEADER = "date,utm_source,utm_medium,utm_campaign,utm_id,cost,clicks,impressions,currency"
COST_FILES = {  # bad rows, a key twice, then a file that restates one key, repeats one and adds one
    "cost/a_spend.csv": "\n".join([
        COST_HEADER, "2026-11-20,google,cpc,brand,77,41.50,83,1200,USD", "2026-11-20,meta,paid_social,x,,7,,,usd",
        "2026-11-20,bing,cpc,y,,-1,,,USD", "2026-11-20,bing,cpc,z,,1,,,EUR", "2026-13-01,bing,cpc,w,,1,,,USD",
        '2026-11-20,"news, letter",email,"multi\nline",,0,,,USD', "2026-11-20,meta,paid_social,x,,8,,,USD",
    ]).encode() + b"\n",
    "cost/b_restated.csv": "\n".join([
        COST_HEADER, "2026-11-20,google,cpc,brand,77,43.00,85,1250,USD", "2026-11-20,meta,paid_social,x,,7,,,usd",
        "2026-11-21,google,cpc,brand,77,12,20,300,USD",
    ]).encode() + b"\n",
}  # fmt: skip


def test_the_same_files_give_the_same_warehouse_as_duckdb(bq_settings: Settings, tmp_path: Path):
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    batch = write_batch(tmp_path / "gen", 300, seed=9, end=end)
    files = {
        "a_batch.csv": batch.read_bytes(),
        "b_mixed.csv": "\n".join([
            HEADER, row("ok1"), row("bad", ts="17e14"),
            '"ok2",1763640000000000,page_view,u1,17636,,google,"cpc, brand","multi\nline 100%",,,,,',
            row("p2", name="purchase", transaction="T2", revenue="-1"), row("toomany") + ",extra",
            row("ok1"), row("ok1", source="other"),
        ]).encode() + b"\n",
        "c_empty.csv": b"",
        "d_again.csv": batch.read_bytes(),  # same events under another name: all duplicates
        **COST_FILES,
    }  # fmt: skip
    duck = _ddb_settings(tmp_path)
    for settings in (duck, bq_settings):
        _land(settings, files)
        reports = load_pending(settings, connect(settings))
        assert all(r.reconciles for r in reports)
    for part, on_bigquery, on_duckdb in zip(
        ("ledger", "quarantine", "events", "spend"), _outcome(bq_settings), _outcome(duck), strict=True
    ):
        assert set(on_bigquery) ^ set(on_duckdb) == set(), part
        assert on_bigquery == on_duckdb, part
    ledger = {r[0]: r for r in _outcome(bq_settings)[0]}
    assert ledger["d_again.csv"][2:4] == ("0", "300"), "same events under another name are duplicates"
    # What `python -m attribution.quarantine export` reads: the same records, in file order, on both.
    records = [
        [{k: v for k, v in r.items() if k != "quarantined_at"} for r in connect(s).quarantined_records("b_mixed.csv")]
        for s in (duck, bq_settings)
    ]
    assert [r["line_number"] for r in records[0]] == [3, 6, 7, 9] and records[1] == records[0]
    # Cost files: the same ledger, reasons and rows on both, the restating file's note included.
    assert ledger["cost/a_spend.csv"][1:5] == ("7", "3", "0", "4")
    assert ledger["cost/b_restated.csv"][1:7] == (
        "3", "2", "1", "0", "loaded", "replaces the figures of 1 row(s) loaded from cost/a_spend.csv",
    )  # fmt: skip
    assert [r[1:3] for r in _outcome(bq_settings)[1] if r[0] == "cost/a_spend.csv"] == [
        ("4", "cost is negative: -1"),
        ("5", "currency EUR is not the reporting currency USD"),
        ("6", "date is not a date (YYYY-MM-DD): 2026-13-01"),
        ("9", "date / utm_source / utm_medium / utm_campaign repeat line 3 with different content"),
    ]


def test_a_load_that_died_before_its_ledger_row_is_invisible_and_its_retry_completes_it(
    bq_settings: Settings, tmp_path: Path
):
    """A file's load is atomic on BigQuery: its ledger row, written last, is the commit point. Events
    written by a load that died before it are not read by the models (stg_streamed_events); the retry
    completes the load with the numbers a clean load gives."""
    from attribution.dbt_cli import run_dbt

    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    batch = write_batch(tmp_path / "gen", 200, seed=4, end=end)
    mixed = "\n".join([HEADER, row("e1"), row("bad", ts="x"), row("e2")]).encode() + b"\n"
    clean = load_settings({**_bq_env(bq_settings), "ATTRIBUTION_BQ_DATASET": bq_settings.bq_dataset + "_clean"})
    for settings in (clean, bq_settings):
        _land(settings, {"batch.csv": batch.read_bytes(), "mixed.csv": mixed})
    load_pending(clean, connect(clean))

    warehouse = connect(bq_settings)
    run = warehouse._run

    def die_at_the_ledger(sql: str):
        if "load_ledger" in sql and sql.lstrip().startswith("insert"):
            raise RuntimeError("killed before the ledger row")
        return run(sql)

    warehouse._run = die_at_the_ledger
    with pytest.raises(RuntimeError, match="killed"):
        load_pending(bq_settings, warehouse)
    assert len(list(bq_settings.landing_path.glob("*.csv"))) == 2, "nothing archived before the ledger row"

    def row_count(relation: str) -> int:
        table = f"`{PROJECT}.{bq_settings.bq_dataset}.{relation}`"
        return warehouse.query(f"select count(*) as n from {table}")[0]["n"]

    def sessions() -> list[tuple]:
        table = f"`{PROJECT}.{bq_settings.bq_dataset}.int_sessions`"
        columns = "user_pseudo_id, ga_session_id, source, medium, campaign, session_start_micros"
        return sorted(tuple(r.values()) for r in warehouse.query(f"select {columns} from {table}"))

    env = {**os.environ, **_bq_env(bq_settings), "ATTRIBUTION_BQ_TOKEN": "emulator-accepts-any-token"}
    assert run_dbt(["seed"], environ=env) == 0 and run_dbt(["run"], environ=env) == 0  # a scheduled run meanwhile
    assert row_count("streamed_events") == 200, "the dead load wrote its events"
    assert row_count("stg_streamed_events") == row_count("int_sessions") == 0, "and nothing read them"

    warehouse._run = run
    load_pending(bq_settings, warehouse)  # the retry

    def comparable(settings):
        ledger, quarantine, events, _ = _outcome(settings)
        return ledger, [r[1:] for r in quarantine], events

    assert comparable(bq_settings) == comparable(clean)
    assert row_count("stg_streamed_events") == 202
    assert load_pending(bq_settings, warehouse) == []
    # The next incremental run takes the events in: they were committed after its watermark.
    assert run_dbt(["run"], environ=env) == 0
    incremental = sessions()
    assert run_dbt(["run", "--full-refresh"], environ=env) == 0
    assert incremental == sessions() != []


def test_a_ga4_export_in_another_location_is_refused_at_start(bq_settings: Settings):
    from google.cloud import bigquery

    from attribution.settings import SettingsError

    client = connect(bq_settings).client
    export = bigquery.Dataset(f"{PROJECT}.{bq_settings.bq_dataset}_eu_export")
    export.location = "EU"
    client.create_dataset(export)
    elsewhere = load_settings({**_bq_env(bq_settings), "ATTRIBUTION_GA4_SOURCE": f"{PROJECT}.{export.dataset_id}"})
    with pytest.raises(SettingsError, match=r"is in location EU, but ATTRIBUTION_BQ_LOCATION is US"):
        connect(elsewhere).ensure_schema()
    missing = load_settings({**_bq_env(bq_settings), "ATTRIBUTION_GA4_SOURCE": f"{PROJECT}.no_such_export"})
    with pytest.raises(SettingsError, match="credentials cannot read the dataset"):
        connect(missing).ensure_schema()
    same = load_settings({**_bq_env(bq_settings), "ATTRIBUTION_BQ_LOCATION": "EU",
                          "ATTRIBUTION_GA4_SOURCE": f"{PROJECT}.{export.dataset_id}"})  # fmt: skip
    connect(same).ensure_schema()


def _bq_env(settings: Settings) -> dict[str, str]:
    return {
        "ATTRIBUTION_TARGET": "bigquery",
        "ATTRIBUTION_BQ_PROJECT": settings.bq_project,
        "ATTRIBUTION_BQ_DATASET": settings.bq_dataset,
        "ATTRIBUTION_BQ_API_ENDPOINT": settings.bq_api_endpoint,
        "ATTRIBUTION_LANDING_DIR": str(settings.landing_path.parent / "clean-landing"),
        "ATTRIBUTION_GA4_SOURCE": "",  # no GA4 history unless a test creates one
    }


def test_parity_the_same_batches_and_ga4_history_give_the_same_marts_on_duckdb_and_bigquery(
    bigquery_pipeline: BigQueryPipeline,
):
    pipeline = bigquery_pipeline
    duck, bigquery = pipeline.twin, pipeline.settings
    origins = {r["event_origin"]: r["n"] for r in connect(duck).query(
        "select event_origin, count(*) as n from int_events group by 1")}  # fmt: skip
    [loaded] = connect(duck).query("select sum(rows_loaded) as n from raw.load_ledger where file_type = 'events'")
    ga4_rows = len(pipeline.history) - 1 + len(daily_rows())  # one export duplicate; the streamed day's daily rows
    assert origins["ga4"] == ga4_rows and origins["stream"] == loaded["n"]
    # The rules ran the same on both: the unattributable purchases and GA4's own channels are there.
    for settings in (duck, bigquery):
        [row] = connect(settings).query(
            f"select count(*) as sessions, sum(case when agrees then 1 else 0 end) as agreeing"
            f" from {table(settings, 'mart_ga4_session_comparison')}"
        )
        assert (row["sessions"], row["agreeing"]) == (5, 4)
    first, later = pipeline.marts["first build"], pipeline.marts["incremental build"]
    assert first["duckdb"]["mart_first_click"], "conversions to compare"
    assert first["bigquery"] == first["duckdb"]
    # The later batch, built incrementally on both: returning users change existing conversions, so
    # BigQuery's merges (and the rebuild MERGE of touchpoints and credits) ran for real.
    assert later["bigquery"] == later["duckdb"] != first["duckdb"]
    # Blended identity on both: a late login linked a converting device to another device, whose
    # session joined the conversion's journey on the incremental build, alike on both warehouses.
    linked = [row for row in later["bigquery"]["mart_conversion_paths"] if row[0] == pipeline.link["conversion_id"]]
    before = [row for row in first["bigquery"]["mart_conversion_paths"] if row[0] == pipeline.link["conversion_id"]]
    assert [row[4] for row in before] == ["0"] and int(linked[0][4]) >= 1, "other_device_touchpoints"
    # The dashboard reads the marts on BigQuery and the serving snapshot on DuckDB: the same page.
    assert pipeline.dashboards["duckdb"]["totals"]["first_click"][0] > 0
    assert pipeline.dashboards["duckdb"]["spend by channel"] and pipeline.dashboards["duckdb"]["unmatched"]
    twin = pipeline.dashboards["duckdb"]
    # One file more on the twin: the cost file that stands in for BigQuery's Google Ads transfer.
    assert pipeline.dashboards["bigquery"] == twin | {"files": twin["files"] - 1}


def test_google_ads_cost_comes_from_the_transfers_tables_and_outranks_a_cost_file(bigquery_pipeline: BigQueryPipeline):
    """Campaign 111's two segments summed, named by its latest snapshot; the cost file's row for the same
    day and key kept, marked, counted nowhere; the DuckDB twin, given the same figures as a cost file,
    has the same marts (the parity test)."""
    settings = bigquery_pipeline.settings
    rows = connect(settings).query(
        "select spend_date, source, medium, campaign, campaign_id, cost, clicks, impressions, spend_origin,"
        f" spend_file, replaced_by from {table(settings, 'stg_ad_spend')} where lower(campaign) = 'ads brand'"
        " order by spend_origin"
    )
    assert [tuple(str(v) for v in r.values()) for r in rows] == [
        ("2026-11-20", "google", "cpc", "Ads Brand", "111", "5", "4", "None", "cost_file", "cost/spend.csv",
         "google_ads"),
        ("2026-11-20", "google", "cpc", "Ads Brand", "111", "7.5", "9", "200", "google_ads", "google_ads:1234567890",
         "None"),
    ]  # fmt: skip
    [unmatched] = connect(settings).query(
        f"select spend, reason from {table(settings, 'mart_unmatched_spend')} where campaign_id = '111'"
    )
    # Its clicks are in the export two days before (tests/ga4_fixture.py's u_gclid: a gclid session GA4 names
    # Ads Brand for), none on the spend's day.
    assert (float(unmatched["spend"]), unmatched["reason"]) == (
        7.5,
        "sessions carry this source / medium / campaign on other days only",
    )


def test_a_day_of_the_streaming_export_is_served_then_handed_over_on_bigquery_as_on_duckdb(
    bigquery_pipeline: BigQueryPipeline,
):
    """tests/intraday_fixture.py's day on the emulator; the DuckDB twin reads the same day from its daily
    rows alone, and the full refresh that follows equals BigQuery's warehouse (test_googlesql.py)."""
    observed = bigquery_pipeline.intraday
    streamed: set[str] = set()
    for number, append in enumerate(intraday_appends(), start=1):
        served = observed[f"append {number}"]
        streamed |= {row["ecommerce"]["transaction_id"] for row in append if row["event_name"] == "purchase"}
        assert set(served) == streamed, f"append {number}: its purchases served after its run"
        assert all(provisional for _, provisional in served.values())
    assert observed["append 3"]["T-A"][0] == "Direct"
    handed_over = observed["handover"]
    assert set(handed_over) == set(PURCHASES) - set(ONLY_INTRADAY), "the daily table is the record"
    assert handed_over["T-A"] == ("Email", False)
    assert not any(provisional for _, provisional in handed_over.values())
    assert handed_over == observed["daily only, on DuckDB"], "as if the day had been read from the daily table"
    after = bigquery_pipeline.marts["after handover"]
    assert after["bigquery"] == after["duckdb"], "every mart the same on both targets after the drop"


def test_the_ga4_export_watcher_fires_on_streamed_rows_and_on_a_new_daily_table(bq_settings: Settings, monkeypatch):
    """GA4ExportTrigger against the emulator, as the triggerer runs it; its settings come from the
    environment, as in the triggerer. The emulator keeps no modification times: rows tell here."""
    export_dataset = f"{bq_settings.bq_dataset}_export"
    env = {**_bq_env(bq_settings), "ATTRIBUTION_GA4_SOURCE": f"{PROJECT}.{export_dataset}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    export = connect(load_settings({**env, "ATTRIBUTION_BQ_DATASET": export_dataset, "ATTRIBUTION_GA4_SOURCE": ""}))
    export.ensure_schema()  # the export's dataset
    intraday, daily = f"events_intraday_{EXPORT_DAY}", f"events_{EXPORT_DAY}"
    first, second, _ = intraday_appends()

    def create(name: str, rows: list[dict]) -> None:
        export.query(create_table_sql(f"`{PROJECT}.{export_dataset}.{name}`", rows))

    def append(name: str, rows: list[dict]) -> None:
        for sql in append_to_table_sql(f"`{PROJECT}.{export_dataset}.{name}`", rows):
            export.query(sql)

    watch = Watch(GA4ExportTrigger(poll_seconds=0.2), key="changed")
    try:
        assert watch.after(lambda: None, wait=1.5) is None, "the first poll is the baseline"
        assert watch.after(lambda: create(intraday, first), wait=10) == [intraday]
        assert watch.after(lambda: append(intraday, second), wait=10) == [intraday], "rows streamed in"
        assert watch.after(lambda: create(daily, daily_rows()), wait=10) == [daily], "the day's daily table"
        assert watch.after(lambda: None, wait=1.5) is None, "nothing new, nothing fired"
    finally:
        watch.close()
    warehouse = connect(load_settings(env))
    warehouse.ensure_schema()
    assert note_changes(warehouse, 300, datetime(2026, 11, 21, 12)) == [daily, intraday]
    assert warehouse.ga4_export_noticed()[intraday][0].rows == len(first) + len(second)


def test_a_gs_landing_loads_each_object_once_and_sets_it_aside(bq_settings: Settings, gcs_emulator, monkeypatch):
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    prefix = f"{bq_settings.bq_dataset}/in"  # one prefix per test, like the dataset
    settings = dataclasses.replace(bq_settings, landing_dir=f"gs://{BUCKET}/{prefix}")
    gcs = GCSHook()
    good = f"{HEADER}\n{row('e1')}\n{row('e2')}\n"
    for name, content in {"a.csv": good, "b.csv": b"", "notes.txt": b"not a batch"}.items():
        gcs.upload(BUCKET, f"{prefix}/{name}", data=content.encode() if isinstance(content, str) else content)

    reports = load_pending(settings, connect(settings))
    assert [(r.file_name, r.status, r.rows_loaded) for r in reports] == [
        ("a.csv", "loaded", 2),
        ("b.csv", "rejected", 0),
    ]
    folder = bq_settings.bq_dataset
    assert sorted(gcs.list(BUCKET, prefix=f"{folder}/")) == [
        f"{folder}/archive/a.csv", f"{folder}/in/notes.txt", f"{folder}/rejected/b.csv"
    ]  # fmt: skip

    gcs.upload(
        BUCKET, f"{prefix}/a.csv", data=f"{good}{row('e3')}\n".encode()
    )  # same name, new content: loads, both kept
    [again] = load_pending(settings, connect(settings))
    assert (again.status, again.rows_loaded, again.rows_duplicate) == ("loaded", 1, 2)
    archived = sorted(gcs.list(BUCKET, prefix=f"{folder}/archive/"))
    assert archived == [f"{folder}/archive/a.{again.checksum[:12]}.csv", f"{folder}/archive/a.csv"]


@pytest.mark.airflow
def test_make_run_once_on_bigquery_with_a_gs_landing(
    bq_settings: Settings, gcs_emulator, airflow_home: dict[str, str], tmp_path: Path
):
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
    from conftest import run

    from attribution.stack.environment import VENV_BIN

    prefix = f"{bq_settings.bq_dataset}/landing"
    env = {
        **airflow_home,
        **_bq_env(bq_settings),
        "ATTRIBUTION_BQ_TOKEN": "emulator-accepts-any-token",
        "ATTRIBUTION_LANDING_DIR": f"gs://{BUCKET}/{prefix}",
        "ATTRIBUTION_SYNTHETIC_EVENTS": "400",
        "ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "data" / "unused.duckdb"),  # beside it: the synthetic ads' tally
        "ATTRIBUTION_TASK_RETRIES": "0",
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": ANONYMOUS_GCP_CONNECTION,
        "STORAGE_EMULATOR_HOST": gcs_emulator,
    }
    result = run([str(VENV_BIN / "python"), "-m", "attribution.local_stack", "run-once"], env)
    assert result.returncode == 0, "the DAG run on BigQuery failed"
    warehouse = connect(bq_settings)
    ledger = warehouse.query(
        f"select file_name, rows_read, status, file_type from `{PROJECT}.{bq_settings.bq_dataset}.load_ledger`"
        " order by file_type"
    )
    # The batch and the cost file of its paid clicks, both landed and loaded through gs://.
    assert [(r["file_type"], r["status"]) for r in ledger] == [("cost", "loaded"), ("events", "loaded")]
    assert ledger[1]["rows_read"] == 400 and ledger[0]["file_name"].startswith("cost/spend_")
    os.environ["STORAGE_EMULATOR_HOST"] = gcs_emulator
    try:
        objects = GCSHook().list(BUCKET, prefix=f"{bq_settings.bq_dataset}/")
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]
    assert objects == sorted(f"{bq_settings.bq_dataset}/archive/{r['file_name']}" for r in ledger), "archived"
    counts = warehouse.publish()
    assert counts["mart_live_events"] > 0
    assert counts["mart_first_click"] == counts["mart_last_click"]
