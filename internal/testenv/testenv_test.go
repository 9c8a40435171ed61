package testenv_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/testenv"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of stopping
// the test, so Addr's three outcomes can be checked from one test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestAddr(t *testing.T) {
	const name = "DIRSYNC_TEST_ADDR_SELFTEST"
	tests := []struct {
		name, value, ci       string
		want, skipped, failed string
	}{
		{name: "set", value: "127.0.0.1:1", want: "127.0.0.1:1"},
		{name: "set under CI", value: "127.0.0.1:1", ci: "true", want: "127.0.0.1:1"},
		{name: "unset skips", skipped: name + " is not set: run the tests through `make test`"},
		{name: "unset fails under CI", ci: "true", failed: name + " is not set: run the tests through `make test`"},
		{name: "CI other than true skips", ci: "1", skipped: name + " is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(name, tt.value)
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			got := testenv.Addr(r, name)
			if got != tt.want {
				t.Errorf("Addr = %q, want %q", got, tt.want)
			}
			check(t, "Skipf", r.skipped, tt.skipped)
			check(t, "Fatalf", r.failed, tt.failed)
		})
	}
}

// check reports got unless it starts with want; an empty want means no call.
func check(t *testing.T, call, got, want string) {
	t.Helper()
	switch {
	case want == "" && got != "":
		t.Errorf("unexpected %s(%q)", call, got)
	case want != "" && !strings.HasPrefix(got, want):
		t.Errorf("%s message = %q, want it to start with %q", call, got, want)
	}
}
