"""GA4-export-shaped fixtures: generated journeys as export rows, written into DuckDB or into a BigQuery table.

BigQuery side: the emulator cannot load JSON or nested CSV, so the table is created with one
``CREATE TABLE … AS SELECT * FROM UNNEST([STRUCT(…), …])`` whose every field is named and typed
(the emulator loses unnamed struct fields).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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
            "purchase_revenue_in_usd": float(revenue) if revenue else None,
        },
        "device": {"category": event.get("device_category") or None},
        "geo": {"country": event.get("country") or None},
        "collected_traffic_source": _collected(
            manual_source=event.get("source") or None,
            manual_medium=event.get("medium") or None,
            manual_campaign_name=event.get("campaign") or None,
        )
        if any(event.get(key) for key in ("source", "medium", "campaign"))
        else None,
        "session_traffic_source_last_click": None,
        "user_id": event.get("user_id") or None,
    }


def _collected(**fields) -> dict:
    """A ``collected_traffic_source`` struct: the given fields, every other one null."""
    [(_, struct)] = [(n, t) for n, t in SCHEMA if n == "collected_traffic_source"]
    return {name: fields.get(name) for name, _ in struct}


def _last_click(channel_group: str, source: str, medium: str, google_ads: tuple[str, str] | None = None) -> dict:
    """A ``session_traffic_source_last_click`` struct whose cross-channel campaign is GA4's verdict;
    ``google_ads``: the (campaign id, name) of the Ads campaign GA4 names for a session an Ads click started."""
    campaign_id, campaign_name = google_ads or (None, None)
    return {
        "manual_campaign": None,
        "cross_channel_campaign": {
            "campaign_id": campaign_id, "campaign_name": campaign_name, "source": source, "medium": medium,
            "default_channel_group": channel_group, "primary_channel_group": channel_group,
        },
        "google_ads_campaign": {
            "customer_id": "1234567890", "account_name": "Example Store", "campaign_id": campaign_id,
            "campaign_name": campaign_name, "ad_group_id": "2222", "ad_group_name": "Brand terms",
        } if google_ads else None,
    }  # fmt: skip


def current_export_rows(end: datetime) -> list[dict]:
    """Rows of a current GA4 export, built from Google's documented schema (tests/ga4_export_schema.sql),
    one case per rule; the expected outcome of each is in the comments and asserted by the tests.

    - ``u_manual``: a manual campaign only in ``collected_traffic_source`` → Email; revenue in USD (45 in
      the property's currency, 50 USD). GA4 agrees (Email).
    - ``u_gclid``: a Google Ads click identified only by its ``gclid`` → google / cpc, Paid Search, and
      the Ads campaign GA4 names for its session (Ads Brand, 111). GA4 agrees.
    - ``u_selfref``: first session holds ``first_visit`` with ``traffic_source`` google / organic and no
      sourced event → Organic Search (first visit). Its second session's only source is a referral from
      the store's own site → Direct; its purchase goes to Organic Search under last_non_direct_click.
      GA4 says Organic Search for that session (its last click spans sessions): a disagreement.
    - ``u_ignored``: a payment provider's referral flagged ``ignore_referrer`` → Direct; GA4 agrees.
    - two consent-mode purchases (no ``user_pseudo_id``, no session) and one purchase with a user but no
      session id: (unattributed), set aside as no user id (2) / no session id (1).
    - one exact duplicate of a page_view: set aside as a duplicate.
    """
    day = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    micros = lambda hours: int((day + timedelta(hours=hours)).timestamp() * 1_000_000)  # noqa: E731

    def row(user, session, name, hours, *, params=(), page="https://shop.example.com/", revenue=None,
            revenue_usd=None, transaction=None, first_touch=None, collected=None, last_click=None):  # fmt: skip
        when = datetime.fromtimestamp(micros(hours) / 1_000_000, UTC)
        event_params = [_param("page_location", string_value=page)]
        if session is not None:
            event_params.append(_param("ga_session_id", int_value=session))
        event_params += [_param(key, string_value=value) for key, value in params]
        source, medium, name_ = first_touch or (None, None, None)
        return {
            "event_date": f"{when:%Y%m%d}",
            "event_timestamp": micros(hours),
            "event_name": name,
            "event_params": event_params,
            "user_pseudo_id": user,
            "traffic_source": {"name": name_, "medium": medium, "source": source},
            "ecommerce": {
                "transaction_id": transaction,
                "purchase_revenue": revenue,
                "purchase_revenue_in_usd": revenue_usd,
            },
            "device": {"category": "desktop"},
            "geo": {"country": "Germany"},
            "collected_traffic_source": collected or _collected(),
            "session_traffic_source_last_click": last_click,
            "user_id": None,
        }

    email = _last_click("Email", "newsletter", "email")
    paid = _last_click("Paid Search", "google", "cpc", google_ads=("111", "Ads Brand"))
    organic = _last_click("Organic Search", "google", "organic")
    direct = _last_click("Direct", "(direct)", "(none)")
    page_view = row("u_ignored", 4001, "page_view", 5.5, params=[("source", "pay.example.net"),
                    ("medium", "referral"), ("ignore_referrer", "true")], last_click=direct)  # fmt: skip
    return [
        row(
            "u_manual",
            1001,
            "session_start",
            1.0,
            last_click=email,
            collected=_collected(manual_source="newsletter", manual_medium="email", manual_campaign_name="spring"),
        ),
        row(
            "u_manual", 1001, "purchase", 1.1, revenue=45.0, revenue_usd=50.0, transaction="T-manual", last_click=email
        ),
        row("u_gclid", 2001, "page_view", 2.0, collected=_collected(gclid="Cj0KCQ-test"), last_click=paid),
        row("u_gclid", 2001, "purchase", 2.1, revenue=80.0, revenue_usd=80.0, transaction="T-gclid", last_click=paid),
        row("u_selfref", 3001, "first_visit", 3.0, first_touch=("google", "organic", "(organic)"), last_click=organic),
        row("u_selfref", 3001, "page_view", 3.1, first_touch=("google", "organic", "(organic)"), last_click=organic),
        row(
            "u_selfref",
            3002,
            "page_view",
            27.0,
            params=[("source", "www.example.com"), ("medium", "referral")],
            first_touch=("google", "organic", "(organic)"),
            last_click=organic,
        ),
        row(
            "u_selfref",
            3002,
            "purchase",
            27.2,
            revenue=120.0,
            revenue_usd=120.0,
            transaction="T-selfref",
            first_touch=("google", "organic", "(organic)"),
            last_click=organic,
        ),
        page_view,
        dict(page_view),  # the export's exact duplicate
        row(
            "u_ignored",
            4001,
            "purchase",
            5.6,
            revenue=10.0,
            revenue_usd=10.0,
            transaction="T-ignored",
            last_click=direct,
        ),
        row(None, None, "purchase", 6.0, revenue=30.0, revenue_usd=30.0, transaction="T-consent-1"),
        row(None, None, "purchase", 6.0, revenue=20.0, revenue_usd=20.0, transaction="T-consent-2"),
        row("u_nosession", None, "purchase", 7.0, revenue=5.0, revenue_usd=5.0, transaction="T-nosession"),
    ]


def ga4_rows(n_events: int, *, seed: int, end: datetime) -> list[dict]:
    return [export_row(event) for event in generate_events(n_events, seed=seed, end=end)]


def insert_into_duckdb(warehouse: Path, rows: list[dict], scratch: Path, table: str = "raw.ga4_events") -> None:
    """Append rows to ``table`` of the embedded warehouse (``raw.ga4_events``, created by
    ``ensure_schema``; another table of the export's shape is created if it does not exist)."""
    ndjson = scratch / "ga4_rows.ndjson"
    ndjson.write_text("".join(json.dumps(row) + "\n" for row in rows))
    columns = "{" + ", ".join(f"'{name}': '{column_type(t, 'duckdb')}'" for name, t in SCHEMA) + "}"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create table if not exists {table} as select * from raw.ga4_events where false")
        con.execute(f"insert into {table} select * from read_json('{ndjson}', columns = {columns})")


def _literal(value, field_type) -> str:
    if isinstance(field_type, list):
        return "[" + ", ".join(_literal(item, field_type[0]) for item in value) + "]"
    if isinstance(field_type, tuple) and value is None:
        return f"cast(null as {column_type(field_type, 'bigquery')})"
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


def append_to_table_sql(table: str, rows: list[dict]) -> list[str]:
    """Statements that append ``rows`` to ``table`` (backquoted full name): through a table of their own,
    columns named, since the emulator reads ``select *`` (and a column list) in an insert as one column."""
    staging = table[:-1] + "_append`"
    columns = ", ".join(name for name, _ in SCHEMA)
    return [
        create_table_sql(staging, rows),
        f"insert into {table} select {columns} from {staging}",
        f"drop table {staging}",
    ]
