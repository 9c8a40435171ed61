#!/usr/bin/env bash
# lint.sh: run golangci-lint, at the version pinned in tools/go.mod, over the module
# with the checked-in .golangci.yml. Extra arguments go to `golangci-lint run`
# (for example `scripts/lint.sh ./store/...` or `--fix`).
#
# `go tool -n` builds the linter on first use (from the module cache, or the module
# proxy on a clean machine) and keeps the binary in the Go build cache, so later runs
# start at once. golangci-lint keeps its own analysis cache in
# ${GOLANGCI_LINT_CACHE:-$HOME/.cache/golangci-lint}: unchanged packages are not
# re-analysed.
set -euo pipefail
cd "$(dirname "$0")/.."

go=${GO:-go}
lint=$("$go" -C tools tool -n golangci-lint)
exec "$lint" run "$@"
