"""GA4-shaped history for the embedded warehouse: days of events before the stream begins.

On BigQuery the history is the GA4 export itself. The embedded warehouse has none, so an empty one is
seeded once with ``ATTRIBUTION_HISTORY_DAYS`` days of events from the same journey model as the CSV
batches, written in the export's shape into ``raw.ga4_events``, ending where the stream begins.
``stg_ga4_events`` then reads it exactly as it reads the export.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from attribution.events import COLUMNS
from attribution.ga4_export import SCHEMA, STRING_PARAMS
from attribution.generator import generate_events
from attribution.settings import GA4_HISTORY_TABLE, Settings, load_settings

log = logging.getLogger(__name__)

EVENTS_PER_DAY = 20_000
"""History volume per day; the scale check uses more (``--events-per-day``)."""
CHUNK_ROWS = 50_000
"""Rows converted and inserted at a time: memory stays bounded whatever the volume."""


_NULL_VALUE = {"string_value": "null::varchar", "int_value": "null::bigint", "float_value": "null::double",
               "double_value": "null::double"}  # fmt: skip


def _param(key: str, field: str, expression: str) -> str:
    value = ", ".join(f"'{name}': {expression if name == field else null}" for name, null in _NULL_VALUE.items())
    return f"{{'key': '{key}', 'value': {{{value}}}}}"


def export_shape_sql(relation: str) -> str:
    """A select turning contract events in ``relation`` into rows of the export's shape (columns as SCHEMA)."""
    string_params = [_param(key, "string_value", f"nullif({key}, '')") for key in STRING_PARAMS]
    params = ", ".join([_param("ga_session_id", "int_value", "ga_session_id"), *string_params])
    return f"""
    select
        strftime(make_timestamp(event_timestamp), '%Y%m%d') as event_date,
        event_timestamp,
        event_name,
        list_filter(
            [{params}],
            lambda p: coalesce(p.value.string_value, p.value.int_value::varchar) is not null
        ) as event_params,
        user_pseudo_id,
        {{'name': null::varchar, 'medium': null::varchar, 'source': null::varchar}} as traffic_source,
        {{'transaction_id': nullif(transaction_id, ''), 'purchase_revenue': nullif(purchase_revenue, '')::double}}
            as ecommerce,
        {{'category': nullif(device_category, '')}} as device,
        {{'country': nullif(country, '')}} as geo
    from {relation}
"""


FLAT_SCHEMA = pa.schema([(c.name, pa.int64() if c.sql_type == "int64" else pa.string()) for c in COLUMNS])
"""Contract events as the generator yields them: integers for timestamp and session, text otherwise."""


def history_events(days: int, events_per_day: int, *, end: datetime, seed: int = 20_201_101) -> Iterator[dict]:
    """Events of journeys whose last session starts in each hour of the ``days`` days before ``end``."""
    per_hour = max(1, events_per_day // 24)
    for hour in range(days * 24, 0, -1):
        hour_end = end - timedelta(hours=hour - 1)
        yield from generate_events(per_hour, seed=seed + hour, end=hour_end, window=timedelta(hours=1))


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def insert_events(con: duckdb.DuckDBPyConnection, schema: str, events: Iterable[dict]) -> int:
    """Append contract ``events`` to ``<schema>.ga4_events`` in the export's shape; returns the count.

    Flat Arrow chunks, shaped by DuckDB: building nested rows in Python is ten times slower.
    """
    written = 0
    columns = ", ".join(name for name, _ in SCHEMA)
    for chunk in _chunks(events, CHUNK_ROWS):
        events_chunk = pa.Table.from_pylist(chunk, schema=FLAT_SCHEMA)  # noqa: F841 - the SQL reads it
        con.execute(f"insert into {schema}.{GA4_HISTORY_TABLE} ({columns}) {export_shape_sql('events_chunk')}")
        written += len(chunk)
    return written


def seed_history(settings: Settings, events_per_day: int = EVENTS_PER_DAY, end: datetime | None = None) -> int:
    """Seed an empty embedded warehouse with history; returns the events written (0 when not needed).

    Only on DuckDB, only when ``raw.ga4_events`` and ``raw.streamed_events`` are both empty (a warehouse
    that has data keeps it), in one transaction: a seed that dies leaves the warehouse empty, to be
    seeded again by the next run.
    """
    if settings.target != "duckdb" or settings.history_days == 0:
        return 0
    from attribution.warehouse import connect

    connect(settings).ensure_schema()
    end = end or datetime.now(UTC)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("begin transaction")
        has_data = con.execute(
            f"select exists (select 1 from {settings.raw_schema}.{GA4_HISTORY_TABLE})"
            f" or exists (select 1 from {settings.raw_schema}.streamed_events)"
        ).fetchone()[0]
        if has_data:
            con.execute("rollback")
            return 0
        started = time.monotonic()
        written = insert_events(
            con, settings.raw_schema, history_events(settings.history_days, events_per_day, end=end)
        )
        con.execute("commit")
    log.info("seeded %d GA4 history events over %d days in %.1f s", written, settings.history_days,
             time.monotonic() - started)  # fmt: skip
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed an empty embedded warehouse with GA4-shaped history.")
    parser.add_argument("--events-per-day", type=int, default=EVENTS_PER_DAY)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_settings()
    written = seed_history(settings, args.events_per_day)
    print(f"{written} events written to {Path(settings.warehouse_path)}" if written else "nothing to seed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
