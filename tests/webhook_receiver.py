"""A webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread of the test
process. It records every request, answers with the status the test sets, can be stopped
and started again on the same port (a receiver that is down), and can hold a request until
the test releases it (a worker killed mid-delivery)."""

import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

from tests.live.server import free_port


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict:
        return json.loads(self.body)

    def verify(self, secret: str) -> dict:
        """Standard Webhooks verification, as a receiver does it: raises if invalid."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = 200
        self.received: list[Received] = []
        self.hold = threading.Event()
        self.hold.set()  # set: answer at once; cleared: wait until set
        self.got_request = threading.Event()
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.got_request.set()
                receiver.hold.wait(timeout=30)
                payload = b'{"ok": true}' if receiver.status < 300 else b"receiver error " + b"x" * 5000
                with contextlib.suppress(OSError):
                    self.send_response(receiver.status)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler

    def start(self) -> "Receiver":
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until start() again."""
        if self._server is not None:
            self.hold.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def message_ids(self) -> list[str]:
        with self._lock:
            return [r.message_id for r in self.received]
