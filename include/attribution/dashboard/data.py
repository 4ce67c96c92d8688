"""What the dashboard shows, read from the served marts: small frames, aggregated in the warehouse.

On DuckDB the served marts are the serving snapshot that the DAG's publish task replaces atomically
(never the warehouse file the pipeline writes); on BigQuery they are the mart tables themselves.
Every query here is plain SQL that both read the same way. A page render reads the daily mart's rows
once (``daily``); the trend, the channel comparison and the first/last-click totals are views of it
(``unattributed`` adds one row of totals over every channel). GA4 placeholder values that can still
reach the marts are labelled from the dbt seed that documents them.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from attribution.settings import DBT_PROJECT_DIR, Settings
from attribution.warehouse import connect

MODELS = ("first_click", "last_click", "last_non_direct_click", "linear", "position_based", "time_decay", "data_driven")
TRUSTED_CONVERSIONS = 100
"""Below this many conversions with a path, the data-driven page warns (README: data-driven attribution)."""
TREND_DAYS = 14
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cells starting with these run as formulas when a downloaded CSV is opened in a spreadsheet."""
FILTER_VALUE = re.compile(r"[A-Za-z0-9 _&/().-]{1,64}")
"""Model and channel-group names; anything else never reaches SQL (no quoting rule fits both dialects)."""
PLACEHOLDERS_CSV = DBT_PROJECT_DIR / "seeds" / "ga4_placeholders.csv"
"""The one documented table of GA4 placeholder values (placeholder, field, treated_as, meaning)."""
PLACEHOLDER_SUFFIX = " — placeholder"
LABELLED_COLUMNS = ("channel_group", "source", "medium", "campaign")
"""Traffic-source columns whose placeholder values are labelled (``ga4_``-prefixed twins too)."""
UNATTRIBUTED = "(unattributed)"
"""The channel group of a conversion no session can be credited with (the same under every model)."""


@dataclass(frozen=True)
class Filters:
    first_day: date
    last_day: date
    models: tuple[str, ...] = MODELS
    channels: tuple[str, ...] = ()  # empty: every channel


