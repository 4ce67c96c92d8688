"""Slack alerts through the Slack provider; without the ``slack_alerts`` connection they are only logged.

An alert never changes a run's outcome: a missing connection or an unreachable webhook is logged.
Failure classes: a failed task after its last retry (dbt tasks name the failing model or test), a run
that fails without a failing task (timeout), dbt test warnings, a batch whose quarantine rate is over
the threshold, and the recovery once a run succeeds after a failure alert.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)

SLACK_CONN_ID = "slack_alerts"
ERROR_LINES = 8
SLACK_TIMEOUT_SECONDS = 10
FAILING_VARIABLE_SUFFIX = "_failing"
"""Airflow Variable ``<dag_id>_failing``: the run id of the DAG's last failure alert, until one of its
runs succeeds again."""
DBT_FAILURES_KEY, DBT_WARNINGS_KEY = "dbt_failures", "dbt_warnings"


def _error_excerpt(error: object) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    lines = text.strip().splitlines()
    excerpt = "\n".join(lines[:ERROR_LINES])
    return excerpt + ("\n…" if len(lines) > ERROR_LINES else "")


def _deliver(text: str, context: dict[str, Any]) -> None:
    try:
        BaseHook.get_connection(SLACK_CONN_ID)
    except Exception:  # noqa: BLE001 - "not found" differs across secrets backends
        log.warning("No %r connection; alert only logged:\n%s", SLACK_CONN_ID, text)
        return
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    try:
        SlackWebhookNotifier(slack_webhook_conn_id=SLACK_CONN_ID, text=text, timeout=SLACK_TIMEOUT_SECONDS).notify(
            context
        )
    except Exception:
        log.exception("Could not deliver the Slack alert (the run's outcome is unaffected):\n%s", text)
    else:
        log.info("Slack alert delivered:\n%s", text)


def task_failure_alert(context: dict[str, Any]) -> None:
    """One message per failed task instance, after its last retry (Airflow calls it only then)."""
    ti = context["ti"]
    dbt_lines = "".join(f"{line}\n" for line in context.get(DBT_FAILURES_KEY, ()))
    text = (
        f":red_circle: *{ti.dag_id}* task `{ti.task_id}` failed"
        f" (try {ti.try_number} of {ti.max_tries + 1})\n"
        f"{dbt_lines}"
        f"run: `{ti.run_id}`\n"
        f"log: {getattr(ti, 'log_url', 'n/a')}\n"
        f"```{_error_excerpt(context.get('exception') or 'no exception recorded')}```"
    )
    _deliver(text, context)
    _remember_failure(ti.dag_id, ti.run_id)


def _remember_failure(dag_id: str, run_id: str) -> None:
    from airflow.sdk import Variable

    try:
        Variable.set(dag_id + FAILING_VARIABLE_SUFFIX, run_id)
    except Exception:
        log.exception("Could not record the failure; the recovery message will not be sent")


def recovery_alert(context: dict[str, Any]) -> None:
    """Called by the run's last task when it succeeds: one message if a failure of the same DAG was
    alerted before."""
    from airflow.sdk import Variable

    ti = context["ti"]
    try:
        failed_run = Variable.get(ti.dag_id + FAILING_VARIABLE_SUFFIX, default=None)
        if failed_run is None:
            return
        Variable.delete(ti.dag_id + FAILING_VARIABLE_SUFFIX)
    except Exception:
        log.exception("Could not read the failure record; no recovery message (the run's outcome is unaffected)")
        return
    _deliver(f":large_green_circle: *{ti.dag_id}* recovered: run `{ti.run_id}` succeeded after `{failed_run}` failed",
             context)  # fmt: skip


def collect_dbt_results(project_dir: str, context: dict[str, Any]) -> None:
    """Cosmos callback after every dbt command, before Cosmos raises on a failure: the failed and the
    warning models and tests (dbt's run_results.json) go into the context the failure alert reads, and
    tests that warned alert at once (the task itself succeeds)."""
    results = Path(project_dir) / "target" / "run_results.json"
    if not results.exists():
        return
    for result in json.loads(results.read_text())["results"]:
        key = {"error": DBT_FAILURES_KEY, "fail": DBT_FAILURES_KEY, "warn": DBT_WARNINGS_KEY}.get(result["status"])
        if key:
            kind, _, name = result["unique_id"].split(".")[:3]
            message = next(iter((result.get("message") or "").strip().splitlines()), "no message")
            context.setdefault(key, []).append(f"dbt {kind} `{name}` {result['status']}: {message}")
    dbt_warning_alert(context)


def dbt_warning_alert(context: dict[str, Any]) -> None:
    """dbt tests that warned, one message per dbt command."""
    warnings = context.get(DBT_WARNINGS_KEY)
    if not warnings:
        return
    ti = context["ti"]
    lines = "\n".join(warnings)
    _deliver(f":warning: *{ti.dag_id}* task `{ti.task_id}`: dbt tests warned\n{lines}\nrun: `{ti.run_id}`", context)


def quarantine_alert(context: dict[str, Any], reports: list[dict], threshold: float) -> None:
    """After a load: alert when files were rejected whole or the share of quarantined rows is over ``threshold``."""
    reports = [r for r in reports if r["status"] != "already_loaded"]  # alerted when they first loaded
    read = sum(r["rows_read"] for r in reports)
    quarantined = sum(r["rows_quarantined"] for r in reports)
    rejected = [r["file_name"] for r in reports if r["status"] == "rejected"]
    rate = quarantined / read if read else 0.0
    if rate <= threshold and not rejected:
        return
    ti = context["ti"]
    lines = [f":warning: *{ti.dag_id}* run `{ti.run_id}`: {quarantined:,} of {read:,} rows quarantined ({rate:.1%},"
             f" threshold {threshold:.1%})"]  # fmt: skip
    if rejected:
        lines.append(f"files rejected whole: {', '.join(f'`{name}`' for name in rejected)}")
    lines.append("see raw.quarantined_rows and the runbook")
    _deliver("\n".join(lines), context)


def run_failure_alert(context: dict[str, Any]) -> None:
    """The run failed without a task failing (timeout, for instance); task failures alert on their own."""
    reason = context.get("reason", "")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    dag_id = getattr(context.get("dag"), "dag_id", "?")
    if reason == "task_failure":
        log.info("Run %s of %s failed on a task; that task's alert covers it", run_id, dag_id)
        return
    _deliver(f":red_circle: *{dag_id}* run `{run_id}` failed: {reason or 'unknown reason'}", context)
