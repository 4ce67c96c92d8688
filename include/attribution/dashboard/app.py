"""The live attribution dashboard: `make dashboard` serves it on http://127.0.0.1:8501.

Spend, ROAS and CPA per channel under each model (and the spend no traffic carries), first vs last
click and the (unattributed) share, every attribution model side by side by channel,
the data-driven model's removal effects, the daily trend of each model's channels, campaigns, GA4's
own attribution beside ours, and a live panel of streamed events that refreshes by itself. GA4
placeholders (``(data deleted)``, ``<Other>``, …) are labelled wherever a channel, source, medium or
campaign is shown. Reads only the served marts (attribution.dashboard.data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from attribution.dashboard.data import (
    MODELS,
    TRUSTED_CONVERSIONS,
    DashboardData,
    Filters,
    by_channel,
    click_totals,
    first_vs_last,
    inert,
    label_value,
    labelled,
    lag,
    paid_totals,
    placeholder_notes,
    position_shares,
    roas_by_model,
    side_by_side,
    trend,
)
from attribution.settings import Settings, load_settings

LIVE_REFRESH = timedelta(seconds=10)


@st.cache_resource
def _data(settings: Settings) -> DashboardData:
    return DashboardData(settings)


def _download(label: str, frame, name: str) -> None:
    st.download_button(label, inert(frame).to_csv(index=False).encode(), file_name=name, mime="text/csv", key=name)


def _placeholder_note(*frames) -> None:
    """One caption saying what the placeholders among ``frames``' channels and sources stand for."""
    notes = {}
    for frame in frames:
        notes |= placeholder_notes(frame)
    if notes:
        st.caption("Placeholders: " + "; ".join(f"`{value}` — {meaning}" for value, meaning in sorted(notes.items())))


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _ago(moment: datetime | None, now: datetime, missing: str) -> str:
    behind = lag(moment, now)
    if behind is None:
        return missing
    minutes = max(behind.total_seconds(), 0) / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def _health(data: DashboardData) -> None:
    health = data.health()
    now = datetime.now(UTC).replace(tzinfo=None)
    cols = st.columns(4)  # freshness
    cols[0].metric("Last file loaded", _ago(health["last_load"], now, "never"),
                   help=f"{health['last_load']:%Y-%m-%d %H:%M:%S} UTC" if health["last_load"] else
                   "No CSV batch or cost file landed yet")  # fmt: skip
    cols[1].metric("Newest streamed event", _ago(health["newest_event"], now, "none"),
                   help="Freshness of the stream (CSV batches): how far its newest event lags behind now")  # fmt: skip
    export_day = health["export_day"]
    cols[2].metric("GA4 export's newest day",
                   f"{export_day[:4]}-{export_day[4:6]}-{export_day[6:]}" if export_day else "none",
                   help="The newest day of the GA4 export the warehouse reads (the property's time zone)")  # fmt: skip
    served = health["served_at"]
    cols[3].metric("Marts served", f"{served:%H:%M:%S} UTC" if served else "not yet")
    cols = st.columns(4)  # what was kept out, and why
    cols[0].metric("Quarantined rows", f"{int(health['quarantined'] or 0):,}",
                   help=f"{int(health['rejected_files'] or 0)} of {health['files']} files rejected whole")  # fmt: skip
    set_aside = health["set_aside"]
    cols[1].metric("Rows set aside", f"{sum(int(r['events'] or 0) for r in set_aside):,}",
                   help="Events that cannot be session events; their conversions still count")  # fmt: skip
    cols[2].metric("Unmatched spend (all days)", f"${float(health['unmatched_spend'] or 0):,.2f}",
                   help=f"{_count(int(health['unmatched_keys'] or 0), 'source / medium / campaign')} with spend"
                   " that no session carries: no model can credit it")  # fmt: skip
    if set_aside:
        st.caption(
            "Set aside, by reason: "
            + " · ".join(
                f"{r['reason']}: {int(r['events'] or 0):,} events"
                f" ({_count(int(r['conversions'] or 0), 'conversion')}, ${float(r['revenue'] or 0):,.2f})"
                for r in set_aside
            )
            + ". Their conversions still count: as (unattributed), or through the user's other sessions."
        )


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
        channels = st.multiselect("Channels", data.channels(), format_func=label_value)
    filters = Filters(start, end, tuple(models), tuple(channels))

    _health(data)
    _provisional(data, filters)
    _spend(data, filters)

    daily = data.daily(filters)  # the one read of the daily mart's rows per render
    totals = click_totals(daily)
    st.subheader("First click vs last click")
    cols = st.columns(4)
    (first_n, first_revenue), (last_n, last_revenue) = totals["first_click"], totals["last_click"]
    cols[0].metric("First-click conversions", f"{first_n:,.0f}")
    cols[1].metric("First-click revenue", f"${first_revenue:,.2f}")
    cols[2].metric("Last-click conversions", f"{last_n:,.0f}")
    cols[3].metric("Last-click revenue", f"${last_revenue:,.2f}")
    unattributed = data.unattributed(filters)
    cols = st.columns(4)
    cols[0].metric(
        "Unattributed conversions",
        f"{unattributed['unattributed_conversions']:,.0f} "
        f"({_share(unattributed['unattributed_conversions'], unattributed['conversions'])})",
        help="Conversions with no session to credit (no user id, or no session in the lookback), "
        "under every model; share of every conversion in these dates, whatever channels are picked",
    )
    cols[1].metric("Unattributed revenue",
                   f"${unattributed['unattributed_revenue']:,.2f} "
                   f"({_share(unattributed['unattributed_revenue'], unattributed['revenue'])})")  # fmt: skip
    st.caption(
        "Each conversion counts once under every model; the models differ in which channel gets it. "
        "A conversion with no session to credit counts as (unattributed) under every model."
    )
    shift = first_vs_last(daily)
    if not shift.empty:
        st.dataframe(
            labelled(shift),
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
            alt.Chart(labelled(channel_view))
            .mark_bar()
            .encode(
                x=alt.X("revenue:Q", title="Attributed revenue (USD)"),
                y=alt.Y("channel_group:N", title=None, sort="-x", axis=alt.Axis(labelLimit=0)),
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

    _removal_effects(data)
    _paths(data, filters)

    trend_view = trend(daily, filters.models)
    st.subheader("Daily trend by channel (last 14 days of data)")
    if not trend_view.empty:
        st.caption(
            "Every model's daily total is the same (each conversion counts once under each model); "
            "the bars show how each model splits a day's revenue over the channels."
        )
        shown = sorted(set(trend_view["attribution_model"]), key=MODELS.index)
        bars = (
            alt.Chart(labelled(trend_view))
            .mark_bar()
            .encode(
                x=alt.X("yearmonthdate(conversion_date):O", title=None, axis=alt.Axis(format="%b %d", labelAngle=-45)),
                y=alt.Y("revenue:Q", title="Attributed revenue (USD)", stack="zero"),
                color=alt.Color(
                    "channel_group:N", title="Channel", legend=alt.Legend(orient="bottom", columns=4, labelLimit=0)
                ),
                tooltip=[
                    alt.Tooltip("yearmonthdate(conversion_date):T", title="date"),
                    "attribution_model",
                    "channel_group",
                    alt.Tooltip("conversions:Q", format=",.2f"),
                    alt.Tooltip("revenue:Q", format="$,.2f"),
                ],
            )
            .properties(width=240, height=160)
            .facet(facet=alt.Facet("attribution_model:N", title=None, sort=shown), columns=3)
        )
        st.altair_chart(bars, width="content")
        _download("Download trend (CSV)", trend_view, "attribution_trend.csv")

    st.subheader("Campaigns")
    campaigns = side_by_side(data.performance(filters, by_campaign=True), filters.models, CAMPAIGN_KEYS)
    if campaigns.empty:
        st.info("Nothing in these filters.")
    else:
        st.dataframe(
            labelled(campaigns),
            hide_index=True,
            width="stretch",
            column_order=[*CAMPAIGN_KEYS, "spend", *_model_columns(filters.models, ("revenue", "conversions", "roas"))],
            column_config=_side_by_side_config(filters.models),
        )
        st.caption(
            "One row per campaign, the picked models side by side: spend on its own days, conversions and"
            " revenue on theirs (spend meets traffic whatever the case of its source, medium and campaign)."
        )
        _download("Download campaigns (CSV)", campaigns, "attribution_campaigns.csv")
    _placeholder_note(shift, channel_view, trend_view, campaigns)

    _ga4_comparison(data, filters)
    _live(data)


CAMPAIGN_KEYS = ["channel_group", "source", "medium", "campaign"]
MEASURE_FORMATS = {
    "conversions": ("conversions", "%.1f"),
    "revenue": ("revenue", "dollar"),
    "roas": ("ROAS", "%.2f×"),
    "cpa": ("CPA", "dollar"),
}


def _model_columns(models, measures) -> list[str]:
    return [f"{model} {measure}" for model in MODELS if model in models for measure in measures]


def _side_by_side_config(models) -> dict:
    """Column headers and formats of a ``side_by_side`` table, like the first-vs-last table's."""
    config = {
        "channel_group": "Channel",
        "source": "Source",
        "medium": "Medium",
        "campaign": "Campaign",
        "spend": st.column_config.NumberColumn("Spend", format="dollar"),
    }
    for model in models:
        for measure, (title, number_format) in MEASURE_FORMATS.items():
            config[f"{model} {measure}"] = st.column_config.NumberColumn(f"{model} {title}", format=number_format)
    return config


def _spend(data: DashboardData, filters: Filters) -> None:
    """What the channels cost and returned under each picked model, and the spend that matches no traffic."""
    st.subheader("Spend and return on ad spend")
    performance = data.performance(filters)
    unmatched = data.unmatched_spend(filters)
    totals = paid_totals(performance)
    matched_spend = float(totals["spend"].max()) if not totals.empty else 0.0  # every model has the same
    unmatched_spend = float(unmatched["spend"].sum()) if not unmatched.empty else 0.0
    if not matched_spend and not unmatched_spend:
        st.info(
            "No spend in these dates: land cost files under the landing's `cost/` (or set"
            " ATTRIBUTION_GOOGLE_ADS_DATASET on BigQuery) to see ROAS and CPA (docs/spend.md)."
        )
        return
    spend = matched_spend + unmatched_spend
    cols = st.columns(4)
    cols[0].metric("Spend", f"${spend:,.2f}", help="The picked channels' spend in these dates, and the unmatched")
    for col, model in zip(cols[1:3], ("first_click", "last_click"), strict=True):
        roas = totals["roas"].get(model) if model in totals.index else float("nan")
        col.metric(f"Paid channels' ROAS, {model.replace('_', ' ')}", "–" if pd.isna(roas) else f"{roas:,.2f}×",
                   help="Revenue the model attributes to the channels with spend ÷ their spend")  # fmt: skip
    cols[3].metric("Unmatched spend", f"${unmatched_spend:,.2f} ({_share(unmatched_spend, spend)})",
                   help="Spend whose source / medium / campaign no session carries that day: no model can"
                   " credit it")  # fmt: skip
    channels = side_by_side(performance, filters.models, ["channel_group"])
    channels = channels[channels["spend"] > 0]
    if not channels.empty:
        st.dataframe(
            labelled(channels),
            hide_index=True,
            width="stretch",
            column_order=["channel_group", "spend", *_model_columns(filters.models, ("revenue", "roas", "cpa"))],
            column_config=_side_by_side_config(filters.models),
        )
        _download("Download spend by channel (CSV)", channels, "spend_by_channel.csv")
        moves = roas_by_model(performance, filters.models)
        st.caption(
            "How each paid channel's ROAS moves across the models: where the points spread, the budget"
            " decision depends on the model you believe."
        )
        chart = (
            alt.Chart(labelled(moves))
            .mark_point(filled=True, size=90)
            .encode(
                x=alt.X("roas:Q", title="ROAS (attributed revenue ÷ spend)"),
                y=alt.Y("channel_group:N", title=None, axis=alt.Axis(labelLimit=0)),
                color=alt.Color("attribution_model:N", title="Model", sort=list(MODELS)),
                shape=alt.Shape("attribution_model:N", title="Model", sort=list(MODELS)),
                tooltip=[
                    "channel_group",
                    "attribution_model",
                    alt.Tooltip("spend:Q", format="$,.2f"),
                    alt.Tooltip("revenue:Q", format="$,.2f"),
                    alt.Tooltip("roas:Q", format=",.2f"),
                    alt.Tooltip("cpa:Q", format="$,.2f"),
                ],
            )
        )
        rules = (
            alt.Chart(labelled(moves))
            .mark_rule(color="#bbb")
            .encode(x="min(roas):Q", x2="max(roas):Q", y="channel_group:N")
        )
        height = 36 * moves["channel_group"].nunique() + 40  # a readable row per channel
        st.altair_chart((rules + chart).properties(height=height), width="stretch")
        _download("Download ROAS by model (CSV)", moves, "roas_by_model.csv")
    if not unmatched.empty:
        keys = unmatched.head(5)
        st.warning(
            f"${unmatched_spend:,.2f} of spend in these dates matches no session, so no model can credit it: "
            + "; ".join(
                f"{r.source} / {r.medium} / {r.campaign} ${float(r.spend):,.2f} ({r.reason})" for r in keys.itertuples()
            )
            + ("; …" if len(unmatched) > len(keys) else "")
            + ". Check the ads' UTM tags against the cost file's keys (docs/spend.md)."
        )
        _download("Download unmatched spend (CSV)", unmatched, "unmatched_spend.csv")


def _paths(data: DashboardData, filters: Filters) -> None:
    """The paths behind every model: top converting paths, touchpoints and days to conversion, and which
    channels open, assist and close journeys (docs/paths.md)."""
    st.subheader("Conversion paths")
    paths = data.top_paths()
    if paths.empty:
        st.info("No conversion with a path yet.")
        return
    st.caption(
        "The paths with most conversions over the whole history, with the journeys that followed the same"
        " path without converting (a user's sessions since the last conversion, within the lookback)."
    )
    st.dataframe(
        paths,
        hide_index=True,
        width="stretch",
        column_config={
            "path": "Path",
            "conversions": st.column_config.NumberColumn("Conversions", format="%d"),
            "revenue": st.column_config.NumberColumn("Revenue", format="dollar"),
            "non_converting_journeys": st.column_config.NumberColumn("Non-converting journeys", format="%d"),
            "conversion_rate": st.column_config.NumberColumn("Conversion rate", format="percent"),
            "average_touchpoints": st.column_config.NumberColumn("Touchpoints (avg)", format="%.1f"),
            "average_days_to_conversion": st.column_config.NumberColumn("Days to conversion (avg)", format="%.1f"),
        },
    )
    _download("Download top paths (CSV)", paths, "top_paths.csv")
    _stitching(data, filters)
    lengths = data.path_lengths(filters)
    if not lengths.empty:
        cols = st.columns(2)
        for col, measure, title in (
            (cols[0], "touchpoints", "Touchpoints per conversion"),
            (cols[1], "days_to_conversion", "Days from first touch to conversion"),
        ):
            counts = lengths.groupby(measure, as_index=False)["conversions"].sum()
            col.altair_chart(
                alt.Chart(counts)
                .mark_bar()
                .encode(
                    x=alt.X(f"{measure}:O", title=title),
                    y=alt.Y("conversions:Q", title="Conversions"),
                    tooltip=[measure, alt.Tooltip("conversions:Q", format=",")],
                ),
                width="stretch",
            )
    positions = position_shares(data.path_positions(filters))
    if not positions.empty:
        st.caption(
            "Where each channel sits in the paths of these dates: early (the first quarter of a path), middle,"
            " late (the last quarter: the closers), as GA4's attribution paths report splits them."
        )
        chart = (
            alt.Chart(labelled(positions))
            .mark_bar()
            .encode(
                x=alt.X("share:Q", title="Share of the channel's touchpoints", axis=alt.Axis(format="%"), stack="zero"),
                y=alt.Y("channel_group:N", title=None, sort=None, axis=alt.Axis(labelLimit=0)),
                color=alt.Color("position:N", title="Position", sort=["early", "middle", "late"]),
                order=alt.Order("position_order:Q"),
                tooltip=[
                    "channel_group",
                    "position",
                    alt.Tooltip("touchpoints:Q", format=","),
                    alt.Tooltip("share:Q", format=".1%"),
                ],
            )
            .transform_calculate(position_order="indexof(['early', 'middle', 'late'], datum.position)")
        )
        st.altair_chart(chart, width="stretch")
        _download("Download path positions (CSV)", positions, "path_positions.csv")


def _stitching(data: DashboardData, filters: Filters) -> None:
    """What the reporting identity does to these days' conversions (docs/identity.md)."""
    if data.settings.reporting_identity != "blended":
        st.caption(
            "Reporting identity: device. Each browser or app is its own journey; ATTRIBUTION_REPORTING_IDENTITY="
            "blended joins the devices a logged-in user was seen on."
        )
        return
    conversions, stitched, first_click_moved = data.stitched_conversions(filters)
    share = stitched / conversions if conversions else 0.0
    st.metric(
        "Conversions moved by stitching",
        f"{share:.1%}",
        help=f"{stitched:,} of these days' {conversions:,} conversions have touchpoints on another device of the"
        f" same logged-in user (reporting identity: blended); for {first_click_moved:,} of them the first click"
        " goes to another channel than the converting device's own sessions give.",
    )


def _provisional(data: DashboardData, filters: Filters) -> None:
    days = data.provisional_days(filters)
    if days:
        st.warning(
            f"Provisional: {', '.join(f'{day:%b %d}' for day in days)}. These days' conversions rest on GA4's"
            " streaming export (intraday tables), so their numbers can still move: streaming is best effort"
            " (the day's daily table may add or drop events), and a new user's first-touch source arrives only"
            " with the daily table, which replaces these rows when GA4 writes it, usually by the next afternoon."
        )


def _removal_effects(data: DashboardData) -> None:
    """The data-driven model's removal effects: how much of the conversion probability each channel holds."""
    effects = data.removal_effects()
    st.subheader("Data-driven model: removal effects")
    channels = effects[effects["removal_effect"].notna()] if not effects.empty else effects
    if channels.empty:
        st.info("No converting path yet: the data-driven model has nothing to estimate from.")
        return
    with_path = float(channels["conversions"].sum())
    st.caption(
        "Whole history, whatever the dates above. A channel's removal effect is the share of conversions a"
        " Markov chain over every path would lose without it; `data_driven` splits each conversion by them."
        f" Estimated from {with_path:,.0f} conversions with a path."
    )
    if with_path < TRUSTED_CONVERSIONS:
        st.warning(
            f"Fewer than {TRUSTED_CONVERSIONS} conversions: removal effects this thin move with every"
            " conversion. Read them as a hint, not a budget (README: data-driven attribution)."
        )
    chart = (
        alt.Chart(labelled(channels))
        .mark_bar()
        .encode(
            x=alt.X("removal_effect:Q", title="Removal effect", axis=alt.Axis(format="%")),
            y=alt.Y("channel_group:N", title=None, sort="-x", axis=alt.Axis(labelLimit=0)),
            tooltip=[
                "channel_group",
                alt.Tooltip("removal_effect:Q", format=".1%"),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("conversions:Q", format=",.2f"),
                alt.Tooltip("revenue:Q", format="$,.2f"),
                alt.Tooltip("paths:Q", format=","),
                alt.Tooltip("converting_paths:Q", format=","),
                "pooled_channel_groups",
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    pooled = channels["pooled_channel_groups"].dropna()
    if not pooled.empty:
        st.caption(
            f"`(pooled)`: {pooled.iloc[0]}, each on too few paths to estimate alone (var data_driven_min_paths)."
        )
    _download("Download removal effects (CSV)", effects, "removal_effects.csv")


def _ga4_comparison(data: DashboardData, filters: Filters) -> None:
    """Our session channel against GA4's own (session_traffic_source_last_click), where the export has it."""
    agreement = data.ga4_agreement(filters)
    if not agreement["sessions"]:
        st.caption(
            "GA4's own attribution: no session in these dates carries it (exports before 2024 lack"
            " `session_traffic_source_last_click`), so there is nothing to compare."
        )
        return
    st.subheader("GA4's own attribution")
    sessions, agreeing = agreement["sessions"], agreement["agreeing"]
    cols = st.columns(4)
    cols[0].metric("Sessions agreeing with GA4", _share(agreeing, sessions),
                   help="Our session channel group equals GA4's cross-channel default channel group")  # fmt: skip
    cols[1].metric("Sessions compared", f"{sessions:,}")
    disagreements = data.ga4_disagreements(filters)
    if disagreements.empty:
        return
    disagreements["share"] = disagreements["sessions"] / (sessions - agreeing)
    st.caption("The largest disagreements: our channel, GA4's, and why they differ.")
    st.dataframe(
        labelled(disagreements),
        hide_index=True,
        width="stretch",
        column_config={
            "channel_group": "Our channel",
            "ga4_channel_group": "GA4's channel",
            "reason": "Why",
            "sessions": st.column_config.NumberColumn("Sessions", format="%d"),
            "share": st.column_config.NumberColumn("Share of disagreements", format="percent"),
        },
    )
    _download("Download disagreements with GA4 (CSV)", disagreements, "ga4_disagreements.csv")
    _placeholder_note(disagreements)


@st.fragment(run_every=LIVE_REFRESH)
def _live(data: DashboardData) -> None:
    st.subheader("Live events")
    st.caption(f"The most recent streamed events; refreshes every {LIVE_REFRESH.seconds} s.")
    st.dataframe(labelled(data.live_events()), hide_index=True, width="stretch")


main()
