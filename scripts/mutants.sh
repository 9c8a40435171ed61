#!/usr/bin/env bash
# mutants.sh: the mutation check behind `make mutants`. It copies the tree
# (tracked and untracked, not ignored, files; the checkout is never touched),
# applies each deliberate breakage of a safety invariant below to the copy in
# turn, runs the tests that guard it, and passes only when every mutant makes
# at least one test fail (KILLED). A mutant no test notices (SURVIVED) means
# the suite would let that bug land.
#
#   scripts/mutants.sh             every mutant
#   scripts/mutants.sh NAME...     only these (names as listed by -l)
#   scripts/mutants.sh -l          list the mutants
#   scripts/mutants.sh -n          only check that every mutant still applies
#
# The tests need the test servers: run it as `make mutants` (which starts
# them through scripts/testenv.sh), or after `scripts/testenv.sh start` with
# .testenv/env.sh in place. CI=true is set, so a missing server fails the
# baseline run instead of skipping tests, and the script stops there.
#
# Each mutant is one or more literal (old → new) edits of one file; every old
# text must occur exactly once, or the script fails loudly: the code moved and
# the mutant must be updated, never silently dropped. A mutant that does not
# compile is an error too (a build failure kills nothing).
#
# Exit status: 0 all killed; 1 a mutant survived; 2 a mutant no longer applies,
# does not build, or the unmutated tests fail.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SCRIPT")/.." && pwd -P)
GO=${GO:-go}
export CI=true

NAMES=() FILES=() TESTS=() EDITS=()

