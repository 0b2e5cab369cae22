"""Scale-out behind PgBouncer: two app instances (gunicorn, as production starts it) with
DATABASE_POOLER=pgbouncer, both connected to one PgBouncer in transaction pooling mode in front
of one PostgreSQL database; intake load split between them, then the books checked (contacts
equal requests sent, no operator over max_load, stored loads equal the recount).

    python -m bench.pgbouncer [--duration 10] [--conns 16] [--pool-size 6] [--port 8650]
        [--pgbouncer-port 6450] [--pg-url URL]

PgBouncer is the distribution's package (`make bench` installs it when missing); it runs as
our own process with a generated ini in a temporary folder, `auth_type = trust` towards the
local PostgreSQL, and stops with the run. Uses the database minicrm_bench_pgb (dropped and
re-created, through a direct connection; migrations and the set-up run directly too, as a
deployment would run them). Prints one line per run and a JSON summary; figures taken on a
shared machine are only comparable within one run."""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.load import Load
from bench.servers import Servers, pg_db

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench_pgb"

INI = """[databases]
{dbname} = host={host} port={port} dbname={dbname} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {logfile}
pidfile = {pidfile}
unix_socket_dir =
"""


def find_pgbouncer() -> str:
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("pgbouncer is not installed (Debian/Ubuntu: apt-get install pgbouncer; `make bench` does it)")


def start_pgbouncer(*, url: str, listen_port: int, pool_size: int) -> subprocess.Popen:
    # A folder of its own (not inside the bench's private one): PgBouncer may run as another user.
    tmp = Path(tempfile.mkdtemp(prefix="minicrm-pgbouncer-"))
    rest = url.split("://", 1)[1]
    user, hostpart = rest.split("@", 1)
    hostport, dbname = hostpart.split("/", 1)
    host, _, port = hostport.partition(":")
    auth_file = tmp / "userlist.txt"
    auth_file.write_text(f'"{user}" ""\n')
    ini = tmp / "pgbouncer.ini"
    ini.write_text(
        INI.format(
            dbname=dbname.split("?")[0],
            host=host,
            port=port or 5432,
            user=user,
            listen_port=listen_port,
            auth_file=auth_file,
            pool_size=pool_size,
            logfile=tmp / "pgbouncer.log",
            pidfile=tmp / "pgbouncer.pid",
        )
    )
    argv = [find_pgbouncer(), str(ini)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it drops to an unprivileged user
        tmp.chmod(0o777)
        for path in (ini, auth_file):
            path.chmod(0o644)
        argv[1:1] = ["-u", "nobody"]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pgbouncer exited; see {tmp / 'pgbouncer.log'}")
        try:
            socket.create_connection(("127.0.0.1", listen_port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("pgbouncer did not listen within 15 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=6, help="PgBouncer's server connections")
    parser.add_argument("--port", type=int, default=8650, help="the app instances take this port and the next")
    parser.add_argument("--pgbouncer-port", type=int, default=6450)
    parser.add_argument("--pg-url", default=DEFAULT_URL)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    servers = Servers(workers=args.workers)
    load = Load(servers, duration=args.duration)
    direct = pg_db(args.pg_url)
    setup = servers.reset(direct)
    pgbouncer = start_pgbouncer(url=args.pg_url, listen_port=args.pgbouncer_port, pool_size=args.pool_size)
    pooled_url = args.pg_url.replace(args.pg_url.split("@", 1)[1].split("/", 1)[0], f"127.0.0.1:{args.pgbouncer_port}")
    # The app (and the books' management commands) through PgBouncer; CPU and the database's
    # backends are read from the direct URL.
    pooled = {
        "name": "postgresql",
        "env": {"DATABASE_URL": pooled_url, "DATABASE_POOLER": "pgbouncer"},
        "shown": {"DATABASE_URL": pooled_url, "DATABASE_POOLER": "pgbouncer"},
        "url": args.pg_url,
    }
    ports = [args.port, args.port + 1]
    runs = []
    try:
        for port in ports:
            servers.start(pooled, port)
        load.warm_up(setup, ports, modes=("intake",))
        for conns in (args.conns, args.conns * 4):
            runs.append(
                load.measure(db=pooled, scenario="pgbouncer", mode="intake", conns=conns, setup=setup, ports=ports)
            )
    finally:
        servers.stop_all()
        pgbouncer.send_signal(signal.SIGTERM)
        pgbouncer.wait(timeout=15)
    print(
        json.dumps(
            [
                {
                    "connections": r["connections"],
                    "instances": r["instances"],
                    "rps": r["rps"],
                    "latency_ms": r["latency_ms"],
                    "non_2xx": r["non_2xx"],
                    "socket_errors": r["socket_errors"],
                    "cpu_ms_per_request": r["cpu_ms_per_request"],
                    "books_ok": r["check"]["ok"],
                    "loadavg_after": r["loadavg_after"],
                }
                for r in runs
            ],
            indent=1,
        )
    )
    print(f"pgbouncer log: {pgbouncer.args[-1].replace('.ini', '.log')}; gunicorn logs in {servers.tmp}")
    if not all(r["check"]["ok"] for r in runs) or any(r["non_2xx"] for r in runs):
        raise SystemExit("PgBouncer scenario: non-2xx answers or the books do not balance")


if __name__ == "__main__":
    main()
