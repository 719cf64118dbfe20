# The two set-up commands of the README: `make demo` and `make test`. Both make .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
B      ?= authz
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test bench install install-dev schema frontend-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

install: $(BIN)/python
	$(PIP) install -e .

install-dev: $(BIN)/python
	$(PIP) install -e '.[dev,otel]'

## make demo: embedded PostgreSQL + Redis (unless DATABASE_URL/REDIS_URL are set), migrations,
## the demo province, then API + worker + scheduler on http://127.0.0.1:$(PORT)/graphql
demo: install
	PORT=$(PORT) $(BIN)/ducha demo --port $(PORT)

## make test: the whole suite against DATABASE_URL/REDIS_URL, or the embedded servers
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench B=authz: one benchmark; its figures as one JSON object on the last line
bench: install-dev
	$(BIN)/ducha bench $(B)

## make schema: rewrite the committed SDL from the code
schema: install
	$(BIN)/ducha schema --write graphql/schema.graphql

## make frontend-check: no breaking SDL change against BASE; TypeScript types generated from
## the SDL and operation documents type-check (graphql-codegen + tsc, from the npm registry)
BASE ?= HEAD
frontend-check: install
	$(BIN)/ducha schema --breaking-against $(BASE)
	cd infra/codegen && npm install --no-audit --no-fund --package-lock=false --loglevel=error && npm run -s check

clean:
	rm -rf $(VENV) var build *.egg-info
