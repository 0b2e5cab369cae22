"""gunicorn settings for `make run` and the benchmarks. Read by `gunicorn -c gunicorn.conf.py`.

Worker rule: 2 x cores + 1 processes (gunicorn's own advice; WEB_CONCURRENCY) of 2 threads
each (GUNICORN_THREADS), with minicrm's buffering threaded worker: it reads each request in
its event loop and gives it to a thread only when complete, so slow clients never hold a
thread (minicrm_project/gunicorn_worker.py; the README has the measurements that chose it)."""

import multiprocessing
import os

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
# Request line and header limits: gunicorn refuses more with its own HTML 400. The line is
# raised from the 4094 default (long filter queries); 8190 is gunicorn's maximum.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
