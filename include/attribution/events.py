"""The CSV event batch contract (README: loading rules): columns, which are required, and their types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    """Type in the warehouse's raw table (portable spelling; adapters map it)."""
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("event_id", "string", required=True),
    Column("event_timestamp", "int64", required=True),
    Column("event_name", "string", required=True),
    Column("user_pseudo_id", "string", required=True),
    Column("ga_session_id", "int64", required=True),
    Column("source", "string"),
    Column("medium", "string"),
    Column("campaign", "string"),
    Column("transaction_id", "string"),
    Column("purchase_revenue", "decimal"),
    Column("page_location", "string"),
    Column("device_category", "string"),
    Column("country", "string"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)
PURCHASE_EVENT = "purchase"

MAX_FIELD_LENGTH = 4096
"""Longer values are quarantined: no GA4 field is legitimately this long."""

EARLIEST_TIMESTAMP_MICROS = 946_684_800_000_000
"""2000-01-01T00:00:00Z: anything older is a unit mistake (seconds or millis), not an event."""

FUTURE_TOLERANCE_MICROS = 86_400_000_000
"""Events may carry client clocks a little ahead; more than a day ahead is rejected."""
