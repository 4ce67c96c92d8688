"""The demo's ad platforms: what the synthetic traffic's paid clicks cost, landed as cost files.

Every session the generator starts from a paid source is a click its platform bills at a cost per
click (organic, referral, email and direct traffic is free). The platforms keep a running tally of
clicks per day and key (a small JSON file beside the warehouse) and, after each batch, land one cost
file with the totals so far of every day the batch touched, in the cost contract's shape
(docs/spend.md): the later file replaces the earlier figures, as a platform's restated daily report
does. One more campaign's ads reach the site without UTM tags, so its spend matches no traffic: the
demo's unmatched spend, a share of each day's paid spend.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from attribution.generator import write_batch, write_csv
from attribution.landing import open_landing
from attribution.raw_tables import COST
from attribution.settings import Settings

COST_PER_CLICK = {
    ("google", "cpc"): Decimal("0.90"),
    ("bing", "cpc"): Decimal("0.65"),
    ("facebook", "cpc"): Decimal("0.55"),
    ("instagram", "paid_social"): Decimal("0.75"),
    ("google", "display"): Decimal("0.35"),
    ("partner-network", "affiliate"): Decimal("1.10"),
}
"""The generator's paid (source, medium) pairs (generator.CHANNEL_MIX) and what a click costs, in the
reporting currency (the demo's revenue is in it too)."""

UNTAGGED = ("tiktok", "paid_social", "launch_teaser")
"""A campaign whose ads carry no UTM tags the site receives: its spend matches no session."""
UNTAGGED_SHARE = Decimal("0.05")
"""Its spend per day, as a share of the day's other paid spend."""

KEPT_DAYS = 60
"""Days the tally keeps: a batch's late sessions reach back four weeks at most (generator)."""

Key = tuple[str, str, str, str]  # (day, source, medium, campaign)


class PaidClicks:
    """Counts the paid sessions of an event stream it passes through (:meth:`tap`)."""

    def __init__(self) -> None:
        self.clicks: Counter[Key] = Counter()

    def tap(self, events: Iterable[dict]) -> Iterator[dict]:
        for event in events:
            if event["event_name"] == "session_start" and (event["source"], event["medium"]) in COST_PER_CLICK:
                day = datetime.fromtimestamp(int(event["event_timestamp"]) / 1e6, UTC).date().isoformat()
                self.clicks[(day, event["source"], event["medium"], event["campaign"])] += 1
            yield event


def record(tally_path: Path, clicks: Counter[Key]) -> dict[str, dict[str, int]]:
    """Add ``clicks`` to the running tally at ``tally_path`` (locked: two runs may generate at once) and
    return the tally of the days they touched."""
    tally_path.parent.mkdir(parents=True, exist_ok=True)
    with tally_path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        tally: dict[str, dict[str, int]] = json.loads(handle.read() or "{}")
        for (day, *key), count in clicks.items():
            per_key = tally.setdefault(day, {})
            per_key["|".join(key)] = per_key.get("|".join(key), 0) + count
        newest = max(tally, default=None)
        if newest:
            oldest_kept = (date.fromisoformat(newest) - timedelta(days=KEPT_DAYS)).isoformat()
            tally = {day: keys for day, keys in tally.items() if day >= oldest_kept}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(tally, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    return {day: tally[day] for day in {day for day, *_ in clicks} if day in tally}


def cost_rows(day: str, clicks: dict[str, int], currency: str) -> list[dict]:
    """The cost contract's rows of one day, in ``currency``: each paid key's clicks at its cost per click,
    and the untagged campaign's share."""
    rows, paid = [], Decimal(0)
    for key, count in sorted(clicks.items()):
        source, medium, campaign = key.split("|")
        cost = (COST_PER_CLICK[(source, medium)] * count).quantize(Decimal("0.01"), ROUND_HALF_UP)
        paid += cost
        rows.append(_row(day, source, medium, campaign, cost, count, currency))
    untagged = (paid * UNTAGGED_SHARE).quantize(Decimal("0.01"), ROUND_HALF_UP)
    if untagged:
        rows.append(_row(day, *UNTAGGED, untagged, None, currency))
    return rows


def _row(day: str, source: str, medium: str, campaign: str, cost: Decimal, clicks: int | None, currency: str) -> dict:
    return {
        "date": day, "utm_source": source, "utm_medium": medium, "utm_campaign": campaign, "utm_id": "",
        "cost": f"{cost:.2f}", "clicks": "" if clicks is None else clicks, "impressions": "", "currency": currency,
    }  # fmt: skip


def write_cost_file(directory: Path, rows: list[dict], at: datetime) -> Path:
    """A cost file, written atomically; named so that a later one sorts (and loads) after it."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_csv(directory / f"spend_{at.astimezone(UTC):%Y%m%dT%H%M%S%f}.csv", COST.column_names, rows)


def land_cost_file(settings: Settings, clicks: PaidClicks, at: datetime) -> str | None:
    """Record the clicks and land one cost file with the totals so far of the days they touched;
    returns where it landed (None without paid clicks)."""
    days = record(tally_path(settings), clicks.clicks)
    if not days:
        return None
    rows = [row for day in sorted(days) for row in cost_rows(day, days[day], settings.reporting_currency)]
    return open_landing(settings, COST).write(lambda directory: write_cost_file(directory, rows, at))


def land_demo_batch(settings: Settings, n_events: int, *, seed: int, end: datetime) -> list[str]:
    """Land one synthetic event batch and the cost files of its paid clicks; returns where they landed."""
    clicks = PaidClicks()
    batch = open_landing(settings).write(
        lambda directory: write_batch(directory, n_events, seed=seed, end=end, tap=clicks.tap)
    )
    cost_file = land_cost_file(settings, clicks, end)
    return [batch, cost_file] if cost_file else [batch]


def tally_path(settings: Settings) -> Path:
    return settings.warehouse_path.parent / "synthetic_ad_clicks.json"
