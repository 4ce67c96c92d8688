"""The GA4 BigQuery export shape (the subset the pipeline reads) and events converted into it.

The real export has many more fields; ``stg_ga4_events`` reads only these, so a table with these
columns (the embedded warehouse's history, a test fixture) reads exactly like the export does.
``history.EXPORT_SHAPE_SQL`` turns contract events into rows of this shape.
"""

from __future__ import annotations

from collections.abc import Iterator

_PARAM_VALUE = (("string_value", "string"), ("int_value", "int64"), ("float_value", "float64"),
                ("double_value", "float64"))  # fmt: skip
# fmt: off
SCHEMA: tuple = (
    ("event_date", "string"),  # YYYYMMDD, the shard's date
    ("event_timestamp", "int64"),
    ("event_name", "string"),
    ("event_params", [(("key", "string"), ("value", _PARAM_VALUE))]),  # [struct]: repeated
    ("user_pseudo_id", "string"),
    ("traffic_source", (("name", "string"), ("medium", "string"), ("source", "string"))),
    ("ecommerce", (("transaction_id", "string"), ("purchase_revenue", "float64"),
                   ("purchase_revenue_in_usd", "float64"))),
    ("device", (("category", "string"),)),
    ("geo", (("country", "string"),)),
    # Added to the export in 2023: the event's own campaign data and click ids.
    ("collected_traffic_source", tuple((name, "string") for name in (
        "manual_campaign_id", "manual_campaign_name", "manual_source", "manual_medium", "manual_term",
        "manual_content", "gclid", "dclid", "srsltid"))),
    # Added in 2024: GA4's own last-click attribution of the event's session.
    ("session_traffic_source_last_click", (
        ("manual_campaign", tuple((name, "string") for name in (
            "campaign_id", "campaign_name", "source", "medium", "term", "content"))),
        ("cross_channel_campaign", tuple((name, "string") for name in (
            "campaign_id", "campaign_name", "source", "medium", "default_channel_group",
            "primary_channel_group"))),
        # The Google Ads campaign of a session an Ads click started (the export names it there, not in
        # the click's own fields). Last here, unlike the export: an embedded table gains it at the end.
        ("google_ads_campaign", tuple((name, "string") for name in (
            "customer_id", "account_name", "campaign_id", "campaign_name", "ad_group_id", "ad_group_name"))),
    )),
    # The site's own user id, set when the user is logged in (every export has it, null without one;
    # extracts such as the public sample's leave it out).
    ("user_id", "string"),
)
# fmt: on
"""Columns, nesting and types: a field is a scalar type name, a tuple of fields (a struct) or a
one-element list of a struct (a repeated struct). Structs hold the subset of the export's fields the pipeline
reads; exports older than a column lack it, and ``stg_ga4_events`` reads what is there."""

NEWER_COLUMNS = ("collected_traffic_source", "session_traffic_source_last_click", "user_id")
"""Top-level columns an older table may lack (later exports added the first two; this project's embedded
table added ``user_id`` later): an embedded table created before them gains them in place."""

REQUIRED_COLUMNS = ("event_date", "event_timestamp", "event_name", "event_params", "user_pseudo_id")
"""Columns every export has and a seed file must have: without them its rows are no events at all."""

_SCALARS = {
    "duckdb": {"string": "varchar", "int64": "bigint", "float64": "double"},
    "bigquery": {"string": "STRING", "int64": "INT64", "float64": "FLOAT64"},
}


def column_type(field_type, dialect: str) -> str:
    """The SQL type of a :data:`SCHEMA` field in ``dialect`` (``duckdb`` or ``bigquery``)."""
    if isinstance(field_type, list):
        inner = column_type(field_type[0], dialect)
        return f"{inner}[]" if dialect == "duckdb" else f"ARRAY<{inner}>"
    if isinstance(field_type, tuple):
        fields = ", ".join(f"{name} {column_type(t, dialect)}" for name, t in field_type)
        return f"struct({fields})" if dialect == "duckdb" else f"STRUCT<{fields}>"
    return _SCALARS[dialect][field_type]


def columns_ddl(dialect: str) -> str:
    """The column list of a GA4 events table, for ``create table … (<this>)``."""
    return ", ".join(f"{name} {column_type(t, dialect)}" for name, t in SCHEMA)


def struct_fields(path: str, field_type) -> Iterator[tuple[str, object]]:
    """Every field nested in the struct ``field_type`` at ``path``, a parent before its children, as
    (dotted path, field type); fields of repeated structs are not listed (``event_params`` never changes)."""
    if isinstance(field_type, tuple):
        for name, inner in field_type:
            yield f"{path}.{name}", inner
            yield from struct_fields(f"{path}.{name}", inner)


STRING_PARAMS = ("source", "medium", "campaign", "page_location")
"""Event parameters GA4 sends as strings; ``ga_session_id`` is an integer parameter."""