class DashboardData:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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

    def channels(self) -> list[str]:
        rows = self.warehouse.query_served(
            "select distinct channel_group from {mart_attribution_daily} order by channel_group"
        )
        return [row["channel_group"] for row in rows]

    def daily(self, filters: Filters) -> pd.DataFrame:
        """Attributed conversions and revenue per day, model and channel: every model, the filters' days
        and channels (first/last-click totals stay visible whatever models are picked)."""
        return self._frame(
            "select conversion_date, attribution_model, channel_group, sum(conversions) as conversions,"
            " sum(revenue) as revenue from {mart_attribution_daily}"
            f" where {_where(filters, models=False)}"
            " group by conversion_date, attribution_model, channel_group"
        )

    def provisional_days(self, filters: Filters) -> list[date]:
        """The filters' days with conversions resting on GA4's streaming export (intraday tables), which
        can still move until the day's daily table replaces them."""
        every_channel = replace(filters, channels=())
        rows = self.warehouse.query_served(
            "select conversion_date from {mart_attribution_daily}"
            f" where {_where(every_channel, models=False)}"
            " group by conversion_date having sum(provisional_conversions) > 0 order by conversion_date"
        )
        return [row["conversion_date"] for row in rows]

    def performance(self, filters: Filters, by_campaign: bool = False) -> pd.DataFrame:
        """Spend, clicks, attributed conversions and revenue per model and channel (and campaign) in the
        filters' days (mart_channel_performance: spend on its day, conversions on theirs)."""
        keys = "attribution_model, channel_group" + (", source, medium, campaign" if by_campaign else "")
        return self._frame(
            f"select {keys}, sum(spend) as spend, sum(clicks) as clicks, sum(conversions) as conversions,"
            " sum(revenue) as revenue from {mart_channel_performance}"
            f" where {_where(filters, day='performance_date')} group by {keys}"
        )

    def unmatched_spend(self, filters: Filters) -> pd.DataFrame:
        """Spend in the filters' days that no session carries, per key and reason, largest first
        (every channel: unmatched spend has no session, so no channel group of its own)."""
        return self._frame(
            "select source, medium, campaign, reason, sum(spend) as spend, count(*) as days"
            f" from {{mart_unmatched_spend}} where {_days(filters, 'spend_date')}"
            " group by source, medium, campaign, reason order by spend desc, source, medium, campaign"
        )

    def unattributed(self, filters: Filters) -> dict[str, float]:
        """Conversions and revenue in the filters' days (every channel) and how much is ``(unattributed)``.

        An unattributed conversion is unattributed under every model, so one model's rows tell it all.
        """
        every_channel = replace(filters, models=("first_click",), channels=())
        [row] = self.warehouse.query_served(
            "select sum(conversions) as conversions, sum(revenue) as revenue,"
            f" sum(case when channel_group = '{UNATTRIBUTED}' then conversions else 0 end) as unattributed_conversions,"
            f" sum(case when channel_group = '{UNATTRIBUTED}' then revenue else 0 end) as unattributed_revenue"
            f" from {{mart_attribution_daily}} where {_where(every_channel)}"
        )
        return {key: float(value or 0) for key, value in row.items()}

    def ga4_agreement(self, filters: Filters) -> dict[str, int]:
        """Sessions of the filters' days that carry GA4's own attribution, and how many of them agree with ours."""
        [row] = self.warehouse.query_served(
            "select count(*) as sessions, sum(case when agrees then 1 else 0 end) as agreeing"
            f" from {{mart_ga4_session_comparison}} where {_session_days(filters)}"
        )
        return {key: int(value or 0) for key, value in row.items()}

    def ga4_disagreements(self, filters: Filters, limit: int = 10) -> pd.DataFrame:
        """The largest disagreements with GA4's own session attribution: channel pairs and reason, by sessions."""
        return self._frame(
            "select channel_group, ga4_channel_group, reason, count(*) as sessions"
            f" from {{mart_ga4_session_comparison}} where not agrees and {_session_days(filters)}"
            " group by channel_group, ga4_channel_group, reason"
            f" order by sessions desc, channel_group, ga4_channel_group, reason limit {int(limit)}"
        )

    def removal_effects(self) -> pd.DataFrame:
        """The data-driven model per channel group, over the whole history (not the filters' days): the
        removal effects are estimated from every path at once. Largest share first; (unattributed) last."""
        return self._frame(
            "select channel_group, removal_effect, share, conversions, revenue, paths, converting_paths,"
            " pooled_channel_groups from {mart_channel_removal_effects}"
            " order by case when removal_effect is null then 1 else 0 end, share desc, channel_group"
        )

    def top_paths(self, limit: int = 10) -> pd.DataFrame:
        """The paths with most conversions over the whole history (mart_path_summary), with the journeys
        that followed them without converting and the conversion rate."""
        return self._frame(
            "select path, conversions, revenue, non_converting_journeys, conversion_rate, average_touchpoints,"
            " average_days_to_conversion from {mart_path_summary}"
            f" where conversions > 0 order by conversions desc, revenue desc, path limit {int(limit)}"
        )

    def path_lengths(self, filters: Filters) -> pd.DataFrame:
        """Conversions of the filters' days by touchpoints and by days to conversion (every channel: a path
        spans several), unattributed conversions left out (no path)."""
        return self._frame(
            "select touchpoints, days_to_conversion, count(*) as conversions from {mart_conversion_paths}"
            f" where touchpoints > 0 and {_days(filters, 'conversion_date')}"
            " group by touchpoints, days_to_conversion"
        )

    def stitched_conversions(self, filters: Filters) -> tuple[int, int, int]:
        """(conversions of the filters' days, those with touchpoints on another device of the same user,
        those whose first-click channel changes): what the blended reporting identity moved to a
        person's journey (docs/identity.md)."""
        [row] = self.warehouse.query_served(
            "select count(*) as conversions,"
            " coalesce(sum(case when other_device_touchpoints > 0 then 1 else 0 end), 0) as stitched,"
            " coalesce(sum(case when first_channel_group <> device_first_channel_group then 1 else 0 end), 0)"
            f" as first_click_moved from {{mart_conversion_paths}} where {_days(filters, 'conversion_date')}"
        )
        return int(row["conversions"]), int(row["stitched"]), int(row["first_click_moved"])

    def path_positions(self, filters: Filters) -> pd.DataFrame:
        """Per channel, its touchpoints early, in the middle and late in the paths of the filters' days."""
        every_model = replace(filters, models=())
        return self._frame(
            "select channel_group, sum(early_touchpoints) as early, sum(middle_touchpoints) as middle,"
            " sum(late_touchpoints) as late from {mart_path_positions}"
            f" where {_where(every_model, models=False)} group by channel_group"
        )

    def live_events(self, limit: int = 50) -> pd.DataFrame:
        return self._frame(
            "select event_at, event_name, user_pseudo_id, source, medium, campaign, purchase_revenue, country,"
            " device_category, page_location from {mart_live_events}"
            f" order by event_timestamp desc limit {int(limit)}"
        )

    def health(self) -> dict:
        """Freshness and pipeline health: last load, newest streamed event, the GA4 export's newest day,
        quarantined rows, export rows set aside (``set_aside``: per reason, events, conversions and
        revenue), unmatched spend (keys and amount, all days), when the marts were served."""
        [ledger] = self.warehouse.query_served(
            "select max(loaded_at) as last_load, count(*) as files, sum(rows_quarantined) as quarantined,"
            " sum(case when status = 'rejected' then 1 else 0 end) as rejected_files from {load_ledger}"
        )
        [events] = self.warehouse.query_served("select max(event_at) as newest_event from {mart_live_events}")
        [export] = self.warehouse.query_served(
            "select max(newest_export_day) as export_day from {mart_ga4_export_freshness}"
        )
        [unmatched] = self.warehouse.query_served(
            "select count(distinct concat(source, '|', medium, '|', campaign)) as unmatched_keys,"
            " sum(spend) as unmatched_spend from {mart_unmatched_spend}"
        )
        set_aside = self.warehouse.query_served(
            "select reason, sum(events) as events, sum(conversions) as conversions, sum(revenue) as revenue"
            " from {mart_set_aside_events} group by reason order by events desc, reason"
        )
        return {
            **ledger,
            **events,
            **export,
            **unmatched,
            "set_aside": set_aside,
            "served_at": self.warehouse.served_at(),
        }


