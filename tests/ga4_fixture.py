"""GA4-export-shaped fixtures: generated journeys as export rows, written into DuckDB or into a BigQuery table.

BigQuery side: the emulator cannot load JSON or nested CSV, so the table is created with one
``CREATE TABLE … AS SELECT * FROM UNNEST([STRUCT(…), …])`` whose every field is named and typed
(the emulator loses unnamed struct fields).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb

from attribution.ga4_export import SCHEMA, column_type, export_row
from attribution.generator import generate_events


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
