package console_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/testenv"
)

// A follower replica's "sync now" is forwarded to the leader (issue 24): two
// `dirsync serve` processes on one Redis state and one PostgreSQL store, the
// same configuration but for the listen address. Signed in on the follower's
// console, its overview says follower; "Sync now" of the sample connector
// answers that the run went to the leader, and the leader runs it to ok.
// Axe on the follower's overview and runs pages; screenshots of both.

// replicasLease keeps the election quick (the default leader lease is 15 s).
const replicasLease = 2 * time.Second

// replicasRedis starts a Redis of the test's own on a free port (the
// daemons' keys and leader lease are fixed names: a Redis shared with other
// tests and checkouts would mix their replicas with these), stopped at the
// test's end. It skips, or fails under CI, like the test environment's Redis.
func replicasRedis(t *testing.T) string {
	t.Helper()
	testenv.Addr(t, testenv.EnvRedisAddr) // the test environment installed redis-server
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; scripts/testenv.sh installs it")
		}
		t.Skip("redis-server is not installed: run the tests through `make test`")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not come up: %v", addr, err)
		}
	}
}

// replicaRole is the role a daemon's /readyz reports ("leader", "follower").
func replicaRole(s *served) string {
	res, err := http.Get(s.URL + "/readyz")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var body struct {
		Role string `json:"role"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	return body.Role
}

// apiRun is GET /v1/runs/{id} on a daemon with an admin token: the run's
// status and error, and the HTTP status (404 until the run is known).
func apiRun(t *testing.T, a upAPI, id string) (code int, status, errText string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url+"/v1/runs/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/runs/%s: %v", id, err)
	}
	defer res.Body.Close()
	var run struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&run)
	return res.StatusCode, run.Status, run.Error
}

// ranHere reports whether the daemon's log has run id starting.
func ranHere(s *served, id string) bool {
	for _, line := range strings.Split(s.Logs(), "\n") {
		var l struct {
			Msg   string `json:"msg"`
			RunID string `json:"run_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "run started" && l.RunID == id {
			return true
		}
	}
	return false
}

// forwardedRun is the run id in the "forwarded to the leader replica (run
// ID)" flash.
var forwardedRun = regexp.MustCompile(`forwarded to the leader replica \(run ([^)\s]+)\)`)

func TestBrowserReplicasForwardSyncNow(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	redisAddr := replicasRedis(t)
	dsn := testenv.PostgresSchemaDSN(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	o := serveOptions{
		State: fmt.Sprintf("  backend: redis\n  redis:\n    addrs: [%q]\n    timeout: 1s\n    leader_lease: %s\n    run_lease: 5s\n",
			redisAddr, replicasLease),
		Store:    fmt.Sprintf("  backend: postgres\n  dsn: %q\n", "file:"+dsnFile),
		StoreDSN: dsn,
	}
	// Each daemon reads its own copy of the sample directory (directory.ldif
	// in its folder): the same content, whichever leads.
	a := startServe(t, o)
	o.Seeded = true
	b := startServe(t, o)

	// One leads, the other follows.
	var leader, follower *served
	for deadline := time.Now().Add(6*replicasLease + 20*time.Second); leader == nil; time.Sleep(50 * time.Millisecond) {
		ra, rb := replicaRole(a), replicaRole(b)
		switch {
		case ra == "leader" && rb == "follower":
			leader, follower = a, b
		case rb == "leader" && ra == "follower":
			leader, follower = b, a
		case time.Now().After(deadline):
			t.Fatalf("no single leader: a is %q, b is %q", ra, rb)
		}
	}
	t.Logf("leader %s, follower %s", leader.URL, follower.URL)

	// The follower's console: its overview says it follows.
	ctx := br.Tab(t)
	must(t, "open the follower's console", browsertest.Navigate(ctx, follower.URL+"/console/"))
	if location(t, ctx).Path == "/console/signin" {
		signInWith(t, ctx, follower.Admin, adminPassword)
	}
	if p := location(t, ctx).Path; p != "/console/overview" {
		t.Fatalf("signed in to %s, want the overview", p)
	}
	must(t, "the role", browsertest.WaitVisible(ctx, "#replica-role"))
	if got := catText(t, ctx, "#replica-role"); !strings.Contains(got, "follower") {
		t.Errorf("the follower's overview says its role is %q", got)
	}
	browsertest.Screenshot(t, ctx, "replicas-01-follower-overview")
	browsertest.Axe(t, ctx)

	// Sync now of the sample connector, for real, from the follower's runs page.
	must(t, "open the runs", browsertest.Navigate(ctx, follower.URL+"/console/runs"))
	must(t, "the sync form", browsertest.WaitVisible(ctx, "#sync-go"))
	must(t, "choose the connector", browsertest.SetValue(ctx, "#sync-connector", "sample"))
	must(t, "press Sync now", browsertest.Click(ctx, "#sync-go"))
	browsertest.WaitTrue(t, ctx, "the flash", `!!document.querySelector("p.flash")`)
	if p := location(t, ctx).Path; p != "/console/runs" {
		t.Errorf("a forwarded run answers on %s, want the runs list", p)
	}
	flash := catText(t, ctx, "p.flash")
	m := forwardedRun.FindStringSubmatch(flash)
	if m == nil {
		t.Fatalf("the flash does not say the run went to the leader: %q", flash)
	}
	id := m[1]
	browsertest.Screenshot(t, ctx, "replicas-02-follower-forwarded")
	browsertest.Axe(t, ctx)

	// The leader runs it: in its runs, through its API, finished ok.
	api := upNewAPI(t, leader)
	var code int
	var status, errText string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, status, errText = apiRun(t, api, id)
		if code == http.StatusOK && status != "running" && status != "pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s on the leader: HTTP %d, status %q", id, code, status)
		}
	}
	if status != "ok" {
		t.Fatalf("run %s ended %q: %s", id, status, errText)
	}
	if ranHere(follower, id) {
		t.Errorf("the follower ran %s itself", id)
	}
	if !ranHere(leader, id) {
		t.Errorf("the leader's log has no start of run %s", id)
	}

	// The follower's runs list shows the leader's run, ok (the history is shared).
	okRow := fmt.Sprintf(`!!document.getElementById(%q)?.querySelector(".badge.status-ok")`, "run-"+id)
	for i := 0; ; i++ {
		must(t, "reload the runs", browsertest.Navigate(ctx, follower.URL+"/console/runs"))
		must(t, "the runs", browsertest.WaitVisible(ctx, "table.runs"))
		if catEval[bool](t, ctx, okRow) {
			break
		}
		if i > 50 {
			t.Fatalf("run %s is not ok on the follower's runs page", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
	browsertest.Screenshot(t, ctx, "replicas-03-follower-runs")
	browsertest.Axe(t, ctx)
}
