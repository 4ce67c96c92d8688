"""What the dashboard shows, read from the served marts: small frames, aggregated in the warehouse.

On DuckDB the served marts are the serving snapshot that the DAG's publish task replaces atomically
(never the warehouse file the pipeline writes); on BigQuery they are the mart tables themselves.
Every query here is plain SQL that both read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from attribution.settings import Settings
from attribution.warehouse import connect

TREND_DAYS = 14
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cells starting with these run as formulas when a downloaded CSV is opened in a spreadsheet."""


@dataclass(frozen=True)
class Filters:
    first_day: date
    last_day: date
    models: tuple[str, ...]
    channels: tuple[str, ...]


class DashboardData:
    def __init__(self, settings: Settings) -> None:
        self.warehouse = connect(settings)

    def _frame(self, sql: str) -> pd.DataFrame:
        return pd.DataFrame(self.warehouse.query_served(sql))

    def date_range(self) -> tuple[date, date] | None:
        [row] = self.warehouse.query_served(
            "select min(conversion_date) as first_day, max(conversion_date) as last_day from {mart_attribution_daily}"
        )
        if row["last_day"] is None:
            return None
        return row["first_day"], row["last_day"]

    def daily(self, filters: Filters) -> pd.DataFrame:
        """Attributed conversions and revenue per day, model and channel inside the filters."""
        frame = self._frame(
            "select conversion_date, attribution_model, channel_group, sum(conversions) as conversions,"
            " sum(revenue) as revenue from {mart_attribution_daily}"
            f" where conversion_date between date '{filters.first_day}' and date '{filters.last_day}'"
            " group by conversion_date, attribution_model, channel_group"
        )
        return _keep(frame, filters)

    def trend(self, filters: Filters) -> pd.DataFrame:
        """The last TREND_DAYS days up to the newest data in the filters (the GA4 sample ends in 2021)."""
        daily = self.daily(filters)
        if daily.empty:
            return daily
        end = daily["conversion_date"].max()
        recent = daily[daily["conversion_date"] > end - timedelta(days=TREND_DAYS)]
        return recent.groupby(["conversion_date", "attribution_model"], as_index=False)[
            ["conversions", "revenue"]
        ].sum()

    def by_channel(self, filters: Filters) -> pd.DataFrame:
        """Every model side by side per channel."""
        daily = self.daily(filters)
        return daily.groupby(["channel_group", "attribution_model"], as_index=False)[["conversions", "revenue"]].sum()

    def by_campaign(self, filters: Filters) -> pd.DataFrame:
        frame = self._frame(
            "select attribution_model, channel_group, source, medium, campaign, sum(credit) as conversions,"
            " sum(attributed_revenue) as revenue from {mart_attribution_credits}"
            f" where conversion_date between date '{filters.first_day}' and date '{filters.last_day}'"
            " group by attribution_model, channel_group, source, medium, campaign"
        )
        return _keep(frame, filters).sort_values("revenue", ascending=False, ignore_index=True)

    def click_totals(self, filters: Filters) -> dict[str, tuple[float, float]]:
        """(conversions, revenue) of first_click and last_click inside the filters."""
        daily = self.daily(
            Filters(filters.first_day, filters.last_day, ("first_click", "last_click"), filters.channels)
        )
        totals = daily.groupby("attribution_model")[["conversions", "revenue"]].sum()
        return {
            model: (float(totals.loc[model, "conversions"]), float(totals.loc[model, "revenue"]))
            if model in totals.index else (0.0, 0.0)
            for model in ("first_click", "last_click")
        }  # fmt: skip

    def live_events(self, limit: int = 50) -> pd.DataFrame:
        return self._frame(
            "select event_at, event_name, user_pseudo_id, source, medium, campaign, purchase_revenue, country,"
            " device_category, page_location from {mart_live_events}"
            f" order by event_timestamp desc limit {int(limit)}"
        )

    def health(self) -> dict:
        """Freshness and pipeline health: last load, newest event, quarantined rows, when the marts were served."""
        [ledger] = self.warehouse.query_served(
            "select max(loaded_at) as last_load, count(*) as files, sum(rows_quarantined) as quarantined,"
            " sum(case when status = 'rejected' then 1 else 0 end) as rejected_files from {load_ledger}"
        )
        [events] = self.warehouse.query_served("select max(event_at) as newest_event from {mart_live_events}")
        return {**ledger, **events, "served_at": self.warehouse.served_at()}


def _keep(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    if frame.empty:
        return frame
    keep = frame["attribution_model"].isin(filters.models)
    if filters.channels:
        keep &= frame["channel_group"].isin(filters.channels)
    return frame[keep].reset_index(drop=True)


def inert(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy safe to open in a spreadsheet: text that would run as a formula gets a leading quote."""
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
            )
    return safe


def lag(newest: datetime | None, now: datetime) -> timedelta | None:
    return None if newest is None else now - newest
