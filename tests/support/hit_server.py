"""Real HTTP servers on loopback: one that answers JSON as a test says, one that records hits.

with json_server(lambda request: (200, {"ok": True})) as url:
    ...  # point something at url

with recording_server() as server:
    ...  # point something at server.url
    assert server.hits == []
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes


Answer = Callable[[Request], tuple[int, Any]]


@contextmanager
def json_server(answer: Answer, *, content_type: str = "application/json") -> Iterator[str]:
    """A server whose every GET and POST gets `answer(request)`: a status and a JSON body."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(self.command, self.path, self.headers, body)
            status, value = answer(request)
            payload = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class RecordingServer:
    url: str
    hits: list[str] = field(default_factory=list)


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    """A server that records the path of every request and serves a schema."""
    record = RecordingServer(url="")

    def answer(request: Request) -> tuple[int, Any]:
        record.hits.append(request.path)
        return 200, {"type": "string"}

    with json_server(answer, content_type="application/schema+json") as url:
        record.url = url
        yield record
