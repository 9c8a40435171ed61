package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// signIn posts a login with extra headers and returns status, Retry-After
// and the raw body.
func signIn(t *testing.T, h *harness, addr, pw string, header map[string]string) (int, string, []byte) {
	t.Helper()
	b, err := json.Marshal(api.Login{Address: addr, Password: pw})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), "POST", h.srv.URL+"/v1/auth/login", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body
}

// TestSignInRefusalsAreIdentical: whatever the reason, a refused sign-in is
// the same status and the same bytes; the status check tells administrators
// the real reason.
func TestSignInRefusalsAreIdentical(t *testing.T) {
	h := newHarness(t, nil, nil)
	for _, u := range []string{"ann@example.com", "cat@example.com", "dan@example.com"} {
		h.registerUser(u)
	}
	h.createUser(api.CreateUser{Address: "bob@example.com"})
	for range store.LockAfter {
		h.login("cat@example.com", "Wrong-Password-1")
	}
	h.call("DELETE", "/v1/users/dan@example.com", h.admin, nil).ok(200, nil) // disables

	cases := []struct{ name, address, pw, reason string }{
		{"unknown address", "nobody@example.com", goodPass, ""},
		{"no password", "bob@example.com", goodPass, ""},
		{"wrong password", "ann@example.com", "Wrong-Password-1", "wrong password"},
		{"locked", "cat@example.com", goodPass, "account locked"},
		{"disabled", "dan@example.com", goodPass, "account disabled"},
	}
	var first []byte
	for _, c := range cases {
		code, _, body := signIn(t, h, c.address, c.pw, nil)
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", c.name, body)
		if first == nil {
			first = body
		}
		require.Equal(t, string(first), string(body), c.name)
		if c.reason != "" {
			var st api.Status
			h.call("GET", "/v1/users/"+c.address+"/status", h.read, nil).ok(200, &st)
			require.Equal(t, c.reason, st.LastLoginError, "%s: the status check tells the truth", c.name)
			require.Equal(t, c.name != "wrong password", !st.CanLogIn, c.name)
		}
	}
}

// TestSignInRateLimits: per client address and per account, answered 429
// with Retry-After; X-Forwarded-For counts only from a trusted proxy.
func TestSignInRateLimits(t *testing.T) {
	t.Run("per client, header ignored", func(t *testing.T) {
		h := newHarnessWith(t, api.Options{Login: api.LoginOptions{PerClient: 0.001, PerClientBurst: 2}}, nil)
		for i := range 2 {
			code, _, _ := signIn(t, h, "nobody@example.com", goodPass, map[string]string{"X-Forwarded-For": "198.51.100." + strconv.Itoa(i)})
			require.Equal(t, http.StatusUnauthorized, code)
		}
		code, after, body := signIn(t, h, "other@example.com", goodPass, map[string]string{"X-Forwarded-For": "198.51.100.9"})
		require.Equal(t, http.StatusTooManyRequests, code, "a forged header does not make a new client")
		require.Contains(t, string(body), `"code":"rate_limited"`)
		require.Contains(t, string(body), "too many sign-in attempts from your address")
		secs, err := strconv.Atoi(after)
		require.NoError(t, err, "Retry-After %q", after)
		require.GreaterOrEqual(t, secs, 1)
	})
	t.Run("per account, through a trusted proxy", func(t *testing.T) {
		h := newHarnessWith(t, api.Options{Login: api.LoginOptions{PerAccount: 0.001, PerAccountBurst: 3,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}, nil)
		h.registerUser("ann@example.com")
		from := func(i int) map[string]string {
			return map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i) + ", 127.0.0.1"}
		}
		for i := range 3 {
			code, _, _ := signIn(t, h, "ann@example.com", "Wrong-Password-1", from(i))
			require.Equal(t, http.StatusUnauthorized, code, "attempt %d", i)
		}
		// The account's allowance is spent, from any client; an unknown
		// address has the same allowance, so 429 reveals nothing.
		code, after, body := signIn(t, h, "ANN@example.com", goodPass, from(50))
		require.Equal(t, http.StatusTooManyRequests, code, "%s", body)
		require.Contains(t, string(body), "too many sign-in attempts on this address")
		require.NotEmpty(t, after)
		for i := range 3 {
			code, _, _ := signIn(t, h, "nobody@example.com", goodPass, from(60+i))
			require.Equal(t, http.StatusUnauthorized, code)
		}
		code, _, _ = signIn(t, h, "nobody@example.com", goodPass, from(70))
		require.Equal(t, http.StatusTooManyRequests, code)
		// Another account from the same clients is untouched.
		code, _, _ = signIn(t, h, "other@example.com", goodPass, from(1))
		require.Equal(t, http.StatusUnauthorized, code)
	})
}

// TestSignInBusy: when every argon2 run is taken and no room is left to
// wait, the answer is 503 busy with Retry-After, and a refused attempt is
// not counted as a failed login.
func TestSignInBusy(t *testing.T) {
	h := newHarnessWith(t, api.Options{Login: api.LoginOptions{MaxConcurrentVerifications: 1, MaxWaiting: 1,
		MaxWait: 1, PerClient: 1000, PerClientBurst: 1000, PerAccount: 1000, PerAccountBurst: 1000}}, nil)
	h.registerUser("ann@example.com")
	// A slow hash (the parameters travel with it): each check takes a while.
	slow, err := password.Hash(goodPass, password.Params{Memory: 4 * 1024, Time: 40, Threads: 1})
	require.NoError(t, err)
	require.NoError(t, h.st.SetPassword(t.Context(), "ann@example.com", slow, false, store.Actor{Kind: "system"}))

	const n = 12
	codes := make([]int, n)
	afters := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i], afters[i], _ = signIn(t, h, "ann@example.com", goodPass, nil) })
	}
	wg.Wait()
	ok, busy := 0, 0
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
			busy++
			require.Equal(t, "1", afters[i])
		default:
			t.Fatalf("answer %d: %d", i, c)
		}
	}
	require.GreaterOrEqual(t, ok, 1)
	require.GreaterOrEqual(t, busy, 1, "with one run and one waiter, %d at once cannot all run", n)
	var st api.Status
	h.call("GET", "/v1/users/ann@example.com/status", h.read, nil).ok(200, &st)
	require.Zero(t, st.FailedLogins, "a busy answer is not a failed login")
}
