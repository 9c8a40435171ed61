package testenv

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// ProxyFault is what a TCPProxy does to one new connection's bytes from the
// server to the client.
type ProxyFault struct {
	// After is how many bytes pass before the fault; negative means no fault:
	// the connection is forwarded whole.
	After int64
	// Stall keeps the connection open and silent once After bytes have
	// passed (a server that hangs mid-answer); without it the connection is
	// closed there (a server or firewall that drops it).
	Stall bool
	// Once, when set, is asked as the connection crosses After; the fault
	// happens only if it answers true (a CompareAndSwap cuts one connection
	// of many), and otherwise the connection is forwarded whole.
	Once func() bool
}

// NoFault forwards a connection whole.
var NoFault = ProxyFault{After: -1}

// TCPProxy listens on a loopback port and forwards each connection to target,
// applying the fault that fault returns for it (asked once per connection, as
// it is accepted). It returns the proxy's address; the listener and every
// connection are closed when the test ends.
func TCPProxy(t testing.TB, target string, fault func() ProxyFault) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go func() {
				_, _ = io.Copy(up, c)
				_ = up.Close() // the client hung up: so does the server side
			}()
			go forward(c, up, fault())
		}
	}()
	return ln.Addr().String()
}

// forward copies the server's bytes to the client until f's fault.
func forward(c, up net.Conn, f ProxyFault) {
	var sent int64
	buf := make([]byte, 4096)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if f.After >= 0 && sent+int64(n) > f.After && (f.Once == nil || f.Once()) {
				_, _ = c.Write(buf[:max(0, f.After-sent)])
				if f.Stall {
					_, _ = io.Copy(io.Discard, up) // the client waits for ever
					return
				}
				_ = c.Close()
				return
			}
			sent += int64(n)
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
}
