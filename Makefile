# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install migrate demo worker clean backup restore bench-load

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

# SQLite + eager Celery: no PostgreSQL or Redis needed. Loads the demo registry on first run.
run: migrate
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py recompute_reports --sync
	@echo "Serving on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	BENCH=1 $(PY) -m pytest tests/benchmarks -p no:xdist -s $(PYTEST_ARGS)

# Only the load benchmark: gunicorn + PostgreSQL (DATABASE_URL, database <name>_load), 20 members, 60 s.
bench-load: install
	BENCH=1 $(PY) -m pytest tests/benchmarks/test_load.py -p no:xdist -s $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

# Database (pg_dump -Fc, or a SQLite copy) and private media into backups/<UTC timestamp>/.
backup: install
	$(PY) scripts/backup.py backup

# make restore BACKUP=backups/20260101T020000Z  (replaces the current database and media)
restore: install
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=backups/<timestamp>" >&2; exit 2; }
	$(PY) scripts/backup.py restore "$(BACKUP)"

worker: install
	$(VENV)/bin/celery -A config worker -l info

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
