"""When the pipeline runs: as soon as a batch lands (event-driven), with the cron schedule as a safety net.

The triggerer runs :class:`LandingTrigger` for the DAG's landing asset; each batch file it has not
signalled yet becomes an asset event, and the scheduler starts a run for it. Two runs may be active
(the DAG's writing tasks still go one run at a time); the events that arrive while both are busy wait
together and start a single next run, which loads every file pending by then. The cron schedule still
starts runs: it catches whatever a stopped triggerer missed and, in the demo, lands the synthetic traffic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from attribution.landing import landing_at, landing_location
from attribution.settings import Settings

log = logging.getLogger(__name__)

LANDING_ASSET = "attribution_landing"


class LandingTrigger(BaseEventTrigger):
    """Fires once for each batch file that lands in ``landing_dir`` (a directory or ``gs://bucket/prefix``).

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
        landing = landing_at(self.landing_dir)
        signalled: set[str] = set()
        while True:
            try:
                pending = set(await asyncio.to_thread(landing.pending))
            except Exception:  # a storage hiccup must not end the watch; the next poll retries
                log.warning("listing %s failed; retrying", self.landing_dir, exc_info=True)
            else:
                landed = sorted(pending - signalled)
                signalled = pending  # what left the landing is forgotten: landing again is a new batch
                if landed:
                    yield TriggerEvent({"landed": landed})
            await asyncio.sleep(self.poll_seconds)


def landing_asset(settings: Settings) -> Asset:
    """The landing location as an asset, watched by :class:`LandingTrigger`."""
    uri = settings.landing_dir if settings.landing_is_remote else settings.landing_path.as_uri()
    trigger = LandingTrigger(landing_location(settings), settings.landing_poll_seconds)
    watcher = AssetWatcher(name="batch_landed", trigger=trigger)
    return Asset(name=LANDING_ASSET, uri=uri, watchers=[watcher])


def pipeline_schedule(settings: Settings) -> AssetOrTimeSchedule | str:
    """A run per landing and on ``settings.schedule``; the schedule alone when polling is off (0)."""
    if not settings.landing_poll_seconds:
        return settings.schedule
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(settings.schedule, timezone="UTC"), assets=[landing_asset(settings)]
    )
