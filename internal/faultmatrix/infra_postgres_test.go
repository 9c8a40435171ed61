package faultmatrix_test

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// infraProxy is a TCP proxy in front of the shared PostgreSQL that the row
// cuts: every open connection is closed and new ones are closed at once,
// which is what a stopped server looks like to dirsync (a private PostgreSQL
// would cost an initdb and a start per run for the same view from the client).
type infraProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	down     bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startInfraProxy(t *testing.T, upstream string) *infraProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &infraProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *infraProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *infraProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *infraProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// infraPostgresCut: the store (PostgreSQL) goes away while a run applies a
// generation of changes: the run must fail without committing its state, and
// the runs after the store is back must bring every change.
func infraPostgresCut(t *testing.T) outcome {
	dsn := testenv.PostgresSchemaDSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	proxy := startInfraProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte(u.String()), 0o600))
	source := filepath.Join(dir, "source.ldif")
	cfg := infraFileConfig(t, dir, source, infraLocalState, fmt.Sprintf("{backend: postgres, dsn: %q}", "file:"+dsnFile))
	gen0, gen1 := infraDirectory(infraUsers, 0), infraDirectory(infraUsers, 1)
	ref := infraReference(t, gen0, gen1)

	infraWriteAtomic(t, source, gen0)
	status, runErr := infraSync(t, cfg)
	require.Equal(t, "ok", status, runErr)
	st := infraOpenPostgres(t, dsn) // straight to the server, past the proxy
	before := infraSnapshot(t, st)

	infraWriteAtomic(t, source, gen1)
	p := infraStart(t, "sync", "--config", cfg, "--output", "json")
	applied := infraWaitMidApply(t, p, 0)
	proxy.cut()
	p.wait(t)
	runStatus, runErr := p.report(t)
	after := infraSnapshot(t, st)
	proxy.restore()
	t.Logf("the run cut off from PostgreSQL ended %s: %s", runStatus, runErr)

	o := outcome{Status: runStatus, WronglyDisabled: infraWronglyDisabled(before, after, ref),
		Note: fmt.Sprintf("cut after %d of %d changes applied;", applied, infraGen1Changes(infraUsers))}
	infraConverge(t, &o, ref, func() infraState { return infraSnapshot(t, st) }, func() string {
		s, _ := infraSync(t, cfg)
		return s
	}, 3)
	return o
}
