"""A day of GA4's streaming export and the daily table that replaces it, as export rows.

The intraday table arrives in three appends; the daily table then holds every intraday event but
three (user C's purchase, and user E's whole session and purchase: streaming is best effort the
other way too, so the daily table is the record), holds one journey the stream never had (user F),
and fills user A's first-touch ``traffic_source`` on ``first_visit``, which intraday rows lack.

Expected, checked by the tests:
- after each append, its purchases are served, provisional; T-A (user A's first session, no source
  yet) is Direct under every model;
- after the handover: T-C and T-E are gone, T-F is there, T-A is Email (the first-visit rule, from
  the daily table's ``traffic_source``), nothing is provisional, and the marts equal a full refresh.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from ga4_fixture import _collected, _param

DAY = datetime(2026, 11, 21, tzinfo=UTC)
"""The export day being streamed (the property's time zone is UTC here): after every day of the
BigQuery session's history (tests/bigquery_pipeline.py), whose daily data would otherwise be the record."""
EXPORT_DAY = f"{DAY:%Y%m%d}"
PURCHASES = {"T-A": 30.0, "T-B": 50.0, "T-C": 40.0, "T-E": 25.0, "T-F": 70.0}
ONLY_INTRADAY = ("T-C", "T-E")
ONLY_DAILY = ("T-F",)


def _row(
    user: str,
    session: int,
    name: str,
    hours: float,
    *,
    source=None,
    medium=None,
    campaign=None,
    transaction=None,
    first_touch=None,
) -> dict:
    at = int((DAY + timedelta(hours=hours)).timestamp() * 1_000_000)
    revenue = PURCHASES.get(transaction)
    return {
        "event_date": EXPORT_DAY,
        "event_timestamp": at,
        "event_name": name,
        "event_params": [
            _param("ga_session_id", int_value=session),
            _param("page_location", string_value="https://shop.example.com/"),
        ],
        "user_pseudo_id": user,
        "traffic_source": dict(zip(("source", "medium", "name"), first_touch or (None, None, None), strict=True)),
        "ecommerce": {"transaction_id": transaction, "purchase_revenue": revenue, "purchase_revenue_in_usd": revenue},
        "device": {"category": "mobile"},
        "geo": {"country": "Spain"},
        "collected_traffic_source": _collected(
            manual_source=source, manual_medium=medium, manual_campaign_name=campaign
        ),
        "session_traffic_source_last_click": None,
        "user_id": None,
    }


def intraday_appends() -> list[list[dict]]:
    """The intraday table's rows, in the three appends the stream writes them in."""
    return [
        [
            _row("user-a", 101, "first_visit", 1.0),  # the stream has no first-touch source for a new user
            _row("user-a", 101, "page_view", 1.1),
            _row("user-b", 201, "session_start", 1.5, source="google", medium="cpc", campaign="brand"),
            _row("user-b", 201, "purchase", 1.6, transaction="T-B"),
        ],
        [
            _row("user-c", 301, "session_start", 2.0, source="bing", medium="cpc", campaign="generic"),
            _row("user-c", 301, "purchase", 2.1, transaction="T-C"),
            _row("user-e", 501, "page_view", 2.5, source="facebook", medium="social"),
            _row("user-e", 501, "purchase", 2.6, transaction="T-E"),
        ],
        [
            _row("user-a", 101, "purchase", 3.0, transaction="T-A"),
        ],
    ]


def daily_rows() -> list[dict]:
    """The day's daily table: the record that replaces the intraday rows."""
    rows = []
    for row in (row for append in intraday_appends() for row in append):
        if row["ecommerce"]["transaction_id"] in ONLY_INTRADAY or row["user_pseudo_id"] == "user-e":
            continue
        row = copy.deepcopy(row)
        if row["event_name"] == "first_visit":
            row["traffic_source"] = {"source": "newsletter", "medium": "email", "name": "november"}
        rows.append(row)
    rows += [
        _row("user-f", 601, "session_start", 4.0, source="duckduckgo", medium="organic"),
        _row("user-f", 601, "purchase", 4.1, transaction="T-F"),
    ]
    return rows
