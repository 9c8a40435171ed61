package loadtest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestConsoleSignInFlood fires 1,000 concurrent POST /console/signin at a
// real `dirsync serve` (issue 22, "Done when"): right passwords of console
// administrators mixed with wrong passwords of existing users and guesses at
// unknown addresses. The console's form goes through the API's hardened
// sign-in path (rate limits per client and per account, the argon2 limiter,
// lockout), so the daemon must answer every attempt with 303 (signed in),
// 401 (refused), 429 (rate limited) or 503 (busy), the last two with
// Retry-After; must not crash; and its peak resident memory (VmHWM, the
// kernel's figure) must stay under the dirsync container's memory limit in
// deploy/kubernetes. Afterwards an administrator still signs in and reads the
// users page.
//
// Twice: from one client address (the per-client rate limit answers most),
// and from a thousand client addresses behind a trusted proxy (X-Forwarded-For),
// so the per-client limit never bites and the argon2 limiter and the
// per-account limits alone hold. DIRSYNC_CONSOLE_FLOOD sets the number of
// attempts; the figures are logged.
func TestConsoleSignInFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	n := 1000
	if v := os.Getenv("DIRSYNC_CONSOLE_FLOOD"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "DIRSYNC_CONSOLE_FLOOD")
	}
	limit := kubernetesMemoryLimit(t)
	for _, tc := range []struct {
		name   string
		login  string // server.login
		spread bool   // each attempt from its own client address
	}{
		{"one client address", "{}", false},
		{"many client addresses behind a trusted proxy", "{trusted_proxies: [127.0.0.1/32]}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := consoleSite(t, tc.login)
			d := s.start(t, s.adminToken(t))
			for i := range floodAdmins {
				d.consoleUser(floodAdmin(i), true)
			}
			d.consoleUser(lateAdmin, true)
			for i := range floodStaff {
				d.consoleUser(fmt.Sprintf("staff%d@example.com", i), false)
			}
			before := vmHWM(t, d.cmd.Process.Pid)

			attempts := make([]signInAttempt, n)
			for i := range attempts {
				attempts[i] = newAttempt(i, tc.spread)
			}
			client := &http.Client{Timeout: 2 * time.Minute,
				Transport:     &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range attempts {
				wg.Go(func() {
					<-start
					attempts[i].send(client, d.base)
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			took := time.Since(began)
			peak := vmHWM(t, d.cmd.Process.Pid)

			byStatus := map[int]int{}
			byKind := map[string]map[int]int{}
			for _, a := range attempts {
				byStatus[a.code]++
				if byKind[a.kind] == nil {
					byKind[a.kind] = map[int]int{}
				}
				byKind[a.kind][a.code]++
			}
			t.Logf("%d concurrent console sign-ins in %s: %v (-1: no answer); peak RSS %d MiB (%d MiB before), limit %d MiB",
				n, took.Round(time.Millisecond), byStatus, peak>>20, before>>20, limit>>20)
			t.Logf("by attempt: administrator, right password %v; staff, wrong password %v; unknown address %v",
				byKind[kindAdmin], byKind[kindStaff], byKind[kindUnknown])

			select {
			case <-d.exited:
				t.Fatalf("dirsync serve exited during the flood; log:\n%s", d.logs.tail(40))
			default:
			}
			for i, a := range attempts {
				switch a.code {
				case http.StatusSeeOther:
					require.True(t, a.right, "attempt %d (%s, wrong password) signed in", i, a.address)
					require.True(t, a.session, "attempt %d: 303 without a session cookie", i)
					require.Equal(t, "/console/", a.location, "attempt %d: signed in to the wrong page", i)
				case http.StatusUnauthorized:
				case http.StatusTooManyRequests, http.StatusServiceUnavailable:
					require.NotEmpty(t, a.retryAfter, "attempt %d: %d without Retry-After", i, a.code)
				default:
					require.Failf(t, "unexpected answer", "attempt %d (%s) answered %d, want 303, 401, 429 or 503",
						i, a.address, a.code)
				}
			}
			require.Less(t, peak, limit, "peak RSS under the deploy/kubernetes memory limit")

			// Still serving: an administrator the flood did not touch signs in
			// (from one address, once that client's allowance has refilled)
			// and reads the users page with the session.
			resp, err := http.Get(d.base + "/healthz")
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var after signInAttempt
			require.Eventually(t, func() bool {
				after = signInAttempt{address: lateAdmin, password: floodPassword, right: true}
				after.send(client, d.base)
				return after.code == http.StatusSeeOther
			}, 30*time.Second, 250*time.Millisecond, "an administrator signs in after the flood")
			req, err := http.NewRequest(http.MethodGet, d.base+"/console/users", nil)
			require.NoError(t, err)
			req.AddCookie(after.cookie)
			resp, err = client.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "the users page after the flood")
		})
	}
}

// The flood's accounts: console administrators whose right password is part
// of the flood, staff users (no console role) whose wrong passwords are, and
// one administrator kept out of it, who signs in afterwards.
const (
	floodAdmins   = 10
	floodStaff    = 20
	floodPassword = "Correct-Horse-Battery-9"
	lateAdmin     = "late-admin@example.com"
)

// The kinds of attempt of the flood.
const (
	kindAdmin   = "admin"
	kindStaff   = "staff"
	kindUnknown = "unknown"
)

func floodAdmin(i int) string { return fmt.Sprintf("admin%d@example.com", i) }

// signInAttempt is one POST /console/signin and its answer.
type signInAttempt struct {
	kind              string // kindAdmin, kindStaff or kindUnknown
	address, password string
	right             bool   // the account's right password, of an administrator
	forwardedFor      string // X-Forwarded-For, when the attempt comes through the proxy

	code                 int // -1: no answer
	retryAfter, location string
	session              bool // a session cookie was set
	cookie               *http.Cookie
}

// newAttempt is the flood's i-th attempt: one in ten an administrator's right
// password, three a staff user's wrong password, six a guess at an address
// nobody has.
func newAttempt(i int, spread bool) signInAttempt {
	var a signInAttempt
	switch k := i % 10; {
	case k == 0:
		a = signInAttempt{kind: kindAdmin, address: floodAdmin(i / 10 % floodAdmins), password: floodPassword, right: true}
	case k <= 3:
		a = signInAttempt{kind: kindStaff, address: fmt.Sprintf("staff%d@example.com", i%floodStaff),
			password: fmt.Sprintf("Wrong-Guess-%d", i)}
	default:
		a = signInAttempt{kind: kindUnknown, address: fmt.Sprintf("nobody%d@example.com", i),
			password: fmt.Sprintf("Wrong-Guess-%d", i)}
	}
	if spread {
		a.forwardedFor = fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)
	}
	return a
}

