"""The dashboard page through Streamlit's AppTest: on a small warehouse built and published for real, and
on serving snapshots written here with the served relations' columns and chosen rows (the page reads
only the snapshot), for figures that synthetic traffic never produces: placeholders, (unattributed)
conversions, export rows set aside, GA4's own attribution."""

import csv
import json
import os
from datetime import UTC, date, datetime, timedelta

import duckdb
import pandas as pd
import pytest
import streamlit
from conftest import click_figures_from_marts
from streamlit.testing.v1 import AppTest

from attribution.dashboard.data import (
    MODELS,
    PLACEHOLDERS_CSV,
    DashboardData,
    Filters,
    inert,
    label_value,
    labelled,
    placeholder_notes,
    position_shares,
    trend,
)
from attribution.dbt_cli import run_dbt
from attribution.landing import load_pending
from attribution.settings import PROJECT_ROOT, load_settings
from attribution.summary import print_summary
from attribution.synthetic_spend import land_demo_batch
from attribution.warehouse import SERVED_RELATIONS, connect

APP = PROJECT_ROOT / "include" / "attribution" / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict[str, str]:
    """A warehouse with two batches and the cost files of their paid clicks, built by dbt with the blended
    reporting identity and published: the environment that points at it."""
    root = tmp_path_factory.mktemp("served")
    env = {
        "ATTRIBUTION_DUCKDB_PATH": str(root / "w.duckdb"),
        "ATTRIBUTION_LANDING_DIR": str(root / "landing"),
        "ATTRIBUTION_REPORTING_IDENTITY": "blended",
    }
    settings = load_settings(env)
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for seed in (1, 2):
        land_demo_batch(settings, 3_000, seed=seed, end=end + timedelta(seconds=seed))
    load_pending(settings, connect(settings))
    assert run_dbt(["build", "--exclude", "resource_type:unit_test"], environ={**os.environ, **env}) == 0
    connect(settings).publish()
    return env


def table(app: AppTest, *columns: str) -> pd.DataFrame:
    """The page's one table that has ``columns``."""
    [frame] = [df.value for df in app.dataframe if set(columns) <= set(df.value.columns)]
    return frame


def page(env: dict[str, str], monkeypatch) -> AppTest:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception, app.exception
    return app


