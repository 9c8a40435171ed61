#!/usr/bin/env bash
# fuzz.sh: run every Go fuzz target (func FuzzXxx) of the module, one after the
# other, each for $FUZZTIME, and print a table of what each did.
#
#   scripts/fuzz.sh                  every target of ./... for FUZZTIME (default 3s)
#   FUZZTIME=2m scripts/fuzz.sh ./outbound/...   the targets of some packages only
#   FUZZ_PARALLEL=1 scripts/fuzz.sh  one fuzzing worker per target (default: one per CPU)
#
# `make test` runs it with FUZZTIME=3s after the tests, `make fuzz` with 1m.
# Targets are found, not listed: a new FuzzXxx in any package is picked up.
# Each runs without -race (fuzzing is its own instrumentation); what it learns is
# kept in $(go env GOCACHE)/fuzz, so later runs start from there.
#
# Exit status: 0 when every target ran clean; 1 when one found a failing input
# (go writes it to PKG/testdata/fuzz/FuzzXxx/; the table says where) or could
# not run (build error, seed corpus failing).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-3s}"
[ $# -gt 0 ] || set -- ./...

logdir="$(mktemp -d "${TMPDIR:-/tmp}/dirsync-fuzz.XXXXXX")"
trap 'rm -rf "$logdir"' EXIT

# Candidate packages: those whose test files declare a fuzz target. `go test
# -list` (which builds the test binary) then names the targets exactly.
mapfile -t pkgs < <("$GO" list -f '{{.ImportPath}} {{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' "$@" |
	while read -r pkg dir files; do
		[ -n "$files" ] || continue
		for f in $files; do
			if grep -q '^func Fuzz' "$dir/$f"; then
				echo "$pkg $dir"
				break
			fi
		done
	done)
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets in $*" >&2
	exit 1
fi

rows=()
failed=0
crashers=()
parallel=()
[ -z "${FUZZ_PARALLEL:-}" ] || parallel=(-parallel "$FUZZ_PARALLEL")

for entry in "${pkgs[@]}"; do
	pkg="${entry%% *}"
	dir="${entry#* }"
	rel="${dir#"$PWD"/}"
	if ! targets="$("$GO" test -list '^Fuzz' "$pkg" 2>"$logdir/list.err")"; then
		rows+=("$rel -|-|-|BUILD FAILED")
		cat "$logdir/list.err" >&2
		failed=1
		continue
	fi
	for name in $(grep '^Fuzz' <<<"$targets"); do
		log="$logdir/$name.log"
		start=$(date +%s)
		"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "$pkg" >"$log" 2>&1
		status=$?
		secs=$(($(date +%s) - start))
		execs="$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
		result=ok
		input="$(grep -o 'Failing input written to [^ ]*' "$log" | tail -n 1 | cut -d' ' -f5)"
		if [ $status -ne 0 ] && [ -z "$input" ] && grep -q 'fuzz: elapsed' "$log" &&
			grep -qx '[[:space:]]*context deadline exceeded' "$log"; then
			# Go 1.26's fuzzing coordinator can report its own -fuzztime
			# deadline as a failure when a worker is mid-call as time runs
			# out (go.dev/issue/75804, fixed in Go 1.27): fuzzing ran, no
			# input failed, nothing was written. Not a finding.
			status=0
			result="ok (fuzztime deadline race, go.dev/issue/75804)"
		fi
		if [ $status -ne 0 ]; then
			failed=1
			if [ -n "$input" ]; then
				result="CRASHER: $rel/$input"
				crashers+=("$rel/$input  (go test -run '$name/$(basename "$input")' $pkg)")
			else
				result="FAILED (seed corpus or build; see the log above)"
			fi
			echo "=== $name ($pkg)" >&2
			tail -n 40 "$log" >&2
		fi
		rows+=("$rel $name|${secs}s|${execs:--}|$result")
	done
done

printf '\n%-52s %7s %12s  %s\n' "TARGET (fuzztime $FUZZTIME)" TIME EXECS RESULT
for r in "${rows[@]}"; do
	IFS='|' read -r target secs execs result <<<"$r"
	printf '%-52s %7s %12s  %s\n' "$target" "$secs" "$execs" "$result"
done

if [ ${#crashers[@]} -gt 0 ]; then
	echo
	echo "Fuzzing found failing inputs. Each is saved as a seed in the package's testdata/fuzz/:"
	for c in "${crashers[@]}"; do
		echo "  $c"
	done
	echo "Reproduce with the go test -run command shown, fix the code, and commit the file"
	echo "with the fix: it stays in the seed corpus as a regression test that plain go test runs."
fi
exit $failed
