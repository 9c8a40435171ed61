package connectortest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
)

// Changes edits the directory behind an incremental source between two reads.
// Each function receives what the first read (nil cursor) emitted, so it can
// pick its object by Mail or Ref, and returns the Anchor of the user it changed.
type Changes struct {
	// Modify changes an attribute of one user, who stays in scope. The user
	// should belong to no group, so that nothing else changes with it.
	Modify func(t *testing.T, full []connectors.Record) (anchor string)
	// Delete deletes one user (another than Modify's, in no group). Nil for a
	// source that cannot see deletions between full reads (LDAP timestamp
	// mode); the deletion check is then left out.
	Delete func(t *testing.T, full []connectors.Record) (anchor string)
}

// RunIncrementalTests runs the suite of connectors.Incremental on the Source
// open returns, which must implement it. The fixture holds want.Users users and
// want.Groups groups at the start; the subtests run in order and share one
// cursor, as the engine's runs do, and ch edits the fixture between them.
func RunIncrementalTests(t *testing.T, open func(t *testing.T) connectors.Source, want Expect, ch Changes) {
	src, ok := open(t).(connectors.Incremental)
	require.True(t, ok, "the source does not implement connectors.Incremental")
	var full []connectors.Record
	var cursor []byte
	// known holds the anchors the source has emitted. A tombstone for any other
	// is dropped before the checks: the engine ignores it (no snapshot entry),
	// and OpenLDAP's syncrepl session log reports deletions outside the search
	// base, such as other tests' scratch entries on the shared server.
	known := map[string]bool{}
	changes := func(t *testing.T) []connectors.Record {
		var recs []connectors.Record
		recs, cursor = readChanges(t, src, cursor)
		var out []connectors.Record
		for _, r := range recs {
			if r.Deleted && !known[r.Anchor] {
				continue
			}
			out = append(out, r)
		}
		if len(out) < len(recs) {
			t.Logf("%d tombstones of anchors the source never emitted ignored", len(recs)-len(out))
		}
		return out
	}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"NilCursorReadsEverything", func(t *testing.T) {
			full, cursor = readChanges(t, src, nil)
			for _, r := range full {
				known[r.Anchor] = true
			}
			users, groups := 0, 0
			for _, r := range full {
				require.False(t, r.Deleted, "a read from a nil cursor is a full read: no tombstones (%s)", r.Ref)
				switch r.Kind {
				case connectors.KindUser:
					users++
				case connectors.KindGroup:
					groups++
				}
			}
			require.Equal(t, want.Users, users)
			require.Equal(t, want.Groups, groups)
		}},
		{"UnchangedGivesNothing", func(t *testing.T) {
			require.Empty(t, refsOf(changes(t)), "nothing changed, nothing read")
		}},
		{"ChangeGivesJustThatChange", func(t *testing.T) {
			anchor := ch.Modify(t, full)
			recs := changes(t)
			require.Len(t, recs, 1, "exactly the changed user: %v", refsOf(recs))
			require.Equal(t, anchor, recs[0].Anchor)
			require.False(t, recs[0].Deleted)
			require.Equal(t, connectors.KindUser, recs[0].Kind)
		}},
		{"DeletionGivesATombstone", func(t *testing.T) {
			if ch.Delete == nil {
				t.Log("this source reports no deletions between full reads; the next full read finds them")
				return
			}
			anchor := ch.Delete(t, full)
			recs := changes(t)
			require.Len(t, recs, 1, "exactly the deleted user's tombstone: %v", refsOf(recs))
			require.True(t, recs[0].Deleted, "a deletion is a tombstone, not a record to sync")
			require.Equal(t, anchor, recs[0].Anchor)
		}},
		{"GarbageCursorIsRefused", func(t *testing.T) {
			for _, bad := range []string{"not a cursor", "{}", `{"cookie":"AAAA"}`} {
				emitted := 0
				next, err := src.ReadChanges(context.Background(), []byte(bad), func(connectors.Record) error { emitted++; return nil })
				// ErrCursorExpired makes the engine fall back to a full read; any
				// other error fails the run. A nil error would continue from a
				// cursor the source never gave out.
				require.Error(t, err, "cursor %q", bad)
				require.Nil(t, next, "cursor %q: a refused cursor gives no new one", bad)
				if !errors.Is(err, connectors.ErrCursorExpired) {
					require.Zero(t, emitted, "cursor %q refused with %v after emitting records", bad, err)
				}
				t.Logf("cursor %q: %v", bad, err)
			}
		}},
		{"EmitErrorStopsReadChanges", func(t *testing.T) {
			stop := errors.New("stop here")
			n := 0
			next, err := src.ReadChanges(context.Background(), nil, func(connectors.Record) error { n++; return stop })
			require.ErrorIs(t, err, stop)
			require.Equal(t, 1, n)
			require.Nil(t, next, "a read cut short gives no cursor")
		}},
		{"CancelInsideEmitGivesNoCursor", func(t *testing.T) {
			users := want.Users
			if ch.Delete != nil {
				users-- // deleted above
			}
			var next []byte
			cancelReadMidway(t, Expect{Users: users, Groups: want.Groups}, func(ctx context.Context, emit connectors.Emit) error {
				var err error
				next, err = src.ReadChanges(ctx, nil, emit)
				return err
			})
			require.Nil(t, next, "a cancelled read gives no cursor: resuming from it would skip what was not read")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			// The later steps build on this one's cursor and fixture.
			return
		}
	}
}

// readChanges reads from cursor and returns what was emitted and the next cursor.
func readChanges(t *testing.T, src connectors.Incremental, cursor []byte) ([]connectors.Record, []byte) {
	t.Helper()
	var out []connectors.Record
	next, err := src.ReadChanges(context.Background(), cursor, func(r connectors.Record) error {
		out = append(out, r)
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, next, "a complete read returns the cursor to continue from")
	return out, next
}

func refsOf(recs []connectors.Record) []string {
	var out []string
	for _, r := range recs {
		ref := r.Ref
		if r.Deleted {
			ref = "deleted:" + r.Anchor
		}
		out = append(out, ref)
	}
	return out
}
