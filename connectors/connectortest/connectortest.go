// Package connectortest is the behaviour suite every connector passes: the engine's
// safety depends on these properties, whatever the source. It also holds Static,
// the in-memory source the tests of the engine, the runner, the API and the CLI
// read, which passes the same suite.
package connectortest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
)

// Expect describes the fixture directory the Source under test reads.
type Expect struct {
	Users  int // user records, quarantine candidates included
	Groups int
}

// RunTests runs the suite. open returns a Source over a fixture directory holding
// exactly want.Users users and want.Groups groups; it is called once per subtest.
func RunTests(t *testing.T, open func(t *testing.T) connectors.Source, want Expect) {
	t.Run("ReadsEveryObjectOnce", func(t *testing.T) {
		recs := readAll(t, open(t))
		users, groups := 0, 0
		anchors := map[string]bool{}
		for _, r := range recs {
			require.NotEmpty(t, r.Ref, "every record needs a Ref to be named in messages")
			switch r.Kind {
			case connectors.KindUser:
				users++
			case connectors.KindGroup:
				groups++
			default:
				t.Fatalf("record %s has kind %q", r.Ref, r.Kind)
			}
			if r.Anchor != "" {
				require.False(t, anchors[r.Anchor], "anchor %s emitted twice", r.Anchor)
				anchors[r.Anchor] = true
			}
			require.False(t, r.Deleted, "a full read emits no tombstones")
		}
		require.Equal(t, want.Users, users)
		require.Equal(t, want.Groups, groups)
	})
	t.Run("ReadsAreRepeatable", func(t *testing.T) {
		src := open(t)
		first, second := readAll(t, src), readAll(t, src)
		require.Equal(t, anchorsOf(first), anchorsOf(second), "two reads of an unchanged source must give the same anchors")
	})
	t.Run("GroupMembersNameRecordRefs", func(t *testing.T) {
		recs := readAll(t, open(t))
		refs := map[string]bool{}
		for _, r := range recs {
			refs[r.Ref] = true
		}
		members := 0
		for _, r := range recs {
			for _, m := range r.Members {
				members++
				// A member the read does not know is dropped by the engine: a
				// spelling mismatch would empty every group without an error.
				require.True(t, refs[m], "group %s: member %q is no record of the read (members must use the Refs records carry)", r.Ref, m)
			}
		}
		if want.Groups > 0 {
			require.Positive(t, members, "the fixture's groups must have members for this check to mean anything")
		}
	})
	t.Run("EmitErrorStopsTheRead", func(t *testing.T) {
		stop := errors.New("stop here")
		n := 0
		err := open(t).Read(context.Background(), func(connectors.Record) error { n++; return stop })
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, n)
	})
	t.Run("CancelledReadIsNotComplete", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := open(t).Read(ctx, func(connectors.Record) error { return nil })
		require.Error(t, err, "a read cut short must never look like a complete one")
	})
	t.Run("CancelInsideEmitStopsTheRead", func(t *testing.T) {
		src := open(t)
		cancelReadMidway(t, want, func(ctx context.Context, emit connectors.Emit) error { return src.Read(ctx, emit) })
	})
	t.Run("CloseIsSafe", func(t *testing.T) {
		src := open(t)
		readAll(t, src)
		require.NoError(t, src.Close())
	})
}

// cancelWait bounds how long a read may go on after its context is cancelled;
// generous, so a loaded CI machine never trips it, yet far below a whole read
// of a large fixture on a stuck connection.
const cancelWait = 30 * time.Second

// cancelReadMidway runs read with a context cancelled from inside emit after
// about half the fixture's records, so the source is mid-stream (pages in
// flight, connections open) rather than refusing a dead context up front. The
// read must end with the cancellation as its error, soon, and emit nothing
// once it was cancelled: such records belong to a read the engine gave up.
func cancelReadMidway(t *testing.T, want Expect, read func(context.Context, connectors.Emit) error) {
	t.Helper()
	total := want.Users + want.Groups
	require.Greater(t, total, 1, "the fixture needs two records to cancel between them")
	at := total / 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen, after int
	done := make(chan error, 1)
	go func() {
		done <- read(ctx, func(connectors.Record) error {
			seen++
			switch {
			case seen == at:
				cancel()
			case seen > at:
				after++
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		require.Error(t, err, "a read cancelled after %d of %d records must never look complete", at, total)
		require.ErrorIs(t, err, context.Canceled, "the error says the read was cancelled")
	case <-time.After(cancelWait):
		t.Fatalf("the read went on for %s after it was cancelled", cancelWait)
	}
	require.Zero(t, after, "records emitted after the cancel (at record %d of %d)", at, total)
}

func readAll(t *testing.T, src connectors.Source) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	require.NoError(t, src.Read(context.Background(), func(r connectors.Record) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func anchorsOf(recs []connectors.Record) []string {
	var a []string
	for _, r := range recs {
		a = append(a, r.Anchor+"|"+r.Ref)
	}
	slices.Sort(a)
	return a
}
