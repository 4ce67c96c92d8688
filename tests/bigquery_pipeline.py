"""The BigQuery target run once through every phase of production, with an embedded twin fed the same files.

The emulator is slow (a dbt build takes minutes there), so one session of it serves three test files,
which run on one worker (``xdist_group``): the dialect (test_googlesql.py: every statement recorded on
the way, analysed by ZetaSQL), the cost discipline (test_bigquery_cost.py: the project compiled for the
production `events_*` wildcard between a load and the build that reads it) and the parity with DuckDB
(test_bigquery.py: the same batches and GA4 history give the same marts and the same dashboard).

Phases, in order: loads (clean, quarantined, rejected, duplicate); a first dbt build with data and unit
tests; a later batch loaded; the project compiled for `events_*`; an incremental build over the new
rows; a day of GA4's streaming export in three intraday appends and its handover to the daily table (a
run after each, one between the daily table's arrival and the intraday table's drop, and after the drop
a no-op build); a
full refresh; a rebuild MERGE with incremental_predicates (a probe model); the dashboard's queries; the
GA4 staging over the `events_*` wildcard (the emulator refuses it, after the proxy has recorded the
statement as sent). The DuckDB twin loads the same files and builds at the same points; its GA4 history
is shaped by the embedded warehouse's own seeding SQL, BigQuery's by the fixture's Python, so the two
shapings are checked against each other.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from bigquery_recorder import recording
from emulators import ANONYMOUS_GCP_CONNECTION, PROJECT, running_bigquery_emulator
from ga4_fixture import append_to_table_sql, create_table_sql, current_export_rows, export_row, insert_into_duckdb
from intraday_fixture import EXPORT_DAY, PURCHASES, daily_rows, intraday_appends
from test_loader import HEADER, row

from attribution.dashboard.data import MODELS, DashboardData, Filters, click_totals, side_by_side
from attribution.dbt_cli import run_dbt
from attribution.generator import generate_events, write_batch
from attribution.history import insert_events
from attribution.landing import build_reason, load_pending
from attribution.settings import DBT_PROJECT_DIR, Settings, load_settings
from attribution.warehouse import connect

GROUP = pytest.mark.xdist_group("bigquery_pipeline")  # every file that reads the session runs on one worker
DATASET, GA4_DATASET = "gsql", "ga4_export"
FIXTURE = "fixture"  # the tests' own set-up statements: recorded, not analysed
SHARD = "events_20261118"  # a daily table of the export, found by the `events_*` introspection
END = datetime(2026, 11, 20, 12, tzinfo=UTC)
PREDICATE = "dbt_internal_dest.converted_on >= date '2026-11-01'"
PREDICATE_PROBE = f"""
{{{{ config(materialized='incremental', incremental_predicates=["{PREDICATE}"], **rebuild_rows_by('conversion_id')) }}}}
select 'c1' as conversion_id, date '2026-11-20' as converted_on
"""
# Each mart with the columns both warehouses must agree on (bookkeeping columns left out).
CLICK = "conversion_id, user_pseudo_id, ga_session_id, source, medium, campaign, channel_group, revenue"
MART_COLUMNS = {
    "mart_first_click": CLICK,
    "mart_last_click": CLICK,
    "mart_attribution_daily": "conversion_date, attribution_model, channel_group, source, medium, conversions, revenue",
    "mart_attribution_credits": "conversion_id, attribution_model, ga_session_id, channel_group, credit,"
    " attributed_revenue",
    "mart_set_aside_events": "event_origin, reason, event_date, events, conversions, revenue",
    "mart_ga4_session_comparison": "user_pseudo_id, ga_session_id, channel_group, source, medium, source_rule,"
    " ga4_channel_group, agrees, reason",
    "mart_channel_removal_effects": "channel_group, removal_effect, share, conversions, revenue, paths,"
    " converting_paths, pooled_channel_groups",
    "mart_channel_performance": "performance_date, attribution_model, channel_group, source, medium, campaign, spend,"
    " clicks, impressions, conversions, revenue, roas, cpa",
    "mart_unmatched_spend": "spend_date, source, medium, campaign, campaign_id, spend, clicks, impressions, reason",
    "mart_conversion_paths": "conversion_id, conversion_date, path, touchpoints, other_device_touchpoints,"
    " days_to_conversion, first_channel_group, last_channel_group, revenue",
    "mart_path_summary": "path, conversions, revenue, non_converting_journeys, conversion_rate, average_touchpoints,"
    " average_days_to_conversion",
    "mart_path_positions": "conversion_date, channel_group, early_touchpoints, middle_touchpoints, late_touchpoints",
}
# Spend of the streamed day (END): keys the batch's sessions carry, one that none does, a bad row, and a
# row for the Google Ads campaign that, on BigQuery, the transfer's tables replace.
SPEND = "\n".join([
    "date,utm_source,utm_medium,utm_campaign,utm_id,cost,clicks,impressions,currency",
    "2026-11-20,google,cpc,brand_search,,31.40,35,,USD", "2026-11-20,Google,CPC,Generic_Search,,18.90,21,,USD",
    "2026-11-20,facebook,cpc,spring_sale,,9.35,17,,USD", "2026-11-20,newsletter,email,weekly_digest,,0,,,USD",
    "2026-11-20,bing,cpc,never_tagged,,4.20,6,,USD", "2026-11-20,google,cpc,x,,1,,,EUR",
    "2026-11-20,google,cpc,Ads Brand,111,5.00,4,,USD",
]).encode() + b"\n"  # fmt: skip
GOOGLE_ADS_DATASET, CUSTOMER = "google_ads", "1234567890"
# The Google Ads Data Transfer's tables as Google documents them (docs/spend.md): campaign 111 on the
# streamed day in two segments ($3.00 + $4.50), and its name in two daily snapshots, the latest current.
GOOGLE_ADS_TABLES = [
    f"""create table `{PROJECT}.{GOOGLE_ADS_DATASET}.ads_CampaignBasicStats_{CUSTOMER}` (
        segments_date DATE, campaign_id INT64, customer_id INT64, segments_ad_network_type STRING,
        segments_device STRING, metrics_cost_micros INT64, metrics_clicks INT64, metrics_impressions INT64,
        _DATA_DATE DATE, _LATEST_DATE DATE)""",
    f"""insert into `{PROJECT}.{GOOGLE_ADS_DATASET}.ads_CampaignBasicStats_{CUSTOMER}` values
        (date '2026-11-20', 111, {CUSTOMER}, 'SEARCH', 'MOBILE', 3000000, 4, 90, date '2026-11-20',
         date '2026-11-21'),
        (date '2026-11-20', 111, {CUSTOMER}, 'SEARCH', 'DESKTOP', 4500000, 5, 110, date '2026-11-20',
         date '2026-11-21')""",
    f"""create table `{PROJECT}.{GOOGLE_ADS_DATASET}.ads_Campaign_{CUSTOMER}` (
        campaign_id INT64, customer_id INT64, campaign_name STRING, campaign_status STRING, _DATA_DATE DATE,
        _LATEST_DATE DATE)""",
    f"""insert into `{PROJECT}.{GOOGLE_ADS_DATASET}.ads_Campaign_{CUSTOMER}` values
        (111, {CUSTOMER}, 'Brand (old name)', 'ENABLED', date '2026-11-20', date '2026-11-21'),
        (111, {CUSTOMER}, 'Ads Brand', 'ENABLED', date '2026-11-21', date '2026-11-21')""",
]
# What the DuckDB twin lands instead: the transfer's figures as a cost file, replacing the same key.
GOOGLE_ADS_AS_COST_FILE = SPEND.split(b"\n")[0] + b"\n2026-11-20,google,cpc,Ads Brand,111,7.50,9,200,USD\n"


def comparable(value):
    return round(float(value), 6) if isinstance(value, float | Decimal) else str(value)


def table(settings: Settings, name: str) -> str:
    """A relation of the target's dataset, as the tests query it."""
    return f"`{PROJECT}.{settings.bq_dataset}.{name}`" if settings.target == "bigquery" else name