@pytest.mark.dbt
def test_first_and_last_click_figures_equal_the_marts(served, monkeypatch):
    app = page(served, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    settings = load_settings(served)
    expected = click_figures_from_marts(settings)
    assert {label: metrics[label] for label in expected} == expected
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        shift = table(app, "revenue_shift").set_index("channel_group")
        per_channel = dict(con.execute(
            "select channel_group, sum(revenue) from mart_first_click group by 1").fetchall())  # fmt: skip
    shown = {label_value(channel): float(revenue) for channel, revenue in per_channel.items()}  # placeholders labelled
    assert shift["first_click_revenue"].to_dict() == pytest.approx(shown)
    assert (shift["revenue_shift"] == shift["last_click_revenue"] - shift["first_click_revenue"]).all()
    assert len(app.get("vega_lite_chart")) == 7, (
        "ROAS across models, model comparison, removal effects, touchpoints, days, path positions, trend"
    )
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        [(with_path,)] = con.execute("select count(*) from mart_first_click where ga_session_id is not null").fetchall()
    assert f"Estimated from {with_path:,} conversions with a path." in " ".join(c.value for c in app.caption)
    assert "GA4's own attribution" not in [h.value for h in app.subheader], "synthetic events carry no GA4 attribution"
    live = app.dataframe[-1].value
    assert len(live) == 50 and live["event_at"].is_monotonic_decreasing


@pytest.mark.dbt
def test_no_user_id_is_served_or_downloadable(served, monkeypatch):
    """The site's user_id stays in the raw tables: no served relation and no CSV download holds one, and
    the share of conversions stitching moved is shown (docs/identity.md)."""
    settings = load_settings(served)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        user_ids = {
            u for (u,) in con.execute("select distinct user_id from raw.streamed_events where user_id <> ''").fetchall()
        }
    assert len(user_ids) > 50, "the generator logs users in"
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        for (relation,) in con.execute("show tables").fetchall():
            columns = con.execute(
                "select column_name from information_schema.columns where table_name = ? and data_type = 'VARCHAR'",
                [relation],
            ).fetchall()
            for (column,) in columns:
                assert column != "user_id", relation
                values = {v for (v,) in con.execute(f'select distinct "{column}" from {relation}').fetchall()}
                assert not values & user_ids, f"{relation}.{column} holds user ids"
        [(conversions, stitched)] = con.execute(
            "select count(*), count(*) filter (where other_device_touchpoints > 0) from mart_conversion_paths"
        ).fetchall()
    assert 0 < stitched < conversions

    downloads = []
    monkeypatch.setattr(streamlit, "download_button", lambda label, data, **kw: downloads.append(data.decode()))
    app = page(served, monkeypatch)
    assert len(downloads) >= 8
    assert not [text for text in downloads if "user_id" in text or any(user_id in text for user_id in user_ids)]
    [moved] = [m.value for m in app.metric if m.label == "Conversions moved by stitching"]
    assert moved == f"{stitched / conversions:.1%}"  # the page's dates are every day built


@pytest.mark.dbt
def test_spend_shown_is_the_spend_loaded(served, monkeypatch):
    """The dashboard's spend in its dates is the current figures of the cost files landed, matched or not."""
    app = page(served, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    data = DashboardData(load_settings(served))
    first_day, last_day = data.date_range()
    start = max(first_day, last_day - timedelta(days=29))
    with duckdb.connect(str(load_settings(served).warehouse_path), read_only=True) as con:
        [(loaded,)] = con.execute(
            "select sum(cost) from (select cost, row_number() over (partition by date, utm_source, utm_medium,"
            " utm_campaign order by _loaded_at desc) as newest from raw.ad_spend"
            " where date between ? and ?) where newest = 1",
            [start, last_day],
        ).fetchall()
    assert loaded > 0
    assert metrics["Spend"] == f"${float(loaded):,.2f}"
    assert "tiktok / paid_social / launch_teaser" in " ".join(w.value for w in app.warning), "the untagged campaign"


@pytest.mark.dbt
def test_filters_narrow_every_figure(served, monkeypatch):
    app = page(served, monkeypatch)
    app.sidebar.multiselect[0].set_value(["linear"]).run()  # models
    app.sidebar.multiselect[1].set_value(["Email"]).run()  # channels
    assert not app.exception
    campaigns = table(app, "campaign", "spend")
    assert [c for c in campaigns.columns if c.endswith(" revenue")] == ["linear revenue"]
    assert set(campaigns["channel_group"]) == {"Email"}
    assert set(table(app, "revenue_shift")["channel_group"]) == {"Email"}


@pytest.mark.dbt
def test_filter_values_never_reach_sql_unchecked(served):
    data = DashboardData(load_settings(served))
    days = data.date_range()
    with pytest.raises(ValueError, match="not a model or channel name"):
        data.performance(Filters(*days, channels=("Email') or ('1' = '1",)), by_campaign=True)
    assert data.performance(Filters(*days, models=()), by_campaign=True).empty


def test_before_the_first_publish_the_page_says_so(tmp_path, monkeypatch):
    app = page({"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb")}, monkeypatch)
    assert "Nothing served yet" in app.info[0].value


def test_downloads_neutralise_spreadsheet_formulas():
    frame = pd.DataFrame({"campaign": ['=HYPERLINK("http://x","y")', "spring", "+1", None], "n": [1, 2, 3, 4]})
    campaigns = inert(frame)["campaign"].tolist()
    assert campaigns[:3] == ['\'=HYPERLINK("http://x","y")', "spring", "'+1"] and pd.isna(campaigns[3])


@pytest.mark.dbt
def test_publish_serves_set_aside_rows_and_the_ga4_comparison(served):
    assert {"mart_set_aside_events", "mart_ga4_session_comparison"} <= set(SERVED_RELATIONS)
    with duckdb.connect(str(load_settings(served).snapshot_path), read_only=True) as con:
        columns = {
            name: {row[0] for row in con.execute(f"describe {name}").fetchall()}
            for name in ("mart_set_aside_events", "mart_ga4_session_comparison")
        }
    assert {"event_origin", "reason", "event_date", "events", "conversions", "revenue"} <= columns[
        "mart_set_aside_events"
    ]
    assert {"session_date", "channel_group", "ga4_channel_group", "agrees", "reason"} <= columns[
        "mart_ga4_session_comparison"
    ]


# --- a serving snapshot with chosen rows ------------------------------------------------------------

# Conversions: (id, user, converted_at, revenue, touchpoints); a touchpoint is (session, started,
# source, medium, campaign, channel group) and gets first / last / linear credit by its place.
UNATTRIBUTED = ("(unattributed)", "(unattributed)", None, "(unattributed)")
CONVERSIONS = [
    ("c1", "u1", datetime(2026, 11, 20, 10), 100.0, [
        (11, datetime(2026, 11, 15, 9), "google", "organic", None, "Organic Search"),
        (12, datetime(2026, 11, 20, 9), "newsletter", "email", "<Other>", "Email"),
    ]),
    ("c2", "u2", datetime(2026, 11, 19, 12), 50.0, [
        (21, datetime(2026, 11, 19, 11), "(data deleted)", "referral", None, "Referral"),
    ]),
    ("c3", "u3", datetime(2026, 11, 19, 15), 30.0, [(None, None, *UNATTRIBUTED)]),
    ("c4", "u4", datetime(2026, 11, 18, 8), 20.0, [
        (41, datetime(2026, 11, 18, 8), "(direct)", "(none)", None, "Direct"),
    ]),
]  # fmt: skip
SET_ASIDE = [
    ("ga4", "no user id", date(2026, 11, 19), 120, 1, 30.0),
    ("ga4", "no user id", date(2026, 11, 20), 5, 0, 0.0),
    ("ga4", "no session id", date(2026, 11, 19), 7, 0, 0.0),
]
OWN_SITE = "ours sets the referral aside as unwanted (own site, listed host or ignore_referrer)"
SPANS = "GA4 carries an earlier non-direct source into this direct session (its last click spans sessions)"
# (sessions, our channel, GA4's channel, agrees, reason)
COMPARISON = [
    (6, "Organic Search", "Organic Search", True, "same channel"),
    (3, "Direct", "Referral", False, OWN_SITE),
    (1, "Direct", "Paid Search", False, SPANS),
]


def _credits(touchpoints: list) -> dict[str, list[float]]:
    n = len(touchpoints)
    return {
        model: [1.0]
        if n == 1
        else {"first_click": [1.0, 0.0], "last_click": [0.0, 1.0], "time_decay": [0.2, 0.8]}.get(model, [0.5, 0.5])
        for model in MODELS
    }


# (day, source, medium, campaign, spend, clicks, why it matches no session: None where it matches): $20 on
# the newsletter that earns c1 under last click ($100: ROAS 5), nothing under first click, half under
# linear; $12.50 that no session carries.
NO_SESSION = "no session carries this source / medium / campaign"
SPEND = [
    (date(2026, 11, 20), "newsletter", "email", "<Other>", 20.0, 40, None),
    (date(2026, 11, 19), "bing", "cpc", "launch", 12.5, 9, NO_SESSION),
]

# (channel group, removal effect, conversions, revenue, paths, converting paths, pooled channel groups)
REMOVAL_EFFECTS = [
    ("Organic Search", 0.5, 1.5, 90.0, 40, 2, None),
    ("Email", 0.25, 0.75, 45.0, 12, 1, None),
    ("(pooled)", 0.25, 0.75, 45.0, 3, 1, "Display, Referral"),
    ("(unattributed)", None, 1.0, 30.0, None, None, None),
]


def write_snapshot(
    path,
    *,
    set_aside=SET_ASIDE,
    comparison=COMPARISON,
    removal_effects=REMOVAL_EFFECTS,
    provisional_days=(),
    spend=SPEND,
    export_day="20261120",
) -> None:
    """A serving snapshot with the served relations' columns, as ``publish`` writes it."""
    credits = [
        (cid, user, at, at.date(), model, session, started, source, medium, campaign, channel, revenue, credit,
         credit * revenue)
        for cid, user, at, revenue, touchpoints in CONVERSIONS
        for model, shares in _credits(touchpoints).items()
        for (session, started, source, medium, campaign, channel), credit in zip(touchpoints, shares, strict=True)
    ]  # fmt: skip
    sessions = [
        (f"u{i}-{n}", n, date(2026, 11, 18 + n % 3), ours, theirs, theirs, "x", "y", agrees, reason)
        for i, (count, ours, theirs, agrees, reason) in enumerate(comparison)
        for n in range(count)
    ]
    with duckdb.connect(str(path)) as con:
        con.execute("""
            create table mart_attribution_credits (conversion_id varchar, user_pseudo_id varchar,
                converted_at timestamp, conversion_date date, attribution_model varchar, ga_session_id bigint,
                touched_at timestamp, source varchar, medium varchar, campaign varchar, channel_group varchar,
                revenue double, credit double, attributed_revenue double)
        """)
        con.executemany(
            "insert into mart_attribution_credits values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", credits
        )
        con.execute(f"""
            create table mart_attribution_daily as
            select conversion_date, attribution_model, channel_group, source, medium,
                   sum(credit) as conversions, sum(attributed_revenue) as revenue,
                   sum(case when conversion_date in ({", ".join(f"date '{day}'" for day in provisional_days) or "null"})
                       then credit else 0 end) as provisional_conversions
            from mart_attribution_credits group by all
        """)
        for model in ("first_click", "last_click"):
            con.execute(f"""
                create table mart_{model} as
                select conversion_id, user_pseudo_id, converted_at, conversion_date, revenue, ga_session_id,
                       source, medium, campaign, channel_group, touched_at
                from mart_attribution_credits where attribution_model = '{model}' and credit = 1
            """)
        con.execute("""
            create table mart_live_events as
            select 1 as recency_rank, 'e1' as event_id, 1795600000000000 as event_timestamp,
                   timestamp '2026-11-20 10:00:00' as event_at, 'page_view' as event_name, 'u1' as user_pseudo_id,
                   12 as ga_session_id, null::varchar as transaction_id, '(data deleted)' as source,
                   'referral' as medium, null::varchar as campaign, null::double as purchase_revenue,
                   'Norway' as country, 'mobile' as device_category, 'https://shop.example/' as page_location
        """)
        con.execute("""
            create table mart_set_aside_events (event_origin varchar, reason varchar, event_date date,
                events bigint, conversions bigint, revenue double)
        """)
        if set_aside:
            con.executemany("insert into mart_set_aside_events values (?, ?, ?, ?, ?, ?)", set_aside)
        con.execute("""
            create table mart_ga4_session_comparison (user_pseudo_id varchar, ga_session_id bigint,
                session_date date, channel_group varchar, ga4_channel_group varchar, ga4_source varchar,
                source varchar, medium varchar, agrees boolean, reason varchar, ga4_medium varchar)
        """)
        if sessions:
            con.executemany(
                "insert into mart_ga4_session_comparison (user_pseudo_id, ga_session_id, session_date,"
                " channel_group, ga4_channel_group, ga4_source, source, medium, agrees, reason)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                sessions,
            )
        con.execute("""
            create table mart_channel_removal_effects (channel_group varchar, removal_effect double, share double,
                conversions double, revenue double, paths bigint, converting_paths bigint,
                pooled_channel_groups varchar)
        """)
        if removal_effects:
            con.executemany(  # the removal effects sum to 1: each share is the removal effect
                "insert into mart_channel_removal_effects values (?, ?, ?, ?, ?, ?, ?, ?)",
                [(c, effect, effect, *rest) for c, effect, *rest in removal_effects],
            )
        con.execute("create table spend (spend_date date, source varchar, medium varchar, campaign varchar,"
                    " spend double, clicks bigint)")  # fmt: skip
        if matched := [s[:6] for s in spend if not s[6]]:
            con.executemany("insert into spend values (?, ?, ?, ?, ?, ?)", matched)
        # As the mart computes it: each model's attributed figures beside the same matched spend.
        con.execute(f"""
            create table mart_channel_performance as
            with attributed as (
                select conversion_date as performance_date, attribution_model, channel_group, source, medium,
                       campaign, sum(credit) as conversions, sum(attributed_revenue) as revenue
                from mart_attribution_credits group by all
            ),
            modelled as (
                select * from spend cross join (select unnest({list(MODELS)}) as attribution_model)
            )
            select coalesce(a.performance_date, m.spend_date) as performance_date,
                   coalesce(a.attribution_model, m.attribution_model) as attribution_model,
                   coalesce(a.channel_group, 'Paid Search') as channel_group,
                   coalesce(a.source, m.source) as source, coalesce(a.medium, m.medium) as medium,
                   coalesce(a.campaign, m.campaign) as campaign, coalesce(m.spend, 0) as spend, m.clicks,
                   null::bigint as impressions, coalesce(a.conversions, 0) as conversions,
                   coalesce(a.revenue, 0) as revenue,
                   case when m.spend > 0 then a.revenue / m.spend end as roas,
                   case when a.conversions > 0 then m.spend / a.conversions end as cpa
            from attributed a full join modelled m
                on a.performance_date = m.spend_date and a.attribution_model = m.attribution_model
                and a.source = m.source and a.medium = m.medium and a.campaign = m.campaign
        """)
        con.execute("""
            create table mart_unmatched_spend (spend_date date, source varchar, medium varchar, campaign varchar,
                campaign_id varchar, spend double, clicks bigint, impressions bigint, spend_origin varchar,
                spend_file varchar, reason varchar)
        """)
        if unmatched := [s for s in spend if s[6]]:
            con.executemany(
                "insert into mart_unmatched_spend values (?, ?, ?, ?, null, ?, ?, null, 'cost_file', 'cost/x.csv', ?)",
                unmatched,
            )
        # Paths as the marts compute them from the touchpoints above (first click credits the first).
        con.execute("""
            create table mart_conversion_paths as
            select conversion_id, conversion_date, converted_at,
                   case when bool_and(ga_session_id is null) then '(unattributed)'
                        else string_agg(channel_group, ' > ' order by touched_at) end as path,
                   count(ga_session_id) as touchpoints, 0 as other_device_touchpoints,
                   datediff('day', min(touched_at), converted_at) as days_to_conversion,
                   null::varchar as first_channel_group, null::varchar as device_first_channel_group,
                   null::varchar as last_channel_group,
                   max(revenue) as revenue, false as is_provisional
            from mart_attribution_credits where attribution_model = 'first_click'
            group by conversion_id, conversion_date, converted_at
        """)
        con.execute("""
            create table mart_path_summary as
            select path, count(*) as conversions, sum(revenue) as revenue, 2 as non_converting_journeys,
                   count(*) / (count(*) + 2) as conversion_rate, avg(touchpoints) as average_touchpoints,
                   avg(days_to_conversion) as average_days_to_conversion
            from mart_conversion_paths group by path
        """)
        con.execute("""
            create table mart_path_positions as
            select conversion_date, channel_group,
                   count(*) filter (n = 1 and n < total) as early_touchpoints,
                   count(*) filter (n > 1 and n < total) as middle_touchpoints,
                   count(*) filter (n = total) as late_touchpoints
            from (select *, row_number() over (partition by conversion_id order by touched_at) as n,
                         count(*) over (partition by conversion_id) as total
                  from mart_attribution_credits where attribution_model = 'first_click' and ga_session_id is not null)
            group by all
        """)
        con.execute("""
            create table mart_ga4_export_freshness (origin varchar, newest_export_day varchar,
                newest_event_at timestamp, loaded_through timestamp)
        """)
        if export_day:
            con.execute(
                "insert into mart_ga4_export_freshness values ('ga4_export', ?, null, now()::timestamp)", [export_day]
            )
        con.execute("""
            create table load_ledger as
            select 'batch.csv' as file_name, 'abc' as checksum, now()::timestamp as loaded_at, 10 as rows_read,
                   10 as rows_loaded, 0 as rows_duplicate, 0 as rows_quarantined, 'loaded' as status,
                   null::varchar as error, date '2026-11-20' as first_event_date, 'events' as file_type
        """)
        con.execute("create table published as select now()::timestamp as published_at")
        missing = set(SERVED_RELATIONS) - {row[0] for row in con.execute("show tables").fetchall()}
    assert not missing, f"the snapshot lacks served relations: {missing}"


@pytest.fixture
def chosen(tmp_path) -> dict[str, str]:
    """The environment of a warehouse whose serving snapshot holds the rows above."""
    env = {"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    write_snapshot(load_settings(env).snapshot_path)
    return env


def test_trend_charts_each_models_channels(chosen, monkeypatch):
    data = DashboardData(load_settings(chosen))
    daily = data.daily(Filters(*data.date_range()))
    view = trend(daily, ("first_click", "last_click"))
    per_day = view.groupby(["attribution_model", "conversion_date"])["revenue"].sum().unstack(0)
    assert (per_day["first_click"] == per_day["last_click"]).all(), "every model's daily total is the same"
    on_the_20th = view[(view["conversion_date"] == date(2026, 11, 20)) & (view["revenue"] > 0)]
    on_the_20th = on_the_20th.set_index("attribution_model")
    assert on_the_20th.loc["first_click", "channel_group"] == "Organic Search"
    assert on_the_20th.loc["last_click", "channel_group"] == "Email"

    app = page(chosen, monkeypatch)
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    [faceted] = [spec for spec in specs if "facet" in spec]
    assert faceted["facet"]["field"] == "attribution_model"
    assert faceted["spec"]["encoding"]["color"]["field"] == "channel_group"


def test_placeholders_are_labelled_from_the_seed(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    campaigns = table(app, "campaign", "spend")
    assert "(data deleted) — placeholder" in set(campaigns["source"])
    assert "<Other> — placeholder" in set(campaigns["campaign"])
    assert "(unattributed) — placeholder" in set(campaigns["channel_group"])
    assert "(direct) — placeholder" in set(campaigns["source"]), "the marts' (direct) for no source, from the seed"
    assert "google" in set(campaigns["source"])
    assert "(unattributed) — placeholder" in set(table(app, "revenue_shift")["channel_group"])
    assert "(data deleted) — placeholder" in set(app.dataframe[-1].value["source"]), "live events"
    with PLACEHOLDERS_CSV.open(newline="") as seed:
        deleted = next(row for row in csv.DictReader(seed) if row["placeholder"] == "(data deleted)")
    assert any(deleted["meaning"] in caption.value for caption in app.caption)
    channels = app.sidebar.multiselect[1]
    assert "(unattributed) — placeholder" in channels.options and "(unattributed)" not in channels.options
    channels.set_value(["(unattributed)"]).run()  # the raw value reaches the filter
    assert set(table(app, "campaign", "spend")["channel_group"]) == {"(unattributed) — placeholder"}


def test_placeholder_labels_follow_the_seed_file(tmp_path):
    seed = tmp_path / "placeholders.csv"
    seed.write_text(
        "placeholder,field,treated_as,meaning\n"
        "(gone),any,kept,a value nobody may name\n"
        "(kept in campaigns),campaign,kept,only a campaign\n"
        "(not set),any,absent,no value\n"
    )
    frame = pd.DataFrame({
        "source": ["(gone)", "(not set)", "(kept in campaigns)", "google"],
        "campaign": ["(kept in campaigns)", "(gone)", None, "spring"],
        "ga4_channel_group": ["(gone)", "Direct", "Direct", "Email"],
        "revenue": [1.0, 2.0, 3.0, 4.0],
    })  # fmt: skip
    shown = labelled(frame, seed)
    assert shown["source"].tolist() == [
        "(gone) — placeholder", "(not set) — placeholder", "(kept in campaigns)", "google"
    ]  # fmt: skip
    assert shown["campaign"].tolist()[:2] == ["(kept in campaigns) — placeholder", "(gone) — placeholder"]
    assert shown["ga4_channel_group"].tolist()[0] == "(gone) — placeholder"
    assert shown["revenue"].tolist() == frame["revenue"].tolist()
    assert placeholder_notes(frame, seed) == {
        "(gone)": "a value nobody may name",
        "(kept in campaigns)": "only a campaign",
        "(not set)": "no value",
    }


def test_unattributed_share_counts_every_channel(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Unattributed conversions"] == "1 (25.0%)"
    assert metrics["Unattributed revenue"] == "$30.00 (15.0%)"
    app.sidebar.multiselect[1].set_value(["Email"]).run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Unattributed conversions"] == "1 (25.0%)", "a share of every conversion, whatever channels"


def test_days_resting_on_the_streaming_export_are_marked_provisional(tmp_path, monkeypatch, chosen):
    assert not [w for w in page(chosen, monkeypatch).warning if w.value.startswith("Provisional")], "none by default"
    env = {"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "provisional" / "w.duckdb")}
    load_settings(env).snapshot_path.parent.mkdir()
    write_snapshot(load_settings(env).snapshot_path, provisional_days=(date(2026, 11, 20),))
    [warning] = [w.value for w in page(env, monkeypatch).warning if w.value.startswith("Provisional")]
    assert warning.startswith("Provisional: Nov 20.") and "streaming export" in warning and "first-touch" in warning


def test_health_row_counts_rows_set_aside_by_reason(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    assert {m.label: m.value for m in app.metric}["Rows set aside"] == "132"
    [note] = [c.value for c in app.caption if c.value.startswith("Set aside")]
    assert "no user id: 125 events (1 conversion, $30.00)" in note
    assert "no session id: 7 events (0 conversions, $0.00)" in note
    assert note.index("no user id") < note.index("no session id"), "the largest first"


def test_ga4_comparison_shows_agreement_and_largest_disagreements(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Sessions agreeing with GA4"] == "60.0%"
    assert metrics["Sessions compared"] == "10"
    disagreements = table(app, "ga4_channel_group")
    assert disagreements[["channel_group", "ga4_channel_group", "reason", "sessions"]].values.tolist() == [
        ["Direct", "Referral", OWN_SITE, 3],
        ["Direct", "Paid Search", SPANS, 1],
    ]
    assert disagreements["share"].tolist() == pytest.approx([0.75, 0.25])


def test_empty_set_aside_and_comparison_are_said_in_one_line(tmp_path, monkeypatch):
    env = {"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    write_snapshot(load_settings(env).snapshot_path, set_aside=[], comparison=[])
    app = page(env, monkeypatch)
    assert {m.label: m.value for m in app.metric}["Rows set aside"] == "0"
    assert "GA4's own attribution" not in [h.value for h in app.subheader]
    assert not [df for df in app.dataframe if "ga4_channel_group" in df.value.columns]
    assert any("nothing to compare" in c.value for c in app.caption)
    assert not any(c.value.startswith("Set aside") for c in app.caption)


def test_demo_summary_prints_whole_conversions_and_what_was_set_aside(chosen, capsys):
    print_summary(load_settings(chosen))
    out = capsys.readouterr().out
    assert "Set aside: no user id: 125 events (1 conversion); no session id: 7 events (0 conversions)." in out
    assert "Unattributed: 1 conversion worth $30.00." in out
    attribution, spend = out.split("\nSpend ")
    rows = {
        line.split("  ")[0]: line.split() for line in attribution.splitlines() if line.startswith(("Email", "Organic"))
    }
    assert rows["Organic Search"][-4:] == ["1", "100.00", "0", "0.00"]
    assert rows["Email"][-4:] == ["0", "0.00", "1", "100.00"]
    assert "Spend $32.50, of which $12.50 (38.5%) matches no session." in out
    [email] = [line.split() for line in spend.splitlines() if line.startswith("Email")]
    assert email[-4:] == ["20.00", "0.00", "5.00", "2.50"], "spend, then ROAS: first click, last click, data-driven"
    top_paths = out.split("top paths")[1].splitlines()[1:]
    assert top_paths and top_paths[0].startswith(" 1. ") and "Reporting identity" not in out  # device identity


def test_removal_effects_chart_the_channels_and_warn_when_conversions_are_few(chosen, monkeypatch):
    effects = DashboardData(load_settings(chosen)).removal_effects()
    assert effects["channel_group"].tolist() == ["Organic Search", "(pooled)", "Email", "(unattributed)"]
    app = page(chosen, monkeypatch)
    assert "Data-driven model: removal effects" in [h.value for h in app.subheader]
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    [chart] = [spec for spec in specs if spec.get("encoding", {}).get("x", {}).get("field") == "removal_effect"]
    assert chart["encoding"]["y"]["field"] == "channel_group"
    captions = " ".join(c.value for c in app.caption)
    assert "Estimated from 3 conversions with a path." in captions, "(unattributed) has no path"
    assert "`(pooled)`: Display, Referral" in captions
    assert any("Fewer than 100 conversions" in w.value for w in app.warning)


def test_no_converting_path_says_so_instead_of_a_chart(tmp_path, monkeypatch):
    env = {"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    write_snapshot(load_settings(env).snapshot_path, removal_effects=[])
    app = page(env, monkeypatch)
    assert any("No converting path yet" in i.value for i in app.info)


def test_spend_roas_and_cpa_per_channel_under_each_model(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Spend"] == "$32.50", "matched and unmatched"
    assert metrics["Paid channels' ROAS, first click"] == "0.00×"
    assert metrics["Paid channels' ROAS, last click"] == "5.00×"
    assert metrics["Unmatched spend"] == "$12.50 (38.5%)"
    [channels] = [df.value for df in app.dataframe if "linear roas" in df.value and "campaign" not in df.value]
    channels = channels.set_index("channel_group")
    assert list(channels.index) == ["Email"], "channels with spend only"
    email = channels.loc["Email"]
    assert (email["spend"], email["first_click roas"], email["last_click roas"], email["linear roas"]) == (
        20.0, 0.0, 5.0, 2.5,
    )  # fmt: skip
    assert (email["last_click cpa"], email["linear cpa"]) == (20.0, 40.0)
    assert pd.isna(email["first_click cpa"]), "no conversion: no CPA, never a division error"
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    [moves] = [spec for spec in specs if spec.get("layer") and spec["layer"][1]["encoding"]["x"]["field"] == "roas"]
    assert moves["layer"][1]["encoding"]["color"]["field"] == "attribution_model"
    [warning] = [w.value for w in app.warning if "matches no session" in w.value]
    assert "bing / cpc / launch $12.50 (no session carries this source / medium / campaign)" in warning


def test_campaigns_are_one_row_each_with_the_models_side_by_side(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    campaigns = table(app, "campaign", "spend")
    keys = campaigns[["channel_group", "source", "medium", "campaign"]].astype(str)
    assert not keys.duplicated().any(), "one row per campaign"
    assert {f"{model} revenue" for model in MODELS} <= set(campaigns.columns)
    newsletter = campaigns[campaigns["source"] == "newsletter"].iloc[0]
    assert newsletter["campaign"] == "<Other> — placeholder"
    assert (newsletter["spend"], newsletter["last_click revenue"], newsletter["first_click revenue"]) == (20, 100, 0)
    assert newsletter["last_click roas"] == 5.0
    settings = load_settings(chosen)
    filters = Filters(*DashboardData(settings).date_range())
    revenue = DashboardData(settings).performance(filters, by_campaign=True)
    assert campaigns["last_click revenue"].sum() == pytest.approx(
        revenue[revenue["attribution_model"] == "last_click"]["revenue"].sum()
    )


def test_health_row_names_the_stream_and_shows_the_exports_newest_day(tmp_path, monkeypatch):
    env = {"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    write_snapshot(load_settings(env).snapshot_path, spend=[])
    with duckdb.connect(str(load_settings(env).snapshot_path)) as con:
        con.execute("delete from mart_live_events")  # a warehouse seeded from an export: no stream yet
    app = page(env, monkeypatch)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Newest streamed event"] == "none"
    assert metrics["GA4 export's newest day"] == "2026-11-20"
    assert metrics["Unmatched spend (all days)"] == "$0.00"
    assert any("No spend in these dates" in i.value for i in app.info)


def test_paths_show_the_top_paths_their_lengths_and_which_channels_open_and_close(chosen, monkeypatch):
    app = page(chosen, monkeypatch)
    assert "Conversion paths" in [h.value for h in app.subheader]
    paths = table(app, "path", "non_converting_journeys").set_index("path")
    assert paths.loc["Organic Search > Email", "conversions"] == 1
    assert paths.loc["Organic Search > Email", "revenue"] == 100
    assert "(unattributed)" in paths.index
    specs = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    fields = {spec.get("encoding", {}).get("x", {}).get("field") for spec in specs}
    assert {"touchpoints", "days_to_conversion", "share"} <= fields
    shares = position_shares(
        DashboardData(load_settings(chosen)).path_positions(Filters(date(2026, 11, 1), date(2026, 11, 30)))
    )
    organic = shares[shares["channel_group"] == "Organic Search"].set_index("position")["share"]
    email = shares[shares["channel_group"] == "Email"].set_index("position")["share"]
    assert organic["early"] == 1.0 and email["late"] == 1.0, "organic opens c1, the newsletter closes it"
    assert shares["channel_group"].iloc[0] != "Organic Search", "the closers first"