func (a *signInAttempt) send(client *http.Client, base string) {
	a.code = -1
	form := url.Values{"address": {a.address}, "password": {a.password}}
	req, err := http.NewRequest(http.MethodPost, base+"/console/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", a.forwardedFor)
	}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	a.code, a.retryAfter, a.location = resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Location")
	for _, c := range resp.Cookies() {
		if c.Value != "" && c.MaxAge >= 0 {
			a.session, a.cookie = true, c
		}
	}
}

// consoleSite is a daemon's folder with a SQLite store, the internal domain
// example.com and a file connector with one user (a config needs a
// connector); login is the server.login block.
func consoleSite(t *testing.T, login string) site {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := ln.Addr().String()
	require.NoError(t, ln.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "corp.ldif"), []byte(`dn: uid=ann,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: ann
cn: Ann Corp
sn: Corp
mail: ann@example.com
entryUUID: 00000000-0000-4000-8000-000000000001
`), 0o600))
	cfg := filepath.Join(dir, "dirsync.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: warn, format: json}
state: {backend: local, path: state.db}
store: {backend: sqlite, path: store.db}
server: {listen: "%s", login: %s}
domains: [example.com]
connectors:
  - {name: corp, type: file, schedule: "@every 1h", config: {path: corp.ldif, preset: openldap}}
`, listen, login)), 0o600))
	return site{dir: dir, cfg: cfg, listen: listen}
}

// consoleUser creates a registered manual user with floodPassword through
// the admin API, an Administrator when admin is true.
func (d *daemon) consoleUser(address string, admin bool) {
	d.t.Helper()
	d.send(http.MethodPost, "/v1/users", fmt.Sprintf(`{"address":%q,"display_name":%q}`, address, address))
	d.send(http.MethodPost, "/v1/users/"+address+"/register",
		fmt.Sprintf(`{"password":%q,"security_question":"First pet?","security_answer":"Rex"}`, floodPassword))
	if admin {
		d.send(http.MethodPut, "/v1/users/"+address+"/roles", `{"roles":["Administrator"]}`)
	}
}

// send makes an admin API call that must succeed (2xx).
func (d *daemon) send(method, path, body string) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(d.t.Context(), method, d.base+path, strings.NewReader(body))
	require.NoError(d.t, err)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(d.t, err)
	require.Less(d.t, resp.StatusCode, 300, "%s %s: %d %s", method, path, resp.StatusCode, raw)
}

// kubernetesMemoryLimit is the dirsync container's limits.memory in
// deploy/kubernetes/deployment.yaml, in bytes.
func kubernetesMemoryLimit(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "deployment.yaml"))
	require.NoError(t, err)
	type container struct {
		Name      string `yaml:"name"`
		Resources struct {
			Limits map[string]string `yaml:"limits"`
		} `yaml:"resources"`
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &dep))
	cs := dep.Spec.Template.Spec.Containers
	i := slices.IndexFunc(cs, func(c container) bool { return c.Name == "dirsync" })
	require.GreaterOrEqual(t, i, 0, "no dirsync container in deployment.yaml")
	q, err := resource.ParseQuantity(cs[i].Resources.Limits["memory"])
	require.NoError(t, err, "limits.memory")
	return q.Value()
}
