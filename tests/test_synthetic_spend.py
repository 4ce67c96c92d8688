"""The demo's ad platforms: cost files consistent with the synthetic traffic, restated as it grows."""

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from attribution.landing import load_pending
from attribution.settings import Settings, load_settings
from attribution.synthetic_spend import COST_PER_CLICK, UNTAGGED, land_demo_batch
from attribution.warehouse import connect

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def paid_sessions(batches) -> Counter:
    """(day, source, medium, campaign) -> sessions from a paid source, counted in the landed batches."""
    sessions = Counter()
    for path in batches:
        with open(path, newline="", encoding="utf-8") as handle:
            for event in csv.DictReader(handle):
                if event["event_name"] == "session_start" and (event["source"], event["medium"]) in COST_PER_CLICK:
                    day = datetime.fromtimestamp(int(event["event_timestamp"]) / 1e6, UTC).date().isoformat()
                    sessions[(day, event["source"], event["medium"], event["campaign"])] += 1
    return sessions


def test_each_paid_click_is_billed_and_a_later_file_restates_the_day(settings: Settings):
    first_batch, first_cost = land_demo_batch(settings, 2_000, seed=1, end=END)
    second_batch, second_cost = land_demo_batch(settings, 2_000, seed=2, end=END + timedelta(minutes=5))
    assert first_cost.endswith(".csv") and "/cost/" in first_cost and first_cost < second_cost, "loads in order"
    sessions = paid_sessions([first_batch, second_batch])
    with open(second_cost, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    billed = {(r["date"], r["utm_source"], r["utm_medium"], r["utm_campaign"]): r for r in rows}
    second_days = {day for day, *_ in paid_sessions([second_batch])}
    for key, count in sessions.items():
        if key[0] in second_days:  # the second file carries the running totals of the days it touched
            row = billed[key]
            assert int(row["clicks"]) == count
            assert Decimal(row["cost"]) == (COST_PER_CLICK[key[1:3]] * count).quantize(Decimal("0.01"))
    assert not [k for k in billed if k[1:3] not in COST_PER_CLICK and k[1:] != UNTAGGED], "organic is free"
    today = END.date().isoformat()
    paid_today = sum(Decimal(r["cost"]) for k, r in billed.items() if k[0] == today and k[1:] != UNTAGGED)
    untagged = Decimal(billed[(today, *UNTAGGED)]["cost"])
    assert untagged == (paid_today * Decimal("0.05")).quantize(Decimal("0.01"), ROUND_HALF_UP)

    reports = {r.file_name: r for r in load_pending(settings, connect(settings))}
    second = reports[f"cost/{second_cost.rsplit('/', 1)[1]}"]
    assert second.error and second.error.startswith("replaces the figures of"), "today's totals restated"
    [(loaded,)] = [
        tuple(r.values())
        for r in connect(settings).query(
            "select sum(cost) from (select cost, row_number() over (partition by date, utm_source, utm_medium,"
            " utm_campaign order by _loaded_at desc) as newest from raw.ad_spend) where newest = 1"
        )
    ]
    per_day = Counter()
    for key, count in sessions.items():
        per_day[key[0]] += (COST_PER_CLICK[key[1:3]] * count).quantize(Decimal("0.01"))
    expected = sum(
        paid + (paid * Decimal("0.05")).quantize(Decimal("0.01"), ROUND_HALF_UP) for paid in per_day.values()
    )
    assert loaded == expected, "every paid click of both batches once, and the untagged campaign's share"


def test_the_demos_cost_files_are_in_the_reporting_currency(attribution_env: dict[str, str]):
    """Another reporting currency: the demo's spend is in it, none quarantined as another currency."""
    settings = load_settings(attribution_env | {"ATTRIBUTION_REPORTING_CURRENCY": "EUR"})
    _, cost = land_demo_batch(settings, 2_000, seed=1, end=END)
    with open(cost, newline="", encoding="utf-8") as handle:
        assert {row["currency"] for row in csv.DictReader(handle)} == {"EUR"}
    [report] = [r for r in load_pending(settings, connect(settings)) if r.file_name.startswith("cost/")]
    assert (report.status, report.rows_quarantined) == ("loaded", 0)
