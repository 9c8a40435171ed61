package connectortest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
)

// memSource is an in-memory incremental directory. flaw names one deliberate
// breakage of the connector contract, so the suite's own test can show each
// check catches it.
type memSource struct {
	mu      sync.Mutex
	flaw    string
	seq     int
	objects map[string]connectors.Record // by anchor
	changed map[string]int               // anchor -> seq of its last change
	deleted map[string]int
}

func newMem(flaw string) *memSource {
	s := &memSource{flaw: flaw, objects: map[string]connectors.Record{}, changed: map[string]int{}, deleted: map[string]int{}}
	var members []string
	for i := range 6 {
		ref := fmt.Sprintf("uid=u%d", i)
		s.objects[fmt.Sprint(i)] = connectors.Record{Kind: connectors.KindUser, Ref: ref, Anchor: fmt.Sprint(i),
			Mail: fmt.Sprintf("u%d@example.com", i)}
		if i < 2 {
			members = append(members, ref)
		}
	}
	if flaw == "member-spelling" {
		members[1] = "UID=U1"
	}
	s.objects["g"] = connectors.Record{Kind: connectors.KindGroup, Ref: "cn=g", Anchor: "g", Mail: "g@example.com", Members: members}
	return s
}

type memCursor struct {
	V   int `json:"v"`
	Seq int `json:"seq"`
}

func (s *memSource) Read(ctx context.Context, emit connectors.Emit) error {
	_, err := s.ReadChanges(ctx, nil, emit)
	return err
}

func (s *memSource) Close() error { return nil }

func (s *memSource) ReadChanges(ctx context.Context, raw []byte, emit connectors.Emit) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	since := -1
	if raw != nil {
		var c memCursor
		if err := json.Unmarshal(raw, &c); (err != nil || c.V != 1) && s.flaw != "garbage-cursor-accepted" {
			return nil, fmt.Errorf("%w: not a cursor of this source", connectors.ErrCursorExpired)
		}
		since = c.Seq
	}
	s.mu.Lock()
	var out []connectors.Record
	for _, a := range slices.Sorted(func(yield func(string) bool) {
		for a := range s.objects {
			if !yield(a) {
				return
			}
		}
	}) {
		if since < 0 || s.changed[a] > since {
			out = append(out, s.objects[a])
		}
	}
	if s.flaw != "no-tombstones" {
		for a, at := range s.deleted {
			if since >= 0 && at > since {
				out = append(out, connectors.Record{Kind: connectors.KindUser, Anchor: a, Deleted: true})
			}
		}
	}
	if s.flaw == "foreign-tombstones" && since >= 0 {
		out = append(out, connectors.Record{Anchor: "outside-the-scope", Deleted: true})
	}
	seq := s.seq
	s.mu.Unlock()
	for _, r := range out {
		if ctx.Err() != nil {
			if s.flaw == "cursor-after-cancel" {
				break
			}
			if s.flaw != "emits-after-cancel" && s.flaw != "cancel-ignored" {
				return nil, ctx.Err()
			}
		}
		if err := emit(r); err != nil {
			return nil, err
		}
	}
	next, _ := json.Marshal(memCursor{V: 1, Seq: seq})
	switch {
	case s.flaw == "cursor-after-cancel" && ctx.Err() != nil:
		return next, ctx.Err()
	case s.flaw == "emits-after-cancel" && ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return next, nil
}

func (s *memSource) modify(anchor string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	r := s.objects[anchor]
	r.DisplayName = "changed"
	s.objects[anchor], s.changed[anchor] = r, s.seq
	return anchor
}

func (s *memSource) remove(anchor string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	delete(s.objects, anchor)
	delete(s.changed, anchor)
	s.deleted[anchor] = s.seq
	return anchor
}

// runMem runs both suites against a memSource with the flaw.
func runMem(t *testing.T, flaw string) {
	src := newMem(flaw)
	open := func(*testing.T) connectors.Source { return src }
	RunTests(t, open, Expect{Users: 6, Groups: 1})
	// RunTests leaves the directory as it found it; the incremental suite changes it.
	RunIncrementalTests(t, open, Expect{Users: 6, Groups: 1}, Changes{
		Modify: func(*testing.T, []connectors.Record) string { return src.modify("4") },
		Delete: func(*testing.T, []connectors.Record) string { return src.remove("5") },
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
