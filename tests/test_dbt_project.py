"""`dbt build` of the whole project, unit tests included, on a real DuckDB warehouse."""

import os
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from attribution.dbt_cli import run_dbt
from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.settings import Settings
from attribution.warehouse import connect


def dbt(settings_env: dict[str, str], *args: str) -> int:
    return run_dbt(list(args), environ={**os.environ, **settings_env})


@pytest.fixture
def loaded(settings: Settings, attribution_env: dict[str, str]) -> Settings:
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for i in range(3):
        write_batch(settings.landing_path, 3_000, seed=100 + i, end=end + timedelta(minutes=5 * i))
    load_pending(settings, connect(settings))
    return settings


def test_build_with_unit_tests_on_an_empty_warehouse(settings: Settings, attribution_env: dict[str, str]):
    connect(settings).ensure_schema()
    assert dbt(attribution_env, "build") == 0


def test_build_on_loaded_batches_and_marts_reconcile(loaded: Settings, attribution_env: dict[str, str]):
    assert dbt(attribution_env, "build") == 0
    with duckdb.connect(str(loaded.warehouse_path), read_only=True) as con:
        conversions, revenue = con.execute("select count(*), sum(revenue) from int_conversions").fetchone()
        assert conversions > 5
        for model in ("first_click", "last_click"):
            n, attributed = con.execute(
                "select count(distinct conversion_id), sum(attributed_revenue) from mart_attribution_credits"
                " where attribution_model = ?",
                [model],
            ).fetchone()
            assert n == conversions
            assert attributed == pytest.approx(float(revenue))
            daily = con.execute(
                "select sum(conversions), sum(revenue) from mart_attribution_daily where attribution_model = ?",
                [model],
            ).fetchone()
            assert daily[0] == pytest.approx(conversions)
            assert daily[1] == pytest.approx(float(revenue))
        differing = con.execute("""
            select count(*) from mart_first_click f join mart_last_click l using (conversion_id)
            where f.ga_session_id <> l.ga_session_id
        """).fetchone()[0]
        assert differing > 0, "multi-touch journeys give first and last click different sessions"