def marts(settings: Settings) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted, values rounded alike on both warehouses."""
    warehouse = connect(settings)
    return {
        mart: sorted(
            tuple(comparable(v) for v in r.values())
            for r in warehouse.query(f"select {columns} from {table(settings, mart)}")
        )
        for mart, columns in MART_COLUMNS.items()
    }


def every_column(settings: Settings) -> dict[str, list[tuple]]:
    """Every column of each mart on BigQuery but the rebuild watermark: incremental against full refresh."""

    def rounded(value):
        return round(float(value), 9) if isinstance(value, float) else str(value)

    return {
        mart: sorted(
            tuple(rounded(v) for k, v in r.items() if k != "_events_loaded_at")
            for r in connect(settings).query(f"select * from {table(settings, mart)}")
        )
        for mart in MART_COLUMNS
    }


def first_clicks(settings: Settings) -> dict[str, tuple[str, bool]]:
    """The streamed day's purchases under first click: (channel group, provisional)."""
    mart, day = table(settings, "mart_first_click"), ", ".join(f"'{c}'" for c in PURCHASES)
    rows = connect(settings).query(
        f"select conversion_id, channel_group, is_provisional from {mart} where conversion_id in ({day})"
    )
    return {r["conversion_id"]: (r["channel_group"], bool(r["is_provisional"])) for r in rows}


