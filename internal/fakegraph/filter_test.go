package fakegraph

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsersAndGroupsFilter(t *testing.T) {
	s := start(t, Options{})
	for i := 1; i <= 4; i++ {
		u := userN(i)
		if i == 2 {
			u.ProxyAddresses = append(u.ProxyAddresses, "smtp:o'brien@example.net")
			u.OtherMails = []string{"private2@example.org"}
		}
		s.PutUser(u)
	}
	s.PutGroup(Group{ID: "g1", DisplayName: "Team", Mail: "team@example.com", MailEnabled: true,
		ProxyAddresses: []string{"SMTP:team@example.com", "smtp:crew@example.com"}})
	tok := token(t, s)
	filter := func(set, f string) string { return "/" + set + "?$select=id&$filter=" + url.QueryEscape(f) }

	for f, want := range map[string][]string{
		"mail eq 'U3@EXAMPLE.COM'":                                                                      {userN(3).ID},
		"proxyAddresses/any(p:p eq 'smtp:O''Brien@example.net')":                                        {userN(2).ID},
		"mail eq 'nobody@example.com' or otherMails/any(o:o eq 'private2@example.org')":                 {userN(2).ID},
		"(userPrincipalName eq 'u1@example.com' or mail eq 'u4@example.com') and department eq 'sales'": {userN(1).ID, userN(4).ID},
		"mail eq 'nobody@example.com'":                                                                  nil,
	} {
		p := getPage(t, s, tok, filter("users", f))
		require.Equal(t, want, idsOf(p.Value), f)
	}
	p := getPage(t, s, tok, filter("groups", "proxyAddresses/any(x:x eq 'smtp:CREW@example.com')"))
	require.Equal(t, []string{"g1"}, idsOf(p.Value))

	// Paging keeps the filter.
	p = getPage(t, s, tok, filter("users", "department eq 'Sales'")+"&$top=3")
	require.Len(t, p.Value, 3)
	require.Len(t, getPage(t, s, tok, p.NextLink).Value, 1)

	// Advanced queries: refused without ConsistencyLevel: eventual and $count=true.
	e := getError(t, s, tok, filter("users", "endsWith(mail,'@example.com')"), http.StatusBadRequest)
	require.Equal(t, "Request_UnsupportedQuery", e.Error.Code)
	require.Contains(t, e.Error.Message, "ConsistencyLevel")
	e = getError(t, s, tok, filter("users", "mail ne 'u1@example.com'"), http.StatusBadRequest)
	require.Contains(t, e.Error.Message, "Operator 'ne' is not supported")
	e = getError(t, s, tok, filter("users", "mail eq 'u1@example.com'")+"&$count=true", http.StatusBadRequest)
	require.Contains(t, e.Error.Message, "$count")
	var counted map[string]any
	decode(t, get(t, s, tok, filter("users", "mail eq 'u1@example.com'")+"&$count=true", "ConsistencyLevel", "eventual"), http.StatusOK, &counted)
	require.Equal(t, float64(1), counted["@odata.count"])

	e = getError(t, s, tok, filter("users", "jobTitle2 eq 'x'"), http.StatusBadRequest)
	require.Contains(t, e.Error.Message, "property 'jobTitle2' of resource 'User'")
	e = getError(t, s, tok, filter("users", "mail eq 'unterminated"), http.StatusBadRequest)
	require.Contains(t, e.Error.Message, "unterminated")
}

func idsOf(entries []map[string]any) []string {
	if len(entries) == 0 {
		return nil
	}
	return ids(entries)
}
