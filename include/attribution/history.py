"""GA4-shaped history for the embedded warehouse: days of events before the stream begins.

On BigQuery the history is the GA4 export itself. The embedded warehouse has none, so an empty one is
seeded once with ``ATTRIBUTION_HISTORY_DAYS`` days of events from the same journey model as the CSV
batches, written in the export's shape into ``raw.ga4_events``, ending where the stream begins.
``stg_ga4_events`` then reads it exactly as it reads the export. With ``ATTRIBUTION_GA4_PARQUET`` set,
the seed is that GA4 export Parquet file instead (its columns matched to the table's by name).
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

from attribution.ga4_export import REQUIRED_COLUMNS, SCHEMA, STRING_PARAMS, column_type
from attribution.generator import generate_events
from attribution.raw_tables import EVENT_COLUMNS
from attribution.settings import GA4_HISTORY_TABLE, PROJECT_ROOT, Settings, SettingsError, load_settings
from attribution.synthetic_spend import PaidClicks, land_cost_file
from attribution.validation import sql_ident, sql_literal

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


_TYPES = dict(SCHEMA)
_COLLECTED = {"manual_source": "source", "manual_medium": "medium", "manual_campaign_name": "campaign"}
"""The fields of ``collected_traffic_source`` an event's own source / medium / campaign fill."""


def _collected_traffic_source() -> str:
    """The event's campaign data as a current export collects it: null when the event has none."""
    fields = {name: f"nullif({_COLLECTED[name]}, '')" if name in _COLLECTED else f"null::{column_type(t, 'duckdb')}"
              for name, t in _TYPES["collected_traffic_source"]}  # fmt: skip
    struct = ", ".join(f"'{name}': {value}" for name, value in fields.items())
    present = " or ".join(f"{fields[name]} is not null" for name in _COLLECTED)
    return f"case when {present} then {{{struct}}} end"


def export_shape_sql(relation: str) -> str:
    """A select turning contract events in ``relation`` into rows of the export's shape (columns as SCHEMA).

    The synthetic events are in USD, so ``purchase_revenue_in_usd`` is ``purchase_revenue``; GA4's own
    attribution (``session_traffic_source_last_click``) is unknowable here and stays null, as do click ids.
    """
    string_params = [_param(key, "string_value", f"nullif({key}, '')") for key in STRING_PARAMS]
    params = ", ".join([_param("ga_session_id", "int_value", "ga_session_id"), *string_params])
    revenue = "nullif(purchase_revenue, '')::double"
    last_click = column_type(_TYPES["session_traffic_source_last_click"], "duckdb")
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
        {{'transaction_id': nullif(transaction_id, ''), 'purchase_revenue': {revenue},
          'purchase_revenue_in_usd': {revenue}}} as ecommerce,
        {{'category': nullif(device_category, '')}} as device,
        {{'country': nullif(country, '')}} as geo,
        {_collected_traffic_source()} as collected_traffic_source,
        null::{last_click} as session_traffic_source_last_click,
        nullif(user_id, '') as user_id
    from {relation}
