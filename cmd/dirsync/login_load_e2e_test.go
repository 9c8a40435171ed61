package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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

// TestLoginFloodStaysWithinMemory fires 1,000 concurrent sign-in attempts
// with unknown addresses at a real `dirsync serve` (each one, unbounded, is a
// 64 MiB argon2id run: 300 of them took 19 GB before the sign-in path was
// bounded) and requires every answer to be 401, 429 or 503 within seconds,
// the daemon's peak resident memory (VmHWM, the kernel's figure) to stay
// under the memory limit of deploy/kubernetes, and the daemon to serve a
// real sign-in afterwards. Twice: with the default limits (the per-client
// rate limit answers most), and with the rate limits lifted, so the argon2
// limiter alone holds. DIRSYNC_LOGIN_FLOOD sets the number of attempts.
func TestLoginFloodStaysWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	n := 1000
	if v := os.Getenv("DIRSYNC_LOGIN_FLOOD"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "DIRSYNC_LOGIN_FLOOD")
	}
	limit := kubernetesMemoryLimit(t)
	for _, tc := range []struct {
		name, login string
		lifted      bool // no answer may be 429: server.login reached the daemon
	}{
		{"default limits", "", false},
		{"rate limits lifted", `
  login: {per_client_rate: 1000000, per_client_burst: 100000, per_account_rate: 1000000, per_account_burst: 100000}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "corp.ldif"), []byte(corpLDIF("ann", "ben")), 0o644))
			listen := freePort(t)
			cfg := filepath.Join(dir, "dirsync.yaml")
			require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: {path: data/state.db}
store: {path: data/dirsync.db}
server:
  listen: "%s"%s
domains: [example.com]
connectors:
  - {name: corp, type: file, schedule: "@every 1h", config: {path: corp.ldif, preset: openldap}}
`, listen, tc.login)), 0o644))
			res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "admin", "--scope", "admin")
			require.Equal(t, 0, res.code, res.stderr)
			token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
			d := startServe(t, listen, cfg)
			require.Eventually(t, func() bool {
				code, _ := d.call("GET", "/v1/users/ann@example.com", token, "")
				return code == http.StatusOK
			}, 30*time.Second, 50*time.Millisecond, "the daemon did not come up and sync ann")
			code, body := d.call("POST", "/v1/users/ann@example.com/register", token,
				`{"password":"Correct-Horse-42","security_question":"First pet?","security_answer":"Rex"}`)
			require.Equal(t, http.StatusOK, code, "%s", body)
			before := vmHWM(t, d.cmd.Process.Pid)

			client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
			codes := make([]int, n)
			retryAfter := make([]string, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					body := fmt.Sprintf(`{"address":"nobody%d@example.com","password":"Guess-%d-Password"}`, i, i)
					resp, err := client.Post(d.base+"/v1/auth/login", "application/json", strings.NewReader(body))
					if err != nil {
						codes[i] = -1
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					codes[i], retryAfter[i] = resp.StatusCode, resp.Header.Get("Retry-After")
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			took := time.Since(began)
			peak := vmHWM(t, d.cmd.Process.Pid)

			byStatus := map[int]int{}
			for _, c := range codes {
				byStatus[c]++
			}
			t.Logf("%d concurrent sign-ins in %s: %v (-1: no answer); peak RSS %d MiB (%d MiB before), limit %d MiB",
				n, took.Round(time.Millisecond), byStatus, peak>>20, before>>20, limit>>20)
			for i, c := range codes {
				require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable}, c,
					"attempt %d answered %d", i, c)
				if c != http.StatusUnauthorized {
					require.NotEmpty(t, retryAfter[i], "attempt %d: %d without Retry-After", i, c)
				}
			}
			if tc.lifted {
				require.Zero(t, byStatus[http.StatusTooManyRequests], "the lifted rate limits were not applied")
			}
			require.Less(t, took, 30*time.Second, "every attempt answered within seconds")
			require.Less(t, peak, limit, "peak RSS under the deploy/kubernetes memory limit")

			// Still alive, and a real user signs in once the flood has passed
			// (the client's allowance refills within seconds).
			code, _ = d.call("GET", "/healthz", "", "")
			require.Equal(t, http.StatusOK, code)
			require.Eventually(t, func() bool {
				code, _ := d.call("POST", "/v1/auth/login", "", `{"address":"ann@example.com","password":"Correct-Horse-42"}`)
				return code == http.StatusOK
			}, 15*time.Second, 250*time.Millisecond, "ann signs in after the flood")
		})
	}
}

// vmHWM is the process's peak resident set size in bytes, from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err, "VmHWM %q", rest)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
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
