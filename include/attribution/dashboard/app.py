"""The live attribution dashboard: `make dashboard` serves it on http://127.0.0.1:8501.

First vs last click, every attribution model side by side by channel, the daily trend, campaigns,
and a live panel of streamed events that refreshes by itself. Reads only the served marts
(attribution.dashboard.data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import altair as alt
import streamlit as st

from attribution.dashboard.data import (
    MODELS,
    DashboardData,
    Filters,
    by_channel,
    click_totals,
    first_vs_last,
    inert,
    lag,
    trend,
)
from attribution.settings import Settings, load_settings

LIVE_REFRESH = timedelta(seconds=10)


@st.cache_resource
def _data(settings: Settings) -> DashboardData:
    return DashboardData(settings)


def _download(label: str, frame, name: str) -> None:
    st.download_button(label, inert(frame).to_csv(index=False).encode(), file_name=name, mime="text/csv", key=name)


def _ago(moment: datetime | None, now: datetime, missing: str) -> str:
    behind = lag(moment, now)
    if behind is None:
        return missing
    minutes = max(behind.total_seconds(), 0) / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def _health(data: DashboardData) -> None:
    health = data.health()
    now = datetime.now(UTC).replace(tzinfo=None)
    cols = st.columns(4)
    cols[0].metric("Last load", _ago(health["last_load"], now, "never"),
                   help=f"{health['last_load']:%Y-%m-%d %H:%M:%S} UTC" if health["last_load"] else None)  # fmt: skip
    cols[1].metric("Newest event", _ago(health["newest_event"], now, "none"),
                   help="Data freshness: how far the newest streamed event lags behind now")  # fmt: skip
    cols[2].metric("Quarantined rows", f"{int(health['quarantined'] or 0):,}",
                   help=f"{int(health['rejected_files'] or 0)} of {health['files']} files rejected whole")  # fmt: skip
    served = health["served_at"]
    cols[3].metric("Marts served", f"{served:%H:%M:%S} UTC" if served else "not yet")


def main() -> None:
    st.set_page_config(page_title="Attribution", layout="wide")
    st.title("Marketing attribution")
    data = _data(load_settings())
    if data.warehouse.served_at() is None:
        st.info("Nothing served yet: the first DAG run publishes the marts (`make demo` starts the pipeline).")
        return
    days = data.date_range()
    if days is None:
        st.info("No conversions yet: the marts are served but hold no conversion.")
        _live(data)
        return

    with st.sidebar:
        st.header("Filters")
        first_day, last_day = days
        default_start = max(first_day, last_day - timedelta(days=29))
        picked = st.date_input("Conversion dates", (default_start, last_day), min_value=first_day, max_value=last_day)
        start, end = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (default_start, last_day)
        models = st.multiselect("Attribution models", MODELS, default=MODELS)
        channels = st.multiselect("Channels", data.channels())
    filters = Filters(start, end, tuple(models), tuple(channels))

    _health(data)

    daily = data.daily(filters)  # the one read of the daily mart per render
    totals = click_totals(daily)
    st.subheader("First click vs last click")
    cols = st.columns(4)
    (first_n, first_revenue), (last_n, last_revenue) = totals["first_click"], totals["last_click"]
    cols[0].metric("First-click conversions", f"{first_n:,.0f}")
    cols[1].metric("First-click revenue", f"${first_revenue:,.2f}")
    cols[2].metric("Last-click conversions", f"{last_n:,.0f}")
    cols[3].metric("Last-click revenue", f"${last_revenue:,.2f}")
    st.caption("Each conversion counts once under every model; the models differ in which channel gets it.")
    shift = first_vs_last(daily)
    if not shift.empty:
        st.dataframe(
            shift,
            hide_index=True,
            width="stretch",
            column_config={
                "channel_group": "Channel",
                "first_click_conversions": st.column_config.NumberColumn("First-click conversions", format="%.0f"),
                "last_click_conversions": st.column_config.NumberColumn("Last-click conversions", format="%.0f"),
                "first_click_revenue": st.column_config.NumberColumn("First-click revenue", format="dollar"),
                "last_click_revenue": st.column_config.NumberColumn("Last-click revenue", format="dollar"),
                "revenue_shift": st.column_config.NumberColumn("Last − first", format="dollar"),
            },
        )
        _download("Download first vs last click (CSV)", shift, "first_vs_last_click.csv")

    channel_view = by_channel(daily, filters.models)
    st.subheader("Every model, by channel")
    if channel_view.empty:
        st.info("Nothing in these filters.")
    else:
        chart = (
            alt.Chart(channel_view)
            .mark_bar()
            .encode(
                x=alt.X("revenue:Q", title="Attributed revenue (USD)"),
                y=alt.Y("channel_group:N", title=None, sort="-x"),
                yOffset="attribution_model:N",
                color=alt.Color("attribution_model:N", title="Model", sort=list(MODELS)),
                tooltip=[
                    "channel_group",
                    "attribution_model",
                    alt.Tooltip("conversions:Q", format=",.2f"),
                    alt.Tooltip("revenue:Q", format="$,.2f"),
                ],
            )
        )
        st.altair_chart(chart, width="stretch")
        _download("Download by channel (CSV)", channel_view, "attribution_by_channel.csv")

    trend_view = trend(daily, filters.models)
    st.subheader("Daily trend (last 14 days of data)")
    if not trend_view.empty:
        line = (
            alt.Chart(trend_view)
            .mark_line(point=True)
            .encode(
                x=alt.X("conversion_date:T", title=None),
                y=alt.Y("revenue:Q", title="Attributed revenue (USD)"),
                color=alt.Color("attribution_model:N", title="Model", sort=list(MODELS)),
                tooltip=["conversion_date:T", "attribution_model", alt.Tooltip("revenue:Q", format="$,.2f")],
            )
        )
        st.altair_chart(line, width="stretch")
        _download("Download trend (CSV)", trend_view, "attribution_trend.csv")

    st.subheader("Campaigns")
    campaigns = data.by_campaign(filters)
    st.dataframe(campaigns, hide_index=True, width="stretch")
    _download("Download campaigns (CSV)", campaigns, "attribution_campaigns.csv")

    _live(data)


@st.fragment(run_every=LIVE_REFRESH)
def _live(data: DashboardData) -> None:
    st.subheader("Live events")
    st.caption(f"The most recent streamed events; refreshes every {LIVE_REFRESH.seconds} s.")
    st.dataframe(data.live_events(), hide_index=True, width="stretch")


main()
