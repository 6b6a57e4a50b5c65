# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
# uv is installed into .tools/ and builds .venv/ from uv.lock, compiled to bytecode as in the
# Docker image: workers and trend processes then start in a fraction of the time.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv/.synced

.PHONY: run test lint fmt install clean bench bench-scale clients

run: $(VENV) ## Serve the API on the embedded SQLite default
	.venv/bin/rejection-tracker serve $(ARGS)

test: $(VENV) ## Run the test suite (SQLite; set TEST_DATABASE_URL for PostgreSQL)
	.venv/bin/pytest $(ARGS)

bench: $(VENV) ## Benchmark against a minimal baseline on PostgreSQL with wrk; writes bench/RESULTS.md
	.venv/bin/python -m bench.run $(ARGS)

bench-scale: $(VENV) ## The same, with 1,000,000 attempts in the database
	.venv/bin/python -m bench.run --scale $(ARGS)

clients: $(VENV) ## Generate Python and TypeScript clients, run a journey through them, lint the document (needs npm)
	clients/run.sh

lint: $(VENV) ## ruff, mypy and hadolint
	.venv/bin/ruff check app tests migrations bench examples clients
	.venv/bin/ruff format --check app tests migrations bench examples clients
	.venv/bin/mypy app
	.venv/bin/hadolint Dockerfile

fmt: $(VENV)
	.venv/bin/ruff check --fix app tests migrations bench examples clients
	.venv/bin/ruff format app tests migrations bench examples clients

install: $(VENV)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode
	touch $(VENV)

clean:
	rm -rf .tools .venv .pytest_cache .mypy_cache .ruff_cache clients/.venv clients/node_modules clients/build
