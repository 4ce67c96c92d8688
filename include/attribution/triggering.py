"""When the pipeline runs: as soon as a batch lands or GA4's export changes (event-driven), with the cron
schedule as a safety net.

The triggerer runs :class:`LandingTrigger` for the DAG's landing asset; each batch file it has not
signalled yet becomes an asset event, and the scheduler starts a run for it. On BigQuery with a GA4
export, :class:`GA4ExportTrigger` watches the export's table metadata the same way (ga4_watch). Two runs
may be active (the DAG's writing tasks still go one run at a time); the events that arrive while both
are busy wait together and start a single next run, which loads every file pending by then. The cron
schedule still starts runs: it catches whatever a stopped triggerer missed and, in the demo, lands the
synthetic traffic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from attribution.ga4_watch import ExportTable, changed_tables
from attribution.landing import landing_at, landing_location
from attribution.raw_tables import FILE_CONTRACTS
from attribution.settings import Settings

log = logging.getLogger(__name__)

LANDING_ASSET = "attribution_landing"
GA4_EXPORT_ASSET = "attribution_ga4_export"


class LandingTrigger(BaseEventTrigger):
    """Fires once for each file that lands in ``landing_dir`` (a directory or ``gs://bucket/prefix``):
    event batches, and cost files under its ``cost/``.

    It lists the landing every ``poll_seconds`` and fires with the names it has not signalled yet. A
    name is forgotten once it leaves the landing (loaded files move to the archive), so the same name
    landing again fires again. After a triggerer restart the files still pending fire once more: they
    are still waiting, and loading is idempotent (the ledger).
    """

    def __init__(self, landing_dir: str, poll_seconds: float = 1.0) -> None:
        super().__init__()
        self.landing_dir, self.poll_seconds = landing_dir, poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "landing_dir": self.landing_dir,
            "poll_seconds": self.poll_seconds,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        landings = [(contract, landing_at(self.landing_dir, contract)) for contract in FILE_CONTRACTS]

        def pending_files() -> set[str]:  # every file type's, as the ledger names them (cost/…)
            return {contract.ledger_name(name) for contract, landing in landings for name in landing.pending()}

        signalled: set[str] = set()
        while True:
            try:
                pending = await asyncio.to_thread(pending_files)
            except Exception:  # a storage hiccup must not end the watch; the next poll retries
                log.warning("listing %s failed; retrying", self.landing_dir, exc_info=True)
            else:
                landed = sorted(pending - signalled)
                signalled = pending  # what left the landing is forgotten: landing again is a new batch
                if landed:
                    yield TriggerEvent({"landed": landed})
            await asyncio.sleep(self.poll_seconds)


class GA4ExportTrigger(BaseEventTrigger):
    """Fires when the GA4 export's watched tables change: rows streamed into an intraday table, a new
    daily table, a daily table rewritten for late hits (ga4_watch.py).

    Every ``poll_seconds`` it reads their metadata through BigQuery's API, one ``tables.list`` and one
    ``tables.get`` per watched table (two intraday tables and four daily ones at most: 7 calls a poll,
    about 2 000 a day at the default 300 s), which bill no query bytes. Its first poll is the baseline:
    after a triggerer restart, the next run's load task still notes what changed meanwhile (it compares
    with what it noted last, not with this trigger), so nothing is missed.
    """

    def __init__(self, poll_seconds: float = 300.0) -> None:
        super().__init__()
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"poll_seconds": self.poll_seconds}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from attribution.settings import load_settings
        from attribution.warehouse import connect

        warehouse = connect(load_settings())  # the triggerer's own settings, as the DAG's tasks read them
        seen: dict[str, ExportTable] | None = None
        while True:
            try:
                tables = await asyncio.to_thread(warehouse.ga4_export_tables)
            except Exception:  # an API hiccup must not end the watch; the next poll retries
                log.warning("reading the GA4 export's table metadata failed; retrying", exc_info=True)
            else:
                if seen is not None and (changed := changed_tables(tables, seen)):
                    yield TriggerEvent({"changed": sorted(changed)})
                seen = tables
            await asyncio.sleep(self.poll_seconds)


def ga4_export_asset(settings: Settings) -> Asset:
    """The GA4 export as an asset, watched by :class:`GA4ExportTrigger`."""
    project, dataset = settings.ga4_source.rsplit(".", 1)
    trigger = GA4ExportTrigger(settings.ga4_intraday_interval_seconds)
    watcher = AssetWatcher(name="ga4_export_changed", trigger=trigger)
    return Asset(name=GA4_EXPORT_ASSET, uri=f"bigquery://{project}/{dataset}/{settings.ga4_table}", watchers=[watcher])


def watches_ga4_export(settings: Settings) -> bool:
    """A real export to watch: BigQuery with ATTRIBUTION_GA4_SOURCE set and intraday reading on."""
    return settings.target == "bigquery" and bool(settings.ga4_source) and settings.ga4_intraday.lower() != "false"


def landing_asset(settings: Settings) -> Asset:
    """The landing location as an asset, watched by :class:`LandingTrigger`."""
    uri = settings.landing_dir if settings.landing_is_remote else settings.landing_path.as_uri()
    trigger = LandingTrigger(landing_location(settings), settings.landing_poll_seconds)
    watcher = AssetWatcher(name="batch_landed", trigger=trigger)
    return Asset(name=LANDING_ASSET, uri=uri, watchers=[watcher])


def pipeline_schedule(settings: Settings) -> AssetOrTimeSchedule | str:
    """A run per landing, per change of a watched GA4 export, and on ``settings.schedule``; the schedule
    alone when landing polling is off (0) and there is no export to watch."""
    assets = [landing_asset(settings)] if settings.landing_poll_seconds else []
    if watches_ga4_export(settings):
        assets.append(ga4_export_asset(settings))
    if not assets:
        return settings.schedule
    condition = assets if len(assets) == 1 else AssetAny(*assets)
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(settings.schedule, timezone="UTC"), assets=condition)
