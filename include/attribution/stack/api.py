"""A client of Airflow's REST API (v2, JWT): how the command line, bench, soak and tests drive a stack and
read what its runs did. Never Airflow's metadata tables: their shape is Airflow's own business."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")
FINISHED = ("success", "failed")
PAGE = 100


def wait(what: str, check: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """Call ``check`` until it returns something true (connection errors count as not yet); that value.
    Raises TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            if result := check():
                return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def parse_time(value: str | None) -> datetime | None:
    """A timestamp of the API (ISO 8601 with offset) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _call(url: str, token: str | None = None, body: dict | None = None, method: str | None = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


class AirflowClient:
    """One API server, logged in as one user."""

    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url.rstrip("/"), token

    @staticmethod
    def wait_healthy(base_url: str, timeout: float = 180) -> None:
        """Until the API server answers its health check."""
        wait("the API server", lambda: _call(f"{base_url.rstrip('/')}/api/v2/monitor/health"), timeout, interval=2)

    @classmethod
    def login(cls, base_url: str, user: str, password: str, timeout: float = 180) -> AirflowClient:
        """A client with a fresh JWT, once the API server answers its health check."""
        cls.wait_healthy(base_url, timeout)
        token = _call(f"{base_url.rstrip('/')}/auth/token", body={"username": user, "password": password})
        return cls(base_url, token["access_token"])

    def request(self, path: str, body: dict | None = None, method: str | None = None) -> Any:
        """One JSON call; ``path`` below the base URL (``/api/v2/…``)."""
        return _call(self.base_url + path, self.token, body, method)

    # --- DAGs -----------------------------------------------------------------------------------
    def unpause(self, dag_id: str, timeout: float = 300) -> None:
        """Unpause ``dag_id`` once the DAG processor has parsed it."""
        wait(f"{dag_id} to be parsed", lambda: self.request(f"/api/v2/dags/{dag_id}"), timeout, interval=2)
        self.request(f"/api/v2/dags/{dag_id}", {"is_paused": False}, method="PATCH")

    # --- runs -----------------------------------------------------------------------------------
    @staticmethod
    def run_path(dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Start a run now (as the trigger form does, ``conf`` its params); its run id."""
        return self.request(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.request(self.run_path(dag_id, run_id))

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900, interval: float = 2) -> str:
        """Until the run has finished; its final state."""
        return wait(
            f"run {run_id}", lambda: (s := self.run(dag_id, run_id)["state"]) in FINISHED and s, timeout, interval
        )

    def _every(self, path: str, key: str, **query: str) -> list[dict]:
        """Every item of a paged listing, page after page."""
        found: list[dict] = []
        while True:
            page = self.request(f"{path}?{urllib.parse.urlencode({**query, 'limit': PAGE, 'offset': len(found)})}")
            found += page[key]
            if len(found) >= page["total_entries"] or not page[key]:
                return found

    def runs(self, dag_id: str = "~", **filters: str) -> list[dict]:
        """Every run of ``dag_id`` (``~``: of every DAG), oldest first; ``filters`` are the endpoint's query
        parameters (``state``, ``run_type``, ``run_after_gte`` …)."""
        return self._every(f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs", order_by="id", **filters)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """The run's task instances (task_id, state, start_date, end_date, try_number …)."""
        return self._every(f"{self.run_path(dag_id, run_id)}/taskInstances", "task_instances")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}

    def return_value(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """What a task returned (its ``return_value`` XCom), deserialised."""
        path = f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.request(f"{path}?deserialize=true&stringify=false")["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The log of one try of a task, as the UI shows it."""
        path = f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        content = self.request(path).get("content", "")
        if isinstance(content, list):  # structured log lines
            return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)
        return str(content)

    def active_runs(self) -> list[dict]:
        """Runs of any DAG still queued or running."""
        return [r for state in ("queued", "running") for r in self.runs(state=state)]
