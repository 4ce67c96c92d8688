"""Slack alerts through the Slack provider; without the ``slack_alerts`` connection they are only logged.

An alert never changes a run's outcome: a missing connection or an unreachable webhook is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)

SLACK_CONN_ID = "slack_alerts"
ERROR_LINES = 8
SLACK_TIMEOUT_SECONDS = 10


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
    text = (
        f":red_circle: *{ti.dag_id}* task `{ti.task_id}` failed"
        f" (try {ti.try_number} of {ti.max_tries + 1})\n"
        f"run: `{ti.run_id}`\n"
        f"log: {getattr(ti, 'log_url', 'n/a')}\n"
        f"```{_error_excerpt(context.get('exception') or 'no exception recorded')}```"
    )
    _deliver(text, context)


def run_failure_alert(context: dict[str, Any]) -> None:
    """The run failed without a task failing (timeout, for instance); task failures alert on their own."""
    reason = context.get("reason", "")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    dag_id = getattr(context.get("dag"), "dag_id", "?")
    if reason == "task_failure":
        log.info("Run %s of %s failed on a task; that task's alert covers it", run_id, dag_id)
        return
    _deliver(f":red_circle: *{dag_id}* run `{run_id}` failed: {reason or 'unknown reason'}", context)
