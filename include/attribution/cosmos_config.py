"""Cosmos configuration, built once from settings: which dbt, which profile, how tasks render."""

from __future__ import annotations

from typing import Any

from cosmos import (
    ExecutionConfig,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)

from attribution.alerts import collect_dbt_results, dbt_warning_alert
from attribution.settings import DBT_EXECUTABLE, DBT_MANIFEST_PATH, DBT_PROJECT_DIR, Settings

PROFILE_NAME = "attribution"


def profile_config(settings: Settings) -> ProfileConfig:
    """Which dbt profile the tasks use.

    DuckDB, and BigQuery with an explicit access token (``ATTRIBUTION_BQ_TOKEN``): ``dbt/profiles.yml``,
    the same profile ``make dbt`` uses. BigQuery otherwise: the service-account key of the Airflow
    connection ``google_cloud_default``, through Cosmos's profile mapping (read when a task runs).
    """
    if settings.target == "bigquery" and not settings.bq_token:
        from cosmos.profiles import GoogleCloudServiceAccountDictProfileMapping

        return ProfileConfig(
            profile_name=PROFILE_NAME,
            target_name=settings.target,
            profile_mapping=GoogleCloudServiceAccountDictProfileMapping(
                conn_id="google_cloud_default",
                profile_args={
                    "project": settings.bq_project,
                    "dataset": settings.bq_dataset,
                    "location": settings.bq_location,
                    "threads": 4,
                    "maximum_bytes_billed": settings.bq_maximum_bytes_billed,
                    "priority": "interactive",
                    "job_retries": 1,
                },
            ),
        )
    return ProfileConfig(
        profile_name=PROFILE_NAME,
        target_name=settings.target,
        profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
    )


def dbt_task_group_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``DbtTaskGroup``: the dbt tree as tasks, one per node.

    Rendering reads the manifest built by ``make setup`` (``dbt parse``), so parsing the DAG never
    runs dbt. dbt runs from its own environment (a subprocess), since dbt-bigquery and the Google
    provider need incompatible google-cloud-storage releases.
    """
    return {
        "project_config": ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=DBT_MANIFEST_PATH,
            env_vars=settings.dbt_env(),
        ),
        "profile_config": profile_config(settings),
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(DBT_EXECUTABLE),
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # One `dbt build` per node: the model and its data tests in one task, half the processes.
            test_behavior=TestBehavior.BUILD,
            # A test over two models (relationships) runs as its own task once both are built.
            should_detach_multiple_parents_tests=True,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(DBT_EXECUTABLE),
            dbt_deps=False,
        ),
        # Test warnings alert; failed models and tests are named in the failure alert.
        "on_warning_callback": dbt_warning_alert,
        "operator_args": {
            "callback": collect_dbt_results,
            "install_deps": False,
            "pool": settings.pool,
            # The trigger form's `full_refresh` param reaches every `dbt build`.
            "full_refresh": "{{ params.full_refresh }}",
        },
    }
