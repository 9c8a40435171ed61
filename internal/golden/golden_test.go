package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a T that records instead of stopping the test.
type recorder struct {
	errors, fatals, logs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(f string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(f, args...))
}
func (r *recorder) Fatalf(f string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(f, args...))
}
func (r *recorder) Logf(f string, args ...any) { r.logs = append(r.logs, fmt.Sprintf(f, args...)) }
func (r *recorder) failed() bool               { return len(r.errors)+len(r.fatals) > 0 }
func (r *recorder) messages() []string         { return append(append([]string{}, r.fatals...), r.errors...) }

func TestUpdateIsRefusedUnderCI(t *testing.T) {
	var r recorder
	require.False(t, updating(&r, true, true), "nothing is rewritten in CI")
	require.Len(t, r.fatals, 1)
	require.Contains(t, r.fatals[0], "never runs in CI")

	r = recorder{}
	require.True(t, updating(&r, true, false))
	require.False(t, updating(&r, false, true))
	require.False(t, r.failed())
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name      string
		update    bool
		onDisk    string // "" = no file
		want, got string
		failed    bool
		message   string
		after     string // the file afterwards
	}{
		{name: "equal", onDisk: "in|out", want: "out", got: "out", after: "in|out"},
		{name: "differs", onDisk: "in|old", want: "old", got: "new", failed: true, message: "rerun with -update", after: "in|old"},
		{name: "rewrite ends red", update: true, onDisk: "in|old", want: "old", got: "new", failed: true,
			message: "review the diff", after: "in|new"},
		{name: "new file ends red", update: true, want: "", got: "new", failed: true, message: "review the diff", after: "in|new"},
		{name: "update without change passes", update: true, onDisk: "in|new", want: "new", got: "new", after: "in|new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "testdata", "x.golden")
			if tc.onDisk != "" {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(tc.onDisk), 0o644))
			}
			var r recorder
			compare(&r, tc.update, path, []byte(tc.want), []byte(tc.got), []byte("in|"+tc.got))
			require.Equal(t, tc.failed, r.failed(), "errors %q, logs %q", r.messages(), r.logs)
			if tc.failed {
				require.Contains(t, r.messages()[0], tc.message)
				require.Contains(t, r.messages()[0], path)
			}
			after, _ := os.ReadFile(path)
			require.Equal(t, tc.after, string(after))
		})
	}
}

func TestFileCreatesItsFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "sub", "x.json")
	var r recorder
	want, _ := os.ReadFile(path)
	compare(&r, true, path, want, []byte("{}\n"), []byte("{}\n"))
	require.Len(t, r.errors, 1)
	require.Contains(t, r.errors[0], "review the diff")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "{}\n", string(got))
}
