"""The dashboard page through Streamlit's AppTest, on a small warehouse built and published for real."""

import os
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest
from conftest import click_figures_from_marts
from streamlit.testing.v1 import AppTest

from attribution.dashboard.data import DashboardData, Filters, inert
from attribution.dbt_cli import run_dbt
from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.settings import PROJECT_ROOT, load_settings
from attribution.warehouse import connect

APP = PROJECT_ROOT / "include" / "attribution" / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict[str, str]:
    """A warehouse with two batches, built by dbt and published: the environment that points at it."""
    root = tmp_path_factory.mktemp("served")
    env = {"ATTRIBUTION_DUCKDB_PATH": str(root / "w.duckdb"), "ATTRIBUTION_LANDING_DIR": str(root / "landing")}
    settings = load_settings(env)
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for seed in (1, 2):
        write_batch(settings.landing_path, 3_000, seed=seed, end=end)
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
    assert shift["first_click_revenue"].to_dict() == pytest.approx({k: float(v) for k, v in per_channel.items()})
    assert (shift["revenue_shift"] == shift["last_click_revenue"] - shift["first_click_revenue"]).all()
    assert len(app.get("vega_lite_chart")) == 2, "model comparison and trend charts"
    live = app.dataframe[-1].value
    assert len(live) == 50 and live["event_at"].is_monotonic_decreasing


def test_filters_narrow_every_figure(served, monkeypatch):
    app = page(served, monkeypatch)
    app.sidebar.multiselect[0].set_value(["linear"]).run()  # models
    app.sidebar.multiselect[1].set_value(["Email"]).run()  # channels
    assert not app.exception
    campaigns = table(app, "campaign", "attribution_model")
    assert set(campaigns["attribution_model"]) == {"linear"} and set(campaigns["channel_group"]) == {"Email"}
    assert set(table(app, "revenue_shift")["channel_group"]) == {"Email"}


def test_filter_values_never_reach_sql_unchecked(served):
    data = DashboardData(load_settings(served))
    days = data.date_range()
    with pytest.raises(ValueError, match="not a model or channel name"):
        data.by_campaign(Filters(*days, channels=("Email') or ('1' = '1",)))
    assert data.by_campaign(Filters(*days, models=())).empty


def test_before_the_first_publish_the_page_says_so(tmp_path, monkeypatch):
    app = page({"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb")}, monkeypatch)
    assert "Nothing served yet" in app.info[0].value


def test_downloads_neutralise_spreadsheet_formulas():
    frame = pd.DataFrame({"campaign": ['=HYPERLINK("http://x","y")', "spring", "+1", None], "n": [1, 2, 3, 4]})
    campaigns = inert(frame)["campaign"].tolist()
    assert campaigns[:3] == ['\'=HYPERLINK("http://x","y")', "spring", "'+1"] and pd.isna(campaigns[3])
