# The README's two commands: `make demo` and `make test`. Both set everything up
# (system packages with apt when run as root, a .venv with the project) and are
# fast the second time.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := chromium fonts-noto-cjk poppler-utils postgresql
APT_STAMP := $(VENV)/.system-packages

.PHONY: demo test lint format bench system clean

DEMO_DATE := 2020-02-28

demo: $(STAMP) $(APT_STAMP)
	@# the county's history up to the day before; the demo date's files wait in data/inbox/
	test -f data/.demo-built || { $(BIN)/reportkit demo --ingest-through 2020-02-27 && touch data/.demo-built; }
	@# the afternoon job: ingest the day, render every school, then every level bottom-up, write the emails
	$(BIN)/reportkit daily --date $(DEMO_DATE) --dry-run
	@echo "Reports: outputs/$(DEMO_DATE)/index.html (HTML and PDF per school, units/ roll-ups of every level and the county form, mail/ emails)"

test: $(STAMP) $(APT_STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/reportkit

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP) $(APT_STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# System packages: installed with apt when missing (root), else named and refused.
system $(APT_STAMP):
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null || exit 1; \
	  else \
	    echo "Missing system packages:$$missing — run: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi
	@mkdir -p $(VENV) && touch $(APT_STAMP)

$(STAMP): pyproject.toml | $(APT_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# bytecode now, as pip does for what it installs: every kernel and command
	@# imports these modules, and with PYTHONDONTWRITEBYTECODE set each would compile them
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

clean:
	rm -rf outputs data .pytest_cache
