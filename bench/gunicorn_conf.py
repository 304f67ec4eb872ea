"""Gunicorn settings shared by the project and the baseline: one file, so they cannot drift.

The harness passes this file with `--config` to both servers (which also keeps gunicorn from
picking up a `gunicorn.conf.py` of the project's own) and adds only `--bind` on the command line.
BENCH_WEB_WORKERS / BENCH_WEB_THREADS come from the harness's --web-workers / --web-threads.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
threads = int(os.environ.get("BENCH_WEB_THREADS", "4"))
# Without SO_REUSEPORT the kernel hands most keep-alive connections to whichever worker accepts
# first, and throughput halves; with it, every worker has its own accept queue.
reuse_port = True
keepalive = 5
timeout = 30
graceful_timeout = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
capture_output = True
