// Package fakegraph is a fake of the Microsoft identity platform's token
// endpoint and of the part of Microsoft Graph v1.0 that a directory sync reads:
// users/delta, groups/delta, users and groups by id, group members (direct and
// transitive) and directory roles, alone or in JSON batches ($batch). It speaks
// their documented wire formats over TLS on 127.0.0.1, so the real SDKs
// (azidentity with MSAL, msgraph-sdk-go) can be pointed at it; the tenant's
// contents, delta-token expiry and faults are set through Go methods.
package fakegraph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	defaultTenantID = "00000000-0000-0000-0000-000000000000"
	defaultClientID = "11111111-1111-1111-1111-111111111111"
	defaultSecret   = "fake-secret"
	defaultPageSize = 100
	maxPageSize     = 999
)

// Options configures a Server. The zero value is a usable default.
type Options struct {
	Addr         string // listen address; "" = 127.0.0.1:0 (random port)
	TenantID     string // "" = "00000000-0000-0000-0000-000000000000"
	ClientID     string // "" = "11111111-1111-1111-1111-111111111111"
	ClientSecret string // accepted client secret; "" = "fake-secret"
	// ClientCert, when set, also accepts a certificate client assertion (RFC
	// 7523 JWT, RS256 or PS256, x5t/x5t#S256 header) signed by this
	// certificate's key.
	ClientCert *x509.Certificate
	// DefaultPageSize is the page size when the client sends no
	// `Prefer: odata.maxpagesize=N` (nor $top where Graph takes it); 0 = 100.
	// The largest page size honoured is 999.
	DefaultPageSize int
	// Logf, when set, receives one line per request (method, path, status,
	// duration); never a secret, token or query string.
	Logf func(format string, args ...any)
}

// Server is a running fake. All its methods are safe for concurrent use.
type Server struct {
	opts      Options
	srv       *http.Server
	hostPort  string // 127.0.0.1:PORT (what URL names)
	port      string
	url       string
	certPEM   []byte
	transport *http.Transport
	pageSize  int
	done      chan struct{}

	dirMu         sync.RWMutex
	dir           *directory
	epoch         uint64 // delta/skip tokens of an older epoch are expired
	expiredStatus int

	tokMu  sync.Mutex
	tokens map[string]time.Time // access token -> expiry

	faultMu sync.Mutex
	faults  []*Fault

	countMu sync.Mutex
	counts  map[string]int
	items   map[string]int // requests inside $batch requests, by path

	transMu sync.Mutex
	trans   map[string]transEntry
}

// Start starts a fake on opts.Addr and returns once it accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.TenantID == "" {
		opts.TenantID = defaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = defaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = defaultSecret
	}
	s := &Server{opts: opts, pageSize: defaultPageSize, dir: newDirectory(), expiredStatus: http.StatusGone,
		tokens: map[string]time.Time{}, counts: map[string]int{}, items: map[string]int{}, trans: map[string]transEntry{}, done: make(chan struct{})}
	if opts.DefaultPageSize > 0 {
		s.pageSize = min(opts.DefaultPageSize, maxPageSize)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("fakegraph: listen on %s: %w", opts.Addr, err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("fakegraph: %s is not a TCP address", ln.Addr())
	}
	host, extra := "127.0.0.1", []net.IP(nil)
	switch {
	case tcp.IP.Equal(net.IPv6loopback):
		host = "::1"
	case !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback():
		host, extra = tcp.IP.String(), []net.IP{tcp.IP}
	}
	s.port = fmt.Sprint(tcp.Port)
	s.hostPort = net.JoinHostPort(host, s.port)
	s.url = "https://" + s.hostPort
	cert, certPEM, err := selfSignedCert(extra...)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("fakegraph: %w", err)
	}
	s.certPEM = certPEM
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	s.transport = &http.Transport{
		DialContext:         s.dial,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	errorLog := log.New(io.Discard, "", 0)
	if opts.Logf != nil {
		errorLog = log.New(logfWriter(opts.Logf), "fakegraph: ", 0)
	}
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errorLog,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errorLog.Printf("serve: %v", err)
		}
	}()
	return s, nil
}

// logfWriter adapts Options.Logf to the http.Server's error log.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	_ = s.srv.Close() // only listener close errors: nothing to do about them
	<-s.done
	s.transport.CloseIdleConnections()
}

// URL is the server's base URL, "https://127.0.0.1:PORT" (no trailing slash).
func (s *Server) URL() string { return s.url }

// GraphURL is the Graph base URL, URL()+"/v1.0".
func (s *Server) GraphURL() string { return s.url + "/v1.0" }

// AuthorityHost is URL()+"/", what azidentity's
// ClientOptions.Cloud.ActiveDirectoryAuthorityHost takes.
func (s *Server) AuthorityHost() string { return s.url + "/" }

// CertPEM is the server's self-signed certificate (its own CA, valid for
// 127.0.0.1, ::1 and localhost) in PEM.
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// Client returns an http.Client that trusts CertPEM. It only connects to this
// server: a request for any other host (such as MSAL's instance discovery at
// login.microsoftonline.com, which azidentity makes unless
// DisableInstanceDiscovery is set) fails at once with an error saying so,
// rather than reaching the Internet.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fakegraph client: dial %s: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if port != s.port || !(host == "localhost" || (ip != nil && (ip.IsLoopback() || addr == s.hostPort))) {
		return nil, fmt.Errorf("fakegraph client: refusing to dial %s: this client only reaches the fake at %s "+
			"(an azidentity credential with a non-Microsoft authority host needs DisableInstanceDiscovery)", addr, s.hostPort)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, s.hostPort)
	if err != nil {
		return nil, fmt.Errorf("fakegraph client: %w", err)
	}
	return conn, nil
}

// TenantID is the tenant the fake answers for.
func (s *Server) TenantID() string { return s.opts.TenantID }

// ClientID is the application (client) id the token endpoint accepts.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ServeHTTP answers one request: it is counted, may meet an injected fault,
// and is then routed to Graph (/v1.0/...) or to the identity endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	c := &call{w: sw, r: r, requestID: uuid.NewString(), clientRequestID: r.Header.Get("client-request-id")}
	if c.clientRequestID == "" {
		c.clientRequestID = c.requestID
	}
	sw.Header().Set("request-id", c.requestID)
	sw.Header().Set("client-request-id", c.clientRequestID)
	s.countRequest(r.URL.Path)
	graph := r.URL.Path == "/v1.0" || strings.HasPrefix(r.URL.Path, "/v1.0/")
	switch f := s.takeFault(r.URL.Path, graph, false); {
	case f != nil:
		s.writeFault(c, *f, graph)
	case graph:
		s.serveGraph(c)
	default:
		s.serveIdentity(c)
	}
	if s.opts.Logf != nil {
		s.opts.Logf("fakegraph: %s %s -> %d in %s", r.Method, r.URL.Path, sw.status, time.Since(start).Round(time.Microsecond))
	}
}
