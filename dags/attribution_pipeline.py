"""
### Real-time marketing attribution

A run starts **as soon as a file lands** (the triggerer watches the landing location) and on the
cron schedule, the safety net. **generate** a synthetic GA4 batch and the cost files of its paid
clicks (demo traffic, scheduled and manual runs only; off when `ATTRIBUTION_SYNTHETIC_EVENTS=0`)
and, on an empty embedded warehouse only, **seed_history** with GA4-shaped history and its spend →
**load** every CSV batch waiting in the landing directory, then every cost file under its `cost/`
(validated, deduplicated, bad rows quarantined, one ledger row per file; when nothing was loaded
since the last publish, the rest of the run is skipped) → **dbt**: one `dbt build`
(`dbt_producer_watcher`) of staging, sessions, conversions, the attribution and spend marts and
their data tests → **publish** the marts for the dashboard. After the build, one task per model
shows its result; publishing does not wait for them.

Trigger it by hand with *Trigger DAG*: `synthetic_events` sets the batch size of this run and
`full_refresh` rebuilds every model from scratch. Failed tasks alert on Slack (connection
`slack_alerts`) after their last retry. Configuration: `ATTRIBUTION_*` variables, see the README.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup

from attribution.alerts import recovery_alert, run_failure_alert, task_failure_alert
from attribution.cosmos_config import build_then_watch, dbt_task_group_args
from attribution.settings import load_settings
from attribution.triggering import pipeline_schedule

settings = load_settings()


@dag(
    dag_id="attribution_pipeline",
    schedule=pipeline_schedule(settings),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    # A landing starts a run while the last one's node tasks still show results; the writers below run
    # one run at a time (max_active_tis_per_dag), so no two builds ever overlap, on either warehouse.
    max_active_runs=2,
    dagrun_timeout=timedelta(minutes=settings.run_timeout_minutes),
    doc_md=__doc__,
    tags=["attribution", "ga4", "dbt", settings.target],
    params={
        "synthetic_events": Param(
            settings.synthetic_events,
            type="integer",
            minimum=0,
            description="Synthetic GA4 events to generate in this run (0: load only what has landed).",
        ),
        "full_refresh": Param(False, type="boolean", description="Rebuild every dbt model from scratch."),
    },
    default_args={
        "owner": "analytics-engineering",
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
    on_failure_callback=run_failure_alert,
)
def attribution_pipeline():
    @task
    def generate(params: dict, dag_run, data_interval_end: datetime | None = None) -> list[str]:
        """Land one synthetic batch, and the cost files of its paid clicks (not in runs a landing started)."""
        from airflow.sdk.exceptions import AirflowSkipException

        if params["synthetic_events"] == 0:
            raise AirflowSkipException("synthetic_events is 0: nothing to generate")
        if dag_run.run_type == "asset_triggered":  # its batch would start the next run, and so on
            raise AirflowSkipException("a landing started this run: it loads what landed")
        from attribution.synthetic_spend import land_demo_batch  # only here: a skip is a step of every run

        end = data_interval_end or datetime.now(UTC)
        return land_demo_batch(settings, params["synthetic_events"], seed=int(end.timestamp()), end=end)

    @task(pool=settings.pool, max_active_tis_per_dag=1)
    def seed_history() -> int:
        """Seed an empty embedded warehouse with GA4-shaped history (once; a no-op afterwards)."""
        from attribution.history import seed_history

        return seed_history(settings)

    @task.short_circuit(trigger_rule="none_failed", pool=settings.pool, max_active_tis_per_dag=1)
    def load(params: dict, **context) -> dict | None:
        """Load every waiting batch: at most once per file, deduplicated, bad rows quarantined. Returns
        what the run builds, or None to skip the build and publish: nothing loaded, and no change of the
        GA4 export noted, since the last publish."""
        from attribution.alerts import quarantine_alert
        from attribution.landing import build_reason, load_pending, note_export_changes
        from attribution.warehouse import connect

        warehouse = connect(settings)
        reports = [report.as_dict() for report in load_pending(settings, warehouse)]
        quarantine_alert(context, reports, settings.quarantine_alert_rate)
        export_changes = note_export_changes(settings, warehouse)
        reason = build_reason(warehouse, full_refresh=params["full_refresh"])
        return {"files": reports, "export_changes": export_changes, "reason": reason} if reason else None

    # Ahead of any waiting writer: its weight is absolute and above any other task's.
    @task(pool=settings.pool, max_active_tis_per_dag=1, priority_weight=100, weight_rule="absolute")
    def publish(**context) -> dict[str, int]:
        """Publish the marts for the dashboard; the run has succeeded (a recovery message if it follows a failure)."""
        from attribution.warehouse import connect

        counts = connect(settings).publish()
        recovery_alert(context)
        return counts

    dbt = DbtTaskGroup(group_id="dbt", **dbt_task_group_args(settings))
    [generate(), seed_history()] >> load() >> dbt
    build_then_watch(dbt) >> publish()


attribution_pipeline()
