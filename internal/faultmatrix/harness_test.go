package faultmatrix_test

// Helpers every row of the matrix can use: the dirsync binary, an instance
// of it (config, state and store in a folder of its own), the store's
// listing in a form two instances can be compared by, and a TCP proxy that
// breaks a connection on demand.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

// binary is the dirsync command every row runs, built once by TestMain.
var binary string

// TestMain builds the dirsync binary once for the whole package: the rows
// run the product as an operator does, not the engine's Go API.
func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithDirsync(m, &binary))
}

// instance is one dirsync installation: a folder holding its config file,
// its local state and its SQLite store. Two instances reading the same
// source, one under the fault and one not, are the matrix's measure.
type instance struct {
	t   *testing.T
	dir string
	env []string // extra environment of every command (NAME=value)
}

func newInstance(t *testing.T, env ...string) *instance {
	return &instance{t: t, dir: t.TempDir(), env: env}
}

// configPath is where the instance's config lives.
func (in *instance) configPath() string { return filepath.Join(in.dir, "dirsync.yaml") }

// storePath is the SQLite store a config written by baseConfig uses.
func (in *instance) storePath() string { return filepath.Join(in.dir, "store.db") }

// writeConfig replaces the instance's config; rows rewrite it to bring a
// fault in (a wrong URL, a wrong password) and take it out again.
func (in *instance) writeConfig(yaml string) {
	in.t.Helper()
	require.NoError(in.t, os.WriteFile(in.configPath(), []byte(yaml), 0o600))
}

// baseConfig is a config with local state and a SQLite store in the
// instance's folder, the domain example.com, the given top-level sync
// settings (YAML flow map body, "" for the defaults) and connectors.
func baseConfig(syncSettings, connectors string) string {
	s := "log: {level: warn}\nstate: {backend: local, path: state.db}\nstore: {backend: sqlite, path: store.db}\ndomains: [example.com]\n"
	if syncSettings != "" {
		s += "sync: {" + syncSettings + "}\n"
	}
	return s + "connectors:\n" + connectors
}

// runResult is what one `dirsync sync` said.
type runResult struct {
	Code       int
	Status     string
	Counts     map[string]int
	Errors     []string
	HoldReason string
	Warnings   []string // "record field: reason"
	Stderr     string
}

// sync runs `dirsync sync --output json` once (with --full if full), bounded
// by a generous deadline so that a hung run fails the row instead of the
// whole test binary.
func (in *instance) sync(full bool) runResult {
	in.t.Helper()
	args := []string{"sync", "--config", in.configPath(), "--output", "json"}
	if full {
		args = append(args, "--full")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), in.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := runResult{Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		in.t.Fatalf("dirsync sync: %v\n%s", err, errb.String())
	}
	var rep struct {
		Runs []struct {
			Status     string         `json:"status"`
			Counts     map[string]int `json:"counts"`
			Errors     []string       `json:"errors"`
			HoldReason string         `json:"hold_reason"`
			Warnings   []struct {
				Record, Field, Reason string
			} `json:"warnings"`
		} `json:"runs"`
	}
	require.NoError(in.t, json.Unmarshal(out.Bytes(), &rep), "exit %d, stdout: %s\nstderr: %s", res.Code, out.String(), errb.String())
	require.Len(in.t, rep.Runs, 1, "one connector, one run: %s", out.String())
	r := rep.Runs[0]
	res.Status, res.Counts, res.Errors, res.HoldReason = r.Status, r.Counts, r.Errors, r.HoldReason
	for _, w := range r.Warnings {
		res.Warnings = append(res.Warnings, w.Record+" "+w.Field+": "+w.Reason)
	}
	return res
}

// mustSync runs a sync that must end with the given status.
func (in *instance) mustSync(full bool, status string) runResult {
	in.t.Helper()
	res := in.sync(full)
	require.Equal(in.t, status, res.Status, "errors %v, hold %q\nstderr: %s", res.Errors, res.HoldReason, res.Stderr)
	return res
}

// listing reads the instance's SQLite store (no dirsync process may be
// running on it).
func (in *instance) listing() listing {
	in.t.Helper()
	st, err := sqlite.Open(in.storePath(), zap.NewNop())
	require.NoError(in.t, err)
	defer func() { _ = st.Close() }() // only read
	return storeListing(in.t, st)
}

// entry is the part of a store object that a sync decides: everything but
// IDs, timestamps and the portal account.
type entry struct {
	Kind, Address, DisplayName, GivenName, Surname, Phone, Department, Title string
	Aliases, Members                                                         []string
	Enabled                                                                  bool
	Origin, Anchor                                                           string
}

func (e entry) String() string {
	return fmt.Sprintf("%s %s enabled=%v aliases=%v members=%v name=%q/%q/%q phone=%q dept=%q title=%q origin=%s anchor=%s",
		e.Kind, e.Address, e.Enabled, e.Aliases, e.Members, e.DisplayName, e.GivenName, e.Surname, e.Phone, e.Department, e.Title, e.Origin, e.Anchor)
}

// listing is a store's objects by primary address.
type listing map[string]entry

