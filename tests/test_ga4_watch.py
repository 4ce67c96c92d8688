"""Noting the GA4 export's changes (ga4_watch) on the embedded warehouse, whose history table and
intraday tables stand in for the export's: intraday changes at most once per interval, daily ones at
once, nothing twice."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ga4_fixture import insert_into_duckdb
from intraday_fixture import EXPORT_DAY, daily_rows, intraday_appends

from attribution.ga4_watch import ExportTable, changed_tables, note_changes
from attribution.settings import Settings
from attribution.warehouse import connect

NOW = datetime(2026, 11, 21, 12)
INTRADAY = f"events_intraday_{EXPORT_DAY}"


def test_intraday_changes_are_noted_at_most_once_per_interval_daily_ones_at_once(settings: Settings, tmp_path: Path):
    warehouse = connect(settings)
    warehouse.ensure_schema()

    def append(rows: list[dict], table: str = f"raw.{INTRADAY}") -> None:
        insert_into_duckdb(settings.warehouse_path, rows, tmp_path, table)

    def at(seconds: int) -> datetime:
        return NOW + timedelta(seconds=seconds)

    first, second, third = intraday_appends()
    assert note_changes(warehouse, 300, at(0)) == ["ga4_events"], "the history table, seen the first time"
    assert note_changes(warehouse, 300, at(1)) == [], "nothing changed, nothing noted"
    append(first)
    assert note_changes(warehouse, 300, at(10)) == [INTRADAY], "a new intraday table"
    append(second)
    assert note_changes(warehouse, 300, at(60)) == [], "streamed rows wait for the interval"
    append(daily_rows(), "raw.ga4_events")
    assert note_changes(warehouse, 300, at(70)) == ["ga4_events"], "daily data never waits"
    assert note_changes(warehouse, 300, at(310)) == [INTRADAY], "the interval passed: the streamed rows"
    append(third)
    assert note_changes(warehouse, 300, at(320)) == []
    assert note_changes(warehouse, 300, at(620)) == [INTRADAY]
    noticed = warehouse.ga4_export_noticed()
    assert noticed[INTRADAY] == (ExportTable(sum(map(len, (first, second, third))), None), at(620))
    assert warehouse.ga4_export_changed_at() == at(620)


def test_a_table_counts_as_changed_when_its_rows_or_modification_time_moved():
    noted = {"a": ExportTable(5, NOW), "b": ExportTable(7, None)}
    current = {"a": ExportTable(5, NOW + timedelta(seconds=1)), "b": ExportTable(7, None), "c": ExportTable(0, None)}
    assert sorted(changed_tables(current, noted)) == ["a", "c"]


def test_the_default_interval_keeps_a_million_events_a_day_under_five_dollars():
    from attribution.ga4_watch import TABLE_MINIMUM_BYTES, streaming_cost_per_day
    from attribution.settings import Settings

    default = streaming_cost_per_day(1_000_000, 600, Settings().ga4_intraday_interval_seconds)
    assert default.usd < 5
    every_minute = streaming_cost_per_day(1_000_000, 600, 60)
    assert every_minute.intraday_bytes == pytest.approx(5 * default.intraday_bytes, rel=0.01), (
        "reads scale with 1/interval"
    )
    assert every_minute.daily_bytes == default.daily_bytes, "daily reads follow GA4's rewrites, not the interval"
    tiny = streaming_cost_per_day(1_000, 600, 300)
    assert tiny.intraday_bytes >= 288 * TABLE_MINIMUM_BYTES, "BigQuery bills 10 MB a table at least"
