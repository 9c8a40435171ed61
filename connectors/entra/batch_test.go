package entra_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/internal/fakegraph"
)

// changedTenant is a tenant of 120 users read once, then 100 of them changed:
// the next delta round re-reads those 100. It returns the cursor of the read.
func changedTenant(t *testing.T) (*tenant, []byte) {
	t.Helper()
	tn := newTenant(t, func(c *entra.Config) { c.PageSize, c.MaxRetries, c.MaxRetryWait = 999, 2, 10*time.Second })
	for i := range 120 {
		tn.srv.PutUser(benchUser(i))
	}
	got, cursor := read(t, tn.open(), nil)
	require.Len(t, got, 120)
	for i := range 100 {
		u := benchUser(i)
		u.Department = "Changed"
		tn.srv.PutUser(u)
	}
	tn.srv.ResetRequestCounts()
	return tn, cursor
}

// readChanges runs one delta round from cursor, batched or singly (as before
// batching), and returns what it emitted by anchor.
func readChanges(t *testing.T, tn *tenant, cursor []byte, singly bool) (map[string]connectors.Record, error) {
	t.Helper()
	src := tn.open()
	if singly {
		entra.RereadSingly(src)
	}
	got := map[string]connectors.Record{}
	_, err := src.(connectors.Incremental).ReadChanges(context.Background(), cursor, func(r connectors.Record) error {
		_, dup := got[r.Anchor]
		require.False(t, dup, "anchor %s emitted twice", r.Anchor)
		got[r.Anchor] = r
		return nil
	})
	return got, err
}

func TestDeltaRereadsChangedUsersInBatches(t *testing.T) {
	tn, cursor := changedTenant(t)
	batched, err := readChanges(t, tn, cursor, false)
	require.NoError(t, err)
	require.Len(t, batched, 100)
	require.Equal(t, "Changed", batched[id(42)].Department)
	require.LessOrEqual(t, tn.srv.Requests("/v1.0/"), 25, "100 changed users in at most 25 Graph requests")
	require.Equal(t, 5, tn.srv.Requests("/v1.0/$batch"), "20 users to a batch")
	require.Equal(t, 100, tn.srv.BatchItems("/v1.0/users/"), "each changed user read once")
	for i := range 100 {
		require.Zero(t, tn.srv.Requests("/v1.0/users/"+id(i)), "no user is read alone")
	}
	// The same round read one user at a time emits the same records.
	batchRequests := tn.srv.Requests("/v1.0/")
	tn.srv.ResetRequestCounts()
	singly, err := readChanges(t, tn, cursor, true)
	require.NoError(t, err)
	require.Equal(t, singly, batched)
	t.Logf("Graph requests for 100 changed users: %d one at a time, %d batched", tn.srv.Requests("/v1.0/"), batchRequests)
	require.Greater(t, tn.srv.Requests("/v1.0/"), 100)
}

func TestBatchedRereadRetriesOnlyThrottledUsers(t *testing.T) {
	tn, cursor := changedTenant(t)
	throttled := []int{3, 27, 88}
	for _, i := range throttled {
		tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/" + id(i), Status: 429, RetryAfter: time.Second, InBatch: true})
	}
	start := time.Now()
	got, err := readChanges(t, tn, cursor, false)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After: 1 was honoured")
	require.Len(t, got, 100, "the throttled users are read too")
	for i := range 100 {
		want := 1
		if i == 3 || i == 27 || i == 88 {
			want = 2
		}
		require.Equal(t, want, tn.srv.BatchItems("/v1.0/users/"+id(i)), "user %d", i)
	}
	require.Equal(t, 6, tn.srv.Requests("/v1.0/$batch"), "5 batches, then one of the 3 throttled users")
}

// A failed request inside a batch ends as the same request alone would: a 404
// user is skipped (the next round reports its removal), a 503 that clears is
// retried, a 500, a 403 and throttling past max_retries fail the read with
// the same error.
func TestBatchedRereadFailuresMatchSingleReads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  fakegraph.Fault
		ok     bool
		answer string
	}{
		{name: "404", fault: fakegraph.Fault{Status: 404}, ok: true},
		{name: "503 once", fault: fakegraph.Fault{Status: 503, RetryAfter: time.Second}, ok: true},
		{name: "500", fault: fakegraph.Fault{Status: 500}, answer: "answered 500 InternalServerError"},
		{name: "403", fault: fakegraph.Fault{Status: 403}, answer: "answered 403 Authorization_RequestDenied"},
		{name: "429 always", fault: fakegraph.Fault{Status: 429, RetryAfter: time.Second, Count: -1}, answer: "answered 429 TooManyRequests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn, cursor := changedTenant(t)
			results := map[bool]map[string]connectors.Record{}
			errs := map[bool]error{}
			for _, singly := range []bool{true, false} {
				tn.srv.ClearFaults()
				f := tc.fault
				f.Path, f.InBatch = "/v1.0/users/"+id(7), !singly
				tn.srv.InjectFault(f)
				results[singly], errs[singly] = readChanges(t, tn, cursor, singly)
			}
			if tc.ok {
				require.NoError(t, errs[true])
				require.NoError(t, errs[false])
				require.Equal(t, results[true], results[false])
				_, read := results[false][id(7)]
				require.Equal(t, tc.fault.Status != 404, read)
				return
			}
			require.Error(t, errs[false])
			require.Equal(t, errs[true].Error(), errs[false].Error())
			require.ErrorContains(t, errs[false], fmt.Sprintf("graph users/%s %s", id(7), tc.answer))
			require.NotErrorIs(t, errs[false], connectors.ErrCursorExpired)
		})
	}
}
