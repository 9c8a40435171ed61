// Package golden is the one harness for golden files: a test compares what it
// produced with a file under testdata, and `go test -update` rewrites the file.
//
// A refresh is a decision a person reviews, so it never passes quietly: a run
// with -update that changed a file ends red and asks for a look at `git diff`,
// and under CI=true -update is refused outright (CI only ever compares).
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"

	"github.com/stretchr/testify/assert"
)

// update is registered on the test binary's flag set by every test package that
// imports this one (only tests do).
var update = flag.Bool("update", false, "rewrite golden files from what the tests produce (never under CI=true); review git diff afterwards")

// T is the part of testing.TB the harness uses; tests of this package fake it.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Updating reports whether this run rewrites golden files. Under CI=true, -update
// fails the test before anything is written.
func Updating(t T) bool {
	t.Helper()
	return updating(t, *update, os.Getenv("CI") == "true")
}

func updating(t T, update, ci bool) bool {
	t.Helper()
	if update && ci {
		t.Fatalf("-update rewrites golden files and never runs in CI (CI=true): refresh them locally, review git diff, commit them")
		return false
	}
	return update
}

// File compares got with the whole content of the golden file at path; with
// -update it writes got there instead (creating the folder), and fails when
// that changed the file.
func File(t T, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("golden file %s: %v", path, err)
		return
	}
	Compare(t, path, want, got, got)
}

// Compare checks got against want, the expected part of the golden file at
// path. With -update it instead writes content (the whole file: inputs and all,
// for files that hold more than the expected output) to path and, when that
// changed the file, fails the test asking for the diff to be reviewed.
func Compare(t T, path string, want, got, content []byte) {
	t.Helper()
	compare(t, Updating(t), path, want, got, content)
}

func compare(t T, update bool, path string, want, got, content []byte) {
	t.Helper()
	if !update {
		// assert prints a diff; T has the Errorf it needs.
		assert.Equal(t, string(want), string(got),
			"%s differs from what the test produced (rerun with -update if the change is intended, then review git diff)", path)
		return
	}
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("golden file %s: %v", path, err)
		return
	}
	if err == nil && bytes.Equal(old, content) {
		t.Logf("golden file %s is up to date", path)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("golden file %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatalf("golden file %s: %v", path, err)
		return
	}
	t.Errorf("golden file %s rewritten by -update: review the diff (git diff -- %s), then rerun without -update", path, path)
}
