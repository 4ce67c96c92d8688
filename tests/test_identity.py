"""The reporting identity on hand-made journeys across two devices (docs/identity.md): the same events
built with the device identity and with the blended one, every credit computed by hand.

One customer (C1) reads a newsletter on the phone, comes back on the laptop through organic search and
buys there, logged in, through a direct visit (order TX, $100). Another user, on one device, opens an
email and buys through a direct visit (order TY, $50).
- device: TX's journey is the laptop's: Organic Search > Direct; the phone's visit is a journey of its
  own that did not convert.
- blended: the phone is C1's too: TX's journey is Email > Organic Search > Direct.
Data-driven (every channel its own state): blended, the chain starts at Email on both paths, Email
leads to Organic Search or Direct (1/2 each), both lead to the conversion; removing Email or Direct
loses every conversion (effect 1), removing Organic Search half (0.5): TX's credits 0.4 / 0.2 / 0.4.
Device: the chain starts at Organic Search (1/3) or Email (2/3); Email converts half the time; the
conversion probability 2/3 falls to 1/3 without Organic Search or Email (effects 0.5) and to 0 without
Direct (1): TX's credits 1/3 Organic Search, 2/3 Direct.
"""

import os
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from test_incremental import event, land, micros

from attribution.dbt_cli import run_dbt
from attribution.landing import load_pending
from attribution.settings import load_settings
from attribution.warehouse import connect

pytestmark = pytest.mark.dbt

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def journeys() -> list[dict]:
    phone, laptop, bought = micros(END - 3 * DAY), micros(END - DAY), micros(END)
    other = micros(END - 2 * DAY)
    return [
        event("p1", "phone", phone // 10**6, phone, "session_start", source="newsletter", medium="email"),
        event("p2", "phone", phone // 10**6, phone + 10**6, "login", user_id="C1"),
        event("l1", "laptop", laptop // 10**6, laptop, "session_start", source="google", medium="organic"),
        event("l2", "laptop", bought // 10**6, bought, "session_start"),
        event("l3", "laptop", bought // 10**6, bought + 10**6, "purchase", transaction_id="TX",
              purchase_revenue="100", user_id="C1"),
        event("o1", "other", other // 10**6, other, "session_start", source="newsletter", medium="email"),
        event("o2", "other", bought // 10**6, bought, "session_start"),
        event("o3", "other", bought // 10**6, bought + 10**6, "purchase", transaction_id="TY",
              purchase_revenue="50"),
    ]  # fmt: skip


def credits(tmp_path, identity: str) -> tuple[dict[tuple[str, str], float], tuple]:
    """TX's credit per (model, channel group) with ``identity``, built from scratch, and its path's
    (other_device_touchpoints, first_channel_group, device_first_channel_group)."""
    env = {
        "ATTRIBUTION_DUCKDB_PATH": str(tmp_path / identity / "w.duckdb"),
        "ATTRIBUTION_LANDING_DIR": str(tmp_path / identity / "landing"),
        "ATTRIBUTION_REPORTING_IDENTITY": identity,
    }
    settings = load_settings(env)
    land(settings, "journeys.csv", journeys())
    load_pending(settings, connect(settings))
    command = ["build", "--exclude", "resource_type:unit_test", "--vars", "{data_driven_min_paths: 0}"]
    assert run_dbt(command, environ={**os.environ, **env}) == 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("""
            select attribution_model, channel_group, sum(credit) from mart_attribution_credits
            where conversion_id = 'TX' and attribution_model in ('first_click', 'last_click', 'linear', 'data_driven')
            group by all
        """).fetchall()
        [moved] = con.execute(
            "select other_device_touchpoints, first_channel_group, device_first_channel_group"
            " from mart_conversion_paths where conversion_id = 'TX'"
        ).fetchall()
    return {(model, channel): round(credit, 9) for model, channel, credit in rows}, moved


def test_stitching_moves_the_phones_visit_into_the_laptops_purchase(tmp_path):
    device, device_path = credits(tmp_path, "device")
    assert device == {
        ("first_click", "Organic Search"): 1.0,
        ("last_click", "Direct"): 1.0,
        ("linear", "Organic Search"): 0.5,
        ("linear", "Direct"): 0.5,
        ("data_driven", "Organic Search"): round(1 / 3, 9),
        ("data_driven", "Direct"): round(2 / 3, 9),
    }
    assert device_path == (0, "Organic Search", "Organic Search")

    blended, blended_path = credits(tmp_path, "blended")
    assert blended == {
        ("first_click", "Email"): 1.0,
        ("last_click", "Direct"): 1.0,
        ("linear", "Email"): round(1 / 3, 9),
        ("linear", "Organic Search"): round(1 / 3, 9),
        ("linear", "Direct"): round(1 / 3, 9),
        ("data_driven", "Email"): 0.4,
        ("data_driven", "Organic Search"): 0.2,
        ("data_driven", "Direct"): 0.4,
    }
    # The phone's touchpoint is on another device; the device identity's first click was Organic Search.
    assert blended_path == (1, "Email", "Organic Search")