def _in(column: str, values: Iterable[str]) -> str:
    values = list(values)
    for value in values:
        if not FILTER_VALUE.fullmatch(value):
            raise ValueError(f"not a model or channel name: {value!r}")
    return f"{column} in ({', '.join(repr(v) for v in values)})" if values else "false"


def _days(filters: Filters, column: str) -> str:
    return f"{column} between date '{filters.first_day:%Y-%m-%d}' and date '{filters.last_day:%Y-%m-%d}'"


def _where(filters: Filters, models: bool = True, day: str = "conversion_date") -> str:
    conditions = [_days(filters, day)]
    if models:
        conditions.append(_in("attribution_model", filters.models))
    if filters.channels:
        conditions.append(_in("channel_group", filters.channels))
    return " and ".join(conditions)


def _session_days(filters: Filters) -> str:
    return _days(filters, "session_date")


def _of_models(daily: pd.DataFrame, models: Iterable[str]) -> pd.DataFrame:
    """``daily``'s rows of ``models`` (an empty read has no columns to filter on)."""
    return daily[daily["attribution_model"].isin(list(models))] if not daily.empty else daily


def trend(daily: pd.DataFrame, models: Iterable[str]) -> pd.DataFrame:
    """The last TREND_DAYS days up to the newest day in ``daily`` (the GA4 sample ends in 2021), per model
    and channel. A model's daily total is every model's (each conversion counts once under each), so what
    the models change is how a day splits over the channels."""
    columns = ["conversion_date", "attribution_model", "channel_group", "conversions", "revenue"]
    daily = _of_models(daily, models)
    if daily.empty:
        return pd.DataFrame(columns=columns)
    end = daily["conversion_date"].max()
    recent = daily[daily["conversion_date"] > end - timedelta(days=TREND_DAYS)]
    return recent.groupby(columns[:3], as_index=False)[columns[3:]].sum()


