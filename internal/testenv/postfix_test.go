package testenv_test

import (
	"bufio"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync/dirsync/internal/testenv"
)

// policyServer is a minimal Postfix policy delegation server (SMTPD_POLICY_README):
// it reads name=value lines up to a blank line, records the request and
// answers action=<action>, any number of times per connection.
type policyServer struct {
	ln     net.Listener
	action string

	mu       sync.Mutex
	requests []map[string]string
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startPolicyServer(t *testing.T, action string) *policyServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &policyServer{ln: ln, action: action, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	// Runs after Postfix's own cleanup (registered later), which stops it.
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *policyServer) addr() string { return s.ln.Addr().String() }

func (s *policyServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *policyServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	req := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			name, value, _ := strings.Cut(line, "=")
			req[name] = value
			continue
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		req = map[string]string{}
		if _, err := c.Write([]byte("action=" + s.action + "\n\n")); err != nil {
			return
		}
	}
}

func (s *policyServer) seen() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.requests...)
}

// TestPostfixAsksPolicyService shows that a real Postfix asks the policy
// service about the sender at RCPT time and delivers when told DUNNO.
func TestPostfixAsksPolicyService(t *testing.T) {
	t.Parallel()
	policy := startPolicyServer(t, "DUNNO")
	pf := testenv.StartPostfix(t, policy.addr())

	if err := pf.Send("new@example.com", "someone@example.net", "hello"); err != nil {
		t.Fatalf("Send: %v\n%s", err, pf.Log())
	}
	reqs := policy.seen()
	if len(reqs) != 1 {
		t.Fatalf("policy server got %d requests, want 1: %v\n%s", len(reqs), reqs, pf.Log())
	}
	want := map[string]string{
		"request":        "smtpd_access_policy",
		"protocol_state": "RCPT",
		"sender":         "new@example.com",
		"recipient":      "someone@example.net",
		"client_address": "127.0.0.1",
	}
	for name, v := range want {
		if got := reqs[0][name]; got != v {
			t.Errorf("policy request %s = %q, want %q (request %v)", name, got, v, reqs[0])
		}
	}
}

// TestPostfixPolicyRejects shows that the policy service's answer decides:
// a REJECT, or no answer at all, refuses the message at RCPT.
func TestPostfixPolicyRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		action   string // "" means no policy server listens
		wantCode int
		wantText string
	}{
		{name: "reject", action: "REJECT nope", wantCode: 554, wantText: "nope"},
		{name: "policy server down", wantCode: 451, wantText: "4.3.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var addr string
			if tt.action != "" {
				addr = startPolicyServer(t, tt.action).addr()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = ln.Addr().String()
				_ = ln.Close() // a port nothing listens on
			}
			pf := testenv.StartPostfix(t, addr)

			err := pf.Send("new@example.com", "someone@example.net", "hello")
			var smtpErr *textproto.Error
			if !errors.As(err, &smtpErr) {
				t.Fatalf("Send = %v, want an SMTP %d error\n%s", err, tt.wantCode, pf.Log())
			}
			if smtpErr.Code != tt.wantCode || !strings.Contains(smtpErr.Msg, tt.wantText) {
				t.Errorf("Send = %v, want code %d with %q", err, tt.wantCode, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), "RCPT TO:") {
				t.Errorf("Send = %v, want the refusal at RCPT", err)
			}
		})
	}
}
