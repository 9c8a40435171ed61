package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

func testUsers(t *testing.T, e *env) {
	const n = 250
	changes := make([]store.Change, 0, n+1)
	for i := range n {
		fields := []store.FieldChange{set(store.FieldDisplayName, fmt.Sprintf("User %03d", i))}
		switch i {
		case 7:
			fields = append(fields, set(store.FieldAliases, []string{"special-alias@example.net"}))
		case 42:
			fields = []store.FieldChange{set(store.FieldDisplayName, "Zelda Quux")}
		}
		ch := create(fmt.Sprintf("u%03d@example.com", i), fmt.Sprintf("U-%03d", i), fields...)
		if i%10 == 0 {
			ch.Origin = "c2"
		}
		changes = append(changes, ch)
	}
	changes = append(changes, createGroup("zeta-team@example.com", "G-1",
		set(store.FieldMembers, []string{"u001@example.com", "u000@example.com"})))
	e.applyOK(changes...)

	// Pages of users; the group is filtered out by kind.
	var sizes []int
	var all []string
	q := store.ListQuery{Kind: store.KindUser, Limit: 100}
	for {
		page, next, err := e.s.Users(e.ctx, q)
		require.NoError(t, err)
		sizes = append(sizes, len(page))
		for _, u := range page {
			all = append(all, u.Address)
		}
		if next == "" {
			break
		}
		requireCursorAt(t, next, page[len(page)-1].Address)
		require.Less(t, len(sizes), 10, "pagination does not end")
		q.Cursor = next
	}
	require.Equal(t, []int{100, 100, 50}, sizes)
	require.Len(t, all, n)
	for i, addr := range all {
		require.Equal(t, fmt.Sprintf("u%03d@example.com", i), addr)
	}

	// A page that ends exactly at the last object has no next page.
	page, next, err := e.s.Users(e.ctx, store.ListQuery{Kind: store.KindUser, Limit: 50, Cursor: addressCursor("u199@example.com")})
	require.NoError(t, err)
	require.Len(t, page, 50)
	require.Empty(t, next)

	// Default limit, and every object kind without a filter.
	page, next, err = e.s.Users(e.ctx, store.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page, 100)
	requireCursorAt(t, next, "u099@example.com")
	page, next, err = e.s.Users(e.ctx, store.ListQuery{Cursor: addressCursor("u200@example.com")})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, page, 50) // u201..u249 and the group
	require.Equal(t, "zeta-team@example.com", page[len(page)-1].Address)
	require.Equal(t, []string{"u000@example.com", "u001@example.com"}, page[len(page)-1].Members)

	list := func(q store.ListQuery) []string {
		t.Helper()
		page, next, err := e.s.Users(e.ctx, q)
		require.NoError(t, err)
		require.Empty(t, next)
		var out []string
		for _, u := range page {
			out = append(out, u.Address)
		}
		return out
	}
	tests := []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"address substring", store.ListQuery{Search: "u12"}, addrs(120, 130)},
		{"alias substring", store.ListQuery{Search: "special-alias"}, []string{"u007@example.com"}},
		{"display name, any case", store.ListQuery{Search: "quux"}, []string{"u042@example.com"}},
		{"wildcards are literal", store.ListQuery{Search: "%"}, nil},
		{"underscore is literal", store.ListQuery{Search: "u_1"}, nil},
		{"origin", store.ListQuery{Origin: "c2", Limit: 1000}, everyTenth()},
		{"kind", store.ListQuery{Kind: store.KindGroup}, []string{"zeta-team@example.com"}},
		{"search with origin", store.ListQuery{Search: "u1", Origin: "c2"}, []string{
			"u100@example.com", "u110@example.com", "u120@example.com", "u130@example.com", "u140@example.com",
			"u150@example.com", "u160@example.com", "u170@example.com", "u180@example.com", "u190@example.com",
		}},
		{"search after a cursor", store.ListQuery{Search: "u12", Cursor: addressCursor("u125@example.com")}, addrs(126, 130)},
		{"no match", store.ListQuery{Search: "nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, list(tc.q))
		})
	}

	// A filtered listing pages too.
	page, next, err = e.s.Users(e.ctx, store.ListQuery{Origin: "c2", Limit: 10})
	require.NoError(t, err)
	require.Len(t, page, 10)
	requireCursorAt(t, next, "u090@example.com")
	page, next, err = e.s.Users(e.ctx, store.ListQuery{Origin: "c2", Limit: 10, Cursor: addressCursor("u240@example.com")})
	require.NoError(t, err)
	require.Empty(t, page)
	require.Empty(t, next)
}

// addressCursor is the cursor of a listing in address order whose previous
// page ended at addr. Cursors are opaque to API clients, but store.EncodeCursor
// is how every backend makes them, so a test may make one too.
func addressCursor(addr string) string {
	return store.EncodeCursor(store.Cursor{Sort: "address", Text: addr, Address: addr})
}

// requireCursorAt fails unless next is the cursor of an address-ordered
// listing after addr.
func requireCursorAt(t *testing.T, next, addr string) {
	t.Helper()
	c, err := store.DecodeCursor(next, "address", false)
	require.NoError(t, err)
	require.Equal(t, addr, c.Address)
}

// addrs lists u<from>..u<to-1>@example.com.
func addrs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("u%03d@example.com", i))
	}
	return out
}

func everyTenth() []string {
	var out []string
	for i := 0; i < 250; i += 10 {
		out = append(out, fmt.Sprintf("u%03d@example.com", i))
	}
	return out
}

// testConcurrency applies disjoint changes from several goroutines, reading in
// between; run it with -race.
func testConcurrency(t *testing.T, e *env) {
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			actor := store.Actor{Kind: "sync", Name: fmt.Sprintf("c%d", w), RunID: fmt.Sprintf("run-%d", w)}
			for i := range perWorker {
				addr := fmt.Sprintf("w%d-u%02d@example.com", w, i)
				out, err := e.s.Apply(e.ctx, store.ApplyRequest{
					Actor:   actor,
					Fence:   &store.Fence{Name: actor.Name, Token: uint64(i + 1)},
					Changes: []store.Change{create(addr, addr), update(addr, set(store.FieldTitle, "t"))},
				})
				if err == nil && (out[0].Err != nil || out[1].Err != nil || !out[0].Applied || !out[1].Applied) {
					err = fmt.Errorf("outcomes %+v", out)
				}
				if err == nil {
					_, err = e.s.User(e.ctx, addr)
				}
				if err == nil {
					_, _, err = e.s.Users(e.ctx, store.ListQuery{Search: fmt.Sprintf("w%d-", w)})
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", addr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	page, _, err := e.s.Users(e.ctx, store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page, workers*perWorker)
	for w := range workers {
		require.Len(t, e.audit(store.AuditQuery{RunID: fmt.Sprintf("run-%d", w), Limit: 1000}), 2*perWorker)
	}
}
