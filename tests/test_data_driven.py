"""The data-driven model checked against an independent solution: the same removal effects computed here
from the raw CSV events with numpy, an absorbing Markov chain solved by linear algebra, sharing
nothing with the dbt project but the contract (README: attribution rules, data-driven attribution).

The data is the generator's: thousands of paths, non-converting ones included, users returning across
batches, and a batch that lands late (its events older than those already loaded), built incrementally.
"""

from __future__ import annotations

import csv
import itertools
import os
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from attribution.dbt_cli import run_dbt
from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.settings import Settings
from attribution.warehouse import connect

pytestmark = pytest.mark.dbt

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
LOOKBACK_MICROS = 30 * 86_400 * 1_000_000
MIN_PATHS = 10  # dbt var data_driven_min_paths, default
TOLERANCE = 1e-9

# GA4's default channel group of every (source, medium, campaign) the generator writes, read from
# Google's channel-group definitions by hand (the project derives them from its seed and macro).
CHANNEL_GROUPS = {
    ("", "", ""): "Direct",
    ("google", "organic", ""): "Organic Search",
    ("bing", "organic", ""): "Organic Search",
    ("google", "cpc", "brand_search"): "Paid Search",
    ("google", "cpc", "generic_search"): "Paid Search",
    ("google", "cpc", "shopping_feed"): "Paid Shopping",  # campaign name matches "shopping"
    ("bing", "cpc", "generic_search"): "Paid Search",
    ("facebook", "cpc", "spring_sale"): "Paid Social",
    ("facebook", "cpc", "retargeting"): "Paid Social",
    ("instagram", "paid_social", "influencer_q2"): "Paid Social",
    ("facebook", "referral", ""): "Organic Social",
    ("t.co", "referral", ""): "Organic Social",
    ("linkedin.com", "referral", ""): "Organic Social",
    ("newsletter", "email", "weekly_digest"): "Email",
    ("newsletter", "email", "winback"): "Email",
    ("blog.example.org", "referral", ""): "Referral",
    ("partner-network", "affiliate", "cashback"): "Affiliates",
    ("youtube.com", "referral", ""): "Organic Video",
    ("google", "display", "remarketing_banners"): "Display",
}


