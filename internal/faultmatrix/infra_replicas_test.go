package faultmatrix_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
)

// infraCluster is `dirsync serve` replicas sharing a Redis of the row's own
// and a PostgreSQL schema, each reading its own copy of the source (so a row
// can give a paused replica a different directory from the others).
type infraCluster struct {
	t        *testing.T
	dir      string
	redis    string
	dsn      string
	dsnFile  string
	schedule string
	token    string
	st       store.Store
}

// infraReplica is one `dirsync serve` of the cluster.
type infraReplica struct {
	name   string
	source string
	base   string
	p      *infraProc
}

func newInfraCluster(t *testing.T, schedule string) *infraCluster {
	t.Helper()
	rs := startInfraRedis(t, "")
	c := &infraCluster{t: t, dir: t.TempDir(), redis: rs.addr, dsn: testenv.PostgresSchemaDSN(t), schedule: schedule}
	c.dsnFile = filepath.Join(c.dir, "dsn")
	require.NoError(t, os.WriteFile(c.dsnFile, []byte(c.dsn), 0o600))
	// An admin token in the shared store, made with the CLI before any replica runs.
	cfg := c.config("bootstrap", filepath.Join(c.dir, "none.ldif"), "127.0.0.1:0")
	p := infraStart(t, "tokens", "create", "--config", cfg, "--name", "faultmatrix", "--scope", "admin")
	require.Equal(t, 0, p.wait(t), p.logs.String())
	c.token = regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(p.stdout.String())
	require.NotEmpty(t, c.token)
	c.st = infraOpenPostgres(t, c.dsn)
	return c
}

