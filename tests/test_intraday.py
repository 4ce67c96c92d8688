"""GA4's streaming export on the embedded warehouse: intraday rows served as they stream in, and each
day handed over to its daily table exactly once (tests/intraday_fixture.py tells the story)."""

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from bigquery_pipeline import first_clicks
from ga4_fixture import ga4_rows, insert_into_duckdb
from intraday_fixture import DAY, EXPORT_DAY, ONLY_DAILY, ONLY_INTRADAY, PURCHASES, daily_rows, intraday_appends
from test_incremental import assert_equals_full_refresh, build, contents, query

from attribution.dbt_cli import run_dbt
from attribution.ga4_watch import note_changes
from attribution.settings import Settings
from attribution.warehouse import connect

pytestmark = pytest.mark.dbt

INTRADAY_TABLE = f"raw.events_intraday_{EXPORT_DAY}"


def run_models(settings: Settings, *args: str, **environ: str) -> int:
    """dbt run of the GA4 staging and every model after it (no tests: the other test has them)."""
    env = {**os.environ, "ATTRIBUTION_DUCKDB_PATH": str(settings.warehouse_path), **environ}
    return run_dbt(["run", "--select", "stg_ga4_events+", *args], environ=env)


def test_intraday_appends_are_served_and_the_daily_table_replaces_them(settings: Settings, tmp_path: Path):
    connect(settings).ensure_schema()
    insert_into_duckdb(settings.warehouse_path, ga4_rows(600, seed=7, end=DAY), tmp_path)  # earlier days
    build(settings)

    streamed: set[str] = set()
    for run, append in enumerate(intraday_appends(), start=1):
        insert_into_duckdb(settings.warehouse_path, append, tmp_path, INTRADAY_TABLE)
        assert run_models(settings) == 0
        streamed |= {row["ecommerce"]["transaction_id"] for row in append if row["event_name"] == "purchase"}
        served = first_clicks(settings)
        assert set(served) == streamed, f"append {run}: its purchases are served after its run"
        assert all(provisional for _, provisional in served.values()), "intraday conversions are provisional"
    assert served["T-A"][0] == "Direct", "no first-touch source in the stream yet"

    # The daily table appears; the intraday one is still there until GA4 drops it. A run in between
    # reads the day from the daily table alone.
    insert_into_duckdb(settings.warehouse_path, daily_rows(), tmp_path)
    build(settings)
    handed_over = first_clicks(settings)
    assert set(handed_over) == (set(PURCHASES) - set(ONLY_INTRADAY)), "the daily table is the record"
    assert set(ONLY_DAILY) <= set(handed_over)
    assert handed_over["T-A"] == ("Email", False), "the first-visit rule, from the daily table's traffic_source"
    assert not any(provisional for _, provisional in handed_over.values())
    [(live, distinct, removed)] = query(settings, "select count(*) filter (where not is_removed),"
        " count(distinct event_id) filter (where not is_removed), count(*) filter (where is_removed)"
        f" from stg_ga4_events where export_day = '{EXPORT_DAY}'")  # fmt: skip
    assert (live, distinct, removed) == (len(daily_rows()), len(daily_rows()), 3), "no event twice, three gone"
    [(credited,)] = query(settings, "select sum(credit) from mart_attribution_credits"
                                    " where attribution_model = 'linear' and conversion_id like 'T-%'")  # fmt: skip
    assert credited == pytest.approx(len(PURCHASES) - len(ONLY_INTRADAY))
    after_handover = assert_equals_full_refresh(settings, tmp_path, run=1)

    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"drop table {INTRADAY_TABLE}")
    assert run_models(settings) == 0
    assert contents(settings.warehouse_path) == after_handover, "the drop changes nothing"


def test_a_watched_export_is_read_where_it_changed_and_the_setting_decides(
    settings: Settings, tmp_path: Path, capfd: pytest.CaptureFixture
):
    warehouse = connect(settings)
    warehouse.ensure_schema()
    insert_into_duckdb(settings.warehouse_path, ga4_rows(300, seed=8, end=DAY), tmp_path)
    now = lambda: datetime.now(UTC).replace(tzinfo=None)  # noqa: E731 - the noting is compared with dbt's clock
    assert note_changes(warehouse, 1, now()) == ["ga4_events"]
    build(settings, "--exclude", "resource_type:test")  # seeds and models: the other test has the tests

    first = intraday_appends()[0]
    insert_into_duckdb(settings.warehouse_path, first, tmp_path, INTRADAY_TABLE)
    assert run_models(settings) == 0
    assert first_clicks(settings) == {}, "a change the load task has not noted is not read: the cost bound holds"
    assert note_changes(warehouse, 1, now()) == [f"events_intraday_{EXPORT_DAY}"]
    assert run_models(settings) == 0
    assert set(first_clicks(settings)) == {"T-B"}

    assert run_models(settings, "--full-refresh", ATTRIBUTION_GA4_INTRADAY="false") == 0
    assert first_clicks(settings) == {}, "intraday reading off: the daily tables only"
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"drop table {INTRADAY_TABLE}")
    capfd.readouterr()
    assert run_models(settings, ATTRIBUTION_GA4_INTRADAY="true") != 0, "streaming expected on, and no intraday table"
    out = capfd.readouterr().out
    assert "ATTRIBUTION_GA4_INTRADAY is true, but" in out and "is the streaming export on?" in out
