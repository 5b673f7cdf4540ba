# The two commands: `make run` (the whole product on embedded defaults) and `make test` (the whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/crm_test
export FLASK_APP := wsgi

.PHONY: run test install translations lint test-sqlite test-pg test-browser bench vendor clean extract-messages

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile -d crm/translations

## make run: migrate, load the demo zone, then serve the web app, the worker and the scheduler (Ctrl-C stops all)
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask crm seed-demo
	$(BIN)/flask crm optimize-db
	$(BIN)/python scripts/run_local.py

lint: $(STAMP)
	$(BIN)/ruff check crm worker tests bench config.py wsgi.py scripts

## make test: lint, the suite on SQLite (with the worker on Redis and on the file broker) and again on PostgreSQL
## side by side (each pass's output is printed whole when it ends), then the browser tests; the PostgreSQL pass runs
## a sample of each sweep (tests/sweeps.py), the SQLite pass every case
test: install lint
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-pg
	$(MAKE) --no-print-directory test-browser

test-sqlite: install
	$(BIN)/pytest -q -m "not browser and not pg"

test-pg: install
	@if [ "$$CI" = "true" ] || pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then \
	  psql -h 127.0.0.1 -U postgres -d test -tAc "SELECT 1 FROM pg_database WHERE datname='crm_test'" | grep -q 1 \
	    || psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE crm_test"; \
	  TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q -m "not browser and not services and not sqlite and not sweep_rest"; \
	else echo "SKIPPED the PostgreSQL pass: no server on 127.0.0.1:5432 (CI=true makes this an error)"; fi

test-browser: install
	$(BIN)/pytest -q -m browser

bench: install
	$(BIN)/python bench/run.py

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o crm/translations/messages.pot .
	$(BIN)/pybabel update -i crm/translations/messages.pot -d crm/translations

vendor:
	cd static/vendor && rm -rf .npm-tmp && mkdir .npm-tmp && cd .npm-tmp && \
	  npm pack @tabler/core@1.6.1 echarts@6.1.0 htmx.org@2.0.11 sortablejs@1.15.7 >/dev/null && \
	  for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done && \
	  cp tabler-core-1.6.1/package/dist/css/tabler.min.css tabler-core-1.6.1/package/dist/js/tabler.min.js ../tabler/ && \
	  mkdir -p ../echarts && cp echarts-6.1.0/package/dist/echarts.min.js echarts-6.1.0/package/LICENSE echarts-6.1.0/package/NOTICE ../echarts/ && \
	  cp htmx.org-2.0.11/package/dist/htmx.min.js ../htmx/ && \
	  mkdir -p ../sortablejs && cp sortablejs-1.15.7/package/Sortable.min.js sortablejs-1.15.7/package/LICENSE ../sortablejs/ && \
	  cd .. && rm -rf .npm-tmp

clean:
	rm -rf $(VENV) instance .pytest_cache
