# Two commands: `make demo` and `make test`. Both create or refresh .venv on their own;
# the stamp file makes a second run skip the install.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Hide pip's notes about this machine's unused local index folders; keep everything else.
PIPFILTER := { grep -v -e 'is ignored: it is neither a file nor a directory' || true; }

CONSOLE := api/console
CONSOLE_STAMP := $(CONSOLE)/node_modules/.package-lock.json

.PHONY: demo test venv console lint bench serve clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel 2>&1 | $(PIPFILTER)
	@echo "installing dockpatrol and its dependencies into $(VENV) (first run only; torch is large)"
	@set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]' 2>&1 | $(PIPFILTER)
	@touch $(STAMP)

venv: $(STAMP)

# The web console's map library comes from npm (package-lock.json pins it); the API serves it offline.
$(CONSOLE_STAMP): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js and npm (Debian: apt-get install npm)" >&2; exit 1; }
	@npm ci --prefix $(CONSOLE) --no-audit --no-fund --loglevel=error
	@touch $(CONSOLE_STAMP)

console: $(CONSOLE_STAMP)

demo: venv console
	@$(VENV)/bin/dockpatrol demo

test: venv console
	@bash scripts/test.sh

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/lint-imports

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

serve: venv console
	@$(VENV)/bin/dockpatrol serve

clean:
	rm -rf .dockpatrol .pytest_cache
