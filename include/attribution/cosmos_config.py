"""Cosmos configuration, built once from settings: which dbt, which profile, how tasks render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.configuration import AIRFLOW_HOME
from airflow.sdk import BaseOperator
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)
from cosmos.constants import PRODUCER_WATCHER_TASK_ID

from attribution import dbt_worker
from attribution.alerts import collect_dbt_results
from attribution.settings import (
    DBT_EXECUTABLE,
    DBT_MANIFEST_PATH,
    DBT_PROJECT_DIR,
    PER_RUN_TEST_EXCLUDE,
    Settings,
)

PROFILE_NAME = "attribution"


def dbt_executable(settings: Settings) -> str:
    """The dbt the tasks run: the long-lived dbt process's client, or dbt itself (``ATTRIBUTION_DBT_PROCESS``)."""
    return str(dbt_worker.CLIENT if settings.dbt_process == "worker" else DBT_EXECUTABLE)


def dbt_env(settings: Settings) -> dict[str, str]:
    """The tasks' dbt environment; with the worker, where it listens: one per Airflow home (its ``run/``)."""
    env = settings.dbt_env()
    if settings.dbt_process == "worker":
        env[dbt_worker.SOCKET_VARIABLE] = str(dbt_worker.socket_in(Path(AIRFLOW_HOME)))
    return env


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
    """Keyword arguments for ``DbtTaskGroup``: one ``dbt build`` per run, one task per model to watch it.

    Cosmos's watcher mode: a producer task runs a single ``dbt build`` (models, seed and data tests)
    and reports each node's result as it finishes; each model's task reads its model's result, so the
    UI shows every model and its state. One dbt process per run instead of one per node (5-7 s of
    start-up each; BENCHMARKS.md). Data tests have no tasks of their own: a
    failing test fails the producer (its alert names the test) and the models downstream of it. Unit
    tests are for CI (``make test``), not for every micro-batch. The producer is not retried: Cosmos
    skips a retried producer and falls back to one ``dbt run`` per model task, without data tests.

    Rendering reads the manifest built by ``make setup`` (``dbt parse``), so parsing the DAG never
    runs dbt. dbt runs from its own environment, since dbt-bigquery and the Google provider need
    incompatible google-cloud-storage releases: Cosmos runs ``dbt_executable`` as a subprocess, by
    default the client of the long-lived dbt process that keeps the project parsed (``dbt_worker``).
    """
    project_config = ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR, manifest_path=DBT_MANIFEST_PATH, env_vars=dbt_env(settings)
    )
    # Cosmos wraps the path in Airflow's ObjectStoragePath, whose first use loads every provider's
    # filesystem (over 1 s of each DAG parse); the manifest is a local file, a plain Path reads it.
    project_config.manifest_path = DBT_MANIFEST_PATH
    return {
        "project_config": project_config,
        "profile_config": profile_config(settings),
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt_executable(settings),
            setup_operator_args={
                # With TestBehavior.NONE Cosmos limits the build to models, seeds and snapshots; the
                # data tests belong in it too, except those the data-quality DAG runs. (Not through
                # RenderConfig.exclude: Cosmos's own selector knows no test_name: method.)
                "dbt_cmd_flags": ["--resource-type", "test", "--exclude", *PER_RUN_TEST_EXCLUDE],
                # Cosmos skips a retried producer and lets every model task run its own model with
                # `dbt run`, without the data tests: a failing test would pass on the retry. One try;
                # the next scheduled run is the retry.
                "retries": 0,
                # The build writes the warehouse (one run's at a time); the node tasks only read its results.
                "pool": settings.pool,
                "max_active_tis_per_dag": 1,
            },
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.NONE,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(DBT_EXECUTABLE),
            dbt_deps=False,
        ),
        "operator_args": {
            # Failed and warning models and tests, for the alerts.
            "callback": collect_dbt_results,
            "install_deps": False,
            # The node tasks read the build's results, so they run side by side outside the writers'
            # pool, and once: a retry would run the node's own dbt command (Cosmos's fallback), a writer.
            "retries": 0,
            "priority_weight": 1,
            "weight_rule": "absolute",
            # The trigger form's `full_refresh` param reaches the build.
            "full_refresh": "{{ params.full_refresh }}",
        },
    }


def whole_table_tests_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the data-quality DAG's ``DbtTestLocalOperator``: every data test on every
    row (var ``whole_table_tests``; each run's build tests only the rows it wrote, and leaves out
    ``PER_RUN_TEST_EXCLUDE``). dbt opens the embedded warehouse for writing, so it takes the writers'
    pool, after any waiting pipeline task (lowest absolute weight). A failing test fails the task,
    whose alert names it (``collect_dbt_results``)."""
    return {
        "project_dir": DBT_PROJECT_DIR,
        "profile_config": profile_config(settings),
        "dbt_executable_path": dbt_executable(settings),
        "invocation_mode": InvocationMode.SUBPROCESS,
        "env": dbt_env(settings),
        "vars": {"whole_table_tests": True},
        "install_deps": False,
        "callback": collect_dbt_results,
        "pool": settings.pool,
        "priority_weight": 1,
        "weight_rule": "absolute",
    }


def build_then_watch(group: DbtTaskGroup) -> BaseOperator:
    """Start the per-node tasks of ``group`` once its single ``dbt build`` (the producer) has ended;
    returns the producer, the one task of the group that publishing waits for.

    Cosmos's watcher tasks otherwise start beside the producer and wait for it; a runner that runs one
    task at a time (``airflow dags test``) can pick a waiting task first and never reach the producer.
    After the build every node task finds its result at once. ``none_failed``: when a retry skips the
    producer (Cosmos runs the build once per run), the node tasks run their own dbt command instead.
    The node tasks only show results, so nothing waits for them: publishing follows the build.
    """
    producer = group.children[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    for root in group.get_roots():
        if root is not producer:
            producer >> root
            root.trigger_rule = "none_failed"
    return producer
