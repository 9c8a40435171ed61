package api

import "testing"

// TestRunProgressWords: the one wording of a running run's progress (CLI
// progress line, runs list, run page), including the changes applied while
// the source is still being read.
func TestRunProgressWords(t *testing.T) {
	for _, c := range []struct {
		p    RunProgress
		want string
	}{
		{RunProgress{Stage: StageRead, Read: 500}, "read 500 records"},
		{RunProgress{Stage: StageRead, Read: 1500, Applied: 1000}, "read 1500 records, applied 1000 changes"},
		{RunProgress{Stage: StagePlan, Read: 2000}, "read 2000 records, planning"},
		{RunProgress{Stage: StageApply, Applied: 3, Total: 7}, "applied 3/7 changes"},
		{RunProgress{Stage: StageCommit}, "committing state"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}
