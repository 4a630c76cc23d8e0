# slotshift — make targets. `make demo` runs the whole life-cycle on a local
# sandbox cluster; `make test` runs every test against real redis-server and
# sshd processes. Both install what they need first (scripts/install-deps.sh).

GO      ?= go
BIN     := bin/slotshift
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/slotshift/slotshift/pkg/cli.Version=$(VERSION)

.PHONY: all build deps test unit lint fuzz demo bench clean schema

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

clean:
	rm -rf bin slotshift-reports .sandbox
