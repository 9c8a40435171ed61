package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// The listing tests compute every expected order in Go from the objects the
// store reports, and read these points of the contract as follows:
//   - Desc reverses the whole order, the address tie-break included (the cursor
//     carries one Desc for the value and the address).
//   - Empty text sorts before any other text; false before true; a zero time
//     ("never") before any real time, as store.Cursor documents.
//   - The contract names no collation, so the data only holds values that sort
//     the same in byte order and in a locale's (no case or punctuation ties).
//   - Letter matches case-insensitively: display names start with a capital.

// listData creates a varied population: both domains, every origin kind,
// disabled, registered, locked and logged-in users, ties in every column, a
// group, and names starting with a digit or empty. It returns the addresses.
func (e *env) listData() []string {
	givens := []string{"Anna", "Bert", "Cora", "Dirk", "Emma", "Finn"}
	surnames := []string{"Berg", "Cole", "Dahl", "Eder"}
	depts := []string{"Sales", "Ops", ""}
	titles := []string{"Lead", "Clerk", "", "Agent"}
	origins := []string{"c2", "c1", store.OriginManual, store.OriginCSV}
	const n = 26
	changes := make([]store.Change, n)
	var addrs []string
	for i := range n {
		domain := domainA
		if i%3 == 0 {
			domain = domainB
		}
		g, s := givens[i%len(givens)], surnames[i%len(surnames)]
		display := g + " " + s
		switch {
		case i%9 == 8:
			display, g, s = "", "", ""
		case i%11 == 5:
			display = "42 Front Desk"
		}
		fields := []store.FieldChange{
			set(store.FieldDisplayName, display), set(store.FieldGivenName, g), set(store.FieldSurname, s),
			set(store.FieldDepartment, depts[i%len(depts)]), set(store.FieldTitle, titles[i%len(titles)]),
			set(store.FieldEnabled, i%6 != 5), set(store.FieldDefaultLead, i%8 == 0),
		}
		if i%7 != 0 {
			fields = append(fields, set(store.FieldPhone, fmt.Sprintf("+1 555 01%02d", i%5)))
		}
		if i%5 == 0 {
			fields = append(fields, set(store.FieldAliases, []string{fmt.Sprintf("alias%02d@example.net", i)}))
		}
		addr := fmt.Sprintf("u%02d@%s", i, domain)
		ch := create(addr, fmt.Sprintf("L-%02d", i), fields...)
		if ch.Origin = origins[i%len(origins)]; ch.Origin == store.OriginManual || ch.Origin == store.OriginCSV {
			ch.Anchor = ""
		}
		changes[i], addrs = ch, append(addrs, addr)
	}
	// Created in three batches, the highest addresses first, so creation order
	// is not address order.
	for _, batch := range [][]store.Change{changes[18:], changes[9:18], changes[:9]} {
		e.applyOK(batch...)
		time.Sleep(5 * time.Millisecond)
	}
	e.applyOK(
		create("9lives@example.com", "L-90"),
		create("quinn@example.net", "L-91", set(store.FieldTitle, "Lead")),
		createGroup("staff@example.com", "L-92", set(store.FieldDisplayName, "Staff List"),
			set(store.FieldMembers, []string{"u01@example.com", "u02@example.com"})),
	)
	addrs = append(addrs, "9lives@example.com", "quinn@example.net", "staff@example.com")
	// Later updates, in reverse, so update order is not creation order either.
	for i := n - 1; i >= 0; i -= 4 {
		e.applyOK(update(addrs[i], set(store.FieldTitle, "Updated")))
		time.Sleep(2 * time.Millisecond)
	}
	// Accounts: a login before the lock, so locked users have logins too.
	for i, addr := range addrs[:n] {
		if i%4 == 1 {
			require.NoError(e.t, e.s.LoginSucceeded(e.ctx, addr, t0.Add(time.Duration(i%3)*time.Hour)))
		}
		if i%3 == 1 {
			e.register(addr, registration(addr, i%2 == 0))
		}
		if i%5 == 2 {
			e.lock(addr)
		}
		if i%7 == 3 {
			require.NoError(e.t, e.s.SetRoles(e.ctx, addr, []string{"Sales", "Administrator"}, adminActor))
		}
	}
	return addrs
}

