"""gunicorn's threaded worker, with slow clients kept out of the threads.

gunicorn's sync worker gives each connection a whole process while it reads the request, and
its gthread worker a whole thread: six clients that trickle their headers held every sync
worker of `make run` (/healthz took 23 s), and a handful held all the threads of one gthread
worker, whose event loop went on accepting connections it could never serve.

This worker reads each request in its event loop instead (non-blocking, into a buffer of the
connection's own) and hands the connection to a thread only once the request head and the
body it announces have arrived, as a buffering proxy in front would. A client that has not
finished sending its request within `REQUEST_READ_TIMEOUT` seconds is disconnected; until
then it costs a buffer and a socket, not a thread. Requests larger than `BUFFER_LIMIT`,
`Expect: 100-continue` requests and TLS connections are handed over as soon as their head is
complete (or at once, for TLS), as gunicorn does it. Like gunicorn's own threaded worker, it
does not serve pipelined requests (a second request sent before the first answer arrives
waits for more bytes); HTTP clients today do not pipeline.

A request gunicorn itself refuses before Django sees it (a malformed request line, an
oversized header, an invalid header name) is answered like every other error of ours, as JSON
`{"detail": ..., "code": ...}`, instead of gunicorn's HTML page (`handle_error`).

Relies on gunicorn 23's ThreadWorker internals (TConn, the poller, the parser's unreader, the
error page `handle_error` writes), pinned in requirements.txt.
"""

import contextlib
import html
import json
import os
import re
import time
from collections import deque

from gunicorn.workers.gthread import ThreadWorker

# Seconds a client may take to send one whole request (head and body).
REQUEST_READ_TIMEOUT = float(os.environ.get("GUNICORN_REQUEST_READ_TIMEOUT", "20"))
# What one connection may buffer: a generous head plus the application's body cap (Django
# refuses larger bodies after reading the cap anyway). Beyond it the connection goes to a
# thread. So a connection costs at most ~100 KiB of memory, whatever the client sends.
BUFFER_LIMIT = 32 * 1024 + int(os.environ.get("DJANGO_MAX_BODY_BYTES", "65536"))

HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r\n", re.IGNORECASE)
CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue", re.IGNORECASE)


# gunicorn's error page: "HTTP/1.1 <status> <reason>" ... "</h1>" <message> "</body>".
ERROR_STATUS = re.compile(rb"^HTTP/1\.1 (\d{3}) ([^\r\n]*)\r\n")
ERROR_MESSAGE = re.compile(rb"</h1>\s*(.*?)\s*</body>", re.DOTALL)
ERROR_CODES = {400: "bad_request", 403: "permission_denied", 431: "headers_too_large", 501: "not_implemented"}


def json_error(page: bytes) -> bytes | None:
    """gunicorn's HTML error response as the API's JSON error, or None if `page` is not one."""
    status = ERROR_STATUS.match(page)
    if status is None:
        return None
    code, reason = int(status.group(1)), status.group(2).decode("latin-1")
    message = ERROR_MESSAGE.search(page)
    detail = html.unescape(message.group(1).decode("latin-1")) if message else ""
    body = json.dumps(
        {"detail": f"{reason}: {detail}" if detail else f"{reason}.", "code": ERROR_CODES.get(code, "server_error")}
    ).encode()
    return (
        f"HTTP/1.1 {code} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


class _ErrorPage:
    """The client socket as gunicorn's `handle_error` sees it: what it writes is kept, to be
    sent as JSON; everything else goes to the real socket."""

    def __init__(self, sock):
        self._sock = sock
        self.written = bytearray()

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def gettimeout(self):
        return 0.0  # gunicorn's write_nonblock then writes straight to sendall

    def sendall(self, data):
        self.written += data


def request_complete(buffer: bytes) -> bool:
    """Whether `buffer` holds the first request's head and the body the head announces (or
    enough that a thread should take over)."""
    if len(buffer) >= BUFFER_LIMIT:
        return True
    end = buffer.find(HEAD_END)
    if end < 0:
        return False
    head, body = buffer[: end + 2], buffer[end + 4 :]
    if EXPECT_CONTINUE.search(head):
        return True  # the client waits for "100 Continue", which the thread sends
    if CHUNKED.search(head):
        # The last chunk (size 0, then optional trailers and an empty line). A false match
        # inside the data only hands the connection over early, which is safe.
        return body.endswith(b"\r\n\r\n") and (body.startswith(b"0") or b"\r\n0" in body)
    length = CONTENT_LENGTH.search(head)
    return length is None or len(body) >= int(length.group(1))


class BufferingThreadWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        # gunicorn decides the status and logs the error; only the page it writes changes.
        page = _ErrorPage(client)
        super().handle_error(req, page, addr, exc)
        data = bytes(page.written)
        if data:
            with contextlib.suppress(OSError):  # the client may be gone
                client.sendall(json_error(data) or data)

    def init_process(self):
        # Connections still sending their request, oldest first: (deadline, conn).
        self._reading = deque()
        super().init_process()

    def on_client_socket_readable(self, conn, client):
        if self.cfg.is_ssl:
            return super().on_client_socket_readable(conn, client)
        with self._lock:
            if conn.initialized:
                # A kept-alive connection's next request starts: it leaves the keep-alive queue.
                with contextlib.suppress(ValueError):
                    self._keep.remove(conn)
        buffer = getattr(conn, "request_buffer", None)
        if buffer is None:
            buffer = conn.request_buffer = bytearray()
            conn.read_deadline = time.monotonic() + REQUEST_READ_TIMEOUT
            self._reading.append((conn.read_deadline, conn))
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(conn)
            return
        buffer += data
        if request_complete(bytes(buffer)):
            with self._lock:
                self.poller.unregister(conn.sock)
            conn.request_buffer = None
            conn.read_deadline = None
            conn.init()
            conn.parser.unreader.unread(bytes(buffer))
            fs = self.tpool.submit(self.handle, conn)
            self._wrap_future(fs, conn)

    def _drop(self, conn):
        conn.request_buffer = None
        conn.read_deadline = None
        self.nr_conns -= 1
        with self._lock, contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        conn.close()

    def murder_keepalived(self):
        super().murder_keepalived()
        now = time.monotonic()
        while self._reading:
            deadline, conn = self._reading[0]
            if conn.read_deadline != deadline:  # handed over or dropped since: forget it
                self._reading.popleft()
                continue
            if deadline > now:
                break
            self._reading.popleft()
            self.log.info("Closing a connection that did not send its request within %ss", REQUEST_READ_TIMEOUT)
            self._drop(conn)
