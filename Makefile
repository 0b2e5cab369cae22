# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint check bench clean reset

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# The task worker (huey's consumer) runs beside gunicorn and stops with it (README,
# "Background work").
run: $(VENV)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py bootstrap_local
	@echo "Serving on http://127.0.0.1:$(PORT)  (API docs: /docs, admin: /admin/)"
	$(BIN)/python manage.py run_huey & trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py minicrm_project.wsgi

test: $(VENV)/.dev-installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# manage.py checks that CI runs besides the tests.
check: $(VENV)/.dev-installed
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

# Benchmarks (bench/run.py; results in bench/results/, figures in docs/performance.md). About
# an hour; not part of `make test`. Needs PostgreSQL: BENCH_DATABASE_URL, default the local
# server's database minicrm_bench (dropped and re-created, as are the minicrm_bench_* beside it),
# and the git history (bench/reference.py checks out "today's" main beside this tree).
# BENCH_ARGS="--quick" for a smoke run.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/.bench-installed: requirements.txt bench/requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

bench: $(VENV)/.bench-installed
	@command -v wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq pgbouncer; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.http_layer all $(findstring --quick,$(BENCH_ARGS))
	$(BIN)/python -m bench.webhooks $(BENCH_ARGS)
	$(BIN)/python -m bench.pgbouncer $(if $(findstring --quick,$(BENCH_ARGS)),--duration 3)

clean:
	rm -rf $(VENV) staticfiles .pytest-db.sqlite3* .pytest_cache

# Start the local demo over: delete the embedded SQLite database, so that the next `make run`
# sets up the demo again and prints new credentials. A DATABASE_URL database is never touched.
SQLITE_PATH ?= db.sqlite3

reset:
	@if [ -n "$$DATABASE_URL" ]; then \
	  echo "DATABASE_URL is set: make reset deletes only the embedded SQLite database; drop yours yourself." >&2; exit 1; fi
	rm -f "$(SQLITE_PATH)" "$(SQLITE_PATH)-wal" "$(SQLITE_PATH)-shm"
	@echo "The local database is gone: \`make run\` sets up the demo again and prints new credentials."
