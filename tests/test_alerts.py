"""Alerts from real runs: `airflow dags test` (and the real scheduler for a run's deadline) posting through
the Slack provider to a local receiver. What each alert says, and delivery to a slow, unreachable or
missing Slack, is checked in process by test_alert_messages.py; these prove the DAGs call the alerts at
the right moments: after a task's last retry, with dbt's failing node named, on a timeout, on recovery."""

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pytest
from conftest import dags_test, run, run_once
from ga4_fixture import export_row, insert_into_duckdb
from servers import in_thread
from slack import SlackReceiver, slack_connection

from attribution.dbt_cli import run_dbt
from attribution.generator import generate_events
from attribution.landing import load_pending
from attribution.settings import PER_RUN_TEST_EXCLUDE, Settings
from attribution.stack.environment import DAG_ID, VENV_BIN, airflow_env
from attribution.warehouse import connect

pytestmark = [pytest.mark.airflow, pytest.mark.dbt]

# A batch written before the optional user_id column existed: it loads as it always did.
BATCH_HEADER = (
    "event_id,event_timestamp,event_name,user_pseudo_id,ga_session_id,source,medium,campaign,transaction_id,"
    "purchase_revenue,page_location,device_category,country"
)


@pytest.fixture
def slack_receiver():
    with SlackReceiver.running() as receiver:
        yield receiver.url, receiver


def _build_and_publish(settings: Settings, env: dict[str, str], *flags: str) -> None:
    """What a successful run leaves, without a run: what landed loaded, one dbt build with a run's
    selection of tests, the marts published."""
    load_pending(settings, connect(settings))
    exclude = ["--exclude", "resource_type:unit_test", *PER_RUN_TEST_EXCLUDE]
    assert run_dbt(["build", *flags, *exclude], environ={**os.environ, **env}) == 0
    connect(settings).publish()


def test_a_locked_warehouse_is_retried_with_backoff_then_alerts_once(
    airflow_home, attribution_env, settings, slack_receiver
):
    url, receiver = slack_receiver
    connect(settings).ensure_schema()
    env = {
        **airflow_home,
        **attribution_env,
        "AIRFLOW_CONN_SLACK_ALERTS": slack_connection(url),
        "ATTRIBUTION_TASK_RETRIES": "2",
        "ATTRIBUTION_RETRY_DELAY_SECONDS": "1",
        "ATTRIBUTION_SYNTHETIC_EVENTS": "10",
    }
    with duckdb.connect(str(settings.warehouse_path)):  # another process holds DuckDB's write lock
        result = run_once(env)
    assert result.returncode != 0, "the exit code is the run's outcome"
    assert (result.stdout + result.stderr).count("Could not set lock on file") >= 3, "three tries"
    [text] = receiver.texts()  # one alert after the last retry, none per retry
    assert f"*{DAG_ID}* task `load` failed (try 3 of 3)" in text
    assert "run: `manual__" in text and "log: http" in text
    assert "Could not set lock on file" in text, "the error's first lines"
    assert url not in result.stdout + result.stderr, "the webhook URL is a secret"


