"""End to end: real `airflow dags test` runs of the DAG, real dbt, a real DuckDB file, a real HTTP receiver."""

import shutil
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from browser import chromium, open_dashboard, wait_for
from conftest import click_figures_from_marts, dags_test
from servers import free_port, serving

from attribution.dashboard.data import DashboardData, Filters
from attribution.generator import write_batch
from attribution.settings import PROJECT_ROOT, Settings
from attribution.stack.environment import VENV_BIN
from attribution.warehouse import SERVED_RELATIONS, connect

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
"""Kept after the run (git-ignored): the dashboard's screenshot."""

pytestmark = [pytest.mark.airflow, pytest.mark.dbt, pytest.mark.browser]


def _comparable(row: tuple) -> tuple:
    # Sums of doubles depend on the order DuckDB's threads add them: compare to a micro-unit.
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def snapshot(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        return {
            name: sorted((_comparable(r) for r in con.execute(f"select * from {name}").fetchall()), key=repr)
            for name in SERVED_RELATIONS
        }


def one(con, sql: str):
    return con.execute(sql).fetchone()[0]


@contextmanager
def dashboard_server(env: dict[str, str], log: Path):
    """The dashboard exactly as `make dashboard` serves it, on a free port."""
    port = free_port()
    env = {**env, "ATTRIBUTION_DASHBOARD_URL": f"http://127.0.0.1:{port}"}
    command = [str(VENV_BIN / "python"), "-m", "attribution.local_stack", "dashboard"]
    with serving("dashboard", command, "/_stcore/health", log, env=env, port=port) as url:
        yield url


@contextmanager
def reading_the_served_marts(settings: Settings):
    """A reader that keeps running every dashboard query while the pipeline works; yields its tally."""
    tally = {"reads": 0, "errors": []}
    stop = threading.Event()

    def read():
        data = DashboardData(settings)
        while not stop.is_set():
            try:
                if data.warehouse.served_at() and (days := data.date_range()):
                    data.daily(Filters(*days)), data.performance(Filters(*days), by_campaign=True)
                    data.unmatched_spend(Filters(*days)), data.live_events(), data.health()
                    tally["reads"] += 1
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                tally["errors"].append(repr(error))
            time.sleep(0.2)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield tally
    finally:
        stop.set()
        reader.join(timeout=60)


def test_a_run_builds_the_marts_and_a_rerun_over_the_same_files_changes_nothing(
    airflow_home, attribution_env, settings, tmp_path: Path
):
    env = {**airflow_home, **attribution_env, "ATTRIBUTION_HISTORY_DAYS": "1"}
    # A batch from another producer waits in the landing directory, next to the DAG's own batch.
    landed = write_batch(settings.landing_path, 2_000, seed=11, end=datetime.now(UTC))
    # The dashboard is open all along, and another reader runs its queries in a loop: the pipeline's
    # writers and the dashboard's readers must never meet on a lock.
    with (
        dashboard_server(env, tmp_path / "dashboard.log") as dashboard_url,
        reading_the_served_marts(settings) as reader,
        chromium(tmp_path / "chromium") as browser,
    ):
        _two_runs_with_the_dashboard_open(env, settings, landed, browser, dashboard_url)
    assert reader["errors"] == [] and reader["reads"] > 10, reader
    served_log = (tmp_path / "dashboard.log").read_text()
    assert "Traceback" not in served_log and "IO Error" not in served_log, served_log


def _two_runs_with_the_dashboard_open(env, settings: Settings, landed: Path, browser, dashboard_url: str):
    first = dags_test(env, {"synthetic_events": 500})
    assert first.returncode == 0, "first run failed"
    assert not list(settings.landing_path.glob("*.csv")), "landing directory emptied"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        origins = dict(con.execute("select event_origin, count(*) from int_events group by 1").fetchall())
        assert origins["stream"] == 2_500
        history = one(con, "select count(*) from raw.ga4_events")
        assert origins["ga4"] == history > 10_000, "an empty warehouse is seeded with a day of GA4 history"

    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        conversions = one(con, "select count(distinct conversion_id) from mart_attribution_credits")
        assert conversions > 0
        for mart in ("mart_first_click", "mart_last_click"):
            assert one(con, f"select count(*) from {mart}") == conversions
            assert one(con, f"select count(distinct conversion_id) from {mart}") == conversions
        assert (
            one(
                con,
                """
            select count(*) from (
                select conversion_id, attribution_model, sum(credit) as credit
                from mart_attribution_credits group by all having abs(credit - 1) > 1e-9)
        """,
            )
            == 0
        )
        assert one(con, "select count(*) from mart_live_events") > 0
        assert one(con, "select sum(rows_read) from load_ledger where file_type = 'events'") == 2_500
        assert one(con, "select count(*) from load_ledger where file_type = 'cost'") == 2, "history's and the batch's"
        assert one(con, "select bool_and(rows_read = rows_loaded + rows_duplicate + rows_quarantined) from load_ledger")
        multi_touch = one(con, "select count(*) from mart_attribution_credits where touchpoint_count > 1")
        assert multi_touch > 0, "journeys span several sessions"
    before = snapshot(settings)

    # In headless Chromium: the charts draw and the figures are the marts' (the default filters
    # span the last 30 days of conversions, i.e. all of them here).
    expected = click_figures_from_marts(settings)
    shown = open_dashboard(browser, dashboard_url)
    assert {label: shown[label] for label in expected} == expected
    # The spend section: the window's spend is the spend loaded for those days, matched or not.
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        last_day = one(con, "select max(conversion_date) from mart_attribution_daily")
        first_day = max(
            one(con, "select min(conversion_date) from mart_attribution_daily"), last_day - timedelta(days=29)
        )
        window = f"between date '{first_day}' and date '{last_day}'"
        spend = one(con, f"select sum(spend) from mart_channel_performance where attribution_model = 'first_click'"
                         f" and performance_date {window}") + one(
            con, f"select coalesce(sum(spend), 0) from mart_unmatched_spend where spend_date {window}")  # fmt: skip
    assert shown["Spend"] == f"${float(spend):,.2f}" and spend > 0
    assert shown["Paid channels' ROAS, first click"].endswith("×")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    # Same files land again and the run generates nothing: nothing may change, and with nothing loaded
    # since the last publish the run skips its build and publish.
    served_at = connect(settings).served_at()
    shutil.copy(settings.archive_path / landed.name, settings.landing_path / landed.name)
    second = dags_test(env, {"synthetic_events": 0})  # the page stays open; its live panel refreshes
    assert second.returncode == 0, "second run failed"
    assert snapshot(settings) == before
    assert connect(settings).served_at() == served_at, "nothing new: not published again"
    assert "Skipping downstream tasks" in second.stdout + second.stderr
    assert not browser.find_elements("css selector", '[data-testid="stException"]')
    wait_for(browser, '[data-testid="stDataFrame"]', count=4)  # spend, first vs last, campaigns, live events
    reloaded = open_dashboard(browser, dashboard_url)
    assert {label: reloaded[label] for label in expected} == click_figures_from_marts(settings)
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        assert one(con, "select count(*) from load_ledger where file_type = 'events'") == 2
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert one(con, "select count(*) from raw.ga4_events") == history, "history is seeded once"
