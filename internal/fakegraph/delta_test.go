package fakegraph

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const userSelect = "id,userPrincipalName,mail,proxyAddresses,displayName,department,accountEnabled,assignedLicenses"

func userN(i int) User {
	return User{
		ID:                fmt.Sprintf("00000000-0000-0000-0000-%012d", i),
		UserPrincipalName: fmt.Sprintf("u%d@example.com", i),
		Mail:              fmt.Sprintf("u%d@example.com", i),
		ProxyAddresses:    []string{fmt.Sprintf("SMTP:u%d@example.com", i)},
		DisplayName:       fmt.Sprintf("User %d", i),
		Department:        "Sales",
		AccountEnabled:    true,
		UserType:          "Member",
	}
}

func TestUsersDeltaFirstRoundPages(t *testing.T) {
	s := start(t, Options{})
	for i := 5; i >= 1; i-- { // out of order: the fake sorts by id
		s.PutUser(userN(i))
	}
	u3 := userN(3)
	u3.Mail, u3.AssignedLicenses = "", []string{SkuEnterprisePack}
	s.PutUser(u3)
	tok := token(t, s)

	p1 := getPage(t, s, tok, "/users/delta?$select="+userSelect, "Prefer", "odata.maxpagesize=2")
	require.Equal(t, s.URL()+"/v1.0/$metadata#users("+userSelect+")", p1.Context)
	require.Equal(t, []string{userN(1).ID, userN(2).ID}, ids(p1.Value))
	require.True(t, strings.HasPrefix(p1.NextLink, s.URL()+"/v1.0/users/delta()?$skiptoken="), p1.NextLink)
	require.Empty(t, p1.DeltaLink)
	require.ElementsMatch(t, strings.Split(userSelect, ","), keys(p1.Value[0]), "exactly id and the selected properties")
	require.Equal(t, "u1@example.com", p1.Value[0]["userPrincipalName"])
	require.Equal(t, true, p1.Value[0]["accountEnabled"])
	require.Equal(t, []any{"SMTP:u1@example.com"}, p1.Value[0]["proxyAddresses"])
	require.Equal(t, []any{}, p1.Value[0]["assignedLicenses"])

	// The nextLink carries $select and the page size.
	resp := get(t, s, tok, p1.NextLink)
	var p2 graphPage
	decode(t, resp, http.StatusOK, &p2)
	require.Equal(t, []string{userN(3).ID, userN(4).ID}, ids(p2.Value))
	require.Nil(t, p2.Value[0]["mail"], "an empty mail is null")
	require.Contains(t, p2.Value[0], "mail")
	require.Equal(t, []any{map[string]any{"disabledPlans": []any{}, "skuId": SkuEnterprisePack}}, p2.Value[0]["assignedLicenses"])
	require.NotContains(t, p2.Value[0], "givenName", "not selected")

	p3 := getPage(t, s, tok, p2.NextLink)
	require.Equal(t, []string{userN(5).ID}, ids(p3.Value))
	require.Empty(t, p3.NextLink)
	require.True(t, strings.HasPrefix(p3.DeltaLink, s.URL()+"/v1.0/users/delta()?$deltatoken="), p3.DeltaLink)
	require.Equal(t, 3, s.Requests("/v1.0/users/delta"))

	// The Prefer header is acknowledged.
	resp = get(t, s, tok, "/users/delta()", "Prefer", "return=minimal, odata.maxpagesize=4")
	require.Equal(t, "odata.maxpagesize=4", resp.Header.Get("Preference-Applied"))
	var p graphPage
	decode(t, resp, http.StatusOK, &p)
	require.Len(t, p.Value, 4)
	require.Contains(t, p.Value[0], "givenName", "no $select: Graph's default properties")
	require.NotContains(t, p.Value[0], "department")
}

func TestUsersDeltaDefaultPageSizeAndSpellings(t *testing.T) {
	s := start(t, Options{DefaultPageSize: 3})
	for i := 1; i <= 7; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	for _, path := range []string{"/users/delta", "/users/delta()", "/users/microsoft.graph.delta()"} {
		entries, pages, link := deltaRound(t, s, tok, path+"?$select=id")
		require.Len(t, entries, 7, path)
		require.Equal(t, 3, pages, path)
		require.NotEmpty(t, link)
		require.Equal(t, []string{"id"}, keys(entries[0]))
	}
}

