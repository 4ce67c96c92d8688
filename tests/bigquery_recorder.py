"""A recording proxy in front of the BigQuery emulator: every statement a client sends, as sent.

The emulator runs DuckDB underneath, so it proves the API flow, not BigQuery's dialect. The proxy
forwards each request unchanged and writes down what defines the warehouse's SQL and schemas, in
the order BigQuery would see it, for ``googlesql.py`` to analyse:

- ``query``: a query job's text (``jobs.insert`` or ``jobs.query``) with its default dataset;
- ``load``: a load job's destination table and schema (staging tables, dbt seeds);
- ``table``: a table created through the API (``tables.insert``) with its schema;
- ``unreadable``: a jobs or tables request whose body is not JSON (none is expected).

Each record carries the phase the test set (``recorder.phase``) when the request arrived, and the
error the emulator answered, if any (a resumable load's first answer has none: its data and job
status go to the upload URL the emulator returns, past the proxy).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from servers import in_thread

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
_JOBS = re.compile(r"^(?:/upload)?/bigquery/v2/projects/([^/]+)/(jobs|queries)$")
_TABLES = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables$")


@dataclass
class Recorder:
    """What went through the proxy, in the order it arrived; ``phase`` labels the records that follow."""

    phase: str = ""
    records: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: dict) -> dict:
        with self._lock:
            self.records.append({"phase": self.phase, **record})
            return self.records[-1]


def _requested(path: str, body: bytes, content_type: str) -> Iterator[dict]:
    """The records a POST request makes, read from its JSON body; a body that cannot be read is a
    record too (kind ``unreadable``), so nothing is left out unnoticed."""
    jobs, tables = _JOBS.match(path), _TABLES.match(path)
    if not (jobs or tables):
        return
    try:
        if not content_type.startswith("application/json"):
            raise ValueError(f"a {content_type or 'typeless'} body")  # e.g. a multipart upload
        request = json.loads(body or b"{}")
    except ValueError as error:
        yield {"kind": "unreadable", "path": path, "reason": str(error)}
        return
    if tables:
        if request.get("schema"):
            reference = {"projectId": tables.group(1), "datasetId": tables.group(2), **request["tableReference"]}
            yield {"kind": "table", "table": reference, "schema": request["schema"]["fields"]}
        return
    project = jobs.group(1)
    if jobs.group(2) == "queries":  # jobs.query: the query in the body itself
        dataset = (request.get("defaultDataset") or {}).get("datasetId")
        yield {"kind": "query", "sql": request["query"], "project": project, "default_dataset": dataset}
        return
    configuration = request.get("configuration") or {}
    if query := configuration.get("query"):
        dataset = (query.get("defaultDataset") or {}).get("datasetId")
        yield {"kind": "query", "sql": query["query"], "project": project, "default_dataset": dataset}
    elif (load := configuration.get("load")) and load.get("schema"):
        yield {"kind": "load", "table": load["destinationTable"], "schema": load["schema"]["fields"]}


def _error(payload: bytes) -> str | None:
    """The error a response reports, if any (a resumable upload's first response has no status yet)."""
    try:
        response = json.loads(payload or b"{}")
    except ValueError:
        return None
    error = (response.get("status") or {}).get("errorResult") or response.get("error")
    return error.get("message") if isinstance(error, dict) else None


def _handler(upstream: str, recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            # Recorded on arrival, before the client can see an answer and send what depends on it.
            records = []
            if self.command == "POST":
                requested = _requested(urlsplit(self.path).path, body, self.headers.get("Content-Type", ""))
                records = [recorder.add({**record, "error": None}) for record in requested]
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
            finally:
                connection.close()
            if records:
                error = _error(payload)
                for record in records:
                    record["error"] = error
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args) -> None:  # the emulator keeps its own log
            pass

    return Forward


@contextmanager
def recording(upstream: str) -> Iterator[tuple[str, Recorder]]:
    """A proxy on a free port of 127.0.0.1 in front of ``upstream``; yields (its endpoint, the recorder)."""
    recorder = Recorder()
    with in_thread(_handler(upstream, recorder)) as server:
        yield f"http://127.0.0.1:{server.server_port}", recorder
