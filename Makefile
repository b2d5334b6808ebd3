# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install migrate demo worker clean

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
	@echo "Serving on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	BENCH=1 $(PY) -m pytest tests/benchmarks -p no:xdist -s $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

worker: install
	$(VENV)/bin/celery -A config worker -l info

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