func (c *infraCluster) config(name, source, listen string) string {
	c.t.Helper()
	cfg := filepath.Join(c.dir, name+".yaml")
	require.NoError(c.t, os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: info, format: json}
state: %s
store: {backend: postgres, dsn: %q}
server: {listen: %q}
domains: [example.com]
sync: {batch_size: 50}
connectors:
  - name: dir
    type: file
    schedule: "@every %s"
    full_schedule: "@every 1h"
    config: {path: %q, preset: openldap}
`, infraRedisState(c.redis), "file:"+c.dsnFile, listen, c.schedule, source)), 0o600))
	return cfg
}

// start starts a replica reading content, and waits until it answers.
func (c *infraCluster) start(name string, content []byte) *infraReplica {
	t := c.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	r := &infraReplica{name: name, source: filepath.Join(c.dir, name+".ldif"), base: "http://" + addr}
	infraWriteAtomic(t, r.source, content)
	r.p = infraStart(t, "serve", "--config", c.config(name, r.source, addr))
	infraEventually(t, time.Minute, func() bool {
		code, _ := c.call(r, "GET", "/healthz", "", nil)
		return code == http.StatusOK
	}, "%s answers /healthz", name)
	return r
}

var infraHTTP = &http.Client{Timeout: 2 * time.Minute}

func (c *infraCluster) call(r *infraReplica, method, path, body string, out any) (int, error) {
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := infraHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

func (c *infraCluster) leads(r *infraReplica) bool {
	var ready map[string]string
	code, _ := c.call(r, "GET", "/readyz", "", &ready)
	return code == http.StatusOK && ready["role"] == "leader"
}

// trigger asks r for a run and waits for it: the run's status ("refused
// NNN" when none ran) and whether r forwarded it to the leader.
func (c *infraCluster) trigger(r *infraReplica) (status string, forwarded bool) {
	var body struct {
		Runs []struct {
			Forwarded bool `json:"forwarded"`
			Queued    bool `json:"queued"`
			Run       *struct {
				Status string `json:"status"`
			} `json:"run"`
			Report *struct {
				Status string `json:"status"`
			} `json:"report"`
		} `json:"runs"`
	}
	code, err := c.call(r, "POST", "/v1/syncs", `{"wait": true}`, &body)
	if err != nil {
		return "error: " + err.Error(), false
	}
	if code != http.StatusOK || len(body.Runs) != 1 {
		return fmt.Sprintf("refused %d", code), false
	}
	run := body.Runs[0]
	switch {
	case run.Run != nil:
		status = run.Run.Status
	case run.Report != nil:
		status = run.Report.Status
	default:
		return "no report", run.Forwarded
	}
	if run.Queued {
		status += " (queued)"
	}
	return status, run.Forwarded
}

func (c *infraCluster) snapshot() infraState { return infraSnapshot(c.t, c.st) }

// waitFor waits until the store equals want, and reports whether it did.
func (c *infraCluster) waitFor(want infraState, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if infraDiff(want, c.snapshot()) == 0 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// infraReplicasRace: two replicas on one Redis are both asked for a run of
// the same changes at the same moment: one run at a time applies, nothing is
// applied twice or lost.
func infraReplicasRace(t *testing.T) outcome {
	c := newInfraCluster(t, "1h")
	gen0, gen1 := infraDirectory(infraUsers, 0), infraDirectory(infraUsers, 1)
	ref0, ref := infraReference(t, gen0), infraReference(t, gen0, gen1)
	a := c.start("a", gen0)
	b := c.start("b", gen0)
	require.True(t, c.waitFor(ref0, 2*time.Minute), "the start-up run synchronises the directory: %s", infraDiffSample(ref0, c.snapshot()))
	before := c.snapshot()

	infraWriteAtomic(t, a.source, gen1)
	infraWriteAtomic(t, b.source, gen1)
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i, r := range []*infraReplica{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, fwd := c.trigger(r)
			results[i] = r.name + ": " + status
			if fwd {
				results[i] += " (forwarded)"
			}
		}()
	}
	wg.Wait()
	after := c.snapshot()
	o := outcome{Status: strings.Join(results, ", "), WronglyDisabled: infraWronglyDisabled(before, after, ref)}
	leader := a
	if c.leads(b) {
		leader = b
	}
	infraConverge(t, &o, ref, c.snapshot, func() string {
		s, _ := c.trigger(leader)
		return s
	}, 3)
	return o
}

// infraLeaderPaused: the leader is frozen (SIGSTOP) in the middle of applying
// a generation of changes, past its leases; the other replica takes over and
// applies the next generation, which re-enables the users the frozen run was
// disabling. Resumed, the frozen run must write nothing more: the store's
// fence refuses its token.
func infraLeaderPaused(t *testing.T) outcome {
	c := newInfraCluster(t, "2s")
	gen0, gen1, gen2 := infraDirectory(infraUsers, 0), infraDirectory(infraUsers, 1), infraDirectory(infraUsers, 2)
	ref0, ref := infraReference(t, gen0), infraReference(t, gen0, gen1, gen2)
	a := c.start("a", gen0)
	infraEventually(t, time.Minute, func() bool { return c.leads(a) }, "a leads")
	b := c.start("b", gen0)
	require.True(t, c.waitFor(ref0, 2*time.Minute), "the leader synchronises the directory: %s", infraDiffSample(ref0, c.snapshot()))
	before := c.snapshot()

	finished := a.p.logs.count("run finished")
	infraWriteAtomic(t, a.source, gen1)
	applied := infraWaitMidApply(t, a.p, a.p.logs.count("change applied"))
	require.NoError(t, a.p.cmd.Process.Signal(syscall.SIGSTOP))
	require.Equal(t, finished, a.p.logs.count("run finished"), "a is frozen mid-run")
	atGen1 := 0
	for _, v := range c.snapshot() {
		if strings.Contains(v, "|Title g1|") {
			atGen1++
		}
	}

	infraWriteAtomic(t, b.source, gen2)
	// b leads within the leader lease and takes the connector once the
	// frozen run's lease runs out; its run may then wait on the row locks of
	// the store transaction the frozen run left open (a SIGSTOP keeps the
	// connection alive), until the frozen run wakes up.
	infraEventually(t, time.Minute, func() bool { return c.leads(b) }, "b leads")
	tookOver := c.waitFor(ref, 20*time.Second)
	blocked := !tookOver && b.p.logs.count("run started") > b.p.logs.count("run finished")
	require.NoError(t, a.p.cmd.Process.Signal(syscall.SIGCONT))
	infraEventually(t, 2*time.Minute, func() bool { return a.p.logs.count("run finished") > finished }, "the resumed run ends")
	resumed := a.p.logs.lines("run finished")[finished]
	infraWriteAtomic(t, a.source, gen2)
	after := c.snapshot()

	o := outcome{Status: "resumed run " + resumed.Status, WronglyDisabled: infraWronglyDisabled(before, after, ref),
		Note: fmt.Sprintf("frozen after %d changes applied (%d users written);", applied, atGen1)}
	switch {
	case tookOver:
		o.Note += " b took over and applied the next generation during the pause;"
	case blocked:
		o.Note += " b's run waited for the frozen run's open store transaction;"
	}
	if len(resumed.Errors) > 0 {
		t.Logf("the resumed ex-leader's run ended %s: %s", resumed.Status, resumed.Errors[0])
		if regexp.MustCompile(`stale fencing token|run lock lost`).MatchString(resumed.Errors[0]) {
			o.Note += " its writes refused (fence);"
		}
	}
	require.NotEqual(t, "ok", resumed.Status, "the frozen run must not finish as if it still held the connector")
	infraConverge(t, &o, ref, c.snapshot, func() string {
		s, _ := c.trigger(b)
		return s
	}, 3)
	return o
}