def dashboard_figures(settings: Settings) -> dict:
    """What the dashboard shows: its date range, channels, totals per model, campaigns and channels with
    spend, unmatched spend, live events, files."""
    data = DashboardData(settings)
    days = data.date_range()
    daily = data.daily(Filters(*days))
    campaigns = data.performance(Filters(*days, channels=tuple(data.channels()[:3])), by_campaign=True)
    channels = side_by_side(data.performance(Filters(*days)), MODELS, ["channel_group"])
    live = data.live_events(20)
    return {
        "days": days,
        "channels": data.channels(),
        "totals": {model: tuple(round(v, 6) for v in figures) for model, figures in click_totals(daily).items()},
        "campaigns": sorted(tuple(comparable(v) for v in r) for r in campaigns.itertuples(index=False)),
        "spend by channel": sorted(
            tuple(comparable(v) for v in r) for r in channels.fillna(-1).itertuples(index=False)
        ),
        "unmatched": [
            tuple(comparable(v) for v in r) for r in data.unmatched_spend(Filters(*days)).itertuples(index=False)
        ],
        "live": [(r.event_at, r.event_name, r.user_pseudo_id) for r in live.itertuples()],
        "files": data.health()["files"],
    }


@dataclass
class BigQueryPipeline:
    settings: Settings
    twin: Settings
    history: list[dict]  # the GA4 export's rows
    records: list[dict] = field(default_factory=list)  # every request the target sent, by phase
    marts: dict[str, dict[str, dict]] = field(default_factory=dict)  # point -> warehouse -> marts
    compiled: dict = field(default_factory=dict)  # the manifest compiled for `events_*` before the incremental build
    first_new_day: object = None  # the first event day of the batch loaded before that build
    first_seen_day: object = None  # the first day of the sessions that batch continues (none: it continues none)
    dashboards: dict[str, dict] = field(default_factory=dict)  # target -> dashboard_figures
    intraday: dict[str, dict] = field(default_factory=dict)  # point -> first_clicks of the streamed day
    link: dict = field(default_factory=dict)  # the conversion a late login linked to another device


