package api_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// An expired token is refused with 401 and an error that says so without
// naming the token or its scopes; the refusal is logged with the name.
func TestExpiredToken(t *testing.T) {
	h := newHarness(t, nil, nil)
	tok, hash, err := api.NewToken()
	require.NoError(t, err)
	h.secret(tok, hash)
	_, err = h.st.CreateToken(t.Context(), store.Token{Name: "contractor", Hash: hash, Scopes: []string{store.ScopeRead},
		Expires: h.clk.Now().Add(time.Hour)}, store.Actor{Kind: "system"})
	require.NoError(t, err)
	h.call("GET", "/v1/users", tok, nil).ok(200, nil)

	h.clk.Advance(time.Hour)
	info := h.call("GET", "/v1/users", tok, nil).apiErr(401, api.CodeUnauthorized)
	require.Contains(t, info.Message, "expired token")
	require.NotContains(t, info.Message, "contractor")
	require.NotContains(t, info.Message, "read")
	logged := h.logs.FilterMessage("API authentication failed").All()
	require.NotEmpty(t, logged)
	require.Equal(t, "expired token", logged[len(logged)-1].ContextMap()["reason"])
	require.Equal(t, "contractor", logged[len(logged)-1].ContextMap()["token"])
}

// 1,000 requests a second apart record last_used at most once a minute.
func TestTokenLastUsedThrottled(t *testing.T) {
	h := newHarness(t, nil, nil)
	lastUsed := func() time.Time {
		toks, err := h.st.Tokens(t.Context())
		require.NoError(t, err)
		for _, tk := range toks {
			if tk.Name == store.ScopeRead+"-token" {
				return tk.LastUsed
			}
		}
		t.Fatal("no read token")
		return time.Time{}
	}
	start := h.clk.Now()
	var seen []time.Time
	for range 1000 {
		h.call("GET", "/v1/users", h.read, nil).ok(200, nil)
		if lu := lastUsed(); len(seen) == 0 || !lu.Equal(seen[len(seen)-1]) {
			seen = append(seen, lu)
		}
		h.clk.Advance(time.Second)
	}
	require.Equal(t, start, seen[0].UTC())
	require.LessOrEqual(t, len(seen), 17, "1,000 s of requests: at most one write a minute")
	for i := 1; i < len(seen); i++ {
		require.GreaterOrEqual(t, seen[i].Sub(seen[i-1]), time.Minute)
	}
}
