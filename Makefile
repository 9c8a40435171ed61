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

## test: start throwaway Redis, OpenLDAP, PostgreSQL and a Samba AD DC on loopback, run every test, stop them
test: vet
	bash scripts/testenv.sh run -- $(GO) test -race -count=1 ./...

## test-short: the tests that need no server
test-short:
	$(GO) test -count=1 ./...

## bench: benchmarks, each reporting against a baseline measured in the same run
bench:
	bash scripts/testenv.sh run -- $(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

## bench-ldap: the LDAP connector and full syncs against 100k users in a throwaway slapd of its own
bench-ldap:
	$(GO) test -run '^$$' -bench LDAPSync -benchtime 1x -timeout 30m -v ./connectors/ldap/

vet:
	$(GO) vet ./...

clean:
	rm -rf bin deploy/examples/data .testenv