// sortCmp compares two users by a sort column; it fails on a column it does not
// know so that a new entry in store.SortColumns gets a test.
func sortCmp(t *testing.T, col string) func(a, b store.User) int {
	text := func(f func(store.User) string) func(a, b store.User) int {
		return func(a, b store.User) int { return strings.Compare(f(a), f(b)) }
	}
	flag := func(f func(store.User) bool) func(a, b store.User) int {
		return func(a, b store.User) int { return cmpBool(f(a), f(b)) }
	}
	when := func(f func(store.User) time.Time) func(a, b store.User) int {
		return func(a, b store.User) int { return f(a).Compare(f(b)) }
	}
	switch col {
	case "address":
		return text(func(u store.User) string { return u.Address })
	case "display_name":
		return text(func(u store.User) string { return u.DisplayName })
	case "given_name":
		return text(func(u store.User) string { return u.GivenName })
	case "surname":
		return text(func(u store.User) string { return u.Surname })
	case "phone":
		return text(func(u store.User) string { return u.Phone })
	case "department":
		return text(func(u store.User) string { return u.Department })
	case "title":
		return text(func(u store.User) string { return u.Title })
	case "origin":
		return text(func(u store.User) string { return u.Origin })
	case "enabled":
		return flag(func(u store.User) bool { return u.Enabled })
	case "registered":
		return flag(func(u store.User) bool { return u.Account.Registered })
	case "locked":
		return flag(func(u store.User) bool { return u.Account.Locked })
	case "created":
		return when(func(u store.User) time.Time { return u.Created })
	case "updated":
		return when(func(u store.User) time.Time { return u.Updated })
	case "last_login":
		return when(func(u store.User) time.Time { return u.Account.LastLogin })
	}
	require.Failf(t, "sort column without a test", "add %q to sortCmp", col)
	return nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// expected lists the addresses of the users that match q, in q's order.
func expected(t *testing.T, users []store.User, q store.ListQuery) []string {
	col := cmp.Or(q.Sort, "address")
	byCol := sortCmp(t, col)
	var out []store.User
	for _, u := range users {
		if matches(u, q) {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b store.User) int {
		return cmp.Or(byCol(a, b), strings.Compare(a.Address, b.Address))
	})
	if q.Desc {
		slices.Reverse(out)
	}
	var addrs []string
	for _, u := range out {
		addrs = append(addrs, u.Address)
	}
	return addrs
}

// matches applies q's filters as ListQuery documents them.
func matches(u store.User, q store.ListQuery) bool {
	if s := strings.ToLower(q.Search); s != "" {
		hit := strings.Contains(u.Address, s) || strings.Contains(strings.ToLower(u.DisplayName), s) ||
			slices.ContainsFunc(u.Aliases, func(a string) bool { return strings.Contains(a, s) })
		if !hit {
			return false
		}
	}
	if q.Letter != "" {
		name := cmp.Or(u.DisplayName, u.Address)
		first := strings.ToLower(name[:1])
		isLetter := first >= "a" && first <= "z"
		if q.Letter == "#" && isLetter || q.Letter != "#" && first != strings.ToLower(q.Letter) {
			return false
		}
	}
	_, domain, _ := strings.Cut(u.Address, "@")
	switch {
	case q.Origin != "" && u.Origin != q.Origin,
		q.Kind != "" && u.Kind != q.Kind,
		q.Domain != "" && domain != q.Domain,
		q.Registration == "registered" && !u.Account.Registered,
		q.Registration == "unregistered" && u.Account.Registered,
		q.Status == "enabled" && !u.Enabled,
		q.Status == "disabled" && u.Enabled,
		q.Status == "locked" && !u.Account.Locked:
		return false
	}
	return true
}

// listAll pages through q and returns the addresses in order, checking that
// only the last page is short and that every cursor is the documented one: the
// position of the page's last row, for q's sort and direction.
func (e *env) listAll(q store.ListQuery) []string {
	e.t.Helper()
	col := cmp.Or(q.Sort, "address")
	var out []string
	for pages := 0; ; pages++ {
		require.Less(e.t, pages, 200, "pagination does not end: %+v", q)
		page, next, err := e.s.Users(e.ctx, q)
		require.NoError(e.t, err, "%+v", q)
		for _, u := range page {
			out = append(out, u.Address)
		}
		if next == "" {
			return out
		}
		require.NotEmpty(e.t, page, "an empty page with a next cursor: %+v", q)
		if q.Limit > 0 {
			require.Len(e.t, page, q.Limit, "a short page before the last: %+v", q)
		}
		c, err := store.DecodeCursor(next, col, q.Desc)
		require.NoError(e.t, err, "the next cursor of %+v", q)
		require.Equal(e.t, page[len(page)-1].Address, c.Address, "the cursor names the page's last row")
		q.Cursor = next
	}
}

func testListing(t *testing.T, e *env) {
	addrs := e.listData()
	users := make([]store.User, len(addrs))
	for i, a := range addrs {
		users[i] = e.user(a)
	}

	// A listing shows exactly what User shows, accounts included.
	page, next, err := e.s.Users(e.ctx, store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, page, len(users))
	for _, u := range page {
		require.Equal(t, e.user(u.Address), u, u.Address)
	}
	// The data holds both values of every flag, so no test below is vacuous.
	for name, has := range map[string]func(store.User) bool{
		"registered": func(u store.User) bool { return u.Account.Registered },
		"locked":     func(u store.User) bool { return u.Account.Locked },
		"logged in":  func(u store.User) bool { return !u.Account.LastLogin.IsZero() },
		"enabled":    func(u store.User) bool { return u.Enabled },
		"with roles": func(u store.User) bool { return len(u.Account.Roles) > 0 },
	} {
		n := len(slices.DeleteFunc(slices.Clone(users), func(u store.User) bool { return !has(u) }))
		require.True(t, n > 0 && n < len(users), "%d of %d users %s", n, len(users), name)
	}

	// Every column, both ways, page by page (pages of 3, 4 and 5 rows cut
	// through ties differently).
	for i, col := range store.SortColumns {
		for _, desc := range []bool{false, true} {
			q := store.ListQuery{Sort: col, Desc: desc, Limit: 3 + i%3}
			require.Equal(t, expected(t, users, q), e.listAll(q), "sort %s desc=%v", col, desc)
		}
	}

	tests := []struct {
		name string
		q    store.ListQuery
	}{
		{"search address", store.ListQuery{Search: "U1"}},
		{"search alias", store.ListQuery{Search: "ALIAS1"}},
		{"search display name", store.ListQuery{Search: "anna"}},
		{"search domain part", store.ListQuery{Search: "example.net"}},
		{"letter", store.ListQuery{Letter: "c"}},
		{"letter in upper case", store.ListQuery{Letter: "C"}},
		{"letter from the address", store.ListQuery{Letter: "q"}},
		{"letter of no one", store.ListQuery{Letter: "x"}},
		{"not a letter", store.ListQuery{Letter: "#"}},
		{"domain", store.ListQuery{Domain: domainB}},
		{"registered", store.ListQuery{Registration: "registered"}},
		{"unregistered", store.ListQuery{Registration: "unregistered"}},
		{"enabled", store.ListQuery{Status: "enabled"}},
		{"disabled", store.ListQuery{Status: "disabled"}},
		{"locked", store.ListQuery{Status: "locked"}},
		{"kind user", store.ListQuery{Kind: store.KindUser}},
		{"kind group", store.ListQuery{Kind: store.KindGroup}},
		{"origin", store.ListQuery{Origin: store.OriginCSV}},
		{"everything at once", store.ListQuery{Search: "u", Letter: "e", Domain: domainA, Registration: "registered",
			Status: "enabled", Kind: store.KindUser, Origin: "c2"}},
		{"filtered and sorted", store.ListQuery{Domain: domainA, Status: "enabled", Sort: "surname", Desc: true}},
		{"registered by last login", store.ListQuery{Registration: "registered", Sort: "last_login", Desc: true}},
		{"letter by title", store.ListQuery{Letter: "#", Sort: "title"}},
		{"search by created", store.ListQuery{Search: "example.com", Sort: "created"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := expected(t, users, tc.q)
			if tc.name != "letter of no one" {
				require.NotEmpty(t, want, "the data has no match: the test would prove nothing")
			}
			q := tc.q
			q.Limit = 1000
			require.Equal(t, want, e.listAll(q), "one page")
			q.Limit = 2
			require.Equal(t, want, e.listAll(q), "pages of 2")
		})
	}
}

func testListingErrors(t *testing.T, e *env) {
	e.listData()
	first := func(q store.ListQuery) string {
		t.Helper()
		_, next, err := e.s.Users(e.ctx, q)
		require.NoError(t, err)
		require.NotEmpty(t, next)
		return next
	}
	bySurname := first(store.ListQuery{Sort: "surname", Limit: 2})
	byAddress := first(store.ListQuery{Limit: 2})
	noAddress := store.EncodeCursor(store.Cursor{Sort: "address", Text: "u01@example.com"})

	tests := []struct {
		name string
		q    store.ListQuery
	}{
		{"unknown sort column", store.ListQuery{Sort: "shoe_size"}},
		{"sort column in another spelling", store.ListQuery{Sort: "DisplayName"}},
		{"two letters", store.ListQuery{Letter: "ab"}},
		{"digit as letter", store.ListQuery{Letter: "1"}},
		{"registration", store.ListQuery{Registration: "maybe"}},
		{"status", store.ListQuery{Status: "gone"}},
		{"negative limit", store.ListQuery{Limit: -1}},
		{"garbage cursor", store.ListQuery{Cursor: "!!not a cursor!!"}},
		{"base64 but not a cursor", store.ListQuery{Cursor: "aGVsbG8"}},
		{"cursor without an address", store.ListQuery{Cursor: noAddress}},
		{"cursor of another sort", store.ListQuery{Sort: "title", Cursor: bySurname}},
		{"cursor of the other direction", store.ListQuery{Sort: "surname", Desc: true, Cursor: bySurname}},
		{"cursor of a sorted listing, default sort", store.ListQuery{Cursor: bySurname}},
		{"cursor of the default sort, sorted", store.ListQuery{Sort: "surname", Cursor: byAddress}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, next, err := e.s.Users(e.ctx, tc.q)
			require.ErrorIs(t, err, store.ErrInvalid)
			require.Empty(t, page)
			require.Empty(t, next)
		})
	}

	// The cursors themselves are fine with the query they came from.
	for _, q := range []store.ListQuery{
		{Sort: "surname", Limit: 2, Cursor: bySurname},
		{Sort: "address", Limit: 2, Cursor: byAddress},
	} {
		_, _, err := e.s.Users(e.ctx, q)
		require.NoError(t, err, "%+v", q)
	}
}
