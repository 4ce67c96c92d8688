"""
### Attribution data quality

Every data test of the dbt project, on **every row** (`dbt test`, var `whole_table_tests`), on its
own schedule (`ATTRIBUTION_QUALITY_SCHEDULE`, hourly). Each pipeline run tests only what it wrote —
keys, relationships and reconciliations on its own rows — so that a landing is served in seconds;
this DAG adds the column checks (`not_null`, `accepted_values`) and the tests of the views over every
event (event ids unique across the whole history). A failing test fails the task and alerts on Slack
like any pipeline failure; what was served stays served. Until the pipeline has published once there
is nothing to test: the run skips (a fresh stack starts both DAGs together). README: data tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task
from cosmos.operators.local import DbtTestLocalOperator

from attribution.alerts import recovery_alert, run_failure_alert, task_failure_alert
from attribution.cosmos_config import whole_table_tests_args
from attribution.settings import load_settings

settings = load_settings()


@dag(
    dag_id="attribution_data_quality",
    schedule=settings.quality_schedule,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=settings.run_timeout_minutes),
    doc_md=__doc__,
    tags=["attribution", "dbt", "data-quality", settings.target],
    default_args={
        "owner": "analytics-engineering",
        # A test that fails fails again: the next scheduled run is the retry.
        "retries": 0,
        "on_failure_callback": task_failure_alert,
    },
    on_failure_callback=run_failure_alert,
)
def attribution_data_quality():
    @task.short_circuit
    def published_once() -> bool:
        """Whether the pipeline has published the marts once (before that, the models do not exist)."""
        from attribution.warehouse import connect

        return connect(settings).served_at() is not None

    whole_table_tests = DbtTestLocalOperator(
        task_id="whole_table_tests", on_success_callback=recovery_alert, **whole_table_tests_args(settings)
    )
    published_once() >> whole_table_tests


attribution_data_quality()