func TestUsersDeltaReportsOnlyWhatChanged(t *testing.T) {
	s := start(t, Options{})
	for i := 1; i <= 4; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	_, _, link := deltaRound(t, s, tok, "/users/delta?$select="+userSelect)

	// Nothing changed: an empty round with a new deltaLink.
	entries, _, link2 := deltaRound(t, s, tok, link)
	require.Empty(t, entries)
	require.NotEmpty(t, link2)

	u2 := userN(2)
	u2.Department = "Finance"
	s.PutUser(u2)
	u3 := userN(3)
	u3.GivenName = "Unselected" // not in $select: not reported
	s.PutUser(u3)
	s.PutUser(userN(1)) // same values: not a change
	u4 := userN(4)
	u4.Mail = ""
	s.PutUser(u4)
	s.PutUser(userN(9))

	entries, _, link3 := deltaRound(t, s, tok, link2)
	got := byID(entries)
	require.Len(t, got, 3, "users 2, 4 and 9")
	require.Equal(t, map[string]any{"id": u2.ID, "department": "Finance"}, got[u2.ID])
	require.Equal(t, map[string]any{"id": u4.ID, "mail": nil}, got[u4.ID])
	require.ElementsMatch(t, strings.Split(userSelect, ","), keys(got[userN(9).ID]), "a new user comes in full")

	// The old deltaLink still works and still sees the changes.
	entries, _, _ = deltaRound(t, s, tok, link2)
	require.Len(t, entries, 3)
	entries, _, _ = deltaRound(t, s, tok, link3)
	require.Empty(t, entries)
}

func TestUsersDeltaRemovedAndRestored(t *testing.T) {
	s := start(t, Options{})
	for i := 1; i <= 4; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	_, _, link := deltaRound(t, s, tok, "/users/delta?$select="+userSelect)

	s.SoftDeleteUser(userN(1).ID)
	s.HardDeleteUser(userN(2).ID)
	s.SoftDeleteUser(userN(3).ID)
	s.HardDeleteUser(userN(3).ID) // purged from deleted items
	s.SoftDeleteUser("no-such-user")
	entries, _, link2 := deltaRound(t, s, tok, link)
	require.Equal(t, map[string]map[string]any{
		userN(1).ID: {"id": userN(1).ID, "@removed": map[string]any{"reason": "changed"}},
		userN(2).ID: {"id": userN(2).ID, "@removed": map[string]any{"reason": "deleted"}},
		userN(3).ID: {"id": userN(3).ID, "@removed": map[string]any{"reason": "deleted"}},
	}, byID(entries))

	// Deleted users are out of a first round and of users/{id}.
	first, _, _ := deltaRound(t, s, tok, "/users/delta?$select=id")
	require.Equal(t, []string{userN(4).ID}, ids(first))
	e := getError(t, s, tok, "/users/"+userN(1).ID, http.StatusNotFound)
	require.Equal(t, "Request_ResourceNotFound", e.Error.Code)

	s.RestoreUser(userN(1).ID)
	s.RestoreUser(userN(2).ID) // hard-deleted: cannot come back
	entries, _, _ = deltaRound(t, s, tok, link2)
	require.Len(t, entries, 1)
	require.Equal(t, userN(1).ID, entries[0]["id"])
	require.ElementsMatch(t, strings.Split(userSelect, ","), keys(entries[0]), "a restored user comes in full")
	require.Equal(t, "u1@example.com", entries[0]["mail"])
}