"""


FLAT_SCHEMA = pa.schema([(c.name, pa.int64() if c.type == "int64" else pa.string()) for c in EVENT_COLUMNS])
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


def _conform(expression: str, found: duckdb.DuckDBPyType, wanted, where: str, depth: int = 0) -> str:
    """``expression`` (of type ``found``) as the :data:`SCHEMA` type ``wanted``: struct fields matched by
    name (case-insensitive), a field the file lacks null, a field the table lacks ignored."""
    if isinstance(wanted, list):
        if found.id != "list":
            raise ValueError(f"{where} is {found}, not a list")
        element = f"element_{depth}"
        inner = _conform(element, found.child, wanted[0], f"{where}[]", depth + 1)
        return f"list_transform({expression}, lambda {element}: {inner})"
    if isinstance(wanted, tuple):
        if found.id != "struct":
            raise ValueError(f"{where} is {found}, not a struct")
        have = {name.lower(): (name, field_type) for name, field_type in found.children}
        fields = []
        for name, field_type in wanted:
            if name in have:
                actual, actual_type = have[name]
                inner = f"struct_extract({expression}, {sql_literal(actual)})"
                fields.append(f"'{name}': {_conform(inner, actual_type, field_type, f'{where}.{name}', depth + 1)}")
            else:
                fields.append(f"'{name}': null::{column_type(field_type, 'duckdb')}")
        return f"case when {expression} is not null then {{{', '.join(fields)}}} end"
    if found.id in ("struct", "list", "map", "union"):
        raise ValueError(f"{where} is {found}, not a {wanted}")
    return f"{expression}::{column_type(wanted, 'duckdb')}"


def parquet_path(settings: Settings) -> Path:
    """``ATTRIBUTION_GA4_PARQUET`` as a path: relative to the project root, like the other paths."""
    path = Path(settings.ga4_parquet).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def insert_parquet(con: duckdb.DuckDBPyConnection, schema: str, path: Path) -> int:
    """Append the GA4 export rows of the Parquet file ``path`` to ``<schema>.ga4_events``; returns the count.

    The columns the file shares with the table are taken by name, struct fields too: a real export's other
    columns and fields are ignored, and the table's newer ones that an older export lacks stay null.
    """
    problem = f"ATTRIBUTION_GA4_PARQUET {path}"
    if not path.is_file():
        raise SettingsError(f"{problem}: no such file")
    source = f"read_parquet({sql_literal(str(path))})"
    try:
        found = con.sql(f"select * from {source} limit 0")
        types = {name.lower(): (name, t) for name, t in zip(found.columns, found.types, strict=True)}
        missing = [name for name in REQUIRED_COLUMNS if name not in types]
        if missing:
            raise ValueError(f"it lacks the column(s) {', '.join(missing)}")
        shared = [(name, field_type) for name, field_type in SCHEMA if name in types]
        selects = [_conform(sql_ident(types[name][0]), types[name][1], field_type, name) for name, field_type in shared]
        columns = ", ".join(name for name, _ in shared)
        insert = f"insert into {schema}.{GA4_HISTORY_TABLE} ({columns}) select {', '.join(selects)} from {source}"
        return con.execute(insert).fetchone()[0]
    except (ValueError, duckdb.Error) as error:
        raise SettingsError(f"{problem} is not a usable GA4 export Parquet file: {error}") from None


def seed_history(settings: Settings, events_per_day: int = EVENTS_PER_DAY, end: datetime | None = None) -> int:
    """Seed an empty embedded warehouse with history; returns the events written (0 when not needed).
    Synthetic history lands the cost files of its paid clicks too (synthetic_spend).

    Only on DuckDB, only when ``raw.ga4_events`` and ``raw.streamed_events`` are both empty (a warehouse
    that has data keeps it), in one transaction: a seed that dies leaves the warehouse empty, to be
    seeded again by the next run. The history is the ``ATTRIBUTION_GA4_PARQUET`` file when set (all of
    its days: ``ATTRIBUTION_HISTORY_DAYS`` does not apply), else ``history_days`` of synthetic events.
    """
    if settings.target != "duckdb" or (settings.history_days == 0 and not settings.ga4_parquet):
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
        if settings.ga4_parquet:
            path = parquet_path(settings)
            written = insert_parquet(con, settings.raw_schema, path)
            origin = f"from {path}"
        else:
            clicks = PaidClicks()
            events = history_events(settings.history_days, events_per_day, end=end)
            written = insert_events(con, settings.raw_schema, clicks.tap(events))
            origin = f"over {settings.history_days} days"
        con.execute("commit")
    if not settings.ga4_parquet:
        # The spend of its paid clicks lands as cost files, loaded by the same run.
        land_cost_file(settings, clicks, end)
    log.info("seeded %d GA4 history events %s in %.1f s", written, origin, time.monotonic() - started)
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
