"""Every raw table the loader writes, and every landed file type, declared once.

From a declaration come the DDL of both warehouses (``RawTable.ddl``), BigQuery's load schemas
(``RawTable.bigquery_columns``) and the row checks of a landed file (``validation.check_rows`` reads a
``FileContract``). A new landed file type is a new ``FileContract`` and its table.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPES = {  # portable spelling -> (DuckDB, BigQuery)
    "string": ("varchar", "STRING"),
    "int64": ("bigint", "INT64"),
    "decimal": ("decimal(18, 6)", "NUMERIC"),
    "date": ("date", "DATE"),
    "timestamp": ("timestamp", "TIMESTAMP"),
}

INTEGER_PATTERN = "^-?[0-9]{1,19}$"
DECIMAL_PATTERN = "^-?[0-9]{1,12}(\\.[0-9]{1,6})?$"
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """A key of ``TYPES``."""
    required: bool = False
    """Not null in the table; in a landed file, a column its header must have and every row must fill."""
    type_name: str = ""
    """How a row check names the type it expects, when not the type's own name."""
    checks: tuple[tuple[str, str], ...] = ()
    """Further row checks once the value has its type: (SQL condition that fails the row, SQL reason).
    ``{value}`` stands for the trimmed text, ``{param}`` for a load parameter (``check_rows``)."""

    def sql_type(self, dialect: str) -> str:
        return TYPES[self.type][0 if dialect == "duckdb" else 1]


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[Column, ...]
    partition_by: str | None = None
    cluster_by: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()
    added_later: tuple[str, ...] = ()
    """Columns a table created by an older version lacks: added in place, its older rows read null."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def ddl(self, dialect: str, qualified_name: str) -> list[str]:
        """``create table if not exists`` (DuckDB: with NOT NULL and the primary key; BigQuery: with
        partitioning and clustering), then an ``add column if not exists`` per column added later."""
        duckdb = dialect == "duckdb"
        definitions = [
            f"{c.name} {c.sql_type(dialect)}{' not null' if duckdb and c.required else ''}" for c in self.columns
        ]
        if duckdb and self.primary_key:
            definitions.append(f"primary key ({', '.join(self.primary_key)})")
        create = f"create table if not exists {qualified_name} ({', '.join(definitions)})"
        if not duckdb and self.partition_by:
            create += f" partition by {self.partition_by}"
        if not duckdb and self.cluster_by:
            create += f" cluster by {', '.join(self.cluster_by)}"
        return [create] + [
            f"alter table {qualified_name} add column if not exists {name} {self.column(name).sql_type(dialect)}"
            for name in self.added_later
        ]

    def bigquery_columns(self, names: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
        """(name, BigQuery type) of ``names`` (default: every column), for load jobs' schemas."""
        return tuple((name, self.column(name).sql_type("bigquery")) for name in (names or self.column_names))


@dataclass(frozen=True)
class FileContract:
    """A landed CSV file type: its columns, where it lands, how its rows are checked and where they go."""

    name: str
    directory: str
    """Where its files land, under the landing location ('' = the landing itself)."""
    columns: tuple[Column, ...]
    table: RawTable
    key: tuple[str, ...]
    """One row per key in a file; a repeat with the same content is a duplicate, with other content quarantined."""
    date_column: str
    """The table's date column (the partition), filled from ``date_sql`` over the checked row."""
    date_sql: str
    existing_key: str
    """A row whose key the table already has: ``keep`` (the earlier row stays; the row is a duplicate) or
    ``replace`` (the same figures are a duplicate, other figures replace the earlier ones)."""
    row_checks: tuple[tuple[str, str], ...] = ()
    """Checks across columns, after every column's own: (SQL condition that fails the row, SQL reason)."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def loaded_columns(self) -> tuple[str, ...]:
        """The table's columns a clean row fills: the file's, and the date column."""
        dated = () if self.date_column in self.column_names else (self.date_column,)
        return (*self.column_names, *dated)

    @property
    def figures(self) -> tuple[str, ...]:
        """The columns outside the key: what a replacing row changes."""
        return tuple(c for c in self.column_names if c not in self.key)

    def ledger_name(self, file_name: str) -> str:
        """The file's name in the ledger and the quarantine: under its directory, so names never collide."""
        return f"{self.directory}/{file_name}" if self.directory else file_name


_BATCH_COLUMNS = (
    Column("_batch_file", "string", required=True),
    Column("_batch_checksum", "string", required=True),
    Column("_loaded_at", "timestamp", required=True),
)

# --- The CSV event batch (README: loading rules) ---------------------------------------------------

PURCHASE_EVENT = "purchase"

MAX_FIELD_LENGTH = 4096
"""Longer values are quarantined: no GA4 field is legitimately this long."""

EARLIEST_TIMESTAMP_MICROS = 946_684_800_000_000
"""2000-01-01T00:00:00Z: anything older is a unit mistake (seconds or millis), not an event."""

FUTURE_TOLERANCE_MICROS = 86_400_000_000
"""Events may carry client clocks a little ahead; more than a day ahead is rejected."""

