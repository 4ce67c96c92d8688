"""What each alert says and how delivery behaves, in process: the alert functions called with the context
Airflow hands them, posting through the real Slack provider to a local receiver. That the DAGs call them
at the right moments (after the last retry, on a timeout, after a failure) is proven by real runs in
test_alerts.py."""

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from slack import SlackReceiver, slack_connection

from attribution import alerts
from attribution.dbt_cli import run_dbt
from attribution.warehouse import connect

TASK = SimpleNamespace(dag_id="attribution_pipeline", task_id="load", try_number=3, max_tries=2,
                       run_id="manual__2026-12-04T10:00:00+00:00", log_url="http://127.0.0.1:8080/log")  # fmt: skip


@pytest.fixture
def slack(monkeypatch) -> SlackReceiver:
    """The `slack_alerts` connection pointing at a local receiver (as AIRFLOW_CONN_SLACK_ALERTS sets it)."""
    with SlackReceiver.running() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack_connection(receiver.url))
        yield receiver


@pytest.fixture
def alert_log(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=alerts.__name__)
    return caplog


def test_a_failed_task_names_dag_task_try_run_log_and_the_errors_first_lines(slack, alert_log):
    error = RuntimeError("Could not set lock on file\n" + "".join(f"line {i}\n" for i in range(20)))
    alerts.task_failure_alert({"ti": TASK, "exception": error})
    [text] = slack.texts()
    assert text.startswith(":red_circle: *attribution_pipeline* task `load` failed (try 3 of 3)\n")
    assert "run: `manual__2026-12-04T10:00:00+00:00`\nlog: http://127.0.0.1:8080/log\n" in text
    assert "```RuntimeError: Could not set lock on file\nline 0\n" in text
    assert "line 6\n…```" in text and "line 7" not in text, f"the first {alerts.ERROR_LINES} lines, then …"
    assert slack.url not in alert_log.text, "the webhook URL is a secret"


def test_dbt_results_name_each_failed_model_and_test_and_warnings_alert_at_once(slack, tmp_path: Path):
    results = [
        {"unique_id": "model.attribution.stg_ga4_events", "status": "error", "message": "Binder Error: x\nmore"},
        {"unique_id": "test.attribution.unique_int_conversions_conversion_id.1a", "status": "fail",
         "message": "Got 1 result, configured to fail if != 0"},
        {"unique_id": "test.attribution.accepted_values_x.2b", "status": "warn", "message": "Got 1 result"},
        {"unique_id": "model.attribution.mart_first_click", "status": "success", "message": "OK"},
    ]  # fmt: skip
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "run_results.json").write_text(json.dumps({"results": results}))
    context = {"ti": TASK}
    alerts.collect_dbt_results(str(tmp_path), context)
    assert context[alerts.DBT_FAILURES_KEY] == [
        "dbt model `stg_ga4_events` error: Binder Error: x",
        "dbt test `unique_int_conversions_conversion_id` fail: Got 1 result, configured to fail if != 0",
    ]
    [warning] = slack.texts()
    assert warning == (
        ":warning: *attribution_pipeline* task `load`: dbt tests warned\n"
        f"dbt test `accepted_values_x` warn: Got 1 result\nrun: `{TASK.run_id}`"
    )
    alerts.task_failure_alert({**context, "exception": RuntimeError("dbt build failed")})
    named = "failed (try 3 of 3)\ndbt model `stg_ga4_events` error: Binder Error: x\ndbt test `unique_int_conversions"
    assert named in slack.texts()[1]


def test_a_dbt_command_that_wrote_no_results_adds_nothing(slack, tmp_path: Path):
    context = {"ti": TASK}
    alerts.collect_dbt_results(str(tmp_path), context)
    assert context == {"ti": TASK} and not slack.texts()


def test_quarantine_over_the_threshold_or_a_rejected_file_alerts_once(slack):
    report = {"file_name": "a.csv", "status": "loaded", "rows_read": 10, "rows_quarantined": 5}
    already = {"file_name": "old.csv", "status": "already_loaded", "rows_read": 1000, "rows_quarantined": 0}
    alerts.quarantine_alert({"ti": TASK}, [report, already], threshold=0.05)
    rejected = {"file_name": "b.csv", "status": "rejected", "rows_read": 0, "rows_quarantined": 0}
    alerts.quarantine_alert({"ti": TASK}, [rejected], threshold=0.05)
    alerts.quarantine_alert({"ti": TASK}, [{**report, "rows_quarantined": 0}], threshold=0.05)  # under: silent
    first, second = slack.texts()
    assert "5 of 10 rows quarantined (50.0%, threshold 5.0%)" in first, "already-loaded files count once"
    assert "files rejected whole: `b.csv`" in second and "see raw.quarantined_rows and the runbook" in second


def test_a_run_failure_alerts_only_when_no_task_failure_covers_it(slack):
    dag = SimpleNamespace(dag_id="attribution_pipeline")
    alerts.run_failure_alert({"dag": dag, "run_id": "scheduled__1", "reason": "task_failure"})
    alerts.run_failure_alert({"dag": dag, "run_id": "scheduled__2", "reason": "timed_out"})
    assert slack.texts() == [":red_circle: *attribution_pipeline* run `scheduled__2` failed: timed_out"]


def test_without_the_slack_connection_the_alert_is_logged(alert_log, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_ALERTS", raising=False)
    alerts.task_failure_alert({"ti": TASK, "exception": RuntimeError("boom")})
    assert "No 'slack_alerts' connection; alert only logged" in alert_log.text
    assert "task `load` failed" in alert_log.text


@pytest.mark.parametrize("failure", ["slow", "down"])
def test_a_slow_or_unreachable_slack_changes_nothing_but_the_log(slack, alert_log, monkeypatch, failure: str):
    monkeypatch.setattr(alerts, "SLACK_TIMEOUT_SECONDS", 1)  # production waits 10 s
    if failure == "slow":
        slack.delay = 5
    else:  # the discard port: nothing listens
        unreachable = slack.url.replace(slack.address, "127.0.0.1:9")
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack_connection(unreachable))
    alerts.task_failure_alert({"ti": TASK, "exception": RuntimeError("boom")})  # returns: the outcome stays
    assert "Could not deliver the Slack alert (the run's outcome is unaffected)" in alert_log.text


@pytest.mark.dbt
def test_a_real_dbt_model_error_is_named_in_the_failure_alert(slack, settings, attribution_env, tmp_path: Path):
    # dbt's own run_results.json: the GA4 history table lost a column stg_ga4_events reads.
    connect(settings).ensure_schema()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("alter table raw.ga4_events drop column event_params")
    build = ["build", "--select", "stg_ga4_events", "--target-path", str(tmp_path / "target")]
    assert run_dbt(build, environ={**os.environ, **attribution_env}) != 0
    context = {"ti": TASK}
    alerts.collect_dbt_results(str(tmp_path), context)  # as Cosmos calls it, before it raises
    alerts.task_failure_alert({**context, "exception": RuntimeError("dbt command failed")})
    [alert] = slack.texts()
    assert "dbt model `stg_ga4_events` error:" in alert, alert
