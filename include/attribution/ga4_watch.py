"""Watching GA4's BigQuery export for new data (docs/ga4.md: today, from the streaming export).

Each poll reads the metadata of the export's intraday tables and recent daily tables: rows (those in
the streaming buffer included) and last modification, from BigQuery's API (``tables.list`` and
``tables.get``, which bill no query bytes). A table whose metadata moved since it was last noticed is
a change: new rows streamed into an intraday table, a new daily table, a daily table GA4 rewrote for
late hits. The load task notes the changes in ``ga4_export_changes``; a noted change that no build
has read yet makes the run build, and ``stg_ga4_events`` then reads only the changed parts of the
export (docs/incremental.md). Intraday changes are noted at most once per
``ATTRIBUTION_GA4_INTRADAY_INTERVAL_SECONDS``: every read of an intraday table scans it whole, so this
is the bound on what the streaming export costs; daily changes are noted at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

INTRADAY_TABLE = re.compile(r"^events_intraday_(?P<day>\d{8})$")
"""GA4's name for a day's streaming export table."""

DAILY_TABLES_WATCHED = 4
"""The newest daily tables watched for late hits: today's export day and the three before it, the
days GA4 keeps rewriting (and the dbt var ga4_reload_days re-reads)."""


@dataclass(frozen=True)
class ExportTable:
    """One table's metadata: what tells that it changed."""

    rows: int | None
    modified: datetime | None


def is_intraday(name: str) -> bool:
    return INTRADAY_TABLE.match(name) is not None


def changed_tables(current: dict[str, ExportTable], previous: dict[str, ExportTable]) -> dict[str, ExportTable]:
    """The tables whose metadata differs from what was seen of them before (new tables included)."""
    return {name: table for name, table in current.items() if previous.get(name) != table}


def note_changes(warehouse, interval_seconds: int, now: datetime) -> list[str]:
    """Note what changed in the export since the last poll; returns the tables noted.

    Intraday changes wait while one was noted less than ``interval_seconds`` ago (they are noted by a
    later run); daily ones never wait.
    """
    noticed = warehouse.ga4_export_noticed()
    changed = changed_tables(warehouse.ga4_export_tables(), {name: table for name, (table, _) in noticed.items()})
    last_intraday = max((at for name, (_, at) in noticed.items() if is_intraday(name)), default=None)
    if last_intraday is not None and now - last_intraday < timedelta(seconds=interval_seconds):
        changed = {name: table for name, table in changed.items() if not is_intraday(name)}
    if changed:
        warehouse.note_ga4_export(changed, now)
    return sorted(changed)


@dataclass(frozen=True)
class StreamingCost:
    """What reading GA4's export costs a day on BigQuery on-demand pricing (docs/ga4.md: what the
    streaming export costs)."""

    intraday_bytes: float
    daily_bytes: float
    usd_per_tib: float

    @property
    def bytes(self) -> float:
        return self.intraday_bytes + self.daily_bytes

    @property
    def usd(self) -> float:
        return self.bytes / 2**40 * self.usd_per_tib


TABLE_MINIMUM_BYTES = 10 * 2**20
"""BigQuery bills at least 10 MB for every table a query references."""


def streaming_cost_per_day(
    events_per_day: int,
    bytes_per_event: float,
    interval_seconds: int,
    *,
    daily_reads: int = 10,
    days_reread: int = 5,
    usd_per_tib: float = 6.25,
) -> StreamingCost:
    """Bytes stg_ga4_events scans a day, an upper bound under the noting rules above.

    - Today's intraday table, read at most once per ``interval_seconds``: it grows through the day, so
      a read scans half a day's events on average (at least 10 MB). Yesterday's table changes only
      with late hits after midnight; it is counted as read as often as today's for the first hour.
    - The daily tables, read when one changes (a new daily table, GA4 rewriting one for late hits for
      up to three days: ``daily_reads`` a day), each time the reload window of ``days_reread`` days.
    ``bytes_per_event``: what the columns stg_ga4_events reads weigh per event in BigQuery's data sizes
    (``make bench`` measures it on real export rows).
    """
    reads = 86_400 // interval_seconds
    average_read = max(events_per_day / 2 * bytes_per_event, TABLE_MINIMUM_BYTES)
    yesterday = (3_600 // interval_seconds) * max(events_per_day * bytes_per_event, TABLE_MINIMUM_BYTES)
    daily = daily_reads * days_reread * events_per_day * bytes_per_event
    return StreamingCost(reads * average_read + yesterday, daily, usd_per_tib)
