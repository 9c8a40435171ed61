package connectortest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
)

// newDirectory is the fixture the suite's own tests read: six users, the
// first two in one group. With the flaw "member-spelling" the group names a
// member in another spelling than its record's Ref.
func newDirectory(flaw string) *Static {
	s := &Static{}
	var members []string
	for i := range 6 {
		ref := fmt.Sprintf("uid=u%d", i)
		s.Records = append(s.Records, connectors.Record{Kind: connectors.KindUser, Ref: ref, Anchor: fmt.Sprint(i),
			Mail: fmt.Sprintf("u%d@example.com", i)})
		if i < 2 {
			members = append(members, ref)
		}
	}
	if flaw == "member-spelling" {
		members[1] = "UID=U1"
	}
	s.Records = append(s.Records, connectors.Record{Kind: connectors.KindGroup, Ref: "cn=g", Anchor: "g", Mail: "g@example.com", Members: members})
	return s
}

// modify changes user anchor's display name in the directory; the next read
// of changes gives just that record.
func modify(s *Static, anchor string) string {
	i := slices.IndexFunc(s.Records, func(r connectors.Record) bool { return r.Anchor == anchor })
	s.Records[i].DisplayName = "changed"
	s.Changes = []connectors.Record{s.Records[i]}
	return anchor
}

// remove deletes user anchor from the directory; the next read of changes
// gives just its tombstone.
func remove(s *Static, anchor string) string {
	s.Records = slices.DeleteFunc(s.Records, func(r connectors.Record) bool { return r.Anchor == anchor })
	s.Changes = []connectors.Record{{Kind: connectors.KindUser, Anchor: anchor, Deleted: true}}
	return anchor
}

// flawed is the Static directory with one deliberate breakage of the
// connector contract, so the suite's own test can show each check catches it.
type flawed struct {
	IncrementalStatic
	flaw string
}

func (f flawed) Read(ctx context.Context, emit connectors.Emit) error {
	_, err := f.ReadChanges(ctx, nil, emit)
	return err
}

func (f flawed) ReadChanges(ctx context.Context, cursor []byte, emit connectors.Emit) ([]byte, error) {
	switch f.flaw {
	case "emits-after-cancel", "cancel-ignored":
		// A context dead before the read is refused; one cancelled during it
		// is not: the read goes on emitting.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := f.IncrementalStatic.ReadChanges(context.WithoutCancel(ctx), cursor, emit)
		if err == nil && ctx.Err() != nil && f.flaw == "emits-after-cancel" {
			return nil, ctx.Err()
		}
		return next, err
	case "cursor-after-cancel":
		next, err := f.IncrementalStatic.ReadChanges(ctx, cursor, emit)
		if errors.Is(err, context.Canceled) {
			return slices.Clone(firstCursor), err
		}
		return next, err
	case "garbage-cursor-accepted":
		if cursor != nil && !validCursor(cursor) {
			cursor = firstCursor
		}
	case "no-tombstones":
		return f.IncrementalStatic.ReadChanges(ctx, cursor, func(r connectors.Record) error {
			if r.Deleted {
				return nil
			}
			return emit(r)
		})
	case "foreign-tombstones":
		next, err := f.IncrementalStatic.ReadChanges(ctx, cursor, emit)
		if err == nil && cursor != nil {
			err = emit(connectors.Record{Anchor: "outside-the-scope", Deleted: true})
		}
		if err != nil {
			return nil, err
		}
		return next, nil
	}
	return f.IncrementalStatic.ReadChanges(ctx, cursor, emit)
}

// runMem runs both suites against the Static directory, broken by flaw
// unless flaw is empty (or only spoils the fixture's data).
func runMem(t *testing.T, flaw string) {
	dir := newDirectory(flaw)
	var src connectors.Source = IncrementalStatic{dir}
	if flaw != "" && flaw != "member-spelling" {
		src = flawed{IncrementalStatic{dir}, flaw}
	}
	open := func(*testing.T) connectors.Source { return src }
	RunTests(t, open, Expect{Users: 6, Groups: 1})
	// RunTests leaves the directory as it found it; the incremental suite changes it.
	RunIncrementalTests(t, open, Expect{Users: 6, Groups: 1}, Changes{
		Modify: func(*testing.T, []connectors.Record) string { return modify(dir, "4") },
		Delete: func(*testing.T, []connectors.Record) string { return remove(dir, "5") },
	})
}

// TestSuitePassesACorrectSource: the suites ask nothing a correct source cannot give.
func TestSuitePassesACorrectSource(t *testing.T) { runMem(t, "") }

// TestSuiteToleratesForeignTombstones: a tombstone for an anchor the source
// never emitted (syncrepl reports deletions outside its base) changes nothing
// in the engine, so the suite does not count it as a change.
func TestSuiteToleratesForeignTombstones(t *testing.T) { runMem(t, "foreign-tombstones") }

// TestSuiteCatchesEachFlaw runs the suites against a source with one flaw each,
// in a child test process (a failing suite must fail that process, not this
// one), and checks the failure names the check that caught it.
func TestSuiteCatchesEachFlaw(t *testing.T) {
	if os.Getenv("CONNECTORTEST_FLAW") != "" {
		return // the child process: TestFlawedSource does the work
	}
	for _, tc := range []struct{ flaw, caughtBy string }{
		{"member-spelling", "GroupMembersNameRecordRefs"},
		{"emits-after-cancel", "CancelInsideEmitStopsTheRead"},
		{"cancel-ignored", "CancelInsideEmitStopsTheRead"},
		{"cursor-after-cancel", "CancelInsideEmitGivesNoCursor"},
		{"garbage-cursor-accepted", "GarbageCursorIsRefused"},
		{"no-tombstones", "DeletionGivesATombstone"},
	} {
		t.Run(tc.flaw, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawedSource$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CONNECTORTEST_FLAW="+tc.flaw)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the suite passed a source with the flaw %s:\n%s", tc.flaw, out)
			require.Contains(t, string(out), "--- FAIL: TestFlawedSource/"+tc.caughtBy, "%s", out)
		})
	}
}

// TestFlawedSource is TestSuiteCatchesEachFlaw's child process.
func TestFlawedSource(t *testing.T) {
	flaw := os.Getenv("CONNECTORTEST_FLAW")
	if flaw == "" {
		return // only as TestSuiteCatchesEachFlaw's child
	}
	runMem(t, flaw)
}