def _land(landing: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():  # a cost file's name is cost/<name>
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(content)


@pytest.fixture(scope="session")
def bigquery_pipeline(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("bigquery_pipeline")
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
            "ATTRIBUTION_GOOGLE_ADS_DATASET": f"{PROJECT}.{GOOGLE_ADS_DATASET}",
            "ATTRIBUTION_GOOGLE_ADS_CUSTOMER_IDS": CUSTOMER,
            "ATTRIBUTION_REPORTING_IDENTITY": "blended",  # the stricter identity: journeys move (docs/identity.md)
        }
        twin_env = {"ATTRIBUTION_DUCKDB_PATH": str(tmp / "duck" / "w.duckdb"),
                    "ATTRIBUTION_LANDING_DIR": str(tmp / "duck" / "landing"),
                    "ATTRIBUTION_REPORTING_IDENTITY": "blended"}  # fmt: skip
        events = list(generate_events(300, seed=3, end=END - timedelta(hours=1)))
        current = current_export_rows(END)
        pipeline = BigQueryPipeline(load_settings(env), load_settings(twin_env), [export_row(e) for e in events])
        pipeline.history += current
        settings, twin = pipeline.settings, pipeline.twin

        def dbt(*args: str, environ: dict | None = None) -> int:
            return run_dbt([*args, f"--target-path={tmp / 'target'}"], environ=environ or {**os.environ, **env})

        def both(files: dict[str, bytes]) -> None:
            for target in (settings, twin):
                _land(target.landing_path, files)
                load_pending(target, connect(target))

        def build_twin_run() -> None:
            command = ["run", "--select", "stg_ga4_events+", f"--target-path={tmp / 'duck-target'}"]
            assert run_dbt(command, environ={**os.environ, **twin_env}) == 0

        def build_twin(*args: str) -> None:
            command = ["build", *args, "--exclude", "resource_type:unit_test", f"--target-path={tmp / 'duck-target'}"]
            assert run_dbt(command, environ={**os.environ, **twin_env}) == 0

        recorder.phase = FIXTURE
        export = connect(load_settings({**env, "ATTRIBUTION_BQ_DATASET": GA4_DATASET, "ATTRIBUTION_GA4_SOURCE": ""}))
        export.ensure_schema()  # creates the export's dataset
        export.query(create_table_sql(f"`{PROJECT}.{GA4_DATASET}.events_fixture`", pipeline.history))
        # A daily shard: over `events_*`, stg_ga4_events reads the newer fields the newest shard has.
        export.query(create_table_sql(f"`{PROJECT}.{GA4_DATASET}.{SHARD}`", current))
        connect(twin).ensure_schema()
        with duckdb.connect(str(twin.warehouse_path)) as con:
            insert_events(con, "raw", events)
        insert_into_duckdb(twin.warehouse_path, current, tmp)
        connect(settings).client.create_dataset(f"{PROJECT}.{GOOGLE_ADS_DATASET}", exists_ok=True)
        recorder.phase = "Google Ads transfer tables"  # analysed too: the catalog learns their columns
        for sql in GOOGLE_ADS_TABLES:
            export.query(sql)

        recorder.phase = "loader"
        batch = write_batch(tmp / "gen", 400, seed=5, end=END).read_bytes()
        mixed = [HEADER, row("ok1"), row("bad", ts="x"), row("p", name="purchase", transaction="T1", revenue="-1")]
        both(
            {
                "a_batch.csv": batch,
                "b_mixed.csv": ("\n".join(mixed) + "\n").encode(),
                "c_empty.csv": b"",
                "d_again.csv": batch,
                "cost/spend.csv": SPEND,
            }
        )  # fmt: skip  (d_again: all duplicates)
        _land(twin.landing_path, {"cost/z_google_ads.csv": GOOGLE_ADS_AS_COST_FILE})
        load_pending(twin, connect(twin))
        connect(settings).quarantined_records("b_mixed.csv")

        recorder.phase = "first build (seeds, models, data tests, unit tests)"
        assert dbt("build") == 0
        build_twin()
        pipeline.marts["first build"] = {"bigquery": marts(settings), "duckdb": marts(twin)}

        recorder.phase = "loader"
        later = write_batch(tmp / "gen", 400, seed=6, end=END + timedelta(minutes=5))
        # A late login links a converting device to another one with an earlier session: the
        # conversion's journey gains that device's sessions on the incremental build.
        [link] = connect(twin).query("""
            select conversions.conversion_id, conversions.user_pseudo_id as converting,
                conversions.ga_session_id as converting_session, conversions.converted_at_micros as converting_at,
                sessions.user_pseudo_id as other, sessions.ga_session_id as other_session,
                sessions.session_start_micros + 1 as other_at
            from int_conversions as conversions
            inner join int_sessions as sessions
                on sessions.user_pseudo_id <> conversions.user_pseudo_id
                and sessions.session_start_micros between conversions.converted_at_micros - 2505600000000
                    and conversions.converted_at_micros - 60000000
            where conversions.user_pseudo_id not in (select user_pseudo_id from int_device_identities)
                and sessions.user_pseudo_id not in (select user_pseudo_id from int_device_identities)
            order by conversions.conversion_id, sessions.user_pseudo_id
            limit 1""")
        link_header = "event_id,event_timestamp,event_name,user_pseudo_id,ga_session_id,user_id"
        logins = [f"link-{device},{link[device + '_at']},login,{link[device]},{link[device + '_session']},C-link"
                  for device in ("converting", "other")]  # fmt: skip
        pipeline.link = link
        both({later.name: later.read_bytes(), "link.csv": ("\n".join([link_header, *logins]) + "\n").encode()})
        # Whether anything was loaded since the marts were last served (the load task asks): it was. The
        # emulator gives the credits view no modification time, so here the answer is "nothing published
        # yet"; either way the run builds, and the ledger's query goes through the analyzer.
        assert build_reason(connect(settings))
        assert connect(settings).last_loaded_at() is not None
        [first_new] = connect(settings).query(
            f"select min(event_date) as day from {table(settings, 'streamed_events')}"
            f" where _batch_file = '{later.name}'"
        )
        pipeline.first_new_day = first_new["day"]
        # The sessions those events continue (the logins), by their first day: where int_sessions reads
        # their older events from.
        [seen] = connect(settings).query(
            f"select min(sessions.session_date) as day from {table(settings, 'int_sessions')} as sessions"
            f" inner join {table(settings, 'streamed_events')} as events"
            " on sessions.user_pseudo_id = events.user_pseudo_id and sessions.ga_session_id = events.ga_session_id"
            f" where events._batch_file in ('{later.name}', 'link.csv')"
        )
        pipeline.first_seen_day = seen["day"]

        recorder.phase = "compile for events_*"  # what the next incremental build would send to production
        compiled = tmp / "compiled"
        wildcard = {**os.environ, **env, "ATTRIBUTION_GA4_TABLE": "events_*"}
        compile_ = ["compile", "--select", "resource_type:model", f"--target-path={compiled}"]
        assert run_dbt(compile_, environ=wildcard) == 0
        pipeline.compiled = json.loads((compiled / "manifest.json").read_text())

        recorder.phase = "incremental build"
        assert dbt("build", "--exclude", "resource_type:unit_test") == 0
        build_twin()
        pipeline.marts["incremental build"] = {"bigquery": marts(settings), "duckdb": marts(twin),
                                               "bigquery, every column": every_column(settings)}  # fmt: skip
        # GA4's streaming export (tests/intraday_fixture.py): three appends to an intraday table, each
        # followed by a run of the models up to the click marts; the day's daily rows then land in the
        # export beside it (a run between the two), and the intraday table is dropped; the run after
        # that is every model's (the others catch up) and has nothing new: the no-op build. The twin
        # gets the daily rows only, read once. The full refresh below must equal BigQuery's result.
        intraday_table = f"events_intraday_{EXPORT_DAY}"
        up_to_click_marts = ("run", "--select", "stg_ga4_events+,+mart_first_click stg_ga4_events+,+mart_last_click")
        for number, append in enumerate(intraday_appends(), start=1):
            recorder.phase = FIXTURE
            name = f"`{PROJECT}.{GA4_DATASET}.{intraday_table}`"
            for sql in [create_table_sql(name, append)] if number == 1 else append_to_table_sql(name, append):
                export.query(sql)
            recorder.phase = f"intraday append {number}"
            assert dbt(*up_to_click_marts) == 0
            pipeline.intraday[f"append {number}"] = first_clicks(settings)
        recorder.phase = FIXTURE
        for sql in append_to_table_sql(f"`{PROJECT}.{GA4_DATASET}.events_fixture`", daily_rows()):
            export.query(sql)
        recorder.phase = "handover, the intraday table still there"
        assert dbt(*up_to_click_marts) == 0
        pipeline.intraday["handover"] = first_clicks(settings)
        recorder.phase = FIXTURE
        export.query(f"drop table `{PROJECT}.{GA4_DATASET}.{intraday_table}`")
        insert_into_duckdb(twin.warehouse_path, daily_rows(), tmp)
        recorder.phase = "no-op build, after the intraday table's drop"
        assert dbt("run") == 0
        build_twin_run()
        pipeline.intraday["daily only, on DuckDB"] = first_clicks(twin)
        pipeline.marts["after handover"] = {"bigquery": marts(settings), "duckdb": marts(twin),
                                            "bigquery, every column": every_column(settings)}  # fmt: skip

        recorder.phase = "full refresh"  # the models only: their data tests' SQL is the first build's
        assert dbt("run", "--full-refresh") == 0
        pipeline.marts["full refresh"] = {"bigquery, every column": every_column(settings)}

        # No model of ours sets incremental_predicates yet; a probe model in a copy of the project does.
        recorder.phase = "rebuild MERGE with incremental_predicates"
        probe = tmp / "probe"
        shutil.copytree(DBT_PROJECT_DIR, probe, ignore=shutil.ignore_patterns("target", "logs"))
        (probe / "models" / "predicate_probe.sql").write_text(PREDICATE_PROBE)
        for _ in range(2):  # built, then merged
            assert dbt("run", "--select", "predicate_probe", "--project-dir", str(probe)) == 0

        # The dashboard reads the marts on BigQuery and the serving snapshot on DuckDB: the same page.
        recorder.phase = "dashboard"
        pipeline.dashboards["bigquery"] = dashboard_figures(settings)
        connect(settings).publish()
        connect(twin).publish()
        pipeline.dashboards["duckdb"] = dashboard_figures(twin)

        recorder.phase = "GA4 staging over events_*"
        assert dbt("run", "--select", "stg_ga4_events", environ=wildcard) != 0, "the emulator has no wildcards"
        pipeline.records = recorder.records
        (tmp / "statements.json").write_text(json.dumps(recorder.records, indent=1))  # to read when one fails
        yield pipeline
