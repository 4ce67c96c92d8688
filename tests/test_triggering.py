"""The landing trigger on a real directory and on the Cloud Storage emulator, and the schedule it makes.

The trigger runs here as the triggerer runs it: its ``run()`` iterated in an event loop. The scheduler
and triggerer around it are exercised by ``make test-compose`` (tests/docker) and ``make bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow.triggers.base import BaseEventTrigger
from emulators import ANONYMOUS_GCP_CONNECTION, running_gcs_emulator

from attribution.settings import load_settings
from attribution.triggering import GA4_EXPORT_ASSET, LANDING_ASSET, GA4ExportTrigger, LandingTrigger, pipeline_schedule

POLL = 0.05


class Watch:
    """A running trigger; ``after(action)`` performs the action and returns what the trigger fired next."""

    def __init__(self, trigger: BaseEventTrigger, key: str = "landed") -> None:
        self.loop = asyncio.new_event_loop()
        self.fired: asyncio.Queue = asyncio.Queue()
        self.task = self.loop.create_task(self._consume(trigger, key))

    async def _consume(self, trigger: BaseEventTrigger, key: str) -> None:
        async for event in trigger.run():
            await self.fired.put(event.payload[key])

    def after(self, action: Callable[[], object], wait: float = 2.0) -> list[str] | None:
        action()
        try:
            return self.loop.run_until_complete(asyncio.wait_for(self.fired.get(), wait))
        except TimeoutError:
            assert not self.task.done(), self.task.exception()  # the watch never ends
            return None

    def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)
        self.loop.close()


def _land(directory: Path, name: str, content: str = "event_id\n") -> Callable[[], None]:
    def land() -> None:
        partial = directory / f".{name}.partial"  # writers publish by rename
        partial.write_text(content)
        partial.replace(directory / name)

    return land


def test_it_fires_once_per_landed_file_and_again_when_a_name_lands_again(tmp_path: Path):
    landing = tmp_path / "landing"
    landing.mkdir()
    watch = Watch(LandingTrigger(str(landing), poll_seconds=POLL))
    try:
        assert watch.after(lambda: None, wait=0.5) is None, "an empty landing fires nothing"
        assert watch.after(_land(landing, "b.csv")) == ["b.csv"]

        def land_two() -> None:
            _land(landing, "c.csv")()
            _land(landing, "a.csv")()

        assert watch.after(land_two) == ["a.csv", "c.csv"], "what is new since the last poll, in one event"
        assert watch.after(lambda: (landing / ".d.csv.partial").write_text("x"), wait=0.5) is None, "partial"
        assert watch.after(lambda: (landing / "notes.txt").write_text("x"), wait=0.5) is None, "not a batch"
        archive = tmp_path / "archive"
        archive.mkdir()
        assert watch.after(lambda: shutil.move(landing / "b.csv", archive / "b.csv"), wait=0.5) is None
        assert watch.after(_land(landing, "b.csv")) == ["b.csv"], "loaded, then landed again: a new batch"
        assert watch.after(lambda: shutil.rmtree(landing), wait=0.5) is None, "a missing landing is empty"
        landing.mkdir()
        assert watch.after(_land(landing, "e.csv")) == ["e.csv"]
        (landing / "cost").mkdir()
        assert watch.after(_land(landing / "cost", "spend.csv")) == ["cost/spend.csv"], "a cost file starts a run too"
    finally:
        watch.close()


@pytest.mark.bigquery
def test_it_watches_a_cloud_storage_prefix(tmp_path: Path, monkeypatch):
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    bucket = "landing-trigger"
    with running_gcs_emulator(tmp_path, bucket) as host:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", host)
        monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", ANONYMOUS_GCP_CONNECTION)
        gcs = GCSHook()
        watch = Watch(LandingTrigger(f"gs://{bucket}/events/in", poll_seconds=POLL))
        try:
            assert watch.after(lambda: gcs.upload(bucket, "events/in/a.csv", data=b"event_id\n")) == ["a.csv"]
            assert watch.after(lambda: gcs.upload(bucket, "events/in/sub/b.csv", data=b"x"), wait=1) is None
            assert watch.after(lambda: gcs.upload(bucket, "events/in/cost/s.csv", data=b"x")) == ["cost/s.csv"]
            assert watch.after(lambda: gcs.upload(bucket, "events/other/c.csv", data=b"x"), wait=1) is None
            assert watch.after(lambda: gcs.upload(bucket, "events/in/d.csv", data=b"x")) == ["d.csv"]
        finally:
            watch.close()


def test_the_trigger_round_trips_through_its_serialized_form(tmp_path: Path):
    classpath, kwargs = LandingTrigger(str(tmp_path), poll_seconds=2.5).serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)  # as the triggerer rebuilds it
    assert (rebuilt.landing_dir, rebuilt.poll_seconds) == (str(tmp_path), 2.5)


def test_the_dag_runs_on_landing_and_on_schedule_unless_polling_is_off(tmp_path: Path):
    from airflow.sdk import AssetOrTimeSchedule

    settings = load_settings({"ATTRIBUTION_LANDING_DIR": str(tmp_path / "in"), "ATTRIBUTION_SCHEDULE": "*/7 * * * *"})
    schedule = pipeline_schedule(settings)
    assert isinstance(schedule, AssetOrTimeSchedule)
    [asset] = schedule.asset_condition.objects
    assert (asset.name, asset.uri) == (LANDING_ASSET, (tmp_path / "in").as_uri())
    [watcher] = asset.watchers
    assert isinstance(watcher.trigger, LandingTrigger)
    assert (watcher.trigger.landing_dir, watcher.trigger.poll_seconds) == (str(tmp_path / "in"), 1.0)
    assert schedule.timetable.expression == "*/7 * * * *"

    remote = load_settings({"ATTRIBUTION_LANDING_DIR": "gs://bucket/in/", "ATTRIBUTION_LANDING_POLL_SECONDS": "5"})
    [asset] = pipeline_schedule(remote).asset_condition.objects
    assert (asset.uri, asset.watchers[0].trigger.landing_dir) == ("gs://bucket/in", "gs://bucket/in/")

    fixed = load_settings({"ATTRIBUTION_LANDING_POLL_SECONDS": "0", "ATTRIBUTION_SCHEDULE": "*/7 * * * *"})
    assert pipeline_schedule(fixed) == "*/7 * * * *"


def test_on_bigquery_the_dag_also_runs_when_the_ga4_export_changes():
    from airflow.sdk import AssetAny

    bigquery = {
        "ATTRIBUTION_TARGET": "bigquery",
        "ATTRIBUTION_BQ_PROJECT": "acme-analytics",
        "ATTRIBUTION_GA4_SOURCE": "acme-analytics.analytics_123",
        "ATTRIBUTION_GA4_INTRADAY_INTERVAL_SECONDS": "120",
    }
    condition = pipeline_schedule(load_settings(bigquery)).asset_condition
    assert isinstance(condition, AssetAny)
    landing, export = condition.objects
    assert (landing.name, export.name) == (LANDING_ASSET, GA4_EXPORT_ASSET)
    assert export.uri == "bigquery://acme-analytics/analytics_123/events_*"
    [watcher] = export.watchers
    assert isinstance(watcher.trigger, GA4ExportTrigger) and watcher.trigger.poll_seconds == 120
    classpath, kwargs = watcher.trigger.serialize()
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).poll_seconds == 120
    for off in ({"ATTRIBUTION_GA4_INTRADAY": "false"}, {"ATTRIBUTION_GA4_SOURCE": ""}):
        [asset] = pipeline_schedule(load_settings(bigquery | off)).asset_condition.objects
        assert asset.name == LANDING_ASSET, f"no export to watch with {off}"
    assert [a.name for a in pipeline_schedule(load_settings({})).asset_condition.objects] == [LANDING_ASSET]


@pytest.mark.parametrize("value", ["-1", "often"])
def test_a_bad_poll_interval_is_refused(value: str):
    from attribution.settings import SettingsError

    with pytest.raises(SettingsError, match="ATTRIBUTION_LANDING_POLL_SECONDS"):
        load_settings({"ATTRIBUTION_LANDING_POLL_SECONDS": value})
