"""A small HTTP server on localhost that keeps what is PUT or POSTed to it, for the
log and diagnostics uploads of twin tests (run in a thread: the twin's upload is a
real HTTP request)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Uploads:
    """What arrived: ``files`` maps each request path to its body."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 201


@contextmanager
def upload_server() -> Iterator[Uploads]:
    uploads = Uploads("")

    class Handler(BaseHTTPRequestHandler):
        def _store(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if uploads.status < 300:
                uploads.files[self.path] = body
            self.send_response(uploads.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = _store
        do_POST = _store

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    uploads.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield uploads
    finally:
        server.shutdown()
        server.server_close()
