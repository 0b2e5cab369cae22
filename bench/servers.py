"""Running the service for the benchmark: gunicorn started the way production starts it
(`gunicorn.conf.py`, its worker rule) with the bench settings, the management commands the bench
calls, and the databases they use. Every command is recorded, so the report can show how to
repeat the run."""

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = "minicrm_project.settings.bench"


def pg_db(url: str) -> dict:
    return {"name": "postgresql", "env": {"DATABASE_URL": url}, "shown": {"DATABASE_URL": url}, "url": url}


def sqlite_db(tmp: Path, name: str) -> dict:
    path = tmp / f"{name}.sqlite3"
    return {"name": "sqlite", "env": {"SQLITE_PATH": str(path)}, "shown": {"SQLITE_PATH": f"$TMP/{path.name}"}}


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Servers:
    """The gunicorn instances of one bench run and the commands run against its databases."""

    def __init__(self, *, workers: int | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix="minicrm-bench-"))
        self.commands: list[str] = []
        self.procs: list[subprocess.Popen] = []
        # gunicorn.conf.py's rule unless WEB_CONCURRENCY is given.
        self.workers = int(workers or os.environ.get("WEB_CONCURRENCY") or 2 * os.cpu_count() + 1)

    # --- processes --------------------------------------------------------------------------

    def env(self, db: dict, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH", "WEB_CONCURRENCY")}
        env.update(DJANGO_SETTINGS_MODULE=SETTINGS, PYTHONUNBUFFERED="1", DJANGO_LOG_LEVEL="WARNING")
        env.update(db["env"])
        env.update(extra)
        return env

    def record(self, argv: list[str], env_shown: dict) -> None:
        shown = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env_shown.items())
        self.commands.append(f"{shown} {shlex.join(argv)}".strip())

    def manage(self, db: dict, *argv: str) -> str:
        """manage.py in the database's tree: this one, or another's (db["cwd"], bench.reference)."""
        cmd = [sys.executable, "manage.py", *argv]
        self.record(["python", "manage.py", *argv], {**db["shown"], "DJANGO_SETTINGS_MODULE": SETTINGS})
        out = subprocess.run(cmd, cwd=db.get("cwd", ROOT), env=self.env(db), capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout.strip()

    def manage_json(self, db: dict, *argv: str) -> dict:
        return json.loads(self.manage(db, *argv).splitlines()[-1])

    def start(self, db: dict, port: int, cwd: Path | None = None) -> subprocess.Popen:
        cwd = cwd or db.get("cwd", ROOT)
        env = self.env(db, PORT=str(port), WEB_CONCURRENCY=str(self.workers))
        self.record(
            ["gunicorn", "-c", "gunicorn.conf.py", "minicrm_project.wsgi"],
            {**db["shown"], "DJANGO_SETTINGS_MODULE": SETTINGS, "PORT": port, "WEB_CONCURRENCY": self.workers},
        )
        log = open(self.tmp / f"gunicorn-{port}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "minicrm_project.wsgi"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped by its id, nothing else
        )
        self.procs.append(proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn on port {port} exited; see {log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/baseline/", timeout=2)
            except urllib.error.HTTPError:
                return proc  # 401 or 405: Django answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
                continue
            return proc
        raise SystemExit(f"gunicorn on port {port} did not answer within 30 s")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs = []

    def worker_pids(self) -> list[int]:
        """The gunicorn workers of every running instance (the master serves no request)."""
        return [pid for proc in self.procs for pid in children(proc.pid)]

    # --- databases --------------------------------------------------------------------------

    def reset(self, db: dict) -> dict:
        """A fresh, migrated database with the bench's routing set-up; returns the set-up."""
        if db["name"] == "postgresql":
            import psycopg

            dbname = db["url"].rsplit("/", 1)[1].split("?")[0]
            if not dbname.startswith("minicrm_bench"):
                raise SystemExit(f"refusing to drop {dbname!r}: bench databases are named minicrm_bench*")
            admin_url = db["url"].rsplit("/", 1)[0] + "/postgres"
            self.commands.append(
                f"psql -c 'DROP DATABASE IF EXISTS {dbname} WITH (FORCE)' -c 'CREATE DATABASE {dbname}'"
            )
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
        else:
            path = Path(db["env"]["SQLITE_PATH"])
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.manage(db, "migrate", "--noinput", "-v0")
        return self.manage_json(db, "bench_setup")

    def bulk_load(self, db: dict, contacts: int) -> dict:
        """Contacts inserted in bulk (SQL, not the API) up to `contacts` in the table."""
        t0 = time.time()
        result = self.manage_json(db, "bench_bulk_load", "--contacts", str(contacts))
        result.update(db=db["name"], target=contacts, seconds=round(time.time() - t0, 1))
        return result

    def wait_for_autovacuum(self, db: dict, timeout: float = 180) -> float:
        """Waits until no autovacuum worker runs on the server (a big bulk load sets them off,
        and they would take a core from whatever is measured next); returns the seconds waited."""
        if db["name"] != "postgresql":
            return 0.0
        import psycopg

        started = time.time()
        with psycopg.connect(db["url"].rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            while time.time() - started < timeout:
                busy = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                ).fetchone()[0]
                if not busy:
                    break
                time.sleep(1)
        return round(time.time() - started, 1)

    def db_backend_pids(self, db: dict) -> list[int]:
        """PostgreSQL backends serving the bench database (SQLite runs in the workers)."""
        if db["name"] != "postgresql":
            return []
        import psycopg

        dbname = db["url"].rsplit("/", 1)[1].split("?")[0]
        with psycopg.connect(db["url"].rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [dbname]).fetchall()
        return [pid for (pid,) in rows]
