"""The traffic-source rules of a real GA4 property (docs/ga4.md), on real export rows and on rows of the
current export schema, through real dbt on a real DuckDB file (and, for the public sample, a real DAG run).

The public sample is Google's obfuscated Merchandise Store export (a subset: tests/fixtures/README.md):
the expected figures are computed here from the Parquet file itself with plain SQL, never from the
project's models.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import dags_test
from ga4_fixture import current_export_rows, insert_into_duckdb

from attribution.dbt_cli import run_dbt
from attribution.landing import load_pending
from attribution.raw_tables import COST
from attribution.settings import PROJECT_ROOT, Settings, load_settings
from attribution.warehouse import connect

SAMPLE = PROJECT_ROOT / "tests" / "fixtures" / "ga4_public_sample_subset.parquet"
MODELS = ("first_click", "last_click", "last_non_direct_click", "linear", "position_based", "time_decay", "data_driven")
UNWANTED = "perksatwork.com"
"""A partner site whose referrals the sample credits with revenue; configured as unwanted below."""


def _param(name: str, key: str) -> str:
    return f"list_filter(event_params, lambda p: p.key = '{key}')[1].value.{name}_value"


@pytest.mark.dbt
def test_the_rules_on_rows_of_the_current_export_schema(settings: Settings, attribution_env, tmp_path: Path):
    connect(settings).ensure_schema()
    insert_into_duckdb(settings.warehouse_path, current_export_rows(datetime(2026, 11, 20, 12, tzinfo=UTC)), tmp_path)
    # The Google Ads campaign's spend that day, keyed by its id under the name it had before a rename.
    cost = settings.landing_path / "cost" / "spend.csv"
    cost.parent.mkdir(parents=True)
    cost.write_text(f"{','.join(COST.column_names)}\n2026-11-18,google,cpc,Brand (old name),111,12.00,3,,USD\n")
    assert [report.status for report in load_pending(settings, connect(settings))] == ["loaded"]
    assert run_dbt(["build", "--exclude", "resource_type:unit_test"], environ={**os.environ, **attribution_env}) == 0
    warehouse = connect(settings)

    sessions = {
        (r["user_pseudo_id"], r["ga_session_id"]): (
            r["source"], r["medium"], r["campaign"], r["campaign_id"], r["channel_group"], r["source_rule"]
        )
        for r in warehouse.query("select * from int_sessions")
    }  # fmt: skip
    assert sessions == {
        # collected_traffic_source's manual campaign, with no event parameter
        ("u_manual", 1001): ("newsletter", "email", "spring", None, "Email", "event"),
        # a Google Ads click known only by its gclid, in the Ads campaign GA4 names for its session
        ("u_gclid", 2001): ("google", "cpc", "Ads Brand", "111", "Paid Search", "click id"),
        # the first session without a source takes the user's first-touch source
        ("u_selfref", 3001): ("google", "organic", "(not set)", None, "Organic Search", "first visit"),
        # a referral from the store's own site carries no source
        ("u_selfref", 3002): ("(direct)", "(none)", "(direct)", None, "Direct", "none"),
        # nor does one flagged ignore_referrer
        ("u_ignored", 4001): ("(direct)", "(none)", "(direct)", None, "Direct", "none"),
    }
    # So the Ads campaign's spend meets its clicks: by id, under the sessions' (current) name.
    [matched] = warehouse.query("select campaign_key, spend, matched_by, unmatched_reason from int_spend_matches")
    assert (matched["campaign_key"], float(matched["spend"]), matched["matched_by"], matched["unmatched_reason"]) == (
        "ads brand", 12.0, "campaign id", None
    )  # fmt: skip
    last_non_direct = {
        r["conversion_id"]: (r["channel_group"], r["attributed_revenue"])
        for r in warehouse.query(
            "select * from mart_attribution_credits where attribution_model = 'last_non_direct_click'"
        )
    }
    assert last_non_direct == {
        "T-manual": ("Email", 50.0),  # purchase_revenue_in_usd, not the property's 45
        "T-gclid": ("Paid Search", 80.0),
        "T-selfref": ("Organic Search", 120.0),
        "T-ignored": ("Direct", 10.0),
        "T-consent-1": ("(unattributed)", 30.0),
        "T-consent-2": ("(unattributed)", 20.0),
        "T-nosession": ("(unattributed)", 5.0),
    }

    # Every model counts every conversion; the unattributable ones under (unattributed).
    daily = warehouse.query(
        "select attribution_model, sum(conversions) as conversions, sum(revenue) as revenue,"
        " sum(case when channel_group = '(unattributed)' then conversions else 0 end) as unattributed"
        " from mart_attribution_daily group by attribution_model"
    )
    by_model = {r["attribution_model"]: (r["conversions"], r["revenue"], r["unattributed"]) for r in daily}
    assert by_model == dict.fromkeys(MODELS, (7, 315.0, 3))
    set_aside = warehouse.query("select reason, sum(events) as events, sum(conversions) as conversions,"
                                " sum(revenue) as revenue from mart_set_aside_events group by reason")  # fmt: skip
    assert {r["reason"]: (r["events"], r["conversions"], r["revenue"]) for r in set_aside} == {
        "no user id": (2, 2, 50),
        "no session id": (1, 1, 5),
        "duplicate in export": (1, 0, 0),
    }

    # GA4's own session channel beside ours: four agree; GA4 carries the organic first touch into the
    # self-referred session, which ours calls Direct.
    comparison = warehouse.query("select * from mart_ga4_session_comparison order by user_pseudo_id, ga_session_id")
    assert sum(r["agrees"] for r in comparison) == 4 and len(comparison) == 5
    [disagreement] = [r for r in comparison if not r["agrees"]]
    assert (disagreement["ga_session_id"], disagreement["channel_group"], disagreement["ga4_channel_group"]) == (
        3002, "Direct", "Organic Search"
    )  # fmt: skip
    assert disagreement["reason"].startswith("GA4 carries an earlier non-direct source")


@pytest.mark.airflow
@pytest.mark.dbt
def test_the_real_public_sample_through_a_dag_run(attribution_env, airflow_home, tmp_path: Path):
    env = {
        **airflow_home,
        **attribution_env,
        "ATTRIBUTION_GA4_PARQUET": str(SAMPLE),
        "ATTRIBUTION_UNWANTED_REFERRALS": UNWANTED,
        "ATTRIBUTION_SYNTHETIC_EVENTS": "0",
    }
    result = dags_test(env)
    assert result.returncode == 0, "the DAG run failed"
    settings = load_settings(env)

    # Expected figures, from the Parquet file alone.
    with duckdb.connect() as con:
        con.execute(f"create view export as select * from read_parquet('{SAMPLE}')")
        conversions, revenue = con.execute(f"""
            select count(*), sum(revenue) from (
                select ecommerce.purchase_revenue as revenue, row_number() over (
                    partition by coalesce(nullif(nullif(ecommerce.transaction_id, ''), '(not set)'),
                                          user_pseudo_id || event_timestamp || {_param('int', 'ga_session_id')})
                    order by event_timestamp) as occurrence
                from export where event_name = 'purchase'
            ) where occurrence = 1
        """).fetchone()  # fmt: skip
        duplicates = con.execute(f"""
            select coalesce(sum(copies - 1), 0) from (
                select count(*) as copies from export
                group by user_pseudo_id, event_timestamp, event_name, {_param('int', 'ga_session_id')}
            )
        """).fetchone()[0]  # fmt: skip
        # First sessions (holding first_visit) with no source on any event, whose user came from Google
        # organic search: the first-visit rule gives them google / organic.
        first_sessions = set(con.execute(f"""
            select user_pseudo_id, {_param('int', 'ga_session_id')} as session
            from export
            group by all
            having bool_or(event_name = 'first_visit')
               and bool_and(coalesce({_param('string', 'source')}, '(direct)') in ('(direct)', '(not set)'))
               and bool_and(traffic_source.source = 'google' and traffic_source.medium = 'organic')
        """).fetchall())  # fmt: skip
    assert conversions > 250 and len(first_sessions) > 20

    with duckdb.connect(str(settings.snapshot_path), read_only=True) as served:
        totals = served.execute(
            "select attribution_model, sum(conversions), sum(revenue) from mart_attribution_daily group by 1"
        ).fetchall()
        assert {model for model, *_ in totals} == set(MODELS)
        for model, mart_conversions, mart_revenue in totals:
            assert mart_conversions == pytest.approx(conversions), model
            assert mart_revenue == pytest.approx(revenue), model
        # No credit, in any model, to the configured unwanted referral or to the store's own site.
        credited = served.execute(
            "select distinct lower(source) from mart_attribution_credits"
            " where lower(source) like '%perksatwork.com' or lower(source) like '%googlemerchandisestore.com'"
        ).fetchall()
        assert credited == []
        set_aside = dict(served.execute(
            "select reason, sum(events) from mart_set_aside_events group by reason").fetchall())  # fmt: skip
        assert set_aside.get("duplicate in export", 0) == duplicates
        assert "no user id" not in set_aside  # the sample has no consent-mode rows

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        ruled = set(warehouse.execute(
            "select user_pseudo_id, ga_session_id from int_sessions"
            " where source_rule = 'first visit' and source = 'google' and medium = 'organic'"
        ).fetchall())  # fmt: skip
    assert first_sessions <= ruled


@pytest.mark.dbt
def test_incremental_runs_over_current_export_rows_equal_a_full_refresh(settings: Settings, attribution_env, tmp_path):
    """Consent-mode purchases (no user to rebuild by), a duplicate and a late first-session source arriving
    in a second export read: the incremental marts equal a rebuild from scratch."""
    connect(settings).ensure_schema()
    rows = current_export_rows(datetime(2026, 11, 20, 12, tzinfo=UTC))
    late = {"T-consent-2", "T-selfref"}
    first = [r for r in rows if r["ecommerce"]["transaction_id"] not in late and r["event_name"] != "first_visit"]
    second = [r for r in rows if r not in first]
    environ = {**os.environ, **attribution_env}
    marts = ("mart_attribution_credits", "mart_attribution_daily", "mart_set_aside_events", "int_sessions")

    def built() -> dict[str, list]:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return {
                mart: sorted(map(repr, con.execute(f"select * exclude (_events_loaded_at) from {mart}").fetchall()))
                if mart in ("mart_attribution_credits", "int_sessions")
                else sorted(map(repr, con.execute(f"select * from {mart}").fetchall()))
                for mart in marts
            }

    for part in (first, second):
        insert_into_duckdb(settings.warehouse_path, part, tmp_path)
        assert run_dbt(["build", "--exclude", "resource_type:unit_test"], environ=environ) == 0
    incremental = built()
    assert run_dbt(["build", "--full-refresh", "--exclude", "resource_type:unit_test"], environ=environ) == 0
    assert incremental == built()
    assert any("first visit" in row for row in incremental["int_sessions"])