def by_channel(daily: pd.DataFrame, models: Iterable[str]) -> pd.DataFrame:
    """Every picked model side by side per channel."""
    daily = _of_models(daily, models)
    if daily.empty:
        return pd.DataFrame(columns=["channel_group", "attribution_model", "conversions", "revenue"])
    return daily.groupby(["channel_group", "attribution_model"], as_index=False)[["conversions", "revenue"]].sum()


def click_totals(daily: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(conversions, revenue) of first_click and last_click in ``daily``."""
    totals = daily.groupby("attribution_model")[["conversions", "revenue"]].sum() if not daily.empty else None
    return {
        model: (float(totals.loc[model, "conversions"]), float(totals.loc[model, "revenue"]))
        if totals is not None and model in totals.index else (0.0, 0.0)
        for model in ("first_click", "last_click")
    }  # fmt: skip


def first_vs_last(daily: pd.DataFrame) -> pd.DataFrame:
    """Per channel: first- and last-click conversions and revenue, and the revenue last click moves."""
    columns = ["channel_group", "first_click_conversions", "last_click_conversions",
               "first_click_revenue", "last_click_revenue", "revenue_shift"]  # fmt: skip
    clicks = _of_models(daily, ("first_click", "last_click"))
    if clicks.empty:
        return pd.DataFrame(columns=columns)
    wide = clicks.pivot_table(
        index="channel_group", columns="attribution_model", values=["conversions", "revenue"], aggfunc="sum"
    ).fillna(0)
    wide.columns = [f"{model}_{measure}" for measure, model in wide.columns]
    wide = wide.reindex(columns=columns[1:5], fill_value=0).reset_index()
    wide["revenue_shift"] = wide["last_click_revenue"] - wide["first_click_revenue"]
    return wide[columns].sort_values("last_click_revenue", ascending=False, ignore_index=True)


def ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``roas`` (revenue / spend) and ``cpa`` (spend / conversions) of its sums: NaN where
    undefined (no spend, no conversions), never a division error."""
    shown = frame.copy()
    spend = shown["spend"].astype(float)
    shown["roas"] = shown["revenue"].astype(float) / spend.where(spend > 0)
    conversions = shown["conversions"].astype(float)
    shown["cpa"] = spend / conversions.where(conversions > 0)
    return shown


def paid_totals(performance: pd.DataFrame) -> pd.DataFrame:
    """Per model (the index): spend, conversions, revenue, ROAS and CPA of the channels with spend in
    ``performance`` (over every channel, ROAS would be total revenue ÷ spend, the same under each model)."""
    if performance.empty:
        return pd.DataFrame(columns=["spend", "conversions", "revenue", "roas", "cpa"])
    spend = performance.groupby("channel_group")["spend"].sum()
    paid = performance[performance["channel_group"].isin(spend[spend > 0].index)]
    return ratios(paid.groupby("attribution_model")[["spend", "conversions", "revenue"]].sum())


def side_by_side(performance: pd.DataFrame, models: Iterable[str], keys: list[str]) -> pd.DataFrame:
    """One row per ``keys`` (a channel, or a campaign) with its spend and, per picked model, conversions,
    revenue, ROAS and CPA in columns named ``<model> <measure>``; most spend first, then most revenue."""
    picked = [m for m in MODELS if m in set(models)]
    performance = _of_models(performance, picked)
    if performance.empty:
        return pd.DataFrame(columns=[*keys, "spend"])
    # Every model carries the same spend: read it from one.
    spend = performance[performance["attribution_model"] == picked[0]].groupby(keys, dropna=False)["spend"].sum()
    wide = pd.DataFrame(spend).reset_index()
    for model in picked:
        measures = performance[performance["attribution_model"] == model].groupby(keys, dropna=False)
        one = ratios(measures[["spend", "conversions", "revenue"]].sum().reset_index())
        one = one.rename(columns={m: f"{model} {m}" for m in ("conversions", "revenue", "roas", "cpa")})
        wide = wide.merge(one.drop(columns="spend"), on=keys, how="outer")
    wide = wide.fillna({c: 0 for c in wide.columns if c.endswith((" conversions", " revenue")) or c == "spend"})
    return wide.sort_values(["spend", f"{picked[0]} revenue"], ascending=False, ignore_index=True)


def roas_by_model(performance: pd.DataFrame, models: Iterable[str]) -> pd.DataFrame:
    """ROAS per channel with spend under each picked model (long: channel_group, attribution_model, roas):
    the budget question, which channel looks better or worse depending on the model."""
    columns = ["channel_group", "attribution_model", "spend", "conversions", "revenue", "roas", "cpa"]
    performance = _of_models(performance, models)
    if performance.empty:
        return pd.DataFrame(columns=columns)
    sums = performance.groupby(["channel_group", "attribution_model"], as_index=False)[
        ["spend", "conversions", "revenue"]
    ].sum()
    return ratios(sums[sums["spend"] > 0])[columns].reset_index(drop=True)


def position_shares(positions: pd.DataFrame) -> pd.DataFrame:
    """Long: per channel and position (early, middle, late), its touchpoints and their share of the
    channel's touchpoints; channels that close most first."""
    columns = ["channel_group", "position", "touchpoints", "share"]
    if positions.empty:
        return pd.DataFrame(columns=columns)
    long = positions.melt(id_vars="channel_group", var_name="position", value_name="touchpoints")
    long["touchpoints"] = long["touchpoints"].astype(float)
    long["share"] = long["touchpoints"] / long.groupby("channel_group")["touchpoints"].transform("sum")
    closing = long[long["position"] == "late"].set_index("channel_group")["share"]
    order = {channel: rank for rank, channel in enumerate(closing.sort_values(ascending=False).index)}
    long["rank"] = long["channel_group"].map(order)
    return long.sort_values(["rank", "position"]).drop(columns="rank")[columns].reset_index(drop=True)


@dataclass(frozen=True)
class Placeholder:
    value: str
    field: str
    """The column it can appear in (``source``, ``medium``, ``campaign``) or ``any``."""
    meaning: str


@functools.cache
def placeholders(path: Path = PLACEHOLDERS_CSV) -> tuple[Placeholder, ...]:
    """The GA4 placeholders, from the dbt seed: the kept ones appear in the marts as GA4 wrote them, and
    the marts write the absent ones themselves for "none" (a campaign `(not set)`, a `(direct)` session)."""
    with path.open(newline="", encoding="utf-8") as seed:
        return tuple(Placeholder(row["placeholder"], row["field"], row["meaning"]) for row in csv.DictReader(seed))


def _placeholders_of(column: str, path: Path) -> dict[str, str]:
    """Placeholder value → meaning for a traffic-source column (``ga4_source`` reads like ``source``)."""
    field = column.removeprefix("ga4_")
    return {p.value: p.meaning for p in placeholders(path) if p.field in ("any", field)}


def labelled(frame: pd.DataFrame, path: Path = PLACEHOLDERS_CSV) -> pd.DataFrame:
    """A copy for display: a placeholder in a channel, source, medium or campaign column reads
    ``(data deleted) — placeholder``, never as if it were a real source."""
    shown = frame.copy()
    for column in shown.columns:
        if column.removeprefix("ga4_") in LABELLED_COLUMNS:
            values = _placeholders_of(column, path)
            shown[column] = shown[column].map(lambda v, values=values: f"{v}{PLACEHOLDER_SUFFIX}" if v in values else v)
    return shown


def placeholder_notes(frame: pd.DataFrame, path: Path = PLACEHOLDERS_CSV) -> dict[str, str]:
    """Placeholder → meaning, for the placeholders that appear in ``frame``'s traffic-source columns."""
    notes = {}
    for column in frame.columns:
        if column.removeprefix("ga4_") in LABELLED_COLUMNS:
            values = _placeholders_of(column, path)
            notes |= {value: values[value] for value in frame[column].dropna().unique() if value in values}
    return notes


def label_value(value: str, column: str = "channel_group", path: Path = PLACEHOLDERS_CSV) -> str:
    """One value as ``labelled`` shows it (for widgets whose options keep the raw value)."""
    return f"{value}{PLACEHOLDER_SUFFIX}" if value in _placeholders_of(column, path) else value


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