func TestDeltaTokensExpire(t *testing.T) {
	s := start(t, Options{})
	for i := 1; i <= 3; i++ {
		s.PutUser(userN(i))
	}
	tok := token(t, s)
	p1 := getPage(t, s, tok, "/users/delta?$select=id", "Prefer", "odata.maxpagesize=2")
	_, _, link := deltaRound(t, s, tok, "/users/delta?$select=id")
	s.ExpireDeltaTokens()

	for _, target := range []string{link, p1.NextLink} {
		e := getError(t, s, tok, target, http.StatusGone)
		require.Equal(t, "syncStateNotFound", e.Error.Code)
		require.Contains(t, e.Error.Message, "expired")
	}
	s.SetExpiredStatus(http.StatusBadRequest)
	e := getError(t, s, tok, link, http.StatusBadRequest)
	require.Equal(t, "syncStateNotFound", e.Error.Code)

	// A new first round works, and its link is valid.
	entries, _, fresh := deltaRound(t, s, tok, "/users/delta?$select=id")
	require.Len(t, entries, 3)
	entries, _, _ = deltaRound(t, s, tok, fresh)
	require.Empty(t, entries)

	e = getError(t, s, tok, "/users/delta?$deltatoken=bm90LW91cnM", http.StatusBadRequest)
	require.Equal(t, "BadRequest", e.Error.Code)
}

func TestUsersDeltaLatestAndUnknownSelect(t *testing.T) {
	s := start(t, Options{})
	s.PutUser(userN(1))
	tok := token(t, s)
	p := getPage(t, s, tok, "/users/delta?$deltatoken=latest&$select=id,mail")
	require.Empty(t, p.Value)
	require.NotEmpty(t, p.DeltaLink)
	s.PutUser(userN(2))
	entries, _, _ := deltaRound(t, s, tok, p.DeltaLink)
	require.Equal(t, []string{userN(2).ID}, ids(entries))
	require.Equal(t, "u2@example.com", entries[0]["mail"])

	e := getError(t, s, tok, "/users/delta?$select=id,favouriteColour", http.StatusBadRequest)
	require.Equal(t, "BadRequest", e.Error.Code)
	require.Contains(t, e.Error.Message, "favouriteColour")
}

func TestGroupsDelta(t *testing.T) {
	s := start(t, Options{})
	for i := 1; i <= 3; i++ {
		s.PutUser(userN(i))
	}
	g1 := Group{ID: "g1", DisplayName: "One", Mail: "one@example.com", MailEnabled: true,
		ProxyAddresses: []string{"SMTP:one@example.com"}, Members: []string{userN(1).ID, "g2"}}
	s.PutGroup(g1)
	s.PutGroup(Group{ID: "g2", DisplayName: "Two", SecurityEnabled: true, Members: []string{userN(2).ID}})
	tok := token(t, s)

	entries, _, link := deltaRound(t, s, tok, "/groups/delta?$select=id,displayName,mail,mailEnabled,members")
	got := byID(entries)
	require.Len(t, got, 2)
	require.Equal(t, "One", got["g1"]["displayName"])
	require.Equal(t, true, got["g1"]["mailEnabled"])
	require.Nil(t, got["g2"]["mail"])
	require.NotContains(t, got["g1"], "securityEnabled")
	require.ElementsMatch(t, []any{
		map[string]any{"@odata.type": "#microsoft.graph.user", "id": userN(1).ID},
		map[string]any{"@odata.type": "#microsoft.graph.group", "id": "g2"},
	}, got["g1"]["members@delta"])

	g1.Members = []string{"g2", userN(3).ID}
	s.PutGroup(g1)
	s.DeleteGroup("g2")
	entries, _, link2 := deltaRound(t, s, tok, link)
	got = byID(entries)
	require.Equal(t, map[string]any{"id": "g2", "@removed": map[string]any{"reason": "deleted"}}, got["g2"])
	require.Equal(t, map[string]any{"id": "g1", "members@delta": []any{
		map[string]any{"@odata.type": "#microsoft.graph.user", "id": userN(3).ID},
		map[string]any{"@odata.type": "#microsoft.graph.user", "id": userN(1).ID, "@removed": map[string]any{"reason": "deleted"}},
	}}, got["g1"], "only the membership changed")

	// A change of properties only: no members@delta.
	g1.DisplayName = "Uno"
	s.PutGroup(g1)
	entries, _, _ = deltaRound(t, s, tok, link2)
	require.Equal(t, []map[string]any{{"id": "g1", "displayName": "Uno"}}, entries)

	// Without members in $select, no members@delta.
	entries, _, _ = deltaRound(t, s, tok, "/groups/delta")
	require.Len(t, entries, 1)
	require.NotContains(t, entries[0], "members@delta")
	require.Contains(t, entries[0], "securityEnabled")
}