// storeListing lists every object of st (any backend), page by page.
func storeListing(t *testing.T, st store.Store) listing {
	t.Helper()
	out := listing{}
	q := store.ListQuery{Limit: 500}
	for {
		users, next, err := st.Users(context.Background(), q)
		require.NoError(t, err)
		for _, u := range users {
			out[u.Address] = entry{
				Kind: u.Kind, Address: u.Address, DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname,
				Phone: u.Phone, Department: u.Department, Title: u.Title, Aliases: u.Aliases, Members: u.Members,
				Enabled: u.Enabled, Origin: u.Origin, Anchor: u.Anchor,
			}
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// diff lists, sorted, the objects that differ between want and got ("-" only
// or as in want, "+" only or as in got); empty when they are equal.
func (want listing) diff(got listing) []string {
	var out []string
	for a, w := range want {
		if g, ok := got[a]; !ok {
			out = append(out, "- "+w.String())
		} else if w.String() != g.String() {
			out = append(out, "- "+w.String(), "+ "+g.String())
		}
	}
	for a, g := range got {
		if _, ok := want[a]; !ok {
			out = append(out, "+ "+g.String())
		}
	}
	sort.Strings(out)
	return out
}

// enabledUsers lists the addresses of the enabled users (not groups).
func (l listing) enabledUsers() []string {
	var out []string
	for a, e := range l {
		if e.Kind == "user" && e.Enabled {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// wronglyDisabled counts the addresses of mustStayEnabled that are disabled
// or gone in l: people the source still has, enabled, whom the fault cost
// their mailbox.
func (l listing) wronglyDisabled(mustStayEnabled []string) int {
	n := 0
	for _, a := range mustStayEnabled {
		if e, ok := l[a]; !ok || !e.Enabled {
			n++
		}
	}
	return n
}

// change is one source change a row makes, and how to see it in a store.
type change struct {
	What string
	Seen func(listing) bool
}

// lost counts the changes not seen in l, and names them.
func lost(l listing, changes []change) (int, []string) {
	var names []string
	for _, c := range changes {
		if !c.Seen(l) {
			names = append(names, c.What)
		}
	}
	return len(names), names
}

// converge runs healthy syncs (up to max) until the instance's store equals
// want. It returns how many runs that took (-1: never, with the last
// difference) and the listing after the first of them, where lost changes
// are counted.
func (in *instance) converge(want listing, full bool, max int) (n int, first listing, diff []string) {
	in.t.Helper()
	for n = 1; n <= max; n++ {
		in.sync(full)
		got := in.listing()
		if n == 1 {
			first = got
		}
		if diff = want.diff(got); len(diff) == 0 {
			return n, first, nil
		}
	}
	return -1, first, diff
}

// proxyMode is what a faultProxy does to the traffic.
type proxyMode int32

const (
	// proxyPass forwards everything.
	proxyPass proxyMode = iota
	// proxyCut closes every connection once the server has sent the budget
	// (counted over all connections since the mode was set), and refuses new
	// ones after: a firewall or load balancer dropping sessions mid-read.
	proxyCut
	// proxyStall stops forwarding the server's bytes once the budget is
	// spent, keeping the connections open: a server that hangs mid-read.
	proxyStall
)

// faultProxy forwards TCP to a target and breaks the connections on demand.
// It works for TLS too (it never looks inside), so a row can keep LDAPS.
type faultProxy struct {
	target string
	ln     net.Listener
	mode   atomic.Int32
	budget atomic.Int64 // server bytes still allowed in proxyCut/proxyStall
	served atomic.Int64 // server bytes forwarded since the last set

	mu    sync.Mutex
	conns []net.Conn
}

// newFaultProxy listens on an ephemeral loopback port; everything it opened
// is closed when the test ends.
func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &faultProxy{target: target, ln: ln}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

// Addr is the proxy's host:port.
func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// set changes the mode for the traffic from now on and resets the counters.
func (p *faultProxy) set(m proxyMode, budget int64) {
	p.budget.Store(budget)
	p.served.Store(0)
	p.mode.Store(int32(m))
}

// Served is how many bytes the server sent through the proxy since the last set.
func (p *faultProxy) Served() int64 { return p.served.Load() }

func (p *faultProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *faultProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if proxyMode(p.mode.Load()) == proxyCut && p.budget.Load() <= 0 {
			_ = c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.track(s)
		go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
		go p.down(c, s)
	}
}

// down forwards the server's bytes to the client under the current mode.
func (p *faultProxy) down(c, s net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			m := proxyMode(p.mode.Load())
			chunk := buf[:n]
			if m != proxyPass {
				left := p.budget.Add(-int64(n)) + int64(n)
				if left <= 0 {
					chunk = nil
				} else if left < int64(n) {
					chunk = chunk[:left]
				}
			}
			if len(chunk) > 0 {
				if _, werr := c.Write(chunk); werr != nil {
					return
				}
				p.served.Add(int64(len(chunk)))
			}
			if len(chunk) < n {
				if m == proxyCut {
					_ = s.Close()
					return
				}
				// proxyStall: swallow the rest, the client waits for ever.
				_, _ = io.Copy(io.Discard, s)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// closedPort is a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// joinStatuses renders the statuses of several runs under one fault.
func joinStatuses(rs []runResult) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.Status
	}
	return strings.Join(s, " → ")
}
