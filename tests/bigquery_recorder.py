"""A recording proxy in front of the BigQuery emulator: every statement a client sends, as sent.

The emulator runs DuckDB underneath, so it proves the API flow, not BigQuery's dialect. The proxy
forwards each request unchanged and writes down what defines the warehouse's SQL and schemas, in
the order BigQuery would see it, for ``googlesql.py`` to analyse:

- ``query``: a query job's text (``jobs.insert`` or ``jobs.query``) with its default dataset;
- ``load``: a load job's destination table and schema (staging tables, dbt seeds);
- ``table``: a table created through the API (``tables.insert``) with its schema.

Each record carries the phase the test set (``recorder.phase``) and the emulator's error, if any.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
_JOBS = re.compile(r"^(?:/upload)?/bigquery/v2/projects/([^/]+)/(jobs|queries)$")
_TABLES = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables$")


@dataclass
class Recorder:
    """What went through the proxy, in order; ``phase`` labels the records that follow."""

    phase: str = ""
    records: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: dict) -> None:
        with self._lock:
            self.records.append({"phase": self.phase, **record})

    def statements(self) -> list[dict]:
        return [r for r in self.records if r["kind"] == "query"]


def _json_part(body: bytes, content_type: str) -> dict | None:
    """The JSON metadata of a request: the body itself, or the first part of a multipart upload."""
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}")
    if content_type.startswith("multipart/"):
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            if part.get_content_type() == "application/json":
                return json.loads(part.get_payload(decode=True))
    return None


def _records(method: str, path: str, request: dict, response: dict) -> Iterator[dict]:
    error = (response.get("status") or {}).get("errorResult") or response.get("error")
    error = error.get("message") if isinstance(error, dict) else None
    if method == "POST" and (jobs := _JOBS.match(path)):
        project = jobs.group(1)
        if jobs.group(2) == "queries":  # jobs.query: the query in the body itself
            dataset = request.get("defaultDataset") or {}
            yield {"kind": "query", "sql": request["query"], "project": project,
                   "default_dataset": dataset.get("datasetId"), "error": error}  # fmt: skip
            return
        configuration = request.get("configuration") or {}
        if query := configuration.get("query"):
            dataset = query.get("defaultDataset") or {}
            yield {"kind": "query", "sql": query["query"], "project": project,
                   "default_dataset": dataset.get("datasetId"), "error": error}  # fmt: skip
        elif (load := configuration.get("load")) and load.get("schema"):
            yield {"kind": "load", "table": load["destinationTable"], "schema": load["schema"]["fields"],
                   "error": error}  # fmt: skip
    elif method == "POST" and (tables := _TABLES.match(path)) and request.get("schema"):
        reference = {"projectId": tables.group(1), "datasetId": tables.group(2), **request.get("tableReference", {})}
        yield {"kind": "table", "table": reference, "schema": request["schema"]["fields"], "error": error}


def _handler(upstream: str, recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self._record(body, payload)

        def _record(self, body: bytes, payload: bytes) -> None:
            path = urlsplit(self.path).path
            if self.command != "POST" or not (_JOBS.match(path) or _TABLES.match(path)):
                return
            request = _json_part(body, self.headers.get("Content-Type", ""))
            try:
                response = json.loads(payload or b"{}")
            except ValueError:
                response = {}
            for record in _records(self.command, path, request or {}, response):
                recorder.add(record)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args) -> None:  # the emulator keeps its own log
            pass

    return Forward


@contextmanager
def recording(upstream: str) -> Iterator[tuple[str, Recorder]]:
    """A proxy on a free port of 127.0.0.1 in front of ``upstream``; yields (its endpoint, the recorder)."""
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, recorder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bigquery-recorder", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
