package entra

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The stored cursor comes back from the state backend as bytes, and its delta
// links are followed as they are.

func FuzzCursor(f *testing.F) {
	const graph = "https://graph.microsoft.com/v1.0"
	for _, c := range []cursor{
		{V: 1, Users: graph + "/users/delta()?$deltatoken=abc", Groups: graph + "/groups/delta()?$deltatoken=def", Admins: []string{"a1"}},
		{V: 1, Users: graph + "/users/delta?$deltatoken=abc"},
		{V: 1, Users: "https://evil.example/v1.0/users/delta()?$deltatoken=abc"},
		{V: 1, Users: graph + "/groups/delta()?$deltatoken=def"},
		{V: 1, Users: "https://graph.microsoft.com/v1.0/users/../me/delta"},
		{V: 1, Users: "https://user:pw@graph.microsoft.com/v1.0/users/delta()"},
		{V: 1, Users: "http://graph.microsoft.com/v1.0/users/delta()"},
		{V: 2, Users: graph + "/users/delta()"},
		{V: 1, Users: "/v1.0/users/delta()"},
	} {
		raw, err := json.Marshal(c)
		require.NoError(f, err)
		f.Add(raw, true)
		f.Add(raw, false)
	}
	for _, raw := range []string{"", "null", "{}", `{"v":1,"users":"%zz"}`, `{"v":1,"users":1}`, `{"v":1.5}`} {
		f.Add([]byte(raw), false)
	}
	base, err := url.Parse(graph)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, raw []byte, groups bool) {
		c, err := decodeCursor(raw, graph, groups)
		if err != nil {
			require.Zero(t, c, "a refused cursor is never half used")
			require.NotContains(t, err.Error(), "%!", "the error is well formed")
			return
		}
		require.Equal(t, cursorVersion, c.V)
		require.NotEmpty(t, c.Users)
		if groups {
			require.NotEmpty(t, c.Groups)
		}
		for kind, link := range map[string]string{"users": c.Users, "groups": c.Groups} {
			if link == "" {
				continue
			}
			u, err := url.Parse(link)
			require.NoError(t, err)
			require.Equal(t, base.Scheme, u.Scheme, link)
			require.True(t, strings.EqualFold(base.Host, u.Host), "the link %q leaves %s", link, base.Host)
			require.Nil(t, u.User, link)
			require.NotContains(t, "/"+strings.Trim(u.Path, "/")+"/", "/../", link)
			require.True(t, strings.HasPrefix(u.Path, base.Path+"/"+kind+"/"), "the %s link %q", kind, link)
		}
		// What the next run stores (the same links, read again) decodes alike.
		again, err := json.Marshal(c)
		require.NoError(t, err)
		c2, err := decodeCursor(again, graph, groups)
		require.NoError(t, err)
		if len(c.Admins) == 0 {
			c.Admins = nil // an empty list is left out of the JSON
		}
		require.Equal(t, c, c2)
	})
}
