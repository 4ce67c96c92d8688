"""The DAG imports cleanly, with an empty environment, without running dbt, and is wired as documented."""

import itertools
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from attribution.settings import DBT_MANIFEST_PATH, PROJECT_ROOT, load_settings

DAG_ID = "attribution_pipeline"


@pytest.fixture(scope="module")
def dag_bag():
    if not DBT_MANIFEST_PATH.exists():
        pytest.fail("dbt manifest missing: run `make setup`")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


@pytest.fixture(scope="module")
def dag(dag_bag):
    return dag_bag.dags[DAG_ID]


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert DAG_ID in dag_bag.dag_ids


def test_the_data_quality_dag_runs_every_test_on_every_row_in_the_writers_pool(dag_bag, dag):
    settings = load_settings()
    quality = dag_bag.dags["attribution_data_quality"]
    assert quality.catchup is False and quality.max_active_runs == 1
    assert quality.on_failure_callback is not None
    assert sorted(t.task_id for t in quality.tasks) == ["published_once", "whole_table_tests"]
    task = quality.get_task("whole_table_tests")
    assert task.upstream_task_ids == {"published_once"}, "nothing to test before the first publish"
    assert task.task_type == "DbtTestLocalOperator"
    assert task.vars == {"whole_table_tests": True}
    assert not task.exclude and not task.select, "every data test"
    assert task.pool == settings.pool and task.priority_weight == 1
    assert task.on_failure_callback and task.on_success_callback, "alerts, and says when it recovers"
    # What the pipeline's build leaves to it.
    flags = dag.get_task("dbt.dbt_producer_watcher").dbt_cmd_flags
    excluded = flags[flags.index("--exclude") + 1 :]
    assert {"tag:whole_table", "test_name:not_null", "test_name:accepted_values"} <= set(excluded)


def test_schedule_tags_and_defaults(dag):
    assert dag.catchup is False
    assert dag.max_active_runs == 2
    assert dag.doc_md and "Real-time marketing attribution" in dag.doc_md
    assert {"attribution", "dbt"} <= set(dag.tags)
    assert dag.on_failure_callback is not None, "dag-level failure callback"


def test_every_task_retries_with_backoff_and_alerts(dag):
    for task in dag.tasks:
        # The dbt build is never retried: Cosmos would skip it and run each model without its tests. Nor are
        # the node tasks that show its results (a retry would run their node's own dbt command).
        watching = task.task_id.startswith("dbt.") and task.task_type != "EmptyOperator"  # Cosmos's marker
        retries = 0 if watching else load_settings().task_retries
        assert task.retries == retries, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.retry_delay >= timedelta(seconds=10), task.task_id
        assert task.on_failure_callback, task.task_id
        assert task.owner != "airflow", task.task_id


def test_wiring_generate_and_seed_history_then_load_dbt_publish(dag):
    ids = set(dag.task_ids)
    assert {"generate", "seed_history", "load", "publish"} <= ids
    dbt_ids = {t for t in ids if t.startswith("dbt.")}
    for model in (
        "stg_streamed_events",
        "stg_ga4_events",
        "int_sessions",
        "int_rule_based_credits",
        "int_channel_paths",
        "int_channel_states",
        "int_channel_transitions",
        "int_channel_removal_effects",
        "int_data_driven_credits",
        "mart_attribution_credits",
        "mart_channel_removal_effects",
        "mart_first_click",
        "mart_last_click",
        "mart_attribution_daily",
        "mart_live_events",
    ):
        assert f"dbt.{model}_run" in dbt_ids, model
    assert dag.get_task("generate").downstream_task_ids == {"load"}
    assert dag.get_task("seed_history").downstream_task_ids == {"load"}
    assert dag.get_task("load").downstream_task_ids <= dbt_ids
    # Publishing follows the build itself; the node tasks only show its results and gate nothing.
    assert dag.get_task("publish").upstream_task_ids == {"dbt.dbt_producer_watcher"}


def test_one_dbt_build_per_run_watched_by_one_task_per_model(dag):
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert producer.upstream_task_ids == {"load"}
    # Its one `dbt build` includes the data tests (Cosmos limits it to models, seeds and snapshots).
    flags = producer.dbt_cmd_flags
    assert {"test", "model", "seed"} <= {
        flag for option, flag in itertools.pairwise(flags) if option == "--resource-type"
    }
    node_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt.") and hasattr(t, "producer_task_id")]
    assert len(node_tasks) >= 11
    for task in node_tasks:
        assert task.producer_task_id == producer.task_id, task.task_id
        # Every node task starts once the build has ended (a runner that runs one task at a time,
        # `airflow dags test`, must never wait on a build it has not started).
        assert producer.task_id in task.get_flat_relative_ids(upstream=True), task.task_id
        if producer.task_id in task.upstream_task_ids:
            assert task.trigger_rule == "none_failed", task.task_id
        # They only read the build's results: side by side, outside the writers' pool, and never retried
        # (Cosmos's fallback on a retry runs the node's own dbt command, which would write).
        assert (task.pool, task.retries) == ("default_pool", 0), task.task_id
    # Publish goes first: its weight is absolute and above any task's own weight plus all its downstream
    # tasks' (Airflow's default rule).
    publish = dag.get_task("publish")
    assert str(publish.weight_rule) == "absolute"
    assert publish.priority_weight > sum(task.priority_weight for task in dag.tasks if task is not publish)


def test_duckdb_writers_share_the_one_slot_pool(dag):
    writers = {"seed_history", "load", "dbt.dbt_producer_watcher", "publish"}
    for task in dag.tasks:
        if task.task_id in writers:
            assert task.pool == "duckdb_writer", task.task_id
            # Two runs may be active (a landing while the last one's node tasks finish): one writes at a time.
            assert task.max_active_tis_per_dag == 1, task.task_id


def test_trigger_form_params(dag):
    params = dag.params
    assert params.get_param("synthetic_events").schema["minimum"] == 0
    assert params["synthetic_events"] > 0
    assert params["full_refresh"] is False
    assert params.get_param("full_refresh").description


def test_parses_with_an_empty_environment_and_never_runs_dbt(tmp_path):
    # Parse in a fresh interpreter with no ATTRIBUTION_* set, failing on any process that runs dbt:
    # rendering from the manifest must not start dbt.
    probe = f"""
import subprocess
popen = subprocess.Popen.__init__
def guarded(self, args, *a, **k):
    if "dbt" in str(args):
        raise AssertionError(f"dbt started while parsing: {{args}}")
    popen(self, args, *a, **k)
subprocess.Popen.__init__ = guarded
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(PROJECT_ROOT / "dags")!r})
assert not bag.import_errors, bag.import_errors
print(len(bag.dags[{DAG_ID!r}].tasks))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip().splitlines()[-1]) >= 10
