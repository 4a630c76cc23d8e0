# slotshift — make targets. `make demo` runs the whole life-cycle on a local
# sandbox cluster; `make test` runs every test against real redis-server and
# sshd processes. Both install what they need first (scripts/install-deps.sh).
# `make test-e2e` and `make lab` use real systemd hosts (pkg/lab; root).

GO      ?= go
BIN     := bin/slotshift
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/slotshift/slotshift/pkg/cli.Version=$(VERSION)

.PHONY: all build deps test test-e2e lab lab-down unit lint fuzz demo bench clean schema

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/slotshift

deps:
	@scripts/install-deps.sh

# Unit and integration tests, with the race detector.
test: deps
	@test -z "$$(gofmt -l cmd pkg bench)" || { echo "gofmt needed:"; gofmt -l cmd pkg bench; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# End-to-end tests on a lab of systemd hosts (containers on a private
# bridge; needs root): the seeds' story and the chaos scenarios. Reports of
# every step land in $(E2E_OUT).
E2E_OUT ?= $(CURDIR)/slotshift-reports/e2e
test-e2e: deps
	$(GO) vet -tags e2e ./pkg/lab/...
	SLOTSHIFT_E2E_OUT=$(E2E_OUT) $(GO) test -tags e2e -race -count=1 -timeout 25m -v ./pkg/lab/...

# A lab for a person: LAB_HOSTS systemd hosts that stay up until lab-down.
LAB_HOSTS ?= 5
lab: deps build
	@$(GO) run ./cmd/slotshift-lab up -hosts $(LAB_HOSTS)

lab-down:
	@$(GO) run ./cmd/slotshift-lab down

# Pure packages only: no Redis, no sshd.
unit:
	$(GO) test -race -count=1 ./pkg/cluster/ ./pkg/inventory/ ./pkg/plan/ ./pkg/report/

lint:
	@test -z "$$(gofmt -l cmd pkg bench)" || { gofmt -l cmd pkg bench; exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; else echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"; fi

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./pkg/inventory/
	$(GO) test -run='^$$' -fuzz=FuzzParseNodes -fuzztime=$(FUZZTIME) ./pkg/cluster/

demo: deps build
	@scripts/demo.sh

# BENCHFLAGS passes flags, e.g. make bench BENCHFLAGS="-scale 50 -scale-keys 20000".
BENCHFLAGS ?=
bench: deps build
	$(GO) run ./bench $(BENCHFLAGS)

# Regenerate schema/report.schema.json from the report types (review the diff).
schema:
	$(GO) test -count=1 -run TestSchemaCommitted ./pkg/report -update

clean:
	rm -rf bin slotshift-reports .sandbox
