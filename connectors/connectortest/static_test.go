package connectortest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
)

// TestStaticPassesTheSuite: the shared test source keeps the connector
// contract without the incremental capability too (runMem checks it with).
func TestStaticPassesTheSuite(t *testing.T) {
	RunTests(t, func(*testing.T) connectors.Source { return newDirectory("") }, Expect{Users: 6, Groups: 1})
	_, incremental := connectors.Source(&Static{}).(connectors.Incremental)
	require.False(t, incremental, "a plain Static has no incremental capability")
}

func collect(recs *[]string) connectors.Emit {
	return func(r connectors.Record) error {
		ref := r.Ref
		if r.Deleted {
			ref = "deleted:" + r.Anchor
		}
		*recs = append(*recs, ref)
		return nil
	}
}

func TestStaticFailsAfterItsRecords(t *testing.T) {
	lost := errors.New("connection reset")
	s := &Static{Records: []connectors.Record{{Ref: "uid=a"}, {Ref: "uid=b"}}, Err: lost}
	var got []string
	require.ErrorIs(t, s.Read(context.Background(), collect(&got)), lost)
	require.Equal(t, []string{"uid=a", "uid=b"}, got)

	got = nil
	next, err := IncrementalStatic{s}.ReadChanges(context.Background(), nil, collect(&got))
	require.ErrorIs(t, err, lost)
	require.Nil(t, next, "a failed full read gives no cursor")
	require.Equal(t, []string{"uid=a", "uid=b"}, got)
}

// TestIncrementalStaticScript: cursors count the reads of Changes, every read
// from a cursor emits the script, and Expired and ChangesErr break it.
func TestIncrementalStaticScript(t *testing.T) {
	ctx := context.Background()
	s := &Static{Records: []connectors.Record{{Ref: "uid=a"}}}
	src := IncrementalStatic{s}
	var got []string
	next, err := src.ReadChanges(ctx, nil, collect(&got))
	require.NoError(t, err)
	require.Equal(t, "c1", string(next))
	require.Equal(t, []string{"uid=a"}, got)

	s.Changes = []connectors.Record{{Ref: "uid=b"}, {Anchor: "a", Deleted: true}}
	for _, want := range []string{"c1+", "c1++"} {
		got = nil
		next, err = src.ReadChanges(ctx, next, collect(&got))
		require.NoError(t, err)
		require.Equal(t, want, string(next))
		require.Equal(t, []string{"uid=b", "deleted:a"}, got)
	}

	s.ChangesErr = errors.New("connection reset after the changes")
	got = nil
	failed, err := src.ReadChanges(ctx, next, collect(&got))
	require.ErrorIs(t, err, s.ChangesErr)
	require.Nil(t, failed)
	require.Equal(t, []string{"uid=b", "deleted:a"}, got, "the changes came before the error")

	s.ChangesErr, s.Expired = nil, true
	got = nil
	_, err = src.ReadChanges(ctx, next, collect(&got))
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
	require.Empty(t, got)
}

// TestStaticGateHoldsTheRead: Reading closes as the read begins, the read
// waits for Gate, and gives up with its context.
func TestStaticGateHoldsTheRead(t *testing.T) {
	s := &Static{Records: []connectors.Record{{Ref: "uid=a"}}, Gate: make(chan struct{}), Reading: make(chan struct{})}
	var got []string
	done := make(chan error, 1)
	go func() { done <- s.Read(context.Background(), collect(&got)) }()
	<-s.Reading
	select {
	case err := <-done:
		t.Fatalf("the read ended (%v) before the gate opened", err)
	default:
	}
	close(s.Gate)
	require.NoError(t, <-done)
	require.Equal(t, []string{"uid=a"}, got)
	got = nil
	require.NoError(t, s.Read(context.Background(), collect(&got)), "an open gate holds no later read (and Reading is closed once)")
	require.Equal(t, []string{"uid=a"}, got)

	held := &Static{Records: []connectors.Record{{Ref: "uid=a"}}, Gate: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got = nil
	require.ErrorIs(t, held.Read(ctx, collect(&got)), context.Canceled)
	require.Empty(t, got)
}
