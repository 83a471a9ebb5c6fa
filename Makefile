# The two commands the README opens with:
#   make run    set everything up, migrate, seed the demo chain, serve on 127.0.0.1:8080
#   make test   set everything up and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck check browser bench-start bench-seed bench-router bench-segments bench-nlu bench-inbox rasa clean

# Browser tests drive Debian's Chromium (Playwright's own browser download does not
# work offline); installed here when we may, or they skip and say why.
CHROMIUM := /usr/bin/chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "omnihub needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/omnihub demo

browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "note: browser tests skip without Debian's chromium: sudo apt-get install chromium"; fi; }

test: $(STAMP) browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench-start: $(STAMP)
	$(BIN)/python benchmarks/startup.py

bench-seed: $(STAMP)
	$(BIN)/python benchmarks/seed_bulk.py

bench-router: $(STAMP)
	$(BIN)/python benchmarks/router.py

bench-segments: $(STAMP)
	$(BIN)/python benchmarks/segments.py $(BENCH_ARGS)

bench-nlu: $(STAMP)
	$(BIN)/python benchmarks/nlu.py

# The inbox page in headless Chromium: load time with 10,000 conversations, live-update
# latency (BENCH_ARGS="--postgres" for PostgreSQL).
bench-inbox: $(STAMP) browser
	$(BIN)/python benchmarks/inbox.py $(BENCH_ARGS)

# Rasa as its own server (scripts/rasa.sh): its environment (built once, cached in
# ~/.cache/omnihub/rasa), bots/ trained (again only when it changed), served on
# 127.0.0.1:5005. Then: OMNIHUB_RASA_URL=http://127.0.0.1:5005 make run
rasa:
	bash scripts/rasa.sh env
	bash scripts/rasa.sh train
	bash scripts/rasa.sh serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache omnihub.db omnihub.db-*
