"""GA4-export-shaped fixtures: generated journeys as export rows, written into DuckDB or into a BigQuery table.

BigQuery side: the emulator cannot load JSON or nested CSV, so the table is created with one
``CREATE TABLE … AS SELECT * FROM UNNEST([STRUCT(…), …])`` whose every field is named and typed
(the emulator loses unnamed struct fields).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from attribution.ga4_export import SCHEMA, STRING_PARAMS, column_type
from attribution.generator import generate_events


def _param(key: str, string_value: str | None = None, int_value: int | None = None) -> dict:
    return {
        "key": key,
        "value": {"string_value": string_value, "int_value": int_value, "float_value": None, "double_value": None},
    }


def export_row(event: dict) -> dict:
    """One contract event as a GA4 export row, built in Python: the twin of ``history.EXPORT_SHAPE_SQL``
    (the parity test feeds one to DuckDB and the other to BigQuery, so the two must agree)."""
    params = [_param("ga_session_id", int_value=int(event["ga_session_id"]))]
    params += [_param(key, string_value=event[key]) for key in STRING_PARAMS if event.get(key)]
    revenue = event.get("purchase_revenue")
    when = datetime.fromtimestamp(int(event["event_timestamp"]) / 1_000_000, UTC)
    return {
        "event_date": f"{when:%Y%m%d}",
        "event_timestamp": int(event["event_timestamp"]),
        "event_name": event["event_name"],
        "event_params": params,
        "user_pseudo_id": event["user_pseudo_id"],
        "traffic_source": {"name": None, "medium": None, "source": None},
        "ecommerce": {
            "transaction_id": event.get("transaction_id") or None,
            "purchase_revenue": float(revenue) if revenue else None,
        },
        "device": {"category": event.get("device_category") or None},
        "geo": {"country": event.get("country") or None},
    }


def ga4_rows(n_events: int, *, seed: int, end: datetime) -> list[dict]:
    return [export_row(event) for event in generate_events(n_events, seed=seed, end=end)]


def insert_into_duckdb(warehouse: Path, rows: list[dict], scratch: Path) -> None:
    """Append rows to the embedded warehouse's ``raw.ga4_events`` (created by ``ensure_schema``)."""
    ndjson = scratch / "ga4_rows.ndjson"
    ndjson.write_text("".join(json.dumps(row) + "\n" for row in rows))
    columns = "{" + ", ".join(f"'{name}': '{column_type(t, 'duckdb')}'" for name, t in SCHEMA) + "}"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"insert into raw.ga4_events select * from read_json('{ndjson}', columns = {columns})")


def _literal(value, field_type) -> str:
    if isinstance(field_type, list):
        return "[" + ", ".join(_literal(item, field_type[0]) for item in value) + "]"
    if isinstance(field_type, tuple):
        return "struct(" + ", ".join(f"{_literal(value[name], t)} as {name}" for name, t in field_type) + ")"
    if value is None:
        return f"cast(null as {column_type(field_type, 'bigquery')})"
    if field_type == "string":
        return json.dumps(value)  # a valid BigQuery double-quoted string literal for our values
    if field_type == "int64":
        return str(int(value))
    return f"cast({float(value)!r} as FLOAT64)"


def create_table_sql(table: str, rows: list[dict]) -> str:
    """SQL that creates ``table`` (backquoted full name) holding ``rows`` with the export's schema."""
    structs = ",\n".join(_literal(row, SCHEMA) for row in rows)
    return f"create table {table} as select * from unnest([\n{structs}\n])"
