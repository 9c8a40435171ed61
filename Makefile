# dirsync: the two commands that matter are `make run` and `make test`.
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
BIN     := bin/dirsync
CONFIG  ?= deploy/examples/quickstart.yaml
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test test-short bench bench-ldap vet clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.buildVersion=$(VERSION)" -o $(BIN) ./cmd/dirsync

## run: the daemon on the quickstart config (embedded state file, SQLite store, sample directory)
run: build
	./$(BIN) serve --config $(CONFIG)

## test: start throwaway Redis, OpenLDAP, PostgreSQL and a Samba AD DC on loopback, run every test,
## then every fuzz target for a few seconds (some need the servers too), stop them
test: vet
	bash scripts/testenv.sh run -- bash -c '$(GO) test -race -count=1 ./... && FUZZTIME=3s bash scripts/fuzz.sh'

## fuzz: every fuzz target of the module for FUZZTIME each (make test runs them for 3s)
FUZZTIME ?= 1m
.PHONY: fuzz
fuzz:
	bash scripts/testenv.sh run -- env FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## test-short: the tests that need no server
test-short:
	$(GO) test -count=1 ./...

## bench: benchmarks, each reporting against a baseline measured in the same run
bench:
	bash scripts/testenv.sh run -- $(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

## bench-console: the console's users page at 100,000 users (first page and after 200 "next"), SQLite and PostgreSQL
.PHONY: bench-console
bench-console:
	bash scripts/testenv.sh run -- $(GO) test -run '^$$' -bench UsersPage -benchtime 20x -count=1 -timeout 30m -v ./console/

## bench-ldap: the LDAP connector and full syncs against 100k users in a throwaway slapd of its own
bench-ldap:
	$(GO) test -run '^$$' -bench LDAPSync -benchtime 1x -timeout 30m -v ./connectors/ldap/

## bench-sync: one table against a throwaway slapd of BENCH_USERS users (default 100000; 1000000 works): ldapsearch
## (the baseline), our read, initial sync into SQLite and PostgreSQL, no-change resync, incremental after 1,000
## changes, each with seconds, the ratio to its baseline, peak RSS (getrusage) and the target; also in .bench/
BENCH_USERS ?= 100000
.PHONY: bench-sync
bench-sync: build
	bash scripts/testenv.sh run -- env BENCH_USERS=$(BENCH_USERS) DIRSYNC_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench SyncTable -benchtime 1x -count=1 -timeout 120m -v ./internal/benchsync/

## load: 200 API clients for 60 s while 10,000 users sync from OpenLDAP (SQLite, then PostgreSQL); p50/p99 per route
.PHONY: load
load:
	bash scripts/testenv.sh run -- env DIRSYNC_LOAD=full $(GO) test -run TestLoadWhileSyncing -count=1 -v -timeout 30m ./internal/loadtest/

## mutants: break each safety invariant on purpose in a copy of the tree; passes only if a test catches every one (not part of test)
.PHONY: mutants
mutants:
	bash scripts/testenv.sh run -- bash scripts/mutants.sh $(MUTANTS)

vet:
	$(GO) vet ./...

## lint: golangci-lint at the version pinned in tools/go.mod, with .golangci.yml (layering, no init(), errors
## checked and wrapped, staticcheck); the first run builds the linter (make test runs it)
.PHONY: lint
lint:
	GO=$(GO) bash scripts/lint.sh
test: lint

## openapi: api/openapi.yaml passes an OpenAPI 3.1 validator (pb33f/libopenapi), has no stray keys, and full
## examples of the wire types validate against its schemas; every error code is catalogued (make test runs it first)
.PHONY: openapi
openapi:
	$(GO) test -count=1 -run 'OpenAPI|ErrorCatalogue' ./api/
test: openapi

clean:
	rm -rf bin deploy/examples/data .testenv