# mutant NAME FILE TESTS OLD NEW [OLD NEW]...
# TESTS is a space-separated list of PKG or PKG=RUNREGEX.
mutant() {
	local name=$1 file=$2 tests=$3
	shift 3
	(($# > 0 && $# % 2 == 0)) || { echo "mutants.sh: mutant $name: edits must come in old/new pairs" >&2; exit 2; }
	NAMES+=("$name") FILES+=("$file") TESTS+=("$tests")
	local edits="" sep=$'\x1f'
	while (($#)); do
		edits+="$1$sep$2$sep"
		shift 2
	done
	EDITS+=("$edits")
}

# Never act on a partial read: the engine drops the source's error.
mutant engine-ignores-read-error sync/engine/engine.go \
	"./sync/engine ./connectors/entra=FaultAfter ./connectors/ldap=TestCutConnection ./cmd/dirsync=TestTruncatedLDAPRead" \
	'err = r.job.Source.Read(ctx, emit)' \
	'err = r.job.Source.Read(ctx, emit); err = nil' \
	'cur.next, err = inc.ReadChanges(ctx, cursor, emit)' \
	'cur.next, err = inc.ReadChanges(ctx, cursor, emit); if !errors.Is(err, connectors.ErrCursorExpired) { err = nil }'

# ... or reports the failed read and goes on to plan and apply what it read.
mutant engine-acts-on-failed-read sync/engine/engine.go "./sync/engine ./connectors/entra=FaultAfter" \
	$'nobody disabled): %w", b.Read(), err))\n\t\treturn nil, cur, false' \
	$'nobody disabled): %w", b.Read(), err))\n\t\treturn b, cur, true'

# Commit after apply: the cursor is committed before the plan is applied.
mutant engine-commits-cursor-before-apply sync/engine/engine.go "./sync/engine" \
	'done, err := r.apply(ctx, p.Ops)' \
	'if err := r.e.state.Commit(ctx, r.lease, state.Commit{Cursor: commit.next, ClearCursor: commit.clear}); err != nil { r.rep.fail(err); return }; done, err := r.apply(ctx, p.Ops)'

# One writer per connector: the stores accept a stale fencing token.
mutant store-skips-fence-check store/sqlstore/apply.go "./store/sqlite ./store/postgres ./sync/engine" \
	'if f != nil && found && uint64(seen) > f.Token {' \
	'if false && f != nil && found && uint64(seen) > f.Token {'

# A partial read counted as complete, inside a connector: an LDAP search whose
# connection drops ends as if its last page had come; a Graph page that fails
# ends the users/delta round as if it were the last.
mutant ldap-cut-search-counts-as-complete connectors/ldap/read.go \
	"./connectors/ldap=TestCutConnection ./cmd/dirsync=TestTruncatedLDAPRead" \
	$'\t\tif err := resp.Err(); err != nil {\n\t\t\treturn err\n\t\t}\n\t\tif err := ctx.Err()' \
	$'\t\tif err := resp.Err(); err != nil {\n\t\t\treturn nil\n\t\t}\n\t\tif err := ctx.Err()'
mutant entra-failed-page-counts-as-complete connectors/entra/users.go "./connectors/entra" \
	'return "", graphError("users/delta", pages, err)' \
	'return "partial", nil'

# Quarantine: a quarantined record must not disable or change anything but the
# one thing issue 10 lets it do (a known user's explicit source disable).
mutant quarantined-record-disables-without-saying-so sync/plan/builder.go "./sync/plan ./sync/engine" \
	'if !rec.Disabled || rec.Deleted ||' \
	'if rec.Deleted ||'
mutant quarantined-record-counts-as-missing sync/plan/builder.go "./sync/plan ./sync/engine" \
	'b.Plan.Quarantined = append(b.Plan.Quarantined, notes...)' \
	'b.Plan.Quarantined = append(b.Plan.Quarantined, notes...); delete(b.seen, rec.Anchor)'
mutant quarantined-record-fields-applied sync/plan/builder.go "./sync/plan ./sync/engine" \
	'Address: e.Address, disableOnly: true})' \
	'Address: e.Address})'

if [[ ${1:-} == -l ]]; then
	printf '%s\n' "${NAMES[@]}"
	exit 0
fi
CHECK_ONLY=false
if [[ ${1:-} == -n ]]; then
	CHECK_ONLY=true
	shift
fi
SELECTED=("$@")
selected() {
	((${#SELECTED[@]} == 0)) && return 0
	local s
	for s in "${SELECTED[@]}"; do [[ $s == "$1" ]] && return 0; done
	return 1
}
for s in "${SELECTED[@]}"; do
	printf '%s\n' "${NAMES[@]}" | grep -qxF -- "$s" || { echo "mutants.sh: no mutant named $s (see -l)" >&2; exit 2; }
done

if [[ -z ${DIRSYNC_TEST_REDIS_ADDR:-} && -f $ROOT/.testenv/env.sh ]]; then
	# shellcheck disable=SC1091
	. "$ROOT/.testenv/env.sh"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dirsync-mutants.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# One copy for every mutant: the same paths keep the build cache warm. Each
# mutated file is restored from its pristine copy before the next mutant.
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$WORK"
echo "mutants.sh: tree copied to $WORK" >&2

# The pristine copies of mutated files, in a folder go ./... skips.
BAK=$WORK/.pristine
restore() { cp "$BAK/$1" "$WORK/$1"; }

# apply FILE EDITS: every old text must occur exactly once.
apply() {
	local file=$1 edits=$2 old new
	mkdir -p "$(dirname "$BAK/$file")"
	[[ -e $BAK/$file ]] || cp "$WORK/$file" "$BAK/$file"
	local IFS=$'\x1f'
	# shellcheck disable=SC2206
	local parts=($edits)
	local i
	for ((i = 0; i < ${#parts[@]}; i += 2)); do
		old=${parts[i]} new=${parts[i + 1]}
		OLD=$old NEW=$new perl -e '
			my $f = shift; local $/; open(my $in, "<", $f) or die "$f: $!\n"; my $s = <$in>; close $in;
			my $n = () = $s =~ /\Q$ENV{OLD}\E/g;
			if ($n != 1) { print STDERR "found $n times (want 1): $ENV{OLD}\n"; exit 3 }
			$s =~ s/\Q$ENV{OLD}\E/$ENV{NEW}/;
			open(my $out, ">", $f) or die "$f: $!\n"; print $out $s; close $out or die "$f: $!\n";' "$WORK/$file" || return 1
	done
}

# runtests TESTS LOG: prints, per package, ok or the first failing test.
runtests() {
	local tests=$1 log=$2 t pkg run status=0 out first
	for t in $tests; do
		pkg=${t%%=*} run=""
		[[ $t == *=* ]] && run=${t#*=}
		if out=$(cd "$WORK" && $GO test -count=1 -timeout 20m ${run:+-run "$run"} "$pkg" 2>&1); then
			echo "  $pkg${run:+ (-run $run)}: ok"
		else
			status=1
			first=$(grep -m1 -oE -- '--- FAIL: [^ ]+' <<<"$out" | sed 's/--- FAIL: //' || true)
			[[ -n $first ]] || first="(no test named; see $log)"
			echo "  $pkg${run:+ (-run $run)}: FAIL $first"
		fi
		printf '### %s\n%s\n' "$t" "$out" >>"$log"
	done
	return $status
}

LOGS=${MUTANTS_LOGS:-$ROOT/bin/mutants}
mkdir -p "$LOGS"
killed=0 survived=0 broken=0
declare -a SUMMARY

# Every mutant must still apply before anything runs: a stale one fails at once.
for i in "${!NAMES[@]}"; do
	selected "${NAMES[i]}" || continue
	if ! apply "${FILES[i]}" "${EDITS[i]}"; then
		echo "mutants.sh: mutant ${NAMES[i]} no longer applies to ${FILES[i]}: update it in scripts/mutants.sh" >&2
		exit 2
	fi
	restore "${FILES[i]}"
done
if $CHECK_ONLY; then
	echo "mutants.sh: every mutant applies" >&2
	exit 0
fi

echo "== baseline: the unmutated tests must pass" >&2
base_tests=""
for i in "${!NAMES[@]}"; do
	selected "${NAMES[i]}" || continue
	for t in ${TESTS[i]}; do [[ " $base_tests " == *" $t "* ]] || base_tests+=" $t"; done
done
: >"$LOGS/baseline.log"
if ! runtests "$base_tests" "$LOGS/baseline.log" >&2; then
	echo "mutants.sh: the unmutated tests fail (see $LOGS/baseline.log): fix that, or start the test servers, first" >&2
	exit 2
fi

for i in "${!NAMES[@]}"; do
	name=${NAMES[i]} file=${FILES[i]}
	selected "$name" || continue
	echo "== $name ($file)" >&2
	log=$LOGS/$name.log
	: >"$log"
	if ! apply "$file" "${EDITS[i]}"; then
		echo "mutants.sh: mutant $name no longer applies to $file: update it in scripts/mutants.sh" >&2
		SUMMARY+=("BROKEN    $name: does not apply")
		broken=$((broken + 1))
		restore "$file"
		continue
	fi
	pkgs=$(for t in ${TESTS[i]}; do echo "${t%%=*}"; done | sort -u | tr '\n' ' ')
	# shellcheck disable=SC2086
	if ! (cd "$WORK" && $GO vet $pkgs) >>"$log" 2>&1; then
		echo "mutants.sh: mutant $name does not build or vet (see $log)" >&2
		SUMMARY+=("BROKEN    $name: does not build")
		broken=$((broken + 1))
		restore "$file"
		continue
	fi
	if res=$(runtests "${TESTS[i]}" "$log"); then
		SUMMARY+=("SURVIVED  $name")
		survived=$((survived + 1))
	else
		SUMMARY+=("KILLED    $name: $(grep FAIL <<<"$res" | sed 's/^  //; s/: FAIL / by /' | paste -sd ';' | sed 's/;/; /g')")
		killed=$((killed + 1))
	fi
	echo "$res" >&2
	restore "$file"
done

echo
printf '%s\n' "${SUMMARY[@]}"
echo "mutants: $killed killed, $survived survived, $broken broken (logs in $LOGS)"
((broken == 0)) || exit 2
((survived == 0)) || exit 1