def test_a_failing_dbt_test_is_named_then_recovery_and_quarantine_alerts(
    airflow_home, attribution_env, settings, slack_receiver, tmp_path: Path
):
    url, receiver = slack_receiver
    env = {
        **airflow_home,
        **attribution_env,
        "AIRFLOW_CONN_SLACK_ALERTS": slack_connection(url),
        # With retries on, as in production: a retried build must not pass the failing test by.
        "ATTRIBUTION_TASK_RETRIES": "1",
        "ATTRIBUTION_RETRY_DELAY_SECONDS": "1",
    }
    now = int(datetime.now(UTC).timestamp() * 1e6)
    header = BATCH_HEADER
    settings.landing_path.mkdir(parents=True)
    (settings.landing_path / "order.csv").write_text(
        f"{header}\nv1,{now},page_view,u1,1,google,cpc,,,,,,\np1,{now + 1},purchase,u1,1,,,,T1,20.0,,,\n"
    )
    _build_and_publish(settings, env)
    # A hand edit gone wrong: the newest conversion twice. The next batch converts nothing, so the
    # build's own rows of int_conversions are still those, and each run tests the keys of its rows.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("""
            insert into main.int_conversions
            select * from main.int_conversions order by _events_loaded_at desc, conversion_id limit 1
        """)
    (settings.landing_path / "browsing.csv").write_text(f"{header}\nb1,{now},page_view,u-new,1,,,,,,,,\n")

    failed = dags_test(env, {"synthetic_events": 0})
    assert failed.returncode != 0
    [alert] = receiver.texts()
    assert "*attribution_pipeline* task `dbt.dbt_producer_watcher` failed" in alert
    assert "dbt test `unique_int_conversions_conversion_id` fail: Got 1 result" in alert

    # The runbook's fix: rebuild with full_refresh. A batch with half its rows bad lands too.
    (settings.landing_path / "half-bad.csv").write_text(
        "\n".join([header, *(f"bad{i},not-a-timestamp,page_view,u{i},1,,,,,,,," for i in range(5)),
                   *(f"ok{i},{now},page_view,u{i},1,,,,,,,," for i in range(5))])
        + "\n"
    )  # fmt: skip
    receiver.posts.clear()
    assert dags_test(env, {"synthetic_events": 0, "full_refresh": True}).returncode == 0
    quarantine, recovery = receiver.texts()
    assert "5 of 10 rows quarantined (50.0%, threshold 5.0%)" in quarantine
    assert "*attribution_pipeline* recovered: run `manual__" in recovery and "succeeded after `manual__" in recovery


def test_column_checks_run_on_every_row_in_the_data_quality_dag_and_alert_there(
    airflow_home, attribution_env, settings, slack_receiver, tmp_path: Path
):
    url, receiver = slack_receiver
    env = {**airflow_home, **attribution_env, "AIRFLOW_CONN_SLACK_ALERTS": slack_connection(url)}
    # A fresh stack starts both DAGs together: before the first publish there is nothing to test.
    before_any_build = dags_test(env, dag_id="attribution_data_quality")
    assert before_any_build.returncode == 0, before_any_build.stdout[-3000:]
    output = before_any_build.stdout + before_any_build.stderr
    assert "Condition result is False" in output and "tasks_skipped=1" in output, output[-3000:]
    assert not receiver.posts
    # A GA4 history event without an event name, and a streamed event from an unknown device class.
    connect(settings).ensure_schema()
    [event] = generate_events(1, seed=5, end=datetime.now(UTC) - timedelta(hours=2))
    insert_into_duckdb(settings.warehouse_path, [export_row({**event, "event_name": None})], tmp_path)
    now = int(datetime.now(UTC).timestamp() * 1e6)
    header = BATCH_HEADER
    settings.landing_path.mkdir(parents=True)
    (settings.landing_path / "toaster.csv").write_text(f"{header}\nt1,{now},page_view,u1,1,,,,,,,toaster,\n")
    # Each run checks keys, relationships and reconciliations on its own rows: it publishes.
    assert dags_test(env, {"synthetic_events": 50}).returncode == 0
    assert not [text for text in receiver.texts() if ":red_circle:" in text or "warned" in text]
    receiver.posts.clear()

    failed = dags_test(env, dag_id="attribution_data_quality")
    assert failed.returncode != 0
    warning, alert = receiver.texts()
    assert "dbt tests warned\ndbt test `accepted_values_stg_streamed_events_device_category" in warning
    assert "warn: Got 1 result, configured to warn if != 0" in warning
    assert "*attribution_data_quality* task `whole_table_tests` failed" in alert
    assert "dbt test `not_null_stg_ga4_events_event_name` fail: Got 1 result" in alert

    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("delete from raw.ga4_events where event_name is null")
    _build_and_publish(settings, env, "--full-refresh")
    receiver.posts.clear()
    assert dags_test(env, dag_id="attribution_data_quality").returncode == 0
    warning, recovery = receiver.texts()
    assert "dbt tests warned" in warning  # the toaster is still there: a warning, not a failure
    # Recovery is per DAG: the pipeline never failed, the quality DAG did.
    assert "*attribution_data_quality* recovered: run `manual__" in recovery


def test_a_run_over_its_deadline_fails_and_alerts_once(attribution_env, settings, slack_receiver, tmp_path: Path):
    # The real scheduler enforces the deadline (`airflow dags test` does not): the local stack with a
    # 1-minute deadline, and a run whose load keeps retrying because another process holds the warehouse.
    url, receiver = slack_receiver
    connect(settings).ensure_schema()
    env = airflow_env(
        {
            **os.environ,
            **attribution_env,
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW_CONN_SLACK_ALERTS": slack_connection(url),
            "ATTRIBUTION_RUN_TIMEOUT_MINUTES": "1",
            "ATTRIBUTION_TASK_RETRIES": "5",
            "ATTRIBUTION_RETRY_DELAY_SECONDS": "45",
            "ATTRIBUTION_SYNTHETIC_EVENTS": "0",
        }
    )
    stack = [str(VENV_BIN / "python"), "-m", "attribution.local_stack"]
    try:
        with duckdb.connect(str(settings.warehouse_path)):
            started = run([*stack, "start"], env)
            assert started.returncode == 1, "the triggered run failed"
            [run_id] = re.findall(r"run (manual__\S+): failed", started.stdout)
            deadline = time.monotonic() + 120  # the dag-processor runs the run's failure callback
            while not any(run_id in text for text in receiver.texts()) and time.monotonic() < deadline:
                time.sleep(2)
    finally:
        run([*stack, "stop"], env)
    about_the_run = [text for text in receiver.texts() if run_id in text]
    assert len(about_the_run) == 1, receiver.texts()
    assert f"*{DAG_ID}* run `{run_id}` failed: timed_out" in about_the_run[0]


class _RevokedKeyTokenEndpoint(BaseHTTPRequestHandler):
    """Google's token endpoint answering as it does for a deleted service-account key."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_service_account_key_never_reaches_logs_or_alerts(airflow_home, attribution_env, slack_receiver):
    # The BigQuery target with a service-account key in the Google connection, as in production; the
    # token endpoint refuses the key, so the task that uses it fails and its error is logged and alerted.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    url, receiver = slack_receiver
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with in_thread(_RevokedKeyTokenEndpoint) as token_endpoint:
        keyfile = {
            "type": "service_account",
            "project_id": "attribution-test",
            "private_key_id": "0123456789abcdef",
            "private_key": key.decode(),
            "client_email": "pipeline@attribution-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"http://127.0.0.1:{token_endpoint.server_port}/token",
        }
        connection = {"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": json.dumps(keyfile)}}
        env = {
            **airflow_home,
            **attribution_env,
            "AIRFLOW_CONN_SLACK_ALERTS": slack_connection(url),
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(connection),
            "ATTRIBUTION_TARGET": "bigquery",
            "ATTRIBUTION_BQ_PROJECT": "attribution-test",
        }
        result = run_once({**env, "ATTRIBUTION_SYNTHETIC_EVENTS": "10"})
    assert result.returncode != 0
    [alert] = receiver.texts()
    assert "`load` failed" in alert and "invalid_grant" in alert
    secret_lines = [line for line in key.decode().splitlines() if "PRIVATE KEY" not in line]
    task_logs = "".join(p.read_text() for p in Path(airflow_home["AIRFLOW_HOME"]).rglob("*.log") if p.is_file())
    for text in (result.stdout + result.stderr, alert, task_logs):
        assert not any(line in text for line in secret_lines), "a line of the private key was written out"