EVENT_COLUMNS = (
    Column("event_id", "string", required=True),
    Column(
        "event_timestamp", "int64", required=True, type_name="an integer count of microseconds",
        checks=(
            (f"{{value}}::bigint < {EARLIEST_TIMESTAMP_MICROS}",
             "'event_timestamp ' || {value} || ' is before 2000-01-01 (microseconds expected)'"),
            (f"{{value}}::bigint > {{now_micros}} + {FUTURE_TOLERANCE_MICROS}",
             "'event_timestamp ' || {value} || ' is more than a day in the future'"),
        ),
    ),
    Column("event_name", "string", required=True),
    Column("user_pseudo_id", "string", required=True),
    Column("ga_session_id", "int64", required=True),
    Column("user_id", "string"),  # the site's own customer key, when the user is logged in
    Column("source", "string"),
    Column("medium", "string"),
    Column("campaign", "string"),
    Column("transaction_id", "string"),
    Column(
        "purchase_revenue", "decimal",
        checks=(("{value}::decimal(18, 6) < 0", "'purchase_revenue is negative: ' || {value}"),),
    ),
    Column("page_location", "string"),
    Column("device_category", "string"),
    Column("country", "string"),
)  # fmt: skip

STREAMED_EVENTS = RawTable(
    "streamed_events",
    (*EVENT_COLUMNS, Column("event_date", "date", required=True), *_BATCH_COLUMNS),
    partition_by="event_date",
    cluster_by=("user_pseudo_id", "event_name"),
    added_later=("user_id",),
)

EVENTS = FileContract(
    name="events",
    directory="",
    columns=EVENT_COLUMNS,
    table=STREAMED_EVENTS,
    key=("event_id",),
    date_column="event_date",
    date_sql="make_timestamp(event_timestamp::bigint)::date",
    existing_key="keep",
    row_checks=(
        (f"event_name = '{PURCHASE_EVENT}' and transaction_id is null", "'purchase without transaction_id'"),
        (f"event_name = '{PURCHASE_EVENT}' and purchase_revenue is null", "'purchase without purchase_revenue'"),
    ),
)

# --- The cost file, in the shape of GA4's cost data import (docs/spend.md) --------------------------

COST_COLUMNS = (
    Column("date", "date", required=True),
    Column("utm_source", "string", required=True),
    Column("utm_medium", "string", required=True),
    Column("utm_campaign", "string", required=True),
    Column("utm_id", "string"),
    Column(
        "cost", "decimal", required=True,
        checks=(("{value}::decimal(18, 6) < 0", "'cost is negative: ' || {value}"),),
    ),
    Column("clicks", "int64", checks=(("{value}::bigint < 0", "'clicks is negative: ' || {value}"),)),
    Column("impressions", "int64", checks=(("{value}::bigint < 0", "'impressions is negative: ' || {value}"),)),
    Column(
        "currency", "string", required=True,
        checks=(("upper({value}) <> {reporting_currency}",
                 "'currency ' || {value} || ' is not the reporting currency ' || {reporting_currency}"),),
    ),
)  # fmt: skip

AD_SPEND = RawTable("ad_spend", (*COST_COLUMNS, *_BATCH_COLUMNS), partition_by="date")

COST = FileContract(
    name="cost",
    directory="cost",
    columns=COST_COLUMNS,
    table=AD_SPEND,
    key=("date", "utm_source", "utm_medium", "utm_campaign"),
    date_column="date",
    date_sql="date::date",
    existing_key="replace",
)

FILE_CONTRACTS = (EVENTS, COST)

# --- The loader's own tables -----------------------------------------------------------------------

LOAD_LEDGER = RawTable(
    "load_ledger",
    (
        Column("file_name", "string", required=True),
        Column("checksum", "string", required=True),
        Column("loaded_at", "timestamp", required=True),
        Column("rows_read", "int64", required=True),
        Column("rows_loaded", "int64", required=True),
        Column("rows_duplicate", "int64", required=True),
        Column("rows_quarantined", "int64", required=True),
        Column("status", "string", required=True),
        Column("error", "string"),
        # Its earlier rows stay null (see incremental_by_user.sql).
        Column("first_event_date", "date"),
        # Which FileContract; null on rows from before cost files (all event batches).
        Column("file_type", "string"),
    ),
    primary_key=("file_name", "checksum"),
    added_later=("first_event_date", "file_type"),
)

QUARANTINED_ROWS = RawTable(
    "quarantined_rows",
    (
        Column("file_name", "string", required=True),
        Column("line_number", "int64"),
        Column("reason", "string", required=True),
        Column("raw_record", "string"),
        Column("quarantined_at", "timestamp", required=True),
        Column("_batch_checksum", "string"),
    ),
)

GA4_EXPORT_CHANGES = RawTable(
    "ga4_export_changes",
    (
        Column("table_name", "string", required=True),
        Column("row_count", "int64"),
        Column("modified_at", "timestamp"),
        Column("noticed_at", "timestamp", required=True),
    ),
)

GA4_EXPORT_READS = RawTable(
    "ga4_export_reads",
    (Column("read_through", "timestamp", required=True), Column("read_at", "timestamp", required=True)),
)

RAW_TABLES = (STREAMED_EVENTS, AD_SPEND, LOAD_LEDGER, QUARANTINED_ROWS, GA4_EXPORT_CHANGES, GA4_EXPORT_READS)
"""The GA4 history table (``ga4_events``) has the export's nested shape: ``attribution.ga4_export``."""
