"""A local Slack incoming webhook: records what is posted to it (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from servers import in_thread


def slack_connection(url: str) -> str:
    """The `slack_alerts` connection as AIRFLOW_CONN_SLACK_ALERTS carries it."""
    return json.dumps({"conn_type": "slackwebhook", "password": url})


class SlackReceiver:
    """The posts one receiver got; ``delay`` makes it a slow Slack."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.delay = 0.0
        self.address = self.url = ""

    def texts(self) -> list[str]:
        return [post["body"]["text"] for post in self.posts]

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[SlackReceiver]:
        # A handler class of its own per receiver: a slow post still in flight from an earlier test lands
        # in that test's list, not in this one's.
        receiver = cls()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.posts.append({"path": self.path, "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        with in_thread(Handler) as server:
            receiver.address = f"127.0.0.1:{server.server_port}"
            receiver.url = f"http://{receiver.address}/services/T000/B000/XXXX"
            yield receiver
