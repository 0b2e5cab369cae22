"""gunicorn settings for `make run` and the benchmarks. Read by `gunicorn -c gunicorn.conf.py`.

Worker rule: 2 x cores + 1 processes (gunicorn's own advice; WEB_CONCURRENCY) of 2 threads
each (GUNICORN_THREADS), with minicrm's buffering threaded worker: it reads each request in
its event loop and gives it to a thread only when complete, so slow clients never hold a
thread (minicrm_project/gunicorn_worker.py; the README has the measurements that chose it)."""

import contextlib
import glob
import multiprocessing
import os
import socket
import tempfile

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "minicrm_project.gunicorn_worker.BufferingThreadWorker")
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# The access log shows the path, never the query string or the referrer: a lead search
# (?search=anna@example.com) or an admin search page would put personal data in the log.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
errorlog = "-"
# Request line and header limits: gunicorn refuses more with a 400 (431 for a header), which our
# worker writes as JSON like the API's errors (minicrm_project/gunicorn_worker.py). The line is
# raised from the 4094 default (long filter queries); 8190 is gunicorn's maximum.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190


# --- A worker killed by the timeout answers its API requests with a JSON 503 -------------------
# With threads, gunicorn's timeout watches a worker's event loop, not a request, so it never
# cuts a request short. Should it fire anyway (a stalled worker, or GUNICORN_WORKER_CLASS=sync,
# where it does kill a request that runs longer than `timeout`), the client of an API request
# would get gunicorn's HTML error page or a dropped connection. The worker's abort hook answers
# each API request still in flight with a JSON 503 before the process exits; the request's
# transaction is rolled back by the database when the connection dies. Django writes a response
# only when it is complete, so a request in flight has not sent anything yet.
TIMEOUT_503_BODY = (
    b'{"detail": "The server took too long to answer; nothing was changed. Retry the request.", "code": "timeout"}'
)
TIMEOUT_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(TIMEOUT_503_BODY), TIMEOUT_503_BODY)
)


def pre_request(worker, req):
    worker.__dict__.setdefault("requests_in_flight", {})[id(req)] = req


def post_request(worker, req, environ, resp):
    worker.requests_in_flight.pop(id(req), None)


def worker_abort(worker):
    for req in list(getattr(worker, "requests_in_flight", {}).values()):
        if req.path == "/api" or req.path.startswith("/api/"):
            with contextlib.suppress(OSError):  # the client may be gone
                req.unreader.sock.sendall(TIMEOUT_503)
                req.unreader.sock.shutdown(socket.SHUT_RDWR)


# --- Prometheus metrics from every worker -------------------------------------------------------
# Each worker is a process with its own counters; prometheus_client's multiprocess mode has them
# write to files in one folder, and /metrics adds them up. The folder is set here, in the master,
# before any worker starts (and imports prometheus_client); its old files are removed, since a
# counter must start from zero with the server.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="minicrm-metrics-")

# Imported once the folder is set (prometheus_client chooses how to store values when it is
# imported) and here, not in child_exit: that hook runs in the master's SIGCHLD handler, and
# at shutdown the next worker's exit interrupted the import begun for the previous one
# ("cannot import name 'Gauge' from partially initialized module", seen in a bench log).
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server):
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
