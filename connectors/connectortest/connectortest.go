// Package connectortest is the behaviour suite every connector passes: the engine's
// safety depends on these properties, whatever the source.
package connectortest

import (
	"context"
	"errors"
	"slices"
	"testing"

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
		known := 0
		for _, r := range recs {
			for _, m := range r.Members {
				if refs[m] {
					known++
				}
			}
		}
		if want.Groups > 0 {
			require.Positive(t, known, "group members must use the same Ref spelling as the member records")
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
	t.Run("CloseIsSafe", func(t *testing.T) {
		src := open(t)
		readAll(t, src)
		require.NoError(t, src.Close())
	})
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