def read_events(directory: Path) -> list[dict]:
    """Every event of the CSV batches, once per event_id (the loader's rule)."""
    events = {}
    for path in sorted(directory.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                events.setdefault(row["event_id"], row)
    return list(events.values())


def reference_paths(events: list[dict]) -> tuple[list[tuple[str, list[str], bool]], dict[str, list[str]]]:
    """(path id, channel groups, converts) of every path, and each conversion's touchpoint channels in order."""
    events = sorted(events, key=lambda e: (int(e["event_timestamp"]), e["event_id"]))
    sessions: dict[tuple[str, int], dict] = {}
    for e in events:
        key = (e["user_pseudo_id"], int(e["ga_session_id"]))
        session = sessions.setdefault(key, {"start": int(e["event_timestamp"]), "channel": None})
        if session["channel"] is None and e["source"]:
            session["channel"] = CHANNEL_GROUPS[(e["source"], e["medium"], e["campaign"])]
    for session in sessions.values():
        session["channel"] = session["channel"] or CHANNEL_GROUPS[("", "", "")]

    conversions: dict[str, dict] = {}
    for e in events:
        if e["event_name"] == "purchase":
            conversions.setdefault(e["transaction_id"] or e["event_id"], e)  # first occurrence wins

    by_user: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for (user, session_id), session in sessions.items():
        by_user[user].append((session["start"], session_id, session["channel"]))
    for user_sessions in by_user.values():
        user_sessions.sort()

    paths, touchpoints = [], {}
    last_conversion: dict[str, int] = {}
    for conversion_id, e in conversions.items():
        user, at, session_id = e["user_pseudo_id"], int(e["event_timestamp"]), int(e["ga_session_id"])
        channels = [channel for start, sid, channel in by_user[user]
                    if sid == session_id or at - LOOKBACK_MICROS <= start <= at]  # fmt: skip
        touchpoints[conversion_id] = channels
        paths.append((conversion_id, channels, True))
        last_conversion[user] = max(last_conversion.get(user, at), at)
    for user, user_sessions in by_user.items():
        later = [s for s in user_sessions if user not in last_conversion or s[0] > last_conversion[user]]
        if later:
            last_start = later[-1][0]
            paths.append((user, [c for start, _, c in later if start >= last_start - LOOKBACK_MICROS], False))
    return paths, touchpoints


def reference_removal_effects(paths: list[tuple[str, list[str], bool]]) -> tuple[dict[str, float], dict[str, str]]:
    """Removal effect per channel group, solving the absorbing chain exactly: B = (I - Q)^-1 R."""
    paths_through: dict[str, int] = defaultdict(int)
    for _, channels, _ in paths:
        for channel in set(channels):
            paths_through[channel] += 1
    state_of = {c: c if n >= MIN_PATHS else "(pooled)" for c, n in paths_through.items()}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for _, channels, converts in paths:
        walk = ["(start)", *(state_of[c] for c in channels), "(conversion)" if converts else "(null)"]
        for a, b in itertools.pairwise(walk):
            counts[(a, b)] += 1
    transient = ["(start)", *sorted(set(state_of.values()))]
    index = {s: i for i, s in enumerate(transient)}

    def conversion_probability(removed: str | None) -> float:
        n = len(transient)
        q, r = np.zeros((n, n)), np.zeros((n, 2))  # r: (conversion), (null)
        for (a, b), count in counts.items():
            if a == removed:
                continue
            if b == removed:
                r[index[a], 1] += count
            elif b in ("(conversion)", "(null)"):
                r[index[a], 0 if b == "(conversion)" else 1] += count
            else:
                q[index[a], index[b]] += count
        totals = q.sum(axis=1) + r.sum(axis=1)
        live = totals > 0
        q[live], r[live] = q[live] / totals[live, None], r[live] / totals[live, None]
        absorbed = np.linalg.solve(np.eye(n) - q, r)
        return absorbed[index["(start)"], 0]

    base = conversion_probability(None)
    effects = {state: 1 - conversion_probability(state) / base for state in transient[1:]}
    return {c: effects[s] for c, s in state_of.items()}, state_of


def land_and_build(settings: Settings, env: dict[str, str], written: Path, events: int, seed: int, end: datetime):
    batch = write_batch(written, events, seed=seed, end=end)
    landing = Path(settings.landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    shutil.copy(batch, landing / batch.name)
    load_pending(settings, connect(settings))
    assert run_dbt(["build", "--exclude", "resource_type:unit_test"], environ={**os.environ, **env}) == 0


def test_removal_effects_and_credits_equal_an_independent_exact_solution(
    settings: Settings, attribution_env: dict[str, str], tmp_path: Path
):
    written = tmp_path / "written"
    land_and_build(settings, attribution_env, written, 20_000, seed=71, end=END)
    land_and_build(settings, attribution_env, written, 20_000, seed=72, end=END + timedelta(hours=6))
    land_and_build(settings, attribution_env, written, 15_000, seed=73, end=END - timedelta(days=3))  # late

    paths, touchpoints = reference_paths(read_events(written))
    expected, state_of = reference_removal_effects(paths)
    assert len(paths) > 5_000 and sum(not converts for _, _, converts in paths) > 4_000
    assert sum(converts for _, _, converts in paths) > 200

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("select channel_group, removal_effect, chain_state from int_channel_removal_effects")
        warehouse, states = {}, {}
        for channel, effect, state in rows.fetchall():
            warehouse[channel], states[channel] = effect, state
        credits = con.execute(
            "select conversion_id, touchpoint_number, channel_group, credit from mart_attribution_credits"
            " where attribution_model = 'data_driven' order by conversion_id, touchpoint_number"
        ).fetchall()
        mart = con.execute("select sum(conversions), count(*) from mart_channel_removal_effects").fetchone()

    assert states == state_of
    assert warehouse.keys() == expected.keys() and len(expected) >= 10
    for channel, effect in expected.items():
        assert abs(warehouse[channel] - effect) < TOLERANCE, (channel, warehouse[channel], effect)
    assert all(0 < effect <= 1 for effect in expected.values())

    # Per conversion, credit in proportion to the touchpoints' removal effects.
    by_conversion: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for conversion_id, _, channel, credit in credits:
        by_conversion[conversion_id].append((channel, credit))
    assert by_conversion.keys() == touchpoints.keys()
    for conversion_id, channels in touchpoints.items():
        total = sum(expected[c] for c in channels)
        assert [c for c, _ in by_conversion[conversion_id]] == channels
        for (_, credit), channel in zip(by_conversion[conversion_id], channels, strict=True):
            assert abs(credit - expected[channel] / total) < TOLERANCE
    assert abs(mart[0] - len(touchpoints)) < 1e-6
